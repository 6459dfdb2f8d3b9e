"""dtypes: bounds that survive rounding to the output dtype, in every float dtype.

jax promises truncated normals in the open interval (lower, upper) and uniforms
in [minval, maxval). Values are drawn in float32 and rounded once, which can land
on an open bound, or (float8) overflow to NaN. The expected values here come from
walking a dtype's bit patterns (an independent method: the code under test
enumerates a dtype's values and searches them) or are written out by hand.
"""

import math

import jax
import jax.numpy as jnp
import ml_dtypes
import numpy as np
import pytest
from _subsets import rotated

import jax_inits as ji
from jax_inits._src import _jax_compat as compat
from jax_inits._src import catalog
from jax_inits._src.dtypes import HALF_OPEN, OPEN, inner_bounds

KEY = jax.random.key(0)

#: Every 8/16-bit float type this jax supports whose conversions XLA implements
#: (the float6 types have none on the CPU; float8_e8m0fnu has no zero and no sign
#: and is rejected, see test_unsigned_scale_dtype_is_rejected).
LOW = [
    name
    for name in [
        "bfloat16",
        "float16",
        "float8_e3m4",
        "float8_e4m3",
        "float8_e4m3b11fnuz",
        "float8_e4m3fn",
        "float8_e4m3fnuz",
        "float8_e5m2",
        "float8_e5m2fnuz",
        "float4_e2m1fn",
    ]
    if hasattr(jnp, name)
]
ALL = ["float32", "float64", *LOW]


def _step(v, dtype, up: bool) -> float:
    """The neighbour of a finite value ``v`` of ``dtype`` by its bit pattern (sign and
    magnitude: one more magnitude step away from zero or one toward it)."""
    dtype = np.dtype(dtype)
    uint = np.dtype(f"u{dtype.itemsize}")
    v = np.array(v, dtype)
    if float(v) == 0:
        tiny = float(ml_dtypes.finfo(dtype).smallest_subnormal)
        return tiny if up else -tiny
    away = (float(v) > 0) == up
    if not away and abs(float(v)) == float(ml_dtypes.finfo(dtype).smallest_subnormal):
        return 0.0  # (fnuz types have no -0: its bit pattern is NaN)
    bits = v.view(uint)
    return float((bits + uint.type(1) if away else bits - uint.type(1)).view(dtype))


def _reference(x: float, dtype, up: bool, strict: bool) -> float:
    """The least value of ``dtype`` >= x (> x if strict) when ``up``, else the greatest
    <= x (< x), by stepping from the value nearest ``x``."""
    v = float(np.array(x, dtype))
    while (v < x if up else v > x) or (strict and v == x):
        v = _step(v, dtype, up)
    while True:  # the nearest value may not be the first one on its side
        w = _step(v, dtype, not up)
        if (w < x if up else w > x) or (strict and w == x):
            return v
        v = w


@pytest.mark.parametrize("dtype", LOW)
def test_inner_bounds_equal_the_bit_neighbours(dtype):
    """Every positive value v of the dtype (every 17th for 16-bit types), as a bound,
    and the midpoint between it and the next value, with both signs."""
    dtype = np.dtype(getattr(jnp, dtype))
    largest = float(ml_dtypes.finfo(dtype).max)
    bits = 8 * dtype.itemsize if dtype.itemsize == 2 else ml_dtypes.finfo(dtype).bits
    values = []
    for b in range(1, 1 << (bits - 1), 17 if dtype.itemsize == 2 else 1):
        v = float(np.array(b, f"u{dtype.itemsize}").view(dtype))
        if math.isfinite(v) and v < largest:
            values.append(v)
    assert len(values) > 5
    for v in values:
        up = _step(v, dtype, True)
        for x in (v, (v + up) / 2, -v, -(v + up) / 2):
            for strict in (False, True):
                lo, hi = inner_bounds(x, largest, (strict, False), dtype)
                assert float(lo) == _reference(x, dtype, True, strict), (x, strict)
                assert float(hi) == largest
                lo, hi = inner_bounds(-largest, x, (False, strict), dtype)
                assert float(hi) == _reference(x, dtype, False, strict), (x, strict)
    # The two neighbours by hand, for the formats the issue names.
    assert [float(b) for b in inner_bounds(-2, 2, OPEN, jnp.bfloat16)] == [-1.9921875, 1.9921875]
    assert [float(b) for b in inner_bounds(-1, 1, HALF_OPEN, jnp.float16)] == [-1, 1 - 2**-11]


def test_inner_bounds_float32_and_float64_by_hand():
    assert [float(b) for b in inner_bounds(-2, 2, OPEN, np.float32)] == [-2 + 2**-23, 2 - 2**-23]
    assert [float(b) for b in inner_bounds(-1, 1, HALF_OPEN, np.float32)] == [-1, 1 - 2**-24]
    assert [float(b) for b in inner_bounds(-2, 2, OPEN, np.float64)] == [-2 + 2**-52, 2 - 2**-52]
    # 0.1 is not a float32: open and closed ends give the same neighbours.
    below, above = 0.09999999403953552, 0.10000000149011612  # above: float32(0.1)
    assert below < 0.1 < above and above - below == 2**-27  # the float32 spacing there
    assert [float(b) for b in inner_bounds(0.1, 0.2, OPEN, np.float32)][0] == above
    assert [float(b) for b in inner_bounds(0.0, 0.1, (False, False), np.float32)][1] == below


@pytest.mark.parametrize("dtype", ALL)
def test_bounds_beyond_the_range_give_the_largest_finite_value(dtype):
    dtype = np.dtype(getattr(jnp, dtype))
    largest = float(ml_dtypes.finfo(dtype).max)
    assert [float(b) for b in inner_bounds(-math.inf, math.inf, OPEN, dtype)] == [
        -largest,
        largest,
    ]
    if dtype != np.float64:  # finite bounds beyond the range: float32's is below 1e39
        assert [float(b) for b in inner_bounds(-1e39, 1e39, HALF_OPEN, dtype)] == [
            -largest,
            largest,
        ]
    assert [float(b) for b in inner_bounds(0.0, 0.0, OPEN, dtype)] == [0.0, 0.0]  # one point


def test_no_value_inside_is_an_error_at_call_time():
    init = ji.truncated_normal(1e-5, mean=1.0, lower=0.5, upper=1.0)
    pattern = (
        r"truncated_normal: no bfloat16 value lies inside the bounds \(1\.00000\d*, 1\.00001\d*\); "
        r"widen them or use a wider dtype\."
    )
    with pytest.raises(ValueError, match=pattern):
        init(KEY, (4,), jnp.bfloat16)
    with pytest.raises(ValueError, match=pattern):
        jax.jit(lambda k: init(k, (4,), jnp.bfloat16))(KEY)
    assert init(KEY, (4,), jnp.float32).dtype == jnp.float32  # float32 has values inside
    with pytest.raises(
        ValueError,
        match=r"^uniform_range: no float16 value lies inside the bounds \[1\.0001, 1\.0002\)",
    ):
        ji.uniform_range(1.0001, 1.0002)(KEY, (4,), jnp.float16)
    assert float(ji.uniform_range(1.0, 1.0001)(KEY, (4,), jnp.float16).max()) == 1.0  # [1, ...


def test_unsigned_scale_dtype_is_rejected():
    if not hasattr(jnp, "float8_e8m0fnu"):
        pytest.skip("no float8_e8m0fnu in this jax")
    with pytest.raises(
        TypeError,
        match=r"normal: `dtype` must be a floating dtype with zero and negative values, "
        r"got float8_e8m0fnu",
    ):
        ji.normal()(KEY, (4,), jnp.float8_e8m0fnu)


def _cases():
    """(initializer, shape, work dtype -> (lo, hi, open)); each n >= 2^20.

    The bounds follow jax's definitions: truncated normals open, uniforms [lo, hi);
    variance scaling multiplies a unit sample by a scale computed in the work dtype.
    """

    def fixed(lo, hi, open_):
        return lambda work: (lo, hi, open_)

    def lecun_normal_bound(work):
        scale = np.sqrt(np.array(1 / 1024, work)) / np.array(0.87962566103423978, work)
        return -2 * float(scale), 2 * float(scale), OPEN

    def glorot_uniform_limit(work):
        limit = float(np.sqrt(3 * np.array(1 / ((1024 + 1024) / 2), work)))
        return -limit, limit, HALF_OPEN

    return {
        "truncated_normal(1)": (ji.truncated_normal(1.0), (1024, 1024), fixed(-2, 2, OPEN)),
        "truncated_normal(0.5, -3, 1)": (
            ji.truncated_normal(0.5, lower=-3.0, upper=1.0),
            (1024, 1024),
            fixed(-1.5, 0.5, OPEN),
        ),
        "uniform_range(-1, 1)": (
            ji.uniform_range(-1.0, 1.0),
            (1024, 1024),
            fixed(-1, 1, HALF_OPEN),
        ),
        "uniform(1)": (ji.uniform(1.0), (1024, 1024), fixed(0, 1, HALF_OPEN)),
        # fan_in 24: the limit sqrt(6 / 24) = 0.5 is representable in every dtype.
        "he_uniform": (ji.he_uniform(), (24, 43691), fixed(-0.5, 0.5, HALF_OPEN)),
        "stacked(he_uniform)": (
            ji.stacked(ji.he_uniform()),
            (4, 24, 10923),
            fixed(-0.5, 0.5, HALF_OPEN),
        ),
        "glorot_uniform": (ji.glorot_uniform(), (1024, 1024), glorot_uniform_limit),
        "lecun_normal": (ji.lecun_normal(), (1024, 1024), lecun_normal_bound),
        # An infinite lower bound: values below the dtype's range become its largest.
        "pytorch.trunc_normal(-inf, 0.5)": (
            ji.pytorch.trunc_normal(std=100.0, a=-math.inf, b=0.5),
            (1024, 1024),
            fixed(-math.inf, 0.5, OPEN),
        ),
    }


CASES = _cases()


# 2^20-sample sweeps: `make test` runs each case in one dtype (rotating), the rest slow.
@pytest.mark.parametrize("case,dtype", rotated(sorted(CASES), ALL))
def test_values_never_reach_an_open_bound(case, dtype):
    """n >= 2^20 draws of seed 0 per (initializer, dtype): every value finite, inside
    the interval (open ends excluded) and, in 8/16-bit dtypes, the upper end's inner
    neighbour reached (the top bin holds >= 50 values in expectation for each case,
    so clipping never moves values further in than needed)."""
    init, shape, spec = CASES[case]
    dtype = np.dtype(getattr(jnp, dtype))
    with compat.enable_x64(dtype == np.float64):
        x = np.asarray(init(KEY, shape, dtype)).astype(np.float64)
    assert x.size >= 2**20 and x.dtype == np.float64
    lo, hi, (lo_open, hi_open) = spec(np.float64 if dtype == np.float64 else np.float32)
    assert np.isfinite(x).all()
    assert (x > lo).all() if lo_open else (x >= lo).all()
    assert (x < hi).all() if hi_open else (x <= hi).all()
    if dtype.itemsize <= 2 and not case.startswith("pytorch"):
        assert x.max() == _reference(hi, dtype, up=False, strict=hi_open)


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_issue_repro_low_precision_bounds(dtype):
    """truncated_normal(1.0) reached exactly -2.0, uniform_range(-1, 1) exactly 1.0."""
    key = jax.random.key(0)
    t = np.asarray(ji.truncated_normal(1.0)(key, (2048, 512), dtype), np.float64)
    u = np.asarray(ji.uniform_range(-1.0, 1.0)(key, (2048, 512), dtype), np.float64)
    assert -2.0 < t.min() and t.max() < 2.0
    assert -1.0 <= u.min() and u.max() < 1.0


def test_issue_repro_float8_he_uniform_is_finite():
    """he_uniform in float8_e4m3fn returned 32768 NaN of 32768 values; jax.nn's are finite."""
    ours = np.asarray(ji.he_uniform()(KEY, (256, 128), jnp.float8_e4m3fn), np.float64)
    theirs = np.asarray(
        jax.nn.initializers.he_uniform()(KEY, (256, 128), jnp.float8_e4m3fn), np.float64
    )
    assert np.isfinite(theirs).all() and np.isfinite(ours).all()
    limit = math.sqrt(6 / 256)
    assert -limit <= ours.min() and ours.max() < limit
    assert len(np.unique(ours)) > 20  # values, not a constant


REAL = [e for e in catalog.ENTRIES if not e.complex]


#: Every 8/16-bit type, first those that matter most: no infinities (float8_e4m3fn),
#: with them (float8_e5m2), the smallest float8 range (float8_e4m3b11fnuz, max 30),
#: float4 (max 6). `make test` gives each builder one of them, rotating down this
#: list; `make test-slow` runs every builder in every type.
NAN_WALK = sorted(
    LOW,
    key=lambda d: ("float8_e4m3fn", "float8_e5m2", "float8_e4m3b11fnuz", "float4_e2m1fn", d).index(
        d
    ),
)


@pytest.mark.parametrize("name,dtype", rotated([e.name for e in REAL], NAN_WALK))
def test_no_initializer_returns_nan_in_low_precision(name, dtype):
    """Every real initializer of the catalogue, example arguments, shape 32 x 64."""
    entry = {e.name: e for e in REAL}[name]
    x = entry.example(KEY, entry.shape((32, 64)), getattr(jnp, dtype))
    assert x.dtype == jnp.dtype(getattr(jnp, dtype))
    assert np.isfinite(np.asarray(x, np.float32)).all()
