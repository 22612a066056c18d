"""Streams a multipart upload's ``file`` field to a temporary file in the store, with a byte cap.

Starlette's own form parsing spools the whole file before a handler sees it; this reads the request
body chunk by chunk, feeds python-multipart's push parser, writes the file part straight to disk and
stops with a 413 as soon as the cap is passed (and with a 422 as soon as the file name shows a format
fitq does not read).
"""
from __future__ import annotations

from pathlib import Path

from python_multipart.exceptions import ParseError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import Request

from worker.errors import InvalidInput, TooLarge
from worker.ingest import dataset_format
from worker.store import Store


class _FilePart:
    """Collects headers of the current part and writes the ``file`` part's bytes to ``target``."""

    def __init__(self, target: Path, limit: int, check_name=dataset_format):
        self.target = target
        self.limit = limit
        self.check_name = check_name
        self.filename: str | None = None
        self.size = 0
        self._out = None
        self._header_field = b""
        self._header_value = b""
        self._headers: dict[bytes, bytes] = {}
        self._in_file = False

    def callbacks(self) -> dict:
        return {
            "on_part_begin": self._part_begin,
            "on_header_field": lambda d, s, e: setattr(self, "_header_field", self._header_field + d[s:e]),
            "on_header_value": lambda d, s, e: setattr(self, "_header_value", self._header_value + d[s:e]),
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_part_data": self._data,
            "on_part_end": self._part_end,
        }

    def _part_begin(self):
        self._headers = {}
        self._in_file = False

    def _header_end(self):
        self._headers[self._header_field.lower()] = self._header_value
        self._header_field = self._header_value = b""

    def _headers_finished(self):
        _, options = parse_options_header(self._headers.get(b"content-disposition", b""))
        if options.get(b"name") == b"file" and self.filename is None:
            self.filename = (options.get(b"filename") or b"").decode("utf-8", "replace")
            self.check_name(self.filename)
            self._in_file = True
            self._out = open(self.target, "wb")

    def _data(self, data: bytes, start: int, end: int):
        if not self._in_file:
            return
        self.size += end - start
        if self.size > self.limit:
            raise TooLarge(f"the upload is larger than the limit of {self.limit} bytes", field="file")
        self._out.write(data[start:end])

    def _part_end(self):
        if self._in_file and self._out is not None:
            self._out.close()
            self._in_file = False

    def close(self):
        if self._out is not None and not self._out.closed:
            self._out.close()


async def receive_file(request: Request, store: Store, limit: int, check_name=dataset_format) -> tuple[Path, str]:
    """Streams the ``file`` field of a multipart request to the store's temp area: ``(path, filename)``.

    ``check_name(filename)`` raises for a file name whose format the endpoint does not read.
    """
    content_type, options = parse_options_header(request.headers.get("content-type", ""))
    if content_type != b"multipart/form-data" or b"boundary" not in options:
        raise InvalidInput("send the file as multipart/form-data with a 'file' field", field="file")
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit + 64 * 1024:
        raise TooLarge(f"the upload ({declared} bytes) is larger than the limit of {limit} bytes", field="file")
    target = store.temp_path(".upload")
    part = _FilePart(target, limit, check_name)
    parser = MultipartParser(options[b"boundary"], part.callbacks())
    try:
        async for chunk in request.stream():
            parser.write(chunk)
        parser.finalize()
    except ParseError as exc:
        part.close()
        target.unlink(missing_ok=True)
        raise InvalidInput(f"malformed multipart body: {exc}", field="file") from exc
    except BaseException:
        part.close()
        target.unlink(missing_ok=True)
        raise
    part.close()
    if part.filename is None:
        target.unlink(missing_ok=True)
        raise InvalidInput("the form has no 'file' field", field="file")
    return target, part.filename
