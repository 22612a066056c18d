"""Callbacks against Keras 3: the same scripted fit loop gives the same History, stops, weights, files and output."""
import contextlib
import http.server
import io
import json
import math
import socket
import threading
import urllib.parse
from pathlib import Path

import numpy as np
import pytest

from engine import callbacks, progbar

SCENARIOS = json.loads(
    (Path(__file__).resolve().parents[1] / "fixtures" / "keras" / "callbacks" / "scenarios.json").read_text()
)


class FakeClock:
    """time.time() that advances ``tick`` seconds per call (as in the fixture)."""

    def __init__(self, tick):
        self.now = 1000.0
        self.tick = tick

    def time(self):
        self.now += self.tick
        return self.now


class StandInOptimizer:
    """Keeps the learning rate as float32, as a Keras optimizer's variable does."""

    def __init__(self, learning_rate):
        self.learning_rate = learning_rate

    @property
    def learning_rate(self):
        return self._learning_rate

    @learning_rate.setter
    def learning_rate(self, value):
        self._learning_rate = np.float32(value)


class StandInModel:
    """What callbacks touch on a model: stop_training, weights, optimizer, save/save_weights."""

    def __init__(self, learning_rate=0.01):
        self.stop_training = False
        self.optimizer = StandInOptimizer(learning_rate)
        self.weights = [np.zeros(2, dtype="float32")]
        self.saved = []
        self.history = None

    def get_weights(self):
        return [w.copy() for w in self.weights]

    def set_weights(self, weights):
        self.weights = [np.array(w) for w in weights]

    def save_weights(self, filepath, overwrite=True):
        self.saved.append(["weights", filepath])

    def save(self, filepath, overwrite=True):
        self.saved.append(["model", filepath])


def scripted_logs(spec):
    n, steps = spec["epochs"], spec["steps"]

    def series(start, step, wiggle):
        return [round(start + step * e + wiggle * ((-1) ** e), 6) for e in range(n)]

    curves = {"loss": spec.get("loss") or series(1.0, -0.1, 0.02),
              "accuracy": spec.get("accuracy") or series(0.5, 0.05, 0.01)}
    curves.update({k: spec[k] for k in ("val_loss", "val_accuracy") if k in spec})
    epoch_logs = [{k: v[e] for k, v in curves.items()} for e in range(n)]
    batch_logs = [[{"loss": curves["loss"][e] + 0.05 * (steps - s) / steps,
                    "accuracy": curves["accuracy"][e] - 0.01 * (steps - s) / steps}
                   for s in range(steps)] for e in range(n)]
    if "nan_at" in spec:
        e, s = spec["nan_at"]
        batch_logs[e][s]["loss"] = float("nan")
    return epoch_logs, batch_logs


def run(spec):
    """Drives fitq's callbacks exactly as the fixture drove Keras's (and as Model.fit does)."""
    model = StandInModel(spec.get("learning_rate", 0.01))
    cbs_given = [callbacks.get(c) for c in spec["callbacks"]]
    epoch_logs, batch_logs = scripted_logs(spec)
    out = io.StringIO()
    lrs, epochs_run, logs = [], [], {}
    with contextlib.redirect_stdout(out):
        cbs = callbacks.CallbackList(cbs_given, add_history=True, add_progbar=spec["verbose"] != 0, model=model,
                                     verbose=spec["verbose"], epochs=spec["epochs"], steps=spec["steps"])
        cbs.on_train_begin()
        for epoch in range(spec["epochs"]):
            cbs.on_epoch_begin(epoch)
            for step in range(spec["steps"]):
                cbs.on_train_batch_begin(step)
                model.weights = [np.full(2, 10 * epoch + step, dtype="float32")]
                cbs.on_train_batch_end(step, dict(batch_logs[epoch][step]))
                if model.stop_training:
                    break
            logs = dict(epoch_logs[epoch])
            cbs.on_epoch_end(epoch, logs)
            epochs_run.append(epoch)
            lrs.append(float(model.optimizer.learning_rate))
            if model.stop_training:
                break
        cbs.on_train_end(logs)
    return model, {"history": model.history.history, "history_epoch": model.history.epoch,
                   "epochs_run": epochs_run, "final_weights": [w.tolist() for w in model.weights],
                   "learning_rates": lrs, "saved": model.saved, "stdout": out.getvalue()}


@pytest.mark.parametrize("name", sorted(SCENARIOS["scenarios"]))
def test_scenario_matches_keras(name, tmp_path, monkeypatch):
    scenario = SCENARIOS["scenarios"][name]
    expected = scenario["expected"]
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(progbar, "time", FakeClock(SCENARIOS["clock_tick"]))
    _, got = run(scenario["spec"])
    assert got["epochs_run"] == expected["epochs_run"]
    assert got["history_epoch"] == expected["history_epoch"]
    assert got["history"].keys() == expected["history"].keys()
    for key, values in expected["history"].items():
        assert got["history"][key] == pytest.approx(values, rel=1e-12, nan_ok=True), key
    assert got["final_weights"] == expected["final_weights"]
    assert got["learning_rates"] == pytest.approx(expected["learning_rates"], rel=1e-12)
    assert got["saved"] == expected["saved"]
    assert got["stdout"] == expected["stdout"]
    for path, text in expected["files"].items():
        with open(tmp_path / path, newline="") as f:
            assert f.read() == text


def run_loop(spec):
    """Drives an evaluate ("test") or predict loop's callbacks as the fixture did; returns stdout."""
    batches = spec["steps"] if spec["steps"] is not None else spec["batches"]
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        cbs = callbacks.CallbackList(None, add_progbar=True, model=StandInModel(), verbose=spec["verbose"],
                                     epochs=1, steps=spec["steps"])
        if spec["loop"] == "test":
            cbs.on_test_begin()
            for step in range(batches):
                cbs.on_test_batch_begin(step)
                cbs.on_test_batch_end(step, {"loss": 0.5 + 0.1 * step, "mae": 0.0005 * step})
            cbs.on_test_end({"loss": 0.75, "mae": 0.002})
        else:
            cbs.on_predict_begin()
            for step in range(batches):
                cbs.on_predict_batch_begin(step)
                cbs.on_predict_batch_end(step, {"outputs": np.zeros((2, 3))})
            cbs.on_predict_end()
    return out.getvalue()


@pytest.mark.parametrize("name", sorted(SCENARIOS["loops"]))
def test_evaluate_and_predict_progress_bars_match_keras(name, monkeypatch):
    loop = SCENARIOS["loops"][name]
    monkeypatch.setattr(progbar, "time", FakeClock(SCENARIOS["clock_tick"]))
    assert run_loop(loop["spec"]) == loop["stdout"]


def test_history_keeps_lists_across_fits_when_passed_again():
    history = callbacks.History()
    model = StandInModel()
    for run_logs in ([{"loss": 1.0}, {"loss": 0.5}], [{"loss": 0.25}]):
        cbs = callbacks.CallbackList([history], add_history=True, model=model, verbose=0, epochs=2, steps=1)
        cbs.on_train_begin()
        for epoch, logs in enumerate(run_logs):
            cbs.on_epoch_end(epoch, logs)
        cbs.on_train_end()
    assert model.history is history
    assert history.history == {"loss": [1.0, 0.5, 0.25]}
    assert history.epoch == [0]


def test_each_fit_gets_a_new_history_when_none_is_passed():
    model = StandInModel()
    first = callbacks.CallbackList(None, add_history=True, model=model)
    second = callbacks.CallbackList(None, add_history=True, model=model)
    assert model.history is second.callbacks[-1] is not first.callbacks[-1]


class Recorder(callbacks.Callback):
    def __init__(self, name, calls):
        super().__init__()
        self.name, self.calls = name, calls

    def on_batch_begin(self, batch, logs=None):
        self.calls.append((self.name, "on_batch_begin", batch))

    def on_batch_end(self, batch, logs=None):
        self.calls.append((self.name, "on_batch_end", batch, logs))

    def on_test_end(self, logs=None):
        self.calls.append((self.name, "on_test_end", logs))


def test_callback_list_calls_each_callback_in_order_and_keras_2_batch_hooks():
    calls = []
    model = StandInModel()
    cbs = callbacks.CallbackList([Recorder("a", calls), [Recorder("b", calls)]], model=model, verbose=0)
    assert [type(c).__name__ for c in cbs.callbacks] == ["Recorder", "Recorder"]
    assert all(c.model is model and c.params == {"verbose": 0} for c in cbs.callbacks)
    cbs.on_train_batch_begin(3)
    cbs.on_train_batch_end(3, {"loss": np.float32(0.5), "acc": 1})
    cbs.on_test_end({"b": 2.0, "a": np.array(1.5)})
    assert calls[:2] == [("a", "on_batch_begin", 3), ("b", "on_batch_begin", 3)]
    assert calls[2] == ("a", "on_batch_end", 3, {"acc": 1.0, "loss": 0.5})
    assert type(calls[2][3]["loss"]) is float
    assert list(calls[4][2]) == ["a", "b"]


def test_history_and_progbar_come_last():
    cbs = callbacks.CallbackList([callbacks.TerminateOnNaN()], add_history=True, add_progbar=True,
                                 model=StandInModel(), verbose=1, epochs=1, steps=2)
    assert [type(c).__name__ for c in cbs.callbacks] == ["TerminateOnNaN", "History", "ProgbarLogger"]


def test_non_callback_in_list_is_a_value_error():
    with pytest.raises(ValueError, match="Callback"):
        callbacks.CallbackList(["not a callback"])


@pytest.mark.parametrize("config, attrs", [
    ({"class_name": "EarlyStopping", "config": {"monitor": "val_loss", "patience": 3}},
     {"monitor": "val_loss", "patience": 3, "restore_best_weights": False}),
    ({"class_name": "ReduceLROnPlateau", "config": {"factor": 0.2, "epsilon": 0.01}},
     {"factor": 0.2, "min_delta": 0.01, "patience": 10}),
    ({"class_name": "TerminateOnNaN", "config": {}}, {"raise_error": False}),
    ({"class_name": "CSVLogger", "config": {"filename": "log.csv", "append": True}}, {"append": True, "sep": ","}),
    ({"class_name": "ModelCheckpoint", "config": {"filepath": "w.{epoch:02d}.h5", "period": 2}}, {"period": 2}),
])
def test_get_builds_data_only_callbacks(config, attrs):
    cb = callbacks.get(config)
    assert type(cb).__name__ == config["class_name"]
    for key, value in attrs.items():
        assert getattr(cb, key) == value


@pytest.mark.parametrize("config, match", [
    ({"class_name": "LambdaCallback", "config": {}}, "LambdaCallback"),
    ({"class_name": "EarlyStoping", "config": {}}, "EarlyStoping"),
    ({"class_name": "EarlyStopping", "config": {"patience": 1, "bogus": 2}}, "bogus"),
    ({"class_name": "ModelCheckpoint", "config": {"filepath": "x.h5", "save_freq": "sometimes"}}, "sometimes"),
    ("EarlyStopping", "EarlyStopping"),
])
def test_get_rejects_unknown_callbacks_and_arguments(config, match):
    with pytest.raises(ValueError, match=match):
        callbacks.get(config)


def test_reduce_lr_rejects_factor_of_one():
    with pytest.raises(ValueError, match="factor"):
        callbacks.ReduceLROnPlateau(factor=1.0)


def test_early_stopping_auto_mode_maximizes_accuracy():
    model = StandInModel()
    es = callbacks.EarlyStopping(monitor="val_accuracy", patience=1)
    es.set_model(model)
    es.on_train_begin()
    for epoch, acc in enumerate([0.5, 0.6, 0.7, 0.65]):
        es.on_epoch_end(epoch, {"val_accuracy": acc})
        if model.stop_training:
            break
    assert epoch == 3 and es.best == 0.7


def test_early_stopping_warns_when_monitor_missing():
    es = callbacks.EarlyStopping(monitor="val_loss")
    es.set_model(StandInModel())
    es.on_train_begin()
    with pytest.warns(UserWarning, match="val_loss"):
        es.on_epoch_end(0, {"loss": 1.0})


def test_learning_rate_scheduler_sets_rate_and_logs_it(capsys):
    model = StandInModel(learning_rate=0.1)
    sched = callbacks.LearningRateScheduler(lambda epoch, lr: lr * 0.5 if epoch else lr, verbose=1)
    cbs = callbacks.CallbackList([sched], add_history=True, model=model, verbose=0, epochs=3, steps=1)
    cbs.on_train_begin()
    for epoch in range(3):
        cbs.on_epoch_begin(epoch)
        cbs.on_epoch_end(epoch, {"loss": 1.0})
    cbs.on_train_end()
    assert model.history.history["learning_rate"] == pytest.approx([0.1, 0.05, 0.025], rel=1e-6)
    assert "Epoch 2: LearningRateScheduler setting learning rate to 0.05" in capsys.readouterr().out


def test_learning_rate_scheduler_accepts_keras_2_one_argument_schedule():
    model = StandInModel()
    sched = callbacks.LearningRateScheduler(lambda epoch: 0.5 / (epoch + 1))
    sched.set_model(model)
    sched.on_epoch_begin(1)
    assert float(model.optimizer.learning_rate) == pytest.approx(0.25)
    bad = callbacks.LearningRateScheduler(lambda epoch, lr: "fast")
    bad.set_model(StandInModel())
    with pytest.raises(ValueError, match="float"):
        bad.on_epoch_begin(0)


def test_terminate_on_nan_can_raise():
    cb = callbacks.TerminateOnNaN(raise_error=True)
    cb.set_model(StandInModel())
    with pytest.raises(RuntimeError, match="NaN or Inf loss"):
        cb.on_train_batch_end(4, {"loss": math.inf})


def test_lambda_callback_replaces_hooks():
    seen = []
    cb = callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: seen.append((epoch, logs["loss"])),
                                  on_batch_end=lambda batch, logs: seen.append(batch))
    cbs = callbacks.CallbackList([cb], model=StandInModel())
    cbs.on_train_batch_end(7, {"loss": 2.0})
    cbs.on_epoch_end(1, {"loss": 0.5})
    assert seen == [7, (1, 0.5)]


def test_csv_logger_append_writes_header_once(tmp_path):
    path = tmp_path / "log.csv"
    for _ in range(2):
        cb = callbacks.CSVLogger(str(path), append=True)
        cb.on_train_begin()
        cb.on_epoch_end(0, {"loss": 1.5, "val_loss": 2.0})
        cb.on_train_end()
    assert path.read_text().splitlines() == ["epoch,loss,val_loss", "0,1.5,2.0", "0,1.5,2.0"]


def test_model_checkpoint_names_a_missing_log_key():
    cb = callbacks.ModelCheckpoint("w.{epoch:02d}-{val_acc:.2f}.h5")
    cb.set_model(StandInModel())
    with pytest.raises(KeyError, match="val_acc"):
        cb.on_epoch_end(0, {"loss": 1.0})


def test_progbar_unknown_target_counts_up(monkeypatch, capsys):
    monkeypatch.setattr(progbar, "time", FakeClock(0.1))
    bar = progbar.Progbar(target=None, verbose=1)
    bar.update(3, [("loss", 2.0)])
    out = capsys.readouterr().out
    assert "      3/Unknown" in out and "loss: 2.0000" in out


def test_fit_with_reduce_lr_and_early_stopping_matches_keras():
    """A real fit: History (with learning_rate), the stop, the restored weights and the messages are Keras's."""
    from engine import Input, Sequential, layers, optimizers

    folder = Path(__file__).resolve().parents[1] / "fixtures" / "keras" / "callbacks"
    arrays = np.load(folder / "fit.npz")
    expected = json.loads((folder / "fit.json").read_text())
    model = Sequential([Input((4,)), layers.Dense(3, activation="tanh"), layers.Dense(1)])
    model.compile(optimizer=optimizers.SGD(learning_rate=0.1), loss="mse")
    model.set_weights([arrays[f"initial_{i}"] for i in range(expected["num_weights"])])
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        history = model.fit(arrays["x"], arrays["y"], validation_data=(arrays["x_val"], arrays["y_val"]),
                            callbacks=[callbacks.get(c) for c in expected["config"]["callbacks"]],
                            **expected["config"]["fit"])
    assert history.epoch == expected["epoch"]
    assert history.history.keys() == expected["history"].keys()
    for key, values in expected["history"].items():
        assert history.history[key] == pytest.approx(values, rel=1e-5), key
    assert out.getvalue() == expected["stdout"]
    assert float(model.optimizer.learning_rate) == pytest.approx(0.025, rel=1e-6)
    for i, w in enumerate(model.get_weights()):
        np.testing.assert_allclose(w, arrays[f"final_{i}"], rtol=1e-5, atol=1e-6)


class _Collector(http.server.BaseHTTPRequestHandler):
    received = []

    def do_POST(self):  # noqa: N802 - the http.server hook name
        body = self.rfile.read(int(self.headers["Content-Length"])).decode()
        type(self).received.append((self.path, self.headers.get("Content-Type"), body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture()
def collector():
    server = http.server.HTTPServer(("127.0.0.1", 0), _Collector)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _Collector.received = []
    yield f"http://127.0.0.1:{server.server_address[1]}", _Collector.received
    server.shutdown()
    server.server_close()


def test_remote_monitor_posts_each_epoch_as_form_field_or_json(collector):
    root, received = collector
    callbacks.RemoteMonitor(root=root).on_epoch_end(0, {"loss": np.float32(0.5)})
    callbacks.RemoteMonitor(root=root, path="/events", send_as_json=True).on_epoch_end(1, {"loss": 0.25})
    (path0, type0, body0), (path1, type1, body1) = received
    assert path0 == "/publish/epoch/end/" and type0 == "application/x-www-form-urlencoded"
    assert json.loads(urllib.parse.parse_qs(body0)["data"][0]) == {"epoch": 0, "loss": 0.5}
    assert path1 == "/events" and type1 == "application/json" and json.loads(body1) == {"epoch": 1, "loss": 0.25}


def test_remote_monitor_warns_when_server_is_unreachable():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.warns(UserWarning, match="Could not reach RemoteMonitor"):
        callbacks.RemoteMonitor(root=f"http://127.0.0.1:{port}").on_epoch_end(0, {"loss": 1.0})
