"""orthogonal and delta_orthogonal: exact structure in every dtype."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jax_inits as ji
from jax_inits._src import _jax_compat as compat

KEY = jax.random.key(5)
# Tolerance on Q^T Q - I for an n x n product: float32 sums n products of
# eps-accurate values; bf16/f16 entries carry a relative rounding error of 2^-9 /
# 2^-11, so each Gram entry is off by up to ~2 * 2^-9 (bf16) in the worst case.
ATOL = {"float32": 1e-5, "float64": 1e-12, "bfloat16": 2e-2, "float16": 5e-3, "complex64": 1e-5}


def _gram_is_identity(m, dtype):
    m = np.asarray(m, np.complex128 if "complex" in dtype else np.float64)
    small = min(m.shape)
    gram = m.conj().T @ m if m.shape[0] >= m.shape[1] else m @ m.conj().T
    np.testing.assert_allclose(gram, np.eye(small), atol=ATOL[dtype])


@pytest.mark.parametrize("dtype", ["float32", "bfloat16", "float16", "complex64", "float64"])
@pytest.mark.parametrize("shape", [(64, 64), (96, 32), (32, 96)])
def test_orthogonal_rows_or_columns(shape, dtype):
    with compat.enable_x64(dtype == "float64"):
        w = ji.orthogonal()(KEY, shape, dtype)
        assert w.dtype == jnp.dtype(dtype)
        _gram_is_identity(w, dtype)


def test_jax_orthogonal_rejects_bfloat16():
    with pytest.raises(NotImplementedError):
        jax.nn.initializers.orthogonal()(KEY, (8, 8), jnp.bfloat16)


def test_orthogonal_column_axis_and_scale():
    w = ji.orthogonal(2.5, column_axis=0)(KEY, (16, 4, 8))
    m = np.moveaxis(np.asarray(w, np.float64), 0, -1).reshape(32, 16) / 2.5
    _gram_is_identity(m, "float32")


def test_orthogonal_is_haar_not_fixed_sign():
    """Mezzadri's sign fix makes diag(R) > 0 impossible to recover; averaged over
    200 keys, each entry's mean is ~0 (std 1/sqrt(8 * 200) = 0.025; 5 sigma)."""
    keys = jax.random.split(KEY, 200)
    ws = jax.vmap(lambda k: ji.orthogonal()(k, (8, 8)))(keys)
    assert np.abs(np.asarray(ws).mean(0)).max() < 5 * 0.025


@pytest.mark.parametrize("dtype", ["float32", "bfloat16", "float16"])
@pytest.mark.parametrize("shape", [(3, 16, 32), (3, 5, 16, 16), (3, 3, 3, 8, 16)])
def test_delta_orthogonal_structure(shape, dtype):
    w = np.asarray(ji.delta_orthogonal(1.0)(KEY, shape, dtype), np.float64)
    centre = tuple((k - 1) // 2 for k in shape[:-2])
    mask = np.ones(shape[:-2], bool)
    mask[centre] = False
    assert (w[mask] == 0).all()  # off-centre taps exactly zero
    _gram_is_identity(w[centre], dtype)


def test_scale_and_target_std():
    shape = (48, 96)
    w = ji.orthogonal(3.0)(KEY, shape)
    assert float(jnp.std(w)) == pytest.approx(ji.orthogonal(3.0).target_std(shape), rel=2e-2)
