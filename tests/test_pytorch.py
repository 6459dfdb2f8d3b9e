"""jax_inits.pytorch against torch.nn.init: fans, gains, placement, statistics.

torch runs in the same process (CPU); random values cannot match torch's
generator, so random builders are compared on their formulas (the std and
bounds torch computes for that weight) and sampled statistics, and structural
builders (eye, dirac, zero pattern of sparse) element by element.
"""

import math
import re

import _stats
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jax_inits
from jax_inits import pytorch as tp

torch = pytest.importorskip("torch")

TORCH_SHAPES = [(64, 32), (32, 64), (16, 8, 3), (16, 8, 3, 3), (8, 4, 2, 3, 3)]
KEY = jax.random.key(0)


def jax_shape(torch_shape):
    """The JAX kernel shape of a torch weight: (out, in, *k) -> (*k, in, out)."""
    out, n_in, *kernel = torch_shape
    return (*kernel, n_in, out)


def to_jax(weight):
    """A torch weight array (out, in, *k) rearranged to (*k, in, out)."""
    rank = weight.ndim
    return np.transpose(weight, (*range(2, rank), 1, 0))


@pytest.mark.parametrize("shape", TORCH_SHAPES, ids=str)
def test_fans_equal_torch_in_both_layouts(shape):
    fan_in, fan_out = torch.nn.init._calculate_fan_in_and_fan_out(torch.empty(shape))
    assert tp.kaiming_normal(layout="torch").fans(shape) == (fan_in, fan_out)
    assert tp.kaiming_normal(layout="jax").fans(jax_shape(shape)) == (fan_in, fan_out)


@pytest.mark.parametrize(
    ("nonlinearity", "param"),
    [
        ("linear", None),
        ("conv2d", None),
        ("conv_transpose3d", None),
        ("sigmoid", None),
        ("tanh", None),
        ("relu", None),
        ("leaky_relu", None),
        ("leaky_relu", 0.2),
        ("leaky_relu", 3),
        ("selu", None),
        ("relu", 0.5),
    ],
)
def test_calculate_gain_equals_torch(nonlinearity, param):
    expected = torch.nn.init.calculate_gain(nonlinearity, param)
    assert tp.calculate_gain(nonlinearity, param) == pytest.approx(expected, rel=1e-15)


@pytest.mark.parametrize("param", [True, [1], {"a": "b"}, "0.1"], ids=repr)
def test_calculate_gain_bad_leaky_relu_param_raises_value_error_as_torch(param):
    with pytest.raises(ValueError, match="not a valid number"):
        torch.nn.init.calculate_gain("leaky_relu", param)
    # ValueError as torch raises it, and TypeError by this package's rule for bad types.
    for exc in (ValueError, TypeError):
        with pytest.raises(exc, match=r"^calculate_gain: `param` must be a real"):
            tp.calculate_gain("leaky_relu", param)
        with pytest.raises(exc, match=r"^pytorch\.kaiming_normal: `a` must be a real"):
            tp.kaiming_normal(a=param)


@pytest.mark.parametrize("layout", ["torch", "jax"])
@pytest.mark.parametrize("name", ["kaiming_uniform", "kaiming_normal"])
def test_kaiming_gain_multiplies_torchs_std(name, layout):
    shape = (256, 128) if layout == "torch" else (128, 256)  # torch: fan_in = 128
    std = 0.5 * torch.nn.init.calculate_gain("relu") / math.sqrt(128)
    init = getattr(tp, name)(nonlinearity="relu", gain=0.5, layout=layout)
    assert init.target_std(shape) == pytest.approx(std, rel=1e-12)
    # gain=1 is the default: the same initializer, so the same bits as before the knob.
    assert getattr(tp, name)(gain=1.0, layout=layout) == getattr(tp, name)(layout=layout)


def _torch_std(name, shape, **kw):
    """The std torch's own formula gives for this weight (from its fans and gain)."""
    fan_in, fan_out = torch.nn.init._calculate_fan_in_and_fan_out(torch.empty(shape))
    if name.startswith("xavier"):
        return kw.get("gain", 1.0) * math.sqrt(2.0 / (fan_in + fan_out))
    fan = fan_in if kw.get("mode", "fan_in") == "fan_in" else fan_out
    gain = torch.nn.init.calculate_gain(kw.get("nonlinearity", "leaky_relu"), kw.get("a", 0))
    return gain / math.sqrt(fan)


CASES = [
    ("kaiming_uniform", {}),
    ("kaiming_uniform", {"a": math.sqrt(5)}),
    ("kaiming_uniform", {"mode": "fan_out", "nonlinearity": "relu"}),
    ("kaiming_normal", {"a": 0.1, "mode": "fan_out"}),
    ("kaiming_normal", {"nonlinearity": "tanh"}),
    ("xavier_uniform", {"gain": 2.0}),
    ("xavier_normal", {}),
]


@pytest.mark.parametrize("layout", ["torch", "jax"])
@pytest.mark.parametrize(("name", "kw"), CASES, ids=[f"{n}-{k}" for n, k in CASES])
@pytest.mark.parametrize("shape", [(256, 128), (64, 32, 3, 3)], ids=str)
def test_fan_scaled_std_and_bound_equal_torch_formula(name, kw, shape, layout):
    std = _torch_std(name, shape, **kw)
    init = getattr(tp, name)(**kw, layout=layout)
    ours = shape if layout == "torch" else jax_shape(shape)
    assert init.target_std(ours) == pytest.approx(std, rel=1e-12)
    w = np.asarray(init(KEY, ours), np.float64)
    assert w.shape == ours
    # n = 32768 or 18432 values: mean within 5 s/sqrt(n), std within 5/sqrt(2n) relative.
    _stats.assert_mean_std(w, 0.0, std)
    if "uniform" in name:
        assert np.abs(w).max() <= math.sqrt(3) * std * (1 + 1e-6)


def test_torch_layer_defaults():
    layer = torch.nn.Linear(300, 200)
    bound = 1 / math.sqrt(300)
    assert tp.linear_default(layout="torch").target_std((200, 300)) == pytest.approx(
        bound / math.sqrt(3), rel=1e-12
    )
    assert float(layer.weight.detach().abs().max()) <= bound
    w = tp.linear_default()(KEY, (300, 200))  # the same layer's JAX kernel (in, out)
    assert float(jnp.abs(w).max()) <= bound and float(jnp.abs(w).max()) > 0.99 * bound
    conv = torch.nn.Conv2d(16, 32, 3)
    fan_in = 16 * 9
    assert float(conv.weight.detach().abs().max()) <= 1 / math.sqrt(fan_in)
    assert tp.conv_default()(KEY, (3, 3, 16, 32)).std() == pytest.approx(
        1 / math.sqrt(3 * fan_in), rel=5 / math.sqrt(2 * 4608)
    )
    b = tp.linear_bias_default(fan_in)(KEY, (4096,))
    assert float(jnp.abs(b).max()) <= 1 / math.sqrt(fan_in)
    np.testing.assert_array_equal(tp.linear_bias_default(0)(KEY, (3,)), np.zeros(3))
    e = tp.embedding_default()(KEY, (1000, 64))
    _stats.assert_mean_std(e, 0.0, 1.0)  # n = 64000


def test_elementwise_builders_follow_torch_arguments():
    u = tp.uniform(-2.0, 3.0)(KEY, (512, 512))
    assert float(u.min()) >= -2.0 and float(u.max()) < 3.0
    _stats.assert_mean_std(u, 0.5, 5 / math.sqrt(12))
    n = tp.normal(1.0, 2.0)(KEY, (512, 512))
    _stats.assert_mean_std(n, 1.0, 2.0)
    np.testing.assert_array_equal(tp.constant(0.3)(None, (2, 2)), np.full((2, 2), 0.3, np.float32))
    np.testing.assert_array_equal(tp.ones()(None, (3,)), np.ones(3))
    np.testing.assert_array_equal(tp.zeros()(None, (3,)), np.zeros(3))


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_trunc_normal_bounds_are_absolute(dtype):
    # torch's default a=-2, b=2 with std 0.02: no truncation at all in effect.
    init = tp.trunc_normal(std=0.02)
    assert init.target_std((8,)) == pytest.approx(0.02, rel=1e-12)
    w = tp.trunc_normal(mean=1.0, std=0.5, a=0.5, b=2.0)(KEY, (512, 512), dtype)
    assert float(w.min()) >= 0.5 and float(w.max()) <= 2.0
    # Moments of N(1, 0.5^2) truncated to [0.5, 2] (scipy, independent of our code).
    from scipy import stats

    dist = stats.truncnorm(-1.0, 2.0, loc=1.0, scale=0.5)
    extra = 2.0**-8 if dtype == "bfloat16" else 0.0  # rounding to bfloat16
    _stats.assert_mean_std(w, dist.mean(), dist.std(), extra_rel=extra)


@pytest.mark.parametrize("shape", [(3, 5), (5, 3), (4, 4)])
def test_eye_equals_torch(shape):
    expected = torch.nn.init.eye_(torch.empty(shape)).numpy()
    np.testing.assert_array_equal(tp.eye(layout="torch")(None, shape), expected)
    np.testing.assert_array_equal(tp.eye()(None, shape[::-1]), expected.T)


@pytest.mark.parametrize(
    ("shape", "groups"),
    [((8, 4, 3), 1), ((8, 4, 3, 3), 2), ((6, 4, 4, 2), 3), ((4, 8, 3, 3, 3), 1), ((9, 3, 5), 3)],
    ids=str,
)
def test_dirac_equals_torch_in_both_layouts(shape, groups):
    expected = torch.nn.init.dirac_(torch.empty(shape), groups).numpy()
    np.testing.assert_array_equal(tp.dirac(groups, layout="torch")(None, shape), expected)
    np.testing.assert_array_equal(tp.dirac(groups)(None, jax_shape(shape)), to_jax(expected))
    np.testing.assert_array_equal(
        jax_inits.dirac(groups, gain=2.0)(None, jax_shape(shape)), 2 * to_jax(expected)
    )


@pytest.mark.parametrize("shape", [(16, 4, 3, 3), (8, 64), (64, 8)], ids=str)
def test_orthogonal_places_rows_as_torch(shape):
    w = np.asarray(tp.orthogonal(2.0, layout="torch")(KEY, shape), np.float64)
    m = w.reshape(shape[0], -1) / 2.0  # torch's matrix: rows = dim 0
    small = min(m.shape)
    gram = m @ m.T if m.shape[0] == small else m.T @ m
    np.testing.assert_allclose(gram, np.eye(small), atol=1e-5)
    wj = np.asarray(tp.orthogonal(layout="jax")(KEY, jax_shape(shape)), np.float64)
    mj = to_torch(wj).reshape(shape[0], -1)
    gram = mj @ mj.T if mj.shape[0] == small else mj.T @ mj
    np.testing.assert_allclose(gram, np.eye(small), atol=1e-5)


def to_torch(kernel):
    """A JAX kernel (*k, in, out) rearranged to torch's (out, in, *k)."""
    rank = kernel.ndim
    return np.transpose(kernel, (rank - 1, rank - 2, *range(rank - 2)))


@pytest.mark.parametrize("layout", ["torch", "jax"])
def test_sparse_zero_count_per_input_unit_as_torch(layout):
    out_features, in_features, sparsity = 40, 30, 0.3
    reference = torch.nn.init.sparse_(torch.empty(out_features, in_features), sparsity)
    torch_zeros = (reference == 0).sum(dim=0).numpy()  # per column = per input unit
    shape = (out_features, in_features) if layout == "torch" else (in_features, out_features)
    w = np.asarray(tp.sparse(sparsity, std=0.5, layout=layout)(KEY, shape))
    zeros = (w == 0).sum(axis=0 if layout == "torch" else 1)
    np.testing.assert_array_equal(zeros, torch_zeros)  # ceil(0.3 * 40) = 12 everywhere
    nonzero = w[w != 0]
    _stats.assert_mean_std(nonzero, 0.0, 0.5)  # n = 30 * 28 = 840


@pytest.mark.parametrize(
    ("call", "exc", "message"),
    [
        (
            lambda: tp.kaiming_uniform(mode="fan_avg"),
            ValueError,
            r"pytorch.kaiming_uniform: `mode` must be one of \('fan_in', 'fan_out'\)",
        ),
        (
            lambda: tp.kaiming_normal(nonlinearity="swishy"),
            ValueError,
            r"pytorch.kaiming_normal: `nonlinearity` must be one of .*got 'swishy'",
        ),
        (
            lambda: tp.kaiming_normal(a="x"),
            TypeError,
            r"pytorch.kaiming_normal: `a` must be a real number, got 'x'",
        ),
        (
            lambda: tp.kaiming_uniform()(KEY, (5,)),
            ValueError,
            r"pytorch.kaiming_uniform: Fan in and fan out can not be computed for tensor with "
            r"fewer than 2 dimensions, got shape \(5,\)",
        ),
        (lambda: tp.xavier_normal()(KEY, (5,)), ValueError, r"fewer than 2 dimensions"),
        (
            lambda: tp.kaiming_uniform(gain=-1.0),
            ValueError,
            r"^pytorch\.kaiming_uniform: `gain` must be >= 0, got -1\.0\.$",
        ),
        (
            lambda: tp.kaiming_normal(gain="2"),
            TypeError,
            r"^pytorch\.kaiming_normal: `gain` must be a real number, got '2'\.$",
        ),
        (
            lambda: tp.xavier_uniform(a=-1.0),
            ValueError,
            r"^pytorch\.xavier_uniform: `a` must be >= 0, got -1\.0\.$",
        ),
        (
            lambda: tp.xavier_normal(scale=math.nan),
            ValueError,
            r"^pytorch\.xavier_normal: `scale` must be finite, got nan\.$",
        ),
        (
            lambda: tp.kaiming_normal(layout="tl"),
            ValueError,
            r"^pytorch\.kaiming_normal: `layout` must be one of \('jax', 'torch', "
            r"'transformer_lens'\), got 'tl'\.$",
        ),
        (
            lambda: tp.eye(layout="transformer_lens"),
            ValueError,
            r"^pytorch\.eye: `layout` must be one of \('jax', 'torch'\), got 'transformer_lens'",
        ),
        (lambda: tp.uniform(1.0, 1.0), ValueError, r"pytorch.uniform: `a` must be < `b`"),
        (
            lambda: tp.trunc_normal(a=2.0, b=-2.0),
            ValueError,
            r"pytorch.trunc_normal: `a` must be < `b`",
        ),
        (lambda: tp.trunc_normal(std=0.0), ValueError, r"pytorch.trunc_normal: `std` must be > 0"),
        (
            lambda: tp.eye()(None, (2, 3, 3)),
            ValueError,
            r"pytorch.eye: needs a shape of rank 2 .*got shape \(2, 3, 3\)",
        ),
        (
            lambda: tp.dirac(3, layout="torch")(None, (8, 4, 3, 3)),
            ValueError,
            r"pytorch.dirac: dim 0 is not divisible by groups: 8 out-channels",
        ),
        (
            lambda: tp.dirac(3)(None, (3, 3, 4, 8)),
            ValueError,
            r"pytorch.dirac: the out-channel axis \(-1\) is not divisible by groups",
        ),
        (
            lambda: tp.dirac()(None, (4, 4)),
            ValueError,
            r"pytorch.dirac: needs a convolution kernel of rank 3, 4 or 5",
        ),
        (lambda: tp.dirac(0), ValueError, r"pytorch.dirac: `groups` must be > 0, got 0"),
        (lambda: tp.sparse(1.5), ValueError, r"pytorch.sparse: `sparsity` must be <= 1, got 1.5"),
        (
            lambda: tp.sparse(0.1)(KEY, (4, 4, 4)),
            ValueError,
            r"pytorch.sparse: needs a matrix .*got shape \(4, 4, 4\)",
        ),
        (
            lambda: tp.orthogonal(layout="keras"),
            ValueError,
            r"pytorch.orthogonal: `layout` must be one of \('jax', 'torch'\), got 'keras'",
        ),
        (
            lambda: tp.linear_bias_default(-1),
            ValueError,
            r"pytorch.linear_bias_default: `fan_in` must be >= 0, got -1",
        ),
    ],
)
def test_errors(call, exc, message):
    with pytest.raises(exc, match=message):
        call()


def test_reprs_and_configs_name_the_torch_builder():
    init = tp.kaiming_uniform(math.sqrt(5), layout="torch")
    assert re.fullmatch(r"pytorch\.kaiming_uniform\(a=2\.236\d+, layout='torch'\)", repr(init))
    assert init == tp.linear_default(layout="torch")  # the same distribution
    assert jax_inits.from_config(tp.linear_default().config) == tp.linear_default()
