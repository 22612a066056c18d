"""``fitq history`` (table and ``--plot``), ``fitq logs``, ``fitq cancel``, and the one-line error when the
server cannot be reached."""
from __future__ import annotations

import subprocess
import sys

from PIL import Image

from service.cli import main
from tests.conftest import ROOT
from tests.service.helpers import dense_spec, regression_arrays, wait_for
from worker.redis_server import free_port


def test_history_table_and_plot(api, workers, capsys, tmp_path):
    workers.start(1)
    ds = api.upload_arrays(regression_arrays(n=64))["id"]
    job = api.submit(dense_spec(ds, epochs=3, validation_split=0.25))
    assert api.wait(job["id"], timeout=120)["status"] == "succeeded"
    history = api.history(job["id"])
    assert main(["history", job["id"], "--url", api.url, "--plot", str(tmp_path / "curves.png")]) == 0
    out = capsys.readouterr().out
    for key in ("loss", "mae", "val_loss", "val_mae"):
        assert key in out
    rows = [line for line in out.splitlines() if line.strip(" │|").split(" ")[0] in ("1", "2", "3")]
    assert len(rows) == 3 and f"{history['history']['val_loss'][2]:.4f}" in rows[2]
    with Image.open(tmp_path / "curves.png") as image:
        assert image.format == "PNG" and image.width > 600 and image.height > 200
        colours = image.convert("RGB").getcolors(maxcolors=1 << 16)
    assert colours is not None and len(colours) > 20  # curves drawn, not a blank canvas
    assert f"wrote {tmp_path / 'curves.png'}" in out

    assert main(["history", job["id"], "--url", api.url, "--plot", str(tmp_path / "curves.jpg")]) == 1
    assert "PNG" in capsys.readouterr().err


def test_logs_and_cancel(api, workers, capsys):
    workers.start(1)
    ds = api.upload_arrays(regression_arrays(n=64))["id"]
    done = api.submit(dense_spec(ds, epochs=2))
    api.wait(done["id"], timeout=120)
    long = api.submit(dense_spec(ds, epochs=100_000, batch_size=1))
    wait_for(lambda: api.job(long["id"])["progress"], timeout=60, what="the long job to run")

    assert main(["logs", done["id"], "--url", api.url]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(" ", 2)[2] for line in lines[:2]] == ["status queued (attempt 1)", "status running"]
    assert lines[2].split(" ", 2)[2].startswith("epoch 1: loss=") and "mae=" in lines[2]
    assert lines[-1].endswith("status succeeded") and len(lines) == 5

    assert main(["cancel", long["id"], "--url", api.url]) == 0
    assert "cancel requested" in capsys.readouterr().out
    assert main(["logs", long["id"], "--url", api.url, "--follow"]) == 0  # returns once the job has stopped
    out = capsys.readouterr().out
    assert "cancel requested (attempt 1)" in out and out.rstrip().endswith("status canceled")
    assert main(["cancel", long["id"], "--url", api.url]) == 1
    assert "409" in capsys.readouterr().err and "already finished (canceled)" in api.http.post(
        f"/v1/jobs/{long['id']}/cancel").json()["error"]["message"]


def test_unreachable_server_is_one_clear_line():
    url = f"http://127.0.0.1:{free_port()}"
    for args in (["jobs"], ["history", "job_0123456789abcdef"], ["logs", "job_0123456789abcdef"],
                 ["cancel", "job_0123456789abcdef"]):
        done = subprocess.run([sys.executable, "-m", "service.cli", *args, "--url", url], cwd=ROOT,
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 1 and done.stdout == ""
        assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr, done.stderr
        assert done.stderr.startswith(f"fitq: cannot reach the fitq server at {url}/"), done.stderr
