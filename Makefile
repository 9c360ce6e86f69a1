.PHONY: demo test services services-down bootstrap bench

bootstrap:
	scripts/bootstrap.sh

demo: bootstrap
	scripts/demo.sh

test:
	scripts/test.sh

services: bootstrap
	.venv/bin/python scripts/services.py up

services-down:
	@if [ -x .venv/bin/python ]; then .venv/bin/python scripts/services.py down; fi

bench: bootstrap
	scripts/bench.sh
