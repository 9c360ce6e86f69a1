"""Small pieces every compatibility surface uses: JSON bodies, typed fields, DomainError -> HTTP status."""
import json
import re

from django.http import JsonResponse

# Every integer column is at most a signed 64-bit one (BinLake's and Doris' longs, TiCDC's ts): a bigger
# number in a request is a bad request, refused before it reaches a query.
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
_INTEGER = re.compile(r"-?[0-9]+")


class BadBody(Exception):
    """The request body is not what the endpoint takes."""


def json_body(request, *, required=True):
    """The request's JSON object. An empty body is {} unless `required`."""
    raw = request.body
    if not raw.strip():
        if required:
            raise BadBody("the request body must be a JSON object")
        return {}
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadBody(f"malformed JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise BadBody("the request body must be a JSON object")
    check_int64(data)
    return data


def check_int64(value, field="body"):
    """BadBody when any integer inside a decoded JSON value is outside the signed 64-bit range."""
    if isinstance(value, dict):
        for key, item in value.items():
            check_int64(item, f"{field}.{key}" if field != "body" else str(key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            check_int64(item, f"{field}[{i}]")
    elif isinstance(value, int) and not isinstance(value, bool) and not INT64_MIN <= value <= INT64_MAX:
        raise BadBody(f"{field} is out of range (a signed 64-bit integer)")


def json_response(data, status=200):
    return JsonResponse(data, status=status, safe=False, json_dumps_params={"ensure_ascii": False})


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
