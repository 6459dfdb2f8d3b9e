"""Every bad-input message: builder, argument, value and what is allowed."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jax_inits as ji
from jax_inits._src import checks

KEY = jax.random.key(0)

BUILD_ERRORS = [
    # (thunk, exception, regex)
    (
        lambda: ji.variance_scaling(1.0, "fan_bad", "normal"),
        ValueError,
        r"variance_scaling: `mode` must be one of \('fan_in', 'fan_out', 'fan_avg', "
        r"'fan_geo_avg'\), got 'fan_bad'",
    ),
    (
        lambda: ji.variance_scaling(1.0, "fan_in", "cauchy"),
        ValueError,
        r"variance_scaling: `distribution` must be one of \('truncated_normal', 'normal', "
        r"'uniform'\), got 'cauchy'",
    ),
    (
        lambda: ji.variance_scaling(-1.0, "fan_in", "normal"),
        ValueError,
        r"variance_scaling: `scale` must be >= 0, got -1.0",
    ),
    (
        lambda: ji.variance_scaling(float("nan"), "fan_in", "normal"),
        ValueError,
        r"variance_scaling: `scale` must be finite, got nan",
    ),
    (
        lambda: ji.variance_scaling(1.0, "fan_in", "normal", fan_in=0),
        ValueError,
        r"variance_scaling: `fan_in` must be > 0, got 0",
    ),
    (
        lambda: ji.variance_scaling(1.0, "fan_in", "normal", fan_out=float("inf")),
        ValueError,
        r"variance_scaling: `fan_out` must be finite, got inf",
    ),
    (
        lambda: ji.variance_scaling("2", "fan_in", "normal"),
        TypeError,
        r"variance_scaling: `scale` must be a real number, got '2'",
    ),
    (lambda: ji.normal(-0.1), ValueError, r"normal: `stddev` must be >= 0, got -0.1"),
    (lambda: ji.normal(float("inf")), ValueError, r"normal: `stddev` must be finite, got inf"),
    (lambda: ji.normal(True), TypeError, r"normal: `stddev` must be a real number, got True"),
    (lambda: ji.normal(1j), TypeError, r"normal: `stddev` must be a real number, got 1j"),
    (
        lambda: ji.normal(np.ones(2)),
        TypeError,
        r"normal: `stddev` must be a real scalar, got an array of shape \(2,\)",
    ),
    (lambda: ji.normal(mean=float("nan")), ValueError, r"normal: `mean` must be finite"),
    (lambda: ji.uniform(-1.0), ValueError, r"uniform: `scale` must be >= 0, got -1.0"),
    (
        lambda: ji.uniform_range(1.0, 1.0),
        ValueError,
        r"uniform_range: `minval` must be < `maxval`, got minval=1.0, maxval=1.0",
    ),
    (
        lambda: ji.uniform_range(0.0, float("inf")),
        ValueError,
        r"uniform_range: `maxval` must be finite, got inf",
    ),
    (
        lambda: ji.truncated_normal(lower=2.0, upper=-2.0),
        ValueError,
        r"truncated_normal: `lower` must be < `upper`, got lower=2.0, upper=-2.0",
    ),
    (
        lambda: ji.truncated_normal(-1.0),
        ValueError,
        r"truncated_normal: `stddev` must be >= 0, got -1.0",
    ),
    (
        lambda: ji.truncated_normal(lower=float("nan")),
        ValueError,
        r"truncated_normal: `lower` must not be NaN, got nan",
    ),
    (
        lambda: ji.he_normal(in_axis=1.5),
        TypeError,
        r"he_normal: `in_axis` must be an integer or a sequence of integers, got 1.5",
    ),
    (
        lambda: ji.he_normal(in_axis=(0, "a")),
        TypeError,
        r"he_normal: `in_axis` must be an integer, got 'a'",
    ),
    (
        lambda: ji.he_normal(out_axis=True),
        TypeError,
        r"he_normal: `out_axis` must be an integer or a sequence of integers, got True",
    ),
    (
        lambda: ji.he_normal(in_axis=(0, 0)),
        ValueError,
        r"he_normal: `in_axis` must not repeat an axis, got \(0, 0\)",
    ),
    (
        lambda: ji.glorot_uniform(in_axis=-1),
        ValueError,
        r"glorot_uniform: `in_axis` and `out_axis` both name axis -1",
    ),
    (
        lambda: ji.lecun_normal(batch_axis=(0, -2)),
        ValueError,
        r"lecun_normal: `in_axis` and `batch_axis` both name axis -2",
    ),
    (
        lambda: ji.he_uniform(dtype=jnp.int32),
        TypeError,
        r"he_uniform: `dtype` must be a floating or complex dtype, got int32",
    ),
    (
        lambda: ji.normal(dtype="not-a-dtype"),
        TypeError,
        r"normal: `dtype` must be a floating or complex dtype, got 'not-a-dtype'",
    ),
    (
        lambda: ji.orthogonal(column_axis=1.0),
        TypeError,
        r"orthogonal: `column_axis` must be an integer, got 1.0",
    ),
    (
        lambda: ji.orthogonal(scale=float("nan")),
        ValueError,
        r"orthogonal: `scale` must be finite, got nan",
    ),
    (
        lambda: ji.delta_orthogonal(column_axis="x"),
        TypeError,
        r"delta_orthogonal: `column_axis` must be an integer, got 'x'",
    ),
    (lambda: ji.constant("x"), TypeError, r"constant: `value` must be a number or an array"),
    (lambda: ji.constant(float("nan")), ValueError, r"constant: `value` must not be NaN"),
    (
        lambda: ji.constant(1.0, dtype="S3"),
        TypeError,
        r"constant: `dtype` must be a numeric dtype, got bytes24",
    ),
    (
        lambda: ji.compute_fans((4,), in_axis=-2),
        ValueError,
        r"compute_fans: shape \(4,\) of rank 1 has no axis -2 \(`in_axis`\)",
    ),
]


@pytest.mark.parametrize(
    "thunk,exc,pattern", BUILD_ERRORS, ids=[p[:40] for _, _, p in BUILD_ERRORS]
)
def test_builder_errors(thunk, exc, pattern):
    with pytest.raises(exc, match=pattern):
        thunk()


def test_traced_hyper_parameter_is_a_type_error():
    @jax.jit
    def build(lower):  # truncation bounds pick the sampler: they must be concrete
        return ji.truncated_normal(0.5, lower=lower)(KEY, (2, 2))

    with pytest.raises(
        TypeError,
        match=r"truncated_normal: `lower` must be a concrete real number, "
        r"got a traced value",
    ):
        build(-1.0)


CALL_ERRORS = [
    (
        lambda: ji.he_normal()(KEY, (4,)),
        ValueError,
        r"he_normal: shape \(4,\) of rank 1 has no axis -2 \(`in_axis`\); got in_axis=-2, "
        r"out_axis=-1, batch_axis=\(\)",
    ),
    (
        lambda: ji.he_normal(in_axis=(0, 1), out_axis=3)(KEY, (2, 3, 4)),
        ValueError,
        r"he_normal: shape \(2, 3, 4\) of rank 3 has no axis 3 \(`out_axis`\)",
    ),
    (
        lambda: ji.he_normal(in_axis=0, out_axis=-3)(KEY, (2, 3, 4)),
        ValueError,
        r"he_normal: `in_axis` and `out_axis` both name axis 0 of shape \(2, 3, 4\)",
    ),
    (
        lambda: ji.he_normal()(KEY, (4, 4), jnp.int32),
        TypeError,
        r"he_normal: `dtype` must be a floating or complex dtype, got int32",
    ),
    (
        lambda: ji.normal()(KEY, (4, 4), bool),
        TypeError,
        r"normal: `dtype` must be a floating or complex dtype, got bool",
    ),
    (
        lambda: ji.normal()(KEY, (4, -1)),
        ValueError,
        r"normal: `shape` must hold non-negative sizes, got \(4, -1\)",
    ),
    (
        lambda: ji.normal()(KEY, (4, 2.0)),
        TypeError,
        r"normal: `shape` must hold integers, got \(4, 2.0\)",
    ),
    (
        lambda: ji.normal()(KEY, "4,4"),
        TypeError,
        r"normal: `shape` must be a sequence of non-negative integers, got '4,4'",
    ),
    (
        lambda: ji.normal()(jnp.zeros(2), (4, 4)),
        TypeError,
        r"normal: `key` must be a PRNG key from jax.random.key or jax.random.PRNGKey, got an "
        r"array of dtype float32 and shape \(2,\)",
    ),
    (lambda: ji.normal()(0, (4, 4)), TypeError, r"normal: `key` must be a PRNG key"),
    (
        lambda: ji.normal()(jax.random.split(KEY, 2), (4, 4)),
        TypeError,
        r"normal: `key` must be a single key, got a key array of shape \(2,\); use jax.vmap",
    ),
    (
        lambda: ji.truncated_normal()(KEY, (4, 4), jnp.complex64),
        TypeError,
        r"truncated_normal: `dtype` must be a floating dtype, got complex64",
    ),
    (
        lambda: ji.uniform()(KEY, (4, 4), jnp.complex64),
        TypeError,
        r"uniform: `dtype` must be a floating dtype, got complex64",
    ),
    (
        lambda: ji.orthogonal()(KEY, (4,)),
        ValueError,
        r"orthogonal: needs a shape of rank >= 2, got shape \(4,\)",
    ),
    (
        lambda: ji.orthogonal(column_axis=2)(KEY, (4, 4)),
        ValueError,
        r"orthogonal: shape \(4, 4\) of rank 2 has no axis 2 \(`column_axis`\)",
    ),
    (
        lambda: ji.delta_orthogonal()(KEY, (4, 4)),
        ValueError,
        r"delta_orthogonal: needs a convolution kernel of rank 3, 4 or 5 .*got shape \(4, 4\)",
    ),
    (
        lambda: ji.delta_orthogonal()(KEY, (3, 3, 8, 4)),
        ValueError,
        r"delta_orthogonal: needs fan_in <= fan_out \(shape\[-2\] <= shape\[-1\]\), got shape "
        r"\(3, 3, 8, 4\)",
    ),
    (
        lambda: ji.constant(np.ones(3))(KEY, (4, 4)),
        ValueError,
        r"constant: `value` of shape \(3,\) does not broadcast to the requested shape \(4, 4\)",
    ),
    (
        lambda: ji.normal()(KEY, (4, 4), out_sharding="x"),
        TypeError,
        r"normal: `out_sharding` must be a NamedSharding, a PartitionSpec or None, got 'x'",
    ),
    (
        lambda: ji.normal()(KEY, (4, 4), out_sharding=jax.sharding.PartitionSpec("x")),
        ValueError,
        r"normal: `out_sharding` (P|PartitionSpec)\('x',\) is a PartitionSpec, which needs a mesh",
    ),
]


CALL_ERRORS += [
    (
        lambda: ji.he_normal()(KEY, ()),
        ValueError,
        r"he_normal: shape \(\) of rank 0 has no axis -2 \(`in_axis`\); got in_axis=-2, "
        r"out_axis=-1, batch_axis=\(\)\. It has no axes\.$",
    ),
    (
        lambda: ji.stacked(ji.he_normal())(KEY, ()),
        ValueError,
        r"stacked: shape \(\) of rank 0 has no axis 0 \(`axis`\); got axis=0\. It has no axes\.$",
    ),
    (  # init(shape, dtype): a forgotten key, or Haiku's convention
        lambda: ji.he_normal()((64, 32), jnp.float32),
        TypeError,
        r"he_normal: `shape` must be a sequence of non-negative integers, got the dtype "
        r"float32; the call looks like `init\(shape, dtype\)`, without a key\. Initializers "
        r"are called as `init\(key, shape, dtype\)`; to use one as a Haiku `w_init`/`b_init`, "
        r"wrap it: `jax_inits\.haiku\.to_haiku\(init\)`\.",
    ),
    (
        lambda: ji.normal()((64, 32), jnp.bfloat16),
        TypeError,
        r"normal: `shape` must be a sequence of non-negative integers, got the dtype bfloat16; "
        r"the call looks like `init\(shape, dtype\)`, without a key",
    ),
    (
        lambda: checks.key("normal", (64, 32)),
        TypeError,
        r"normal: `key` must be a PRNG key from jax.random.key or jax.random.PRNGKey, got the "
        r"shape \(64, 32\); the call looks like `init\(shape, dtype\)`, without a key",
    ),
    (  # a builder used as the initializer
        lambda: ji.he_normal(KEY, (64, 32)),
        TypeError,
        r"^he_normal: `he_normal` is a builder, not an initializer: call it first, `he_normal\(\)` "
        r"\(with its hyper-parameters\), and pass the result \(e\.g\. "
        r"`kernel_init=jax_inits\.he_normal\(\)`\); it was called with a PRNG key",
    ),
    (
        lambda: ji.pytorch.kaiming_uniform(jax.random.PRNGKey(0), (64, 32), jnp.float32),
        TypeError,
        r"^pytorch\.kaiming_uniform: `pytorch\.kaiming_uniform` is a builder, not an "
        r"initializer: call it first, `pytorch\.kaiming_uniform\(\)`",
    ),
    (
        lambda: ji.stacked(ji.he_normal),
        TypeError,
        r"^stacked: `init` must be an initializer, got the builder `he_normal`: call it first, "
        r"`he_normal\(\)`\.$",
    ),
    (
        lambda: jax.jit(lambda s: ji.normal()(KEY, s))(jnp.array([4, 4])),
        TypeError,
        r"normal: `shape` must hold concrete integers, got a traced value .*; shapes are static "
        r"under jax\.jit: pass a tuple of ints\.",
    ),
    (
        lambda: ji.normal()(KEY, jnp.ones((2, 2), jnp.int32)),
        TypeError,
        r"normal: `shape` must be a sequence of non-negative integers, got an array of shape "
        r"\(2, 2\)\.",
    ),
]


@pytest.mark.parametrize("thunk,exc,pattern", CALL_ERRORS, ids=[p[:40] for _, _, p in CALL_ERRORS])
def test_call_errors(thunk, exc, pattern):
    with pytest.raises(exc, match=pattern):
        thunk()


def test_constant_accepts_integer_dtypes_like_jax():
    out = ji.constant(3)(None, (2,), jnp.int8)
    assert out.dtype == jnp.int8 and out.tolist() == [3, 3]


def test_concrete_array_shapes_are_accepted_as_jax_accepts_them():
    """jax.nn accepts ``jnp.array([64, 32])`` as a shape; so do we, with the same bits."""
    for shape in [jnp.array([64, 32]), np.array([64, 32]), [64, 32]]:
        ours = ji.he_normal()(KEY, shape)
        np.testing.assert_array_equal(ours, ji.he_normal()(KEY, (64, 32)))
        theirs = jax.nn.initializers.he_normal()(KEY, shape)
        assert (ours.shape, ours.dtype) == (theirs.shape, theirs.dtype) == ((64, 32), jnp.float32)
    assert ji.normal()(KEY, jnp.array(5)).shape == (5,)  # a 0-d array is one size, as an int
