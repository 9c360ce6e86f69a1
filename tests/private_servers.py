"""A test's own server, started exactly as scripts/services.py starts the shared ones, that the test may
stop and start again on the same port (the shared servers are never stopped by a test)."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))

import services  # noqa: E402


class PrivateServer:
    def __init__(self, kind, directory, **options):
        """`options`: the starter's own (a MariaDB's row_metadata)."""
        self.kind, self.dir, self.port, self.state = kind, Path(directory), None, None
        self.options = options

    def start(self):
        self.state = getattr(services, f"start_{self.kind}")(self.dir, self.port, **self.options)
        self.port = self.state["port"]
        check = getattr(services, f"check_{self.kind}")
        services.wait_until(self.kind, lambda: check(self.state), self.state["pid"], Path(self.state["log"]))
        return self

    def stop(self):
        if self.state is not None:
            services.stop_one(self.kind, self.state)
            self.state = None
