"""Secrets masked out of sink URIs, option dicts and free text before anything is shown, audited or logged.

Django-free, so the engine masks its own error messages (workers/sinks/base.py) and log lines with the same
rules the web side uses for its answers and audit records (console.models.targets, console.domain.audit).

A secret is
- a URI's password: the userinfo after its first ':'. The userinfo is taken to end at the last '@' before the
  query, so a password holding an unescaped '#', '/', '@' or '?' is masked whole rather than read as a path,
  a fragment or a host;
- the value of a query parameter, option or `name=value` pair whose name looks like a secret
  (`is_secret_name`: password, sasl.password, ssl.key.password, client_secret, access_key, api_key ...; a bare
  `key` is a Redis key template and stays visible);
- the secrets of a URI nested in a query value or an option (`?source=mysql://u:pw@h`), masked the same way.
A URI that cannot be read this way is masked whole: showing less is safe, guessing is not.
"""
import logging
import re
from urllib.parse import quote, unquote_plus

MASK = "******"

_URI = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]*):(//)?(.*)\Z", re.S)
_NESTED = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://")
# A URI inside free text ends at whitespace or a quote (error messages quote what they echo).
_URI_IN_TEXT = re.compile(r"(?<![\w.+\-])[A-Za-z][A-Za-z0-9+.\-]*://[^\s'\"<>`]+")
_PAIR_IN_TEXT = re.compile(r"(?<![\w.\-])([A-Za-z_][\w.\-]*)=(\"[^\"]*\"|'[^']*'|[^\s&,;'\"]+)")
_HOST = re.compile(r"(\[[0-9A-Fa-f:.]+\]|[^:/?#@\[\]\s]*)(:\d*)?\Z")

# Any name holding one of these is a secret (sslpassword, sasl.password, clientSecret, access_token ...).
_SECRET_PARTS = ("password", "passwd", "passphrase", "secret", "token", "credential")
_SECRET_WORDS = {"pwd", "pass", "jaas", "apikey", "accesskey", "secretkey", "privatekey", "sslkey", "tlskey"}
# `key` alone names a template (Redis); after one of these it names a secret (access_key, ssl.key.pem).
_KEY_QUALIFIERS = {"access", "private", "api", "secret", "ssl", "tls", "sasl", "signing", "encryption", "master",
                   "client", "account", "shared", "auth"}


def _words(name: str) -> list:
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name)
    return [w for w in re.split(r"[^a-z0-9]+", spaced.lower()) if w]


def is_secret_name(name) -> bool:
    """Whether a parameter / option named `name` holds a secret."""
    if not isinstance(name, str):
        return False
    words = _words(unquote_plus(name))
    for i, word in enumerate(words):
        if word in _SECRET_WORDS or any(part in word for part in _SECRET_PARTS):
            return True
        if word == "key" and i > 0 and words[i - 1] in _KEY_QUALIFIERS:
            return True
    return False


def mask_uri(uri):
    """The URI with its password and secret query parameters (nested URIs' too) replaced by MASK."""
    if uri is None or uri == "":
        return uri
    try:
        return _mask_uri(str(uri))
    except Exception:  # noqa: BLE001 - a URI this cannot read is shown as nothing rather than leaked
        return MASK


def _mask_uri(uri: str) -> str:
    match = _URI.match(uri)
    if match is None:
        return MASK
    scheme, slashes, rest = match.groups()
    if not slashes:  # opaque (`blackhole:`): nothing to read, so anything like a credential goes
        return uri if "@" not in rest and "=" not in rest else f"{scheme}:{MASK}"
    at = _userinfo_end(rest)
    userinfo, rest = (rest[:at], rest[at + 1:]) if at >= 0 else (None, rest)
    authority_end = min((i for i in (rest.find("/"), rest.find("?")) if i >= 0), default=len(rest))
    authority, rest = rest[:authority_end], rest[authority_end:]
    if not all(_HOST.match(host) for host in authority.split(",")):
        return f"{scheme}://{MASK}"
    path, question, query = rest.partition("?")
    out = f"{scheme}://"
    if userinfo is not None:
        user, colon, _ = userinfo.partition(":")
        out += f"{user}:{MASK}@" if colon else f"{user}@"
    return out + authority + path + (question + _mask_query(query) if question else "")


def _userinfo_end(rest: str) -> int:
    """Index of the '@' ending the userinfo, -1 when there is none.

    The last '@' before the query; failing that, the last '@' after the first '?' that comes before any
    `=` or `&` (a password holding '?', not a query parameter whose value holds '@')."""
    q = rest.find("?")
    if q < 0:
        return rest.rfind("@")
    at = rest.rfind("@", 0, q)
    if at >= 0:
        return at
    stop = min((i for i in (rest.find("=", q), rest.find("&", q)) if i >= 0), default=len(rest))
    return rest.rfind("@", q, stop)


def _mask_query(query: str) -> str:
    out, hiding = [], False
    for piece in query.split("&"):
        name, eq, value = piece.partition("=")
        if not eq and hiding:
            continue  # a masked value went on past an unescaped '&'
        hiding = False
        if eq and is_secret_name(name):
            out.append(f"{name}={MASK}")
            hiding = True
            continue
        masked = _mask_value(value) if eq else _mask_value(piece)
        hiding = masked != (value if eq else piece)
        out.append(f"{name}={masked}" if eq else masked)
    return "&".join(out)


def _mask_value(value: str) -> str:
    """A query value, with the secrets of a URI nested in it (as is or percent-encoded) masked."""
    if _NESTED.search(value):
        return mask_text(value)
    plain = unquote_plus(value)
    if plain != value and _NESTED.search(plain):
        masked = mask_text(plain)
        return value if masked == plain else quote(masked, safe=":/@*,")
    return value


def mask_text(text):
    """Free text (an error message, a log line) with every URI in it and every `secret=value` pair masked."""
    if not isinstance(text, str) or ("://" not in text and "=" not in text):
        return text
    text = _URI_IN_TEXT.sub(lambda m: mask_uri(m.group(0)), text)
    return _PAIR_IN_TEXT.sub(lambda m: f"{m.group(1)}={MASK}" if is_secret_name(m.group(1)) else m.group(0), text)


def mask_options(value):
    """An options value (a target's options, producer_config, sink_config ...) with secrets masked: values of
    secret-named keys, and URIs or `secret=value` pairs inside strings, at any depth."""
    if isinstance(value, dict):
        return {key: MASK if is_secret_name(key) and item not in (None, "") else mask_options(item)
                for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [mask_options(item) for item in value]
    if isinstance(value, str):
        return mask_text(value)
    return value


def restore_masked(new, old):
    """`new` with every part a reader was shown masked (`mask_options(old)`) and sent back unchanged replaced by
    the stored value: saving a form or a GET's answer as it was shown must not store the mask."""
    return _restore(new, old, mask_options(old))


def _restore(new, old, shown):
    if new == shown:
        return old
    if isinstance(new, dict) and isinstance(old, dict):
        return {key: _restore(item, old[key], shown[key]) if key in old else item for key, item in new.items()}
    if isinstance(new, list) and isinstance(old, (list, tuple)) and len(new) == len(old):
        return [_restore(item, was, seen) for item, was, seen in zip(new, old, shown)]
    return new


class MaskSecrets(logging.Filter):
    """Masks URIs and secret pairs in every record a handler emits (its message, arguments and traceback)."""

    def filter(self, record):
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a bad format string is the formatter's to report
            return True
        masked = mask_text(message)
        if masked != message:
            record.msg, record.args = masked, ()
        if record.exc_info and not record.exc_text:
            record.exc_text = mask_text(logging.Formatter().formatException(record.exc_info))
        return True
