"""out_sharding on 8 virtual CPU devices (conftest sets jax_num_cpu_devices=8).

Every initializer, complex paths, orthogonal and delta_orthogonal included,
returns the unsharded values laid out as requested, on Auto meshes with a
NamedSharding (where jax 0.10 raises) and on Explicit meshes with a
PartitionSpec under ``jax.set_mesh`` (what jax accepts).
"""

import inspect

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from _gates import assert_sharded_equals_whole, fused_kernels_only
from _subsets import in_make_test, rotated, shared
from jax.sharding import AxisType, NamedSharding
from jax.sharding import PartitionSpec as P

import jax_inits as ji
from jax_inits._src import _jax_compat as compat
from jax_inits._src import catalog

KEY = jax.random.key(17)
ENTRIES = {e.name: e for e in catalog.ENTRIES}
MESHES = [(1, 8), (2, 4), (8, 1)]
EXTRA = {
    "complex_normal": (ji.normal(1.0), "complex64"),
    "complex_truncated": (ji.variance_scaling(1.0, "fan_in", "truncated_normal"), "complex64"),
    "complex_uniform": (ji.variance_scaling(1.0, "fan_in", "uniform"), "complex64"),
    "complex_orthogonal": (ji.orthogonal(), "complex64"),
    "bf16_he_normal": (ji.he_normal(), "bfloat16"),
}
CASES = {name: (e.example, e.dtype("float32").name, e.conv) for name, e in ENTRIES.items()}
CASES.update({name: (init, dtype, False) for name, (init, dtype) in EXTRA.items()})


# Built by matrix products, which XLA partitions (and so rounds) differently from
# the unsharded computation: equal to float32 rounding (values ~0.07, ulp ~7e-9).
ROUNDING = {"recipes.block_orthogonal"}


def _assert_same_values(name, out, expected):
    if name in ROUNDING:
        np.testing.assert_allclose(out, expected, rtol=0, atol=1e-6)
    else:
        assert_sharded_equals_whole(out, expected)


#: The builders the Auto-mesh test runs in `make test` (the Explicit-mesh test, the others).
_AUTO_FAST = {p.values[0] for p in shared(sorted(CASES), 0, 2) if not p.marks}


def _shape_spec(conv):
    return ((3, 3, 16, 24), P(None, None, "x", "y")) if conv else ((16, 24), P("x", "y"))


# `make test` splits the representative builders between the Auto-mesh NamedSharding
# and the Explicit-mesh PartitionSpec tests (one each, meshes rotating); `make test-slow`
# runs every builder in both on every mesh.
@pytest.mark.parametrize(
    "name,mesh_shape",
    [
        p if p.values[0] in _AUTO_FAST else pytest.param(*p.values, id=p.id, marks=pytest.mark.slow)
        for p in rotated(sorted(CASES), MESHES)
    ],
)
def test_named_sharding_on_auto_mesh(name, mesh_shape):
    init, dtype, conv = CASES[name]
    shape, spec = _shape_spec(conv)
    mesh = jax.make_mesh(mesh_shape, ("x", "y"), axis_types=(AxisType.Auto,) * 2)
    sharding = NamedSharding(mesh, spec)
    out = init(KEY, shape, dtype, out_sharding=sharding)
    assert out.sharding.is_equivalent_to(sharding, len(shape))
    _assert_same_values(name, out, init(KEY, shape, dtype))


@pytest.mark.parametrize("name", shared(sorted(CASES), 1, 2))
def test_partition_spec_on_explicit_mesh(name):
    init, dtype, conv = CASES[name]
    shape, spec = _shape_spec(conv)
    mesh = jax.make_mesh((2, 4), ("x", "y"), axis_types=(AxisType.Explicit,) * 2)
    with compat.set_mesh(mesh):
        out = init(KEY, shape, dtype, out_sharding=spec)
        jitted = jax.jit(lambda k: init(k, shape, dtype, out_sharding=spec))(KEY)
        assert jax.typeof(jitted).sharding.spec == spec
    assert out.sharding.is_equivalent_to(NamedSharding(mesh, spec), len(shape))
    expected = init(KEY, shape, dtype)
    _assert_same_values(name, out, expected)
    _assert_same_values(name, jitted, expected)


@pytest.mark.skipif(
    "out_sharding" not in inspect.signature(jax.nn.initializers.he_normal()).parameters,
    reason=f"jax {jax.__version__}'s initializers take no `out_sharding` (jax >= 0.7)",
)
def test_jax_rejects_named_sharding_on_auto_mesh():
    mesh = jax.make_mesh((2, 4), ("x", "y"), axis_types=(AxisType.Auto,) * 2)
    with pytest.raises(ValueError, match="Auto"):
        jax.nn.initializers.he_normal()(KEY, (16, 24), out_sharding=NamedSharding(mesh, P("x")))


def test_jit_out_shardings_equal_unsharded():
    mesh = jax.make_mesh((2, 4), ("x", "y"), axis_types=(AxisType.Auto,) * 2)
    sharding = NamedSharding(mesh, P("x", "y"))
    f = jax.jit(lambda k: ji.he_normal()(k, (64, 64)), out_shardings=sharding)
    assert_sharded_equals_whole(f(KEY), ji.he_normal()(KEY, (64, 64)))


def test_elementwise_sharded_init_has_no_collective():
    mesh = jax.make_mesh((2, 4), ("x", "y"), axis_types=(AxisType.Auto,) * 2)
    sharding = NamedSharding(mesh, P("x", "y"))
    init = ji.he_normal()
    hlo = jax.jit(lambda k: init(k, (64, 64), out_sharding=sharding)).lower(KEY).compile()
    text = hlo.as_text()
    for op in ("all-gather", "all-reduce", "all-to-all", "collective-permute"):
        assert op not in text


# ----------------------------------------------------------------------------- per-device work
# Every catalogue entry under jax.jit(..., out_shardings=...) and with out_sharding=,
# meshes 1x8, 2x4, 8x1. Elementwise initializers (all but the orthogonal family,
# which runs a QR of the whole matrix) must compile to per-device programs without
# collectives whose output is one shard and whose temporaries are (nearly) nothing.
# A new builder that is not elementwise belongs in NOT_ELEMENTWISE.
BIG = (256, 512)  # 512 KiB of float32: a whole copy per device would show in the temp size
# sparse sorts random keys along a whole row; the orthogonal family runs a QR.
NOT_ELEMENTWISE = {
    "orthogonal",
    "delta_orthogonal",
    "haar_unitary",
    "pytorch.orthogonal",
    "recipes.block_orthogonal",
    "sparse",
    "pytorch.sparse",
}
# stacked keeps the keys of its slices (8 bytes each plus index copies): O(slices),
# never an array of the output's size.
TEMP_ALLOWANCE = {"stacked": 16 * BIG[0]}
COLLECTIVES = ("all-gather", "all-reduce", "all-to-all", "collective-permute", "reduce-scatter")


def _big_case(entry, mesh_shape):
    mesh = jax.make_mesh(mesh_shape, ("x", "y"), axis_types=(AxisType.Auto,) * 2)
    spec = P(None, None, "x", "y") if entry.conv else P("x", "y")
    # The QR of the orthogonal family is slow to compile sharded; a small shape shows its values.
    shape = (16, 24) if entry.name in NOT_ELEMENTWISE else BIG
    return entry.shape(shape), NamedSharding(mesh, spec)


def _check_per_device(compiled, entry, shape):
    text = compiled.as_text()
    assert not [op for op in COLLECTIVES if op in text]
    memory = compiled.memory_analysis()
    itemsize = entry.dtype("float32").itemsize  # complex-only entries: complex64
    shard_bytes = itemsize * int(np.prod(shape)) // 8
    assert memory.output_size_in_bytes == shard_bytes
    # A few scalars and keys (<= 2 KiB), never an array (one shard is >= 64 KiB here).
    assert memory.temp_size_in_bytes <= max(2048, TEMP_ALLOWANCE.get(entry.name, 0))


def _per_device_cases(names):
    """Every entry on the 2x4 mesh (in `make test` one per implementation and
    distribution, the others under ``-m slow``: tests/_subsets.py); under ``-m slow``
    also the 1x8 and 8x1 meshes for one entry per sampling path (the values on all
    three meshes are checked above)."""
    cases = [
        pytest.param(n, (2, 4), id=f"{n}-2x4", marks=() if in_make_test(n) else pytest.mark.slow)
        for n in sorted(names)
    ]
    for n in ("he_normal", "glorot_uniform", "normal", "stacked", "complex_he", "dirac"):
        cases += [
            pytest.param(n, m, id=f"{n}-{m[0]}x{m[1]}", marks=pytest.mark.slow)
            for m in ((1, 8), (8, 1))
        ]
    return cases


@pytest.mark.parametrize("name,mesh_shape", _per_device_cases(ENTRIES))
def test_jit_out_shardings(name, mesh_shape):
    entry = ENTRIES[name]
    shape, sharding = _big_case(entry, mesh_shape)
    f = jax.jit(lambda k: entry.example(k, shape), out_shardings=sharding)
    out = f(KEY)
    assert out.sharding.is_equivalent_to(sharding, len(shape))
    _assert_same_values(name, out, entry.example(KEY, shape))
    if name not in NOT_ELEMENTWISE and compat.FUSED_KERNELS:  # jax.random's draw allocates
        _check_per_device(f.lower(KEY).compile(), entry, shape)


@fused_kernels_only
@pytest.mark.parametrize("name,mesh_shape", _per_device_cases(set(ENTRIES) - NOT_ELEMENTWISE))
def test_out_sharding_is_one_shard_per_device(name, mesh_shape):
    entry = ENTRIES[name]
    shape, sharding = _big_case(entry, mesh_shape)
    f = jax.jit(lambda k: entry.example(k, shape, out_sharding=sharding))
    _check_per_device(f.lower(KEY).compile(), entry, shape)


def test_whole_copy_would_be_caught():
    # The check above can fail: sampling whole and slicing keeps a full-size temporary.
    entry = ENTRIES["he_normal"]
    shape, sharding = _big_case(entry, (2, 4))
    f = jax.jit(
        lambda k: jax.lax.with_sharding_constraint(
            entry.example(k, shape) + jnp.flip(entry.example(k, shape)), sharding
        )
    )
    with pytest.raises(AssertionError):
        _check_per_device(f.lower(KEY).compile(), entry, shape)


def test_out_sharding_with_a_key_derived_inside_an_explicit_mesh():
    mesh = jax.make_mesh((2, 4), ("x", "y"), axis_types=(AxisType.Explicit,) * 2)
    with compat.set_mesh(mesh):
        key = jax.random.fold_in(KEY, 1)
        out = ji.he_normal()(key, (16, 24), out_sharding=P("x", "y"))
    assert out.sharding.is_equivalent_to(NamedSharding(mesh, P("x", "y")), 2)
    assert_sharded_equals_whole(out, ji.he_normal()(jax.random.fold_in(KEY, 1), (16, 24)))


def test_placement_with_a_key_derived_inside_an_explicit_mesh():
    from jax_inits._src import placement

    mesh = jax.make_mesh((2, 4), ("x", "y"), axis_types=(AxisType.Explicit,) * 2)
    with compat.set_mesh(mesh):
        key = jax.random.fold_in(KEY, 1)
        out = placement.sample_into(ji.he_normal(), key, (16, 24), None, P("x", "y"))
    assert out.sharding.is_equivalent_to(NamedSharding(mesh, P("x", "y")), 2)
    assert_sharded_equals_whole(out, ji.he_normal()(jax.random.fold_in(KEY, 1), (16, 24)))


def test_named_sharding_on_explicit_mesh_outside_set_mesh():
    """An explicit NamedSharding names its mesh: the call draws under it, outside
    ``jax.set_mesh`` too (jax.nn raises), with the values of the unsharded call."""
    mesh = jax.make_mesh((2, 4), ("x", "y"), axis_types=(AxisType.Explicit,) * 2)
    sharding = NamedSharding(mesh, P("x", "y"))
    init = ji.lecun_normal()
    out = init(KEY, (64, 32), out_sharding=sharding)
    assert out.sharding.is_equivalent_to(sharding, 2)
    assert len({s.device for s in out.addressable_shards}) == 8
    assert_sharded_equals_whole(out, init(KEY, (64, 32)))
    with compat.set_mesh(mesh):
        np.testing.assert_array_equal(out, init(KEY, (64, 32), out_sharding=sharding))


def test_named_sharding_on_explicit_mesh_under_jit_names_the_fix():
    """Under a jit without out_shardings the mesh cannot be entered for the caller:
    jax's own message names the fix (as for jax.nn)."""
    # jax < 0.7 names `jax.sharding.use_mesh`, its spelling of `jax.set_mesh`.
    mesh = jax.make_mesh((2, 4), ("x", "y"), axis_types=(AxisType.Explicit,) * 2)
    sharding = NamedSharding(mesh, P("x", "y"))
    with pytest.raises(ValueError, match=r"jax\.(set_mesh|sharding\.use_mesh)"):
        jax.jit(lambda k: ji.lecun_normal()(k, (64, 32), out_sharding=sharding))(KEY)
    f = jax.jit(lambda k: ji.lecun_normal()(k, (64, 32), out_sharding=sharding))
    with compat.set_mesh(mesh):
        assert_sharded_equals_whole(f(KEY), ji.lecun_normal()(KEY, (64, 32)))
