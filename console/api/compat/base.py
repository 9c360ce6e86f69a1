"""Small pieces every compatibility surface uses: JSON bodies, typed fields, DomainError -> HTTP status."""
import json

from django.http import JsonResponse



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
    return data


def json_response(data, status=200):
    return JsonResponse(data, status=status, safe=False, json_dumps_params={"ensure_ascii": False})


def as_int(value, field, *, minimum=None, maximum=None):
    """An int from JSON (also a numeric string, as some scripts send); BadBody otherwise."""
    if isinstance(value, bool):
        raise BadBody(f"{field} must be an integer")
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        value = int(value)
    if not isinstance(value, int):
        raise BadBody(f"{field} must be an integer")
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise BadBody(f"{field} is out of range")
    return value


def as_str(value, field, *, required=True):
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value):
        raise BadBody(f"{field} must be a non-empty string" if required else f"{field} must be a string")
    return value
