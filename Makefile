.PHONY: demo test services services-down bootstrap bench

# Each script installs what it needs (scripts/bootstrap.sh): demo and services the runtime and the local
# servers, test and bench the dev requirements too; `make bootstrap` the runtime only.
bootstrap:
	scripts/bootstrap.sh

demo:
	scripts/demo.sh

test:
	scripts/test.sh

services:
	scripts/bootstrap.sh --services
	.venv/bin/python scripts/services.py up

services-down:
	@if [ -x .venv/bin/python ]; then .venv/bin/python scripts/services.py down; fi

bench:
	scripts/bench.sh
