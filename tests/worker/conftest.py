"""In-process worker fixtures: the job functions called directly against the session's real Redis, as RQ's
own tests do, so the worker's code runs (and is measured) in the test process."""
from __future__ import annotations

import numpy as np
import pytest

from tests.service.helpers import npz_bytes
from worker.ingest import ingest
from worker.records import Records
from worker.store import Store, new_id
from worker.tasks import Context


@pytest.fixture
def ctx(settings, redis_conn) -> Context:
    store = Store(settings.data_dir)
    return Context(settings, redis_conn, store, Records(redis_conn, store))


@pytest.fixture
def upload(ctx):
    """Stores arrays as a dataset of the public tenant: ``upload(x=..., y=...) -> dataset id``."""

    def make(**arrays: np.ndarray) -> str:
        path = ctx.store.temp_path(".upload")
        path.write_bytes(npz_bytes(**arrays))
        return ingest(ctx.store, path, "arrays.npz", "public", new_id("ds"), ctx.settings)["id"]

    return make
