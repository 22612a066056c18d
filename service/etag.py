"""``ETag`` / ``If-None-Match`` for JSON reads: a dashboard that polls gets 304 and no body when nothing changed.

A pure ASGI middleware: for ``GET`` and ``HEAD`` requests whose answer is a 200 ``application/json``
body, it hashes the body into a strong ``ETag`` and answers ``304 Not Modified`` when the request's
``If-None-Match`` names it (or is ``*``). Streams (Server-Sent Events) and files pass through untouched.
"""
from __future__ import annotations

import hashlib

from starlette.datastructures import Headers, MutableHeaders
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


class ETagMiddleware:
    """Adds ``ETag`` to JSON answers of ``GET`` / ``HEAD`` and turns matching conditional reads into 304."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("GET", "HEAD"):
            await self.app(scope, receive, send)
            return
        if_none_match = Headers(scope=scope).get("if-none-match")
        start: Message | None = None
        chunks: list[bytes] = []

        async def buffered(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                headers = Headers(raw=message["headers"])
                json_ok = (message["status"] == 200 and "etag" not in headers
                           and headers.get("content-type", "").startswith("application/json"))
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
            headers = MutableHeaders(raw=list(start["headers"]))
            headers["etag"] = tag
            headers.setdefault("cache-control", "no-cache")
            if matches(if_none_match, tag):
                for name in ("content-length", "content-type"):
                    if name in headers:
                        del headers[name]
                await send({"type": "http.response.start", "status": 304, "headers": headers.raw})
                await send({"type": "http.response.body", "body": b""})
                return
            await send({**start, "headers": headers.raw})
            await send({"type": "http.response.body", "body": body})

        await self.app(scope, receive, buffered)
