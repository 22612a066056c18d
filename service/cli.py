"""The ``fitq`` command: ``serve``, ``worker``, ``submit``, ``jobs``, ``history``, ``logs``, ``cancel``,
``datasets upload``."""
from __future__ import annotations

import argparse
import ipaddress
import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from worker.status import JobStatus

LOOPBACK_NAMES = ("localhost",)


def is_loopback(host: str) -> bool:
    """Whether ``host`` only accepts connections from this machine."""
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


# -- serve / worker ------------------------------------------------------------------------------
def _stop_workers(procs: list[subprocess.Popen], timeout: float = 15.0) -> None:
    """Stops RQ workers: SIGTERM twice (RQ's cold shutdown also stops a running job), then SIGKILL."""
    for sig_round in range(2):
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        if sig_round == 0:
            time.sleep(0.5)
    deadline = time.monotonic() + timeout
    for p in procs:
        try:
            p.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def _interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def cmd_serve(args: argparse.Namespace) -> int:
    """API + embedded Redis (unless REDIS_URL is set) + N workers, kept alive by a supervisor; stops them
    all on Ctrl-C / SIGTERM."""
    import uvicorn  # noqa: PLC0415 - only `serve` needs the web stack

    from service.app import create_app  # noqa: PLC0415
    from service.supervisor import Supervisor  # noqa: PLC0415
    from worker.layout import REDIS_DIR  # noqa: PLC0415
    from worker.redis_server import EmbeddedRedis  # noqa: PLC0415
    from worker.settings import get_settings  # noqa: PLC0415

    settings = get_settings()
    if not is_loopback(args.host) and not settings.api_tokens:
        print(f"refusing to listen on {args.host} without API tokens: set FITQ_API_TOKENS='{{\"TOKEN\": \"tenant\"}}' "
              "or use --host 127.0.0.1", file=sys.stderr)
        return 2
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    supervisor = Supervisor(settings.restart_backoff, settings.restart_backoff_max)
    embedded = None
    if not settings.redis_url:
        embedded = EmbeddedRedis(settings.data_dir / REDIS_DIR)
        supervisor.add("redis-server", lambda: embedded.start().process)
        settings.redis_url = embedded.url
        os.environ["REDIS_URL"] = embedded.url
        print(f"embedded redis-server on {embedded.public_url} (data in {embedded.directory})", flush=True)
    env = {**os.environ, "REDIS_URL": settings.redis_url, "FITQ_DATA_DIR": str(settings.data_dir.resolve())}
    count = args.workers if args.workers is not None else settings.workers
    for i in range(count):
        supervisor.add(f"worker {i + 1}", lambda: subprocess.Popen(
            [sys.executable, "-m", "service.cli", "worker", "--log-level", args.log_level], env=env))
    supervisor.run_in_background()
    signal.signal(signal.SIGTERM, _interrupt)  # uvicorn re-raises SIGTERM after its shutdown: stop the rest too
    try:
        server = uvicorn.Server(uvicorn.Config(create_app(settings), host=args.host, port=args.port,
                                               log_level=args.log_level,
                                               **({"log_config": None} if settings.log_format == "json" else {})))
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        supervisor.stop()
        _stop_workers([c.process for c in supervisor.children if c.name != "redis-server" and c.process])
        if embedded is not None:
            embedded.stop()
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    """An RQ worker (forking: each job runs in a fresh child) on fitq's queues at REDIS_URL; it rides out
    Redis outages and runs only fitq's own tasks."""
    from worker import rq_worker, tasks  # noqa: PLC0415, F401 - tasks (and the engine, NumPy only) load once here
    from worker.settings import get_settings  # noqa: PLC0415

    settings = get_settings()
    if not settings.redis_url:
        print("REDIS_URL is not set: point it at the Redis that `fitq serve` or docker compose runs", file=sys.stderr)
        return 2
    if args.gpu is not None:
        # The horses this worker forks see only that GPU; this process itself never touches CUDA.
        os.environ["CUDA_VISIBLE_DEVICES"] = str(args.gpu)
    return rq_worker.run(settings, burst=args.burst, logging_level=args.log_level.upper(), gpu=args.gpu)


# -- client commands -----------------------------------------------------------------------------
def _client(args: argparse.Namespace):
    from service.client import Client  # noqa: PLC0415

    return Client(args.url, args.token)


def _print_history(history: dict) -> None:
    from rich.console import Console  # noqa: PLC0415
    from rich.table import Table  # noqa: PLC0415

    keys = list(history["history"])
    table = Table(title="History")
    table.add_column("epoch", justify="right")
    for key in keys:
        table.add_column(key, justify="right")
    for i, epoch in enumerate(history["epoch"]):
        row = []
        for key in keys:
            values = history["history"][key]
            row.append(f"{values[i]:.4f}" if i < len(values) and values[i] is not None else "")
        table.add_row(str(epoch + 1), *row)
    Console().print(table)


def _follow(client, job: dict) -> dict:
    """Shows a progress bar fed by the job's Server-Sent Events until the job finishes."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn  # noqa: PLC0415

    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  TextColumn("{task.fields[logs]}")) as bar:
        task = bar.add_task(f"{job['id']} queued", total=None, logs="")
        for event, data in client.events(job["id"]):
            if event == "status":
                bar.update(task, description=f"{job['id']} {data['status']}")
            elif event == "progress":
                logs = " ".join(f"{k}={v:.4f}" for k, v in data["logs"].items() if v is not None)
                bar.update(task, total=data.get("steps"), completed=data["batch"], logs=logs,
                           description=f"epoch {data['epoch'] + 1}/{data.get('epochs')}")
            elif event == "epoch":
                logs = " ".join(f"{k}={v:.4f}" for k, v in data["logs"].items() if v is not None)
                total = bar.tasks[0].total
                if total is not None:
                    bar.update(task, completed=total)
                bar.console.print(f"epoch {data['epoch'] + 1}: {logs}")
    return client.job(job["id"])


def cmd_submit(args: argparse.Namespace) -> int:
    """Submits a job spec file; with --follow, shows its progress and History."""
    spec = json.loads(Path(args.spec).read_text())
    with _client(args) as client:
        job = client.submit(spec)
        print(job["id"])
        if not args.follow:
            return 0
        job = _follow(client, job)
        if job["history"]:
            _print_history(client.history(job["id"]))
        print(f"{job['id']} {job['status']}" + (f": {job['error']['type']}: {job['error']['message']}"
                                                 if job.get("error") else ""))
        return 0 if job["status"] == JobStatus.SUCCEEDED else 1


def cmd_jobs(args: argparse.Namespace) -> int:
    """Lists jobs (newest first)."""
    from rich.console import Console  # noqa: PLC0415
    from rich.table import Table  # noqa: PLC0415

    with _client(args) as client:
        listing = client.jobs(status=args.status, limit=args.limit)
    table = Table()
    table.add_column("id", no_wrap=True, min_width=20)
    table.add_column("kind")
    table.add_column("name")
    table.add_column("status", no_wrap=True, min_width=9)
    for col in ("attempt", "epochs", "loss"):
        table.add_column(col)
    for job in listing["jobs"]:
        loss = (job["history"].get("loss") or [None])[-1]
        table.add_row(job["id"], job["kind"], job.get("name") or "", job["status"], str(job["attempt"]),
                      str(len(job["epoch"])), "" if loss is None else f"{loss:.4f}")
    Console().print(table)
    return 0


def cmd_history(args: argparse.Namespace) -> int:
    """Prints a job's History as a table; with --plot, also writes its curves to a PNG."""
    with _client(args) as client:
        history = client.history(args.job)
    if not history["epoch"]:
        print(f"{args.job} has no finished epoch yet")
    else:
        _print_history(history)
    if args.plot:
        from service.plot import plot_history  # noqa: PLC0415

        print(f"wrote {plot_history(history, args.plot, title=args.job)}")
    return 0


def log_line(event: str, data: dict) -> str | None:
    """One event of a job as a log line (None for per-batch progress)."""
    if event == "status":
        line = f"status {data['status']}" + (f" (attempt {data['attempt']})" if data.get("attempt") else "")
        if data.get("error"):
            line += f": {data['error']['type']}: {data['error']['message']}"
        return line
    if event == "epoch":
        logs = " ".join(f"{k}={v:.4f}" for k, v in data["logs"].items() if v is not None)
        return f"epoch {data['epoch'] + 1}: {logs}"
    if event == "cancel_requested":
        return f"cancel requested (attempt {data.get('attempt')})"
    return None


def cmd_logs(args: argparse.Namespace) -> int:
    """Prints a job's events (status changes, epochs, cancels, errors) with times; --follow waits for more."""
    with _client(args) as client:
        events = client.log(args.job)
        for entry in events:
            line = log_line(entry["type"], entry["data"])
            if line:
                stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(entry["time"]))
                print(f"{stamp} {line}", flush=True)
        if args.follow:
            last = events[-1]["id"] if events else None
            if not (events and events[-1]["type"] == "status"
                    and events[-1]["data"]["status"] in ("succeeded", "failed", "canceled")):
                for event, data in client.events(args.job, last_event_id=last):
                    line = log_line(event, data)
                    if line:
                        print(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {line}", flush=True)
    return 0


def cmd_cancel(args: argparse.Namespace) -> int:
    """Cancels a queued or running job."""
    with _client(args) as client:
        job = client.cancel(args.job)
    if job["status"] == "canceled":
        print(f"{job['id']} canceled")
    else:
        print(f"{job['id']} cancel requested: it stops at its next batch, keeping its last checkpoint")
    return 0


def cmd_datasets_upload(args: argparse.Namespace) -> int:
    """Uploads a dataset file and prints its description."""
    with _client(args) as client:
        print(json.dumps(client.upload_file(args.file), indent=2))
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="fitq", description="Training jobs over HTTP.")
    sub = p.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="API + embedded Redis + workers")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=None, help="worker processes (default FITQ_WORKERS or 1)")
    serve.add_argument("--log-level", default="info")
    serve.set_defaults(func=cmd_serve)

    worker = sub.add_parser("worker", help="a worker joining the Redis at REDIS_URL")
    worker.add_argument("--burst", action="store_true", help="exit when the queues are empty")
    worker.add_argument("--gpu", type=int, default=None, metavar="N",
                        help="serve the GPU queue on GPU N (jobs with \"device\": \"gpu\"), one job at a time")
    worker.add_argument("--log-level", default="info")
    worker.set_defaults(func=cmd_worker)

    def client_options(sp):
        sp.add_argument("--url", default=None, help="API URL (default $FITQ_URL or http://127.0.0.1:8000)")
        sp.add_argument("--token", default=None, help="API token (default $FITQ_TOKEN)")

    submit = sub.add_parser("submit", help="submit a job spec (JSON file)")
    submit.add_argument("spec")
    submit.add_argument("--follow", action="store_true", help="show progress and the History")
    client_options(submit)
    submit.set_defaults(func=cmd_submit)

    jobs = sub.add_parser("jobs", help="list jobs")
    jobs.add_argument("--status", choices=list(JobStatus))
    jobs.add_argument("--limit", type=int, default=50)
    client_options(jobs)
    jobs.set_defaults(func=cmd_jobs)

    history = sub.add_parser("history", help="a job's History (table, optionally a PNG of its curves)")
    history.add_argument("job")
    history.add_argument("--plot", metavar="FILE.png", help="also write the curves to this PNG (needs matplotlib)")
    client_options(history)
    history.set_defaults(func=cmd_history)

    logs = sub.add_parser("logs", help="a job's events: status changes, epochs, cancels, errors")
    logs.add_argument("job")
    logs.add_argument("--follow", "-f", action="store_true", help="keep printing until the job finishes")
    client_options(logs)
    logs.set_defaults(func=cmd_logs)

    cancel = sub.add_parser("cancel", help="cancel a queued or running job")
    cancel.add_argument("job")
    client_options(cancel)
    cancel.set_defaults(func=cmd_cancel)

    datasets = sub.add_parser("datasets", help="manage datasets")
    dsub = datasets.add_subparsers(dest="datasets_command", required=True)
    upload = dsub.add_parser("upload", help="upload a dataset file")
    upload.add_argument("file")
    client_options(upload)
    upload.set_defaults(func=cmd_datasets_upload)
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``fitq``."""
    args = parser().parse_args(argv)
    if args.command in ("serve", "worker"):
        from worker.logs import configure  # noqa: PLC0415
        from worker.settings import get_settings  # noqa: PLC0415

        configure(logging.INFO, get_settings().log_format)
    else:
        logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    import httpx  # noqa: PLC0415

    from service.client import ApiError  # noqa: PLC0415

    try:
        return args.func(args)
    except ApiError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    except httpx.TransportError as exc:
        where = exc.request.url.copy_with(path="/", query=None) if _has_request(exc) else "the server"
        print(f"fitq: cannot reach the fitq server at {where} ({exc or type(exc).__name__}); "
              "start it with `fitq serve` or point --url / FITQ_URL at it", file=sys.stderr)
        return 1
    except (RuntimeError, ValueError, OSError) as exc:
        if args.command in ("serve", "worker"):
            raise
        print(f"fitq: {exc}", file=sys.stderr)
        return 1


def _has_request(exc) -> bool:
    try:
        exc.request  # noqa: B018 - httpx raises RuntimeError when the error has no request
    except RuntimeError:
        return False
    return True


if __name__ == "__main__":
    sys.exit(main())
