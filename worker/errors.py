"""Errors a caller can cause, each with the HTTP status the API answers and the field it names.

The worker and the store raise these; the service turns them into ``{"error": {"type", "message", "field"}}``.
"""
from __future__ import annotations


class FitqError(Exception):
    """A caller's mistake: ``status`` is the HTTP status, ``field`` the request field at fault (or None)."""

    status = 400
    type = "bad_request"

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field


class InvalidInput(FitqError):
    """The request is well-formed but its content cannot work (422)."""

    status = 422
    type = "validation_error"


class NotFound(FitqError):
    """No such resource for this tenant (404)."""

    status = 404
    type = "not_found"


class Conflict(FitqError):
    """The resource is in a state that does not allow the request (409)."""

    status = 409
    type = "conflict"


class TooLarge(FitqError):
    """An upload or archive is over a configured cap (413)."""

    status = 413
    type = "payload_too_large"


class Unauthorized(FitqError):
    """A missing or unknown bearer token (401)."""

    status = 401
    type = "unauthorized"


class TooManyRequests(FitqError):
    """The caller is over a rate or concurrency limit (429)."""

    status = 429
    type = "too_many_requests"
