"""The one reader of `.run/services.env`, the URLs of the local servers `scripts/services.py` started.

Plain Python, no Django: scripts and benchmarks load it before any settings exist, and tower.settings
loads it first thing. Lines are `NAME=value`; blank lines and `#` comments are skipped, and quotes
around a value are dropped.
"""
import os
from pathlib import Path

PATH = Path(__file__).resolve().parent.parent / ".run" / "services.env"


def read_services_env(path=None) -> dict:
    """The file's variables as a dict; empty when the servers were never started."""
    path = Path(path) if path is not None else PATH
    try:
        text = path.read_text()
    except FileNotFoundError:
        return {}
    values = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, value = line.partition("=")
        if sep and name.strip():
            values[name.strip()] = value.strip().strip("'\"")
    return values


def load_into_environ(path=None) -> dict:
    """Set each variable of the file that the environment does not set already (an explicit setting
    wins over the local servers); returns what the file holds."""
    values = read_services_env(path)
    for name, value in values.items():
        os.environ.setdefault(name, value)
    return values
