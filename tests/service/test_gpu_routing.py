"""Jobs that ask for a GPU wait for a GPU worker: the routing, checked on this CPU-only machine. A GPU
worker's horse (never the worker process) creates the CUDA context; without CuPy it fails the job with
a clear error, which shows the job reached it and the worker outlived it."""
from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import time

import pytest

from tests.conftest import FAST_TIMINGS, ROOT
from tests.service.helpers import dense_spec, regression_arrays, wait_for
from worker import queues
from worker.spec import JobSpec


def test_gpu_jobs_go_to_the_gpu_queue_and_the_rest_to_cpu_workers():
    assert queues.queue_for("train", "gpu") == queues.GPU_TRAIN_QUEUE
    assert queues.queue_for("train", "cpu") == queues.TRAIN_QUEUE
    assert queues.queue_for("predict", "gpu") == queues.PREDICT_QUEUE, "predicting runs on CPU workers"
    spec = JobSpec.model_validate(dense_spec("ds_0000000000000000") | {"device": "gpu"})
    assert spec.array_backend == "cupy"
    assert JobSpec.model_validate(dense_spec("ds_0000000000000000") | {"backend": "cupy"}).array_backend == "cupy"
    with pytest.raises(ValueError):
        JobSpec.model_validate(dense_spec("ds_0000000000000000") | {"device": "cpu", "backend": "cupy"})


def test_cpu_workers_leave_a_gpu_job_queued_until_a_gpu_worker_takes_it(api, workers, settings):
    workers.start(1)
    ds = api.upload_arrays(regression_arrays(n=32))["id"]
    gpu_job = api.submit(dense_spec(ds) | {"device": "gpu"})
    cpu_job = api.submit(dense_spec(ds))
    assert api.wait(cpu_job["id"], timeout=60)["status"] == "succeeded"
    assert api.job(gpu_job["id"])["status"] == "queued", "a CPU worker must not take a GPU job"
    assert api.http.get("/healthz").json()["gpu_workers"] == []

    env = {**os.environ, "REDIS_URL": settings.redis_url, "FITQ_DATA_DIR": str(settings.data_dir),
           "PYTHONPATH": str(ROOT), **FAST_TIMINGS}
    log = settings.data_dir.parent / "gpu-worker.log"
    gpu = subprocess.Popen([sys.executable, "-m", "service.cli", "worker", "--gpu", "0", "--log-level", "warning"],
                           env=env, cwd=ROOT, stdout=open(log, "wb"), stderr=subprocess.STDOUT)
    try:
        names = wait_for(lambda: api.http.get("/healthz").json()["gpu_workers"], timeout=60, what="a GPU worker")
        assert len(names) == 1 and names[0].endswith("-gpu0")
        done = api.wait(gpu_job["id"], timeout=90)
        if importlib.util.find_spec("cupy") is None:
            assert done["status"] == "failed"
            assert "cupy" in done["error"]["message"] and "GPU" in done["error"]["message"]
        else:  # a machine with CuPy and a GPU trains it
            assert done["status"] == "succeeded", done["error"]
        time.sleep(0.5)
        assert gpu.poll() is None, "the GPU worker outlives its jobs:\n" + log.read_text()
        assert api.job(cpu_job["id"])["attempt"] == 1
        gpu.terminate()  # an idle worker stops on SIGTERM (RQ's warm shutdown), it does not rejoin
        assert gpu.wait(20) == 0
    finally:
        if gpu.poll() is None:
            gpu.kill()
            gpu.wait()
