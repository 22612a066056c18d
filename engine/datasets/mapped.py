"""``MappedArray``: a ``.npy`` array (alone, or stored uncompressed inside an ``.npz``) with random
access by rows, so arrays larger than memory can be batched.

The array is addressed in place in the file, never loaded. Rows (an index, a slice or an index
array along the first axis of a C-ordered array) are read with positional reads (``os.preadv``,
one per run of consecutive rows) straight into the batch: the GIL is released while the kernel
copies, so a prefetch thread overlaps with training, and no file page is mapped into the process,
so the resident set stays at the batches themselves. Every other key goes through a read-only
``np.memmap`` of the same bytes, whose pages are released from the process after each read
(``madvise(MADV_DONTNEED)``; kernels map file pages in folios of up to 2 MiB, so scattered reads
through a map would otherwise hold far more than they read). Only the path and header travel when
the object is sent to a worker process; each process opens the file itself.
"""
from __future__ import annotations

import mmap
import os
import threading

import numpy as np

_MAX_READ = 1 << 28
_OPEN_LOCK = threading.Lock()


def read_npy_header(f):
    """``(shape, fortran_order, dtype)`` of the ``.npy`` header at ``f``'s position (left after it)."""
    version = np.lib.format.read_magic(f)
    if version == (1, 0):
        shape, fortran_order, dtype = np.lib.format.read_array_header_1_0(f)
    elif version in ((2, 0), (3, 0)):
        shape, fortran_order, dtype = np.lib.format.read_array_header_2_0(f)
    else:
        raise ValueError(f"Unsupported .npy format version {version}")
    if dtype.hasobject:
        raise ValueError("Arrays of Python objects cannot be read: object dtypes need pickle, which is never used")
    return shape, fortran_order, dtype


class MappedArray:
    """Read-only rows of the array whose ``.npy`` header starts at ``header_offset`` in ``path``.

    ``shape``, ``dtype``, ``ndim`` and ``len()`` as an ndarray's; ``a[key]`` returns an in-memory
    copy (``a[rows]``, ``a[lo:hi]``, ``a[i]``, ``a[rows, cols]``, any NumPy key).
    """

    def __init__(self, path, header_offset=0):
        self.path = os.fspath(path)
        self.header_offset = int(header_offset)
        with open(self.path, "rb") as f:
            f.seek(self.header_offset)
            shape, self.fortran_order, self.dtype = read_npy_header(f)
            self.data_offset = f.tell()
        self.shape = tuple(shape)
        self._map = None
        self._fd = None

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) * self.dtype.itemsize

    @property
    def row_bytes(self) -> int:
        return int(np.prod(self.shape[1:], dtype=np.int64)) * self.dtype.itemsize

    def __len__(self) -> int:
        if not self.shape:
            raise TypeError("len() of a 0-d array")
        return self.shape[0]

    def __repr__(self) -> str:
        return f"MappedArray({self.path!r}, shape={self.shape}, dtype={self.dtype})"

    def _array(self):
        if self._map is None:
            if self.nbytes == 0:
                self._map = np.empty(self.shape, dtype=self.dtype)
            else:
                self._map = np.memmap(self.path, dtype=self.dtype, mode="r", offset=self.data_offset,
                                      shape=self.shape, order="F" if self.fortran_order else "C")
        return self._map

    def __getitem__(self, key):
        rows_key, rest = (key[0], key[1:]) if isinstance(key, tuple) and key else (key, ())
        if self.ndim and not self.fortran_order and self.nbytes and _is_row_key(rows_key):
            rows = np.arange(self.shape[0])[rows_key]
            out = self._read_rows(np.atleast_1d(rows))
            if np.ndim(rows) == 0:
                out = out[0]
                return np.array(out[tuple(rest)]) if rest else out
            return np.array(out[(slice(None),) + tuple(rest)]) if rest else out
        out = np.array(self._array()[key])
        self.release()
        return out

    def _read_rows(self, rows):
        """``rows`` (1-D ints) copied into a new array, one positional read per run of consecutive rows."""
        out = np.empty((len(rows),) + self.shape[1:], dtype=self.dtype)
        if not len(rows):
            return out
        if self._fd is None:
            with _OPEN_LOCK:
                if self._fd is None:
                    self._fd = os.open(self.path, os.O_RDONLY)
        buffer = memoryview(out.reshape(-1).view(np.uint8))
        row_bytes = self.row_bytes
        starts = np.concatenate([[0], np.flatnonzero(np.diff(rows) != 1) + 1, [len(rows)]])
        for lo, hi in zip(starts[:-1].tolist(), starts[1:].tolist()):
            position = self.data_offset + int(rows[lo]) * row_bytes
            view = buffer[lo * row_bytes:hi * row_bytes]
            while len(view):
                done = os.preadv(self._fd, [view[:_MAX_READ]], position)
                if done <= 0:
                    raise OSError(f"{self.path}: the file ended before row {int(rows[lo])} of {self.shape[0]}")
                view, position = view[done:], position + done
        return out

    def release(self):
        """Drops the map's resident pages from this process (they stay in the page cache)."""
        raw = getattr(self._map, "_mmap", None)
        if raw is not None and hasattr(mmap, "MADV_DONTNEED"):
            raw.madvise(mmap.MADV_DONTNEED)

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_map"] = None
        state["_fd"] = None
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)

    def close(self):
        """Closes the file and drops the map (both reopen on the next read)."""
        if getattr(self, "_fd", None) is not None:
            os.close(self._fd)
            self._fd = None
        self._map = None

    def __del__(self):
        self.close()


def _is_row_key(key) -> bool:
    """An int, a slice or a 1-D integer array / list: a selection of whole rows."""
    if isinstance(key, (int, np.integer, slice)) and not isinstance(key, bool):
        return True
    if isinstance(key, (list, np.ndarray)):
        array = np.asarray(key)
        return array.ndim == 1 and (array.dtype.kind in "iu" or array.size == 0)
    return False


def open_npy(path) -> MappedArray:
    """The array of a ``.npy`` file, addressed in place (never loaded whole)."""
    return MappedArray(path)
