"""``GET /``: the dashboard, one static page whose script polls the REST API."""
from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse

router = APIRouter(tags=["dashboard"])

PAGE = Path(__file__).resolve().parent.parent / "static" / "dashboard.html"


@router.get("/", include_in_schema=False)
def dashboard() -> FileResponse:
    return FileResponse(PAGE, media_type="text/html")
