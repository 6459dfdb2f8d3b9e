"""The libraries jax_inits grew from, each function against its documented formula.

The reference API pages (transformer_lens ``initialization_utils``,
``colossalai.nn.init``, Kaun's ``Init``, xlstm_jax's ``models.shared.init``)
state each initializer as a std or a bound in terms of the shape and the
arguments. Every seed function has the equivalent call that
``docs/guides/migration.md`` lists, and here it is checked against that formula,
written out in this file from the reference page (never taken from jax_inits),
in both layouts where the library has two.

Statistics: one array per case (n from 4608 values for the conv kernel
(3, 3, 32, 16) to 98304), fixed key ``jax.random.key(17)``, checked to 5
standard errors of that n (``tests/_stats.py``: the sample std within
5 / sqrt(2 n) relative, 2.8% at n = 2^15, 5.2% at n = 4608; the mean within
5 s / sqrt(n)): a false failure below 1e-6 per check. Exact properties (bounds,
zeros, the formulas of ``target_std`` and of the fans) are checked exactly or to
1e-12 relative.

None of the four libraries is installed: transformer_lens pulls transformers,
datasets, wandb and accelerate, colossalai a distributed-training stack, Kaun is
OCaml and xlstm_jax is not on PyPI. Their formulas come from the reference pages
and, where a page leaves a case out (transformer_lens's rank-1 fans, colossalai's
``lecun_*``), from the libraries' published source, cited at the case.
"""

import inspect
import math
import pathlib
import re
import typing

import _stats
import jax
import numpy as np
import pytest
import scipy.stats

import jax_inits
from jax_inits import pytorch as tp
from jax_inits import recipes

KEY = jax.random.key(17)
TRUNC_STD = scipy.stats.truncnorm(-2, 2).std()  # std of N(0, 1) truncated to [-2, 2]


def torch_gain(nonlinearity, a):
    """torch.nn.init.calculate_gain's table, as the torch docs state it."""
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        slope = 0.01 if a is None else a
        return math.sqrt(2.0 / (1 + slope**2))
    if nonlinearity == "tanh":
        return 5.0 / 3.0
    if nonlinearity == "selu":
        return 0.75
    return 1.0  # linear, conv*, sigmoid


def check_samples(init, shape, std, *, bound=None):
    """Mean 0 and the given std (5 standard errors); uniform: no value beyond ``bound``."""
    w = np.asarray(init(KEY, shape), np.float64)
    assert w.shape == shape
    _stats.assert_mean_std(w, 0.0, std)
    if bound is not None:
        assert np.abs(w).max() <= bound * (1 + 1e-6)
        assert np.abs(w).max() > 0.99 * bound  # the bound is reached, not a smaller one


# --- transformer_lens.utilities.initialization_utils -----------------------------------


def tl_fans(shape):
    """calc_fan_in_and_fan_out: MLP (d_in, d_out); attention (n_heads, d_model, d_head).

    The rank-1 case ``(1, n)`` is not on the reference page; it is transformer_lens's
    source (``initialization_utils.py``: ``fan_in = 1, fan_out = shape[0]``).
    """
    if len(shape) == 1:
        return 1.0, float(shape[0])
    if len(shape) == 2:
        return float(shape[0]), float(shape[1])
    n_heads, d_model, d_head = shape
    return float(d_model), float(n_heads * d_head)


TL_SHAPES = [(512, 128), (128, 512), (8, 256, 32), (4, 32, 256), (4096,)]


@pytest.mark.parametrize("shape", TL_SHAPES, ids=str)
def test_transformer_lens_calc_fan_in_and_fan_out(shape):
    for builder in (tp.kaiming_normal, tp.kaiming_uniform, tp.xavier_normal, tp.xavier_uniform):
        assert builder(layout="transformer_lens").fans(shape) == tl_fans(shape)
    if len(shape) == 2:  # the MLP layout is JAX's (in, out)
        assert jax_inits.compute_fans(shape) == tl_fans(shape)
    if len(shape) == 3:  # the attention layout, with plain axes
        assert jax_inits.compute_fans(shape, in_axis=1, out_axis=(0, 2)) == tl_fans(shape)


TL_KAIMING = [
    {},  # transformer_lens's defaults: a=0, nonlinearity="relu", gain=1, mode="fan_in"
    {"gain": 0.5},
    {"nonlinearity": "leaky_relu", "a": 0.2, "gain": 2.0},
    {"nonlinearity": "tanh", "mode": "fan_out"},
    {"nonlinearity": "linear", "gain": 1.5, "mode": "fan_out"},
]


@pytest.mark.parametrize("kw", TL_KAIMING, ids=str)
@pytest.mark.parametrize("shape", TL_SHAPES[:4], ids=str)
@pytest.mark.parametrize("distribution", ["normal", "uniform"])
def test_transformer_lens_init_kaiming(kw, shape, distribution):
    """std = gain * calculate_gain(nonlinearity, a) / sqrt(fan); uniform bound sqrt(3) std."""
    a = kw.get("a", 0.0)
    nonlinearity = kw.get("nonlinearity", "relu")
    fan_in, fan_out = tl_fans(shape)
    fan = fan_in if kw.get("mode", "fan_in") == "fan_in" else fan_out
    std = kw.get("gain", 1.0) * torch_gain(nonlinearity, a) / math.sqrt(fan)
    builder = tp.kaiming_normal if distribution == "normal" else tp.kaiming_uniform
    init = builder(**{"nonlinearity": "relu", **kw}, layout="transformer_lens")
    assert init.target_std(shape) == pytest.approx(std, rel=1e-12)
    if kw == {}:  # the defaults match: leaky_relu with a=0 has relu's gain sqrt(2)
        assert builder(layout="transformer_lens") == init
    check_samples(init, shape, std, bound=math.sqrt(3) * std if distribution == "uniform" else None)


@pytest.mark.parametrize("gain", [1.0, 0.3])
@pytest.mark.parametrize("shape", TL_SHAPES[:4], ids=str)
def test_transformer_lens_init_xavier(shape, gain):
    """normal: std = gain sqrt(2 / (fan_in + fan_out)); uniform: bound gain sqrt(6 / (...))."""
    fan_in, fan_out = tl_fans(shape)
    std = gain * math.sqrt(2.0 / (fan_in + fan_out))
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    normal = tp.xavier_normal(gain, layout="transformer_lens")
    uniform = tp.xavier_uniform(gain, layout="transformer_lens")
    assert normal.target_std(shape) == pytest.approx(std, rel=1e-12)
    assert uniform.target_std(shape) == pytest.approx(bound / math.sqrt(3), rel=1e-12)
    check_samples(normal, shape, std)
    check_samples(uniform, shape, bound / math.sqrt(3), bound=bound)


def test_transformer_lens_rank_one_fans_are_one_and_n():
    init = tp.kaiming_normal(nonlinearity="relu", layout="transformer_lens")
    assert init.target_std((4096,)) == pytest.approx(math.sqrt(2.0), rel=1e-12)  # fan_in = 1
    check_samples(init, (2**15,), math.sqrt(2.0))


@pytest.mark.parametrize("shape", [(), (2, 3, 4, 5)], ids=str)
def test_transformer_lens_layout_rejects_other_ranks(shape):
    with pytest.raises(
        ValueError,
        match=r"^pytorch\.kaiming_normal: layout 'transformer_lens' has fans for rank 1, 2 or 3 "
        rf"\(as transformer_lens's calc_fan_in_and_fan_out\), got shape {re_shape(shape)}\.$",
    ):
        tp.kaiming_normal(layout="transformer_lens")(KEY, shape)


def re_shape(shape):
    return str(shape).replace("(", r"\(").replace(")", r"\)")


# --- colossalai.nn.init ------------------------------------------------------------------
# colossalai's initializers take the fans from the layer (``initializer(tensor, fan_in,
# fan_out)``), whose weight is a torch (out, in) weight; jax_inits reads them from the
# shape, in either layout. Both layouts are checked for the same layer.

LAYER = {"torch": (384, 256), "jax": (256, 384)}  # nn.Linear(256, 384): fan_in 256, out 384
FAN_IN, FAN_OUT = 256, 384


def test_colossalai_constants_and_elementwise():
    np.testing.assert_array_equal(tp.zeros()(KEY, (3, 4)), np.zeros((3, 4)))
    np.testing.assert_array_equal(tp.ones()(KEY, (3, 4)), np.ones((3, 4)))
    u = np.asarray(tp.uniform()(KEY, (256, 256)), np.float64)  # U(a=0, b=1)
    assert u.min() >= 0.0 and u.max() < 1.0
    _stats.assert_mean_std(u, 0.5, 1 / math.sqrt(12))
    u = np.asarray(tp.uniform(-3.0, 1.0)(KEY, (256, 256)), np.float64)
    assert u.min() >= -3.0 and u.max() < 1.0
    _stats.assert_mean_std(u, -1.0, 4 / math.sqrt(12))
    _stats.assert_mean_std(tp.normal()(KEY, (256, 256)), 0.0, 1.0)  # N(mean=0, std=1)
    _stats.assert_mean_std(tp.normal(2.0, 0.5)(KEY, (256, 256)), 2.0, 0.5)


@pytest.mark.parametrize(
    ("mean", "std", "a", "b"), [(0.0, 1.0, -2.0, 2.0), (0.5, 1.0, 0.0, 3.0), (0.0, 0.02, -2, 2)]
)
def test_colossalai_trunc_normal(mean, std, a, b):
    """N(mean, std^2) with values outside [a, b] redrawn: the bounds are absolute."""
    w = np.asarray(tp.trunc_normal(mean, std, a, b)(KEY, (256, 256)), np.float64)
    assert w.min() >= a and w.max() <= b
    dist = scipy.stats.truncnorm((a - mean) / std, (b - mean) / std, loc=mean, scale=std)
    _stats.assert_mean_std(w, dist.mean(), dist.std())


COLOSSAL_KAIMING = [
    {},  # a=0, mode="fan_in", nonlinearity="leaky_relu"
    {"a": math.sqrt(5)},
    {"mode": "fan_out", "nonlinearity": "relu"},
    {"a": 0.1, "mode": "fan_out"},
]


@pytest.mark.parametrize("layout", ["torch", "jax"])
@pytest.mark.parametrize("kw", COLOSSAL_KAIMING, ids=str)
def test_colossalai_kaiming(kw, layout):
    """uniform bound = gain sqrt(3 / fan_mode); normal std = gain / sqrt(fan_mode)."""
    fan = FAN_IN if kw.get("mode", "fan_in") == "fan_in" else FAN_OUT
    gain = torch_gain(kw.get("nonlinearity", "leaky_relu"), kw.get("a", 0))
    bound, std = gain * math.sqrt(3.0 / fan), gain / math.sqrt(fan)
    uniform = tp.kaiming_uniform(**kw, layout=layout)
    normal = tp.kaiming_normal(**kw, layout=layout)
    assert uniform.target_std(LAYER[layout]) == pytest.approx(bound / math.sqrt(3), rel=1e-12)
    assert normal.target_std(LAYER[layout]) == pytest.approx(std, rel=1e-12)
    check_samples(uniform, LAYER[layout], bound / math.sqrt(3), bound=bound)
    check_samples(normal, LAYER[layout], std)


COLOSSAL_XAVIER = [
    {},  # a=sqrt(3), scale=2, gain=1: the documented bound gain sqrt(6 / (fan_in + fan_out))
    {"gain": 0.5},
    {"a": 2.0},
    {"scale": 1.0, "gain": 2.0},
    {"a": 1.0, "scale": 3.0, "gain": 0.7},
]


@pytest.mark.parametrize("layout", ["torch", "jax"])
@pytest.mark.parametrize("kw", COLOSSAL_XAVIER, ids=str)
def test_colossalai_xavier(kw, layout):
    """std = gain sqrt(scale / (fan_in + fan_out)); uniform on (-a std, a std)."""
    gain, scale, a = kw.get("gain", 1.0), kw.get("scale", 2.0), kw.get("a", math.sqrt(3.0))
    std = gain * math.sqrt(scale / (FAN_IN + FAN_OUT))
    bound = a * std
    if not kw:
        assert bound == pytest.approx(math.sqrt(6.0 / (FAN_IN + FAN_OUT)), rel=1e-15)
    uniform = tp.xavier_uniform(**kw, layout=layout)
    normal = tp.xavier_normal(**{k: v for k, v in kw.items() if k != "a"}, layout=layout)
    shape = LAYER[layout]
    assert uniform.target_std(shape) == pytest.approx(bound / math.sqrt(3), rel=1e-12)
    assert normal.target_std(shape) == pytest.approx(std, rel=1e-12)
    check_samples(uniform, shape, bound / math.sqrt(3), bound=bound)
    check_samples(normal, shape, std)


def test_colossalai_xavier_defaults_are_torchs_bits():
    # a=sqrt(3) and scale=2 are the identity on torch's xavier: same initializer, same bits.
    for layout in ("torch", "jax"):
        for gain in (1.0, 0.5):
            explicit = tp.xavier_uniform(gain, a=math.sqrt(3.0), scale=2.0, layout=layout)
            assert explicit == tp.xavier_uniform(gain, layout=layout)
            assert tp.xavier_normal(gain, scale=2.0, layout=layout) == tp.xavier_normal(
                gain, layout=layout
            )


def test_colossalai_xavier_without_fan_out():
    """Called without ``fan_out``, colossalai's xavier divides by ``fan_in`` alone
    (its source: ``fan = fan_in``, plus ``fan_out`` only when given)."""
    gain, scale, a = 0.8, 1.5, 2.0
    std = gain * math.sqrt(scale / FAN_IN)
    uniform = jax_inits.variance_scaling(gain**2 * scale * a**2 / 3, "fan_in", "uniform")
    normal = jax_inits.variance_scaling(gain**2 * scale, "fan_in", "normal")
    shape = LAYER["jax"]
    assert uniform.target_std(shape) == pytest.approx(a * std / math.sqrt(3), rel=1e-12)
    assert normal.target_std(shape) == pytest.approx(std, rel=1e-12)
    check_samples(uniform, shape, a * std / math.sqrt(3), bound=a * std)
    check_samples(normal, shape, std)


def test_colossalai_lecun_from_source():
    """lecun_uniform_: bound sqrt(3 / fan_in); lecun_normal_: result std sqrt(1 / fan_in).

    Not on the reference page; colossalai's source (``nn/init.py``). Its lecun_normal_
    calls ``trunc_normal_(std=s / 0.8796)`` with torch's absolute [-2, 2], which does
    not truncate small weights, so its values have std s / 0.8796; jax_inits.lecun_normal
    truncates at two of its standard deviations and has std s, which the guide says.
    """
    std = math.sqrt(1.0 / FAN_IN)
    check_samples(jax_inits.lecun_uniform(), LAYER["jax"], std, bound=math.sqrt(3.0) * std)
    check_samples(jax_inits.lecun_normal(), LAYER["jax"], std, bound=2 * std / TRUNC_STD)
    colossal = tp.trunc_normal(std=std / TRUNC_STD)  # its values, as the guide gives them
    check_samples(colossal, LAYER["jax"], std / TRUNC_STD)


# --- Kaun.Init ---------------------------------------------------------------------------


def test_kaun_constant_uniform_normal():
    np.testing.assert_array_equal(jax_inits.zeros(KEY, (2, 3)), np.zeros((2, 3)))
    np.testing.assert_array_equal(jax_inits.ones(KEY, (2, 3)), np.ones((2, 3)))
    np.testing.assert_array_equal(jax_inits.constant(0.25)(KEY, (2, 3)), np.full((2, 3), 0.25))
    for scale in (0.01, 3.0):  # uniform ?scale (): U(0, scale), scale defaults to 0.01
        init = jax_inits.uniform() if scale == 0.01 else jax_inits.uniform(scale)
        u = np.asarray(init(KEY, (256, 256)), np.float64)
        assert u.min() >= 0.0 and u.max() < scale
        _stats.assert_mean_std(u, scale / 2, scale / math.sqrt(12))
    # normal ?stddev (): N(0, stddev), stddev defaults to 0.01.
    _stats.assert_mean_std(jax_inits.normal()(KEY, (256, 256)), 0.0, 0.01)
    _stats.assert_mean_std(jax_inits.normal(2.0)(KEY, (256, 256)), 0.0, 2.0)


def kaun_fans(shape, in_axis=-2, out_axis=-1):
    """fan = size of the axis times the receptive field (the other axes)."""
    named = (in_axis % len(shape), out_axis % len(shape))
    receptive = math.prod(d for i, d in enumerate(shape) if i not in named)
    return shape[in_axis] * receptive, shape[out_axis] * receptive


# Both layouts Kaun supports through its axes: (..., in, out) and (out, in, ...)-style.
KAUN_LAYOUTS = [((256, 128), {}), ((3, 3, 32, 16), {}), ((128, 256), {"in_axis": 1, "out_axis": 0})]


@pytest.mark.parametrize(("shape", "axes"), KAUN_LAYOUTS, ids=str)
@pytest.mark.parametrize("mode", ["fan_in", "fan_out", "fan_avg"])
@pytest.mark.parametrize("distribution", ["normal", "truncated_normal", "uniform"])
def test_kaun_variance_scaling(shape, axes, mode, distribution):
    """Var = scale / n; uniform limit sqrt(3 scale / n); truncated to [-2, 2] and rescaled."""
    fan_in, fan_out = kaun_fans(shape, axes.get("in_axis", -2), axes.get("out_axis", -1))
    n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[mode]
    scale = 1.7
    std = math.sqrt(scale / n)
    init = jax_inits.variance_scaling(scale, mode, distribution, **axes)
    assert init.target_std(shape) == pytest.approx(std, rel=1e-12)
    bound = {"uniform": math.sqrt(3 * scale / n), "truncated_normal": 2 * std / TRUNC_STD}
    check_samples(init, shape, std, bound=bound.get(distribution))


KAUN_NAMED = {
    # name: the reference page's statement, as a function of (fan_in, fan_out):
    # ("limit", l) for U(-l, l), ("variance", v) for the truncated normal.
    "glorot_uniform": ("limit", lambda fi, fo: math.sqrt(6 / (fi + fo))),
    "glorot_normal": ("variance", lambda fi, fo: 2 / (fi + fo)),
    "he_uniform": ("limit", lambda fi, fo: math.sqrt(6 / fi)),
    "he_normal": ("variance", lambda fi, fo: 2 / fi),
    "lecun_uniform": ("limit", lambda fi, fo: math.sqrt(3 / fi)),
    "lecun_normal": ("variance", lambda fi, fo: 1 / fi),
}


@pytest.mark.parametrize(("shape", "axes"), KAUN_LAYOUTS, ids=str)
@pytest.mark.parametrize("name", KAUN_NAMED)
def test_kaun_named_families(name, shape, axes):
    kind, formula = KAUN_NAMED[name]
    value = formula(*kaun_fans(shape, axes.get("in_axis", -2), axes.get("out_axis", -1)))
    std = value / math.sqrt(3) if kind == "limit" else math.sqrt(value)
    init = getattr(jax_inits, name)(**axes)
    assert init.target_std(shape) == pytest.approx(std, rel=1e-12)
    check_samples(init, shape, std, bound=value if kind == "limit" else 2 * std / TRUNC_STD)


def test_kaun_errors_and_the_zero_size_difference():
    # Kaun raises Invalid_argument for a negative scale and out-of-bounds axes: so do we.
    with pytest.raises(ValueError, match=r"^variance_scaling: `scale` must be >= 0"):
        jax_inits.variance_scaling(-1.0, "fan_in", "normal")
    with pytest.raises(ValueError, match=r"has no axis 5 \(`in_axis`\)"):
        jax_inits.variance_scaling(1.0, "fan_in", "normal", in_axis=5)(KEY, (4, 4))
    # Kaun raises when "the computed fan is non-positive"; a fan is 0 only when an axis is
    # 0, and then jax_inits, like jax.nn, returns the empty array.
    for name in ("glorot_uniform", "he_normal", "lecun_uniform"):
        w = getattr(jax_inits, name)()(KEY, (0, 16))
        assert w.shape == (0, 16) and w.dtype == np.float32
    w = jax_inits.variance_scaling(1.0, "fan_in", "uniform")(KEY, (3, 0, 5))
    assert w.shape == (3, 0, 5)


# --- xlstm_jax.models.shared.init ----------------------------------------------------------


def test_xlstm_literal_types():
    assert typing.get_args(recipes.InitDistribution) == ("normal", "truncated_normal", "uniform")
    assert typing.get_args(recipes.InitFnName) == ("small", "wang", "wang2", "zeros")
    assert {"InitDistribution", "InitFnName"} <= set(recipes.__all__)


XLSTM_SIGNATURES = {
    # ours: (parameter names in order, defaults) of the xlstm_jax function
    "small_init": (("dim", "distribution"), {"distribution": "normal"}),
    "wang_init": (("dim", "num_blocks", "distribution"), {"distribution": "normal"}),
    # create_common_init_fn: num_blocks is required there; None here, checked for "wang*".
    "common_init": (
        ("fn_name", "dim", "num_blocks", "distribution"),
        {"num_blocks": None, "distribution": "normal"},
    ),
    "uniform_init": (("min_val", "max_val"), {}),
}


@pytest.mark.parametrize("name", XLSTM_SIGNATURES)
def test_xlstm_signature(name):
    names, defaults = XLSTM_SIGNATURES[name]
    params = inspect.signature(getattr(recipes, name)).parameters
    assert tuple(params) == names
    assert {k: p.default for k, p in params.items() if p.default is not p.empty} == defaults
    assert all(p.kind is p.POSITIONAL_OR_KEYWORD for p in params.values())


def test_xlstm_common_init_needs_num_blocks_only_for_wang():
    assert recipes.common_init("small", 512) == recipes.small_init(512)
    with pytest.raises(
        ValueError,
        match=r"^recipes\.common_init: `num_blocks` must be given for fn_name='wang', got None\.$",
    ):
        recipes.common_init("wang", 512)


@pytest.mark.parametrize("distribution", ["normal", "truncated_normal", "uniform"])
@pytest.mark.parametrize(
    ("make", "std"),
    [
        (lambda d: recipes.small_init(640, d), math.sqrt(2 / (5 * 640))),
        (lambda d: recipes.wang_init(400, 8, d), 2 / 8 / math.sqrt(400)),
        (lambda d: recipes.common_init("small", 640, 8, d), math.sqrt(2 / (5 * 640))),
        (lambda d: recipes.common_init("wang", 400, 8, d), 2 / 8 / math.sqrt(400)),
        (lambda d: recipes.common_init("wang2", 400, 8, d), 2 / 16 / math.sqrt(400)),
    ],
    ids=["small_init", "wang_init", "common-small", "common-wang", "common-wang2"],
)
def test_xlstm_std_recipes(make, std, distribution):
    """small: sqrt(2 / (5 dim)); wang: 2 / num_blocks / sqrt(dim); wang2: 2x num_blocks."""
    init = make(distribution)
    assert init.target_std((256, 256)) == pytest.approx(std, rel=1e-12)
    bound = {"uniform": math.sqrt(3) * std, "truncated_normal": 2 * std / TRUNC_STD}
    check_samples(init, (256, 256), std, bound=bound.get(distribution))


def test_xlstm_common_init_zeros_and_uniform_init():
    np.testing.assert_array_equal(
        recipes.common_init("zeros", 64, 4)(KEY, (3, 3)), np.zeros((3, 3))
    )
    w = np.asarray(recipes.uniform_init(-0.5, 1.5)(KEY, (256, 256)), np.float64)
    assert w.min() >= -0.5 and w.max() < 1.5  # between min_val and max_val
    _stats.assert_mean_std(w, 0.5, 2.0 / math.sqrt(12))


@pytest.mark.parametrize("distribution", ["normal", "truncated_normal", "uniform"])
def test_xlstm_dist_from_stddev_equivalents(distribution):
    """_dist_from_stddev(std, distribution): zero mean and the specified std."""
    std = 0.05
    equivalent = {  # the calls the migration guide gives
        "normal": jax_inits.normal(std),
        "truncated_normal": jax_inits.truncated_normal(std / 0.87962566103423978),
        "uniform": jax_inits.uniform_range(-math.sqrt(3) * std, math.sqrt(3) * std),
    }[distribution]
    assert equivalent.target_std((256, 256)) == pytest.approx(std, rel=1e-9)
    check_samples(equivalent, (256, 256), std)


# --- the migration guide lists every seed function ------------------------------------------

SEED_FUNCTIONS = {  # section of docs/guides/migration.md -> the reference page's functions
    "transformer_lens": [
        "calc_fan_in_and_fan_out",
        "init_kaiming_normal_",
        "init_kaiming_uniform_",
        "init_xavier_normal_",
        "init_xavier_uniform_",
    ],
    "colossalai": [
        "zeros_",
        "ones_",
        "uniform_",
        "normal_",
        "trunc_normal_",
        "kaiming_uniform_",
        "kaiming_normal_",
        "xavier_uniform_",
        "xavier_normal_",
    ],
    "Kaun": [
        "zeros",
        "ones",
        "constant",
        "uniform",
        "normal",
        "variance_scaling",
        "glorot_uniform",
        "glorot_normal",
        "he_uniform",
        "he_normal",
        "lecun_uniform",
        "lecun_normal",
    ],
    "xlstm_jax": [
        "InitDistribution",
        "InitFnName",
        "small_init",
        "wang_init",
        "create_common_init_fn",
        "_dist_from_stddev",
        "uniform_init",
    ],
}


@pytest.mark.parametrize("library", SEED_FUNCTIONS)
def test_migration_guide_has_a_row_per_seed_function(library):
    guide = (pathlib.Path(__file__).parents[1] / "docs" / "guides" / "migration.md").read_text()
    section = guide.split(f"\n### {library}\n", 1)[1].split("\n### ", 1)[0].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    firsts = [row.split("|")[1].strip() for row in rows]
    for name in SEED_FUNCTIONS[library]:
        assert any(re.match(rf"`{re.escape(name)}\b", first) for first in firsts), name
    assert "```python" in section  # a runnable example per library
