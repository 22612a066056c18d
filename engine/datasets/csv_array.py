"""``CsvArray``: numeric columns of a CSV file as a ``(rows, columns)`` array-like, read by row.

Opening scans the file once in chunks (``chunk_size`` bytes at a time) and keeps only where each
row starts and ends (16 bytes per row); ``a[rows]`` reads just those rows' bytes and parses them
with ``np.loadtxt``. The file is never read whole into memory.
"""
from __future__ import annotations

import io
import os
import threading

import numpy as np

_OPEN_LOCK = threading.Lock()


def _is_number(field: str) -> bool:
    try:
        float(field)
    except ValueError:
        return False
    return True


class CsvArray:
    """Rows of a CSV file's numeric ``columns`` (names from the header, or indices; all by default)."""

    def __init__(self, path, columns=None, delimiter=",", header="infer", dtype="float32", chunk_size=1 << 20):
        self.path = os.fspath(path)
        self.delimiter = delimiter
        self.dtype = np.dtype(dtype)
        self._fd = None
        self._starts, self._ends = self._scan(int(chunk_size))
        if len(self._starts) == 0:
            raise ValueError(f"{self.path}: the CSV file has no rows")
        first = self._read_text(self._starts[:1], self._ends[:1]).strip().split(delimiter)
        first = [f.strip().strip('"') for f in first]
        has_header = (not all(_is_number(f) for f in first)) if header == "infer" else bool(header)
        self.column_names = first if has_header else [str(i) for i in range(len(first))]
        if has_header:
            self._starts, self._ends = self._starts[1:], self._ends[1:]
        self.columns = self._resolve(columns)
        self.shape = (len(self._starts), len(self.columns))

    def _scan(self, chunk_size):
        """Start and end byte offsets of every non-blank line (ends exclude ``\r\n``), chunk by chunk."""
        newlines, carriage = [], []
        size = os.path.getsize(self.path)
        with open(self.path, "rb") as f:
            base, last = 0, 0
            while True:
                chunk = f.read(chunk_size)
                if not chunk:
                    break
                data = np.frombuffer(chunk, dtype=np.uint8)
                found = np.flatnonzero(data == 10)
                before = np.where(found > 0, data[np.maximum(found - 1, 0)], last)
                newlines.append(found + base)
                carriage.append(before == 13)
                base, last = base + len(chunk), data[-1]
        newline = np.concatenate(newlines + [np.array([size])]).astype(np.int64)
        ends = newline - np.concatenate(carriage + [np.array([False])])
        starts = np.concatenate([[0], newline[:-1] + 1]).astype(np.int64)
        keep = ends > starts
        return starts[keep], ends[keep]

    def _resolve(self, columns):
        if columns is None:
            return list(range(len(self.column_names)))
        if isinstance(columns, (str, int, np.integer)):
            columns = [columns]
        resolved = []
        for c in columns:
            if isinstance(c, str):
                if c not in self.column_names:
                    raise ValueError(f"{self.path}: no column {c!r}; the columns are {self.column_names}")
                resolved.append(self.column_names.index(c))
            elif 0 <= int(c) < len(self.column_names):
                resolved.append(int(c))
            else:
                raise ValueError(f"{self.path}: column index {c} is out of range for {len(self.column_names)} columns")
        return resolved

    @property
    def ndim(self) -> int:
        return 2

    def __len__(self) -> int:
        return self.shape[0]

    def __repr__(self) -> str:
        return f"CsvArray({self.path!r}, shape={self.shape}, columns={[self.column_names[c] for c in self.columns]})"

    def _read_text(self, starts, ends) -> str:
        if self._fd is None:
            with _OPEN_LOCK:
                if self._fd is None:
                    self._fd = os.open(self.path, os.O_RDONLY)
        parts = [os.pread(self._fd, int(e - s), int(s)) for s, e in zip(starts, ends)]
        return b"\n".join(parts).decode("utf-8")

    def __getitem__(self, key):
        rows = np.arange(self.shape[0])[key]
        scalar = np.ndim(rows) == 0
        rows = np.atleast_1d(rows)
        unique, inverse = np.unique(rows, return_inverse=True)
        text = self._read_text(self._starts[unique], self._ends[unique]) if len(unique) else ""
        try:
            values = np.loadtxt(io.StringIO(text), delimiter=self.delimiter, usecols=self.columns, dtype=self.dtype,
                                ndmin=2, quotechar='"')
        except ValueError as exc:
            raise ValueError(f"{self.path}: only numeric columns can be read as arrays ({exc})") from None
        values = values.reshape(len(unique), len(self.columns))[inverse]
        return values[0] if scalar else values

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_fd"] = None
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)

    def close(self):
        if getattr(self, "_fd", None) is not None:
            os.close(self._fd)
            self._fd = None

    def __del__(self):
        self.close()
