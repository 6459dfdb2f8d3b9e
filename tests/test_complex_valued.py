"""Complex initializers: Trabelsi's Glorot/He, disk/box uniform, Haar unitary.

Distribution tests use KS statistics on n = 65536 values (seed 0); a KS
p-value below 1e-6 fails (false-failure rate 1e-6 per test).
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from _stats import assert_complex_moments
from scipy import stats

import jax_inits

KEY = jax.random.key(0)
SHAPE = (256, 256)  # n = 65536, fans 256/256


@pytest.mark.parametrize(
    ("builder", "sigma"),
    [(jax_inits.complex_glorot, 1 / math.sqrt(512)), (jax_inits.complex_he, 1 / math.sqrt(256))],
    ids=["glorot", "he"],
)
def test_trabelsi_rayleigh_modulus_and_uniform_phase(builder, sigma):
    w = np.asarray(builder()(KEY, SHAPE), np.complex128).ravel()
    assert stats.kstest(np.abs(w), stats.rayleigh(scale=sigma).cdf).pvalue > 1e-6
    assert stats.kstest(np.angle(w), stats.uniform(-math.pi, 2 * math.pi).cdf).pvalue > 1e-6
    assert_complex_moments(w, 2 * sigma**2)
    assert builder().target_std(SHAPE) == pytest.approx(math.sqrt(2) * sigma, rel=1e-12)


def test_complex_glorot_variance_is_glorots_not_the_reference_code_s():
    # Var = 2 / (fan_in + fan_out); the reference code's sigma = 1/(fi+fo) would give
    # 2 / (fi+fo)^2, a factor fi+fo too small.
    w = jax_inits.complex_glorot()(KEY, (128, 384))
    assert_complex_moments(w, 2 / 512)


@pytest.mark.parametrize("region", ["disk", "box"])
def test_complex_uniform_regions(region):
    scale = 0.3
    w = np.asarray(jax_inits.complex_uniform(scale, region=region)(KEY, SHAPE), np.complex128)
    w = w.ravel()
    power = scale**2 / 2 if region == "disk" else 2 * scale**2 / 3
    assert_complex_moments(w, power)
    if region == "disk":
        assert np.abs(w).max() <= scale
        # |w|^2 / scale^2 is uniform on [0, 1].
        assert stats.kstest(np.abs(w) ** 2 / scale**2, "uniform").pvalue > 1e-6
    else:
        assert max(np.abs(w.real).max(), np.abs(w.imag).max()) <= scale
        for part in (w.real, w.imag):
            assert stats.kstest(part, stats.uniform(-scale, 2 * scale).cdf).pvalue > 1e-6
        assert abs(np.corrcoef(w.real, w.imag)[0, 1]) < 5 / math.sqrt(w.size)
    assert jax_inits.complex_uniform(scale, region=region).target_std(SHAPE) == pytest.approx(
        math.sqrt(power), rel=1e-12
    )


@pytest.mark.parametrize("shape", [(16, 16), (32, 8), (8, 32), (4, 4, 12)], ids=str)
def test_haar_unitary_is_unitary(shape):
    u = np.asarray(jax_inits.haar_unitary(2.0)(KEY, shape), np.complex128)
    m = u.reshape(-1, shape[-1]) / 2.0
    small = min(m.shape)
    gram = m.conj().T @ m if m.shape[1] == small else m @ m.conj().T
    np.testing.assert_allclose(gram, np.eye(small), atol=1e-5)


@pytest.mark.slow  # `make test` checks Haar unitaries by their entries (goodness of fit)
def test_haar_unitary_eigenphases_are_uniform():
    # Haar unitaries have eigenvalue phases uniform on the circle marginally;
    # 128 matrices of 64 x 64: n = 8192 phases (correlated within a matrix,
    # repelling, which only makes the empirical CDF closer to uniform).
    keys = jax.random.split(KEY, 128)
    u = jax.vmap(lambda k: jax_inits.haar_unitary()(k, (64, 64)))(keys)
    phases = np.angle(np.linalg.eigvals(np.asarray(u, np.complex128))).ravel()
    assert stats.kstest(phases, stats.uniform(-math.pi, 2 * math.pi).cdf).pvalue > 1e-6


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: jax_inits.complex_he()(KEY, (4, 4), jnp.float32), r"^complex_he: `dtype` must "),
        (lambda: jax_inits.complex_glorot(dtype=jnp.float32), r"^complex_glorot: `dtype` must be"),
        (lambda: jax_inits.complex_uniform(dtype="float16"), r"^complex_uniform: `dtype` must "),
        (lambda: jax_inits.haar_unitary()(KEY, (4, 4), "bfloat16"), r"^haar_unitary: `dtype`"),
    ],
)
def test_real_dtypes_are_type_errors(call, message):
    with pytest.raises(TypeError, match=message + ".*complex"):
        call()


def test_region_error():
    with pytest.raises(ValueError, match=r"^complex_uniform: `region` must be one of \('disk'"):
        jax_inits.complex_uniform(region="square")
