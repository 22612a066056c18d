"""``/docs`` and ``/redoc`` that work offline: Swagger UI's and ReDoc's files come from the
``fastapi-offline`` package (kept current by pip), served by fitq, never fetched from a CDN.

Both pages carry a Content-Security-Policy that lets them load nothing from elsewhere: ReDoc's
sidebar would otherwise fetch its maker's logo from a CDN, and Swagger UI's validator badge calls
out too (it is also switched off).
"""
from __future__ import annotations

from pathlib import Path

import fastapi_offline
from fastapi import APIRouter, FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

ASSETS = Path(fastapi_offline.__file__).resolve().parent / "static"
ASSETS_URL = "/static/docs"

router = APIRouter(include_in_schema=False)

SAME_ORIGIN_ONLY = ("default-src 'self'; script-src 'self' 'unsafe-inline' blob:; style-src 'self' 'unsafe-inline'; "
                    "img-src 'self' data:; font-src 'self' data:; worker-src 'self' blob:; connect-src 'self'")


def same_origin(page: HTMLResponse) -> HTMLResponse:
    page.headers["Content-Security-Policy"] = SAME_ORIGIN_ONLY
    return page


def install(app: FastAPI) -> None:
    """Serves the documentation pages' assets; create the app with ``docs_url=None, redoc_url=None``."""
    app.mount(ASSETS_URL, StaticFiles(directory=ASSETS), name="docs-assets")
    app.include_router(router)


@router.get("/docs")
def swagger_ui(request: Request) -> HTMLResponse:
    root = request.scope.get("root_path", "")
    return same_origin(get_swagger_ui_html(
        openapi_url=f"{root}{request.app.openapi_url}", title=f"{request.app.title} API",
        oauth2_redirect_url=f"{root}/docs/oauth2-redirect", swagger_js_url=f"{root}{ASSETS_URL}/swagger-ui-bundle.js",
        swagger_css_url=f"{root}{ASSETS_URL}/swagger-ui.css", swagger_favicon_url=f"{root}/static/favicon.svg",
        swagger_ui_parameters={"validatorUrl": None}))


@router.get("/docs/oauth2-redirect")
def swagger_ui_redirect() -> HTMLResponse:
    return get_swagger_ui_oauth2_redirect_html()


@router.get("/redoc")
def redoc(request: Request) -> HTMLResponse:
    root = request.scope.get("root_path", "")
    return same_origin(get_redoc_html(openapi_url=f"{root}{request.app.openapi_url}", title=f"{request.app.title} API",
                                      redoc_js_url=f"{root}{ASSETS_URL}/redoc.standalone.js",
                                      redoc_favicon_url=f"{root}/static/favicon.svg", with_google_fonts=False))
