"""Small pieces every compatibility surface uses: JSON bodies, typed fields, DomainError -> HTTP status."""
import functools
import gc
import json
import re

import orjson

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.core.serializers.json import DjangoJSONEncoder
from django.http import HttpResponse

# Every integer column is at most a signed 64-bit one (BinLake's and Doris' longs, TiCDC's ts): a bigger
# number in a request is a bad request, refused before it reaches a query.
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
_INTEGER = re.compile(r"-?[0-9]+")


class BadBody(Exception):
    """The request body is not what the endpoint takes."""


# No request of any surface nests deeper than a few levels (TiCDC's sink_config is the deepest): a deeper
# document is hostile, and would only exhaust the stack of whatever walks it next.
MAX_JSON_DEPTH = 32


def loads(raw):
    """Decoded JSON that is safe to hand on: BadBody when it is malformed, nested deeper than MAX_JSON_DEPTH,
    holds NaN/Infinity, an integer outside the signed 64-bit range or a string that is not valid Unicode."""
    try:
        value = json.loads(raw, parse_constant=_no_constant)
    except RecursionError:
        raise BadBody(f"the JSON document is nested deeper than {MAX_JSON_DEPTH} levels") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadBody(f"malformed JSON: {exc}") from exc
    check_decoded(value)
    return value


def _no_constant(name):
    raise BadBody(f"malformed JSON: {name} is not a number JSON allows")


def body_of(request) -> bytes:
    """request.body, bounded by DATA_UPLOAD_MAX_MEMORY_SIZE: BadBody past it."""
    try:
        return request.body
    except RequestDataTooBig:
        raise BadBody(f"the request body is larger than {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes") from None


def json_body(request, *, required=True):
    """The request's JSON object. An empty body is {} unless `required`."""
    raw = body_of(request)
    if not raw.strip():
        if required:
            raise BadBody("the request body must be a JSON object")
        return {}
    data = loads(raw)
    if not isinstance(data, dict):
        raise BadBody("the request body must be a JSON object")
    return data


def check_decoded(value, field="body"):
    """BadBody when a decoded JSON value nests deeper than MAX_JSON_DEPTH, or holds an integer outside the
    signed 64-bit range or a string (or key) that cannot be encoded (a lone UTF-16 surrogate, which JSON's
    \\u escapes and json.loads' surrogatepass let through and no database column takes)."""
    stack = [(value, field, 0)]  # iterative: the depth check is what protects the stack
    while stack:
        value, field, depth = stack.pop()
        if isinstance(value, (dict, list)) and depth >= MAX_JSON_DEPTH:
            raise BadBody(f"the JSON document is nested deeper than {MAX_JSON_DEPTH} levels")
        if isinstance(value, dict):
            for key, item in value.items():
                path = f"{field}.{key}" if field != "body" else str(key)
                _check_text(key, path)
                stack.append((item, path, depth + 1))
        elif isinstance(value, list):
            stack.extend((item, f"{field}[{i}]", depth + 1) for i, item in enumerate(value))
        elif isinstance(value, str):
            _check_text(value, field)
        elif isinstance(value, int) and not isinstance(value, bool) and not INT64_MIN <= value <= INT64_MAX:
            raise BadBody(f"{field} is out of range (a signed 64-bit integer)")


def _check_text(text, field):
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise BadBody(f"{field.encode('utf-8', 'replace').decode()} is not valid Unicode"
                          " (a lone UTF-16 surrogate)") from None


# orjson: a whole-list answer (Bifrost's synclist for 20,000 jobs is ~17 MB) encodes several times faster than with
# the json module. Times and anything else orjson does not know go through Django's encoder, as JsonResponse
# writes them.
_DJANGO_ENCODER = DjangoJSONEncoder()


def json_response(data, status=200):
    body = orjson.dumps(data, default=_DJANGO_ENCODER.default,
                        option=orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME)
    return HttpResponse(body, status=status, content_type="application/json")


def whole_list(view):
    """A view answering with a whole fleet's list (TiCDC changefeeds, Bifrost synclist, /metrics): Python's
    cyclic garbage collector is paused while it runs. Such an answer is hundreds of thousands of small objects
    made in one go (rows, dicts, strings), none of them in a cycle, and the collector, triggered by the
    allocations, walked them again and again: a third of the CPU of a 20,000-job synclist. Unreachable
    objects are still freed at once by reference counting; the collector runs as usual after the view."""

    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        if not gc.isenabled():  # nested, or paused by someone else: leave it to them
            return view(*args, **kwargs)
        gc.disable()
        try:
            return view(*args, **kwargs)
        finally:
            gc.enable()

    return wrapper


def as_int(value, field, *, minimum=INT64_MIN, maximum=INT64_MAX):
    """An int from JSON or a query string (also a numeric string, as some scripts send); BadBody otherwise."""
    if isinstance(value, bool):
        raise BadBody(f"{field} must be an integer")
    if isinstance(value, str) and _INTEGER.fullmatch(value.strip()):
        value = int(value)
    if not isinstance(value, int):
        raise BadBody(f"{field} must be an integer")
    if not max(minimum, INT64_MIN) <= value <= min(maximum, INT64_MAX):
        raise BadBody(f"{field} is out of range")
    return value


def as_str(value, field, *, required=True):
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value):
        raise BadBody(f"{field} must be a non-empty string" if required else f"{field} must be a string")
    return value
