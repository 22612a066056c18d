"""The dashboard: one page whose script routes ``/``, ``/jobs/{id}``, ``/datasets``, ``/compare`` and
``/submit`` in the browser (History API), so each view has a URL that reloads and bookmarks; its
scripts, styles and the vendored charting library are static files under ``/static``."""
from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

router = APIRouter(include_in_schema=False)

STATIC = Path(__file__).resolve().parent.parent / "static"
PAGE = STATIC / "dashboard.html"


def install(app: FastAPI) -> None:
    """Serves the dashboard's static files under ``/static``."""
    app.mount("/static", StaticFiles(directory=STATIC), name="static")


def page() -> FileResponse:
    return FileResponse(PAGE, media_type="text/html", headers={"Cache-Control": "no-cache"})


@router.get("/")
def jobs_page() -> FileResponse:
    return page()


@router.get("/jobs/{job_id}")
def job_page(job_id: str) -> FileResponse:
    return page()


@router.get("/datasets")
def datasets_page() -> FileResponse:
    return page()


@router.get("/compare")
def compare_page() -> FileResponse:
    return page()


@router.get("/submit")
def submit_page() -> FileResponse:
    return page()
