"""Model fields that keep secrets encrypted at rest (Fernet from `cryptography`)."""
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.db import models

from workers.masking import MASK

PREFIX = "fernet:"


@lru_cache(maxsize=None)
def _cipher(keys: tuple) -> MultiFernet:
    return MultiFernet([Fernet(k.strip().encode()) for k in keys])


def cipher() -> MultiFernet:
    return _cipher(tuple(settings.ENCRYPTION_KEYS))


def encrypt(plain: str) -> str:
    return PREFIX + cipher().encrypt(plain.encode("utf-8")).decode("ascii")


def decrypt(stored: str) -> str:
    if not stored.startswith(PREFIX):
        raise ValueError("stored secret is not encrypted")
    try:
        return cipher().decrypt(stored[len(PREFIX):].encode("ascii")).decode("utf-8")
    except InvalidToken as exc:
        raise ValueError("stored secret cannot be decrypted with the configured TOWER_ENCRYPTION_KEY") from exc


class EncryptedTextField(models.TextField):
    """A text value stored as a Fernet token; Python code sees plain text."""

    def from_db_value(self, value, expression, connection):
        if value is None or value == "":
            return value
        return decrypt(value)

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        if value is None or value == "":
            return value
        return encrypt(value)


def mask(secret: str) -> str:
    """A whole secret (a password field), hidden; URIs and options are masked by workers.masking."""
    return "" if not secret else MASK
