"""Turns an uploaded file into a dataset directory: checked, unpacked, ready to memory-map.

Formats, by file name: ``.npy`` (one array, named after the file), ``.npz`` (one array per member),
``.csv`` (numeric columns -> array ``data`` of shape ``(rows, columns)``, float32, with the header's
column names in the description) and image folders as ``.zip`` / ``.tar`` / ``.tar.gz`` / ``.tgz``
(``class_name/image.png``, optionally under one top directory).

Nothing is trusted: archive members are checked for names (no absolute paths, no ``..``, no links),
count, unpacked size and compression ratio before a byte is written, and are then copied with a
running byte count; ``.npy`` headers are parsed without pickles and must match the file's size. A tar
archive's members are only known by reading it, so its caps (members, bytes, compression ratio both
declared and as decompressed so far) are checked at each member, and every archive's unpacking has a
CPU-time budget (``max_unpack_seconds``). A member whose data contradicts its header is a 422.
"""
from __future__ import annotations

import csv
import lzma
import os
import shutil
import tarfile
import time
import zipfile
import zlib
from pathlib import Path, PurePosixPath

import numpy as np

from worker import layout
from worker.errors import InvalidInput, TooLarge
from worker.settings import Settings
from worker.store import ARRAY_NAME, Store

CORRUPT = (zipfile.BadZipFile, tarfile.TarError, zlib.error, lzma.LZMAError, EOFError, OSError, ValueError,
           NotImplementedError, RuntimeError)
"""What reading a lying or damaged archive raises (a member's size or CRC that does not hold, a truncated
stream, an unsupported or encrypted member)."""
RATIO_FLOOR = 1 << 20
"""Compressed bytes read before the running compression ratio of a tar stream is checked."""

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".ppm", ".tif", ".tiff", ".webp")
ARCHIVE_SUFFIXES = (".zip", ".tar", ".tar.gz", ".tgz")
CHUNK = 1 << 20


def dataset_format(filename: str) -> str:
    """``npy``, ``npz``, ``csv``, ``zip`` or ``tar`` for an upload's file name; 422 otherwise."""
    lower = (filename or "").lower()
    for suffix, kind in ((".npy", "npy"), (".npz", "npz"), (".csv", "csv"), (".zip", "zip"),
                         (".tar.gz", "tar"), (".tgz", "tar"), (".tar", "tar")):
        if lower.endswith(suffix):
            return kind
    raise InvalidInput(
        f"unsupported dataset file {filename!r}: expected .npy, .npz, .csv, .zip, .tar, .tar.gz or .tgz",
        field="file")


def npy_header(f) -> tuple[tuple[int, ...], np.dtype, int]:
    """``(shape, dtype, data_offset)`` of an open ``.npy`` file; 422 for object arrays or bad headers."""
    try:
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            shape, _, dtype = np.lib.format.read_array_header_1_0(f)
        else:
            shape, _, dtype = np.lib.format.read_array_header_2_0(f)
    except (ValueError, OSError) as exc:
        raise InvalidInput(f"not a valid .npy file: {exc}", field="file") from exc
    if dtype.hasobject:
        raise InvalidInput("arrays of Python objects are not accepted (they need pickle)", field="file")
    return tuple(int(d) for d in shape), dtype, f.tell()


def check_npy(path: Path, name: str) -> dict:
    """The ``{"shape", "dtype", "finite"}`` of a ``.npy`` file after checking its size matches its header;
    ``finite`` says whether every value is a finite number (False when NaN or Inf is present)."""
    with open(path, "rb") as f:
        shape, dtype, offset = npy_header(f)
    expected = offset + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if path.stat().st_size != expected:
        raise InvalidInput(f"array {name!r}: file size does not match its header", field="file")
    return {"shape": list(shape), "dtype": dtype.name, "finite": all_finite(path)}


def all_finite(path: Path, chunk_bytes: int = 1 << 24) -> bool:
    """Whether a ``.npy`` array holds no NaN or Inf, read a chunk at a time (integers always do)."""
    arr = np.load(path, mmap_mode="r", allow_pickle=False)
    if arr.dtype.kind not in "fc" or arr.size == 0:
        return True
    flat = arr.reshape(-1)
    step = max(1, chunk_bytes // arr.dtype.itemsize)
    return all(np.isfinite(flat[i:i + step]).all() for i in range(0, flat.size, step))


def _array_name(stem: str) -> str:
    if not ARRAY_NAME.match(stem):
        raise InvalidInput(f"invalid array name {stem!r}: use letters, digits, '_', '.', '-'", field="file")
    return stem


class Budget:
    """The CPU time one upload may spend unpacking (``max_unpack_seconds``), counted on this thread."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.start = time.thread_time()

    def check(self) -> None:
        if time.thread_time() - self.start > self.seconds:
            raise TooLarge(f"unpacking the archive took more than max_unpack_seconds={self.seconds:g} s of CPU",
                           field="file")


def _copy_capped(src, dst, limit: int, what: str, budget: Budget | None = None) -> int:
    """Copies a member of declared size ``limit`` from ``src`` to ``dst`` in chunks; 413 as soon as more
    than ``limit`` bytes come or ``budget`` is spent; 422 when the data is corrupt or is not ``limit``
    bytes long (its header lies)."""
    total = 0
    while True:
        try:
            chunk = src.read(CHUNK)
        except CORRUPT as exc:
            raise InvalidInput(f"{what} is corrupt or its size fields lie: {exc}", field="file") from exc
        if not chunk:
            if total != limit:
                raise InvalidInput(f"{what} holds {total} bytes but its header says {limit}", field="file")
            return total
        total += len(chunk)
        if total > limit:
            raise TooLarge(f"{what} unpacks to more than {limit} bytes", field="file")
        dst.write(chunk)
        if budget is not None:
            budget.check()


def _open_zip(upload: Path, what: str) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(upload)
    except CORRUPT as exc:
        raise InvalidInput(f"not a valid {what} file: {exc}", field="file") from exc


def _ingest_npy(upload: Path, filename: str, arrays_dir: Path) -> dict:
    name = _array_name(Path(filename).name[: -len(".npy")])
    target = arrays_dir / f"{name}.npy"
    shutil.move(upload, target)
    return {name: check_npy(target, name)}


def _check_zip_members(infos: list[zipfile.ZipInfo], settings: Settings, packed_bytes: int) -> None:
    if len(infos) > settings.max_archive_members:
        raise TooLarge(f"archive has {len(infos)} members, more than {settings.max_archive_members}", field="file")
    unpacked = sum(i.file_size for i in infos)
    if unpacked > settings.max_extracted_bytes:
        raise TooLarge(f"archive unpacks to {unpacked} bytes, more than {settings.max_extracted_bytes}", field="file")
    if unpacked > max(packed_bytes, 1) * settings.max_compression_ratio:
        raise TooLarge("archive's compression ratio is too high (zip bomb?)", field="file")


def _ingest_npz(upload: Path, arrays_dir: Path, settings: Settings) -> dict:
    budget = Budget(settings.max_unpack_seconds)
    archive = _open_zip(upload, ".npz")
    with archive:
        infos = archive.infolist()
        _check_zip_members(infos, settings, upload.stat().st_size)
        described = {}
        for info in infos:
            member = PurePosixPath(info.filename)
            if info.is_dir() or len(member.parts) != 1 or member.suffix != ".npy":
                raise InvalidInput(f".npz member {info.filename!r} is not a top-level .npy file", field="file")
            name = _array_name(member.stem)
            target = arrays_dir / f"{name}.npy"
            with _open_member(archive, info) as src, open(target, "wb") as dst:
                _copy_capped(src, dst, info.file_size, f"member {info.filename!r}", budget)
            described[name] = check_npy(target, name)
    return described


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def _ingest_csv(upload: Path, arrays_dir: Path) -> tuple[dict, list[str] | None]:
    with open(upload, newline="") as f:
        reader = csv.reader(f)
        first = next(reader, None)
        if not first:
            raise InvalidInput("the CSV file is empty", field="file")
        header = None if all(_is_number(c) for c in first) else [c.strip() for c in first]
        rows = sum(1 for row in reader if row) + (0 if header else 1)
    if rows == 0:
        raise InvalidInput("the CSV file has a header but no rows", field="file")
    width = len(first)
    target = arrays_dir / "data.npy"
    out = np.lib.format.open_memmap(target, mode="w+", dtype=np.float32, shape=(rows, width))
    with open(upload, newline="") as f:
        reader = csv.reader(f)
        if header:
            next(reader)
        i = 0
        for line_no, row in enumerate(reader, start=2 if header else 1):
            if not row:
                continue
            if len(row) != width:
                raise InvalidInput(f"CSV line {line_no} has {len(row)} columns, expected {width}", field="file")
            try:
                out[i] = [float(c) for c in row]
            except ValueError as exc:
                raise InvalidInput(f"CSV line {line_no}: {exc}", field="file") from exc
            i += 1
    out.flush()
    del out
    return {"data": {"shape": [rows, width], "dtype": "float32", "finite": all_finite(target)}}, header


def _image_member_path(name: str) -> PurePosixPath | None:
    """The member's path when it is an image file; 422 for absolute paths or ``..``."""
    path = PurePosixPath(name)
    if path.is_absolute() or ".." in path.parts or name.startswith("\\") or ":" in path.parts[0]:
        raise InvalidInput(f"archive member {name!r} points outside the dataset", field="file")
    if any(part.startswith(".") or part == "__MACOSX" for part in path.parts):
        return None
    return path if path.suffix.lower() in IMAGE_SUFFIXES else None


def _class_layout(paths: list[PurePosixPath]) -> list[tuple[str, str]]:
    """``(class, file name)`` of each image: ``class/file`` or ``top/class/file``."""
    if not paths:
        raise InvalidInput("the archive holds no image files", field="file")
    depths = {len(p.parts) for p in paths}
    tops = {p.parts[0] for p in paths}
    if depths == {3} and len(tops) == 1:
        paths = [PurePosixPath(*p.parts[1:]) for p in paths]
    elif depths != {2}:
        raise InvalidInput("an image archive must hold class_name/image files (one folder per class)", field="file")
    return [(p.parts[0], p.parts[1]) for p in paths]


def _open_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo):
    try:
        return archive.open(info)
    except CORRUPT as exc:
        raise InvalidInput(f"member {info.filename!r} is corrupt or its header lies: {exc}", field="file") from exc


def _ingest_zip_images(upload: Path, images_dir: Path, settings: Settings) -> dict:
    budget = Budget(settings.max_unpack_seconds)
    archive = _open_zip(upload, "zip")
    with archive:
        infos = [i for i in archive.infolist() if not i.is_dir()]
        _check_zip_members(infos, settings, upload.stat().st_size)
        for info in infos:
            if (info.external_attr >> 16) & 0o170000 == 0o120000:
                raise InvalidInput(f"archive member {info.filename!r} is a symbolic link", field="file")
        chosen = [(i, p) for i in infos if (p := _image_member_path(i.filename)) is not None]
        placed = _class_layout([p for _, p in chosen])
        for (info, _), (cls, fname) in zip(chosen, placed):
            (images_dir / cls).mkdir(parents=True, exist_ok=True)
            with _open_member(archive, info) as src, open(images_dir / cls / fname, "wb") as dst:
                _copy_capped(src, dst, info.file_size, f"member {info.filename!r}", budget)
    return _describe_images(placed)


def _tar_members(archive: tarfile.TarFile, raw, packed: int, settings: Settings, budget: Budget) -> list:
    """The archive's regular-file members, with every cap checked as each header is read."""
    members = []
    total = 0
    for member in archive:
        budget.check()
        if len(members) >= settings.max_archive_members:
            raise TooLarge(f"archive has more than {settings.max_archive_members} members", field="file")
        if member.issym() or member.islnk() or member.isdev() or member.isfifo():
            raise InvalidInput(f"archive member {member.name!r} is a link or device", field="file")
        unpacked = max(archive.offset, raw.tell())
        if unpacked > settings.max_compression_ratio * max(raw.tell(), RATIO_FLOOR):
            raise TooLarge(f"archive's compression ratio is over max_compression_ratio="
                           f"{settings.max_compression_ratio:g} (tar bomb?)", field="file")
        if not member.isfile():
            continue
        total += member.size
        if total > settings.max_extracted_bytes:
            raise TooLarge(f"archive unpacks to more than {settings.max_extracted_bytes} bytes", field="file")
        if total > max(packed, 1) * settings.max_compression_ratio:
            raise TooLarge(f"archive's compression ratio is over max_compression_ratio="
                           f"{settings.max_compression_ratio:g} (tar bomb?)", field="file")
        members.append(member)
    return members


def _ingest_tar_images(upload: Path, images_dir: Path, settings: Settings) -> dict:
    budget = Budget(settings.max_unpack_seconds)
    with open(upload, "rb") as raw:
        try:
            archive = tarfile.open(fileobj=raw, mode="r:*")
        except CORRUPT as exc:
            raise InvalidInput(f"not a valid tar file: {exc}", field="file") from exc
        with archive:
            try:
                members = _tar_members(archive, raw, upload.stat().st_size, settings, budget)
            except CORRUPT as exc:
                raise InvalidInput(f"the tar archive is corrupt: {exc}", field="file") from exc
            chosen = [(m, p) for m in members if (p := _image_member_path(m.name)) is not None]
            placed = _class_layout([p for _, p in chosen])
            for (member, _), (cls, fname) in zip(chosen, placed):
                (images_dir / cls).mkdir(parents=True, exist_ok=True)
                try:
                    src = archive.extractfile(member)
                except CORRUPT as exc:
                    raise InvalidInput(f"member {member.name!r} is corrupt: {exc}", field="file") from exc
                with src, open(images_dir / cls / fname, "wb") as dst:
                    _copy_capped(src, dst, member.size, f"member {member.name!r}", budget)
    return _describe_images(placed)


def _describe_images(placed: list[tuple[str, str]]) -> dict:
    classes = sorted({cls for cls, _ in placed})
    counts = {cls: 0 for cls in classes}
    for cls, _ in placed:
        counts[cls] += 1
    return {"count": len(placed), "classes": classes, "class_counts": counts}


def ingest(store: Store, upload: Path, filename: str, tenant: str, dataset_id: str, settings: Settings) -> dict:
    """Builds dataset ``dataset_id`` from the uploaded file at ``upload``; returns its description.

    The dataset is assembled in a temporary directory and renamed into place, so a failed or
    rejected upload leaves nothing behind.
    """
    kind = dataset_format(filename)
    size = upload.stat().st_size
    work = store.temp_path(".dataset")
    work.unlink()
    arrays_dir = work / layout.DATASET_ARRAYS
    arrays_dir.mkdir(parents=True)
    try:
        meta = {"id": dataset_id, "name": Path(filename).name, "format": kind, "tenant": tenant,
                "bytes": size, "created_at": time.time(), "arrays": {}}
        if kind == "npy":
            meta["arrays"] = _ingest_npy(upload, Path(filename).name, arrays_dir)
        elif kind == "npz":
            meta["arrays"] = _ingest_npz(upload, arrays_dir, settings)
        elif kind == "csv":
            meta["arrays"], meta["columns"] = _ingest_csv(upload, arrays_dir)
        elif kind == "zip":
            meta["images"] = _ingest_zip_images(upload, work / layout.DATASET_IMAGES, settings)
        else:
            meta["images"] = _ingest_tar_images(upload, work / layout.DATASET_IMAGES, settings)
        store.write_json(work / layout.DATASET_META, meta)
        os.replace(work, store.dataset_dir(dataset_id))
        store.publish_dir(store.dataset_dir(dataset_id))
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    finally:
        upload.unlink(missing_ok=True)
    return meta

