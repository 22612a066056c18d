"""Keeps ``fitq serve``'s child processes alive: a thread polls them and restarts the dead, with backoff.

Each :class:`Child` knows how to start its process and whether it is alive. A child that dies is
started again after a delay that doubles on each death in quick succession (from ``backoff`` up to
``backoff_max``) and falls back to ``backoff`` once the child has lived ``STABLE`` seconds; every death
and restart is logged.
"""
from __future__ import annotations

import logging
import subprocess
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

log = logging.getLogger("fitq.supervisor")

STABLE = 60.0
"""A child that lived this long counts as healthy again: its next restart waits only ``backoff``."""


@dataclass
class Child:
    """One supervised process: ``start()`` (re)starts it and returns its ``Popen``."""

    name: str
    start: Callable[[], subprocess.Popen]
    process: subprocess.Popen | None = None
    started_at: float = 0.0
    restarts: int = 0
    delay: float = 0.0
    restart_at: float | None = field(default=None, repr=False)

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None


class Supervisor:
    """Starts children, restarts them when they die; :meth:`stop` ends the watching (not the children)."""

    def __init__(self, backoff: float = 1.0, backoff_max: float = 30.0, poll: float = 0.2):
        self.backoff = backoff
        self.backoff_max = backoff_max
        self.poll = poll
        self.children: list[Child] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="supervisor", daemon=True)

    def add(self, name: str, start: Callable[[], subprocess.Popen]) -> Child:
        """Starts a child now and supervises it from then on."""
        child = Child(name, start)
        self._launch(child)
        with self._lock:
            self.children.append(child)
        return child

    def run_in_background(self) -> "Supervisor":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def _launch(self, child: Child) -> None:
        child.process = child.start()
        child.started_at = time.monotonic()
        child.restart_at = None

    def check(self) -> None:
        """One round: notes deaths, schedules and performs due restarts."""
        now = time.monotonic()
        with self._lock:
            children = list(self.children)
        for child in children:
            if child.alive():
                continue
            if child.restart_at is None:
                lived = now - child.started_at
                child.delay = self.backoff if lived >= STABLE or not child.delay else min(child.delay * 2,
                                                                                           self.backoff_max)
                child.restart_at = now + child.delay
                code = child.process.returncode if child.process is not None else None
                log.warning("%s (pid %s) exited with %s after %.1f s; restarting in %.1f s", child.name,
                            child.process.pid if child.process else None, code, lived, child.delay)
            elif now >= child.restart_at:
                try:
                    self._launch(child)
                except Exception:  # a failed start is one more death: back off and try again
                    log.exception("%s did not start", child.name)
                    child.started_at = now
                    child.process = None
                    child.restart_at = None
                    continue
                child.restarts += 1
                log.warning("%s restarted (pid %d, restart %d)", child.name, child.process.pid, child.restarts)

    def _run(self) -> None:
        while not self._stop.wait(self.poll):
            try:
                self.check()
            except Exception:
                log.exception("supervisor round failed")
