"""Every error answer is ``{"error": {"type", "message", "field"?}}``; :data:`ERROR_RESPONSES` documents
them in the OpenAPI document.

Redis being unreachable is a 503 with ``Retry-After``, answered by a handler of its own: the catch-all
``Exception`` handler runs in Starlette's ``ServerErrorMiddleware``, which re-raises after answering
and so makes the server drop the client's keep-alive connection.
"""
from __future__ import annotations

import logging

import redis
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from worker.errors import FitqError

log = logging.getLogger("fitq.api")


class ErrorDetail(BaseModel):
    type: str
    message: str
    field: str | None = None


class ErrorBody(BaseModel):
    """The body of every error answer."""

    error: ErrorDetail


def _documented(description: str) -> dict:
    return {"model": ErrorBody, "description": description}


ERROR_RESPONSES: dict[int | str, dict] = {
    400: _documented("Malformed request (for instance a body that is not JSON)"),
    401: _documented("Missing or unknown bearer token (when the server has API tokens)"),
    404: _documented("No such resource for this tenant"),
    409: _documented("The resource's state does not allow the request"),
    413: _documented("An upload or archive over a configured limit"),
    422: _documented("The request's content cannot work; `field` names the part at fault"),
    429: _documented("Too many active jobs for this tenant"),
    503: _documented("Redis is unavailable; retry after the `Retry-After` seconds"),
}
"""Every error status a route can answer, with the error body's schema (one dict for every router)."""

REDIS_DOWN = (redis.ConnectionError, redis.TimeoutError)


def error_response(status: int, type_: str, message: str, field: str | None = None,
                   headers: dict | None = None) -> JSONResponse:
    body = {"type": type_, "message": message}
    if field is not None:
        body["field"] = field
    return JSONResponse({"error": body}, status_code=status, headers=headers)


def _field_path(loc) -> str:
    parts = [p for p in loc if p not in ("body", "query", "path", "header")]
    out = ""
    for p in parts:
        if isinstance(p, int):
            out += f"[{p}]"
        elif isinstance(p, str) and (p.startswith("function-") or "[" in p):
            continue
        else:
            out += ("." if out else "") + str(p)
    return out or "body"


def allowed_methods(request: Request) -> str:
    """Every method some route serves at the request's path (Starlette's 405 names only the first route's)."""
    methods: set[str] = set()
    for route in request.app.router.routes:
        if route.matches(request.scope)[0] != Match.NONE:
            methods |= getattr(route, "methods", None) or set()
    return ", ".join(sorted(methods))


def install(app: FastAPI) -> None:
    """Registers the handlers that turn every exception into the error shape."""

    @app.exception_handler(FitqError)
    async def fitq_error(request: Request, exc: FitqError):
        return error_response(exc.status, exc.type, exc.message, exc.field)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError):
        errors = exc.errors()
        first = errors[0] if errors else {"loc": ("body",), "msg": "invalid request", "type": ""}
        if first.get("type") == "json_invalid":
            return error_response(400, "malformed_json", f"the body is not valid JSON: {first.get('msg')}", "body")
        message = "; ".join(f"{_field_path(e['loc'])}: {e['msg']}" for e in errors[:5])
        return error_response(422, "validation_error", message, _field_path(first["loc"]))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        kind = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        headers = exc.headers
        if exc.status_code == 405:
            headers = {**(headers or {}), "Allow": allowed_methods(request)}
        return error_response(exc.status_code, kind, str(exc.detail), headers=headers)

    async def unavailable(request: Request, exc: Exception):
        log.warning("Redis unavailable on %s %s: %s", request.method, request.url.path, exc)
        return error_response(503, "unavailable", f"the job store (Redis) is unavailable: {exc}",
                              headers={"Retry-After": str(app.state.settings.retry_after)})

    for error in REDIS_DOWN:
        app.add_exception_handler(error, unavailable)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception):
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return error_response(500, "internal_error", f"{type(exc).__name__}: {exc}")
