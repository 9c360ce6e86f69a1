"""The native API's request bodies: JSON with the checks every surface applies, a too large body a 413.

DRF's JSONParser decodes whatever Python's json module takes; this one goes through the checked decode of
the compatibility surfaces' bodies (console.api.compat.base.loads): nesting depth, NaN/Infinity, 64-bit
integers, lone UTF-16 surrogates. DRF reads the body through Django's request.body, which refuses one
past DATA_UPLOAD_MAX_MEMORY_SIZE with RequestDataTooBig; `exception_handler` answers that in DRF's shape.
"""
from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from rest_framework import status
from rest_framework.exceptions import APIException, ParseError
from rest_framework.parsers import JSONParser
from rest_framework.views import exception_handler as drf_exception_handler

from console.api.compat.base import BadBody, loads


class CheckedJSONParser(JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        try:
            return loads(stream.read().decode(encoding))
        except UnicodeDecodeError as exc:
            raise ParseError(f"JSON parse error - the body is not {encoding}: {exc}") from None
        except BadBody as exc:
            raise ParseError(f"JSON parse error - {exc}") from None


class RequestTooLarge(APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is too large."
    default_code = "request_too_large"


def exception_handler(exc, context):
    if isinstance(exc, RequestDataTooBig):
        exc = RequestTooLarge(f"The request body is larger than {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes.")
    return drf_exception_handler(exc, context)
