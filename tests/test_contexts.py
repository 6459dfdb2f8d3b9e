"""The context matrix: every call kind in every context a user can be in.

Values are compared with the context-free result: the builder's own jitted call
outside any context (``tests/test_parity.py`` shows that equals jax.nn's jitted
result where jax.nn has the builder), computed with the same x64 and threefry
flags. Placement is compared with jax.nn's placement rule: replicated over the
mesh set with ``jax.set_mesh``, on the default device set with
``jax.default_device``, on the device of a committed key, else on jax's
default device, uncommitted (:func:`test_the_placement_rule_is_jax_nns` checks
the rule against jax.nn itself). Under ``jax.transfer_guard("disallow")`` the
reference is computed outside the guard (jax.nn itself fails inside it).
"""

import concurrent.futures
import contextlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from _subsets import rotated, shared
from jax.sharding import AxisType, NamedSharding
from jax.sharding import PartitionSpec as P

import jax_inits
import jax_inits.tree
from jax_inits._src import _jax_compat as compat
from jax_inits._src import catalog

ENTRIES = {e.name: e for e in catalog.ENTRIES}
DEVICES = jax.devices()
MESHES = {
    kind: jax.make_mesh((2, 4), ("x", "y"), axis_types=(axis_type,) * 2)
    for kind, axis_type in (("explicit", AxisType.Explicit), ("auto", AxisType.Auto))
}


@contextlib.contextmanager
def context(name):
    """Enters the context ``name`` (the key is made by :func:`make_key`)."""
    with contextlib.ExitStack() as stack:
        if name.startswith("mesh_"):
            stack.enter_context(compat.set_mesh(MESHES[name[5:]]))
        elif name == "default_device":
            stack.enter_context(jax.default_device(DEVICES[3]))
        elif name == "transfer_guard":
            stack.enter_context(jax.transfer_guard("disallow"))
        elif name == "x64":
            stack.enter_context(compat.enable_x64(True))
        elif name == "partitionable_off":
            stack.enter_context(jax.threefry_partitionable(False))
        yield


@contextlib.contextmanager
def value_flags(name):
    """The part of a context that legitimately changes values (dtype, PRNG bits)."""
    with contextlib.ExitStack() as stack:
        if name == "x64":
            stack.enter_context(compat.enable_x64(True))
        elif name == "partitionable_off":
            stack.enter_context(jax.threefry_partitionable(False))
        yield


def make_key(name, seed=0):
    key = jax.random.key(seed)
    return jax.device_put(key, DEVICES[5]) if name == "committed_key" else key


def reference(init, key, shape, dtype, name):
    """The context-free value: the jitted call outside any placement context."""
    if name == "committed_key":
        key = jax.device_put(key, DEVICES[0])
    with value_flags(name):
        return np.asarray(jax.jit(lambda k: init(k, shape, dtype))(key))


def check_placement(x, name):
    if name.startswith("mesh_"):
        mesh = MESHES[name[5:]]
        assert x.sharding.is_equivalent_to(NamedSharding(mesh, P()), x.ndim), x.sharding
    elif name == "default_device":
        assert x.devices() == {DEVICES[3]}
    elif name == "committed_key":
        assert x.devices() == {DEVICES[5]}
    else:
        assert x.devices() == {jax.devices()[0]}
        assert not x._committed


def case(name):
    entry = ENTRIES[name]
    dtype = entry.dtype("float32")
    return entry.example, entry.shape((8, 16)), dtype


BASIC = ["none", "mesh_explicit", "mesh_auto", "default_device", "transfer_guard"]
ALL = [*BASIC, "committed_key", "x64", "partitionable_off"]


def _eager_calls(init, shape, dtype, name):
    """First (fresh caches) and repeated eager calls in the context."""
    jax_inits.clear_caches()
    key = make_key(name)
    want = reference(init, key, shape, dtype, name)
    with context(name):
        first = init(key, shape, dtype)
        again = init(key, shape, dtype)
    for x in (first, again):
        check_placement(x, name)
        np.testing.assert_array_equal(np.asarray(x), want)
    return key, want


#: `make test` splits the representative builders (tests/_subsets.py) between the basic
#: contexts below and the user's jit under a mesh further down: each builder once.
_BASIC_FAST = {p.values[0] for p in shared(sorted(ENTRIES), 0, 2) if not p.marks}


def _only(names, params):
    """``params`` with the cases of builders outside ``names`` moved to `make test-slow`."""
    return [
        p if p.values[0] in names else pytest.param(*p.values, id=p.id, marks=pytest.mark.slow)
        for p in params
    ]


# `make test`: half the representative builders, each in one basic context (rotating,
# so every context runs); `make test-slow`: every builder in every basic context.
@pytest.mark.parametrize("builder,name", _only(_BASIC_FAST, rotated(sorted(ENTRIES), BASIC)))
def test_every_builder_eager_in_the_basic_contexts(builder, name):
    init, shape, dtype = case(builder)
    _eager_calls(init, shape, dtype, name)


# `make test`: every context with one of the builders (rotating); `make test-slow`: all pairs.
@pytest.mark.parametrize(
    "name,builder",
    rotated(ALL, ["he_normal", "normal", "uniform_range", "orthogonal", "complex_he", "sparse"]),
)
def test_call_kinds_in_every_context(builder, name):
    init, shape, dtype = case(builder)
    if name == "x64" and init.dtype is None:  # the default dtype follows the flag
        dtype = None
    key, want = _eager_calls(init, shape, dtype, name)
    with context(name):
        jitted = jax.jit(lambda k: init(k, shape, dtype))(key)
        mapped = jax.vmap(lambda k: init(k, shape, dtype))(key[None])
        abstract = jax.eval_shape(lambda k: init(k, shape, dtype), key)
    np.testing.assert_array_equal(np.asarray(jitted), want)
    np.testing.assert_array_equal(np.asarray(mapped[0]), want)
    assert (abstract.shape, abstract.dtype) == (want.shape, want.dtype)


@pytest.mark.parametrize(
    "builder,mesh",
    _only(set(ENTRIES) - _BASIC_FAST, rotated(sorted(ENTRIES), ["explicit", "auto"])),
)
def test_values_inside_a_users_jit_under_a_mesh_are_context_free(builder, mesh):
    init, shape, dtype = case(builder)
    key = jax.random.key(4)
    want = reference(init, key, shape, dtype, "none")
    with compat.set_mesh(MESHES[mesh]):
        inside = jax.jit(lambda k: init(k, shape, dtype))(key)
        made_inside = init(jax.random.key(4), shape, dtype)
    np.testing.assert_array_equal(np.asarray(inside), want)
    np.testing.assert_array_equal(np.asarray(made_inside), want)


@pytest.mark.parametrize("name", ["mesh_explicit", "mesh_auto", "default_device", "committed_key"])
@pytest.mark.parametrize("order", ["inside_first", "outside_first"])
def test_a_signature_seen_in_one_context_keeps_its_meaning_in_another(name, order):
    init, shape = jax_inits.he_normal(), (24, 40)
    jax_inits.clear_caches()
    key = make_key(name)
    want = reference(init, key, shape, None, name)

    def inside():
        with context(name):
            x = init(key, shape)
        check_placement(x, name)
        return x

    def outside():
        x = init(jax.random.key(0), shape)  # uncommitted
        check_placement(x, "none")
        return x

    calls = [inside, outside] if order == "inside_first" else [outside, inside]
    for call in calls * 2:
        np.testing.assert_array_equal(np.asarray(call()), want)


def test_the_placement_rule_is_jax_nns():
    """The rule :func:`check_placement` asserts, checked on jax.nn's own results."""
    ours, theirs = jax_inits.he_normal(), jax.nn.initializers.he_normal()
    for name in ["none", "mesh_explicit", "mesh_auto", "default_device", "committed_key"]:
        key = make_key(name)
        with context(name):
            a, b = ours(key, (16, 8)), theirs(key, (16, 8))
        check_placement(b, name)
        assert a.sharding.is_equivalent_to(b.sharding, 2), (name, a.sharding, b.sharding)
        assert a._committed == b._committed, name
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_the_issue_repro_matches_jax_nn_under_an_explicit_mesh():
    with compat.set_mesh(MESHES["explicit"]):
        ours = jax_inits.he_normal()(jax.random.key(0), (64, 32))
        theirs = jax.nn.initializers.he_normal()(jax.random.key(0), (64, 32))
    assert ours.sharding.is_equivalent_to(theirs.sharding, 2)
    np.testing.assert_array_equal(np.asarray(ours), np.asarray(theirs))


@pytest.mark.parametrize("mesh", ["explicit", "auto"])
def test_out_sharding_under_a_mesh(mesh):
    init, key, shape = jax_inits.he_normal(), jax.random.key(2), (16, 32)
    want = reference(init, key, shape, None, "none")
    with compat.set_mesh(MESHES[mesh]):
        x = init(key, shape, out_sharding=P("x", "y"))
    assert x.sharding.is_equivalent_to(NamedSharding(MESHES[mesh], P("x", "y")), 2)
    np.testing.assert_array_equal(np.asarray(x), want)


def test_sixteen_threads_calling_fresh_shapes():
    jax_inits.clear_caches()
    init, key = jax_inits.lecun_normal(), jax.random.key(9)
    shapes = [(17 + i, 5 + 3 * (i % 4)) for i in range(16)]

    def call(shape):
        return np.asarray(init(key, shape)), np.asarray(init(key, shape))

    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        results = list(pool.map(call, shapes))
    for shape, (first, again) in zip(shapes, results, strict=True):
        want = reference(init, key, shape, None, "none")
        np.testing.assert_array_equal(first, want)
        np.testing.assert_array_equal(again, want)


@pytest.mark.parametrize("name", [*BASIC, "committed_key"])
def test_tree_init_in_context(name):
    # Two kernels of one group (drawn stacked, then split), a lone bias and a known leaf.
    spec = {
        "w": jax.ShapeDtypeStruct((8, 16), jnp.float32),
        "v": jax.ShapeDtypeStruct((8, 16), jnp.float32),
        "b": jax.ShapeDtypeStruct((16,), jnp.float32),
        "k": jax.ShapeDtypeStruct((4,), jnp.float32),
    }
    rules = [("b", jax_inits.zeros), ("*", jax_inits.he_normal())]
    known = {"k": np.arange(4, dtype=np.float32)}
    jax_inits.clear_caches()
    want = jax_inits.tree.init(jax.random.key(1), spec, rules, known=known)
    key = make_key(name, seed=1)
    with context(name):
        got = jax_inits.tree.init(key, spec, rules, known=known)
        again = jax_inits.tree.init(key, spec, rules, known=known)
    for out in (got, again):
        for k in spec:
            np.testing.assert_array_equal(np.asarray(out[k]), np.asarray(want[k]))


@pytest.mark.parametrize("name", ["none", "mesh_explicit", "mesh_auto", "default_device"])
def test_flax_nnx_layers_built_in_context(name):
    nnx = pytest.importorskip("flax.nnx")
    kernel = jax_inits.he_normal()

    def build():
        rngs = nnx.Rngs(0)
        return (
            nnx.Linear(16, 8, kernel_init=kernel, rngs=rngs),
            nnx.Conv(3, 4, (3, 3), kernel_init=kernel, rngs=rngs),
            nnx.Embed(10, 6, embedding_init=jax_inits.normal(0.02), rngs=rngs),
        )

    want = build()
    with context(name):
        got = build()
    for a, b in zip(got, want, strict=True):
        for attr in ("kernel", "embedding"):
            if hasattr(b, attr):
                x = getattr(a, attr)[...]
                np.testing.assert_array_equal(np.asarray(x), np.asarray(getattr(b, attr)[...]))
                if name.startswith("mesh_"):
                    check_placement(x, name)


FRESH_PROCESS = """
import jax
jax.config.update("jax_num_cpu_devices", 8)
import numpy as np
import jax_inits
import jax_inits.tree
from jax_inits._src import _jax_compat as compat
from jax.sharding import AxisType
mesh = jax.make_mesh((2, 4), ("x", "y"), axis_types=(AxisType.Explicit,) * 2)
with compat.set_mesh(mesh):
    ours = jax_inits.he_normal()(jax.random.key(0), (64, 32))
    theirs = jax.nn.initializers.he_normal()(jax.random.key(0), (64, 32))
    normal = jax_inits.normal(0.01)(jax.random.key(0), (64, 32))
assert ours.sharding.is_equivalent_to(theirs.sharding, 2), (ours.sharding, theirs.sharding)
np.testing.assert_array_equal(np.asarray(ours), np.asarray(theirs))
outside = jax_inits.normal(0.01)(jax.random.key(0), (64, 32))
np.testing.assert_array_equal(np.asarray(normal), np.asarray(outside))
print("ok")
"""


def test_the_first_call_of_a_fresh_process_inside_a_mesh():
    """The issue's repro: a process whose very first normal-family call runs
    inside ``jax.set_mesh`` (the self-checks used to crash it there)."""
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-c", FRESH_PROCESS], capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-3000:]
