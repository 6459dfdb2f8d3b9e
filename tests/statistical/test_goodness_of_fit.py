"""Goodness of fit of every random builder against its exact target distribution.

Method. For each builder x dtype we draw n values with a fixed key and run a
chi-square test on 64 bins that are equiprobable under the target. Each bin edge
is moved to the midpoint between two neighbouring values of the output dtype, so
that every representable value falls wholly inside one bin: the expected counts
are then exactly those of the target distribution *rounded to the dtype*, which
is what a correct bfloat16/float16 sampler produces. float32/float64 also get a
Kolmogorov-Smirnov test. Complex builders are tested on |w|^2 and on the phase.

Sizes, seeds, tolerances and power.
* Fast tier (always): every builder in one of the four dtypes (rotating, so
  every dtype runs; ``_by_dtype``), n = 65,536 (2^16), key 20261123. A test fails when its
  p-value is below 1e-4. With 64 bins a 3% error in the scale (e.g. a missing
  truncation correction, 12%, or jax's 1.87% complex error on |w|^2 by KS)
  is found with power ~0.99; 1% errors are left to the moment tests.
* Slow tier (``-m slow``, run by CI as its own step): the other dtypes at n = 2^16,
  and every builder and dtype at n = 4,194,304 (2^22) and 256 bins; it finds a
  0.4% scale error with power ~0.99.
Orthogonal entries within one matrix are weakly dependent (each row has unit
norm); the chi-square is then approximate, which the 1e-4 threshold absorbs.
"""

import math

import jax
import jax.numpy as jnp
import ml_dtypes  # noqa: F401 - registers bfloat16 with numpy
import numpy as np
import pytest
import scipy.stats as st

import jax_inits as ji
from jax_inits._src import _jax_compat as compat
from jax_inits._src.dtypes import inner_bounds

KEY = jax.random.key(20261123)
ALPHA = 1e-4
FAST, SLOW = (2**16, 64), (2**22, 256)
REAL_DTYPES = ["float32", "float64", "bfloat16", "float16"]


def snapped_edges(dist, dtype, bins):
    """Equiprobable edges of ``dist``, each moved to a midpoint of ``dtype`` values."""
    edges = dist.ppf(np.linspace(0, 1, bins + 1)[1:-1])
    v = np.array(edges, dtype)
    vf = v.astype(np.float64)
    up = np.nextafter(v, np.array(np.inf, dtype)).astype(np.float64)
    down = np.nextafter(v, np.array(-np.inf, dtype)).astype(np.float64)
    mids = np.where(vf >= edges, (down + vf) / 2, (vf + up) / 2)
    return np.unique(mids[np.isfinite(mids)])


def chi_square_p(sample, dist, dtype, bins, bin_dist=None, inner=None):
    """Chi-square p of ``sample`` against ``dist`` on bins equiprobable under
    ``bin_dist`` (default ``dist``), snapped to ``dtype``.

    ``inner``: the least and greatest values the initializer returns in ``dtype``
    (its bounds kept after rounding: a value that would round onto an open bound
    is the nearest value inside). Bin edges between a bound and its inner value
    are dropped, so the bin holding the inner value also holds the mass rounding
    onto the bound."""
    edges = snapped_edges(dist if bin_dist is None else bin_dist, dtype, bins)
    if inner is not None:
        edges = edges[(edges > inner[0]) & (edges < inner[1])]
    cdf = np.concatenate([[0.0], dist.cdf(edges), [1.0]])
    expected = np.diff(cdf) * sample.size
    observed = np.bincount(np.searchsorted(edges, sample), minlength=edges.size + 1)
    keep = expected > 0
    stat = np.sum((observed[keep] - expected[keep]) ** 2 / expected[keep])
    assert observed[~keep].sum() == 0  # nothing where the target has no mass
    return st.chi2.sf(stat, keep.sum() - 1)


def _draw(init, n, dtype):
    with compat.enable_x64(dtype in ("float64", "complex128")):
        return (
            np.asarray(init(KEY, (n // 256, 256), dtype))
            .astype(np.complex128 if "complex" in dtype else np.float64)
            .ravel()
        )


S = math.sqrt(1.7 / 256)  # variance_scaling(1.7, "fan_in", ...) on (n/256, 256)
TN = 0.87962566103423978
CASES = {
    "normal": (ji.normal(0.3, mean=0.1), st.norm(0.1, 0.3)),
    "uniform": (ji.uniform(2.0), st.uniform(0.0, 2.0)),
    "uniform_range": (ji.uniform_range(-1.0, 3.0), st.uniform(-1.0, 4.0)),
    "truncated_normal": (
        ji.truncated_normal(0.5, None, -1.0, 3.0, mean=0.2),
        st.truncnorm(-1.0, 3.0, loc=0.2, scale=0.5),
    ),
    "truncated_normal_far_tail": (ji.truncated_normal(1.0, None, 5.0, 6.0), st.truncnorm(5.0, 6.0)),
    "truncated_normal_one_sided": (
        ji.truncated_normal(2.0, None, -math.inf, -3.0),
        st.truncnorm(-math.inf, -3.0, scale=2.0),
    ),
    "variance_scaling_normal": (
        ji.variance_scaling(1.7, "fan_in", "normal", in_axis=-1, out_axis=-2),
        st.norm(0, S),
    ),
    "variance_scaling_uniform": (
        ji.variance_scaling(1.7, "fan_in", "uniform", in_axis=-1, out_axis=-2),
        st.uniform(-math.sqrt(3) * S, 2 * math.sqrt(3) * S),
    ),
    "variance_scaling_truncated_normal": (
        ji.variance_scaling(1.7, "fan_in", "truncated_normal", in_axis=-1, out_axis=-2),
        st.truncnorm(-2, 2, scale=S / TN),
    ),
    "he_normal": (
        ji.he_normal(in_axis=-1, out_axis=-2),
        st.truncnorm(-2, 2, scale=math.sqrt(2 / 256) / TN),
    ),
    "explicit_fan_in_uniform": (
        ji.variance_scaling(1.0, "fan_in", "uniform", fan_in=100.0),
        st.uniform(-math.sqrt(3 / 100), 2 * math.sqrt(3 / 100)),
    ),
    # torch semantics; samples (n/256, 256) read as torch (out, in): fan_in = 256.
    "pytorch.trunc_normal": (
        ji.pytorch.trunc_normal(0.1, 0.5, -0.3, 1.2),
        st.truncnorm(-0.8, 2.2, loc=0.1, scale=0.5),
    ),
    "pytorch.linear_default": (
        ji.pytorch.linear_default(layout="torch"),
        st.uniform(-1 / 16, 2 / 16),
    ),
    "pytorch.kaiming_normal": (
        ji.pytorch.kaiming_normal(nonlinearity="relu", layout="torch"),
        st.norm(0, math.sqrt(2 / 256)),
    ),
    # Recipes: std is the std of the result whatever the distribution.
    "recipes.small_init": (ji.recipes.small_init(1000), st.norm(0, math.sqrt(2 / 5000))),
    "recipes.small_init_truncated": (
        ji.recipes.small_init(1000, "truncated_normal"),
        st.truncnorm(-2, 2, scale=math.sqrt(2 / 5000) / TN),
    ),
    "recipes.wang_init_uniform": (
        ji.recipes.wang_init(1000, 4, "uniform"),
        st.uniform(-math.sqrt(3) * 0.5 / math.sqrt(1000), 2 * math.sqrt(3) * 0.5 / math.sqrt(1000)),
    ),
    "recipes.mitchell": (  # OLMo: std 1/sqrt(fan_in) before truncation at 3 std
        ji.recipes.mitchell(in_axis=-1, out_axis=-2),
        st.truncnorm(-3, 3, scale=1 / 16),
    ),
    "stacked": (ji.stacked(ji.normal(0.3)), st.norm(0, 0.3)),
    # grouped: every block has the inner distribution (blocks cut along axis -1).
    "grouped": (ji.grouped(ji.uniform_range(-0.25, 0.25), 2), st.uniform(-0.25, 0.5)),
}


def _tiers():
    return [pytest.param(*FAST, id="fast"), pytest.param(*SLOW, id="slow", marks=pytest.mark.slow)]


def _by_dtype(names):
    """``(name, dtype)`` for every pair: in `make test` each name in ONE dtype, the
    dtype rotating with the name's position (so every dtype runs there, and each
    builder once); the other dtypes in `make test-slow`, at both sample sizes."""
    names = sorted(names)
    return [
        pytest.param(
            name,
            dtype,
            id=f"{name}-{dtype}",
            marks=() if j == i % len(REAL_DTYPES) else pytest.mark.slow,
        )
        for i, name in enumerate(names)
        for j, dtype in enumerate(REAL_DTYPES)
    ]


@pytest.mark.parametrize("n,bins", _tiers())
@pytest.mark.parametrize("name,dtype", _by_dtype(CASES))
def test_real_builder_matches_its_distribution(name, dtype, n, bins):
    init, dist = CASES[name]
    sample = _draw(init, n, dtype)
    assert np.isfinite(sample).all()
    inner = None
    interval = init.check((n // 256, 256), dtype) and init._bounds((n // 256, 256), np.float32)
    if interval is not None and np.dtype(dtype).itemsize < 4:
        inner = [float(v) for v in inner_bounds(*interval, np.dtype(dtype))]
    assert chi_square_p(sample, dist, np.dtype(dtype), bins, inner=inner) > ALPHA
    if dtype in ("float32", "float64"):  # KS needs a continuous sample
        assert st.kstest(sample, dist.cdf).pvalue > ALPHA


def _haar_entry_cdf(n, complex_=False):
    """CDF of one entry of a Haar n x n orthogonal (|x|^2 ~ Beta(1/2, (n-1)/2)),
    or of |x|^2 of a unitary one (Beta(1, n-1))."""
    if complex_:
        return st.beta(1, n - 1)

    class Entry(st.rv_continuous):
        def _cdf(self, x):
            return 0.5 + 0.5 * np.sign(x) * st.beta.cdf(x * x, 0.5, (n - 1) / 2)

    return Entry(a=-1.0, b=1.0)


def haar_chi_square_p(sample, size, dtype, bins):
    """Chi-square p of entries of size x size Haar orthogonal matrices: bins from the
    normal approximation N(0, 1/size), probabilities from the exact marginal."""
    return chi_square_p(
        sample, _haar_entry_cdf(size), dtype, bins, bin_dist=st.norm(0, 1 / math.sqrt(size))
    )


@pytest.mark.parametrize("n,bins", _tiers())
@pytest.mark.parametrize("dtype", REAL_DTYPES)
def test_orthogonal_entries_are_haar(dtype, n, bins):
    size = 64
    keys = jax.random.split(KEY, n // size**2)
    with compat.enable_x64(dtype == "float64"):
        mats = jax.vmap(lambda k: ji.orthogonal()(k, (size, size), dtype))(keys)
        sample = np.asarray(mats).astype(np.float64).ravel()
    assert haar_chi_square_p(sample, size, np.dtype(dtype), bins) > ALPHA


C = 0.96196  # sqrt((1 - 5 e^-4) / (1 - e^-4)), see sampling.COMPLEX_TRUNCATED_NORMAL_STD


class _TruncExp(st.rv_continuous):
    """Exp(1) truncated to [0, 4]; with ``scale``, |w|^2 of the complex truncated normal."""

    def _cdf(self, t):
        return -np.expm1(-t) / -math.expm1(-4.0)


FAN_IN_256 = {"in_axis": -1, "out_axis": -2}  # samples are drawn as (n / 256, 256)
COMPLEX = {
    "normal": (ji.normal(0.5), st.expon(scale=0.25)),
    "variance_scaling_normal": (
        ji.variance_scaling(2.0, "fan_in", "normal", **FAN_IN_256),
        st.expon(scale=2.0 / 256),
    ),
    "variance_scaling_uniform": (
        ji.variance_scaling(2.0, "fan_in", "uniform", **FAN_IN_256),
        st.uniform(0, 2 * 2.0 / 256),
    ),
    "variance_scaling_truncated_normal": (
        ji.variance_scaling(2.0, "fan_in", "truncated_normal", **FAN_IN_256),
        _TruncExp(a=0.0, b=4.0)(scale=(math.sqrt(2.0 / 256) / C) ** 2),
    ),
    # Trabelsi: Rayleigh modulus with E|w|^2 = 2 / fan_in, so |w|^2 ~ Exp(mean 2/256).
    "complex_he": (ji.complex_he(**FAN_IN_256), st.expon(scale=2.0 / 256)),
    "complex_uniform_disk": (ji.complex_uniform(0.7), st.uniform(0, 0.49)),
}


@pytest.mark.parametrize("n,bins", _tiers())
@pytest.mark.parametrize("name", sorted(COMPLEX))
def test_complex_modulus_and_phase(name, n, bins):
    init, power_dist = COMPLEX[name]
    w = _draw(init, n, "complex64")
    assert st.kstest(np.abs(w) ** 2, power_dist.cdf).pvalue > ALPHA
    assert st.kstest(np.angle(w), st.uniform(-math.pi, 2 * math.pi).cdf).pvalue > ALPHA


def test_jax_complex_truncated_normal_fails_the_same_test():
    """The test has the power to see jax's 1.87% error in E|w|^2."""
    w = np.asarray(
        jax.nn.initializers.variance_scaling(2.0, "fan_in", "truncated_normal")(
            KEY, (256, 256), jnp.complex64
        )
    ).ravel()
    assert (
        st.kstest(np.abs(w) ** 2, COMPLEX["variance_scaling_truncated_normal"][1].cdf).pvalue
        < ALPHA
    )


def test_test_rejects_an_uncorrected_truncated_normal():
    """Power check: the truncated normal without the 1/0.8796 correction (12% off)."""
    sample = _draw(ji.truncated_normal(1.0), FAST[0], "float32")
    assert (
        chi_square_p(sample, st.truncnorm(-2 / TN, 2 / TN, scale=TN), np.dtype("float32"), FAST[1])
        < ALPHA
    )


# Named presets: (scale, mode, distribution) from the papers (Glorot & Bengio 2010,
# LeCun et al. 1998, He et al. 2015), fans of (n / 256, 256) with in_axis=-1:
# fan_in = 256, fan_out = n / 256.
PRESETS = {
    "glorot_uniform": (1.0, "fan_avg", "uniform"),
    "glorot_normal": (1.0, "fan_avg", "truncated_normal"),
    "lecun_uniform": (1.0, "fan_in", "uniform"),
    "lecun_normal": (1.0, "fan_in", "truncated_normal"),
    "he_uniform": (2.0, "fan_in", "uniform"),
    "he_normal": (2.0, "fan_in", "truncated_normal"),
}


def _preset_dist(name, n):
    scale, mode, distribution = PRESETS[name]
    fan_in, fan_out = 256, n // 256
    std = math.sqrt(scale / (fan_in if mode == "fan_in" else (fan_in + fan_out) / 2))
    if distribution == "uniform":
        return st.uniform(-math.sqrt(3) * std, 2 * math.sqrt(3) * std)
    return st.truncnorm(-2, 2, scale=std / TN)


@pytest.mark.parametrize("n,bins", _tiers())
@pytest.mark.parametrize("name,dtype", _by_dtype(PRESETS))
def test_named_preset_matches_its_distribution(name, dtype, n, bins):
    sample = _draw(getattr(ji, name)(in_axis=-1, out_axis=-2), n, dtype)
    dist = _preset_dist(name, n)
    assert chi_square_p(sample, dist, np.dtype(dtype), bins) > ALPHA
    if dtype in ("float32", "float64"):
        assert st.kstest(sample, dist.cdf).pvalue > ALPHA


@pytest.mark.parametrize("n,bins", _tiers())
def test_unitary_entries_are_haar(n, bins):
    """|x|^2 of an entry of a Haar n x n unitary is Beta(1, n - 1); the phase is uniform."""
    size = 64
    keys = jax.random.split(KEY, n // size**2)
    mats = jax.vmap(lambda k: ji.orthogonal()(k, (size, size), jnp.complex64))(keys)
    w = np.asarray(mats).astype(np.complex128).ravel()
    assert st.kstest(np.abs(w) ** 2, st.beta(1, size - 1).cdf).pvalue > ALPHA
    assert st.kstest(np.angle(w), st.uniform(-math.pi, 2 * math.pi).cdf).pvalue > ALPHA


@pytest.mark.parametrize("dtype", REAL_DTYPES)
def test_delta_orthogonal_centre_is_haar(dtype):
    """The centre tap of delta_orthogonal is Haar orthogonal (fast tier only: the
    other taps are exactly zero, tested in test_orthogonal.py)."""
    size, n = 64, FAST[0]
    keys = jax.random.split(KEY, n // size**2)
    with compat.enable_x64(dtype == "float64"):
        kernels = jax.vmap(lambda k: ji.delta_orthogonal()(k, (3, 3, size, size), dtype))(keys)
        sample = np.asarray(kernels[:, 1, 1]).astype(np.float64).ravel()
    assert haar_chi_square_p(sample, size, np.dtype(dtype), FAST[1]) > ALPHA
