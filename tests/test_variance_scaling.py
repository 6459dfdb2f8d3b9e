"""Fans and the variance-scaling family: std per mode x distribution x dtype,
explicit fans, and exact complex second moments.

Real checks use 262,144 values, complex ones 2^20 (the 5-sigma tolerance on
E|w|^2 is then ~0.5%, well below jax's 1.87% error for complex truncated normal).
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from _stats import assert_complex_moments, assert_mean_std

import jax_inits as ji
from jax_inits._src import _jax_compat as compat

KEY = jax.random.key(99)
MODES = ["fan_in", "fan_out", "fan_avg", "fan_geo_avg"]
DISTRIBUTIONS = ["truncated_normal", "normal", "uniform"]


@pytest.mark.parametrize(
    "shape,axes,fans",
    [
        ((256, 512), {}, (256.0, 512.0)),
        ((3, 3, 64, 128), {}, (576.0, 1152.0)),
        ((8, 64, 32), {"batch_axis": 0}, (64.0, 32.0)),
        ((4, 5, 6), {"in_axis": (0, 1), "out_axis": 2}, (20.0, 6.0)),
        ((4, 5, 6), {"in_axis": -1, "out_axis": 0}, (30.0, 20.0)),
        ((2, 0, 3), {}, (0.0, 6.0)),
    ],
)
def test_compute_fans(shape, axes, fans):
    assert ji.compute_fans(shape, **axes) == fans


@pytest.mark.parametrize("dtype", ["float32", "bfloat16", "float16"])
@pytest.mark.parametrize("distribution", DISTRIBUTIONS)
@pytest.mark.parametrize("mode", MODES)
def test_std_is_scale_over_n(mode, distribution, dtype):
    shape = (3, 3, 128, 256)  # fan_in 1152, fan_out 2304: 294,912 values
    init = ji.variance_scaling(1.7, mode, distribution)
    fan_in, fan_out = 1152, 2304
    n = {
        "fan_in": fan_in,
        "fan_out": fan_out,
        "fan_avg": (fan_in + fan_out) / 2,
        "fan_geo_avg": math.sqrt(fan_in * fan_out),
    }[mode]
    assert init.target_std(shape) == pytest.approx(math.sqrt(1.7 / n), rel=1e-12)
    assert_mean_std(init(KEY, shape, dtype), 0.0, math.sqrt(1.7 / n))


@pytest.mark.parametrize("distribution", DISTRIBUTIONS)
def test_explicit_fans_override_the_shape(distribution):
    shape = (4, 256, 256)  # 262,144 values
    init = ji.variance_scaling(1.0, "fan_avg", distribution, fan_in=100, fan_out=300)
    assert_mean_std(init(KEY, shape), 0.0, math.sqrt(1 / 200))
    only_in = ji.variance_scaling(2.0, "fan_in", distribution, fan_in=50.0)
    assert_mean_std(only_in(KEY, (4,)), 0.0, 0.2, extra_rel=3.0)  # rank 1 is fine here
    assert only_in.target_std((4,)) == pytest.approx(0.2)
    assert_mean_std(only_in(KEY, shape), 0.0, 0.2)


def test_stacked_layers_via_batch_axis():
    w = ji.he_normal(batch_axis=0)(KEY, (16, 128, 128))
    assert_mean_std(w, 0.0, math.sqrt(2 / 128))
    assert not np.array_equal(w[0], w[1])


@pytest.mark.parametrize("dtype", ["complex64", "complex128"])
@pytest.mark.parametrize("distribution", DISTRIBUTIONS)
def test_complex_second_moment_is_exact(distribution, dtype):
    with compat.enable_x64(dtype == "complex128"):
        init = ji.variance_scaling(3.0, "fan_in", distribution)
        z = init(KEY, (1024, 1024), dtype)
        assert z.dtype == jnp.dtype(dtype)
        assert_complex_moments(z, 3.0 / 1024)


def test_complex_truncated_normal_modulus_is_truncated():
    z = np.asarray(
        ji.variance_scaling(1.0, "fan_in", "truncated_normal")(KEY, (1024, 1024), jnp.complex64)
    )
    std = math.sqrt(1 / 1024)
    limit = 2 * std / math.sqrt((1 - 5 * math.exp(-4)) / (1 - math.exp(-4)))
    assert np.abs(z).max() <= limit * (1 + 1e-6)


def test_jax_complex_truncated_normal_is_too_wide():
    """The contrast: jax's constant .95311 makes E|w|^2 1.87% too high."""
    z = jax.nn.initializers.variance_scaling(1.0, "fan_in", "truncated_normal")(
        KEY, (1024, 1024), jnp.complex64
    )
    ratio = float(jnp.mean(jnp.abs(z) ** 2)) * 1024
    assert ratio == pytest.approx(1.0187, abs=0.005)


def test_named_builders():
    shape = (512, 512)  # fan_in = fan_out = fan_avg = 512
    expected = {
        "glorot_uniform": 1 / 512,
        "glorot_normal": 1 / 512,
        "lecun_uniform": 1 / 512,
        "lecun_normal": 1 / 512,
        "he_uniform": 2 / 512,
        "he_normal": 2 / 512,
    }
    for name, variance in expected.items():
        assert_mean_std(getattr(ji, name)()(KEY, shape), 0.0, math.sqrt(variance))


def test_uniform_and_truncated_bounds():
    shape = (1024, 1024)
    u = np.asarray(ji.he_uniform()(KEY, shape, jnp.bfloat16), np.float64)
    assert np.abs(u).max() <= math.sqrt(3 * 2 / 1024) * (1 + 2**-20)
    t = np.asarray(ji.he_normal()(KEY, shape, jnp.bfloat16), np.float64)
    assert np.abs(t).max() <= 2 * math.sqrt(2 / 1024) / 0.87962566103423978 * (1 + 2**-20)


@pytest.mark.parametrize(
    ("equation", "shape", "fans"),
    [
        ("...d,dhk->...hk", (512, 8, 64), (512.0, 512.0)),  # attention Q/K/V
        ("...hk,hkd->...d", (8, 64, 512), (512.0, 512.0)),  # attention output
        ("bpd,hdk->bphk", (8, 512, 64), (512.0, 512.0)),  # transformer_lens W_Q layout
        ("ebd,edf->ebf", (4, 256, 1024), (256.0, 1024.0)),  # per-expert kernels
        ("bi,io->bo", (3, 5), (3.0, 5.0)),
        ("b i , i o -> b o", (3, 5), (3.0, 5.0)),
        ("...d,d->...d", (7,), (1.0, 1.0)),  # elementwise scale: shared axis only
        ("x,ab,bxc->ac", (2, 3, 5), (6.0, 5.0)),  # kernel last of three operands
    ],
)
def test_einsum_axes_give_the_fans_of_the_contraction(equation, shape, fans):
    axes = ji.einsum_axes(equation)
    assert ji.compute_fans(shape, **axes) == fans
    init = ji.he_normal(**axes)
    assert init.target_std(shape) == pytest.approx(math.sqrt(2 / fans[0]), rel=1e-12)


def test_einsum_axes_operand_and_errors():
    assert ji.einsum_axes("io,bi->bo", operand=0) == {
        "in_axis": (0,),
        "out_axis": (1,),
        "batch_axis": (),
    }
    for equation, message in [
        ("bi,io", r"must be explicit, 'inputs->output'"),
        ("io->o", r"at least two inputs"),
        ("bi,...io->bo", r"must be distinct letters"),
        ("bi,iio->bo", r"must be distinct letters"),
        ("bi,ijo->bo", r"kernel axis 1 \('j'\) .* appears in no other operand"),
    ]:
        with pytest.raises(ValueError, match=rf"^einsum_axes: .*{message}"):
            ji.einsum_axes(equation)
    with pytest.raises(ValueError, match=r"^einsum_axes: `operand` must index one of the 2"):
        ji.einsum_axes("bi,io->bo", operand=2)
    with pytest.raises(TypeError, match=r"^einsum_axes: `equation` must be a string"):
        ji.einsum_axes(None)


def test_compute_fans_takes_an_einsum_equation():
    assert ji.compute_fans((8, 64, 512), einsum="bthk,hkd->btd") == (512.0, 512.0)
    assert ji.compute_fans((4, 256, 1024), einsum="ebd,edf->ebf") == (256.0, 1024.0)
    with pytest.raises(ValueError, match=r"^compute_fans: give either `einsum` or axis arguments"):
        ji.compute_fans((3, 5), 0, einsum="bi,io->bo")
    with pytest.raises(ValueError, match=r"^einsum_axes: `equation` must be explicit"):
        ji.compute_fans((3, 5), einsum="bi,io")
