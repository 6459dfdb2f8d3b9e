"""Bit parity with the installed jax.nn.initializers.

For float32 and float64, typed and raw threefry keys, every builder jax has must
return exactly the array jax's builder returns under ``jax.jit``, both when our
initializer is called eagerly and when it is jitted. (jax's own eager call is not
the reference: it differs from its jitted result in the last bit.)

Every test runs twice: on the CPU's own eager path (the fast ``erf_inv`` form,
first-call bucket kernels, the self-check) and on the path a GPU or TPU eager
call takes (``sampling.accelerator_path``: the shape's own executable with
``lax.erf_inv`` and XLA's default options), the second in `make test-slow`
except for `test_accelerator_path` below.
"""

import contextlib

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from _gates import fused_kernels_only
from _subsets import rotated

import jax_inits
from jax_inits._src import _jax_compat as compat
from jax_inits._src import dispatch, sampling

J = jax.nn.initializers

# (shape, axis kwargs) of rank 2 to 5, with int and tuple in/out/batch axes.
SHAPES = [
    ((32, 48), {}),
    ((4, 24, 40), {"batch_axis": 0}),
    ((3, 3, 16, 32), {}),
    ((2, 3, 3, 8, 16), {"in_axis": (-2, -3), "out_axis": (-1,), "batch_axis": (0,)}),
    ((12, 5, 7), {"in_axis": 0, "out_axis": (1, 2)}),
]

KEYS = {"typed": jax.random.key(7), "raw": jax.random.PRNGKey(11)}

VS_BUILDERS = [
    "glorot_uniform",
    "glorot_normal",
    "lecun_uniform",
    "lecun_normal",
    "he_uniform",
    "he_normal",
]


@pytest.fixture(autouse=True, params=["cpu", pytest.param("accelerator", marks=pytest.mark.slow)])
def eager_path(request):
    """The eager path under test: the CPU's own, or a GPU/TPU call's."""
    if request.param == "cpu":
        yield request.param
    else:
        with sampling.accelerator_path("gpu"):
            yield request.param


def _jax_jit(init, key, shape, dtype):
    return jax.jit(init, static_argnums=(1, 2))(key, shape, dtype)


def _assert_parity(ours, theirs, key, shape, dtype, exact=True):
    expected = _jax_jit(theirs, key, shape, dtype)
    eager = ours(key, shape, dtype)
    jitted = jax.jit(ours, static_argnums=(1, 2))(key, shape, dtype)
    chex.assert_shape([eager, jitted, expected], tuple(shape))
    chex.assert_type([eager, jitted], expected.dtype)
    if exact:
        chex.assert_trees_all_equal(eager, expected, strict=True)
    else:  # orthogonal: within float rounding of jax's QR
        tol = 8 * float(jnp.finfo(dtype).eps)
        np.testing.assert_allclose(eager, expected, rtol=0, atol=tol)
    chex.assert_trees_all_equal(eager, jitted, strict=True)  # eager == jit, always exact


# (key kind, dtype): both key kinds in float32, float64 with a typed key. `make test`
# runs each case below with one of them (and each builder on one shape), rotating
# from case to case so that every combination runs there; `make test-slow` and
# `make test-min` run every case with every combination.
COMBOS = [("typed", "float32"), ("raw", "float32"), ("typed", "float64")]
COMBO_IDS = ["-".join(c) for c in COMBOS]


def _cases(cases, ids, variants=COMBO_IDS):
    """``pytest.param(case, variant)`` for every pair, one variant a case in `make test`."""
    by_id = dict(zip(ids, cases, strict=True))
    return [
        pytest.param(by_id[p.values[0]], p.values[1], id=p.id, marks=p.marks)
        for p in rotated(ids, variants, fast=ids)
    ]


@contextlib.contextmanager
def key_dtype(combo):
    """The key and dtype of a combination, with x64 on for float64."""
    key_kind, dtype = COMBOS[COMBO_IDS.index(combo)]
    with compat.enable_x64(dtype == "float64"):
        yield KEYS[key_kind], jnp.dtype(dtype)


SHAPE_IDS = [str(s) for s, _ in SHAPES]


@pytest.mark.parametrize("name,layout", _cases(VS_BUILDERS, VS_BUILDERS, SHAPE_IDS))
def test_named_variance_scaling_shapes(name, layout):
    """Every named builder on every rank and axis layout (typed key, float32)."""
    shape, axes = SHAPES[SHAPE_IDS.index(layout)]
    _assert_parity(
        getattr(jax_inits, name)(**axes),
        getattr(J, name)(**axes),
        KEYS["typed"],
        shape,
        jnp.dtype("float32"),
    )


@pytest.mark.parametrize("name,combo", _cases(VS_BUILDERS, VS_BUILDERS))
def test_named_variance_scaling_keys_dtypes(name, combo):
    with key_dtype(combo) as (key, dtype):
        _assert_parity(getattr(jax_inits, name)(), getattr(J, name)(), key, (24, 40), dtype)


VS_CASES = [
    (mode, distribution)
    for distribution in ["truncated_normal", "normal", "uniform"]
    for mode in ["fan_in", "fan_out", "fan_avg", "fan_geo_avg"]
]


@pytest.mark.parametrize("case,combo", _cases(VS_CASES, ["-".join(c) for c in VS_CASES]))
def test_variance_scaling(case, combo):
    mode, distribution = case
    shape, axes = SHAPES[1]
    args = (0.37, mode, distribution)
    with key_dtype(combo) as (key, dtype):
        _assert_parity(
            jax_inits.variance_scaling(*args, **axes),
            J.variance_scaling(*args, **axes),
            key,
            shape,
            dtype,
        )


DISTRIBUTIONS = [
    (name, args, shape)
    for shape in [(32, 48), (2, 3, 4, 4)]
    for name, args in [
        ("normal", ()),
        ("normal", (3.5,)),
        ("uniform", ()),
        ("uniform", (7.0,)),
        ("truncated_normal", ()),
        ("truncated_normal", (0.5, None, -1.0, 3.0)),
        ("constant", (-2.5,)),
        ("constant", (np.array([[1.5]]),)),
    ]
]


@pytest.mark.parametrize(
    "case,combo", _cases(DISTRIBUTIONS, [f"{n}{a}-{s}" for n, a, s in DISTRIBUTIONS])
)
def test_distributions(case, combo):
    name, args, shape = case
    with key_dtype(combo) as (key, dtype):
        _assert_parity(getattr(jax_inits, name)(*args), getattr(J, name)(*args), key, shape, dtype)


@pytest.mark.parametrize("name,combo", _cases(["zeros", "ones"], ["zeros", "ones"]))
def test_zeros_ones(name, combo):
    with key_dtype(combo) as (key, dtype):
        _assert_parity(getattr(jax_inits, name), getattr(J, name), key, (5, 6), dtype)


ORTHOGONAL = [((32, 48), -1), ((48, 32), -1), ((48, 32), 0), ((4, 6, 10), 1), ((2, 3, 4, 5), -1)]


@pytest.mark.parametrize("case,combo", _cases(ORTHOGONAL, [str(c) for c in ORTHOGONAL]))
def test_orthogonal(case, combo):
    shape, column_axis = case
    with key_dtype(combo) as (key, dtype):
        _assert_parity(
            jax_inits.orthogonal(1.3, column_axis),
            J.orthogonal(1.3, column_axis),
            key,
            shape,
            dtype,
            exact=False,
        )


DELTA = [(3, 8, 8), (3, 3, 8, 16), (3, 1, 2, 4, 4)]


@pytest.mark.parametrize("shape,combo", _cases(DELTA, [str(s) for s in DELTA]))
def test_delta_orthogonal(shape, combo):
    with key_dtype(combo) as (key, dtype):
        _assert_parity(
            jax_inits.delta_orthogonal(0.8), J.delta_orthogonal(0.8), key, shape, dtype, exact=False
        )


def test_aliases_are_the_same_builders():
    assert jax_inits.xavier_uniform is jax_inits.glorot_uniform
    assert jax_inits.xavier_normal is jax_inits.glorot_normal
    assert jax_inits.kaiming_uniform is jax_inits.he_uniform
    assert jax_inits.kaiming_normal is jax_inits.he_normal


@pytest.mark.skipif(
    jax.default_backend() != "cpu", reason="the rounding difference is XLA's CPU backend's"
)
def test_jax_eager_differs_from_its_own_jit():
    """Why the reference is jax under jit: its eager call rounds differently."""
    key, shape = jax.random.key(0), (64, 64)
    eager = J.normal()(key, shape)
    jitted = _jax_jit(J.normal(), key, shape, jnp.float32)
    assert not np.array_equal(eager, jitted)
    np.testing.assert_array_equal(jax_inits.normal()(key, shape), jitted)


def test_builder_default_dtype_matches_jax():
    key = jax.random.key(3)
    ours = jax_inits.he_normal(dtype=jnp.float32)(key, (16, 16))
    theirs = jax.jit(J.he_normal(dtype=jnp.float32), static_argnums=1)(key, (16, 16))
    np.testing.assert_array_equal(ours, theirs)


def test_compute_fans_matches_jax():
    from jax._src.nn.initializers import _compute_fans

    for shape, axes in SHAPES:
        assert jax_inits.compute_fans(shape, **axes) == _compute_fans(shape, **axes)


# The accelerator path in `make test`: each distribution once, with both key kinds
# and float64, on shapes no other test draws (no cached executable can answer).
ACCELERATOR_CASES = [
    ("normal", (3.5,), (24, 40), "typed", "float32"),
    ("uniform", (7.0,), (24, 40), "raw", "float32"),
    ("truncated_normal", (), (24, 40), "typed", "float64"),
    ("he_normal", (), (3, 3, 16, 8), "typed", "float32"),
]


@pytest.mark.parametrize(
    "name,args,shape,key_kind,dtype", ACCELERATOR_CASES, ids=[c[0] for c in ACCELERATOR_CASES]
)
def test_accelerator_path(name, args, shape, key_kind, dtype, eager_path):
    if eager_path != "cpu":
        pytest.skip("runs the accelerator path itself")
    with compat.enable_x64(dtype == "float64"), sampling.accelerator_path("gpu"):
        _assert_parity(
            getattr(jax_inits, name)(*args),
            getattr(J, name)(*args),
            KEYS[key_kind],
            shape,
            jnp.dtype(dtype),
        )


@fused_kernels_only
def test_accelerator_path_skips_the_cpu_only_kernels(monkeypatch, eager_path):
    """The switch changes the path: under it a new eager signature runs no bucket
    kernel, traces no fast erf_inv form and no self-check; without it, the CPU's
    first call runs a bucket kernel and the second traces the fast form."""
    if eager_path != "cpu":
        pytest.skip("compares the two paths itself")
    used = []
    for module, name in (
        (dispatch, "_bucket_runner"),
        (sampling, "_erf_inv_f32"),
        (sampling, "fast_erf_inv_exact"),
    ):
        original = getattr(module, name)

        def spy(*args, _original=original, _name=name, **kwargs):
            used.append(_name)
            return _original(*args, **kwargs)

        monkeypatch.setattr(module, name, spy)
    key, shape = jax.random.key(5), (7, 11, 13)  # a shape no other test draws
    init = jax_inits.variance_scaling(0.73, "fan_avg", "normal")
    with sampling.accelerator_path("gpu"):
        accelerator = [init(key, shape), init(key, shape)]
    assert used == []
    cpu = [init(key, shape), init(key, shape)]
    assert {"_bucket_runner", "_erf_inv_f32", "fast_erf_inv_exact"} <= set(used)
    chex.assert_trees_all_equal(accelerator, cpu, strict=True)
