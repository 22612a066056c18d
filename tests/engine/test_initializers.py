"""Initializers: Keras's distributions (fans, limits, truncation), seeding, names and configs."""
import json
import math
from pathlib import Path

import numpy as np
import pytest

from engine import initializers
from engine import random as engine_random

FIXTURE = json.loads(
    (Path(__file__).resolve().parents[1] / "fixtures" / "keras" / "regularizers_constraints" / "cases.json").read_text()
)
SERIALIZED = FIXTURE["serialized"]["initializers"]
# Distributions with a hard bound, whose largest |value| is (nearly) the same in every large draw.
BOUNDED = {"glorot_uniform", "glorot_normal", "he_uniform", "he_normal", "lecun_uniform", "lecun_normal",
           "random_uniform", "truncated_normal"}


@pytest.mark.parametrize("stats", FIXTURE["initializer_stats"],
                         ids=lambda st: f"{st['identifier'] if isinstance(st['identifier'], str) else st['identifier']['class_name']}-{st['shape']}")
def test_distribution_matches_keras_draws(stats):
    w = initializers.get(stats["identifier"])(tuple(stats["shape"])).astype(np.float64)
    n = w.size
    # Two independent draws: their stds differ by about std * sqrt(1 / n), their means by std * sqrt(2 / n).
    assert abs(w.std() - stats["std"]) < 5 * stats["std"] / math.sqrt(n)
    assert abs(w.mean() - stats["mean"]) < 5 * stats["std"] * math.sqrt(2 / n)
    if isinstance(stats["identifier"], str) and stats["identifier"] in BOUNDED:
        assert np.abs(w).max() == pytest.approx(stats["max_abs"], rel=0.02)


@pytest.mark.parametrize("name", sorted(SERIALIZED))
def test_serialize_matches_keras(name):
    expected = SERIALIZED[name]
    if name == "identity":
        # Keras 3 drops Identity's gain from its config; fitq keeps it so a round trip keeps the gain.
        expected = dict(expected, config={"gain": 1.0})
    assert initializers.serialize(initializers.get(name)) == expected


@pytest.mark.parametrize("shape, fans", [((300, 200), (300, 200)), ((3, 3, 16, 32), (144, 288)),
                                         ((5, 8, 40), (40, 200)), ((500,), (500, 500))])
def test_fans_count_the_receptive_field(shape, fans):
    assert initializers.compute_fans(shape) == fans


@pytest.mark.parametrize("name, shape, scale, fan", [
    ("glorot_uniform", (300, 200), 1.0, "avg"),
    ("he_uniform", (3, 3, 64, 128), 2.0, "in"),
    ("lecun_uniform", (400, 100), 1.0, "in"),
])
def test_uniform_variance_scaling_limits(name, shape, scale, fan):
    fan_in, fan_out = initializers.compute_fans(shape)
    n = {"avg": (fan_in + fan_out) / 2, "in": fan_in}[fan]
    limit = math.sqrt(3 * scale / n)
    w = initializers.get(name)(shape)
    assert w.dtype == np.float32 and w.shape == shape
    assert np.abs(w).max() <= limit
    assert np.abs(w).max() > 0.99 * limit
    assert w.std() == pytest.approx(limit / math.sqrt(3), rel=0.02)
    assert abs(w.mean()) < 0.02 * limit


@pytest.mark.parametrize("name, shape, scale, fan", [
    ("glorot_normal", (300, 200), 1.0, "avg"),
    ("he_normal", (3, 3, 64, 128), 2.0, "in"),
    ("lecun_normal", (400, 100), 1.0, "in"),
])
def test_truncated_normal_variance_scaling_keeps_the_target_variance(name, shape, scale, fan):
    fan_in, fan_out = initializers.compute_fans(shape)
    n = {"avg": (fan_in + fan_out) / 2, "in": fan_in}[fan]
    target_std = math.sqrt(scale / n)
    w = initializers.get(name)(shape)
    # Keras divides the stddev by 0.8796..., the std of a unit normal cut at ±2, so the result has target_std.
    assert w.std() == pytest.approx(target_std, rel=0.02)
    assert np.abs(w).max() <= 2 * target_std / 0.87962566103423978 * (1 + 1e-6)


def test_variance_scaling_untruncated_and_fan_out():
    w = initializers.VarianceScaling(scale=4.0, mode="fan_out", distribution="untruncated_normal")((100, 400))
    assert w.std() == pytest.approx(math.sqrt(4.0 / 400), rel=0.02)
    assert np.abs(w).max() > 2.5 * math.sqrt(4.0 / 400)


def test_random_normal_uniform_truncated_use_their_arguments():
    w = initializers.RandomNormal(mean=1.0, stddev=0.5)((200, 200))
    assert w.mean() == pytest.approx(1.0, abs=0.015) and w.std() == pytest.approx(0.5, rel=0.02)
    u = initializers.RandomUniform(minval=2.0, maxval=3.0)((200, 200))
    assert u.min() >= 2.0 and u.max() < 3.0 and u.mean() == pytest.approx(2.5, abs=0.01)
    t = initializers.TruncatedNormal(mean=0.0, stddev=1.0)((200, 200))
    assert np.abs(t).max() <= 2.0 and t.std() == pytest.approx(0.87962566103423978, rel=0.02)


@pytest.mark.parametrize("shape", [(6, 4), (4, 6), (3, 3, 2, 5)])
def test_orthogonal_gives_orthonormal_rows_or_columns(shape):
    w = initializers.Orthogonal(gain=2.0, seed=3)(shape)
    flat = w.reshape(-1, shape[-1])
    gram = flat.T @ flat if flat.shape[0] >= flat.shape[1] else flat @ flat.T
    np.testing.assert_allclose(gram, 4.0 * np.eye(gram.shape[0]), atol=1e-5)


def test_constant_identity_zeros_ones():
    np.testing.assert_array_equal(initializers.get({"class_name": "Constant", "config": {"value": 3}})((2, 2)),
                                  np.full((2, 2), 3, dtype=np.float32))
    np.testing.assert_array_equal(initializers.Identity(gain=2.0)((2, 3)), [[2, 0, 0], [0, 2, 0]])
    assert initializers.get("zeros")((3,), dtype="float64").dtype == np.float64
    assert initializers.get("ones")((2,)).sum() == 2
    with pytest.raises(ValueError, match="2D"):
        initializers.Identity()((2, 2, 2))


def test_seeded_initializer_repeats_and_unseeded_follows_set_random_seed():
    a = initializers.GlorotUniform(seed=7)((5, 5))
    np.testing.assert_array_equal(a, initializers.GlorotUniform(seed=7)((5, 5)))
    assert not np.array_equal(a, initializers.GlorotUniform(seed=8)((5, 5)))
    engine_random.set_random_seed(123)
    first = [initializers.get("glorot_uniform")((4, 4)), initializers.get("random_normal")((3,))]
    engine_random.set_random_seed(123)
    second = [initializers.get("glorot_uniform")((4, 4)), initializers.get("random_normal")((3,))]
    for x, y in zip(first, second):
        np.testing.assert_array_equal(x, y)
    assert not np.array_equal(first[0], initializers.get("glorot_uniform")((4, 4)))


@pytest.mark.parametrize("identifier, cls", [
    ({"class_name": "GlorotUniform", "config": {"seed": None}}, initializers.GlorotUniform),
    ({"module": "keras.initializers", "class_name": "HeNormal",
      "config": {"seed": 1, "input_axes": None, "output_axes": None}, "registered_name": None}, initializers.HeNormal),
    ({"class_name": "VarianceScaling",
      "config": {"scale": 1.0, "mode": "fan_avg", "distribution": "uniform", "seed": None}}, initializers.VarianceScaling),
    ({"class_name": "Zeros", "config": {"dtype": "float32"}}, initializers.Zeros),
    ({"class_name": "RandomNormal", "config": {"mean": 0.0, "stddev": 0.02, "seed": None}}, initializers.RandomNormal),
    ("he_uniform", initializers.HeUniform),
    ("Orthogonal", initializers.Orthogonal),
])
def test_get_accepts_keras_3_and_keras_2_forms(identifier, cls):
    assert type(initializers.get(identifier)) is cls


def test_keras_2_normal_distribution_means_truncated_normal():
    init = initializers.get({"class_name": "VarianceScaling",
                             "config": {"scale": 2.0, "mode": "fan_in", "distribution": "normal", "seed": None}})
    assert init.distribution == "truncated_normal"


def test_round_trip_keeps_the_config():
    init = initializers.VarianceScaling(scale=0.5, mode="fan_out", distribution="uniform", seed=4)
    again = initializers.get(initializers.serialize(init))
    assert again.get_config() == init.get_config()
    np.testing.assert_array_equal(again((3, 3)), init((3, 3)))


@pytest.mark.parametrize("bad", ["glorot_uniformm", {"class_name": "GlorotUniformm", "config": {}}])
def test_unknown_initializer_is_a_value_error_naming_it(bad):
    with pytest.raises(ValueError, match="GlorotUniformm|glorot_uniformm"):
        initializers.get(bad)


def test_bad_arguments_are_value_errors():
    with pytest.raises(ValueError, match="mode"):
        initializers.VarianceScaling(mode="fan_sideways")
    with pytest.raises(ValueError, match="scale"):
        initializers.VarianceScaling(scale=0.0)
    with pytest.raises(ValueError, match="seed"):
        initializers.RandomNormal(seed="abc")


def test_set_random_seed_makes_model_weights_repeat():
    import engine
    from engine import Input, Sequential, layers

    def build():
        return Sequential([Input((5,)), layers.Dense(4), layers.Dense(2, kernel_initializer="he_normal")])

    engine.set_random_seed(42)
    first = build().get_weights()
    engine.set_random_seed(42)
    second = build().get_weights()
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(first[0], build().get_weights()[0])
