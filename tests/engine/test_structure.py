"""The by-name rule and the sample-shape rule, and the engine's uses of them."""
import numpy as np
import pytest

from engine.data_arrays import flatten_by_names
from engine.structure import StructureError, by_name, sample_shape_fits


def test_one_value_a_list_by_position_or_a_dict_by_name():
    assert by_name(7, ["a"], "x") == [7]
    assert by_name([1, 2], ["a", "b"], "x") == [1, 2]
    assert by_name({"b": 2, "a": 1}, ["a", "b"], "x") == [1, 2]
    assert by_name("mse", ["a", "b"], "loss", one_for_all=True) == ["mse", "mse"]
    assert by_name({"b": 2}, ["a", "b"], "loss", allow_missing=True) == [None, 2]


def test_errors_name_the_key_and_what_the_model_has():
    with pytest.raises(StructureError, match=r"x: the model has no 'c' \(it has: a, b\)") as err:
        by_name({"a": 1, "c": 2}, ["a", "b"], "x")
    assert err.value.key == "c"
    with pytest.raises(StructureError, match=r"nothing given for 'b' \(the model has: a, b\)"):
        by_name({"a": 1}, ["a", "b"], "x")
    with pytest.raises(StructureError, match=r"got a list of 3, the model has 2 \(a, b\)"):
        by_name([1, 2, 3], ["a", "b"], "x")
    with pytest.raises(StructureError, match=r"got one value, the model has 2 \(a, b\)"):
        by_name(1, ["a", "b"], "x")


def test_is_one_is_asked_before_the_dict_rule():
    ref = {"dataset": "d", "array": "x"}
    is_ref = lambda v: isinstance(v, str) or (isinstance(v, dict) and "dataset" in v)  # noqa: E731
    assert by_name(ref, ["a"], "x", is_one=is_ref) == [ref]
    assert by_name({"a": ref}, ["a"], "x", is_one=is_ref) == [ref]


def test_sample_shape_fits_where_none_is_any_size():
    assert sample_shape_fits((3, 4), (None, 4))
    assert not sample_shape_fits((3, 5), (None, 4))
    assert not sample_shape_fits((3,), (3, 1))


def test_flatten_by_names_reads_a_list_of_numbers_as_one_array_for_one_input():
    (x,) = flatten_by_names([[1.0, 2.0], [3.0, 4.0]], ["in"], "inputs")
    assert x.shape == (2, 2) and x.dtype == np.float32
    a, b = flatten_by_names([np.ones((2, 1)), np.zeros((2, 3))], ["a", "b"], "inputs")
    assert (a.shape, b.shape) == ((2, 1), (2, 3))
    assert flatten_by_names({"b": np.ones(2)}, ["a", "b"], "sample_weight")[0] is None
    with pytest.raises(StructureError, match="nothing given for 'a'"):
        flatten_by_names({"b": np.ones(2)}, ["a", "b"], "targets")


def test_fit_names_the_input_whose_samples_do_not_fit():
    from engine import Input, Model, layers

    a, b = Input(shape=(3,), name="first"), Input(shape=(None, 2), name="second")
    model = Model([a, b], layers.Dense(1)(layers.concatenate([a, layers.GlobalAveragePooling1D()(b)])))
    model.compile("sgd", "mse")
    model.fit([np.ones((4, 3)), np.ones((4, 7, 2))], np.ones((4, 1)), verbose=0)  # None fits any size
    with pytest.raises(StructureError, match=r"Input 'second'.*expected shape \(None, None, 2\)") as err:
        model.fit([np.ones((4, 3)), np.ones((4, 7, 5))], np.ones((4, 1)), verbose=0)
    assert err.value.key == "second"
