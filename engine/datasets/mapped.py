"""``MappedArray``: a ``.npy`` array (alone, or stored uncompressed inside an ``.npz``) read by rows
from a memory map, so arrays larger than memory can be batched.

Rows are copied out of the map and the map's pages are then released from the process
(``madvise(MADV_DONTNEED)``; the data stays in the page cache), so reading a whole file batch by
batch keeps the resident set at about one batch. Only the path and header travel when the object
is sent to a worker process; each process opens its own map.
"""
from __future__ import annotations

import mmap
import os

import numpy as np


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

    ``shape``, ``dtype``, ``ndim`` and ``len()`` as an ndarray's; ``a[key]`` (int, slice or index
    array along the first axis, or any NumPy key) returns an in-memory copy.
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

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) * self.dtype.itemsize

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
        array = self._array()
        out = np.array(array[key])
        self.release()
        return out

    def release(self):
        """Drops the map's resident pages from this process (they stay in the page cache)."""
        raw = getattr(self._map, "_mmap", None)
        if raw is not None and hasattr(mmap, "MADV_DONTNEED"):
            raw.madvise(mmap.MADV_DONTNEED)

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_map"] = None
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)


def open_npy(path) -> MappedArray:
    """The array of a ``.npy`` file, memory-mapped."""
    return MappedArray(path)
