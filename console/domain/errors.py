"""The one error a domain operation raises: what went wrong, as a kind every surface maps to its own shape.

    invalid    the request is wrong (400)
    forbidden  the caller may see the object but not do this (403)
    not_found  no such object visible to the caller (404)
    exists     the name or address is taken (409)
    state      not allowed in the object's current state (409)
    source     the MySQL source could not be reached or answered with an error (502 / 400)

The message is safe to show to the caller: it never carries a secret. `field`, when set, names the input
the message is about (a form shows it next to that field).
"""

KINDS = ("invalid", "forbidden", "not_found", "exists", "state", "source")

# The HTTP status each kind has on surfaces that speak plain HTTP (console pages, native API, compat APIs).
HTTP_STATUS = {"invalid": 400, "forbidden": 403, "not_found": 404, "exists": 409, "state": 409, "source": 400}


class DomainError(Exception):
    def __init__(self, kind, message, field=None):
        if kind not in KINDS:
            raise ValueError(f"unknown DomainError kind {kind!r}")
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.field = field

    @property
    def status(self) -> int:
        return HTTP_STATUS[self.kind]
