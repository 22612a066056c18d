"""Every error answer is ``{"error": {"type", "message", "field"?}}``."""
from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from worker.errors import FitqError

log = logging.getLogger("fitq.api")


def error_response(status: int, type_: str, message: str, field: str | None = None) -> JSONResponse:
    body = {"type": type_, "message": message}
    if field is not None:
        body["field"] = field
    return JSONResponse({"error": body}, status_code=status)


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
        return error_response(exc.status_code, kind, str(exc.detail))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception):
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return error_response(500, "internal_error", f"{type(exc).__name__}: {exc}")
