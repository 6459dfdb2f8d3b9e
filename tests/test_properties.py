"""Property tests (hypothesis, derandomized, bounded examples).

Each example compiles an executable (~0.1 s), so the example counts are small;
derandomize=True makes every run draw the same examples. Every property runs twice:
with a few examples in `make test` and with more in `make test-slow` (`_tiers`).
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jax.sharding import AxisType, NamedSharding
from jax.sharding import PartitionSpec as P

import jax_inits as ji


def _tiers(fast, slow, *strategies):
    """``(make test version, make test-slow version)`` of a property: the same check
    under ``given(*strategies)`` with ``fast`` and with ``slow`` examples."""

    def wrap(check):
        def tier(n):
            return settings(max_examples=n, deadline=None, derandomize=True)(
                given(*strategies)(check)
            )

        return tier(fast), pytest.mark.slow(tier(slow))

    return wrap


DTYPES = st.sampled_from(["float32", "bfloat16", "float16"])
SEEDS = st.integers(0, 2**32 - 1)


@st.composite
def shaped_variance_scaling(draw):
    """A random shape of rank 2-5 (sizes 0-6) and a variance_scaling initializer
    whose in/out/batch axes are disjoint subsets of it."""
    rank = draw(st.integers(2, 5))
    shape = tuple(draw(st.lists(st.integers(0, 6), min_size=rank, max_size=rank)))
    axes = draw(st.permutations(range(rank)))
    n_in = draw(st.integers(1, rank - 1))
    n_out = draw(st.integers(1, rank - n_in))
    n_batch = draw(st.integers(0, rank - n_in - n_out))
    in_axis = tuple(axes[:n_in])
    out_axis = tuple(axes[n_in : n_in + n_out])
    batch_axis = tuple(axes[n_in + n_out : n_in + n_out + n_batch])
    # Mix in negative spellings of the same axes.
    if draw(st.booleans()):
        in_axis = tuple(a - rank for a in in_axis)
    init = ji.variance_scaling(
        draw(st.floats(0.1, 3.0)),
        draw(st.sampled_from(["fan_in", "fan_out", "fan_avg", "fan_geo_avg"])),
        draw(st.sampled_from(["truncated_normal", "normal", "uniform"])),
        in_axis=in_axis,
        out_axis=out_axis,
        batch_axis=batch_axis,
    )
    return init, shape


def _variance_scaling_properties(init_shape, dtype, seed):
    init, shape = init_shape
    key = jax.random.key(seed)
    out = init(key, shape, dtype)
    assert out.shape == shape and out.dtype == jnp.dtype(dtype)
    np.testing.assert_array_equal(out, init(key, shape, dtype))
    np.testing.assert_array_equal(out, jax.jit(init, static_argnums=(1, 2))(key, shape, dtype))
    assert np.isfinite(np.asarray(out, np.float32)).all()
    if out.size:
        bound = (
            2 * init.target_std(shape) / 0.8796
            if init.distribution == "truncated_normal"
            else np.sqrt(3) * init.target_std(shape)
            if init.distribution == "uniform"
            else np.inf
        )
        assert np.abs(np.asarray(out, np.float64)).max() <= bound * (1 + 1e-6)


ELEMENTWISE = [
    ji.normal(0.3),
    ji.uniform(2.0),
    ji.truncated_normal(0.5, lower=-1.0, upper=3.0),
    ji.uniform_range(-2.0, 5.0),
    ji.he_uniform(),
    ji.constant(1.5),
]


def _any_rank_including_scalars_and_empty(init, shape, dtype, seed):
    if init == ji.he_uniform() and len(shape) < 2:
        shape = shape + (3, 2)
    key = jax.random.key(seed)
    out = init(key, shape, dtype)
    assert out.shape == shape and out.dtype == jnp.dtype(dtype)
    np.testing.assert_array_equal(out, jax.jit(init, static_argnums=(1, 2))(key, shape, dtype))
    assert np.isfinite(np.asarray(out, np.float32)).all()


def _vmap_over_keys_equals_loop(init, seed, n):
    keys = jax.random.split(jax.random.key(seed), n)
    batched = jax.vmap(lambda k: init(k, (6, 4)))(keys)
    for i in range(n):
        np.testing.assert_array_equal(batched[i], init(keys[i], (6, 4)))


def _out_sharding_equals_unsharded(init, seed, mesh_shape, spec):
    mesh = jax.make_mesh(mesh_shape, ("x", "y"), axis_types=(AxisType.Auto,) * 2)
    key = jax.random.key(seed)
    out = init(key, (16, 24), out_sharding=NamedSharding(mesh, spec))
    np.testing.assert_array_equal(out, init(key, (16, 24)))


def _different_keys_give_different_values(a, b):
    if a == b:
        return
    init = ji.normal(1.0)
    assert not np.array_equal(init(jax.random.key(a), (8, 8)), init(jax.random.key(b), (8, 8)))


test_variance_scaling_properties, test_variance_scaling_properties_more = _tiers(
    6, 25, shaped_variance_scaling(), DTYPES, SEEDS
)(_variance_scaling_properties)

test_any_rank_including_scalars_and_empty, test_any_rank_including_scalars_and_empty_more = _tiers(
    6,
    25,
    st.sampled_from(ELEMENTWISE),
    st.lists(st.integers(0, 5), min_size=0, max_size=5).map(tuple),
    DTYPES,
    SEEDS,
)(_any_rank_including_scalars_and_empty)

test_vmap_over_keys_equals_loop, test_vmap_over_keys_equals_loop_more = _tiers(
    3,
    10,
    st.sampled_from(ELEMENTWISE + [ji.orthogonal(), ji.lecun_normal()]),
    SEEDS,
    st.integers(1, 4),
)(_vmap_over_keys_equals_loop)

test_out_sharding_equals_unsharded, test_out_sharding_equals_unsharded_more = _tiers(
    3,
    12,
    st.sampled_from(ELEMENTWISE + [ji.orthogonal(), ji.glorot_normal()]),
    SEEDS,
    st.sampled_from([(1, 8), (2, 4), (4, 2), (8, 1)]),
    st.sampled_from([P("x", "y"), P("x", None), P(None, "y"), P()]),
)(_out_sharding_equals_unsharded)

test_different_keys_give_different_values, test_different_keys_give_different_values_more = _tiers(
    3, 15, SEEDS, SEEDS
)(_different_keys_give_different_values)
