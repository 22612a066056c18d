"""Streaming training: bounded memory from a large .npy, and what prefetch workers buy.

    python bench/bench_streaming.py [--size-gib 2] [--features 1024] [--batch-size 256] [--json FILE]

(a) Writes a ``--size-gib`` float32 ``.npy`` (rows of ``--features``) and its targets into a
    temporary directory (chunk by chunk, never in memory; deleted afterwards), then trains a Dense
    ``features-512-256-1`` regressor (relu, SGD, mse) for one epoch over the whole file through
    ``ArraySequence(open_npy(...), shuffle=True)`` (rows read in place, a new random row order,
    ``workers=1`` prefetch thread), sampling the process's RSS with psutil every 5 ms; target:
    peak RSS under 500 MiB. Throughput: interleaved rounds of the same number of steps, best of
    ``--rounds`` each: the file streamed with ``shuffle="batch"`` (batch order shuffled, each batch
    one contiguous read: Keras's shuffle for on-disk arrays), the file streamed with random rows,
    and the reference: the same model fit on an in-memory slice (``fit(x, y, shuffle=True)``);
    target: streamed (batch shuffle) steps/s at least 0.9x the in-memory steps/s.
(b) Measures the model's training step time ``t`` on one batch, then fits from a generator that
    takes ``t`` per batch with ``workers=0`` (generator on the training thread) and ``workers=2``
    (prefetch threads). Target, for a generator that waits ``t`` per batch (I/O-bound, like
    reading from storage): ``workers=2`` gives at least 1.7x the steps/s of ``workers=0``. Also
    shown: a generator computing for ``t`` (NumPy matrix products, which release the GIL), whose
    speedup needs a core the training does not use.

BLAS runs one thread (``OPENBLAS_NUM_THREADS`` etc. default to 1 here, for the reference too) so
that the training and the prefetch threads each have a core on a 2-core machine.
Steps/s are measured between the 10th and the last batch of a fit (callbacks stamp each batch).
Every ratio is against the reference measured in the same run.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import tempfile
import threading
import time
from pathlib import Path

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402
import psutil  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine import Input, Sequential, callbacks, layers  # noqa: E402
from engine.datasets import ArraySequence, open_npy  # noqa: E402

MIB = 2**20
WARMUP_STEPS = 10


class StepClock(callbacks.Callback):
    """Steps per second between the WARMUP_STEPS-th and the last training batch."""

    def __init__(self):
        super().__init__()
        self.stamps = []

    def on_train_batch_end(self, batch, logs=None):
        self.stamps.append(time.perf_counter())

    def steps_per_second(self) -> float:
        stamps = self.stamps[WARMUP_STEPS - 1:]
        return (len(stamps) - 1) / (stamps[-1] - stamps[0])


class RssSampler:
    """Peak resident set size of this process, sampled in a thread."""

    def __init__(self, interval=0.005):
        self.interval = interval
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)
        self._process = psutil.Process()

    def _run(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, self._process.memory_info().rss)
            self._stop.wait(self.interval)

    def __enter__(self):
        self.peak = self._process.memory_info().rss
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._process.memory_info().rss)


HIDDEN = (512, 256)


def model(features, seed=0):
    net = Sequential([Input((features,))] + [layers.Dense(units, activation="relu") for units in HIDDEN]
                     + [layers.Dense(1)])
    rng = np.random.default_rng(seed)
    net.set_weights([(rng.normal(size=w.shape) * 0.02).astype(np.float32) for w in net.get_weights()])
    net.compile("sgd", "mse")
    return net


def write_npy(path, rows, features, chunk_rows=4096):
    """A float32 ``(rows, features)`` .npy written chunk by chunk (no mapping, no whole array in memory)."""
    rng = np.random.default_rng(0)
    with open(path, "wb") as f:
        np.lib.format.write_array_header_1_0(f, {"descr": "<f4", "fortran_order": False, "shape": (rows, features)})
        for lo in range(0, rows, chunk_rows):
            f.write(rng.standard_normal((min(chunk_rows, rows - lo), features), dtype=np.float32).tobytes())


def bench_large_npy(size_gib, features, batch_size, rounds, round_epochs):
    rows = int(size_gib * 2**30) // (features * 4)
    slice_rows = 64 * batch_size
    with tempfile.TemporaryDirectory(prefix="fitq-bench-streaming-") as tmp:
        x_path, y_path = os.path.join(tmp, "x.npy"), os.path.join(tmp, "y.npy")
        start = time.perf_counter()
        write_npy(x_path, rows, features)
        np.save(y_path, np.random.default_rng(1).standard_normal((rows, 1), dtype=np.float32))
        written = time.perf_counter() - start
        file_mib = os.path.getsize(x_path) / MIB

        # One epoch over every row of the file, shuffled, with the RSS sampled throughout.
        streamed_net = model(features)
        sequence = ArraySequence(open_npy(x_path), open_npy(y_path), batch_size=batch_size, shuffle=True, seed=0)
        clock = StepClock()
        with RssSampler() as rss:
            baseline = rss.peak
            streamed_net.fit(sequence, epochs=1, verbose=0, callbacks=[clock], workers=1, max_queue_size=10)
        full_epoch_rate = clock.steps_per_second()
        peak = rss.peak
        max_rss_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

        # Throughput: interleaved rounds of the same steps; best of `rounds` each.
        x_mem = open_npy(x_path)[:slice_rows]
        y_mem = open_npy(y_path)[:slice_rows]
        by_batch = ArraySequence(open_npy(x_path), open_npy(y_path), batch_size=batch_size, shuffle="batch", seed=1)
        rates = {"streamed_batch_shuffle": [], "streamed_row_shuffle": [], "in_memory": []}
        for _ in range(rounds):
            for name, data in (("streamed_batch_shuffle", by_batch), ("streamed_row_shuffle", sequence)):
                clock = StepClock()
                with RssSampler() as rss:
                    model(features).fit(data, epochs=round_epochs, steps_per_epoch=slice_rows // batch_size,
                                        verbose=0, callbacks=[clock], workers=1, max_queue_size=10)
                peak = max(peak, rss.peak)
                rates[name].append(clock.steps_per_second())
            clock = StepClock()
            model(features).fit(x_mem, y_mem, batch_size=batch_size, epochs=round_epochs, verbose=0,
                                callbacks=[clock], shuffle=True)
            rates["in_memory"].append(clock.steps_per_second())
    best = {name: max(values) for name, values in rates.items()}
    return {
        "file_mib": round(file_mib, 1), "rows": rows, "full_epoch_steps": len(sequence), "write_s": round(written, 1),
        "rss_before_fit_mib": round(baseline / MIB, 1), "peak_rss_mib": round(peak / MIB, 1),
        "ru_maxrss_after_full_epoch_mib": round(max_rss_kib / 1024, 1),
        "full_epoch_steps_per_s": round(full_epoch_rate, 2),
        "round_steps": round_epochs * (slice_rows // batch_size), "slice_mib": round(x_mem.nbytes / MIB, 1),
        "steps_per_s": {name: [round(r, 2) for r in values] for name, values in rates.items()},
        "throughput_ratio": round(best["streamed_batch_shuffle"] / best["in_memory"], 3),
        "row_shuffle_ratio": round(best["streamed_row_shuffle"] / best["in_memory"], 3),
    }


def step_time(net, x, y, repeats=30):
    for _ in range(5):
        net.train_on_batch(x, y)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        net.train_on_batch(x, y)
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def waiting_generator(x, y, seconds):
    """Takes ``seconds`` per batch waiting (I/O-bound: storage, network, a decoder releasing the GIL)."""
    while True:
        time.sleep(seconds)
        yield x, y


def matmuls_taking(seconds, size=256):
    """How many ``size x size`` float32 matrix products take about ``seconds`` here (median timing)."""
    a = np.random.default_rng(2).standard_normal((size, size), dtype=np.float32)
    out = np.empty_like(a)
    times = []
    for _ in range(30):
        start = time.perf_counter()
        np.dot(a, a, out=out)
        times.append(time.perf_counter() - start)
    return max(1, round(seconds / float(np.median(times))))


def computing_generator(x, y, products, size=256):
    """Spends each batch in ``products`` NumPy matrix products (which release the GIL)."""
    a = np.random.default_rng(2).standard_normal((size, size), dtype=np.float32)
    out = np.empty_like(a)
    while True:
        for _ in range(products):
            np.dot(a, a, out=out)
        yield x, y


def bench_workers(features, batch_size, steps, rounds):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((batch_size, features), dtype=np.float32)
    y = rng.standard_normal((batch_size, 1), dtype=np.float32)
    t = step_time(model(features), x, y)
    products = matmuls_taking(t)
    results = {"step_ms": round(t * 1000, 2), "matmuls_per_batch": products}
    makers = {"io_bound": lambda: waiting_generator(x, y, t), "compute": lambda: computing_generator(x, y, products)}
    for name, make in makers.items():
        rates = {0: [], 2: []}
        for _ in range(rounds):
            for workers in (0, 2):
                clock = StepClock()
                model(features).fit_generator(make(), steps_per_epoch=steps, epochs=1, verbose=0,
                                              callbacks=[clock], workers=workers, max_queue_size=10)
                rates[workers].append(clock.steps_per_second())
        best0, best2 = max(rates[0]), max(rates[2])
        results[name] = {"workers0_steps_per_s": [round(r, 2) for r in rates[0]],
                         "workers2_steps_per_s": [round(r, 2) for r in rates[2]],
                         "speedup": round(best2 / best0, 3)}
    return results


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-gib", type=float, default=2.0)
    parser.add_argument("--features", type=int, default=1024)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=5, help="interleaved repeats; the best of each side counts")
    parser.add_argument("--round-epochs", type=int, default=3, help="epochs of 64 batches per throughput round")
    parser.add_argument("--worker-steps", type=int, default=100)
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args(argv)

    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs (load average {os.getloadavg()[0]:.1f}), Python "
          f"{platform.python_version()}, NumPy {np.__version__}, BLAS threads {os.environ['OPENBLAS_NUM_THREADS']}")
    large = bench_large_npy(args.size_gib, args.features, args.batch_size, args.rounds, args.round_epochs)
    print(f"(a) {large['file_mib']:.0f} MiB .npy ({large['rows']} x {args.features} float32, written in "
          f"{large['write_s']} s)")
    print(f"    one shuffled epoch over the whole file: {large['full_epoch_steps']} steps of {args.batch_size}, "
          f"{large['full_epoch_steps_per_s']} steps/s")
    print(f"    RSS before fit {large['rss_before_fit_mib']} MiB, peak while streaming {large['peak_rss_mib']} MiB "
          f"(ru_maxrss after the full epoch {large['ru_maxrss_after_full_epoch_mib']} MiB); target < 500 MiB: "
          f"{'PASS' if large['peak_rss_mib'] < 500 else 'FAIL'}")
    print(f"    {large['round_steps']}-step rounds (best of {args.rounds}, interleaved), steps/s:")
    for name, values in large["steps_per_s"].items():
        print(f"      {name:23s} {values}")
    print(f"    streamed (batch shuffle) / in-memory {large['slice_mib']} MiB slice: {large['throughput_ratio']}; "
          f"target >= 0.9: {'PASS' if large['throughput_ratio'] >= 0.9 else 'FAIL'}")
    print(f"    streamed (row shuffle) / in-memory: {large['row_shuffle_ratio']}")
    workers = bench_workers(args.features, args.batch_size, args.worker_steps, args.rounds)
    print(f"(b) training step {workers['step_ms']} ms; generators taking as long per batch "
          f"(compute: {workers['matmuls_per_batch']} matrix products):")
    for name in ("io_bound", "compute"):
        r = workers[name]
        verdict = f"target >= 1.7: {'PASS' if r['speedup'] >= 1.7 else 'FAIL'}" if name == "io_bound" else \
            f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
        print(f"    {name:9s} workers=0 {r['workers0_steps_per_s']} steps/s, workers=2 {r['workers2_steps_per_s']} "
              f"steps/s: best/best speedup {r['speedup']}x; {verdict}")
    if args.json:
        Path(args.json).write_text(json.dumps({"large_npy": large, "workers": workers}, indent=1))


if __name__ == "__main__":
    main()
