"""The dashboard in Chromium against a live ``fitq serve`` with real workers: a job appears on ``/``, its page
has a URL that survives back / forward / reload, its chart gains a point per epoch without a reload, a
running job is canceled with its button, two jobs are compared, a job is submitted from the form, datasets
are uploaded and deleted, and no two visible elements overlap at 1024, 1400 and 1920 px or on a phone."""
from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

from tests.browser.conftest import PHONE, WIDTHS
from tests.service.helpers import dense_model_json, dense_spec

LAYOUT = (Path(__file__).parent / "layout.js").read_text()


def wait(driver, predicate, timeout: float = 30, what: str = "the page"):
    return WebDriverWait(driver, timeout, poll_frequency=0.05).until(lambda d: predicate(d), message=f"waiting for {what}")


def css(driver, selector: str):
    return driver.find_elements(By.CSS_SELECTOR, selector)


def click(driver, selector: str) -> None:
    """Clicks the first match, looking it up again if the page redrew it in between."""
    for _ in range(20):
        try:
            css(driver, selector)[0].click()
            return
        except (StaleElementReferenceException, IndexError):
            time.sleep(0.05)
    raise AssertionError(f"could not click {selector}")


def open_page(driver, server, path: str, ready: str) -> None:
    driver.get(server.url + path)
    wait(driver, lambda d: css(d, ready), what=ready)


def text_of(driver, selector: str) -> str:
    """The text of the first match, read in one step (the page redraws parts of itself as events arrive)."""
    return driver.execute_script("const e = document.querySelector(arguments[0]); return e ? e.innerText : ''",
                                 selector)


def status_of(driver) -> str:
    return text_of(driver, "#job-status .badge")


def chart_points(driver, metric: str) -> int:
    return int(driver.execute_script(
        "const c = document.querySelector(`figure.chart[data-metric='${arguments[0]}']`);"
        "return c ? c.dataset.points : 0", metric))


def assert_no_overlap(driver, where: str) -> None:
    found = driver.execute_script(LAYOUT)
    assert found["count"] > 20, where
    assert not found["overlaps"] and not found["spills"], (where, found)


def test_a_new_job_appears_and_its_page_has_a_url(driver, server, client, dataset, shot, tmp_path):
    driver.set_window_size(1400, 1000)
    open_page(driver, server, "/", "#job-rows")
    job = client.submit({**dense_spec(dataset, epochs=3), "name": "appears"})
    row = f'tr[data-id="{job["id"]}"]'
    wait(driver, lambda d: css(d, row), what="the new job's row")
    wait(driver, lambda d: "succeeded" in text_of(d, row), what="the row to show success")
    shot("jobs-list")
    click(driver, f"{row} a.job-link")
    wait(driver, lambda d: d.current_url.endswith(f"/jobs/{job['id']}") and status_of(d) == "succeeded")
    assert css(driver, "#job-title")[0].text == "appears"
    driver.back()
    wait(driver, lambda d: d.current_url == server.url + "/" and css(d, row), what="back to the list")
    driver.forward()
    wait(driver, lambda d: d.current_url.endswith(f"/jobs/{job['id']}") and status_of(d) == "succeeded",
         what="forward to the job")
    driver.refresh()
    wait(driver, lambda d: status_of(d) == "succeeded" and chart_points(d, "loss") == 3, what="the reloaded job page")
    rows = css(driver, "#history table.history tbody tr")
    assert [r.find_elements(By.TAG_NAME, "td")[0].text for r in rows] == ["1", "2", "3"]
    summary = css(driver, "#summary")[0].text
    assert "Total params: 49" in summary
    assert len(css(driver, "svg.layer-graph g.node")) == 3 and len(css(driver, "svg.layer-graph path.edge")) == 2
    shot("job-page")

    # the History (CSV, JSON), the model and the weights download from the page
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    driver.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
    for button in ("#csv", "#json", "#model", "#weights"):
        click(driver, button)
    names = {f"{job['id']}-history.csv", f"{job['id']}-history.json", f"{job['id']}-model.json",
             f"{job['id']}-weights.npz"}
    wait(driver, lambda d: {p.name for p in downloads.iterdir()} == names, what="the four downloads")
    history = client.history(job["id"])
    csv_rows = (downloads / f"{job['id']}-history.csv").read_text().splitlines()
    assert csv_rows[0] == "epoch," + ",".join(history["history"]) and len(csv_rows) == 4
    assert float(csv_rows[3].split(",")[1]) == history["history"]["loss"][2]
    assert json.loads((downloads / f"{job['id']}-history.json").read_text()) == history
    assert json.loads((downloads / f"{job['id']}-model.json").read_text()) == client.model(job["id"])
    with np.load(downloads / f"{job['id']}-weights.npz") as weights:
        assert [weights[k].shape for k in sorted(weights.files)] == [w.shape for w in client.weights(job["id"])]


def test_chart_gains_a_point_per_epoch_without_reload(driver, server, client, slow_dataset, shot):
    driver.set_window_size(1400, 1000)
    job = client.submit({**dense_spec(slow_dataset, epochs=4, batch_size=1), "name": "live"})
    open_page(driver, server, f"/jobs/{job['id']}", "#job-status .badge")
    driver.execute_script("window.__sameDocument = true")
    seen, running_seen = [], False
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        points = chart_points(driver, "loss")
        if not seen or points != seen[-1]:
            seen.append(points)
        running_seen |= "running" in text_of(driver, 'figure.chart[data-metric="loss"] .u-legend')
        if points == 4 and status_of(driver) == "succeeded":
            break
        time.sleep(0.05)
    assert driver.execute_script("return window.__sameDocument === true"), "the page was reloaded"
    assert seen[-1] == 4 and status_of(driver) == "succeeded", seen
    assert seen == sorted(seen) and set(seen) - {0} == {1, 2, 3, 4}, seen  # one point after another
    assert running_seen, "the current epoch's running loss was never drawn"
    reads = driver.execute_script("return performance.getEntriesByType('resource').map(e => new URL(e.name).pathname)")
    assert reads.count(f"/v1/jobs/{job['id']}/events") == 1  # one stream pushed every epoch and batch
    assert reads.count(f"/v1/jobs/{job['id']}") <= 4, reads  # the record is read on status changes, not polled
    shot("job-live-finished")

    chart = css(driver, 'figure.chart[data-metric="loss"]')[0]
    overlay = chart.find_element(By.CSS_SELECTOR, ".u-over")
    ActionChains(driver).move_to_element_with_offset(overlay, -overlay.size["width"] // 2 + 3, 0).perform()
    wait(driver, lambda d: chart.find_element(By.CSS_SELECTOR, ".u-legend .u-series:first-child .u-value").text == "1",
         what="the hover legend to show epoch 1")
    first_loss = client.history(job["id"])["history"]["loss"][0]
    values = [e.text for e in chart.find_elements(By.CSS_SELECTOR, ".u-legend .u-value")]
    assert f"{first_loss:.4f}" in values, values

    css(driver, '[data-control="log"]')[0].click()
    wait(driver, lambda d: css(d, 'figure.chart[data-metric="loss"]')[0].get_attribute("data-scale") == "log",
         what="the log scale")
    driver.execute_script("""const r = document.querySelector('[data-control="smoothing"]');
        r.value = '0.6'; r.dispatchEvent(new Event('input'));""")
    wait(driver, lambda d: "loss (raw)" in text_of(d, 'figure.chart[data-metric="loss"] .u-legend'),
         what="the smoothed and raw series")
    shot("job-log-smoothed")
    css(driver, '[data-control="log"]')[0].click()
    driver.execute_script("""const r = document.querySelector('[data-control="smoothing"]');
        r.value = '0'; r.dispatchEvent(new Event('input'));""")


def test_cancel_a_running_job_with_its_button(driver, server, client, slow_dataset, shot):
    driver.set_window_size(1400, 1000)
    job = client.submit({**dense_spec(slow_dataset, epochs=1000, batch_size=1), "name": "to-cancel"})
    open_page(driver, server, f"/jobs/{job['id']}", "#job-status .badge")
    wait(driver, lambda d: status_of(d) == "running" and "batch" in text_of(d, "#progress-text"), timeout=60,
         what="the job to run")
    click(driver, "#cancel")
    wait(driver, lambda d: status_of(d) == "canceled", timeout=30, what="the canceled status")
    assert driver.execute_script("return document.querySelector('#cancel').hidden")
    assert client.job(job["id"])["status"] == "canceled"
    wait(driver, lambda d: "cancel requested" in text_of(d, "#events"), what="the cancel in the events")
    shot("job-canceled")


def test_a_failed_job_shows_its_error(driver, server, client, dataset, shot):
    driver.set_window_size(1400, 1000)
    spec = dense_spec(dataset, epochs=3)
    spec["compile"]["optimizer"] = {"class_name": "SGD", "config": {"learning_rate": 1e30}}
    job = client.submit({**spec, "name": "diverges"})
    open_page(driver, server, f"/jobs/{job['id']}", "#job-status .badge")
    wait(driver, lambda d: status_of(d) == "failed" and text_of(d, "#job-error"), timeout=60, what="the error")
    error = client.job(job["id"])["error"]
    assert text_of(driver, "#job-error") == f"{error['type']}: {error['message']}"
    wait(driver, lambda d: "failed" in text_of(d, "#events"), what="the failure in the events")
    shot("job-failed")


def finished(client, spec: dict) -> dict:
    job = client.submit(spec)
    done = client.wait(job["id"], timeout=120)
    assert done["status"] == "succeeded", done["error"]
    return done


@pytest.fixture(scope="module")
def two_jobs(client, dataset):
    a = finished(client, {**dense_spec(dataset, epochs=4, validation_split=0.25), "name": "adam-16"})
    b_spec = dense_spec(dataset, epochs=6, batch_size=32, validation_split=0.25)
    b_spec["compile"]["optimizer"] = {"class_name": "SGD", "config": {"learning_rate": 0.05}}
    b = finished(client, {**b_spec, "name": "sgd-32"})
    return a, b


def test_compare_two_jobs(driver, server, two_jobs, shot):
    a, b = two_jobs
    driver.set_window_size(1400, 1000)
    open_page(driver, server, "/", f'tr[data-id="{b["id"]}"]')
    for job in (a, b):
        click(driver, f'tr[data-id="{job["id"]}"] input[type=checkbox]')
    click(driver, "#compare")
    wait(driver, lambda d: "/compare?jobs=" in d.current_url and css(d, "table.diff"), what="the comparison")
    assert driver.current_url.endswith(f"/compare?jobs={a['id']},{b['id']}")
    wait(driver, lambda d: chart_points(d, "loss") == 6, what="both jobs' curves")
    legend = css(driver, 'figure.chart[data-metric="loss"] .u-legend')[0].text
    for label in ("adam-16 loss", "adam-16 val_loss", "sgd-32 loss", "sgd-32 val_loss"):
        assert label in legend
    rows = {r.find_element(By.TAG_NAME, "th").text: [c.text for c in r.find_elements(By.TAG_NAME, "td")]
            for r in css(driver, "table.diff tbody tr.differs")}
    assert rows["compile.optimizer.class_name"] == ["Adam", "SGD"]
    assert rows["compile.optimizer.config.learning_rate"] == ["0.01", "0.05"]
    assert rows["fit.batch_size"] == ["16", "32"] and rows["fit.epochs"] == ["4", "6"]
    assert "compile.loss" not in rows
    css(driver, "#show-all")[0].click()
    wait(driver, lambda d: "compile.loss" in css(d, "table.diff")[0].text, what="the identical rows")
    shot("compare")
    driver.refresh()
    wait(driver, lambda d: css(d, "table.diff") and chart_points(d, "loss") == 6, what="the reloaded comparison")


def test_compare_follows_a_running_job(driver, server, client, two_jobs, slow_dataset):
    a, _ = two_jobs
    live = client.submit({**dense_spec(slow_dataset, epochs=3, batch_size=1), "name": "still-running"})
    driver.set_window_size(1400, 1000)
    open_page(driver, server, f"/compare?jobs={a['id']},{live['id']}", "table.diff")
    driver.execute_script("window.__sameDocument = true")
    def epochs_drawn() -> int:
        counts = driver.execute_script(
            "const c = document.querySelector('figure.chart[data-metric=\"loss\"]'); return c ? c.dataset.counts : '{}'")
        return json.loads(counts or "{}").get("still-running loss", 0)

    seen = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ended = text_of(driver, "table.diff").count("succeeded") == 2
        n = epochs_drawn()  # read after the check, so the last sample is of the finished job
        if not seen or n != seen[-1]:
            seen.append(n)
        if ended:
            break
        time.sleep(0.05)
    assert text_of(driver, "table.diff").count("succeeded") == 2, "the followed job's end did not reach the page"
    assert seen[-1] == 3 and len(set(seen) - {0}) >= 2, seen  # epochs arrived one by one on the open page
    assert len(client.history(live["id"])["epoch"]) == 3
    assert driver.execute_script("return window.__sameDocument === true"), "the page was reloaded"
    values = driver.execute_script("""const u = document.querySelector('figure.chart[data-metric="loss"]');
        return u.dataset.points""")
    assert values == "4"  # the longest of the two: adam-16 ran 4 epochs, the followed job 3


def test_submit_a_job_from_the_form(driver, server, client, dataset, shot, tmp_path):
    driver.set_window_size(1400, 1000)
    open_page(driver, server, "/submit", "#submit-form")
    model = dense_model_json()
    (tmp_path / "model.json").write_text(json.dumps(model))
    css(driver, "#model-file")[0].send_keys(str(tmp_path / "model.json"))  # the model from a file
    wait(driver, lambda d: text_of(d, "#model-note").startswith("Sequential"), what="the model file to load")
    assert json.loads(driver.execute_script("return document.querySelector('textarea[name=model]').value")) == model
    form = css(driver, "#submit-form")[0]
    form.find_element(By.NAME, "name").send_keys("from-the-form")
    Select(form.find_element(By.NAME, "x:")).select_by_value(f"{dataset}/x")
    Select(form.find_element(By.NAME, "y:")).select_by_value(f"{dataset}/y")
    Select(form.find_element(By.NAME, "optimizer")).select_by_visible_text("RMSprop")
    for name, value in (("learning_rate", "0.005"), ("epochs", "3"), ("batch_size", "8"), ("metrics", "mae"),
                        ("validation_split", "0.25")):
        box = form.find_element(By.NAME, name)
        box.clear()
        box.send_keys(value)
    assert '"class_name": "RMSprop"' in css(driver, "#spec-preview")[0].text
    shot("submit-form")
    css(driver, "#submit-button")[0].click()
    wait(driver, lambda d: "/jobs/job_" in d.current_url, what="the new job's page")
    job_id = driver.current_url.rsplit("/", 1)[1]
    wait(driver, lambda d: status_of(d) == "succeeded" and chart_points(d, "loss") == 3, timeout=60,
         what="the submitted job to finish")
    spec = client.http.get(f"/v1/jobs/{job_id}/spec").json()
    rest = client.http.post("/v1/jobs", json={
        "name": "from-the-form", "model": model,
        "compile": {"optimizer": {"class_name": "RMSprop", "config": {"learning_rate": 0.005}}, "loss": "mse",
                    "metrics": ["mae"]},
        "data": {"x": f"{dataset}/x", "y": f"{dataset}/y"},
        "fit": {"epochs": 3, "batch_size": 8, "shuffle": True, "validation_split": 0.25}}).json()
    assert client.http.get(f"/v1/jobs/{rest['id']}/spec").json() == spec  # the same spec as over REST

    open_page(driver, server, "/submit", "#submit-form")
    driver.execute_script("""const t = document.querySelector('textarea[name=model]');
        t.value = '{"class_name": "Sequential", "config": {"layers": [{"class_name": "NoSuchLayer", "config": {}}]}}';
        t.dispatchEvent(new Event('input', {bubbles: true}));""")
    css(driver, "#submit-button")[0].click()
    error = wait(driver, lambda d: [e for e in css(d, "#submit-error") if e.is_displayed()], what="the error")[0]
    assert error.text.startswith("model") and "NoSuchLayer" in error.text, error.text
    assert driver.current_url.endswith("/submit")


def test_datasets_upload_and_delete(driver, server, client, tmp_path, shot):
    driver.set_window_size(1400, 1000)
    path = tmp_path / "pairs.npz"
    np.savez(path, features=np.zeros((10, 3), "float32"), labels=np.ones((10,), "int64"))
    open_page(driver, server, "/datasets", "#upload-file")
    css(driver, "#upload-file")[0].send_keys(str(path))
    css(driver, "#upload button[type=submit]")[0].click()
    wait(driver, lambda d: "pairs.npz" in css(d, "#dataset-rows")[0].text, what="the uploaded dataset")
    row = next(r for r in css(driver, "#dataset-rows tr") if "pairs.npz" in r.text)
    assert "features (10, 3) float32" in row.text and "labels (10) int64" in row.text
    ds_id = row.get_attribute("data-id")
    shot("datasets")
    row.find_element(By.CSS_SELECTOR, "button.delete").click()
    driver.switch_to.alert.accept()
    wait(driver, lambda d: not css(d, f'tr[data-id="{ds_id}"]'), what="the deleted dataset to go")
    assert ds_id not in [d["id"] for d in client.datasets()]


def test_no_overlaps_from_1024_to_1920_px_and_on_a_phone(driver, server, two_jobs, dataset, shot):
    a, b = two_jobs
    pages = {"jobs": ("/", "#job-rows tr.job-row"), "job": (f"/jobs/{a['id']}", "svg.layer-graph"),
             "datasets": ("/datasets", "#dataset-rows tr[data-id]"),
             "compare": (f"/compare?jobs={a['id']},{b['id']}", "table.diff"), "submit": ("/submit", "#spec-preview")}
    sizes = [(w, 900) for w in WIDTHS] + [PHONE]
    for width, height in sizes:
        driver.set_window_size(width, height)
        for name, (path, ready) in pages.items():
            open_page(driver, server, path, ready)
            if name in ("job", "compare"):
                wait(driver, lambda d: css(d, "figure.chart .uplot"), what="the charts")
            time.sleep(0.2)  # charts take their final width on the next frame
            assert_no_overlap(driver, f"{name} at {width}x{height}")
            if (width, name) in ((1024, "job"), (1920, "job"), (1024, "jobs"), (PHONE[0], "job"), (1920, "compare")):
                shot(f"layout-{name}-{width}")


def test_docs_and_redoc_render_from_fitq_alone(driver, server, shot):
    driver.set_window_size(1400, 1000)
    driver.get(server.url + "/docs")
    wait(driver, lambda d: len(css(d, ".swagger-ui .opblock")) > 10, what="Swagger UI's operations")
    assert "/v1/jobs/{job_id}/events" in text_of(driver, ".swagger-ui")
    shot("docs", full=False)
    driver.get(server.url + "/redoc")
    wait(driver, lambda d: "/v1/jobs/{job_id}/history" in text_of(d, "body"), what="ReDoc's operations")
    shot("redoc", full=False)
    loaded = driver.execute_script("return performance.getEntriesByType('resource')"
                                   ".map(e => [new URL(e.name).origin, e.responseStatus, e.transferSize])")
    assert {origin for origin, status, size in loaded if status or size} == {server.url}, loaded  # all from fitq
    outside = [origin for origin, status, size in loaded if origin != server.url]
    blocked = [e["message"] for e in driver.get_log("browser") if "Content Security Policy" in e["message"]]
    assert outside == ["https://cdn.redoc.ly"] and len(blocked) == 1 and "cdn.redoc.ly" in blocked[0], (loaded, blocked)


def test_with_api_tokens_the_dashboard_sends_the_token_and_follows_events(driver, chromium, tmp_path, shot):
    from service.client import Client
    from tests.browser.conftest import Server

    guarded = Server(tmp_path / "data", workers=1, FITQ_API_TOKENS='{"s3cret": "team"}')
    try:
        with Client(guarded.url, "s3cret") as client:
            rng = np.random.default_rng(5)
            x = rng.normal(size=(600, 4)).astype("float32")
            ds = client.upload_arrays({"x": x, "y": x[:, :1] * 2})["id"]
            job = client.submit({**dense_spec(ds, epochs=3, batch_size=1), "name": "guarded"})
            driver.set_window_size(1400, 1000)
            driver.get(guarded.url + f"/jobs/{job['id']}")
            wait(driver, lambda d: "Authorization: Bearer" in text_of(d, "#view"), what="the missing-token error")
            box = css(driver, "#token")[0]
            box.send_keys("s3cret")
            box.send_keys("\n")
            driver.execute_script("document.querySelector('#token').dispatchEvent(new Event('change'))")
            wait(driver, lambda d: status_of(d) in ("queued", "running", "succeeded"), what="the job with the token")
            seen = set()
            wait(driver, lambda d: seen.add(chart_points(d, "loss")) or status_of(d) == "succeeded", timeout=60,
                 what="the job to finish on the page")
            wait(driver, lambda d: chart_points(d, "loss") == 3, what="its three epochs")
            assert len(seen - {0}) >= 2, seen  # epochs pushed by the stream, which carried the token
            shot("guarded-job")
    finally:
        driver.execute_script("localStorage.removeItem('fitq-token')")
        guarded.stop()


def test_the_overlap_check_sees_overlaps_and_spills(driver):
    driver.set_window_size(1024, 800)
    driver.get("data:text/html,<body style='margin:0'>"
               + "".join(f"<p>line {i}</p>" for i in range(20))
               + "<div id='a' style='position:absolute;top:10px;left:10px;width:100px;height:50px'>a</div>"
               + "<div id='b' style='position:absolute;top:40px;left:60px;width:100px;height:50px'>b</div>"
               + "<div id='c' style='width:50px;white-space:nowrap'>a line much wider than its box</div></body>")
    found = driver.execute_script(LAYOUT)
    assert any(o.startswith('div#a "a" overlaps div#b "b"') for o in found["overlaps"]), found
    assert any(s.startswith("div#c") for s in found["spills"]), found


def test_compare_shows_a_sweeps_trials_ranked(driver, server, client, dataset, shot):
    lr = "/compile/optimizer/config/learning_rate"
    body = {"name": "lr-sweep", "base": {**dense_spec(dataset, epochs=2), "name": "trial"}, "metric": "loss",
            "parameters": {lr: {"values": [0.05, 0.0, 0.01]}}}
    answer = client.http.post("/v1/sweeps", json=body)
    assert answer.status_code == 202, answer.text
    sweep = answer.json()
    for trial in sweep["trials"]:
        client.wait(trial["id"], timeout=90)
    driver.set_window_size(1400, 1000)
    open_page(driver, server, f"/compare?sweep={sweep['id']}", "table.ranking tbody tr")
    ranked = client.http.get(f"/v1/sweeps/{sweep['id']}").json()["trials"]
    rows = css(driver, "table.ranking tbody tr")
    assert [r.get_attribute("data-id") for r in rows] == [t["id"] for t in ranked]
    assert "lr-sweep" in text_of(driver, "h1")
    assert rows[-1].find_elements(By.TAG_NAME, "td")[-1].text == "0"  # the frozen trial ranks last
    wait(driver, lambda d: chart_points(d, "loss") == 2, what="the trials' curves")
    wait(driver, lambda d: css(d, "table.diff tbody tr.differs"), what="the spec differences")
    shot("compare-sweep")
