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

import jax_inits as ji
from jax_inits._src import catalog, registry

# builder -> {argument: kind}; kinds decide which bad values apply.
#   "nonneg": real number >= 0   "real": any finite real   "axes": int or ints
#   "int": one int               "bound": real, +-inf allowed, NaN not
BUILDERS = {
    "constant": {},  # value/dtype are checked in test_checks.py
    "uniform": {"scale": "nonneg"},
    "uniform_range": {"minval": "real", "maxval": "real"},
    "normal": {"stddev": "nonneg", "mean": "real"},
    "truncated_normal": {"stddev": "nonneg", "lower": "bound", "upper": "bound", "mean": "real"},
    "variance_scaling": {
        "scale": "nonneg",
        "in_axis": "axes",
        "out_axis": "axes",
        "batch_axis": "axes",
        "fan_in": "positive",
        "fan_out": "positive",
    },
    "orthogonal": {"scale": "real", "column_axis": "int"},
    "delta_orthogonal": {"scale": "real", "column_axis": "int"},
}
for _name in [
    "glorot_uniform",
    "glorot_normal",
    "xavier_uniform",
    "xavier_normal",
    "lecun_uniform",
    "lecun_normal",
    "he_uniform",
    "he_normal",
    "kaiming_uniform",
    "kaiming_normal",
]:
    BUILDERS[_name] = {"in_axis": "axes", "out_axis": "axes", "batch_axis": "axes"}
BUILDERS.update(
    {
        "identity": {"gain": "real"},
        "dirac": {"groups": "int", "gain": "real", "layout": "layout"},
        "sparse": {"sparsity": "nonneg", "stddev": "nonneg", "layout": "layout"},
        "stacked": {"axis": "int"},
        "grouped": {"groups": "count", "axis": "int"},
        "complex_glorot": {"in_axis": "axes", "out_axis": "axes", "batch_axis": "axes"},
        "complex_he": {"in_axis": "axes", "out_axis": "axes", "batch_axis": "axes"},
        "complex_uniform": {"scale": "nonneg"},
        "haar_unitary": {"scale": "real", "column_axis": "int"},
        "pytorch.uniform": {"a": "real", "b": "real", "layout": "layout"},
        "pytorch.normal": {"mean": "real", "std": "nonneg", "layout": "layout"},
        "pytorch.trunc_normal": {"mean": "real", "std": "positive", "a": "bound", "b": "bound"},
        "pytorch.constant": {"val": "real", "layout": "layout"},
        "pytorch.ones": {"layout": "layout"},
        "pytorch.zeros": {"layout": "layout"},
        "pytorch.eye": {"layout": "layout"},
        "pytorch.dirac": {"groups": "int", "layout": "layout"},
        "pytorch.xavier_uniform": {"gain": "nonneg", "layout": "layout"},
        "pytorch.xavier_normal": {"gain": "nonneg", "layout": "layout"},
        "pytorch.kaiming_uniform": {"layout": "layout"},
        "pytorch.kaiming_normal": {"layout": "layout"},
        "pytorch.orthogonal": {"gain": "real", "layout": "layout"},
        "pytorch.sparse": {"sparsity": "nonneg", "std": "nonneg", "layout": "layout"},
        "pytorch.linear_default": {"layout": "layout"},
        "pytorch.conv_default": {"layout": "layout"},
        "pytorch.linear_bias_default": {"fan_in": "nonneg", "layout": "layout"},
        "pytorch.embedding_default": {"layout": "layout"},
    }
)
_AXES = {"in_axis": "axes", "out_axis": "axes", "batch_axis": "axes"}
BUILDERS.update(
    {
        "recipes.small_init": {"dim": "count", "distribution": "choice"},
        "recipes.wang_init": {"dim": "count", "num_blocks": "count", "distribution": "choice"},
        "recipes.common_init": {
            "fn_name": "choice",
            "dim": "count",
            "num_blocks": "count?",
            "distribution": "choice",
        },
        "recipes.uniform_init": {"min_val": "real", "max_val": "real"},
        "recipes.scaled_residual": {
            "num_layers": "count",
            "std": "nonneg",
            "distribution": "choice",
        },
        "recipes.mitchell": {"layer_id": "natural?", "cutoff_factor": "positive", **_AXES},
        "recipes.deepnet": {
            "architecture": "choice",
            "encoder_layers": "count?",
            "decoder_layers": "count?",
            "part": "choice?",
            **_AXES,
        },
        "recipes.fixup": {"num_branches": "count", "branch_depth": "depth", **_AXES},
        "recipes.t_fixup": {"num_layers": "count", "part": "choice", **_AXES},
        "recipes.t_fixup_embedding": {"dim": "count", "num_decoder_layers": "count?"},
        "recipes.zero_init": {},
        "recipes.block_orthogonal": {"scale": "real"},
    }
)
READY = {"zeros": ji.zeros, "ones": ji.ones}  # initializers, not builders

_REQUIRED = {
    "variance_scaling": {"scale": 1.0, "mode": "fan_in", "distribution": "normal"},
    "constant": {"value": 0.5},
    "sparse": {"sparsity": 0.5},
    "stacked": {"init": ji.normal()},
    "grouped": {"init": ji.normal(), "groups": 2},
    "pytorch.constant": {"val": 0.5},
    "pytorch.sparse": {"sparsity": 0.5},
    "pytorch.linear_bias_default": {"fan_in": 16},
    "recipes.small_init": {"dim": 64},
    "recipes.wang_init": {"dim": 64, "num_blocks": 4},
    "recipes.common_init": {"fn_name": "wang", "dim": 64, "num_blocks": 4},
    "recipes.uniform_init": {"min_val": -1.0, "max_val": 1.0},
    "recipes.scaled_residual": {"num_layers": 4},
    "recipes.deepnet": {
        "architecture": "encoder_decoder",
        "encoder_layers": 6,
        "decoder_layers": 6,
        "part": "encoder",
    },
    "recipes.fixup": {"num_branches": 4, "branch_depth": 2},
    "recipes.t_fixup": {"num_layers": 4},
    "recipes.t_fixup_embedding": {"dim": 64},
}


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
    if isinstance(value, str) and value == "tracer":
        value = _traced_value()
    canonical, builder = registry.lookup(name)  # aliases report the builder they alias
    with pytest.raises(exc, match=rf"^{re.escape(canonical)}: `{arg}` .*{fragment}"):
        builder(**{**_REQUIRED.get(name, {}), arg: value})


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
    name: (registry.lookup(name)[1](**_REQUIRED.get(name, {})) if name in BUILDERS else init)
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


@pytest.mark.parametrize("name", sorted(INITS))
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
