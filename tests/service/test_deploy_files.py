"""docker-compose.yml and the Dockerfile, read as the compose spec and Docker read them (no engine here)."""
from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_compose_runs_redis_an_object_store_api_and_scalable_workers_sharing_no_volume():
    doc = compose()
    services = doc["services"]
    assert set(services) == {"redis", "objects", "api", "worker"}
    worker, api = services["worker"], services["api"]
    assert "container_name" not in worker and "ports" not in worker, "--scale worker=N needs neither"
    assert worker["command"] == ["fitq", "worker"]
    for svc in (api, worker):
        assert svc["environment"]["REDIS_URL"].startswith("redis://:${REDIS_PASSWORD:?")
        assert svc["environment"]["REDIS_URL"].endswith("}@redis:6379/0")
        env = svc["environment"]
        assert env["FITQ_STORE"] == "s3://fitq/store" and env["FITQ_STORE_ENDPOINT"] == "http://objects:9000"
        assert env["FITQ_STORE_SECRET_KEY"] == services["objects"]["environment"]["MINIO_ROOT_PASSWORD"]
        assert "volumes" not in svc, "workers on other hosts need only Redis and the object store"
        assert svc["depends_on"]["redis"]["condition"] == "service_healthy"
        assert svc["depends_on"]["objects"]["condition"] == "service_healthy"
    assert set(doc["volumes"]) == {"redis-data", "object-data"}
    assert "--host" in api["command"] and "0.0.0.0" in api["command"]
    assert api["environment"]["FITQ_API_TOKENS"].startswith("${FITQ_API_TOKENS:?"), "public API needs tokens"


def test_compose_redis_requires_a_password():
    redis = compose()["services"]["redis"]
    command = redis["command"]
    assert command[command.index("--requirepass") + 1].startswith("${REDIS_PASSWORD:?")
    assert redis["environment"]["REDISCLI_AUTH"].startswith("${REDIS_PASSWORD:?"), "the healthcheck authenticates"
    assert "ports" not in redis, "Redis is reachable only inside the compose network"


def test_compose_uses_only_known_keys_and_valid_interpolation():
    known_service_keys = {"build", "image", "command", "environment", "ports", "volumes", "depends_on",
                          "healthcheck", "restart", "stop_signal", "stop_grace_period"}
    doc = compose()
    assert set(doc) <= {"name", "services", "volumes", "x-fitq-env"}
    for name, svc in doc["services"].items():
        assert set(svc) <= known_service_keys, name
    text = (ROOT / "docker-compose.yml").read_text()
    for expr in re.findall(r"\$\{([^}]*)\}", text):
        assert re.fullmatch(r"[A-Z_][A-Z0-9_]*((:?[-?+]).*)?", expr), expr


def test_dockerfile_installs_the_package_and_serves_on_all_interfaces():
    text = (ROOT / "Dockerfile").read_text()
    assert text.startswith("#") and "FROM python:3.11" in text
    for package in ("engine", "worker", "service"):
        assert f"COPY {package} ./{package}" in text
    assert "RUN pip install '.[s3]'" in text, "the object store needs boto3"
    assert 'CMD ["fitq", "serve", "--host", "0.0.0.0"' in text
