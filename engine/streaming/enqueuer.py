"""Enqueuers: fetch the batches of one epoch ahead of the training loop, in a bounded queue.

An enqueuer is given the tasks of one epoch (batch indices of a ``Sequence``, or one token per
batch to draw from an iterator) and yields the batches. At most ``max_queue_size`` batches are
requested ahead of the one being consumed, so memory stays bounded however large the dataset.

- :class:`InlineEnqueuer` (``workers=0``): the training thread fetches each batch itself.
- :class:`ThreadEnqueuer` (``workers>=1``, the default): a pool of threads. A ``Sequence`` is
  read by index, so batches come back in task order with every batch exactly once. An iterator
  or generator is shared: the threads call ``next()`` on it one at a time (generators are not
  thread-safe), so the stream keeps its order and extra threads only help when the generator
  releases the GIL (NumPy, file reads, sleeps).
- :class:`ProcessEnqueuer` (``use_multiprocessing=True``): ``workers`` processes started with
  *spawn* (never fork), each seeded differently (``seed + worker_id``) so random augmentation
  differs between workers. Each process receives a copy of the source: a ``Sequence`` is sent
  again at every epoch start (after its ``on_epoch_end``); an iterator copy is drawn from
  independently by each process, so, as Keras documents, an iterator that is not random
  yields duplicated data under several worker processes, in arrival order. Python generator
  objects cannot be copied to another process at all; use a ``Sequence`` there.

Every ``run`` drains its in-flight work before returning (normally, on ``break`` and on errors),
so no batch is being fetched between epochs; ``close`` stops and joins every thread and process.
A failure in a worker is raised in the training thread with the worker's traceback.
"""
from __future__ import annotations

import collections
import multiprocessing
import threading
import traceback
from concurrent import futures
from multiprocessing import connection as mp_connection

_EXHAUSTED = "exhausted"
_END = object()
_JOIN_TIMEOUT_S = 10.0


class RemoteTraceback(Exception):
    """The traceback of an error raised in a worker process, attached as the ``__cause__``."""

    def __init__(self, text: str):
        super().__init__(text)
        self.text = text

    def __str__(self) -> str:
        return "\n\n" + self.text


class InlineEnqueuer:
    """``workers=0``: batches are fetched on the calling thread, one at a time."""

    def __init__(self, source, is_sequence: bool):
        self.source, self.is_sequence = source, is_sequence

    def run(self, tasks):
        for task in tasks:
            if self.is_sequence:
                yield self.source[task]
                continue
            try:
                batch = next(self.source)
            except StopIteration:
                return
            yield batch

    def install(self):
        """The source is the caller's own object: nothing to send."""

    def close(self):
        """Nothing runs in the background."""


class ThreadEnqueuer:
    """``workers`` threads fetch up to ``max_queue_size`` batches ahead, returned in stream order."""

    def __init__(self, source, is_sequence: bool, workers: int, max_queue_size: int):
        self.source, self.is_sequence = source, is_sequence
        self.max_queue_size = max_queue_size
        self._pool = futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="fitq-enqueuer")
        self._lock = threading.Lock()
        self._drawn = 0

    def _fetch(self, position, task):
        """``(position in the stream, batch)``; an iterator's position is taken under the lock."""
        if self.is_sequence:
            return position, self.source[task]
        with self._lock:
            position = self._drawn
            self._drawn += 1
            try:
                return position, next(self.source)
            except StopIteration:
                return position, _END

    def run(self, tasks):
        tasks = iter(tasks)
        pending = collections.deque()
        ready = {}
        self._drawn = 0
        submitted = 0
        wanted = 0

        def submit():
            nonlocal submitted
            task = next(tasks, _END)
            if task is _END:
                return
            pending.append(self._pool.submit(self._fetch, submitted, task))
            submitted += 1

        try:
            for _ in range(self.max_queue_size):
                submit()
            while pending:
                position, batch = pending.popleft().result()
                ready[position] = batch
                while wanted in ready:
                    batch = ready.pop(wanted)
                    wanted += 1
                    if batch is _END:
                        return
                    submit()
                    yield batch
        finally:
            for future in pending:
                future.cancel()
            futures.wait(pending)

    def install(self):
        """Threads share the caller's object: nothing to send."""

    def close(self):
        self._pool.shutdown(wait=True, cancel_futures=True)


def _error_message(position, exc):
    """An error as a message a worker process can send: the exception and its formatted traceback."""
    return ("error", position, (exc, "".join(traceback.format_exception(exc))))


def _send_error(conn, position, exc):
    try:
        conn.send(_error_message(position, exc))
    except Exception:  # noqa: BLE001 - the exception itself could not be sent; send its text
        text = f"{type(exc).__module__}.{type(exc).__qualname__}: {exc}"
        conn.send(("error", position, (RuntimeError(text), "".join(traceback.format_exception(exc)))))


def _process_main(conn, seed: int):
    """A worker process: receive the source, then answer ``item`` / ``next`` requests until ``stop``."""
    from engine import random as engine_random  # noqa: PLC0415 - imported in the spawned process

    engine_random.set_random_seed(seed)
    source = None
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError, KeyboardInterrupt):
            return
        except Exception as exc:  # noqa: BLE001 - the source could not be rebuilt in this process
            _send_error(conn, None, exc)
            continue
        kind = message[0]
        if kind == "stop":
            return
        if kind == "install":
            source = message[1]
            continue
        position = message[1]
        try:
            if kind == "item":
                reply = ("ok", position, source[message[2]])
            else:
                try:
                    reply = ("ok", position, next(source))
                except StopIteration:
                    reply = (_EXHAUSTED, position, None)
        except KeyboardInterrupt:
            return
        except Exception as exc:  # noqa: BLE001 - every failure goes back to the training process
            _send_error(conn, position, exc)
            continue
        try:
            conn.send(reply)
        except Exception as exc:  # noqa: BLE001 - e.g. a batch holding objects that cannot be sent
            _send_error(conn, position, ValueError(f"batch {position} could not be sent back from the worker "
                                                   f"process: {exc}"))


class _Worker:
    def __init__(self, process, conn):
        self.process, self.conn = process, conn
        self.outstanding = 0
        self.exhausted = False


class ProcessEnqueuer:
    """``workers`` spawned processes, each holding a copy of the source and seeded ``seed + worker_id``."""

    def __init__(self, source, is_sequence: bool, workers: int, max_queue_size: int, seed: int):
        self.source, self.is_sequence = source, is_sequence
        self.max_queue_size = max_queue_size
        self._workers: list[_Worker] = []
        context = multiprocessing.get_context("spawn")
        try:
            for worker_id in range(workers):
                parent, child = context.Pipe()
                process = context.Process(target=_process_main, args=(child, seed + worker_id), daemon=True,
                                          name=f"fitq-enqueuer-{worker_id}")
                process.start()
                child.close()
                self._workers.append(_Worker(process, parent))
            self.install()
        except BaseException:
            self.close()
            raise

    def install(self):
        """Sends the (current state of the) source to every worker process."""
        for worker in self._workers:
            worker.exhausted = False
            try:
                worker.conn.send(("install", self.source))
            except Exception as exc:  # noqa: BLE001 - reported as the user's data problem
                raise ValueError(
                    f"use_multiprocessing=True sends a copy of the data source to each worker process, but "
                    f"{type(self.source).__name__} could not be sent ({type(exc).__name__}: {exc}). Define it at "
                    f"module level without open handles or lambdas, or use threads (use_multiprocessing=False)"
                ) from exc

    def _receive(self, worker):
        try:
            message = worker.conn.recv()
        except (EOFError, OSError):
            raise RuntimeError(
                f"Worker process {worker.process.name} exited unexpectedly (exit code {worker.process.exitcode})"
            ) from None
        except Exception as exc:  # noqa: BLE001 - e.g. an exception class that cannot be rebuilt here
            raise RuntimeError(f"A worker process sent back a result that could not be read: "
                               f"{type(exc).__name__}: {exc}") from exc
        worker.outstanding -= 1 if message[1] is not None else 0
        return message

    def _wait(self):
        """Workers with a reply ready; raises when one with outstanding work has died."""
        busy = [w for w in self._workers if w.outstanding > 0 or w.conn.poll()]
        ready = mp_connection.wait([w.conn for w in busy], timeout=1.0)
        if not ready:
            for worker in busy:
                if not worker.process.is_alive():
                    raise RuntimeError(f"Worker process {worker.process.name} exited unexpectedly "
                                       f"(exit code {worker.process.exitcode})")
        return [w for w in busy if w.conn in ready]

    def run(self, tasks):
        tasks = iter(tasks)
        ready = {}
        sent = 0
        wanted = 0

        def fill():
            nonlocal sent
            while sum(w.outstanding for w in self._workers) < self.max_queue_size:
                live = [w for w in self._workers if not w.exhausted]
                task = next(tasks, _END) if live else _END
                if task is _END:
                    return
                worker = min(live, key=lambda w: w.outstanding)
                request = ("item", sent, task) if self.is_sequence else ("next", sent)
                worker.conn.send(request)
                worker.outstanding += 1
                sent += 1

        try:
            fill()
            while any(w.outstanding for w in self._workers):
                for worker in self._wait():
                    kind, position, payload = self._receive(worker)
                    if kind == "error":
                        exc, text = payload
                        raise exc from RemoteTraceback(text)
                    if kind == _EXHAUSTED:
                        worker.exhausted = True
                        continue
                    if not self.is_sequence:
                        position = wanted + len(ready)
                    ready[position] = payload
                fill()
                while wanted in ready:
                    batch = ready.pop(wanted)
                    wanted += 1
                    yield batch
                    fill()
        finally:
            self._drain()

    def _drain(self):
        """Reads and drops the replies still owed, so every worker is idle."""
        for worker in self._workers:
            while worker.outstanding > 0 and worker.process.is_alive():
                try:
                    if worker.conn.poll(1.0):
                        self._receive(worker)
                except RuntimeError:
                    break
            worker.outstanding = 0

    def close(self):
        """Stops every worker process and waits for it to exit (terminating one that does not)."""
        for worker in self._workers:
            try:
                worker.conn.send(("stop",))
            except OSError:
                pass
        for worker in self._workers:
            worker.process.join(_JOIN_TIMEOUT_S)
            if worker.process.is_alive():
                worker.process.terminate()
                worker.process.join(_JOIN_TIMEOUT_S)
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join()
            worker.conn.close()
            worker.process.close()
        self._workers = []


def make_enqueuer(source, is_sequence: bool, workers: int, use_multiprocessing: bool, max_queue_size: int,
                  seed: int):
    """The enqueuer for ``workers`` / ``use_multiprocessing`` (Keras's meanings of both)."""
    if workers == 0:
        return InlineEnqueuer(source, is_sequence)
    if use_multiprocessing:
        return ProcessEnqueuer(source, is_sequence, workers, max_queue_size, seed)
    return ThreadEnqueuer(source, is_sequence, workers, max_queue_size)
