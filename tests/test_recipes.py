"""jax_inits.recipes: formulas from the papers, statistics, exact structure, errors.

Expected standard deviations are computed here from the papers' formulas, not
from the library. Statistical checks draw one (512, 512) array per builder and
dtype (n = 262144, seed 2024) and allow 5 standard errors (``tests/_stats.py``:
5 / sqrt(2n) = 0.69% relative for the std), plus 2^-8 relative for bfloat16
rounding.
"""

import json
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.linalg
import scipy.stats
from _stats import assert_mean_std

import jax_inits
from jax_inits import recipes

KEY = jax.random.key(2024)
SHAPE = (512, 512)  # n = 262144 values per statistical check
BF16_REL = 2.0**-8  # bfloat16 keeps 8 significant bits
DISTRIBUTIONS = ["normal", "truncated_normal", "uniform"]


# --- exact std formulas ---------------------------------------------------------------


def _xavier(fan_in, fan_out):
    return math.sqrt(2.0 / (fan_in + fan_out))


def _truncnorm_std(c):
    return scipy.stats.truncnorm(-c, c).std()


STD_CASES = [
    # (initializer, shape, std from the paper's formula)
    *[(recipes.small_init(640, d), (64, 64), math.sqrt(2 / (5 * 640))) for d in DISTRIBUTIONS],
    *[(recipes.wang_init(400, 8, d), (64, 64), 2 / 8 / 20) for d in DISTRIBUTIONS],
    (recipes.common_init("small", 640), (8, 8), math.sqrt(2 / 3200)),
    (recipes.common_init("wang", 400, 8, "uniform"), (8, 8), 2 / 8 / 20),
    (recipes.common_init("wang2", 400, 8), (8, 8), 2 / 16 / 20),
    (recipes.common_init("zeros", 400), (8, 8), 0.0),
    (recipes.uniform_init(-1.0, 3.0), (8, 8), 4 / math.sqrt(12)),
    (recipes.scaled_residual(24), (8, 8), 0.02 / math.sqrt(48)),
    (recipes.scaled_residual(2, std=0.5, distribution="uniform"), (8, 8), 0.25),
    (recipes.mitchell(), (256, 64), _truncnorm_std(3) / 16),
    (recipes.mitchell(layer_id=3), (256, 64), _truncnorm_std(3) / math.sqrt(2 * 256 * 4)),
    (recipes.mitchell(0, 2.0, in_axis=0, out_axis=1), (256, 9), _truncnorm_std(2) / 16 / 2**0.5),
    (recipes.mitchell(layer_id=1, batch_axis=0), (5, 100, 7), _truncnorm_std(3) / 20),
    (recipes.deepnet("encoder", encoder_layers=4), (96, 32), 32**-0.25 * _xavier(96, 32)),
    (recipes.deepnet("decoder", decoder_layers=50), (3, 3, 8, 8), 400**-0.25 * _xavier(72, 72)),
    (
        recipes.deepnet("encoder_decoder", encoder_layers=6, decoder_layers=18, part="encoder"),
        (64, 64),
        0.87 * (6**4 * 18) ** (-1 / 16) * _xavier(64, 64),
    ),
    (
        recipes.deepnet("encoder_decoder", encoder_layers=6, decoder_layers=18, part="decoder"),
        (64, 64),
        (12 * 18) ** -0.25 * _xavier(64, 64),
    ),
    (recipes.fixup(16, 2), (128, 64), math.sqrt(2 / 128) / 4),  # L^(-1/2)
    (recipes.fixup(81, 3), (3, 3, 16, 8), math.sqrt(2 / 144) / 3),  # L^(-1/4)
    (recipes.t_fixup(16), (96, 32), 0.67 / 2 * _xavier(96, 32)),
    (recipes.t_fixup(9, "decoder"), (96, 32), _xavier(96, 32) / 3),
    (recipes.t_fixup_embedding(256), (1000, 256), 1 / 16),
    (recipes.t_fixup_embedding(256, num_decoder_layers=144), (1000, 256), 1 / 16 / 6),
    (recipes.block_orthogonal(), (3, 3, 4, 8), 1 / math.sqrt(9 * 8)),
    (recipes.block_orthogonal(-2.0), (5, 4, 6), 2 / math.sqrt(5 * 6)),
]


@pytest.mark.parametrize("init,shape,std", STD_CASES, ids=[repr(c[0]) for c in STD_CASES])
def test_target_std_is_the_papers_formula(init, shape, std):
    assert init.target_std(shape) == pytest.approx(std, rel=1e-12, abs=1e-300)


def test_deepnorm_constants_match_the_papers_table():
    a, b = recipes.deepnorm_alpha, recipes.deepnorm_beta
    assert a("encoder", encoder_layers=8) == pytest.approx(16**0.25)
    assert b("encoder", encoder_layers=8) == pytest.approx(64**-0.25)
    assert a("decoder", decoder_layers=2048, part="decoder") == pytest.approx(8.0)
    assert b("decoder", decoder_layers=32) == pytest.approx(256**-0.25)
    n, m = 12, 24
    kw = {"encoder_layers": n, "decoder_layers": m}
    assert a("encoder_decoder", **kw, part="encoder") == pytest.approx(0.81 * (n**4 * m) ** 0.0625)
    assert b("encoder_decoder", **kw, part="encoder") == pytest.approx(0.87 * (n**4 * m) ** -0.0625)
    assert a("encoder_decoder", **kw, part="decoder") == pytest.approx((3 * m) ** 0.25)
    assert b("encoder_decoder", **kw, part="decoder") == pytest.approx((12 * m) ** -0.25)


# --- statistics -------------------------------------------------------------------------

STAT_CASES = {
    "small_init-normal": recipes.small_init(512),
    "small_init-truncated": recipes.small_init(512, "truncated_normal"),
    "small_init-uniform": recipes.small_init(512, "uniform"),
    "wang_init": recipes.wang_init(512, 6, "truncated_normal"),
    "common_init-wang2": recipes.common_init("wang2", 512, 6, "uniform"),
    "uniform_init": recipes.uniform_init(-0.25, 0.75),
    "scaled_residual": recipes.scaled_residual(12, 0.05),
    "mitchell": recipes.mitchell(),
    "mitchell-layer": recipes.mitchell(layer_id=5, cutoff_factor=1.5),
    "deepnet": recipes.deepnet("decoder", decoder_layers=32),
    "fixup": recipes.fixup(10, 3),
    "t_fixup": recipes.t_fixup(6, "decoder"),
    "t_fixup_embedding": recipes.t_fixup_embedding(512, 4),
}


def _mean(init):
    return 0.25 if init == recipes.uniform_init(-0.25, 0.75) else 0.0


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
@pytest.mark.parametrize("name", sorted(STAT_CASES))
def test_mean_and_std_of_a_sample(name, dtype):
    init = STAT_CASES[name]
    w = init(KEY, SHAPE, dtype)
    assert w.dtype == jnp.dtype(dtype) and w.shape == SHAPE
    extra = BF16_REL if dtype == "bfloat16" else 0.0
    assert_mean_std(w, _mean(init), init.target_std(SHAPE), extra_rel=extra)


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_mitchell_truncates_at_cutoff_times_the_std_before_truncation(dtype):
    # cutoff 1: the result std is 0.54 sigma, far from sigma; values fill (-sigma, sigma).
    init = recipes.mitchell(layer_id=0, cutoff_factor=1.0)
    sigma = 1 / math.sqrt(2 * 512)
    w = np.abs(np.asarray(init(KEY, SHAPE, dtype), np.float64))
    assert w.max() <= sigma and w.max() >= 0.99 * sigma
    extra = BF16_REL if dtype == "bfloat16" else 0.0
    assert_mean_std(init(KEY, SHAPE, dtype), 0.0, _truncnorm_std(1.0) * sigma, extra_rel=extra)


@pytest.mark.parametrize("dtype", ["float32", "bfloat16", "float16"])
def test_bounds_are_never_crossed(dtype):
    cases = [  # (initializer, largest |value| allowed)
        (recipes.mitchell(cutoff_factor=3.0), 3 / math.sqrt(512)),
        (recipes.mitchell(layer_id=2, cutoff_factor=0.5), 0.5 / math.sqrt(2 * 512 * 3)),
        (recipes.small_init(512, "uniform"), math.sqrt(3 * 2 / (5 * 512))),
        (recipes.small_init(512, "truncated_normal"), 2 * math.sqrt(2 / 2560) / 0.8796256610342398),
        (recipes.t_fixup(4), 0.67 / math.sqrt(2) * math.sqrt(6 / 1024)),
        (recipes.uniform_init(-0.5, 0.5), 0.5),
    ]
    for init, bound in cases:
        w = np.abs(np.asarray(init(KEY, SHAPE, dtype), np.float64))
        assert w.max() <= bound, (init, w.max(), bound)
        assert w.max() >= 0.99 * bound, (init, w.max(), bound)  # the bound is where we say


def test_normal_recipes_are_not_truncated():
    # P(|z| > 3) = 0.27%: about 700 of 262144 values lie beyond 3 std when untruncated.
    for init in [recipes.deepnet("encoder", encoder_layers=3), recipes.fixup(4, 2)]:
        w = np.asarray(init(KEY, SHAPE))
        assert (np.abs(w) > 3 * init.target_std(SHAPE)).sum() > 500, init


# --- ZerO -------------------------------------------------------------------------------


def _zero_reference(n_in, n_out):
    """The paper's P x Q matrix (P = out, Q = in) from scipy's Hadamard, transposed."""
    p, q = n_out, n_in
    if p <= q:
        w = np.eye(p, q)
    else:
        m = math.ceil(math.log2(p))
        w = 2.0 ** (-(m - 1) / 2) * scipy.linalg.hadamard(2**m)[:p, :q]
    return w.T


@pytest.mark.parametrize(
    "n_in,n_out", [(4, 4), (8, 3), (1, 1), (1, 7), (3, 5), (6, 8), (5, 9), (16, 33), (40, 130)]
)
def test_zero_init_is_identity_or_a_hadamard_block(n_in, n_out):
    init = recipes.zero_init()
    w = init(None, (n_in, n_out))
    np.testing.assert_allclose(np.asarray(w), _zero_reference(n_in, n_out), rtol=1e-7)
    np.testing.assert_array_equal(w, init(jax.random.key(5), (n_in, n_out)))  # key ignored
    np.testing.assert_array_equal(
        init(None, (n_in, n_out), jnp.bfloat16),
        jnp.asarray(_zero_reference(n_in, n_out), jnp.float32).astype(jnp.bfloat16),
    )
    assert init.target_std((n_in, n_out)) == pytest.approx(
        np.std(_zero_reference(n_in, n_out)), rel=1e-12, abs=1e-15
    )


@pytest.mark.parametrize("shape", [(3, 4, 6), (2, 5, 3), (3, 3, 6, 4), (1, 3, 5, 2, 9)])
def test_zero_init_conv_kernel_has_the_matrix_at_the_centre_tap_only(shape):
    w = np.array(recipes.zero_init()(None, shape))
    centre = tuple((k - 1) // 2 for k in shape[:-2])
    np.testing.assert_allclose(w[centre], _zero_reference(*shape[-2:]), rtol=1e-7)
    w[centre] = 0
    assert not w.any()
    full = np.zeros(shape)
    full[centre] = _zero_reference(*shape[-2:])
    assert recipes.zero_init().target_std(shape) == pytest.approx(np.std(full), rel=1e-12)


# --- block-orthogonal convolution ------------------------------------------------------


def _circular_conv_matrix(kernel, n):
    """Dense matrix O of y = conv(x, kernel) on an n^d circular grid: y.ravel() = x.ravel() @ O.

    JAX's convolution is y[p] = sum_t x[p + t] @ kernel[t] (indices mod n here).
    """
    kernel = np.asarray(kernel, np.float64)
    spatial, n_in, n_out = kernel.shape[:-2], kernel.shape[-2], kernel.shape[-1]
    grid = [n] * len(spatial)
    o = np.zeros((*grid, n_in, *grid, n_out))
    for p in np.ndindex(*grid):
        for t in np.ndindex(*spatial):
            q = tuple((pi + ti) % n for pi, ti in zip(p, t, strict=True))
            o[(*q, slice(None), *p, slice(None))] += kernel[t]
    size = n ** len(spatial)
    return o.reshape(size * n_in, size * n_out)


def _circular_conv(x, kernel):
    """The same convolution with jax: wrap-pad the input, then a VALID convolution."""
    spatial = kernel.shape[:-2]
    pad = [(0, 0)] + [(0, k - 1) for k in spatial] + [(0, 0)]
    x = jnp.pad(x, pad, mode="wrap")
    d = len(spatial)
    dims = jax.lax.conv_dimension_numbers(
        x.shape, kernel.shape, ("N" + "HWD"[:d] + "C", "HWD"[:d] + "IO", "N" + "HWD"[:d] + "C")
    )
    return jax.lax.conv_general_dilated(
        x, kernel, (1,) * d, "VALID", dimension_numbers=dims, precision="highest"
    )


@pytest.mark.parametrize(
    "shape,n",
    [((3, 3, 4), 5), ((4, 2, 2), 4), ((2, 5, 5), 3), ((3, 3, 2, 4), 4), ((2, 3, 3, 3), 3)],
)
def test_block_orthogonal_is_an_isometric_circular_convolution(shape, n):
    scale = 1.5
    kernel = recipes.block_orthogonal(scale)(KEY, shape)
    o = _circular_conv_matrix(kernel, n)
    # ||x O|| = scale ||x|| for every x  <=>  O O^T = scale^2 I
    np.testing.assert_allclose(o @ o.T, scale**2 * np.eye(o.shape[0]), atol=2e-5)
    # O is the convolution as jax computes it (orientation of taps and matrices).
    x = jax.random.normal(jax.random.key(1), (2, *([n] * (len(shape) - 2)), shape[-2]))
    y = _circular_conv(x, kernel)
    np.testing.assert_allclose(
        np.asarray(y).reshape(2, -1), np.asarray(x).reshape(2, -1) @ o, rtol=1e-4, atol=1e-5
    )
    # Not a delta kernel: every tap carries weight.
    taps = np.asarray(kernel).reshape(-1, shape[-2] * shape[-1])
    assert (np.linalg.norm(taps, axis=1) > 1e-3).all()


def test_block_orthogonal_taps_sum_to_identity_and_bfloat16_rounds_float32():
    init = recipes.block_orthogonal()
    shape = (3, 3, 16, 32)
    k = np.asarray(init(KEY, shape), np.float64).reshape(9, 16, 32)
    np.testing.assert_allclose(np.einsum("tio,tjo->ij", k, k), np.eye(16), atol=1e-5)
    np.testing.assert_array_equal(
        init(KEY, shape, jnp.bfloat16), init(KEY, shape).astype(jnp.bfloat16)
    )


# --- configs and lookup by name ---------------------------------------------------------

CONFIG_CASES = [
    recipes.small_init(512, "truncated_normal"),
    recipes.wang_init(dim=256, num_blocks=24, distribution="uniform"),
    recipes.common_init("wang", 128, 4, "truncated_normal"),
    recipes.common_init("zeros", 128),
    recipes.uniform_init(-0.1, np.float32(0.25)),
    recipes.scaled_residual(12, std=0.01),
    recipes.mitchell(layer_id=3, cutoff_factor=2.5, in_axis=(0, 1), out_axis=2),
    recipes.deepnet("encoder_decoder", encoder_layers=6, decoder_layers=12, part="decoder"),
    recipes.deepnet("encoder", encoder_layers=6, batch_axis=0, dtype=jnp.bfloat16),
    recipes.fixup(8, 3, in_axis=0, out_axis=1),
    recipes.t_fixup(6, "decoder"),
    recipes.t_fixup_embedding(512, num_decoder_layers=6),
    recipes.zero_init(),
    recipes.block_orthogonal(0.5),
]


@pytest.mark.parametrize("init", CONFIG_CASES, ids=repr)
def test_config_round_trips_through_json(init):
    again = jax_inits.from_config(json.loads(json.dumps(init.config, allow_nan=False)))
    assert again == init and repr(again) == repr(init)
    assert init.config["name"].startswith("recipes.")
    shape = (3, 4, 6) if isinstance(init, type(recipes.block_orthogonal())) else (4, 6, 8)
    np.testing.assert_array_equal(again(KEY, shape), init(KEY, shape))


def test_get_builds_recipes_by_name():
    init = jax_inits.get("recipes.small_init", 512)
    assert init == recipes.small_init(512) and repr(init) == "recipes.small_init(512)"
    assert init.config == {"name": "recipes.small_init", "args": {"dim": 512}}
    assert jax_inits.get("recipes.deepnet", "decoder", decoder_layers=4) == recipes.deepnet(
        "decoder", decoder_layers=4
    )
    for name in recipes.__all__:  # not the helpers and not the Literal types
        if not name.startswith(("deepnorm_", "Init")):
            assert f"recipes.{name}" in jax_inits.registered()
    with pytest.raises(ValueError, match=r"unknown initializer 'recipes.smal_init'.*small_init"):
        jax_inits.get("recipes.smal_init", 512)


def test_recipes_equal_to_generic_initializers_with_the_same_values():
    # std means the std of the result: small_init(d) is N(0, 2/(5d)).
    assert recipes.small_init(160) == jax_inits.normal(0.05)
    np.testing.assert_array_equal(
        recipes.small_init(160)(KEY, (8, 8)), jax_inits.normal(0.05)(KEY, (8, 8))
    )
    assert recipes.fixup(16, 2) == jax_inits.variance_scaling(2 / 16, "fan_in", "normal")
    t_fixup = recipes.t_fixup(81, "decoder")  # gain (9 * 81) ** -0.25 = 1 / sqrt(27)
    assert (t_fixup.mode, t_fixup.distribution) == ("fan_avg", "uniform")
    assert t_fixup.scale == pytest.approx(1 / 27, rel=1e-14)


# --- errors ----------------------------------------------------------------------------

ERRORS = [
    (
        lambda: recipes.small_init(-3),
        ValueError,
        r"^recipes\.small_init: `dim` must be > 0, got -3\.$",
    ),
    (
        lambda: recipes.small_init(64, "gaussian"),
        ValueError,
        r"^recipes\.small_init: `distribution` must be one of \('normal', 'truncated_normal', "
        r"'uniform'\), got 'gaussian'\.$",
    ),
    (
        lambda: recipes.wang_init(64, 2.0),
        TypeError,
        r"^recipes\.wang_init: `num_blocks` must be an integer, got 2\.0\.$",
    ),
    (
        lambda: recipes.common_init("wang2", 64),
        ValueError,
        r"^recipes\.common_init: `num_blocks` must be given for fn_name='wang2', got None\.$",
    ),
    (
        lambda: recipes.common_init("big", 64),
        ValueError,
        r"^recipes\.common_init: `fn_name` must be one of \('small', 'wang', 'wang2', 'zeros'\), "
        r"got 'big'\.$",
    ),
    (
        lambda: recipes.common_init("zeros", 64, distribution="cauchy"),
        ValueError,
        r"^recipes\.common_init: `distribution` must be one of .*got 'cauchy'\.$",
    ),
    (
        lambda: recipes.uniform_init(1.0, 1.0),
        ValueError,
        r"^recipes\.uniform_init: `min_val` must be < `max_val`, got min_val=1\.0, max_val=1\.0\.$",
    ),
    (
        lambda: recipes.scaled_residual(12, std=-0.02),
        ValueError,
        r"^recipes\.scaled_residual: `std` must be >= 0, got -0\.02\.$",
    ),
    (
        lambda: recipes.mitchell(layer_id=-1),
        ValueError,
        r"^recipes\.mitchell: `layer_id` must be >= 0, got -1\.$",
    ),
    (
        lambda: recipes.mitchell(cutoff_factor=0.0),
        ValueError,
        r"^recipes\.mitchell: `cutoff_factor` must be > 0, got 0\.0\.$",
    ),
    (
        lambda: recipes.mitchell(in_axis=0, out_axis=0),
        ValueError,
        r"^recipes\.mitchell: `in_axis` and `out_axis` both name axis 0",
    ),
    (
        lambda: recipes.mitchell()(KEY, (4, 4), jnp.complex64),
        TypeError,
        r"^recipes\.mitchell: `dtype` must be a floating dtype, got complex64",
    ),
    (
        lambda: recipes.mitchell()(KEY, (4,)),
        ValueError,
        r"^recipes\.mitchell: shape \(4,\) of rank 1 has no axis -2",
    ),
    (
        lambda: recipes.deepnorm_alpha("encoder"),
        ValueError,
        r"^recipes\.deepnorm_alpha: `encoder_layers` must be given for "
        r"architecture='encoder', got None\.$",
    ),
    (
        lambda: recipes.deepnorm_beta("encoder", encoder_layers=4, decoder_layers=3),
        ValueError,
        r"^recipes\.deepnorm_beta: `decoder_layers` must be None for architecture='encoder', "
        r"got 3\.$",
    ),
    (
        lambda: recipes.deepnorm_beta("decoder", decoder_layers=0),
        ValueError,
        r"^recipes\.deepnorm_beta: `decoder_layers` must be > 0, got 0\.$",
    ),
    (
        lambda: recipes.deepnorm_alpha("bert", encoder_layers=4),
        ValueError,
        r"^recipes\.deepnorm_alpha: `architecture` must be one of \('encoder', 'decoder', "
        r"'encoder_decoder'\), got 'bert'\.$",
    ),
    (
        lambda: recipes.deepnet("encoder_decoder", encoder_layers=4, decoder_layers=4),
        ValueError,
        r"^recipes\.deepnet: `part` must be 'encoder' or 'decoder' for "
        r"architecture='encoder_decoder', got None\.$",
    ),
    (
        lambda: recipes.deepnet("decoder", decoder_layers=4, part="encoder"),
        ValueError,
        r"^recipes\.deepnet: `part` must be None or 'decoder' for architecture='decoder', "
        r"got 'encoder'\.$",
    ),
    (
        lambda: recipes.fixup(4, 1),
        ValueError,
        r"^recipes\.fixup: `branch_depth` must be >= 2, got 1\.$",
    ),
    (
        lambda: recipes.t_fixup(6, "middle"),
        ValueError,
        r"^recipes\.t_fixup: `part` must be one of \('encoder', 'decoder'\), got 'middle'\.$",
    ),
    (
        lambda: recipes.t_fixup_embedding(512, num_decoder_layers=0),
        ValueError,
        r"^recipes\.t_fixup_embedding: `num_decoder_layers` must be > 0, got 0\.$",
    ),
    (
        lambda: recipes.zero_init()(None, (4,)),
        ValueError,
        r"^recipes\.zero_init: needs a shape of rank >= 2 .*got shape \(4,\)\.$",
    ),
    (
        lambda: recipes.zero_init()(None, (4, 4), jnp.int32),
        TypeError,
        r"^recipes\.zero_init: `dtype` must be a floating or complex dtype, got int32\.$",
    ),
    (
        lambda: recipes.block_orthogonal()(KEY, (4, 4)),
        ValueError,
        r"^recipes\.block_orthogonal: needs a convolution kernel of rank 3, 4 or 5 "
        r"\(spatial axes, then in, out\), got shape \(4, 4\)\.$",
    ),
    (
        lambda: recipes.block_orthogonal()(KEY, (3, 3, 8, 4)),
        ValueError,
        r"^recipes\.block_orthogonal: needs in <= out \(shape\[-2\] <= shape\[-1\]\) for an "
        r"isometric convolution, got shape \(3, 3, 8, 4\)\.$",
    ),
    (
        lambda: recipes.block_orthogonal()(KEY, (3, 4, 4), jnp.complex64),
        TypeError,
        r"^recipes\.block_orthogonal: `dtype` must be a floating dtype, got complex64",
    ),
    (
        lambda: recipes.block_orthogonal(math.inf),
        ValueError,
        r"^recipes\.block_orthogonal: `scale` must be finite, got inf\.$",
    ),
    (
        lambda: recipes.small_init(64)(KEY, (4, -1)),
        ValueError,
        r"^recipes\.small_init: `shape` must hold non-negative sizes, got \(4, -1\)\.$",
    ),
]


@pytest.mark.parametrize("call,exc,message", ERRORS, ids=[e[2][:60] for e in ERRORS])
def test_error_messages(call, exc, message):
    with pytest.raises(exc, match=message):
        call()
