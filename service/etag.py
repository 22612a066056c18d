"""``ETag`` / ``If-None-Match`` for JSON reads: a dashboard that polls gets 304 and no body when nothing changed.

A pure ASGI middleware: for ``GET`` and ``HEAD`` requests whose answer is a 200 ``application/json``
body, it hashes the body into a strong ``ETag`` and answers ``304 Not Modified`` when the request's
``If-None-Match`` names it (or is ``*``). Streams (Server-Sent Events) and files pass through untouched.
"""
from __future__ import annotations

import hashlib

from starlette.types import ASGIApp, Message, Receive, Scope, Send


def etag_of(body: bytes) -> str:
    """The strong entity tag of a response body."""
    return '"' + hashlib.blake2b(body, digest_size=16).hexdigest() + '"'


def matches(if_none_match: str | None, etag: str) -> bool:
    """Whether an ``If-None-Match`` header value names ``etag`` (weak comparison, as RFC 9110 says)."""
    if not if_none_match:
        return False
    if if_none_match.strip() == "*":
        return True
    bare = etag.removeprefix("W/")
    return any(tag.strip().removeprefix("W/") == bare for tag in if_none_match.split(","))


def header(raw: list[tuple[bytes, bytes]], name: bytes) -> bytes | None:
    """The first value of header ``name`` (lower case) in ASGI's raw header list."""
    for key, value in raw:
        if key.lower() == name:
            return value
    return None


class ETagMiddleware:
    """Adds ``ETag`` to JSON answers of ``GET`` / ``HEAD`` and turns matching conditional reads into 304."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("GET", "HEAD"):
            await self.app(scope, receive, send)
            return
        start: Message | None = None
        chunks: list[bytes] = []

        async def buffered(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                raw = message["headers"]
                json_ok = (message["status"] == 200 and header(raw, b"etag") is None
                           and (header(raw, b"content-type") or b"").startswith(b"application/json"))
                if not json_ok:
                    start = None
                    await send(message)
                    return
                start = message
                return
            if message["type"] != "http.response.body" or start is None:
                await send(message)
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body", False):
                return
            body = b"".join(chunks)
            tag = etag_of(body)
            headers = [*start["headers"], (b"etag", tag.encode())]
            if header(headers, b"cache-control") is None:
                headers.append((b"cache-control", b"no-cache"))
            if_none_match = header(scope["headers"], b"if-none-match")
            if matches(if_none_match and if_none_match.decode("latin-1"), tag):
                headers = [(k, v) for k, v in headers if k.lower() not in (b"content-length", b"content-type")]
                await send({"type": "http.response.start", "status": 304, "headers": headers})
                await send({"type": "http.response.body", "body": b""})
                return
            await send({**start, "headers": headers})
            await send({"type": "http.response.body", "body": body})

        await self.app(scope, receive, buffered)
