"""Hostile archives: zips whose size fields lie are 422 (never 500), a tar.gz bomb is stopped at its
first members, and unpacking has a CPU budget (``max_unpack_seconds``)."""
from __future__ import annotations

import io
import struct
import tarfile
import time
import zipfile

import numpy as np
import pytest

from tests.service.test_datasets import png_bytes, post_file


def image_zip(size_delta: int, name: str = "cats/a.png") -> bytes:
    """A one-image zip whose central directory and local header state a wrong uncompressed size."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(name, png_bytes(3, size=(40, 40)))
    data = bytearray(buf.getvalue())
    real = zipfile.ZipFile(io.BytesIO(bytes(data))).infolist()[0].file_size
    for signature, offset in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):  # local header, central directory
        at = data.index(signature) + offset
        data[at:at + 4] = struct.pack("<I", real + size_delta)
    return bytes(data)


def npz_lying(size_delta: int) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        inner = io.BytesIO()
        np.save(inner, np.arange(1000, dtype="float32"))
        z.writestr("x.npy", inner.getvalue())
    data = bytearray(buf.getvalue())
    real = zipfile.ZipFile(io.BytesIO(bytes(data))).infolist()[0].file_size
    for signature, offset in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        at = data.index(signature) + offset
        data[at:at + 4] = struct.pack("<I", real + size_delta)
    return bytes(data)


@pytest.mark.parametrize("name,content", [
    ("smaller.zip", image_zip(-100)), ("larger.zip", image_zip(+100)),
    ("smaller.npz", npz_lying(-100)), ("larger.npz", npz_lying(+100)),
    ("truncated.zip", image_zip(0)[:-30]),
])
def test_zip_whose_size_fields_lie_is_422(api, data_dir, name, content):
    response = post_file(api, name, content)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["field"] == "file" and error["type"] == "validation_error"
    assert list((data_dir / "datasets").iterdir()) == []


def tar_gz(members: int, member_bytes: int) -> bytes:
    buf = io.BytesIO()
    zeros = bytes(member_bytes)
    with tarfile.open(fileobj=buf, mode="w:gz", compresslevel=9) as t:
        for i in range(members):
            info = tarfile.TarInfo(f"cats/{i}.png")
            info.size = member_bytes
            t.addfile(info, io.BytesIO(zeros))
    return buf.getvalue()


def test_tar_gz_bomb_stops_at_its_first_members(api, data_dir):
    bomb = tar_gz(members=400, member_bytes=1 << 20)  # 400 MiB of zeros in well under 1 MiB
    assert len(bomb) < 1 << 20
    started = time.monotonic()
    response = post_file(api, "bomb.tar.gz", bomb)
    elapsed = time.monotonic() - started
    assert response.status_code == 413, response.text
    assert "max_compression_ratio" in response.json()["error"]["message"]
    assert elapsed < 1.5, f"{elapsed:.2f} s: the archive was read too far"
    assert list((data_dir / "datasets").iterdir()) == []


def test_unpacking_has_a_cpu_budget(settings, make_api, data_dir):
    from service.client import Client

    served = make_api(settings.model_copy(update={"max_unpack_seconds": 0.001, "max_compression_ratio": 1e9}))
    client = Client(served.url)
    response = post_file(client, "many.tar.gz", tar_gz(members=2000, member_bytes=2048))
    assert response.status_code == 413, response.text
    assert "max_unpack_seconds" in response.json()["error"]["message"]
    assert list((data_dir / "datasets").iterdir()) == []
    client.close()
