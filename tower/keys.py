"""Keys that a fresh install generates once and keeps in its data directory."""
import os
import secrets
from pathlib import Path

from cryptography.fernet import Fernet


def load_or_create_key(path: Path, kind: str) -> str:
    if path.exists():
        return path.read_text().strip()
    key = Fernet.generate_key().decode() if kind == "fernet" else secrets.token_urlsafe(50)
    # O_EXCL: two processes starting at once must end up with the same key.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as f:
        f.write(key)
    return key
