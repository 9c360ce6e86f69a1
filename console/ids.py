"""BinLake's primary keys: md5 hex of the inputs concatenated without a separator."""
import hashlib


def md5_id(*parts) -> str:
    return hashlib.md5("".join(str(p) for p in parts).encode("utf-8")).hexdigest()
