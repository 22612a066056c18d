"""Regularizer penalties/gradients and constraint outputs against Keras 3."""
import json
from pathlib import Path

import numpy as np
import pytest

from engine import constraints, regularizers

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "keras" / "regularizers_constraints"
SPEC = json.loads((FIXTURES / "cases.json").read_text())
ARRAYS = np.load(FIXTURES / "arrays.npz")
REG_CASES = SPEC["cases"]["regularizers"]
CON_CASES = SPEC["cases"]["constraints"]


@pytest.mark.parametrize("case", sorted(REG_CASES))
def test_regularizer_penalty_and_gradient_match_keras(case):
    spec = REG_CASES[case]
    reg = regularizers.get(spec["identifier"])
    w = ARRAYS[spec["input"]]
    penalty = reg(w)
    assert isinstance(penalty, float)
    assert penalty == pytest.approx(float(ARRAYS[f"penalty_{case}"]), rel=1e-5)
    grad = reg.gradient(w)
    assert grad.dtype == np.float32 and grad.shape == w.shape
    np.testing.assert_allclose(grad, ARRAYS[f"grad_{case}"], rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("case", sorted(REG_CASES))
def test_regularizer_serializes_like_keras(case):
    reg = regularizers.get(REG_CASES[case]["identifier"])
    assert regularizers.serialize(reg) == SPEC["serialized"]["regularizers"][case]
    assert regularizers.get(regularizers.serialize(reg)).get_config() == reg.get_config()


@pytest.mark.parametrize("case", sorted(CON_CASES))
def test_constraint_output_matches_keras(case):
    spec = CON_CASES[case]
    out = constraints.get(spec["identifier"])(ARRAYS[spec["input"]])
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, ARRAYS[f"out_{case}"], rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("case", sorted(CON_CASES))
def test_constraint_serializes_like_keras(case):
    c = constraints.get(CON_CASES[case]["identifier"])
    assert constraints.serialize(c) == SPEC["serialized"]["constraints"][case]


def test_class_defaults_are_keras_3s():
    assert regularizers.L1().l1 == 0.01 and regularizers.L2().l2 == 0.01
    assert regularizers.L1L2().get_config() == {"l1": 0.0, "l2": 0.0}
    assert regularizers.get("l1_l2").get_config() == {"l1": 0.01, "l2": 0.01}
    assert constraints.MaxNorm().get_config() == {"max_value": 2, "axis": 0}
    assert constraints.MinMaxNorm().get_config() == {"min_value": 0.0, "max_value": 1.0, "rate": 1.0, "axis": 0}


def test_keras_2_dict_forms_load():
    reg = regularizers.get({"class_name": "L1L2", "config": {"l1": 0.0, "l2": 0.001}})
    assert reg.get_config() == {"l1": 0.0, "l2": 0.001}
    con = constraints.get({"class_name": "MaxNorm", "config": {"max_value": 3, "axis": 0}})
    assert con.max_value == 3


def test_l1_l2_gradients():
    w = np.array([[-2.0, 0.5], [1.0, -0.25]], dtype=np.float32)
    np.testing.assert_allclose(regularizers.L1(0.1).gradient(w), 0.1 * np.sign(w), rtol=1e-6)
    np.testing.assert_allclose(regularizers.L2(0.1).gradient(w), 0.2 * w, rtol=1e-6)
    assert regularizers.L1L2(0.1, 0.1)(w) == pytest.approx(0.1 * 3.75 + 0.1 * 5.3125, rel=1e-6)


def test_orthogonal_regularizer_is_zero_for_orthogonal_rows():
    reg = regularizers.OrthogonalRegularizer(factor=1.0)
    assert reg(np.eye(4, dtype=np.float32)) == pytest.approx(0.0, abs=1e-7)
    with pytest.raises(ValueError, match="rank 2"):
        reg(np.ones((2, 2, 2), dtype=np.float32))


def test_max_norm_leaves_small_columns_and_caps_large_ones():
    w = np.array([[3.0, 0.1], [4.0, 0.1]], dtype=np.float32)
    out = constraints.MaxNorm(max_value=2.0)(w)
    np.testing.assert_allclose(np.linalg.norm(out, axis=0), [2.0, np.sqrt(0.02)], rtol=1e-5)


def test_non_neg_clips_negatives():
    np.testing.assert_array_equal(constraints.NonNeg()(np.array([-1.0, 0.0, 2.0], dtype=np.float32)), [0, 0, 2])


@pytest.mark.parametrize("bad", ["l3", {"class_name": "L3", "config": {}}])
def test_unknown_regularizer_is_a_value_error_naming_it(bad):
    with pytest.raises(ValueError, match="L3|l3"):
        regularizers.get(bad)


def test_negative_factor_is_rejected():
    with pytest.raises(ValueError, match="l2"):
        regularizers.L2(-1.0)


@pytest.mark.parametrize("bad", ["max_normal", {"class_name": "MaxNormal", "config": {}}])
def test_unknown_constraint_is_a_value_error_naming_it(bad):
    with pytest.raises(ValueError, match="max_normal|MaxNormal"):
        constraints.get(bad)


def test_none_stays_none():
    assert regularizers.get(None) is None and constraints.get(None) is None
    assert regularizers.serialize(None) is None and constraints.serialize(None) is None
