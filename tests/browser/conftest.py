"""Browser tests: Debian's Chromium driven by Selenium through chromium-driver, against a live ``fitq serve``
(embedded Redis, real worker processes). They skip, saying why, where Chromium or its driver is missing."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
import pytest

from tests.conftest import FAST_TIMINGS, ROOT
from tests.service.helpers import regression_arrays
from worker.redis_server import free_port

BROWSERS = ("chromium", "chromium-browser", "google-chrome")
DRIVERS = ("chromedriver", "chromium-driver")
WIDTHS = (1024, 1400, 1920)
PHONE = (390, 844)


def find(names, extra=()) -> str | None:
    for name in names:
        path = shutil.which(name)
        if path:
            return path
    return next((p for p in extra if Path(p).is_file()), None)


@pytest.fixture(scope="session")
def chromium() -> tuple[str, str]:
    """Paths of Chromium and its WebDriver; the browser tests skip (with how to install them) without them."""
    browser = find(BROWSERS, ("/usr/lib/chromium/chromium",))
    driver = find(DRIVERS, ("/usr/lib/chromium/chromedriver",))
    if not browser or not driver:
        pytest.skip("browser tests need Chromium and its driver (Debian: apt-get install chromium chromium-driver); "
                    f"found browser={browser}, driver={driver}")
    return browser, driver


class Server:
    """``fitq serve --workers N`` in a subprocess, with its own store and embedded Redis."""

    def __init__(self, data_dir: Path, workers: int = 2, **env_vars: str):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "FITQ_API_TOKENS")}
        env.update(FAST_TIMINGS, FITQ_DATA_DIR=str(data_dir), PYTHONPATH=str(ROOT), FITQ_PROGRESS_INTERVAL="0.1",
                   **env_vars)
        data_dir.parent.mkdir(parents=True, exist_ok=True)
        self.log = open(data_dir.parent / f"serve-{self.port}.log", "wb")
        self.proc = subprocess.Popen([sys.executable, "-m", "service.cli", "serve", "--port", str(self.port),
                                      "--workers", str(workers), "--log-level", "warning"], env=env, cwd=ROOT,
                                     stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 90
        while True:
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).json()["workers"] >= workers:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or self.proc.poll() is not None:
                self.stop()
                raise RuntimeError("fitq serve did not start: " + Path(self.log.name).read_text())
            time.sleep(0.1)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.log.close()


@pytest.fixture(scope="module")
def server(chromium, tmp_path_factory):
    served = Server(tmp_path_factory.mktemp("browser") / "data")
    yield served
    served.stop()


@pytest.fixture(scope="module")
def client(server):
    from service.client import Client

    with Client(server.url) as c:
        yield c


@pytest.fixture(scope="module")
def dataset(client) -> str:
    """A small regression dataset: arrays ``x`` (n, 4) and ``y`` (n, 1)."""
    return client.upload_arrays(regression_arrays(n=64), name="regression.npz")["id"]


@pytest.fixture(scope="module")
def slow_dataset(client) -> str:
    """Enough samples that an epoch in batches of one takes about a second."""
    rng = np.random.default_rng(3)
    x = rng.normal(size=(1000, 4)).astype("float32")
    return client.upload_arrays({"x": x, "y": (x @ rng.normal(size=(4, 1))).astype("float32")}, name="slow.npz")["id"]


@pytest.fixture(scope="module")
def driver(chromium):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    browser, chromedriver = chromium
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--hide-scrollbars",
                "--window-size=1400,1000", "--force-device-scale-factor=1", "--lang=en-US"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    d = webdriver.Chrome(service=Service(chromedriver), options=options)
    d.set_page_load_timeout(30)
    yield d
    d.quit()


@pytest.fixture
def shot(driver, request, tmp_path):
    """``shot(name)`` saves a screenshot of the whole page (``full=False``: of the window) in the test's
    output directory (and under ``$FITQ_SCREENSHOTS`` when set); returns its path."""
    def save(name: str, full: bool = True) -> Path:
        path = tmp_path / f"{name}.png"
        if full:
            original = driver.get_window_size()
            height = driver.execute_script("return Math.max(document.documentElement.scrollHeight, innerHeight)")
            driver.set_window_size(original["width"], min(int(height) + 140, 6000))
            time.sleep(0.15)
            driver.save_screenshot(str(path))
            driver.set_window_size(original["width"], original["height"])
        else:
            driver.save_screenshot(str(path))
        extra = os.environ.get("FITQ_SCREENSHOTS")
        if extra:
            Path(extra).mkdir(parents=True, exist_ok=True)
            shutil.copy(path, Path(extra) / path.name)
        return path

    return save
