"""Builder arguments that are traced values (issue 25, point 1).

``jax.nn.initializers.normal(s)`` accepts a traced ``s``: sweeping the init
scale under ``jax.vmap`` or ``jax.jit`` works. Ours must too, with jax.nn's
values. Each builder whose jax.nn counterpart takes a scalar is built inside
the transformation with the scalar traced, and compared with jax.nn's
initializer built the same way.

Bit for bit: with the argument a runtime value XLA cannot fold it into the
draw's constants, so the draw is jax.random's and the products come in jax.nn's
order (``(sqrt2 * erf_inv(u)) * s``, not the folded ``erf_inv(u) * (sqrt2 * s)``
of a concrete ``s``); the scales are not powers of two, so another order of
the products would round differently and fail here.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jax_inits
import jax_inits._src.registry

J = jax.nn.initializers
KEY = jax.random.key(3)
SHAPE = (8, 6)
#: Not powers of two: a multiplier applied in another order rounds differently.
SCALES = jnp.array([0.01, 0.1, 0.7])

# (name, ours(s), jax's(s)): the scalar argument is ``s``.
CASES = [
    ("normal", jax_inits.normal, J.normal),
    ("uniform", jax_inits.uniform, J.uniform),
    ("truncated_normal", jax_inits.truncated_normal, J.truncated_normal),
    (
        "variance_scaling",
        lambda s: jax_inits.variance_scaling(s, "fan_avg", "truncated_normal"),
        lambda s: J.variance_scaling(s, "fan_avg", "truncated_normal"),
    ),
    (
        "variance_scaling_uniform",
        lambda s: jax_inits.variance_scaling(s, "fan_in", "uniform"),
        lambda s: J.variance_scaling(s, "fan_in", "uniform"),
    ),
    (
        "variance_scaling_normal",
        lambda s: jax_inits.variance_scaling(s, "fan_out", "normal"),
        lambda s: J.variance_scaling(s, "fan_out", "normal"),
    ),
    ("orthogonal", jax_inits.orthogonal, J.orthogonal),
    ("constant", jax_inits.constant, J.constant),
]
FAST = {"normal", "variance_scaling", "constant"}


def _params(names_fast):
    return [
        pytest.param(*case, id=case[0], marks=() if case[0] in names_fast else pytest.mark.slow)
        for case in CASES
    ]


@pytest.mark.parametrize("name,ours,theirs", _params(FAST))
def test_traced_argument_under_vmap(name, ours, theirs):
    got = jax.vmap(lambda s: ours(s)(KEY, SHAPE))(SCALES)
    want = jax.vmap(lambda s: theirs(s)(KEY, SHAPE))(SCALES)
    assert got.shape == want.shape == (3, *SHAPE)
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("name,ours,theirs", _params({"uniform", "orthogonal"}))
def test_traced_argument_under_jit(name, ours, theirs):
    got = jax.jit(lambda s: ours(s)(KEY, SHAPE))(jnp.float32(0.3))
    want = jax.jit(lambda s: theirs(s)(KEY, SHAPE))(jnp.float32(0.3))
    np.testing.assert_array_equal(got, want)


def test_traced_argument_matches_the_concrete_one():
    got = jax.vmap(lambda s: jax_inits.he_normal(batch_axis=())(KEY, SHAPE) * s)(SCALES)
    traced = jax.vmap(
        lambda s: jax_inits.variance_scaling(2.0 * s**2, "fan_in", "truncated_normal")(KEY, SHAPE)
    )(SCALES)
    np.testing.assert_allclose(traced, got, rtol=1e-5, atol=1e-7)


def test_the_registry_names_the_traced_arguments():
    traced = {s.name: s.traced for s in jax_inits._src.registry.specs() if s.traced}
    assert traced == {
        "constant": ("value",),
        "uniform": ("scale",),
        "normal": ("stddev", "mean"),
        "truncated_normal": ("stddev", "mean"),
        "variance_scaling": ("scale",),
        "orthogonal": ("scale",),
        "delta_orthogonal": ("scale",),
    }


def test_concrete_arguments_keep_their_checks_and_equality():
    with pytest.raises(ValueError, match=r"normal: `stddev` must be >= 0, got -1"):
        jax_inits.normal(-1)
    assert jax_inits.normal(0.5) == jax_inits.normal(0.5)
    assert hash(jax_inits.normal(0.5)) == hash(jax_inits.normal(0.5))


def test_traced_argument_keeps_the_checks_that_need_no_value():
    with pytest.raises(TypeError, match=r"normal: `stddev` must be a real scalar, got a traced"):
        jax.vmap(lambda s: jax_inits.normal(s)(KEY, SHAPE))(jnp.ones((3, 2)))
    with pytest.raises(TypeError, match=r"normal: `stddev` must be a real number, got a traced"):
        jax.vmap(lambda s: jax_inits.normal(s)(KEY, SHAPE))(jnp.ones(3, jnp.int32) > 0)
    with pytest.raises(ValueError, match=r"orthogonal: needs a shape of rank >= 2"):
        jax.vmap(lambda s: jax_inits.orthogonal(s)(KEY, (4,)))(SCALES)


def test_traced_initializer_runs_only_traced():
    escaped = []
    jax.vmap(lambda s: escaped.append(jax_inits.normal(s)))(SCALES)
    with pytest.raises(ValueError, match=r"normal: built with a traced `stddev`.*runs only"):
        escaped[0](KEY, SHAPE)


def test_traced_argument_has_no_config():
    def build(s):
        init = jax_inits.normal(s)
        with pytest.raises(TypeError, match=r"config: argument `stddev` is a traced value"):
            _ = init.config
        return s

    jax.vmap(build)(SCALES)
