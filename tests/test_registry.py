"""Builders by name (`get`) and configs (`init.config`, `from_config`)."""

import json
import pickle

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from _subsets import builders

import jax_inits
from jax_inits._src import catalog, registry

ENTRIES = {e.name: e for e in catalog.ENTRIES}


@pytest.mark.parametrize("name", sorted(ENTRIES))
def test_config_round_trips_through_json(name):
    init = ENTRIES[name].example
    text = json.dumps(init.config, allow_nan=False)  # strict JSON, no Infinity
    again = jax_inits.from_config(json.loads(text))
    assert again == init and repr(again) == repr(init)


# The values too (a compile each): one builder per implementation and distribution in
# `make test`, every builder in `make test-slow` (tests/_subsets.py).
@pytest.mark.parametrize("name", builders(sorted(ENTRIES)))
def test_a_config_round_trip_draws_the_same_values(name):
    init = ENTRIES[name].example
    again = jax_inits.from_config(json.loads(json.dumps(init.config, allow_nan=False)))
    shape = ENTRIES[name].shape((4, 6))
    key = jax.random.key(0)
    np.testing.assert_array_equal(again(key, shape), init(key, shape))


@pytest.mark.parametrize(
    "init",
    [
        jax_inits.truncated_normal(2.0, jnp.bfloat16, -np.inf, 1.5, mean=0.5),
        jax_inits.variance_scaling(
            0.5, "fan_geo_avg", "uniform", (0, 1), 2, batch_axis=(), fan_in=3
        ),
        jax_inits.constant(np.arange(6, dtype=np.int16).reshape(2, 3)),
        jax_inits.orthogonal(np.float32(2.0), column_axis=np.int64(0), dtype="complex64"),
    ],
    ids=repr,
)
def test_config_round_trips_unusual_arguments(init):
    again = jax_inits.from_config(json.loads(json.dumps(init.config, allow_nan=False)))
    assert again == init
    assert pickle.loads(pickle.dumps(again)).config == init.config


def test_config_records_only_given_arguments_by_name():
    assert jax_inits.he_normal().config == {"name": "he_normal", "args": {}}
    assert jax_inits.kaiming_normal(dtype=jnp.bfloat16).config == {
        "name": "he_normal",
        "args": {"dtype": "bfloat16"},
    }
    assert jax_inits.zeros.config == {"name": "zeros", "args": {}}


def test_get_builds_by_name_and_alias():
    assert jax_inits.get("normal", 0.5) == jax_inits.normal(0.5)
    assert jax_inits.get("xavier_normal", in_axis=0, out_axis=1) == jax_inits.glorot_normal(0, 1)
    assert jax_inits.get("ones") is jax_inits.ones
    for name in catalog.names():
        assert name in jax_inits.registered()


@pytest.mark.parametrize(
    ("call", "exc", "message"),
    [
        (
            lambda: jax_inits.get("he_norml"),
            ValueError,
            r"unknown initializer 'he_norml'.*he_normal",
        ),
        (lambda: jax_inits.get(3), TypeError, r"get: `name` must be a string, got 3"),
        (lambda: jax_inits.get("zeros", 1.0), TypeError, r"'zeros' is an initializer and takes no"),
        (lambda: jax_inits.get("normal", stdev=1.0), TypeError, r"bad arguments for 'normal'"),
        (lambda: jax_inits.get("normal", -1.0), ValueError, r"normal: `stddev` must be >= 0"),
        (lambda: jax_inits.from_config({"name": "normal"}), TypeError, r"must be a dict"),
        (lambda: jax_inits.from_config("normal"), TypeError, r"must be a dict"),
        (
            lambda: jax_inits.from_config({"name": "normal", "args": {"stddev": {"x": 1}}}),
            ValueError,
            r"cannot decode",
        ),
        (
            lambda: registry.config_of(jax.nn.initializers.zeros),
            TypeError,
            r"not made by a registered builder",
        ),
    ],
)
def test_errors(call, exc, message):
    with pytest.raises(exc, match=message):
        call()


def _builder(scale=1.0, *, layout="jax"):
    return jax_inits.normal(scale)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"equivalents": {"pytorch": "normal_"}}, r"`equivalents` must be keyed by"),
        ({"kinds": {"scale": "real number"}}, r"`kinds` must be in"),
        ({"kinds": {"stddev": "real"}}, r"`kinds` names 'stddev', which the builder does not"),
        ({"shape": "vector"}, r"`shape` must be one of \('any', 'conv', 'matrix'\)"),
    ],
)
def test_register_rejects_a_registration_that_contradicts_itself(options, message):
    with pytest.raises(ValueError, match=rf"^register\('test.builder'\): {message}"):
        registry.register("test.builder", **options)(_builder)
    with pytest.raises(TypeError):  # an example the builder cannot take
        registry.register("test.builder", example=registry.args(1.0, 2.0))(_builder)
    with pytest.raises(ValueError, match=r"'normal'\): the name is registered already"):
        registry.register("normal")(_builder)
    with pytest.raises(ValueError, match=r"the alias 'kaiming_normal' is registered already"):
        registry.register("test.builder", aliases=("kaiming_normal",))(_builder)
    assert "test.builder" not in registry.names()


def test_catalogue_is_derived_from_the_registry():
    specs = {s.name: s for s in registry.specs()}
    assert set(specs) == set(ENTRIES)
    for name, entry in ENTRIES.items():
        spec = specs[name]
        assert entry.aliases == spec.aliases
        assert (entry.conv, entry.matrix, entry.complex) == (
            spec.shape == "conv",
            spec.shape == "matrix",
            spec.complex,
        )
        assert entry.example == spec.build_example()
    assert ENTRIES["constant"].example == jax_inits.constant(0.5)
    assert ENTRIES["recipes.deepnet"].example == jax_inits.recipes.deepnet(
        "decoder", decoder_layers=12
    )


def test_one_unknown_name_path():
    for call in (
        lambda: jax_inits.get("he_norml"),
        lambda: jax_inits.from_config({"name": "he_norml", "args": {}}),
        lambda: registry.resolve("he_norml", caller=None),
    ):
        with pytest.raises(
            ValueError, match=r"unknown initializer 'he_norml'; did you mean: he_normal"
        ):
            call()
    with pytest.raises(
        ValueError, match=r"^get: unknown initializer 'zzz'; `jax-inits list` shows"
    ):
        jax_inits.get("zzz")
