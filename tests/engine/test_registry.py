"""engine.registry through the three kinds that use it: constraints, regularizers, initializers."""
import numpy as np
import pytest

from engine import constraints, initializers, regularizers


def test_names_aliases_dicts_classes_and_instances():
    assert isinstance(constraints.get("max_norm"), constraints.MaxNorm)
    assert isinstance(constraints.get("MaxNorm"), constraints.MaxNorm)
    assert isinstance(constraints.get("maxnorm"), constraints.MaxNorm)  # Keras 2's name
    assert constraints.get({"class_name": "MaxNorm", "config": {"max_value": 3}}).max_value == 3
    assert isinstance(constraints.get(constraints.UnitNorm), constraints.UnitNorm)
    norm = constraints.NonNeg()
    assert constraints.get(norm) is norm
    assert constraints.get(None) is None
    assert isinstance(regularizers.get("l1_l2"), regularizers.L1L2)


def test_errors_name_the_kind_and_the_identifier():
    with pytest.raises(ValueError, match="Could not interpret constraint identifier: 'no_such'"):
        constraints.get("no_such")
    with pytest.raises(ValueError, match="Could not interpret regularizer identifier"):
        regularizers.get({"class_name": "l1_l2", "config": {}})  # a factory is reached by name only
    with pytest.raises(ValueError, match="Invalid config for initializer 'RandomNormal'"):
        initializers.get({"class_name": "RandomNormal", "config": {"sigma": 1.0}})
    with pytest.raises(ValueError, match="Could not interpret regularizer identifier"):
        regularizers.get(lambda x: 0.0)  # unlike a constraint, a regularizer is never a bare callable


def test_what_each_kind_takes_besides_names():
    clip = lambda w: np.clip(w, 0, 1)  # noqa: E731
    assert constraints.get(clip) is clip
    init = initializers.get(np.ones((2, 2), "float32"))
    np.testing.assert_array_equal(init((2, 2)), np.ones((2, 2)))
    # Older Keras wrote "dtype" into initializer configs; Keras 3 ignores it.
    assert initializers.get({"class_name": "Constant", "config": {"value": 2.0, "dtype": "float32"}}).value == 2.0


def test_serialize_as_keras_3_writes_it():
    assert constraints.serialize(constraints.MaxNorm(max_value=3)) == {
        "module": "keras.constraints", "class_name": "MaxNorm", "config": {"max_value": 3, "axis": 0},
        "registered_name": None}
    assert regularizers.serialize(None) is None
    with pytest.raises(ValueError, match="Cannot serialize constraint"):
        constraints.serialize(lambda w: w)
    assert repr(regularizers.L2(0.5)) == "L2({'l2': 0.5})"
