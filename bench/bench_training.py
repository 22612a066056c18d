"""Training and predict throughput of fitq's NumPy engine against PyTorch (CPU, eager), side by side.

    python bench/bench_training.py [--rounds 5] [--workloads mlp,mlp_small,cnn,lstm,lstm_short] [--no-rss] [--json FILE]

Each workload trains the same model in both frameworks (Adam, lr 1e-3, a new random permutation per
epoch, synthetic float32 data): a warm-up epoch and a warm-up ``predict``, then, per round, ``fit``
for 2 epochs timed per epoch by a callback (fitq: a Keras ``Callback``'s ``on_epoch_begin`` /
``on_epoch_end``; PyTorch: around its epoch loop) and one ``predict`` call over the training set with
the workload's batch size (PyTorch under ``torch.no_grad()``, batch by batch, as a ``DataLoader`` would
feed it). That is the timing a user's own script would do. Each framework runs in its own worker
process; rounds are interleaved (fitq, torch, torch, fitq, ...) so that a busy machine slows both
alike; each timed call starts half a second after the last one ended, once the other framework's
idle OpenMP workers have stopped spinning; and the table reports the median over rounds with the
spread (lowest-highest round) beside it.
Peak RSS is measured in a fresh subprocess per framework and workload, while it trains (warm-up epoch
and 2 epochs).

Workloads:

- mlp: Dense 784-512-512-10 (relu, relu, softmax), 16384 samples, batch 128,
  sparse categorical crossentropy.
- mlp_small: Dense 64-64-10, 8192 samples, batch 32.
- cnn: Conv2D(32, 3, relu) - MaxPooling2D(2) - Conv2D(64, 3, relu) - MaxPooling2D(2) - Flatten -
  Dense(128, relu) - Dense(10, softmax) on 28x28x1, 4096 samples, batch 64.
- lstm: Embedding(10000, 64) - LSTM(64) - Dense(1, sigmoid) on sequences of 100 ints,
  2048 samples, batch 64, binary crossentropy.
- lstm_short: the same model on sequences of 20 ints, 8192 samples: the cost per step, not per sequence.

A workload whose layers the engine does not have yet is skipped with a message. PyTorch's side
uses its idiomatic fused losses (``CrossEntropyLoss`` on logits, ``BCEWithLogitsLoss``), which
compute the same loss as softmax / sigmoid followed by the crossentropy, and its ``predict``
applies the softmax / sigmoid. Prints a table of fitq / PyTorch ratios (>= 1.0: fitq is faster;
for memory, <= 1.0 is the target).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

EPOCHS = 2
LEARNING_RATE = 1e-3


@dataclass(frozen=True)
class Workload:
    """One benchmark model: its data sizes and which engine layers it needs (``model``: which
    architecture; ``steps``: the sequence length of the recurrent ones)."""

    name: str
    samples: int
    batch_size: int
    needs: tuple
    model: str = ""
    steps: int = 0

    @property
    def arch(self) -> str:
        return self.model or self.name


WORKLOADS = {
    "mlp": Workload("mlp", 16384, 128, ("Dense",)),
    "mlp_small": Workload("mlp_small", 8192, 32, ("Dense",)),
    "cnn": Workload("cnn", 4096, 64, ("Conv2D", "MaxPooling2D", "Flatten", "Dense")),
    "lstm": Workload("lstm", 2048, 64, ("Embedding", "LSTM", "Dense"), steps=100),
    "lstm_short": Workload("lstm_short", 8192, 64, ("Embedding", "LSTM", "Dense"), model="lstm", steps=20),
}


# ------------------------------------------------------------------------ data
def make_data(workload: Workload):
    """(x, y) float32 / int arrays for ``workload``, the same for both frameworks."""
    rng = np.random.default_rng(0)
    name, samples = workload.arch, workload.samples
    if name == "mlp":
        return rng.random((samples, 784), dtype=np.float32), rng.integers(0, 10, samples).astype(np.int64)
    if name == "mlp_small":
        return rng.random((samples, 64), dtype=np.float32), rng.integers(0, 10, samples).astype(np.int64)
    if name == "cnn":
        return rng.random((samples, 28, 28, 1), dtype=np.float32), rng.integers(0, 10, samples).astype(np.int64)
    if name == "lstm":
        return (rng.integers(0, 10000, (samples, workload.steps)).astype(np.int32),
                rng.integers(0, 2, (samples, 1)).astype(np.float32))
    raise ValueError(f"Unknown workload {name!r}: expected one of {sorted(WORKLOADS)}")


# ------------------------------------------------------------------------ fitq
def missing_engine_layers(workload: Workload) -> list[str]:
    """Names of the layers ``workload`` needs that ``engine.layers`` does not provide."""
    from engine import layers

    return [n for n in workload.needs if not hasattr(layers, n)]


def fitq_model(workload: Workload):
    """The compiled engine model of ``workload``."""
    from engine import Sequential, layers, optimizers, set_random_seed

    set_random_seed(0)
    name = workload.arch
    if name == "mlp":
        stack = [layers.Input((784,)), layers.Dense(512, activation="relu"), layers.Dense(512, activation="relu"),
                 layers.Dense(10, activation="softmax")]
        loss = "sparse_categorical_crossentropy"
    elif name == "mlp_small":
        stack = [layers.Input((64,)), layers.Dense(64, activation="relu"), layers.Dense(10, activation="softmax")]
        loss = "sparse_categorical_crossentropy"
    elif name == "cnn":
        stack = [layers.Input((28, 28, 1)), layers.Conv2D(32, 3, activation="relu"), layers.MaxPooling2D(2),
                 layers.Conv2D(64, 3, activation="relu"), layers.MaxPooling2D(2), layers.Flatten(),
                 layers.Dense(128, activation="relu"), layers.Dense(10, activation="softmax")]
        loss = "sparse_categorical_crossentropy"
    else:
        stack = [layers.Input((workload.steps,), dtype="int32"), layers.Embedding(10000, 64), layers.LSTM(64),
                 layers.Dense(1, activation="sigmoid")]
        loss = "binary_crossentropy"
    model = Sequential(stack)
    model.compile(optimizer=optimizers.Adam(learning_rate=LEARNING_RATE), loss=loss)
    return model


class FitqRunner:
    """Trains / predicts ``workload`` with the engine."""

    def __init__(self, workload: Workload, x, y):
        from engine.callbacks import Callback

        class EpochTimes(Callback):
            """Seconds per epoch, as a user's callback would time them."""

            def on_train_begin(self, logs=None):
                self.seconds = []

            def on_epoch_begin(self, epoch, logs=None):
                self.start = time.perf_counter()

            def on_epoch_end(self, epoch, logs=None):
                self.seconds.append(time.perf_counter() - self.start)

        self.w, self.x, self.y = workload, x, y
        self.model = fitq_model(workload)
        self.timer = EpochTimes()

    def warm_up(self):
        self.model.fit(self.x, self.y, batch_size=self.w.batch_size, epochs=1, verbose=0, shuffle=True)
        self.predict()

    def train(self) -> list[float]:
        self.model.fit(self.x, self.y, batch_size=self.w.batch_size, epochs=EPOCHS, verbose=0, shuffle=True,
                       callbacks=[self.timer])
        return self.timer.seconds

    def predict(self) -> float:
        start = time.perf_counter()
        self.model.predict(self.x, batch_size=self.w.batch_size, verbose=0)
        return time.perf_counter() - start


# --------------------------------------------------------------------- PyTorch
def torch_model(name: str):
    """(module, loss function, output activation for predict) of architecture ``name`` in PyTorch."""
    import torch
    from torch import nn

    torch.manual_seed(0)
    if name == "mlp":
        net = nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(), nn.Linear(512, 10))
        return net, nn.CrossEntropyLoss(), nn.Softmax(dim=-1)
    if name == "mlp_small":
        net = nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10))
        return net, nn.CrossEntropyLoss(), nn.Softmax(dim=-1)
    if name == "cnn":
        net = nn.Sequential(nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(32, 64, 3), nn.ReLU(),
                            nn.MaxPool2d(2), nn.Flatten(), nn.Linear(64 * 5 * 5, 128), nn.ReLU(), nn.Linear(128, 10))
        return net, nn.CrossEntropyLoss(), nn.Softmax(dim=-1)

    class LastStep(nn.Module):
        """The LSTM's output at the last time step, as Keras's LSTM(return_sequences=False)."""

        def __init__(self):
            super().__init__()
            self.embedding = nn.Embedding(10000, 64)
            self.lstm = nn.LSTM(64, 64, batch_first=True)
            self.dense = nn.Linear(64, 1)

        def forward(self, x):
            out, _ = self.lstm(self.embedding(x))
            return self.dense(out[:, -1])

    return LastStep(), nn.BCEWithLogitsLoss(), nn.Sigmoid()


class TorchRunner:
    """Trains / predicts workload ``name`` with PyTorch in eager mode."""

    def __init__(self, workload: Workload, x, y):
        import torch

        self.torch = torch
        self.w = workload
        if workload.arch == "cnn":
            x = np.ascontiguousarray(x.transpose(0, 3, 1, 2))
        self.x = torch.from_numpy(x.astype(np.int64) if workload.arch == "lstm" else x)
        self.y = torch.from_numpy(y)
        self.net, self.loss_fn, self.out_act = torch_model(workload.arch)
        self.opt = torch.optim.Adam(self.net.parameters(), lr=LEARNING_RATE)

    def _epoch(self):
        torch = self.torch
        n, bs = self.x.shape[0], self.w.batch_size
        order = torch.randperm(n)
        total = 0.0
        self.net.train()
        for start in range(0, n, bs):
            idx = order[start:start + bs]
            xb, yb = self.x[idx], self.y[idx]
            self.opt.zero_grad(set_to_none=True)
            loss = self.loss_fn(self.net(xb), yb)
            loss.backward()
            self.opt.step()
            total += loss.item()
        return total

    def warm_up(self):
        self._epoch()
        self.predict()

    def train(self) -> list[float]:
        seconds = []
        for _ in range(EPOCHS):
            start = time.perf_counter()
            self._epoch()
            seconds.append(time.perf_counter() - start)
        return seconds

    def predict(self) -> float:
        torch = self.torch
        start = time.perf_counter()
        self.net.eval()
        with torch.no_grad():
            chunks = [self.out_act(self.net(self.x[i:i + self.w.batch_size])).numpy()
                      for i in range(0, self.x.shape[0], self.w.batch_size)]
        np.concatenate(chunks)
        return time.perf_counter() - start


# ------------------------------------------------------------------- measuring
def limit_threads(framework: str, threads: int, torch_flush_denormal: bool = False) -> None:
    """``threads`` compute threads for ``framework`` in this process: torch's pool, or NumPy's BLAS
    and the engine's own loops (engine.threads). PyTorch takes subnormal floats as zero when
    ``torch_flush_denormal`` (fitq's Adam always does)."""
    if framework == "torch":
        import torch

        torch.set_num_threads(threads)
        torch.set_flush_denormal(torch_flush_denormal)
    else:
        from threadpoolctl import threadpool_limits

        import engine.gemm  # noqa: F401 - loads MKL where it is installed, so that the limit reaches its threads too
        from engine import threads as engine_threads

        threadpool_limits(threads)
        engine_threads.set_count(threads)


def serve(framework: str, threads: int, torch_flush_denormal: bool) -> None:
    """A worker process for one framework (``threads`` compute threads): reads JSON commands on
    stdin, answers one JSON line each.

    ``{"cmd": "setup", "workload": name}`` builds the model and data, trains the warm-up epoch and
    predicts once; ``{"cmd": "train", ...}`` answers ``{"epoch_seconds": [...]}`` and
    ``{"cmd": "predict", ...}`` ``{"seconds": ...}``. Each framework lives in its own process so
    that each keeps its own thread pools and settings; :func:`measure` waits :data:`SETTLE_S`
    before each timed call, so that neither one's idle workers spin while the other is timed.
    """
    limit_threads(framework, threads, torch_flush_denormal)
    runner_class = TorchRunner if framework == "torch" else FitqRunner
    runners = {}
    for line in sys.stdin:
        msg = json.loads(line)
        name = msg.get("workload")
        if msg["cmd"] == "setup":
            missing = missing_engine_layers(WORKLOADS[name]) if framework == "fitq" else []
            if missing:
                reply = {"skipped": f"engine.layers has no {', '.join(missing)} yet"}
            else:
                runners[name] = runner_class(WORKLOADS[name], *make_data(WORKLOADS[name]))
                runners[name].warm_up()
                reply = {"ok": True}
                if framework == "fitq":
                    from engine import gemm

                    reply["large_products"] = gemm.backend()
        elif msg["cmd"] == "train":
            reply = {"epoch_seconds": runners[name].train()}
        elif msg["cmd"] == "predict":
            reply = {"seconds": runners[name].predict()}
        else:
            break
        print(json.dumps(reply), flush=True)


class Worker:
    """The parent's handle on a :func:`serve` process."""

    def __init__(self, framework: str, threads: int, torch_flush_denormal: bool):
        flush = ["--torch-flush-denormal"] if torch_flush_denormal else []
        self.proc = subprocess.Popen([sys.executable, __file__, "--serve", framework, "--threads", str(threads), *flush],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def ask(self, cmd: str, workload: str) -> dict:
        self.proc.stdin.write(json.dumps({"cmd": cmd, "workload": workload}) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"benchmark worker exited (code {self.proc.wait()}) during {cmd} {workload}")
        return json.loads(line)

    def close(self):
        self.proc.stdin.write(json.dumps({"cmd": "quit"}) + "\n")
        self.proc.stdin.close()
        self.proc.wait()


MEASURES = ("fitq_train", "torch_train", "fitq_predict", "torch_predict")
# Each framework's idle OpenMP workers spin for a while after its last parallel region (Intel's
# OpenMP, fitq's with the mkl extra, for 200 ms: KMP_BLOCKTIME), on the cores the other framework
# is then timed on: with fitq's workers spinning into PyTorch's turns, PyTorch's lstm_short predict
# ran at 27.4k samples/s, with them asleep after 1 ms at 31.6k. Every timed call waits this long
# first, so that neither framework is timed beside the other's spinning workers.
SETTLE_S = 0.5


def measure(names, rounds, threads, torch_flush_denormal=False):
    """{workload: {measure: [samples/s per round]}} for :data:`MEASURES`, or {"skipped": why}.

    Rounds alternate between the two worker processes (fitq first on even rounds, torch first on
    odd ones), each timed call :data:`SETTLE_S` after the last one ended. A round's training rate
    comes from the median epoch time of its ``fit``.
    """
    workers = {fw: Worker(fw, threads, torch_flush_denormal) for fw in ("fitq", "torch")}
    results = {}
    try:
        for name in names:
            reply = workers["fitq"].ask("setup", name)
            if "skipped" in reply:
                results[name] = reply
                print(f"[skip] {name}: {reply['skipped']}", flush=True)
                continue
            print(f"[setup] {name}: fitq's large products through {reply['large_products']}", flush=True)
            workers["torch"].ask("setup", name)
            results[name] = {m: [] for m in MEASURES}
        for rnd in range(rounds):
            for name, r in results.items():
                if "skipped" in r:
                    continue
                w = WORKLOADS[name]
                for label in (("fitq", "torch") if rnd % 2 == 0 else ("torch", "fitq")):
                    time.sleep(SETTLE_S)
                    epoch = float(np.median(workers[label].ask("train", name)["epoch_seconds"]))
                    r[f"{label}_train"].append(w.samples / epoch)
                    time.sleep(SETTLE_S)
                    r[f"{label}_predict"].append(w.samples / workers[label].ask("predict", name)["seconds"])
                print(f"[{rnd + 1}/{rounds}] {name}: " + ", ".join(f"{m} {r[m][-1]:.0f}/s" for m in MEASURES),
                      flush=True)
    finally:
        for worker in workers.values():
            worker.close()
    return results


def _peak_rss_child(framework: str, name: str, threads: int) -> None:
    """Trains ``name`` (warm-up epoch and predict, then 2 epochs) in this process; prints its peak RSS in MiB as JSON."""
    import psutil

    limit_threads(framework, threads)
    proc = psutil.Process()
    peak = [proc.memory_info().rss]
    done = threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], proc.memory_info().rss)
            done.wait(0.005)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    w = WORKLOADS[name]
    runner = (TorchRunner if framework == "torch" else FitqRunner)(w, *make_data(w))
    runner.warm_up()
    runner.train()
    done.set()
    thread.join()
    peak[0] = max(peak[0], proc.memory_info().rss)
    print(json.dumps({"framework": framework, "peak_rss_mib": peak[0] / 2**20}))


def peak_rss(names, threads) -> dict:
    """{workload: {"fitq": MiB, "torch": MiB}}: peak RSS of a fresh process training it, per framework."""
    out = {}
    for name in names:
        out[name] = {}
        for framework in ("fitq", "torch"):
            res = subprocess.run([sys.executable, __file__, "--rss-child", framework, "--workloads", name,
                                  "--threads", str(threads)], capture_output=True, text=True, check=True)
            out[name][framework] = json.loads(res.stdout.strip().splitlines()[-1])["peak_rss_mib"]
    return out


def machine() -> dict:
    """What the numbers were measured on: CPU, cores, NumPy's BLAS and its kernel, versions."""
    import torch
    from threadpoolctl import threadpool_info

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    except OSError:
        pass
    blas = [f"{i.get('internal_api')} {i.get('version')} ({i.get('architecture')} kernels)"
            for i in threadpool_info() if i.get("user_api") == "blas"]
    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(), "numpy": np.__version__,
            "numpy_blas": "; ".join(blas), "torch": torch.__version__,
            "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE", "(unset)"),
            "OPENBLAS_L2_SIZE": os.environ.get("OPENBLAS_L2_SIZE", "(unset)"), "load_average": os.getloadavg()}


def summary(values: list[float]) -> str:
    """``median (lowest-highest)`` of per-round rates."""
    return f"{np.median(values):.0f} ({min(values):.0f}-{max(values):.0f})"


def ratio(fitq: list[float], torch: list[float]) -> str:
    """The ratio of medians, with the spread of the per-round ratios (rounds are paired)."""
    per_round = [a / b for a, b in zip(fitq, torch)]
    return f"**{np.median(fitq) / np.median(torch):.2f}** ({min(per_round):.2f}-{max(per_round):.2f})"


def table(results, rss) -> str:
    """The ratio table (fitq / PyTorch) as Markdown: medians over rounds, spread in parentheses."""
    lines = ["| workload | fitq train/s | torch train/s | train ratio | fitq predict/s | torch predict/s | predict ratio |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for name, r in results.items():
        if "skipped" in r:
            lines.append(f"| {name} | skipped: {r['skipped']} | | | | | |")
            continue
        lines.append(f"| {name} | {summary(r['fitq_train'])} | {summary(r['torch_train'])} | "
                     f"{ratio(r['fitq_train'], r['torch_train'])} | {summary(r['fitq_predict'])} | "
                     f"{summary(r['torch_predict'])} | {ratio(r['fitq_predict'], r['torch_predict'])} |")
    if rss:
        lines += ["", "| peak RSS training | fitq MiB | torch MiB | ratio (target <= 1.0) |", "| --- | ---: | ---: | ---: |"]
        lines += [f"| {name} | {m['fitq']:.0f} | {m['torch']:.0f} | **{m['fitq'] / m['torch']:.2f}** |"
                  for name, m in rss.items()]
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workloads", default=",".join(WORKLOADS), help="comma-separated workloads (default: all)")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds; the table shows their median")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1,
                        help="compute threads per framework (NumPy's BLAS, torch.set_num_threads); default: all cores")
    parser.add_argument("--no-rss", action="store_true", help="skip the peak-RSS subprocesses")
    parser.add_argument("--json", help="also write the results to this JSON file")
    parser.add_argument("--rss-child", choices=("fitq", "torch"), help=argparse.SUPPRESS)
    parser.add_argument("--torch-flush-denormal", action="store_true",
                        help="PyTorch takes subnormal floats as zero (torch.set_flush_denormal), as fitq's Adam does")
    parser.add_argument("--serve", choices=("fitq", "torch"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        serve(args.serve, args.threads, args.torch_flush_denormal)
        return 0
    names = [n.strip() for n in args.workloads.split(",") if n.strip()]
    unknown = [n for n in names if n not in WORKLOADS]
    if unknown:
        parser.error(f"unknown workload(s) {unknown}: expected some of {sorted(WORKLOADS)}")
    if args.rss_child:
        _peak_rss_child(args.rss_child, names[0], args.threads)
        return 0
    info = {**machine(), "threads": args.threads, "torch_flush_denormal": args.torch_flush_denormal}
    print(" | ".join(f"{k}: {v}" for k, v in info.items()), flush=True)
    results = measure(names, max(1, args.rounds), args.threads, args.torch_flush_denormal)
    measured = [n for n in names if "skipped" not in results[n]]
    rss = None if args.no_rss else peak_rss(measured, args.threads)
    print()
    print(table(results, rss))
    if args.json:
        Path(args.json).write_text(json.dumps({"machine": info, "results": results, "peak_rss_mib": rss}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
