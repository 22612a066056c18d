"""engine.optimizers against Keras 3.15: weights and optimizer state after 5 apply_gradients steps."""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from engine import optimizers
from engine.variables import Variable

FIXTURES = Path(__file__).parent.parent / "fixtures" / "keras" / "losses_metrics_optimizers"
CASES = json.loads((FIXTURES / "optimizers.json").read_text())
ARRAYS = np.load(FIXTURES / "optimizers.npz", allow_pickle=False)
NAMES = json.loads((FIXTURES / "names.json").read_text())
STEPS = 5


def _case_id(case):
    cfg = case["optimizer"]["config"]
    extras = [k for k in ("clipnorm", "clipvalue", "global_clipnorm", "weight_decay", "use_ema",
                          "gradient_accumulation_steps", "loss_scale_factor", "amsgrad", "nesterov", "centered")
              if cfg.get(k)]
    lr = cfg["learning_rate"]
    sched = lr["class_name"] if isinstance(lr, dict) else ""
    return "-".join([case["id"], case["optimizer"]["class_name"], sched, *extras]).replace("--", "-")


def _variables():
    return [Variable(ARRAYS[f"init/{i}"].copy(), f"w{i}") for i in range(2)]


def _run(optimizer, variables, steps=STEPS):
    for s in range(steps):
        for i, var in enumerate(variables):
            var.grad = ARRAYS[f"grads/{s}/{i}"]
        optimizer.apply(variables)


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_weights_and_state_match_keras_after_five_steps(case):
    opt = optimizers.get(case["optimizer"])
    variables = _variables()
    _run(opt, variables)
    for i, var in enumerate(variables):
        np.testing.assert_allclose(var.value, ARRAYS[f"{case['id']}/var/{i}"], rtol=1e-6, atol=1e-6)
    assert opt.iterations == case["iterations"]
    assert opt.learning_rate == pytest.approx(case["learning_rate"], rel=1e-6)
    # Keras names Nadam's unnamed u_product "variable", uniquified per session ("variable_1", ...).
    assert opt.variable_names == [re.sub(r"^variable_\d+$", "variable", n) for n in case["slot_names"]]
    for j, value in enumerate(opt.variables):
        np.testing.assert_allclose(value, ARRAYS[f"{case['id']}/slot/{j}"], rtol=1e-6, atol=1e-6,
                                   err_msg=case["slot_names"][j])


def test_slots_are_created_once_and_updated_in_place():
    opt = optimizers.Adam()
    variables = _variables()
    kernel = variables[0].value
    _run(opt, variables, steps=1)
    momentum = opt.slot("momentum", variables[0])
    _run(opt, variables, steps=2)
    assert opt.slot("momentum", variables[0]) is momentum
    assert variables[0].value is kernel


def test_variables_without_gradient_or_not_trainable_are_left_alone():
    w, frozen, unused = (Variable(np.ones(3, dtype="float32"), n) for n in ("w", "frozen", "unused"))
    frozen.trainable = False
    w.grad = frozen.grad = np.ones(3, dtype="float32")
    optimizers.SGD(learning_rate=0.5).apply([w, frozen, unused])
    np.testing.assert_allclose(w.value, 0.5)
    np.testing.assert_allclose(frozen.value, 1.0)
    np.testing.assert_allclose(unused.value, 1.0)


def test_constraint_is_applied_after_the_step():
    w = Variable(np.ones(2, dtype="float32"), "w", constraint=lambda v: np.clip(v, 0.0, 0.6))
    w.grad = np.array([1.0, -1.0], dtype="float32")
    optimizers.SGD(learning_rate=1.0).apply([w])
    np.testing.assert_allclose(w.value, [0.0, 0.6])


def test_learning_rate_is_a_settable_float():
    opt = optimizers.get("adam")
    assert opt.learning_rate == pytest.approx(0.001)
    opt.learning_rate = 0.5
    assert isinstance(opt.learning_rate, float) and opt.learning_rate == 0.5
    assert opt.get_config()["learning_rate"] == 0.5


@pytest.mark.parametrize("name,cls", [("adam", optimizers.Adam), ("SGD", optimizers.SGD),
                                      ("RMSprop", optimizers.RMSprop), ("rmsprop", optimizers.RMSprop),
                                      ("adamw", optimizers.AdamW), ("Adagrad", optimizers.Adagrad),
                                      ("adadelta", optimizers.Adadelta), ("Adamax", optimizers.Adamax),
                                      ("nadam", optimizers.Nadam), ("ftrl", optimizers.Ftrl),
                                      ("lion", optimizers.Lion), ("Lamb", optimizers.Lamb),
                                      ("adafactor", optimizers.Adafactor)])
def test_get_resolves_names_case_insensitively(name, cls):
    assert type(optimizers.get(name)) is cls


def test_get_errors_name_the_identifier():
    with pytest.raises(ValueError, match="Could not interpret optimizer identifier: adamx"):
        optimizers.get("adamx")
    with pytest.raises(ValueError, match="Nesterov"):
        optimizers.get({"class_name": "Nesterov", "config": {}})
    with pytest.raises(ValueError, match="not recognized"):
        optimizers.get({"class_name": "Adam", "config": {"learning_rate": 0.1, "betas": 3}})


def test_keras2_configs_are_accepted():
    opt = optimizers.get({"class_name": "SGD", "config": {"name": "SGD", "lr": 0.05, "decay": 0.0,
                                                          "momentum": 0.9, "nesterov": True}})
    assert opt.learning_rate == pytest.approx(0.05) and opt.momentum == 0.9 and opt.nesterov
    opt = optimizers.get({"class_name": "Adam", "config": {
        "name": "Adam", "learning_rate": 0.002, "decay": 0.0, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-07,
        "amsgrad": False, "is_legacy_optimizer": False, "jit_compile": True}})
    assert opt.learning_rate == pytest.approx(0.002)
    assert type(optimizers.get({"class_name": "Nadam", "config": {"lr": 0.002, "schedule_decay": 0.004}})) \
        is optimizers.Nadam


def test_configs_and_serialized_form_match_keras():
    for name, config in NAMES["configs"].items():
        ours = getattr(optimizers, name)(name=config["name"]).get_config()
        assert ours == config, name
    ser = NAMES["serialized"]
    assert optimizers.serialize(optimizers.Adam(name="adam")) == ser["optimizer"]
    sgd = optimizers.get(ser["schedule"])
    assert optimizers.serialize(sgd) == ser["schedule"]


def test_default_names_follow_keras():
    assert NAMES["default_names"]["optimizers"][3] == "rm_sprop"
    assert optimizers.RMSprop().name.startswith("rm_sprop")


def test_state_saves_and_restores_in_keras_layout():
    opt = optimizers.Adam(learning_rate=0.01)
    variables = _variables()
    _run(opt, variables, steps=3)
    store = {}
    opt.save_own_variables(store)
    fresh_vars = [Variable(v.value.copy(), v.name) for v in variables]
    fresh = optimizers.Adam(learning_rate=0.01)
    fresh.build(fresh_vars)
    fresh.load_own_variables(store)
    assert fresh.iterations == 3
    for var, other in zip(variables, fresh_vars):
        var.grad = other.grad = np.full(var.shape, 0.1, dtype="float32")
    opt.apply(variables)
    fresh.apply(fresh_vars)
    for var, other in zip(variables, fresh_vars):
        np.testing.assert_array_equal(var.value, other.value)


EMA_FIXTURES = FIXTURES.parent / "ema_fit"
EMA = json.loads((EMA_FIXTURES / "cases.json").read_text())["cases"]


@pytest.mark.parametrize("name", sorted(EMA))
def test_fit_with_use_ema_ends_on_the_moving_averages_as_keras_does(name):
    from engine import Input, Sequential, layers

    arrays = np.load(EMA_FIXTURES / "arrays.npz")
    case = EMA[name]
    model = Sequential([Input((3,)), layers.Dense(4, activation="tanh"), layers.Dense(2)])
    model.set_weights([arrays[f"init/{i}"] for i in range(4)])
    model.compile(optimizer=optimizers.get(case["optimizer"]), loss="mse")
    hist = model.fit(arrays["x"], arrays["y"], epochs=case["epochs"], batch_size=case["batch_size"], shuffle=False,
                     verbose=0)
    np.testing.assert_allclose(hist.history["loss"], case["history"]["loss"], rtol=1e-5)
    for i, w in enumerate(model.get_weights()):
        np.testing.assert_allclose(w, arrays[f"{name}/weights/{i}"], rtol=1e-5, atol=1e-6)
