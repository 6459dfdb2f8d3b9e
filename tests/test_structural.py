"""identity, dirac, sparse and stacked: exact structure and key derivation."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from _gates import assert_sharded_equals_whole as assert_same_draw
from _stats import assert_mean_std

import jax_inits

KEY = jax.random.key(0)


@pytest.mark.parametrize("shape", [(3, 3), (2, 5), (5, 2), (4, 2, 3), (2, 3, 4, 4)], ids=str)
def test_identity_is_a_batch_of_rectangular_identities(shape):
    w = np.asarray(jax_inits.identity(-1.5)(None, shape))
    expected = np.broadcast_to(-1.5 * np.eye(shape[-2], shape[-1]), shape)
    np.testing.assert_array_equal(w, expected)
    assert jax_inits.identity(-1.5).target_std(shape) == pytest.approx(expected.std(), abs=1e-12)


def test_identity_in_integer_dtype_and_error():
    np.testing.assert_array_equal(jax_inits.identity()(None, (2, 2), jnp.int8), np.eye(2))
    with pytest.raises(
        ValueError, match=r"^identity: needs a shape of rank >= 2, got shape \(3,\)"
    ):
        jax_inits.identity()(None, (3,))


@pytest.mark.parametrize("groups", [1, 2, 4])
def test_dirac_convolution_copies_each_group(groups):
    # A grouped convolution (feature_group_count) with the dirac kernel is the identity.
    channels = 8
    w = jax_inits.dirac(groups)(None, (3, 3, channels // groups, channels))
    x = jax.random.normal(KEY, (2, 7, 7, channels))
    y = jax.lax.conv_general_dilated(
        x,
        w,
        (1, 1),
        "SAME",
        dimension_numbers=("NHWC", "HWIO", "NHWC"),
        feature_group_count=groups,
    )
    np.testing.assert_allclose(y, x, atol=1e-6)


def test_dirac_target_std_is_exact():
    for shape, groups in [((3, 3, 4, 8), 2), ((5, 6, 3), 3), ((2, 2, 2, 4, 4), 1)]:
        w = np.asarray(jax_inits.dirac(groups, 0.5)(None, shape), np.float64)
        assert jax_inits.dirac(groups, 0.5).target_std(shape) == pytest.approx(w.std(), rel=1e-12)


@pytest.mark.parametrize("sparsity", [0.0, 0.1, 0.5, 0.99, 1.0])
def test_sparse_zeros_exactly_ceil_sparsity_n_per_input(sparsity):
    shape = (20, 37)  # (in, out)
    w = np.asarray(jax_inits.sparse(sparsity, 1.0)(KEY, shape))
    per_input = (w == 0).sum(axis=1)
    np.testing.assert_array_equal(per_input, math.ceil(sparsity * 37))
    if (w != 0).sum() > 1:
        assert_mean_std(w[w != 0], 0.0, 1.0)  # n >= 20 values; 5 sigma
    # Different rows zero different positions (the pattern is random, not fixed).
    if 0 < math.ceil(sparsity * 37) < 37:
        assert len({tuple(np.flatnonzero(r == 0)) for r in w}) > 1


def test_sparse_bf16_keeps_the_exact_count():
    w = jax_inits.sparse(0.3)(KEY, (64, 100), jnp.bfloat16)
    assert w.dtype == jnp.bfloat16
    np.testing.assert_array_equal((w == 0).sum(axis=1), 30)


def test_sparse_errors():
    with pytest.raises(ValueError, match=r"^sparse: `sparsity` must be <= 1, got 2"):
        jax_inits.sparse(2)
    with pytest.raises(TypeError, match=r"^sparse: `dtype` must be a floating dtype"):
        jax_inits.sparse(0.1)(KEY, (4, 4), jnp.complex64)


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_stacked_slices_are_the_inner_init_with_split_keys(axis):
    inner = jax_inits.he_normal()
    shape = [64, 32]
    shape.insert(axis % 3, 5)
    w = jax_inits.stacked(inner, axis)(KEY, tuple(shape))
    keys = jax.random.split(KEY, 5)
    for i in range(5):
        assert_same_draw(jnp.take(w, i, axis=axis), inner(keys[i], (64, 32)))


def test_stacked_excludes_the_stack_from_the_fans():
    # n = 12 * 512 * 512 values: std within 5/sqrt(2n) relative of sqrt(2/512);
    # the unstacked he_normal would give sqrt(2 / (12 * 512)).
    w = jax_inits.stacked(jax_inits.he_normal())(KEY, (12, 512, 512))
    assert_mean_std(w, 0.0, math.sqrt(2 / 512))
    assert jax_inits.stacked(jax_inits.he_normal()).target_std((12, 512, 512)) == math.sqrt(2 / 512)


def test_stacked_keeps_bounds_and_dtypes_of_the_inner_init():
    w = jax_inits.stacked(jax_inits.truncated_normal(1.0))(KEY, (4, 256, 256), jnp.bfloat16)
    assert w.dtype == jnp.bfloat16 and float(jnp.abs(w).max()) <= 2.0
    z = jax_inits.stacked(jax_inits.haar_unitary())(KEY, (3, 16, 16))
    assert z.dtype == jnp.complex64
    for u in z:
        np.testing.assert_allclose(u.conj().T @ u, np.eye(16), atol=1e-5)


def test_stacked_foreign_and_deterministic_inits():
    jax_init = jax.nn.initializers.lecun_normal()
    w = jax_inits.stacked(jax_init)(KEY, (3, 8, 8))
    np.testing.assert_array_equal(w[1], jax_init(jax.random.split(KEY, 3)[1], (8, 8)))
    eye = jax_inits.stacked(jax_inits.identity())(None, (2, 3, 3))
    np.testing.assert_array_equal(eye, np.broadcast_to(np.eye(3), (2, 3, 3)))


def test_stacked_errors():
    with pytest.raises(TypeError, match=r"^stacked: `init` must be an initializer, got 3"):
        jax_inits.stacked(3)
    with pytest.raises(ValueError, match=r"^stacked: shape \(4, 4\) of rank 2 has no axis 2"):
        jax_inits.stacked(jax_inits.normal(), axis=2)(KEY, (4, 4))
    with pytest.raises(ValueError, match=r"^he_normal: shape \(4,\) of rank 1 has no axis -2"):
        jax_inits.stacked(jax_inits.he_normal())(KEY, (3, 4))


@pytest.mark.parametrize("axis", [0, -1])
def test_grouped_blocks_are_the_inner_init_with_split_keys(axis):
    inner = jax_inits.glorot_uniform()
    w = jax_inits.grouped(inner, 3, axis)(KEY, (48, 96) if axis == -1 else (96, 48))
    keys = jax.random.split(KEY, 3)
    block = (48, 32) if axis == -1 else (32, 48)
    for g, part in enumerate(jnp.split(w, 3, axis=axis)):
        np.testing.assert_array_equal(part, inner(keys[g], block))


def test_grouped_fused_qkv_has_the_bound_of_one_block():
    # timm's moco qkv: U(+-sqrt(6 / (3d/3 + d))) on the torch (3d, d) weight; here (d, 3d).
    d = 128
    w = np.asarray(jax_inits.grouped(jax_inits.glorot_uniform(), 3)(KEY, (d, 3 * d)))
    bound = math.sqrt(6 / (d + d))
    # n = 3 * 128^2 uniform draws: the max |w| is within 10/n * bound of the bound (P ~ e^-10).
    assert np.abs(w).max() <= bound and np.abs(w).max() > bound * (1 - 10 / w.size)
    assert jax_inits.grouped(jax_inits.glorot_uniform(), 3).target_std((d, 3 * d)) == (
        jax_inits.glorot_uniform().target_std((d, d))
    )


def test_grouped_deterministic_inner_and_errors():
    eye = jax_inits.grouped(jax_inits.identity(), 2)(None, (3, 6))
    np.testing.assert_array_equal(eye, np.concatenate([np.eye(3)] * 2, axis=1))
    with pytest.raises(TypeError, match=r"^grouped: `init` must be an initializer, got 3"):
        jax_inits.grouped(3, 2)
    with pytest.raises(ValueError, match=r"^grouped: `groups` must be > 0, got 0"):
        jax_inits.grouped(jax_inits.normal(), 0)
    with pytest.raises(ValueError, match=r"^grouped: axis -1 of shape \(4, 9\) has size 9, which"):
        jax_inits.grouped(jax_inits.normal(), 2)(KEY, (4, 9))
