"""Members of an ``.npz`` archive as :class:`MappedArray` objects, never loaded whole.

Members stored uncompressed (``np.savez``) are memory-mapped in place inside the archive.
Compressed members (``np.savez_compressed``) cannot be mapped: each is unpacked once, streamed in
chunks, to ``<cache_dir>/<member>.npy`` (written to a temporary name and renamed, so concurrent
readers never see a partial file) and mapped from there; later opens reuse the unpacked file.
"""
from __future__ import annotations

import os
import shutil
import struct
import tempfile
import zipfile

from engine.datasets.mapped import MappedArray

_LOCAL_HEADER = struct.Struct("<4s22xHH")
_CHUNK = 1 << 20


def _member_data_offset(path, info: zipfile.ZipInfo) -> int:
    """Where a stored member's bytes start: after its local file header, name and extra field."""
    with open(path, "rb") as f:
        f.seek(info.header_offset)
        signature, name_len, extra_len = _LOCAL_HEADER.unpack(f.read(_LOCAL_HEADER.size))
    if signature != b"PK\x03\x04":
        raise ValueError(f"{path}: member {info.filename!r} has a corrupt local header")
    return info.header_offset + _LOCAL_HEADER.size + name_len + extra_len


def _unpack(archive: zipfile.ZipFile, info: zipfile.ZipInfo, target: str) -> None:
    if os.path.exists(target) and os.path.getsize(target) == info.file_size:
        return
    os.makedirs(os.path.dirname(target), exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(target), suffix=".partial")
    try:
        with os.fdopen(fd, "wb") as out, archive.open(info) as member:
            shutil.copyfileobj(member, out, _CHUNK)
        os.replace(tmp, target)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def open_npz(path, cache_dir=None) -> dict[str, MappedArray]:
    """``{name: MappedArray}`` for every ``.npy`` member of the archive at ``path``.

    ``cache_dir`` (default: ``<path>.unpacked`` beside the archive) receives compressed members.
    """
    path = os.fspath(path)
    cache_dir = os.fspath(cache_dir) if cache_dir is not None else path + ".unpacked"
    arrays = {}
    with zipfile.ZipFile(path) as archive:
        for info in archive.infolist():
            if not info.filename.endswith(".npy"):
                continue
            name = info.filename[:-len(".npy")]
            if info.compress_type == zipfile.ZIP_STORED:
                arrays[name] = MappedArray(path, header_offset=_member_data_offset(path, info))
            else:
                target = os.path.join(cache_dir, name.replace("/", "__") + ".npy")
                _unpack(archive, info, target)
                arrays[name] = MappedArray(target)
    return arrays
