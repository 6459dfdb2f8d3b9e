"""The fused sampling kernels: bits equal jax.random, and structure (not timings):
no loop in the compiled HLO, no full-size temporary, one executable per call."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from _gates import fused_kernels_only
from _subsets import rotated

import jax_inits
from jax_inits import sampling
from jax_inits._src import _jax_compat as compat
from jax_inits._src import catalog
from jax_inits._src import sampling as internals

SHAPES = [(1,), (7,), (33, 65), (2, 3, 4, 5), (0, 3), ()]
KEYS = {"typed": jax.random.key(0), "typed-big": jax.random.key(2**31 + 5)}
KEYS["raw"] = jax.random.PRNGKey(123)


def _both(ours, theirs, key):
    return jax.jit(ours)(key), jax.jit(theirs)(key)


# `make test`: every shape with one key kind (rotating); `make test-slow`: all pairs.
@pytest.mark.parametrize("shape,key_kind", rotated(SHAPES, list(KEYS)))
def test_bit_identical_to_jax_random(shape, key_kind):
    key = KEYS[key_kind]
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


@fused_kernels_only
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
    from jax_inits._src.dispatch import _EAGER, _bucket_runner, _traced

    key = jax.random.key(0)
    builders = [
        jax_inits.he_normal,
        lambda: jax_inits.variance_scaling(2.0, "fan_in", "truncated_normal"),
        jax_inits.kaiming_normal,
    ]
    builders[0]()(key, (40, 24))  # first call of the shape: a bucket kernel
    buckets = _bucket_runner.cache_info().currsize
    builders[1]()(key, (40, 24))  # second: compiles the shape's own executable
    eager = len(_EAGER)
    for build in builders:
        build()(key, (40, 24))
    assert len(_EAGER) == eager and _bucket_runner.cache_info().currsize == buckets
    jax_inits.he_normal()(key, (24, 40))  # same bucket, no new bucket kernel
    assert _bucket_runner.cache_info().currsize == buckets

    traced = jax.jit(lambda init, k: init(k, (40, 24)), static_argnums=0)
    traced(jax_inits.he_normal(), key)
    traced_before = _traced._cache_size()
    traced(jax_inits.variance_scaling(2.0, "fan_in", "truncated_normal"), key)
    assert _traced._cache_size() == traced_before


BUCKETED = [
    e.name
    for e in catalog.ENTRIES
    if not e.complex and e.example._scalars(e.shape((8, 8)), np.dtype(np.float32)) is not None
]


def _bucketed(monkeypatch):
    """Records the shapes whose call ran a bucket kernel."""
    from jax_inits._src import dispatch

    seen = []
    real = dispatch._first_call

    def spy(init, key, shape, dtype):
        out = real(init, key, shape, dtype)
        if out is not None:
            seen.append(shape)
        return out

    monkeypatch.setattr(dispatch, "_first_call", spy)
    return seen


@fused_kernels_only
@pytest.mark.parametrize("name,dtype", rotated(BUCKETED, ["float32", "bfloat16"]))
def test_bucket_kernels_give_the_bits_of_the_shapes_own_executable(name, dtype, monkeypatch):
    """A first eager call of a small shape draws from a shared flat kernel of the
    next power-of-four size; its values equal the second call's (own executable)
    and the jitted call's."""
    seen = _bucketed(monkeypatch)
    entry = next(e for e in catalog.ENTRIES if e.name == name)
    init, key = entry.example, jax.random.key(11)
    jax_inits.clear_caches()
    for shape in [entry.shape((37, 29)), entry.shape((5, 64)), entry.shape((129, 2))]:
        first = init(key, shape, dtype)
        assert seen[-1:] == [shape], "not bucketed"
        np.testing.assert_array_equal(init(key, shape, dtype), first)
        assert seen[-1:] == [shape] and len(seen) == len(set(seen)), "bucketed twice"
        np.testing.assert_array_equal(jax.jit(lambda k, s=shape: init(k, s, dtype))(key), first)


def test_fifty_new_shapes_compile_a_handful_of_bucket_kernels():
    from jax_inits._src.dispatch import _bucket_runner

    init = jax_inits.lecun_uniform(dtype=jnp.float16)
    before = _bucket_runner.cache_info().currsize
    for i in range(50):
        init(jax.random.key(i), (32 + 8 * i, 48 + 4 * i))
    assert _bucket_runner.cache_info().currsize - before <= 4  # 4^6 ... 4^9


@fused_kernels_only
def test_eager_call_compiles_once_into_one_executable():
    """From the second call of a shape on (the first may run in a bucket kernel)."""
    from jax_inits._src.dispatch import _EAGER, _signature

    init, key, shape = jax_inits.lecun_normal(), jax.random.key(3), (24, 56)
    first = init(key, shape)
    np.testing.assert_array_equal(init(key, shape), first)
    run = _EAGER.get(_signature(init, key, shape, None))
    np.testing.assert_array_equal(init(key, shape), first)
    assert run._cache_size() == 1
    hlo = run.lower(key).compile().as_text()
    assert hlo.count("ENTRY") == 1 and "while" not in hlo


on_cpu = pytest.mark.skipif(jax.default_backend() != "cpu", reason="the CPU erf_inv")


@on_cpu
@fused_kernels_only
def test_fast_erf_inv_passes_its_check_on_the_cpu():
    assert internals.fast_erf_inv_exact()


@pytest.fixture
def old_jax(monkeypatch):
    """This jax counted as one below the fused kernels' gate (`compat.FUSED_KERNELS`)."""
    monkeypatch.setattr(compat, "FUSED_KERNELS", False)
    jax_inits.clear_caches()
    yield
    jax_inits.clear_caches()


# (7, 11, 13): a size no vector width divides, where jax 0.7.2's first-call bucket
# kernel was 1 ulp off; (257, 3): where jax 0.8.0's eager and jitted draws split.
@on_cpu
@pytest.mark.parametrize("shape", [(7, 11, 13), (257, 3)])
def test_below_the_gate_every_draw_is_jax_randoms_own(old_jax, monkeypatch, shape):
    """No fast path runs below the gate, and no sampled check can turn one on:
    eager calls (first and later), jitted calls and jax.nn give the same bits."""
    monkeypatch.setattr(internals, "_erf_inv_f32", lambda x: pytest.fail("fast erf_inv traced"))
    seen = _bucketed(monkeypatch)
    key = jax.random.key(11)
    assert not internals.fused(key, shape) and not internals.fast_erf_inv_exact()
    assert internals.compiler_options("cpu") is None
    init, reference = jax_inits.he_normal(), jax.nn.initializers.he_normal()
    want = np.asarray(jax.jit(lambda k: reference(k, shape))(key))
    for got in (init(key, shape), init(key, shape), jax.jit(lambda k: init(k, shape))(key)):
        np.testing.assert_array_equal(np.asarray(got), want)
    assert seen == []  # no first-call bucket kernel


@on_cpu
def test_a_fast_erf_inv_that_differs_is_not_used(monkeypatch):
    """The check guards the bits: a wrong form fails it and lax.erf_inv runs."""
    monkeypatch.setattr(internals, "_erf_inv_f32", lambda x: x * np.float32(1.0000001))
    jax_inits.clear_caches()
    try:
        assert not internals.fast_erf_inv_exact()
        key = jax.random.key(17)
        ours = jax.jit(lambda k: sampling.normal(k, (257, 3), jnp.float32))(key)
        np.testing.assert_array_equal(ours, jax.random.normal(key, (257, 3)))
        eager = jax_inits.normal(1.0)(key, (257, 3))  # tuned options, bucket kernel
        np.testing.assert_array_equal(eager, jax.random.normal(key, (257, 3)))
        np.testing.assert_array_equal(jax_inits.normal(1.0)(key, (257, 3)), eager)  # own
    finally:
        jax_inits.clear_caches()


@on_cpu
@fused_kernels_only
def test_the_erf_inv_check_waits_for_the_first_own_executable(monkeypatch):
    """A bucketed first call uses lax.erf_inv and runs no check; the second call
    of the signature checks, then traces the shape's own executable (same bits)."""
    runs = []
    real = internals.fast_erf_inv_exact.__wrapped__

    def counted():
        runs.append(1)
        return real()

    monkeypatch.setattr(internals, "fast_erf_inv_exact", functools.lru_cache(None)(counted))
    jax_inits.clear_caches()
    try:
        seen = _bucketed(monkeypatch)
        init, key = jax_inits.he_normal(), jax.random.key(5)
        first = init(key, (33, 47))
        assert seen == [(33, 47)] and runs == []
        again = init(key, (33, 47))
        assert runs == [1]
        third = init(key, (33, 47))
        assert runs == [1]
        np.testing.assert_array_equal(again, first)
        np.testing.assert_array_equal(third, first)
        reference = jax.nn.initializers.he_normal()(key, (33, 47))
        np.testing.assert_array_equal(first, reference)
        # A call that is never bucketed (a committed key) checks before its first run.
        monkeypatch.setattr(internals, "fast_erf_inv_exact", functools.lru_cache(None)(counted))
        init(jax.device_put(key, jax.devices()[1]), (33, 48))
        assert runs == [1, 1]
    finally:
        jax_inits.clear_caches()


def _erf_inv_mismatches(options, start, count):
    """Positions in [start, start + count) of float32 bit patterns (either sign)
    where the fast erf_inv differs from lax.erf_inv, compiled with ``options``."""

    def mismatches(first):
        bits = jax.lax.iota(jnp.uint32, count) + first
        x = jax.lax.bitcast_convert_type(jnp.minimum(bits, np.uint32(0x3F800000)), jnp.float32)
        x = jnp.concatenate([x, -x])
        fast = jax.lax.bitcast_convert_type(internals._erf_inv_f32(x), jnp.uint32)
        return jnp.sum(fast != jax.lax.bitcast_convert_type(jax.lax.erf_inv(x), jnp.uint32))

    compiled = jax.jit(mismatches).lower(np.uint32(start)).compile(options)
    return sum(int(compiled(np.uint32(s))) for s in range(start, 0x3F800001, count))


@on_cpu
@fused_kernels_only
@pytest.mark.slow
@pytest.mark.parametrize("options", [{}, internals.COMPILER_OPTIONS["cpu"]], ids=["jit", "eager"])
def test_fast_erf_inv_equals_lax_on_every_float_in_the_domain(options):
    """All 2 x 2^30 float32 values in [-1, 1], about 10 s per compiler setting: the
    proof behind `compat.FUSED_KERNELS` on every jax release CI runs above the gate."""
    assert _erf_inv_mismatches(options, 0, 1 << 26) == 0


def _bfloat16_mismatches(bits):
    x = jax.lax.bitcast_convert_type(bits, jnp.float32)
    ours = jax.lax.bitcast_convert_type(internals.convert(x, jnp.bfloat16), jnp.uint16)
    return jnp.sum(ours != jax.lax.bitcast_convert_type(x.astype(jnp.bfloat16), jnp.uint16))


def test_bfloat16_conversion_has_xla_bits():
    """Every 4099th float32 bit pattern (1M, both signs, every exponent) plus
    ties, NaNs, infinities, subnormals and the largest finite values."""
    comb = np.arange(0, 2**32, 4099, dtype=np.uint64).astype(np.uint32)
    special = np.array(
        [0, 0x80000000, 0x00000001, 0x007FFFFF, 0x00008000, 0x00018000, 0x3F808000,
         0x3F818000, 0x7F7FFFFF, 0xFF7FFFFF, 0x7F800000, 0xFF800000, 0x7FC00000,
         0x7F800001, 0xFFFFFFFF, 0x7F7F8000],
        dtype=np.uint32,
    )  # fmt: skip
    bits = jnp.asarray(np.concatenate([comb, special]))
    assert int(jax.jit(_bfloat16_mismatches)(bits)) == 0
    assert internals.convert(jnp.ones(3), jnp.float16).dtype == jnp.float16


@pytest.mark.slow
def test_bfloat16_conversion_has_xla_bits_for_every_float():
    """All 2^32 float32 bit patterns, about 15 s."""
    step = 1 << 27
    count = jax.jit(lambda first: _bfloat16_mismatches(jax.lax.iota(jnp.uint32, step) + first))
    assert sum(int(count(np.uint32(s))) for s in range(0, 2**32, step)) == 0


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
