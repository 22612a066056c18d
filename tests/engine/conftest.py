"""The array backend engine tests run on: NumPy always, CuPy where a CUDA GPU and CuPy are present."""
from __future__ import annotations

import importlib.util

import pytest


def _gpu_reason() -> str | None:
    """None when CuPy can run here, else why not."""
    if importlib.util.find_spec("cupy") is None:
        return "CuPy is not installed (pip install 'fitq[gpu]' on a machine with a CUDA GPU)"
    try:
        import cupy  # noqa: PLC0415

        if cupy.cuda.runtime.getDeviceCount() < 1:
            return "CuPy finds no CUDA GPU on this machine"
    except Exception as exc:  # noqa: BLE001 - any CUDA failure means no usable GPU here
        return f"CuPy cannot reach a CUDA GPU here ({type(exc).__name__}: {exc})"
    return None


@pytest.fixture(params=["numpy", "cupy"])
def backend(request) -> str:
    """The backend a test runs its models on (``model.use_backend``); ``cupy`` is skipped with the reason
    where no GPU is usable, so the same tests check the GPU where there is one."""
    if request.param == "cupy" and (reason := _gpu_reason()):
        pytest.skip(reason)
    return request.param
