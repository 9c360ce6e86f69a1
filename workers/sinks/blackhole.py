"""blackhole://: counts what it is given and keeps nothing (benchmarks, dry runs)."""
from .base import Sink


class BlackholeSink(Sink):
    raw_json_ok = True  # never looks at values: MariaDB's JSON text is not parsed for it
    def __init__(self, uri, options=None, subscription=None):
        super().__init__(uri, options, subscription)
        self.changes = 0
        self.batches = 0

    def write(self, batch) -> None:
        self.changes += len(batch.changes)
        self.batches += 1


SINK_CLASS = BlackholeSink
