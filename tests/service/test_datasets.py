"""Dataset uploads: formats, descriptions, and every way a bad upload is refused with a 4xx."""
from __future__ import annotations

import io
import tarfile
import zipfile

import numpy as np
import pytest

from service.client import ApiError
from tests.service.helpers import npz_bytes


def post_file(api, name: str, content: bytes):
    return api.http.post("/v1/datasets", files={"file": (name, io.BytesIO(content), "application/octet-stream")})


def png_bytes(value: int, size=(6, 5)) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", size, (value, value, value)).save(buf, format="PNG")
    return buf.getvalue()


def test_npz_upload_describes_arrays_and_lists_them(api, data_dir):
    x = np.arange(24, dtype="float32").reshape(6, 4)
    ds = api.upload_arrays({"x": x, "labels": np.arange(6, dtype="int64")})
    assert ds["arrays"] == {"x": {"shape": [6, 4], "dtype": "float32", "finite": True},
                           "labels": {"shape": [6], "dtype": "int64", "finite": True}}
    assert [d["id"] for d in api.datasets()] == [ds["id"]]
    assert api.http.get(f"/v1/datasets/{ds['id']}").json()["arrays"]["x"]["shape"] == [6, 4]
    stored = np.load(data_dir / "datasets" / ds["id"] / "arrays" / "x.npy", mmap_mode="r")
    np.testing.assert_array_equal(stored, x)


def test_npy_and_csv_uploads(api, tmp_path):
    buf = io.BytesIO()
    np.save(buf, np.ones((3, 2), dtype="float64"))
    ds = post_file(api, "features.npy", buf.getvalue()).json()
    assert ds["arrays"] == {"features": {"shape": [3, 2], "dtype": "float64", "finite": True}}
    csv = b"a,b,label\n1,2,0\n3,4.5,1\n\n5,6,0\n"
    ds = post_file(api, "table.csv", csv).json()
    assert ds["arrays"]["data"] == {"shape": [3, 3], "dtype": "float32", "finite": True}
    assert ds["columns"] == ["a", "b", "label"]


def test_image_folder_zip_and_tar(api):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for cls, v in (("cats", 10), ("dogs", 200)):
            for i in range(3):
                z.writestr(f"pets/{cls}/{i}.png", png_bytes(v))
    ds = post_file(api, "pets.zip", buf.getvalue()).json()
    assert ds["images"] == {"count": 6, "classes": ["cats", "dogs"], "class_counts": {"cats": 3, "dogs": 3}}
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as t:
        for cls in ("a", "b"):
            data = png_bytes(5)
            info = tarfile.TarInfo(f"{cls}/x.png")
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    assert post_file(api, "imgs.tgz", buf.getvalue()).json()["images"]["count"] == 2


def test_delete_dataset(api):
    ds = api.upload_arrays({"x": np.zeros((2, 2))})
    api.delete_dataset(ds["id"])
    with pytest.raises(ApiError) as err:
        api.delete_dataset(ds["id"])
    assert err.value.status == 404


@pytest.mark.parametrize("name, content, status, fragment", [
    ("evil.zip", None, 422, "outside"),
    ("bomb.npz", None, 413, "ratio"),
    ("objects.npy", None, 422, "pickle"),
    ("data.exe", b"MZ", 422, "unsupported"),
    ("bad.npz", b"not a zip", 422, "not a valid"),
    ("short.npy", None, 422, "size"),
])
def test_bad_uploads_are_refused(api, data_dir, name, content, status, fragment):
    if name == "evil.zip":
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as z:
            z.writestr("../../etc/cls/x.png", png_bytes(1))
        content = buf.getvalue()
    elif name == "bomb.npz":
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as z:
            z.writestr("x.npy", npz_member_header(10_000_000) + b"\0" * 10_000_000)
        content = buf.getvalue()
    elif name == "objects.npy":
        buf = io.BytesIO()
        np.save(buf, np.array([{"a": 1}], dtype=object), allow_pickle=True)
        content = buf.getvalue()
    elif name == "short.npy":
        buf = io.BytesIO()
        np.save(buf, np.ones(100))
        content = buf.getvalue()[:-8]
    response = post_file(api, name, content)
    assert response.status_code == status
    error = response.json()["error"]
    assert fragment in error["message"] and error["field"] == "file"
    assert list((data_dir / "datasets").iterdir()) == []
    assert api.http.get("/healthz").json()["redis"] is True


def npz_member_header(n_bytes: int) -> bytes:
    """A valid .npy header for ``n_bytes`` uint8 values."""
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": "|u1", "fortran_order": False, "shape": (n_bytes,)})
    return buf.getvalue()


def test_oversized_upload_is_413_and_leaves_nothing(settings, make_api, data_dir):
    from service.client import Client

    served = make_api(settings.model_copy(update={"max_upload_bytes": 10_000}))
    with Client(served.url) as api:
        response = post_file(api, "big.npz", npz_bytes(x=np.zeros(5000, dtype="float32")))
        assert response.status_code == 413
        assert response.json()["error"]["type"] == "payload_too_large"
        assert list((data_dir / "tmp").iterdir()) == []
        assert api.upload_arrays({"x": np.zeros(10)})["arrays"]["x"]["shape"] == [10]


def test_upload_without_file_field(api):
    response = api.http.post("/v1/datasets", files={"other": ("a.npy", b"x")})
    assert response.status_code == 422 and response.json()["error"]["field"] == "file"
    response = api.http.post("/v1/datasets", json={"file": "x"})
    assert response.status_code == 422


def test_malformed_multipart_body(api):
    response = api.http.post("/v1/datasets", content=b"--xyz\r\ngarbage without headers end",
                             headers={"content-type": "multipart/form-data; boundary=xyz"})
    assert response.status_code == 422 and response.json()["error"]["field"] == "file"
