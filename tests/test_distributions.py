"""normal, uniform, uniform_range, truncated_normal: moments, bounds, low precision.

Samples are 512 x 512 = 262,144 values with fixed keys; see _stats.py for the
tolerances. Low-precision dtypes round each value once, which changes the std
by far less than the tolerance (relative rounding error <= 2^-9 for bfloat16).
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.stats
from _stats import assert_mean_std

import jax_inits as ji

KEY = jax.random.key(2024)
SHAPE = (512, 512)
DTYPES = ["float32", "bfloat16", "float16"]


@pytest.mark.parametrize("dtype", DTYPES)
def test_normal_moments(dtype):
    x = ji.normal(0.5, mean=-1.0)(KEY, SHAPE, dtype)
    assert_mean_std(x, -1.0, 0.5)


@pytest.mark.parametrize("dtype", DTYPES)
def test_uniform_moments_and_bounds(dtype):
    x = np.asarray(ji.uniform(3.0)(KEY, SHAPE, dtype), np.float64)
    assert_mean_std(x, 1.5, 3.0 / math.sqrt(12))
    assert x.min() >= 0.0 and x.max() <= 3.0


@pytest.mark.parametrize("dtype", DTYPES)
def test_uniform_range_moments_and_bounds(dtype):
    x = np.asarray(ji.uniform_range(-0.5, 2.0)(KEY, SHAPE, dtype), np.float64)
    assert_mean_std(x, 0.75, 2.5 / math.sqrt(12))
    assert x.min() >= -0.5 and x.max() <= 2.0


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("lower,upper", [(-2.0, 2.0), (-1.0, 3.0), (0.0, 0.5)])
def test_truncated_normal_moments(dtype, lower, upper):
    dist = scipy.stats.truncnorm(lower, upper, loc=0.1, scale=0.3)
    x = ji.truncated_normal(0.3, None, lower, upper, mean=0.1)(KEY, SHAPE, dtype)
    assert_mean_std(x, dist.mean(), dist.std())


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("stddev", [0.02, 1.0, 3.7])
def test_truncated_normal_never_crosses_its_bounds(dtype, stddev):
    """2^22 draws, so the extreme values come within a hair of the bounds."""
    x = np.asarray(ji.truncated_normal(stddev)(KEY, (2048, 2048), dtype), np.float64)
    bound = 2 * stddev
    assert -bound <= x.min() and x.max() <= bound
    assert x.max() > 0.99 * bound and x.min() < -0.99 * bound  # the bounds are reached


def test_jax_bfloat16_truncated_normal_loses_its_tails():
    """jax samples in bfloat16: over 2^22 draws nothing beyond 1.87 of the 2 stddev
    bound; ours (float32 rounded once) reaches past 1.98."""
    shape = (2048, 2048)
    theirs = np.asarray(jax.nn.initializers.truncated_normal(1.0)(KEY, shape, jnp.bfloat16))
    ours = np.asarray(ji.truncated_normal(1.0)(KEY, shape, jnp.bfloat16))
    assert theirs.astype(np.float64).max() < 1.9 < 1.98 < ours.astype(np.float64).max()


def test_low_precision_is_rounded_float32():
    """bf16 values are the float32 values rounded once (jax samples in bf16), except
    that a uniform value rounding onto maxval = 1 (open) is bf16's value below it, 1 - 2^-8."""
    f32 = ji.normal(1.0)(KEY, (256, 256), jnp.float32)
    np.testing.assert_array_equal(
        ji.normal(1.0)(KEY, (256, 256), jnp.bfloat16), f32.astype(jnp.bfloat16)
    )
    f32 = ji.uniform_range()(KEY, (256, 256), jnp.float32)
    rounded = np.asarray(f32.astype(jnp.bfloat16), np.float64)
    assert (rounded == 1.0).sum() > 10  # 65,536 draws: about 64 land within 2^-9 of 1
    ours = np.asarray(ji.uniform_range()(KEY, (256, 256), jnp.bfloat16), np.float64)
    np.testing.assert_array_equal(ours, np.where(rounded == 1.0, 1 - 2**-8, rounded))


def test_low_precision_rounding_is_pulled_inside_the_bounds():
    """Where rounding to bf16 would cross he_normal's +-2 sigma bound, the value is
    the bf16 neighbour inside; every other value is the rounded float32 one."""
    init, shape = ji.he_normal(), (512, 512)
    f32 = np.asarray(init(KEY, shape, jnp.float32), np.float64)
    rounded = np.asarray(init(KEY, shape, jnp.float32).astype(jnp.bfloat16), np.float64)
    ours = np.asarray(init(KEY, shape, jnp.bfloat16), np.float64)
    bound = (
        np.float64(np.float32(np.sqrt(np.float32(2 / 512))) / np.float32(0.87962566103423978)) * 2
    )
    crossing = np.abs(rounded) > bound
    assert crossing.any()  # the case exists at this size
    np.testing.assert_array_equal(ours[~crossing], rounded[~crossing])
    assert (np.abs(ours[crossing]) <= bound).all()
    assert (np.abs(ours[crossing]) > np.abs(f32[crossing]) - 2**-8 * bound).all()


def test_bfloat16_normal_has_full_resolution_and_tails():
    """jax's bf16 normal has ~128 distinct values per million and no value past ~2.9."""
    n = 2**20
    ours = np.asarray(ji.normal(1.0)(KEY, (n,), jnp.bfloat16), np.float64)
    theirs = np.asarray(jax.nn.initializers.normal(1.0)(KEY, (n,), jnp.bfloat16), np.float64)
    assert len(np.unique(ours)) > 4 * len(np.unique(theirs))
    # P(max |z| < 4 over 2^20 normals) = (1 - 6.3e-5)^(2^20) ~ e^-66.
    assert np.abs(ours).max() > 4.0
    assert np.abs(theirs).max() < 3.5


TAIL_INTERVALS = [
    (5.0, 6.0),
    (-6.0, -5.0),
    (10.0, 12.0),
    (-math.inf, -3.0),
    (3.0, math.inf),
    (-math.inf, 0.0),
    (-math.inf, math.inf),
    (0.5, 0.5001),
    (-1e-4, 1e-4),
]


@pytest.mark.parametrize("lower,upper", TAIL_INTERVALS, ids=str)
def test_truncated_normal_any_interval(lower, upper):
    """KS test against scipy's truncnorm, n = 65,536, seed fixed: at this size the
    KS statistic of a correct sampler exceeds 1.63/sqrt(n) (p = 0.01) once in 100
    runs; we require p > 1e-4. Values stay strictly inside the bounds, all finite."""
    x = np.asarray(ji.truncated_normal(1.0, None, lower, upper)(KEY, (65536,)), np.float64)
    assert np.isfinite(x).all()
    assert (x > lower).all() and (x < upper).all()
    assert scipy.stats.kstest(x, scipy.stats.truncnorm(lower, upper).cdf).pvalue > 1e-4
    expected_std = scipy.stats.truncnorm(lower, upper).std()
    assert ji.truncated_normal(1.0, None, lower, upper).target_std((1,)) == pytest.approx(
        expected_std, rel=2e-3
    )


def test_jax_truncated_normal_collapses_in_the_far_tail():
    """The contrast (jax issue 10951): jax's (5, 6) sample has ~10 distinct values."""
    x = np.asarray(jax.random.truncated_normal(KEY, 5.0, 6.0, (65536,)))
    assert len(np.unique(x)) < 100
    ours = np.asarray(ji.truncated_normal(1.0, None, 5.0, 6.0)(KEY, (65536,)))
    assert len(np.unique(ours)) > 50000


@pytest.mark.parametrize("dtype", DTYPES)
def test_far_tail_with_scale_and_low_precision(dtype):
    x = np.asarray(
        ji.truncated_normal(0.02, None, 5.0, 6.0, mean=1.0)(KEY, SHAPE, dtype), np.float64
    )
    assert (x >= 1.0 + 5 * 0.02).all() and (x <= 1.0 + 6 * 0.02).all()
