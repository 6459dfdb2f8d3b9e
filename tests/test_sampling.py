"""The fused sampling kernels: bits equal jax.random, and structure (not timings):
no loop in the compiled HLO, no full-size temporary, one executable per call."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jax_inits
from jax_inits import sampling
from jax_inits._src import sampling as internals

SHAPES = [(1,), (7,), (33, 65), (2, 3, 4, 5), (0, 3), ()]
KEYS = [jax.random.key(0), jax.random.key(2**31 + 5), jax.random.PRNGKey(123)]


def _both(ours, theirs, key):
    return jax.jit(ours)(key), jax.jit(theirs)(key)


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("key", KEYS, ids=["typed", "typed-big", "raw"])
def test_bit_identical_to_jax_random(shape, key):
    pairs = [
        (lambda k: sampling.bits(k, shape), lambda k: jax.random.bits(k, shape, jnp.uint32)),
        (
            lambda k: sampling.uniform(k, shape, jnp.float32, -0.3, 2.0),
            lambda k: jax.random.uniform(k, shape, jnp.float32, -0.3, 2.0),
        ),
        (lambda k: sampling.normal(k, shape, jnp.float32), lambda k: jax.random.normal(k, shape)),
        (
            lambda k: sampling.truncated_normal(k, -1.5, 2.5, shape, jnp.float32),
            lambda k: jax.random.truncated_normal(k, -1.5, 2.5, shape),
        ),
    ]
    for ours, theirs in pairs:
        a, b = _both(ours, theirs, key)
        assert a.shape == shape
        np.testing.assert_array_equal(a, b)


def test_flat_layout_draws_the_same_bits():
    key = jax.random.key(9)
    for shape in [(4, 5, 6), (3, 1, 2, 7, 2)]:
        with internals.flat_layout(True):
            flat = jax.jit(lambda k, s=shape: sampling.normal(k, s, jnp.float32))(key)
        with internals.flat_layout(False):
            shaped = jax.jit(lambda k, s=shape: sampling.normal(k, s, jnp.float32))(key)
        np.testing.assert_array_equal(flat, shaped)


@pytest.mark.parametrize("impl", ["rbg", "unsafe_rbg"])
def test_other_key_implementations_fall_back_to_jax_random(impl):
    key = jax.random.key(1, impl=impl)
    assert not internals.fused(key, (8, 8))
    a = jax_inits.normal(1.0)(key, (8, 8))
    b = jax.jit(jax.nn.initializers.normal(1.0), static_argnums=1)(key, (8, 8))
    np.testing.assert_array_equal(a, b)


def test_non_partitionable_mode_falls_back_to_jax_random():
    key = jax.random.key(4)
    with jax.threefry_partitionable(False):
        assert not internals.fused(key, (8, 8))
        a = jax_inits.he_normal()(key, (8, 8))
        b = jax.jit(jax.nn.initializers.he_normal(), static_argnums=1)(key, (8, 8))
    np.testing.assert_array_equal(a, b)


def test_complex_normal_has_unit_power():
    z = sampling.normal(jax.random.key(0), (512, 512), jnp.complex64)
    assert abs(float(jnp.mean(jnp.abs(z) ** 2)) - 1) < 5 * 2 / 512  # 5 s.e.


ELEMENTWISE = [
    "normal",
    "uniform",
    "truncated_normal",
    "he_normal",
    "glorot_uniform",
    "lecun_normal",
    "uniform_range",
]


def _compiled(init, shape, dtype=jnp.float32):
    return jax.jit(lambda k: init(k, shape, dtype)).lower(jax.random.key(0)).compile()


@pytest.mark.parametrize("name", ELEMENTWISE)
@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_compiled_initializer_has_no_loop_and_no_temporary(name, dtype):
    shape = (1024, 1024)
    compiled = _compiled(getattr(jax_inits, name)(), shape, dtype)
    assert " while(" not in compiled.as_text() and "while (" not in compiled.as_text()
    temp = compiled.memory_analysis().temp_size_in_bytes
    out = 1024 * 1024 * jnp.dtype(dtype).itemsize
    assert temp <= out // 100, (temp, out)  # jax's own: 2 full-size uint32 arrays


def test_jax_compiles_a_loop_and_temporaries():
    """The contrast the kernels remove (jax's CPU lowering of threefry)."""
    compiled = _compiled(jax.nn.initializers.he_normal(), (1024, 1024))
    assert "while" in compiled.as_text()
    assert compiled.memory_analysis().temp_size_in_bytes >= 1024 * 1024 * 4


@pytest.mark.parametrize("name", ["he_normal", "normal", "orthogonal", "zeros"])
def test_eager_call_is_one_executable(name):
    init = getattr(jax_inits, name)
    init = init if name == "zeros" else init()
    jaxpr = jax.make_jaxpr(lambda k: init(k, (16, 16)))(jax.random.key(0))
    assert len(jaxpr.eqns) == 1 and jaxpr.eqns[0].primitive.name in ("pjit", "jit")


def test_equal_initializers_share_the_compiled_executable():
    from jax_inits._src.base import _run

    key = jax.random.key(0)
    jax_inits.he_normal()(key, (40, 24))
    before = _run._cache_size()
    jax_inits.variance_scaling(2.0, "fan_in", "truncated_normal")(key, (40, 24))
    jax_inits.kaiming_normal()(key, (40, 24))
    assert _run._cache_size() == before


def test_complex_samplers_split_the_key_as_documented():
    """Modulus from the first half of split(key), phase from the second; the two
    parts of a complex normal from the two halves, never the same key twice."""
    key, shape = jax.random.key(8), (64, 64)
    first, second = jax.random.split(key)
    z = np.asarray(sampling.complex_uniform_disk(key, shape, jnp.complex64))
    u_modulus = np.asarray(sampling.uniform(first, shape, jnp.float32))
    np.testing.assert_allclose(np.abs(z), np.sqrt(2 * u_modulus), rtol=1e-6)
    zn = np.asarray(sampling.normal(key, shape, jnp.complex64))
    np.testing.assert_allclose(
        zn.real, np.asarray(sampling.normal(first, shape, jnp.float32)) * np.sqrt(0.5), rtol=1e-6
    )
    np.testing.assert_allclose(
        zn.imag, np.asarray(sampling.normal(second, shape, jnp.float32)) * np.sqrt(0.5), rtol=1e-6
    )
    # Independent parts: |corr| of 4096 pairs below 5 / sqrt(4096).
    assert abs(np.corrcoef(zn.real.ravel(), zn.imag.ravel())[0, 1]) < 5 / 64


def test_orthogonal_draws_one_normal_matrix_from_the_key():
    key = jax.random.key(3)
    q = np.asarray(sampling.orthogonal(key, 6, 4, jnp.float32))
    z = np.asarray(sampling.normal(key, (6, 4), jnp.float32))
    # Q spans the columns of Z: Q Q^T Z = Z.
    np.testing.assert_allclose(q @ q.T @ z, z, atol=1e-5)
