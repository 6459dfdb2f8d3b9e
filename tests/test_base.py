"""Registry walk over every public initializer, and value semantics."""

import dataclasses
import functools
import inspect
import math
import pickle

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from _subsets import in_make_test, rotated, share_of, shared

import jax_inits
from jax_inits._src import _jax_compat as compat
from jax_inits._src import catalog

ENTRIES = {e.name: e for e in catalog.ENTRIES}
RANDOM = [n for n, e in ENTRIES.items() if e.example.random]
DTYPES = ["float32", "bfloat16", "float16"]


def public(name):
    """``jax_inits.<name>``, also for dotted names such as ``recipes.small_init``."""
    return functools.reduce(getattr, name.split("."), jax_inits)


def public_names():
    """``jax_inits.__all__``, plus ``module.name`` for each public submodule's ``__all__``."""
    names = set(jax_inits.__all__)
    for module in jax_inits.__all__:
        if inspect.ismodule(obj := getattr(jax_inits, module)):
            assert list(obj.__all__) == sorted(obj.__all__), module
            names |= {f"{module}.{n}" for n in obj.__all__}
    return names


def test_catalogue_covers_all_public_initializers():
    public = public_names() - catalog.NOT_INITIALIZERS
    assert set(catalog.names()) == public == set(jax_inits.registered())
    assert list(jax_inits.__all__) == sorted(jax_inits.__all__)


@pytest.mark.parametrize("name", sorted(ENTRIES))
def test_is_an_initializer_with_docs(name):
    obj = public(name)
    assert isinstance(ENTRIES[name].example, jax_inits.Initializer)
    assert ">>>" in (obj.__doc__ or ""), f"{name} has no doctest example"


# Eager == jit here and vmap == loop below: two checks that a transformation gives
# the eager values. `make test` splits the random representatives between them (each
# runs once), the deterministic ones run here; `make test-slow` runs every pair.
_VMAP_FAST = share_of(RANDOM, 0, 2)


@pytest.mark.parametrize(
    "name,dtype",
    rotated(
        sorted(ENTRIES),
        DTYPES,
        fast=[n for n in sorted(ENTRIES) if in_make_test(n) and n not in _VMAP_FAST],
    ),
)
def test_shape_dtype_determinism_eager_equals_jit(name, dtype):
    entry = ENTRIES[name]
    init, shape = entry.example, entry.shape((6, 10))
    dtype = entry.dtype(dtype)
    key, other = jax.random.key(0), jax.random.key(1)
    a = init(key, shape, dtype)
    assert a.shape == shape and a.dtype == jnp.dtype(dtype)
    np.testing.assert_array_equal(a, init(key, shape, dtype))  # deterministic
    np.testing.assert_array_equal(a, jax.jit(init, static_argnums=(1, 2))(key, shape, dtype))
    if init.random:
        assert not np.array_equal(a, init(other, shape, dtype))
    assert np.isfinite(np.asarray(a, np.complex64)).all()


@pytest.mark.parametrize("name", shared(RANDOM, 0, 2))
def test_vmap_over_keys_equals_loop(name):
    entry = ENTRIES[name]
    init, shape = entry.example, entry.shape((4, 6))
    keys = jax.random.split(jax.random.key(3), 3)
    batched = jax.vmap(lambda k: init(k, shape))(keys)
    for i in range(3):
        np.testing.assert_array_equal(batched[i], init(keys[i], shape))


@pytest.mark.parametrize("name", sorted(ENTRIES))
def test_zero_size_shapes_return_empty_arrays(name):
    entry = ENTRIES[name]
    shapes = [(0, 3, 4, 4), (3, 3, 0, 4)] if entry.conv else [(0, 4), (4, 0), (2, 0, 3)]
    for shape in shapes[:2] if entry.matrix else shapes:
        out = entry.example(jax.random.key(0), shape)
        assert out.shape == shape and out.dtype == entry.dtype(jnp.float32)


def test_the_target_std_of_a_zero_size_draw_is_nan():
    """A draw with no values has no standard deviation: ``target_std`` is nan for
    every catalogue entry and zero-size shape its call accepts (no
    ZeroDivisionError for a zero fan), and so is the reference density absent."""
    for name, entry in ENTRIES.items():
        shapes = [(0, 3, 4, 4), (3, 3, 0, 4)] if entry.conv else [(0, 4), (4, 0), (2, 0, 3)]
        for shape in shapes[:2] if entry.matrix else shapes:
            entry.example.check(shape, entry.dtype(jnp.float32))
            assert math.isnan(entry.example.target_std(shape)), (name, shape)
            assert entry.example.density(shape, entry.dtype(jnp.float32)) is None, (name, shape)


def test_jax_raises_on_zero_size_where_we_do_not():
    with pytest.raises(ZeroDivisionError):
        jax.nn.initializers.he_normal()(jax.random.key(0), (0, 4))
    assert jax_inits.he_normal()(jax.random.key(0), (0, 4)).shape == (0, 4)


def test_equal_arguments_compare_and_hash_equal():
    a = jax_inits.variance_scaling(2.0, "fan_in", "truncated_normal")
    b = jax_inits.he_normal()
    assert a == b and hash(a) == hash(b)
    assert jax_inits.he_normal(in_axis=0, out_axis=1) != b
    assert jax_inits.normal(0.5) == jax_inits.normal(np.float32(0.5))
    assert jax_inits.normal(0.5) != jax_inits.normal(0.5, mean=1.0)
    assert jax_inits.constant(np.ones(3)) == jax_inits.constant([1.0, 1.0, 1.0])
    assert hash(jax_inits.constant(np.ones(3))) == hash(jax_inits.constant([1.0, 1.0, 1.0]))
    assert jax_inits.constant(0.0) == jax_inits.zeros
    assert jax_inits.uniform(dtype=jnp.bfloat16) != jax_inits.uniform()
    assert len({jax_inits.he_normal(), jax_inits.kaiming_normal(), b}) == 1


def test_the_display_name_is_a_field_set_by_the_builder_and_not_compared():
    names = {f.name: f for f in dataclasses.fields(jax_inits.he_normal())}
    assert not names["name"].compare and not names["built"].compare
    assert jax_inits.he_normal().name == "he_normal"
    assert jax_inits.kaiming_normal().name == "he_normal"  # an alias names its builder
    assert jax_inits.pytorch.kaiming_normal().name == "pytorch.kaiming_normal"
    assert jax_inits.zeros.name == "zeros" and jax_inits.pytorch.zeros().name == "pytorch.zeros"
    # Naming makes a new value; the one it was made from (here the shared
    # jax_inits.zeros a recipe returns) keeps its name.
    assert jax_inits.recipes.common_init("zeros", 64).name == "recipes.common_init"
    assert jax_inits.zeros.name == "zeros" and jax_inits.zeros.config["name"] == "zeros"
    a, b = jax_inits.constant(0.0), jax_inits.pytorch.zeros()
    assert a == b and hash(a) == hash(b) and (a.name, b.name) == ("constant", "pytorch.zeros")
    with pytest.raises(ValueError, match=r"^pytorch\.kaiming_normal: Fan in and fan out"):
        jax_inits.pytorch.kaiming_normal()(jax.random.key(0), (4,))
    with pytest.raises(ValueError, match=r"^he_normal: "):
        jax_inits.kaiming_normal(in_axis=5)(jax.random.key(0), (4, 4))


@pytest.mark.parametrize("distribution", ["truncated_normal", "normal", "uniform"])
def test_torch_and_complex_fans_compose_variance_scaling_bit_for_bit(distribution):
    from jax_inits._src.variance_scaling import VarianceScaling

    key = jax.random.key(4)
    kaiming = {
        "normal": jax_inits.pytorch.kaiming_normal,
        "uniform": jax_inits.pytorch.kaiming_uniform,
    }
    if distribution in kaiming:
        torch_init = kaiming[distribution](nonlinearity="linear")
        assert isinstance(torch_init.scaling, VarianceScaling)
        assert not isinstance(torch_init, VarianceScaling)
        plain = jax_inits.variance_scaling(1.0, "fan_in", distribution)
        np.testing.assert_array_equal(torch_init(key, (32, 48)), plain(key, (32, 48)))
        assert torch_init.target_std((32, 48)) == plain.target_std((32, 48))
        assert torch_init.formula == plain.formula
    complex_init = jax_inits.complex_he()
    assert not isinstance(complex_init, VarianceScaling)
    plain = jax_inits.variance_scaling(2.0, "fan_in", "normal")
    np.testing.assert_array_equal(complex_init(key, (16, 8)), plain(key, (16, 8), jnp.complex64))


def test_readable_repr():
    assert repr(jax_inits.he_normal()) == "he_normal()"
    assert repr(jax_inits.he_normal(batch_axis=0, dtype=jnp.bfloat16)) == (
        "he_normal(batch_axis=0, dtype='bfloat16')"
    )
    assert repr(jax_inits.variance_scaling(0.5, "fan_avg", "uniform", fan_in=3)) == (
        "variance_scaling(0.5, 'fan_avg', 'uniform', fan_in=3)"
    )
    assert repr(jax_inits.normal(0.02)) == "normal(stddev=0.02)"
    assert repr(jax_inits.zeros) == "zeros" and repr(jax_inits.ones) == "ones"
    assert repr(jax_inits.truncated_normal(1.0, lower=-3.0)) == (
        "truncated_normal(stddev=1.0, lower=-3.0)"
    )


def test_initializers_are_jit_static_args_and_share_compiled_code():
    @jax.jit
    def make(key):
        return jax_inits.he_normal()(key, (8, 8))

    f = jax.jit(lambda init, key: init(key, (8, 8)), static_argnums=0)
    key = jax.random.key(0)
    np.testing.assert_array_equal(f(jax_inits.he_normal(), key), make(key))
    before = f._cache_size()
    f(jax_inits.variance_scaling(2.0, "fan_in", "truncated_normal"), key)
    assert f._cache_size() == before  # an equal initializer reuses the executable


def test_pickle_round_trip():
    for entry in catalog.ENTRIES:
        assert pickle.loads(pickle.dumps(entry.example)) == entry.example


@pytest.mark.skipif(
    tuple(int(p) for p in jax.__version__.split(".")[:2]) < (0, 10),
    reason="names and defaults follow jax 0.10 (older jax had e.g. constant(dtype=float64))",
)
def test_signature_matches_jax():
    for name in [
        "constant",
        "uniform",
        "normal",
        "truncated_normal",
        "variance_scaling",
        "glorot_uniform",
        "he_normal",
        "orthogonal",
        "delta_orthogonal",
    ]:
        ours = inspect.signature(getattr(jax_inits, name)).parameters
        theirs = inspect.signature(getattr(jax.nn.initializers, name)).parameters
        positional = [p for p in ours.values() if p.kind != p.KEYWORD_ONLY]
        assert [p.name for p in positional] == list(theirs), name
        for p in positional:
            assert p.default == theirs[p.name].default, (name, p.name)


def test_call_signature():
    params = inspect.signature(jax_inits.normal().__call__).parameters
    assert list(params) == ["key", "shape", "dtype", "out_sharding"]
    assert params["dtype"].default is None and params["out_sharding"].default is None


def test_call_dtype_overrides_builder_dtype_and_none_keeps_it():
    init = jax_inits.normal(dtype=jnp.bfloat16)
    key = jax.random.key(0)
    assert init(key, (2, 2)).dtype == jnp.bfloat16
    assert init(key, (2, 2), None).dtype == jnp.bfloat16
    assert init(key, (2, 2), jnp.float16).dtype == jnp.float16


def test_float64_under_x64():
    with compat.enable_x64(True):
        assert jax_inits.he_normal()(jax.random.key(0), (4, 4)).dtype == jnp.float64
    assert jax_inits.he_normal()(jax.random.key(0), (4, 4)).dtype == jnp.float32


def test_a_repeated_eager_call_is_checked_like_the_first():
    """The second call of a signature skips the checks; nothing that would fail
    them may share its signature."""
    init, key = jax_inits.he_normal(), jax.random.key(0)
    init(key, (6, 5))
    init(key, (6, 5))
    with pytest.raises(TypeError, match="he_normal"):
        init(key, (6.0, 5))
    with pytest.raises(TypeError, match="he_normal"):
        init(key, (6, 5), jnp.int32)
    with pytest.raises(TypeError, match="key"):
        init(jax.random.split(key, 2), (6, 5))
    with pytest.raises(TypeError, match="key"):
        init(jax.random.key_data(key).astype(jnp.int32), (6, 5))
    with compat.enable_x64(True):
        assert init(key, (6, 5)).dtype == jnp.float64
    assert init(key, (6, 5)).dtype == jnp.float32
    assert init(key, [6, 5]).shape == (6, 5)  # a list is checked in full every time


def test_calls_that_differ_only_in_spelling_share_one_executable():
    from jax_inits._src.dispatch import _eager_runner

    init, key = jax_inits.lecun_uniform(), jax.random.key(1)
    init(key, (7, 3))
    init(key, (7, 3))  # compiles the shape's own executable
    runners = _eager_runner.cache_info().currsize
    for shape, dtype in [([7, 3], None), ((7, 3), jnp.float32), ([7, 3], "float32")]:
        init(key, shape, dtype)
        init(key, shape, dtype)
    assert _eager_runner.cache_info().currsize == runners
    run = _eager_runner(init, (7, 3), np.dtype(np.float32), jax.default_backend())
    assert run._cache_size() == 1  # compiled once for all spellings


def test_closed_over_keys_and_committed_keys():
    init, key = jax_inits.glorot_uniform(), jax.random.key(5)
    eager = init(key, (9, 4))
    np.testing.assert_array_equal(jax.jit(lambda: init(key, (9, 4)))(), eager)
    np.testing.assert_array_equal(jax.vmap(lambda k: init(k, (9, 4)))(key[None])[0], eager)
    committed = jax.device_put(key, jax.devices()[-1])
    out = init(committed, (9, 4))
    assert out.devices() == committed.devices()
    np.testing.assert_array_equal(out, eager)


def test_traced_shape_inside_jit_user_code():
    @jax.jit
    def make(key):
        return {"w": jax_inits.he_normal()(key, (16, 8)), "b": jax_inits.zeros(key, (8,))}

    params = make(jax.random.key(0))
    np.testing.assert_array_equal(params["w"], jax_inits.he_normal()(jax.random.key(0), (16, 8)))


def test_every_public_object_has_a_doctest():
    import jax_inits.sampling as sampling

    for name in public_names():
        assert ">>>" in (public(name).__doc__ or ""), name
    for name in sampling.__all__:
        assert ">>>" in (getattr(sampling, name).__doc__ or ""), name
