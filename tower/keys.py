"""The data directory's private files: keys a fresh install generates once, and the modes that keep them
(and the SQLite metadata DB) readable by Tower's own user only."""
import os
import secrets
from pathlib import Path

from cryptography.fernet import Fernet

DIR_MODE = 0o700
FILE_MODE = 0o600


def _tighten(path: Path, mode: int) -> None:
    """Take group/other bits away from a path we own; someone else's file is left for its owner to fix."""
    st = path.stat()
    if st.st_uid == os.getuid() and st.st_mode & 0o777 & ~mode:
        path.chmod(st.st_mode & 0o777 & mode)


def private_dir(path: Path) -> None:
    path.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    _tighten(path, DIR_MODE)


def keep_private(path: Path) -> None:
    """Create the file empty with FILE_MODE if it is missing (SQLite takes an empty file as a new DB),
    else tighten its mode."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE))
    except FileExistsError:
        _tighten(path, FILE_MODE)
    except FileNotFoundError:
        pass  # no such directory: SQLite says so when it first connects


def load_or_create_key(path: Path, kind: str) -> str:
    if path.exists():
        _tighten(path, FILE_MODE)
        return path.read_text().strip()
    key = Fernet.generate_key().decode() if kind == "fernet" else secrets.token_urlsafe(50)
    # O_EXCL: two processes starting at once must end up with the same key.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as f:
        f.write(key)
    return key
