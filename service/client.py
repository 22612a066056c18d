"""A small Python client for fitq's REST API (uploads NumPy arrays, submits, waits, predicts).

>>> c = Client("http://127.0.0.1:8000")
>>> ds = c.upload_arrays({"x": x, "y": y})
>>> job = c.submit({"model": model.to_json(), "compile": {"loss": "mse"},
...                 "data": {"x": f"{ds['id']}/x", "y": f"{ds['id']}/y"}, "fit": {"epochs": 3}})
>>> c.wait(job["id"])["status"]
'succeeded'
"""
from __future__ import annotations

import io
import json
import os
import time
from pathlib import Path
from typing import Any, Iterator

import httpx
import numpy as np

from worker.status import TERMINAL


class ApiError(Exception):
    """An error answer from the API: ``status`` and the ``error`` object (``type``, ``message``, ``field``)."""

    def __init__(self, status: int, error: dict):
        super().__init__(f"{status} {error.get('type')}: {error.get('message')}"
                         + (f" (field {error['field']})" if error.get("field") else ""))
        self.status = status
        self.error = error


class Client:
    """The API at ``url`` (default ``$FITQ_URL`` or ``http://127.0.0.1:8000``), with ``token`` ($FITQ_TOKEN)."""

    def __init__(self, url: str | None = None, token: str | None = None, timeout: float = 60.0):
        self.url = (url or os.environ.get("FITQ_URL") or "http://127.0.0.1:8000").rstrip("/")
        token = token or os.environ.get("FITQ_TOKEN")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.http = httpx.Client(base_url=self.url, headers=headers, timeout=timeout)

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _check(self, response: httpx.Response) -> httpx.Response:
        if response.status_code >= 400:
            try:
                error = response.json()["error"]
            except (ValueError, KeyError, TypeError):
                error = {"type": "http_error", "message": response.text}
            raise ApiError(response.status_code, error)
        return response

    def _json(self, method: str, path: str, **kwargs) -> Any:
        return self._check(self.http.request(method, path, **kwargs)).json()

    # -- datasets ------------------------------------------------------------------------------
    def upload_file(self, path: str | os.PathLike) -> dict:
        """Uploads a dataset file (.npy, .npz, .csv, image-folder .zip/.tar); returns its description."""
        path = Path(path)
        with open(path, "rb") as f:
            return self._json("POST", "/v1/datasets", files={"file": (path.name, f, "application/octet-stream")})

    def upload_arrays(self, arrays: dict[str, np.ndarray], name: str = "arrays.npz") -> dict:
        """Uploads NumPy arrays as one ``.npz`` dataset; reference them as ``"<id>/<name>"``."""
        buf = io.BytesIO()
        np.savez(buf, **arrays)
        buf.seek(0)
        return self._json("POST", "/v1/datasets", files={"file": (name, buf, "application/octet-stream")})

    def datasets(self) -> list[dict]:
        return self._json("GET", "/v1/datasets")["datasets"]

    def delete_dataset(self, dataset_id: str) -> None:
        self._check(self.http.delete(f"/v1/datasets/{dataset_id}"))

    # -- jobs ----------------------------------------------------------------------------------
    def submit(self, spec: dict) -> dict:
        """Submits a job spec; returns the queued job."""
        return self._json("POST", "/v1/jobs", json=spec)

    def job(self, job_id: str) -> dict:
        return self._json("GET", f"/v1/jobs/{job_id}")

    def jobs(self, status: str | None = None, offset: int = 0, limit: int = 50) -> dict:
        params = {"offset": offset, "limit": limit, **({"status": status} if status else {})}
        return self._json("GET", "/v1/jobs", params=params)

    def history(self, job_id: str) -> dict:
        """``{"epoch": [...], "history": {...}}`` as Keras's ``History``."""
        return self._json("GET", f"/v1/jobs/{job_id}/history")

    def log(self, job_id: str) -> list[dict]:
        """The job's events so far (status changes, epochs, cancels) with their times."""
        return self._json("GET", f"/v1/jobs/{job_id}/log")["events"]

    def cancel(self, job_id: str) -> dict:
        return self._json("POST", f"/v1/jobs/{job_id}/cancel")

    def wait(self, job_id: str, timeout: float | None = None, poll: float = 0.25) -> dict:
        """Polls until the job has finished; returns its record (TimeoutError after ``timeout`` s)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            job = self.job(job_id)
            if job["status"] in TERMINAL:
                return job
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"job {job_id} still {job['status']} after {timeout} s")
            time.sleep(poll)

    def events(self, job_id: str, last_event_id: str | None = None) -> Iterator[tuple[str, dict]]:
        """The job's Server-Sent Events as ``(event, data)`` until a final status."""
        headers = {"Last-Event-ID": last_event_id} if last_event_id else {}
        with self.http.stream("GET", f"/v1/jobs/{job_id}/events", headers=headers,
                              timeout=httpx.Timeout(self.http.timeout.connect, read=None)) as response:
            if response.status_code >= 400:
                response.read()
                self._check(response)
            event, data = "message", []
            for line in response.iter_lines():
                if not line:
                    if data:
                        yield event, json.loads("\n".join(data))
                    event, data = "message", []
                elif line.startswith(":"):
                    continue
                else:
                    key, _, value = line.partition(":")
                    value = value[1:] if value.startswith(" ") else value
                    if key == "event":
                        event = value
                    elif key == "data":
                        data.append(value)

    def model(self, job_id: str) -> dict:
        return self._json("GET", f"/v1/jobs/{job_id}/model")

    def weights(self, job_id: str) -> list[np.ndarray]:
        """The trained weights in Keras's ``get_weights()`` order."""
        body = self._check(self.http.get(f"/v1/jobs/{job_id}/weights")).content
        with np.load(io.BytesIO(body), allow_pickle=False) as data:
            return [data[k] for k in sorted(data.files)]

    def predict(self, job_id: str, instances: list | None = None, inputs: Any = None,
                dataset: Any = None) -> Any:
        """TensorFlow Serving's predict: rows (``instances``) or columns (``inputs``); NumPy arrays welcome."""
        body = {k: _plain(v) for k, v in (("instances", instances), ("inputs", inputs), ("dataset", dataset))
                if v is not None}
        return self._json("POST", f"/v1/jobs/{job_id}/predict", json=body)

    def predictions(self, job_id: str) -> dict[str, np.ndarray]:
        """A predict job's results by output name."""
        body = self._check(self.http.get(f"/v1/jobs/{job_id}/predictions")).content
        with np.load(io.BytesIO(body), allow_pickle=False) as data:
            return {k: data[k] for k in data.files}

    def evaluate(self, job_id: str, x: Any, y: Any, sample_weight: Any = None, batch_size: int = 32) -> dict:
        """Keras's ``evaluate`` of the trained model on inline arrays or array references."""
        body = {"x": _plain(x), "y": _plain(y), "batch_size": batch_size}
        if sample_weight is not None:
            body["sample_weight"] = _plain(sample_weight)
        return self._json("POST", f"/v1/jobs/{job_id}/evaluate", json=body)


def _plain(value: Any) -> Any:
    """NumPy arrays (also inside dicts and lists) as nested lists for JSON."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value
