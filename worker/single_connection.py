"""Redis commands on one asyncio connection, one at a time: the API's hot reads.

redis-py's asyncio client wraps every command in a pool checkout, a retry loop and observability
hooks, which cost a job-status read more CPU than its round trip to Redis. :class:`SingleConnection`
sends each command on one connection of its own client's pool and reads the reply under a lock. A
command that fails or is interrupted drops the connection, and the next one connects again; errors
are redis-py's own (``redis.ConnectionError``, ``redis.TimeoutError``, ...).
"""
from __future__ import annotations

import asyncio
from typing import Any

import redis.asyncio as aredis


class SingleConnection:
    """One connection to the Redis at ``url`` (``options`` as for ``redis.asyncio.Redis.from_url``)."""

    def __init__(self, url: str, **options: Any):
        self.client = aredis.Redis.from_url(url, **options)
        self.lock = asyncio.Lock()
        self.conn = None

    async def execute(self, *args: Any) -> Any:
        """The raw reply to one command (no response callbacks: ``HGETALL`` is a flat list in RESP2)."""
        async with self.lock:
            if self.conn is None:
                self.conn = await self.client.connection_pool.get_connection()
            try:
                await self.conn.send_packed_command(self.conn.pack_command(*args), check_health=False)
                return await self.conn.read_response()
            except BaseException:
                await self.conn.disconnect(nowait=True)
                raise

    async def aclose(self) -> None:
        if self.conn is not None:
            await self.conn.disconnect(nowait=True)
        await self.client.aclose()
