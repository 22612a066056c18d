"""What protects the service and its users' data: size limits checked without allocating, per-caller
concurrency, datasets kept while jobs need them, NaN and Inf refused where JSON or training would break."""
from __future__ import annotations

import time

import numpy as np
import psutil
import pytest

from service.client import ApiError
from tests.service.helpers import dense_spec, regression_arrays


def huge_model(inputs: int, units: int) -> dict:
    return {"class_name": "Sequential", "config": {"name": "huge", "layers": [
        {"class_name": "InputLayer", "config": {"batch_shape": [None, inputs], "dtype": "float32", "name": "x"}},
        {"class_name": "Dense", "config": {"name": "d", "units": units}}]}}


def test_billion_parameter_model_is_refused_without_allocating_its_weights(api):
    ds = api.upload_arrays(regression_arrays(n=8))["id"]
    spec = {**dense_spec(ds), "model": huge_model(100_000, 10_000)}
    process = psutil.Process()
    before = process.memory_info().rss
    started = time.perf_counter()
    with pytest.raises(ApiError) as err:
        api.submit(spec)
    elapsed = time.perf_counter() - started
    assert err.value.status == 422 and err.value.error["field"] == "model"
    assert "1,000,010,000 parameters" in err.value.error["message"]
    assert process.memory_info().rss - before < 64 * 2**20, "the API allocated the model's weights"
    assert elapsed < 5


@pytest.mark.parametrize("fit, field", [({"epochs": 10**20}, "fit.epochs"), ({"batch_size": 10**9}, "fit.batch_size"),
                                        ({"steps_per_epoch": 10**12}, "fit.steps_per_epoch")])
def test_fit_options_past_the_limits_are_refused_naming_the_field(api, fit, field):
    ds = api.upload_arrays(regression_arrays(n=8))["id"]
    with pytest.raises(ApiError) as err:
        api.submit(dense_spec(ds, **fit))
    assert err.value.status == 422 and err.value.error["field"] == field
    assert "limit" in err.value.error["message"]


def test_a_caller_past_its_active_job_limit_gets_429(make_api, settings):
    from service.client import Client

    served = make_api(settings.model_copy(update={"max_active_jobs": 2}))
    with Client(served.url) as api:
        ds = api.upload_arrays(regression_arrays(n=8))["id"]
        first = api.submit(dense_spec(ds))
        api.submit(dense_spec(ds))
        with pytest.raises(ApiError) as err:
            api.submit(dense_spec(ds))
        assert err.value.status == 429 and "FITQ_MAX_ACTIVE_JOBS" in err.value.error["message"]
        api.cancel(first["id"])
        assert api.submit(dense_spec(ds))["status"] == "queued"


def test_dataset_of_a_queued_job_cannot_be_deleted_until_the_job_ends(api):
    ds = api.upload_arrays(regression_arrays(n=8))["id"]
    other = api.upload_arrays(regression_arrays(n=8))["id"]
    job = api.submit(dense_spec(ds))
    with pytest.raises(ApiError) as err:
        api.delete_dataset(ds)
    assert err.value.status == 409 and job["id"] in err.value.error["message"]
    api.delete_dataset(other)
    api.cancel(job["id"])
    api.delete_dataset(ds)
    assert [d["id"] for d in api.datasets()] == []


def test_arrays_holding_nan_are_flagged_at_upload_and_refused_unless_allowed(api):
    data = regression_arrays(n=8)
    data["x"][3, 1] = np.nan
    ds = api.upload_arrays(data)
    assert ds["arrays"]["x"]["finite"] is False and ds["arrays"]["y"]["finite"] is True
    with pytest.raises(ApiError) as err:
        api.submit(dense_spec(ds["id"]))
    assert err.value.status == 422 and err.value.error["field"] == "data.x"
    assert "NaN" in err.value.error["message"]
    spec = dense_spec(ds["id"])
    spec["data"]["allow_nonfinite"] = True
    assert api.submit(spec)["status"] == "queued"
