"""Hostile input: every public builder x every kind of bad argument.

Each bad argument must raise ValueError/TypeError naming the builder and the
argument, at build time; bad call arguments (shape, key, dtype) at call time.
Nothing may segfault, hang or return NaN silently. A test checks that every
public builder is in the catalogue.
"""

import inspect
import math
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from _subsets import builders

import jax_inits as ji
from jax_inits._src import catalog, registry

# name -> {argument: kind}, aliases included (they report the builder they alias):
# the kinds are said where each builder is registered; they decide which bad
# values below apply.
SPECS = {name: registry.resolve(name) for name in registry.names()}
BUILDERS = {name: dict(spec.kinds) for name, spec in SPECS.items() if spec.builder is not None}
READY = {name: spec.ready for name, spec in SPECS.items() if spec.builder is None}
# The arguments each builder is called with besides the bad one: its example.
_REQUIRED = {name: spec.example[1] for name, spec in SPECS.items()}
_POSITIONAL = {name: spec.example[0] for name, spec in SPECS.items()}


def _traced_value():
    box = []
    jax.jit(lambda x: box.append(x) or x)(1.0)
    return box[0]


BAD = {  # kind -> [(value, exception, message fragment)]
    "real": [
        (math.nan, ValueError, "must be finite"),
        (math.inf, ValueError, "must be finite"),
        ("1.0", TypeError, "must be a real number"),
        (True, TypeError, "must be a real number"),
        ([1.0], TypeError, "must be a real scalar"),
        (1 + 2j, TypeError, "must be a real"),
        (np.ones(3), TypeError, "must be a real scalar"),
        (None, TypeError, "must be a real"),
        ("tracer", TypeError, "must be a concrete real number"),
    ],
    "axes": [
        (1.5, TypeError, "must be an integer"),
        ("0", TypeError, "must be an integer"),
        (True, TypeError, "must be an integer"),
        ((0, 0), ValueError, "must not repeat"),
        ((0, None), TypeError, "must be an integer"),
        ({0: 1}, TypeError, "must be an integer"),
    ],
    "int": [
        (1.0, TypeError, "must be an integer"),
        ("x", TypeError, "must be an integer"),
        (True, TypeError, "must be an integer"),
        (None, TypeError, "must be an integer"),
    ],
    "layout": [
        ("tf", ValueError, r"must be one of \('jax', 'torch'\)"),
        (None, ValueError, "must be one of"),
        ("JAX", ValueError, "must be one of"),
    ],
}
BAD["fan_layout"] = [  # the fan-scaled torch builders also read transformer_lens's layouts
    ("tf", ValueError, r"must be one of \('jax', 'torch', 'transformer_lens'\)"),
    *BAD["layout"][1:],
]
BAD["nonneg"] = BAD["real"] + [
    (-1.0, ValueError, "must be >= 0"),
    (np.float32(-0.5), ValueError, "must be >= 0"),
]
BAD["positive"] = [b for b in BAD["real"] if b[0] is not None] + [
    (0.0, ValueError, "must be > 0"),
    (-3, ValueError, "must be > 0"),
]
BAD["bound"] = [(math.nan, ValueError, "must not be NaN")] + BAD["real"][2:]
# counts (int > 0), "?" where None is allowed, and string choices
BAD["count"] = BAD["int"] + [(0, ValueError, "must be > 0"), (-3, ValueError, "must be > 0")]
BAD["count?"] = [b for b in BAD["count"] if b[0] is not None]
BAD["natural?"] = [b for b in BAD["int"] if b[0] is not None] + [(-1, ValueError, "must be >= 0")]
BAD["depth"] = BAD["int"] + [(1, ValueError, "must be >= 2"), (0, ValueError, "must be >= 2")]
BAD["choice?"] = [
    ("gaussian", ValueError, "must be one of"),
    ("Normal", ValueError, "must be one of"),
    (3, ValueError, "must be one of"),
]
BAD["choice"] = BAD["choice?"] + [(None, ValueError, "must be one of")]


def _cases():
    for name, args in BUILDERS.items():
        for arg, kind in args.items():
            for value, exc, fragment in BAD[kind]:
                yield pytest.param(
                    name, arg, value, exc, fragment, id=f"{name}-{arg}-{value!r}"[:60]
                )


@pytest.mark.parametrize("name,arg,value,exc,fragment", list(_cases()))
def test_bad_builder_argument(name, arg, value, exc, fragment):
    canonical, builder = registry.lookup(name)  # aliases report the builder they alias
    if isinstance(value, str) and value == "tracer":
        value = _traced_value()
        if arg in SPECS[canonical].traced:  # swept under jit/vmap, as jax.nn allows
            assert builder(**{**_example_kwargs(name), arg: value}).traced
            return
    with pytest.raises(exc, match=rf"^{re.escape(canonical)}: `{arg}` .*{fragment}"):
        builder(**{**_example_kwargs(name), arg: value})


def _example_kwargs(name):
    """The registered example arguments of ``name``, all by keyword."""
    params = inspect.signature(registry.lookup(name)[1]).parameters
    return {**dict(zip(params, _POSITIONAL[name], strict=False)), **_REQUIRED[name]}


def test_every_public_builder_is_in_the_catalogue():
    public = set(catalog.names())
    assert public == set(BUILDERS) | set(READY)
    for name, args in BUILDERS.items():
        params = inspect.signature(registry.lookup(name)[1]).parameters
        assert set(args) <= set(params), name


def test_numpy_scalars_are_numbers():
    assert ji.normal(np.float32(0.5)) == ji.normal(0.5)
    assert ji.he_normal(in_axis=np.int64(0), out_axis=np.int32(1)) == ji.he_normal(0, 1)
    assert ji.truncated_normal(lower=-np.inf) == ji.truncated_normal(lower=-math.inf)


INITS = {
    name: (registry.lookup(name)[1](**_example_kwargs(name)) if name in BUILDERS else init)
    for name, init in {**{n: None for n in BUILDERS}, **READY}.items()
}
CONV = {e.name for e in catalog.ENTRIES if e.conv}
# Builders that need a minimum rank (variance scaling: the default in/out axes).
MIN_RANK = {
    "orthogonal": 2,
    "delta_orthogonal": 3,
    "variance_scaling": 2,
    "glorot_uniform": 2,
    "glorot_normal": 2,
    "lecun_uniform": 2,
    "lecun_normal": 2,
    "he_uniform": 2,
    "he_normal": 2,
    "identity": 2,
    "dirac": 3,
    "sparse": 2,
    "complex_he": 2,
    "haar_unitary": 2,
    "pytorch.eye": 2,
    "pytorch.dirac": 3,
    "pytorch.kaiming_uniform": 2,
    "pytorch.orthogonal": 2,
    "recipes.mitchell": 2,
    "recipes.deepnet": 2,
    "recipes.fixup": 2,
    "recipes.t_fixup": 2,
    "recipes.zero_init": 2,
    "recipes.block_orthogonal": 3,
}


@pytest.mark.parametrize("name", builders(sorted(INITS)))
def test_bad_call_arguments(name):
    init = INITS[name]
    good = (3, 3, 4, 4) if name in CONV else (4, 4)
    key = jax.random.key(0)
    for shape, exc, fragment in [
        ((4, -1), ValueError, "non-negative sizes"),
        ((4, 2.5), TypeError, "must hold integers"),
        ("4,4", TypeError, "sequence of non-negative integers"),
        ((4, True), TypeError, "concrete integers"),
        ((4, None), TypeError, "must hold integers"),
    ]:
        with pytest.raises(exc, match=rf"^{init.name}: .*{fragment}"):
            init(key, shape)
    with pytest.raises(TypeError, match="`dtype`"):
        init(key, good, "no-such-dtype")
    if isinstance(init, ji.Initializer) and init.name in MIN_RANK:
        bad_rank = (4,) * (MIN_RANK[init.name] - 1)
        with pytest.raises(ValueError, match=rf"^{init.name}: .*shape {re.escape(str(bad_rank))}"):
            init(key, bad_rank)
    if init.random:
        for bad_key in [
            jnp.zeros(2),
            "key",
            0,
            jnp.zeros((2, 2), jnp.uint32),
            jax.random.split(key, 3),
        ]:
            with pytest.raises(TypeError, match=r"`key` must be a"):
                init(bad_key, good)
        for dtype in [jnp.int32, bool, jnp.uint8]:
            with pytest.raises(TypeError, match="floating or complex dtype"):
                init(key, good, dtype)
        # Legacy raw keys and typed keys both work and agree.
        np.testing.assert_array_equal(
            init(jax.random.PRNGKey(3), good),
            init(jax.random.wrap_key_data(jax.random.PRNGKey(3)), good),
        )
    out = init(key, good)
    assert np.isfinite(np.asarray(out, np.complex64)).all()


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_a_builder_used_as_the_initializer_says_to_call_it(name):
    """``kernel_init=jax_inits.he_normal`` (no parentheses) is called as
    ``he_normal(key, shape, dtype)``; the message names the builder and the fix,
    not the argument the key happened to land in."""
    canonical, builder = registry.lookup(name)
    pattern = (
        rf"^{re.escape(canonical)}: `{re.escape(canonical)}` is a builder, not an initializer: "
    )
    pattern += rf"call it first, `{re.escape(canonical)}\(\)`"
    key = jax.random.key(0)
    for args in [(key, (4, 4)), (key, (4, 4), jnp.float32), (jax.random.PRNGKey(0), (4, 4))]:
        with pytest.raises(TypeError, match=pattern):
            builder(*args)
    with pytest.raises(TypeError, match=pattern):  # under vmap (stacked of a builder did this)
        jax.vmap(lambda k: builder(k, (4, 4)))(jax.random.split(key, 2))
    with pytest.raises(
        TypeError,
        match=rf"^stacked: `init` must be an initializer, got the builder `{re.escape(canonical)}`",
    ):
        ji.stacked(builder)


def test_flax_kernel_init_without_parentheses():
    nnx = pytest.importorskip("flax.nnx")
    with pytest.raises(
        TypeError, match=r"^he_normal: `he_normal` is a builder, not an initializer: call it first"
    ):
        nnx.Linear(8, 4, kernel_init=ji.he_normal, rngs=nnx.Rngs(0))
