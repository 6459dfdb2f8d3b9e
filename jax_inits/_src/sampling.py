"""The sampling kernels every initializer family draws from.

Real samplers return exactly the bits of the ``jax.random`` function of the same
name for the same key, shape and dtype, but are written so that XLA compiles the
whole initializer into one loop-free elementwise fusion:

* jax lowers threefry2x32 on CPU as a rolled loop of 5 passes over two full-size
  uint32 arrays. Here the 20 rounds are straight-line uint32 ops on the counter,
  which XLA fuses with the float conversion, ``erf_inv`` and the scale: no
  full-size temporary, one pass over memory.
* The counters are what jax uses with ``jax_threefry_partitionable=True`` (the
  default): the 64-bit row-major element index as (hi, lo) words, hashed with the
  key, the two output words xor-ed. For arrays under 2^32 elements hi is 0.
* On the CPU, ``erf_inv`` (`_erf_inv_f32`) and the rounding to bfloat16
  (`convert`) are written as plain vector arithmetic with XLA's bits, so
  the loop vectorizes at full width; `fast_erf_inv_exact` checks the bits
  before any kernel uses that form.

Keys of other implementations (rbg, unsafe_rbg, custom), the non-partitionable
mode, float64, arrays of 2^32 or more elements and jax releases below
``_jax_compat.FUSED_KERNELS`` (0.8.3, where XLA's CPU ``erf_inv`` is proven equal
to the fast form) use ``jax.random`` itself, so they stay correct (and
bit-identical to jax) everywhere.

Reference: Salmon et al., [Parallel random numbers: as easy as 1, 2,
3](https://doi.org/10.1145/2063384.2063405), SC 2011 (Threefry-2x32, 20 rounds).
"""

from __future__ import annotations

import contextlib
import functools
import math
import threading

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from jax_inits._src import _jax_compat as compat
from jax_inits._src import caches

Shape = tuple[int, ...]

_layout = threading.local()

# Threefry-2x32 rotation constants (Salmon et al. 2011, table 4) and key parity.
_ROTATIONS = ((13, 15, 26, 6), (17, 29, 16, 24))
_PARITY = np.uint32(0x1BD11BDA)
_F32 = np.dtype(np.float32)


@contextlib.contextmanager
def _tracing_setting(name: str, value):
    """Sets ``name`` for the samplers traced in this thread, within the context."""
    previous = getattr(_layout, name, None)
    setattr(_layout, name, value)
    try:
        yield
    finally:
        setattr(_layout, name, previous)


def flat_layout(enabled: bool):
    """While tracing inside this context, elementwise samplers draw a flat array.

    Threefry counters are the flat (row-major) element index, so the bits of a
    flat draw reshaped to ``shape`` are the bits of a draw of ``shape``. The flat
    graph compiles several times faster for rank >= 3 shapes. It is turned off
    for sharded outputs, where the partitioner needs the shaped graph to give each
    device only its own shard.
    """
    return _tracing_setting("flat", enabled)


def target_platform(platform: str | None):
    """While tracing inside this context, kernels are built for ``platform``
    (``"cpu"``, ``"gpu"``, ...) and compiled with its `COMPILER_OPTIONS`;
    ``None`` means jax's default device and jax's default options (a call traced
    inside the caller's jit)."""
    return _tracing_setting("platform", platform)


def reference_erf_inv(enabled: bool = True):
    """While tracing inside this context, kernels use ``lax.erf_inv`` even where
    the fast CPU form applies. The two give the same bits wherever the fast form
    is used (that is what `fast_erf_inv_exact` checks), so a kernel traced here
    needs no check first: the dispatcher's first-call bucket kernels use it."""
    return _tracing_setting("reference_erf_inv", enabled)


#: The platform whose path eager calls take whatever device runs them, set only
#: by `accelerator_path` (tests); ``None``: the device's own.
_forced_platform: str | None = None


@contextlib.contextmanager
def accelerator_path(platform: str = "gpu"):
    """Private, for tests: eager calls take ``platform``'s path while on the CPU.

    On a GPU or TPU an eager call compiles its shape's own executable with
    ``lax.erf_inv`` and XLA's default options: no fast ``erf_inv`` form, no
    first-call bucket kernel, no self-check (those are CPU-only). Inside this
    context the dispatcher and the kernels treat every call as one on
    ``platform``, so that path runs, and is tested, on the CPU. Process-wide and
    not thread-safe; the eager caches key on it (`forced_platform`).
    """
    global _forced_platform
    previous, _forced_platform = _forced_platform, platform
    try:
        yield
    finally:
        _forced_platform = previous


def forced_platform() -> str | None:
    """The platform set by `accelerator_path`, else ``None``."""
    return _forced_platform


def default_platform() -> str:
    """The platform an uncommitted computation runs on: the default device's (or
    the one `accelerator_path` forces)."""
    if _forced_platform is not None:
        return _forced_platform
    device = jax.config.jax_default_device  # pyright: ignore[reportAttributeAccessIssue]
    if isinstance(device, str):
        return device
    return device.platform if device is not None else jax.default_backend()


def _target() -> tuple[str, bool]:
    """The platform kernels are traced for, and whether `COMPILER_OPTIONS` apply."""
    platform = getattr(_layout, "platform", None)
    return (default_platform(), False) if platform is None else (platform, True)


#: XLA options the eager kernels are compiled with, by platform. On the CPU the
#: fused sampling loop is latency bound (threefry's 20 rounds, then erf_inv);
#: 512-bit vectors carry twice the elements per dependency chain. LLVM caps the
#: width at what the CPU has, so AVX2 machines keep 256 bits.
COMPILER_OPTIONS: dict[str, dict[str, int]] = {"cpu": {"xla_cpu_prefer_vector_width": 512}}


def compiler_options(platform: str) -> dict[str, int] | None:
    """The options an eager kernel for ``platform`` is compiled with: its
    `COMPILER_OPTIONS` where the fused kernels run (`compat.FUSED_KERNELS`), else
    jax's defaults, as ``jax.random`` compiles its own draws."""
    return COMPILER_OPTIONS.get(platform) if compat.FUSED_KERNELS else None


def _draw(sampler, shape: Shape):
    """Calls ``sampler(draw_shape)`` in the current layout; returns ``shape``."""
    if getattr(_layout, "flat", False) and len(shape) != 1 and compat.FUSED_KERNELS:
        return sampler((math.prod(shape),)).reshape(shape)
    return sampler(shape)


def _is_threefry(key: jax.Array) -> bool:
    if jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key):  # pyright: ignore[reportPrivateImportUsage]
        return str(jax.random.key_impl(key)) == "threefry2x32"
    return jax.config.jax_default_prng_impl == "threefry2x32" and key.shape == (2,)  # pyright: ignore[reportAttributeAccessIssue]


def fused(key: jax.Array, shape: Shape, dtype=_F32) -> bool:
    """Whether the fused kernel reproduces jax.random here (else jax.random runs)."""
    return (
        compat.FUSED_KERNELS
        and np.dtype(dtype) == _F32
        and math.prod(shape) < 2**32
        and jax.config.jax_threefry_partitionable  # pyright: ignore[reportAttributeAccessIssue]
        and _is_threefry(key)
    )


# The kernels below are written with lax functions, not operators: an operator on
# a tracer goes through a jitted jnp ufunc, which makes tracing a new shape ~3x
# slower (an eager call of a new shape traces once).
_add, _sub, _mul, _div = lax.add, lax.sub, lax.mul, lax.div
_and, _or, _xor = lax.bitwise_and, lax.bitwise_or, lax.bitwise_xor


def _threefry2x32(k0, k1, x0, x1):
    """The Threefry-2x32 block function, 20 rounds unrolled (uint32 arithmetic)."""
    ks = (k0, k1, _xor(_xor(k0, k1), _PARITY))
    x0, x1 = _add(x0, ks[0]), _add(x1, ks[1])
    for block in range(5):
        for r in _ROTATIONS[block % 2]:
            x0 = _add(x0, x1)
            x1 = _or(
                lax.shift_left(x1, np.uint32(r)), lax.shift_right_logical(x1, np.uint32(32 - r))
            )
            x1 = _xor(x0, x1)
        x0 = _add(x0, ks[(block + 1) % 3])
        x1 = _add(_add(x1, ks[(block + 2) % 3]), np.uint32(block + 1))
    return x0, x1


def _counters(shape: Shape) -> jax.Array:
    """The row-major element index of ``shape`` as uint32 (size < 2^32)."""
    index, stride = None, 1
    for axis in reversed(range(len(shape))):
        iota = lax.broadcasted_iota(np.uint32, shape, axis)
        term = iota if stride == 1 else _mul(iota, np.uint32(stride))
        index = term if index is None else _add(index, term)
        stride *= shape[axis]
    return lax.full(shape, 0, np.uint32) if index is None else index


def _bits32(key: jax.Array, shape: Shape) -> jax.Array:
    data = (
        jax.random.key_data(key) if jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key) else key  # pyright: ignore[reportPrivateImportUsage]
    )
    k0, k1 = lax.index_in_dim(data, 0, keepdims=False), lax.index_in_dim(data, 1, keepdims=False)
    hi, lo = _threefry2x32(k0, k1, np.uint32(0), _counters(shape))
    return _xor(hi, lo)


def bits(key: jax.Array, shape: Shape) -> jax.Array:
    """Uniform uint32 bits; exactly ``jax.random.bits(key, shape, jnp.uint32)``.

    Examples:
      >>> from jax_inits import sampling
      >>> key = jax.random.key(0)
      >>> bool((sampling.bits(key, (3, 5)) == jax.random.bits(key, (3, 5), jnp.uint32)).all())
      True
    """
    shape = tuple(shape)
    if not fused(key, shape):
        return jax.random.bits(key, shape, np.uint32)
    return _draw(lambda s: _bits32(key, s), shape)


def _unit_floats(bits: jax.Array) -> jax.Array:
    """Floats in [0, 1) from the top 23 of 32 bits, as jax.random.uniform makes them."""
    mantissa = lax.shift_right_logical(bits, np.uint32(32 - 23))
    one = np.array(1.0, _F32)
    return _sub(lax.bitcast_convert_type(_or(mantissa, one.view(np.uint32)), _F32), one)


def _scale_unit(unit: jax.Array, minval, maxval) -> jax.Array:
    minval = lax.convert_element_type(minval, _F32)
    maxval = lax.convert_element_type(maxval, _F32)
    return lax.max(minval, _add(_mul(unit, _sub(maxval, minval)), minval))


def _uniform_f32(key, shape, minval, maxval) -> jax.Array:
    return _scale_unit(_unit_floats(_bits32(key, shape)), minval, maxval)


def _f32(*values: float) -> tuple[np.float32, ...]:
    return tuple(np.float32(v) for v in values)


# Cephes (Moshier) logf: log(m) = x - x^2/2 + x^3 P(x) for x = m - 1, sqrt(1/2) <= m < sqrt(2).
_LOG_P = _f32(0.070376836, -0.1151461, 0.116769984, -0.12420141, 0.14249323, -0.16668057,
              0.20000714, -0.24999994, 0.3333333)  # fmt: skip
_LN2_HI, _LN2_LO = _f32(0.6933594, -0.00021219444)
# Cephes log1p for |x| < sqrt(2) - 1: x - x^2/2 + x^3 N(x) / D(x).
_LOG1P_N = _f32(4.527e-05, 0.49854103, 6.5787325, 29.911919, 60.94967, 57.112965, 20.039553)
_LOG1P_D = _f32(15.062909, 83.04757, 221.7624, 309.09872, 216.42789, 60.11866)
# Giles (2010) single-precision erfinv: degree-8 polynomials in w - 2.5 (w < 5)
# and sqrt(w) - 3 (w >= 5), where w = -log(1 - x^2).
_ERF_INV_CENTRAL = _f32(
    2.81022636e-08, 3.43273939e-07, -3.5233877e-06, -4.39150654e-06, 0.00021858087,
    -0.00125372503, -0.00417768164, 0.246640727, 1.50140941,
)  # fmt: skip
_ERF_INV_TAIL = _f32(
    -0.000200214257, 0.000100950558, 0.00134934322, -0.00367342844, 0.00573950773,
    -0.0076224613, 0.00943887047, 1.00167406, 2.83297682,
)  # fmt: skip
_ONE, _HALF = _f32(1.0, 0.5)


def _select(pred, on_true, on_false):
    """``lax.select`` that broadcasts scalar branches to ``pred``'s shape."""
    on_true, on_false = (
        lax.full(pred.shape, v, _F32) if np.ndim(v) == 0 else v for v in (on_true, on_false)
    )
    return lax.select(pred, on_true, on_false)


def _log_f32(y):
    """Natural log of ``y`` in [2^-126, 1]: Cephes logf, step for step as XLA's CPU
    backend computes it (exponent and mantissa by bit masks)."""
    y = lax.max(y, np.float32(np.finfo(_F32).tiny))
    bits = lax.bitcast_convert_type(y, np.uint32)
    biased = lax.convert_element_type(lax.shift_right_logical(bits, np.uint32(23)), np.int32)
    exponent = lax.convert_element_type(_sub(biased, np.int32(127)), _F32)
    mantissa = _or(_and(bits, np.uint32(0x807FFFFF)), np.uint32(0x3F000000))
    m = lax.bitcast_convert_type(mantissa, _F32)  # in [1/2, 1)
    low = lax.lt(m, np.float32(np.sqrt(0.5)))
    x = _add(_sub(m, _ONE), _select(low, m, np.float32(0)))
    e = _sub(_add(exponent, _ONE), _select(low, _ONE, np.float32(0)))
    z = _mul(x, x)
    z3 = _mul(z, x)

    def horner(*c):  # ((x c0 + c1) x + c2)
        return _add(_mul(_add(_mul(x, c[0]), c[1]), x), c[2])

    a, b, c = horner(*_LOG_P[0:3]), horner(*_LOG_P[3:6]), horner(*_LOG_P[6:9])
    tail = _mul(_add(_mul(_add(b, _mul(a, z3)), z3), c), z3)
    tail = _add(tail, _mul(e, _LN2_LO))
    return _add(_add(_sub(x, _mul(z, _HALF)), tail), _mul(e, _LN2_HI))


def _log1p_f32(a):
    """``log1p(a)`` for ``a`` in (-1, 0]: Cephes, as XLA's CPU backend computes it."""
    n, d = _add(_mul(_LOG1P_N[0], a), _LOG1P_N[1]), _add(a, _LOG1P_D[0])
    for coefficient in _LOG1P_N[2:]:
        n = _add(_mul(n, a), coefficient)
    for coefficient in _LOG1P_D[1:]:
        d = _add(_mul(d, a), coefficient)
    a2 = _mul(a, a)
    small = _sub(a, _sub(_mul(a2, _HALF), _mul(_mul(a, a2), _div(n, d))))
    near_zero = lax.lt(lax.abs(a), np.float32(np.sqrt(2) - 1))
    return _select(near_zero, small, _log_f32(_add(a, _ONE)))


def _erf_inv_f32(x):
    """``lax.erf_inv`` of float32 ``x`` in [-1, 1], bit for bit on XLA's CPU backend.

    The same operations as XLA's expansion of erf_inv (Giles 2010) and its
    log1p (Cephes), written as plain vector arithmetic. XLA's own log1p is an
    8-lane intrinsic, which caps the whole fused sampling loop at 8 lanes; this
    form vectorizes at 16 lanes on AVX-512. `fast_erf_inv_exact` checks the
    bits against ``lax.erf_inv`` before any kernel uses it.

    References:
      Giles, [Approximating the erfinv
      function](https://people.maths.ox.ac.uk/gilesm/files/gems_erfinv.pdf), GPU
      Computing Gems Jade Edition, 2011. Moshier, Cephes Mathematical Library
      (logf, log1p), 1984-1992.
    """
    w = _log1p_f32(_mul(x, lax.neg(x)))  # log(1 - x^2) <= 0
    central = lax.gt(w, np.float32(-5))
    arg = _select(central, _sub(np.float32(-2.5), w), _add(lax.sqrt(lax.neg(w)), np.float32(-3)))
    p = _select(central, _ERF_INV_CENTRAL[0], _ERF_INV_TAIL[0])
    for c_central, c_tail in zip(_ERF_INV_CENTRAL[1:], _ERF_INV_TAIL[1:], strict=True):
        p = _add(_select(central, c_central, c_tail), _mul(p, arg))
    return _mul(x, _select(lax.eq(lax.abs(x), _ONE), np.float32(np.inf), p))


#: jax.random.normal draws uniform values in [-1 + 2^-24, 1) for erf_inv.
_NORMAL_RANGE = (np.nextafter(np.array(-1.0, _F32), np.array(0.0, _F32)), np.array(1.0, _F32))


def _probe_inputs(stride: int = 1, comb: int = 512) -> jax.Array:
    """Every ``stride``-th value the normal sampler can pass to erf_inv (there is
    one per 23-bit mantissa), and every ``comb``-th float32 in [-1, 1] with
    either sign."""
    mantissas = lax.shift_left(
        lax.iota(np.uint32, (1 << 23) // stride) * np.uint32(stride), np.uint32(32 - 23)
    )
    grid = _scale_unit(_unit_floats(mantissas), *_NORMAL_RANGE)
    comb_bits = lax.iota(np.uint32, 0x3F800000 // comb + 1) * np.uint32(comb)
    floats = lax.bitcast_convert_type(comb_bits, _F32)
    return lax.concatenate([grid, floats, lax.neg(floats)], 0)


def _erf_inv_mismatches(stride: int = 1, comb: int = 512) -> jax.Array:
    x = _probe_inputs(stride, comb)
    fast = lax.bitcast_convert_type(_erf_inv_f32(x), np.uint32)
    reference = lax.bitcast_convert_type(lax.erf_inv(x), np.uint32)
    return jnp.sum(fast != reference)


#: The runtime check's sample of probe inputs: every 64th input of the normal
#: sampler (131072 values, the tail's extremes included) and every 2^15-th float32
#: in [-1, 1]. ``make test-slow`` checks every float32 in both forms.
_CHECK_STRIDE, _CHECK_COMB = 64, 1 << 15


@caches.lru("sampling.fast_erf_inv_exact", None)
def fast_erf_inv_exact() -> bool:
    """Whether `_erf_inv_f32` gives the bits of ``lax.erf_inv`` on this
    process's CPU, compiled with `COMPILER_OPTIONS` as the eager kernels are and
    with jax's default options as ``jax.random`` is.

    Two gates, both needed. The jax release: only where XLA's CPU ``erf_inv`` is
    proven equal on every float32 in [-1, 1] (`compat.FUSED_KERNELS`; on older
    releases a sample can pass while whole draws differ). Then this CPU: checked
    once per process on a sample of inputs (`_CHECK_STRIDE`), under both sets of
    options. The dispatcher runs it outside the caller's context (no mesh; an
    explicit transfer of one integer) before the first CPU kernel that may use
    the fast form is traced (first-call bucket kernels use ``lax.erf_inv`` and
    need no check: `reference_erf_inv`). The fast form is used only in the
    kernels jax_inits compiles itself (eager calls): a call traced inside the
    user's ``jax.jit`` is compiled with the user's options and context, where
    ``lax.erf_inv`` runs. GPUs and TPUs compute erf_inv with their own log1p, so
    there ``lax.erf_inv`` runs too.
    """
    if not compat.FUSED_KERNELS:
        return False
    on_cpu = jax.sharding.SingleDeviceSharding(jax.local_devices(backend="cpu")[0])
    check = functools.partial(_erf_inv_mismatches, _CHECK_STRIDE, _CHECK_COMB)
    lowered = jax.jit(check, out_shardings=on_cpu).lower()
    return all(
        int(jax.device_get(lowered.compile(options)())) == 0  # pyright: ignore[reportArgumentType]
        for options in (COMPILER_OPTIONS["cpu"], None)
    )


def _erf_inv(x):
    """erf_inv for the fused kernels: the vectorizable form in the CPU kernels
    jax_inits compiles itself, where its check passed; ``lax.erf_inv`` elsewhere."""
    reference = getattr(_layout, "reference_erf_inv", None)
    if not reference and _target() == ("cpu", True) and fast_erf_inv_exact():
        return _erf_inv_f32(x)
    return lax.erf_inv(x)


def _normal_f32(key, shape, scale=None) -> jax.Array:
    u = _uniform_f32(key, shape, *_NORMAL_RANGE)
    sqrt2 = np.array(np.sqrt(2), _F32)
    if scale is None:
        return _mul(sqrt2, _erf_inv(u))
    # erf_inv(u) * (sqrt2 * scale): the product XLA makes of sqrt2 * erf_inv(u) * scale
    # when it folds the constants outside a mesh. Written out, no pipeline can
    # reassociate it differently (inside a mesh XLA does not fold).
    return _mul(_erf_inv(u), _mul(sqrt2, lax.convert_element_type(scale, _F32)))


def _truncated_normal_f32(key, shape, lower, upper) -> jax.Array:
    sqrt2 = np.array(np.sqrt(2), _F32)
    lower = lax.convert_element_type(lower, _F32)
    upper = lax.convert_element_type(upper, _F32)
    a, b = lax.erf(_div(lower, sqrt2)), lax.erf(_div(upper, sqrt2))
    u = _uniform_f32(key, shape, a, b)
    return _inside_open(_mul(sqrt2, _erf_inv(u)), lower, upper, _F32)


def convert(x: jax.Array, dtype: np.dtype) -> jax.Array:
    """``x.astype(dtype)``, with float32 to bfloat16 written out in integer ops.

    Same bits (round to nearest even, NaN kept quiet) as XLA's conversion, which
    the CPU backend emits one element at a time inside a fused loop; in integer
    ops the whole loop stays vectorized.
    """
    dtype = np.dtype(dtype)
    if x.dtype != _F32 or dtype != jnp.bfloat16:
        return lax.convert_element_type(x, dtype)
    bits = lax.bitcast_convert_type(x, np.uint32)
    lsb = _and(lax.shift_right_logical(bits, np.uint32(16)), np.uint32(1))
    rounded = _add(bits, _add(np.uint32(0x7FFF), lsb))
    quiet_nan = _or(_and(bits, np.uint32(0xFF800000)), np.uint32(0x00400000))
    bits = lax.select(lax.ne(x, x), quiet_nan, rounded)
    upper = lax.convert_element_type(lax.shift_right_logical(bits, np.uint32(16)), np.uint16)
    return lax.bitcast_convert_type(upper, dtype)


def _inside_open(x, lower, upper, dtype) -> jax.Array:
    """Clamps ``x`` into the open interval ``(lower, upper)``, as jax does:
    rounding can reach the bounds."""
    lo = lax.nextafter(lower, np.array(np.inf, dtype))
    hi = lax.nextafter(upper, np.array(-np.inf, dtype))
    return lax.clamp(lo, x, hi)


#: Standard deviation of a standard normal truncated to (-2, 2).
TRUNCATED_NORMAL_STD = 0.87962566103423978

#: Root mean square modulus of a standard complex normal (E|z|^2 = 1) whose
#: modulus is truncated to 2: |z|^2 is Exp(1) truncated to [0, 4], whose mean is
#: (1 - 5 e^-4) / (1 - e^-4).
COMPLEX_TRUNCATED_NORMAL_STD = math.sqrt((1 - 5 * math.exp(-4)) / (1 - math.exp(-4)))


def truncated_normal_std(lower: float, upper: float) -> float:
    r"""Standard deviation of a standard normal truncated to ``(lower, upper)``.

    With $Z = \Phi(b) - \Phi(a)$, the variance is
    $1 + (a\varphi(a) - b\varphi(b))/Z - ((\varphi(a) - \varphi(b))/Z)^2$
    (Johnson, Kotz & Balakrishnan, Continuous Univariate Distributions, 1994).
    """

    def pdf(x):
        return 0.0 if math.isinf(x) else math.exp(-x * x / 2) / math.sqrt(2 * math.pi)

    def x_pdf(x):
        return 0.0 if math.isinf(x) else x * pdf(x)

    if lower >= 0:  # mirror into the lower tail, where erfc keeps its precision
        lower, upper = -upper, -lower
    mass = (math.erfc(-upper / math.sqrt(2)) - math.erfc(-lower / math.sqrt(2))) / 2
    shift = (pdf(lower) - pdf(upper)) / mass
    return math.sqrt(max(0.0, 1 + (x_pdf(lower) - x_pdf(upper)) / mass - shift * shift))


def uniform(
    key: jax.Array, shape: Shape, dtype: np.dtype, minval: float = 0.0, maxval: float = 1.0
) -> jax.Array:
    """Uniform values in ``[minval, maxval)``; the bits of ``jax.random.uniform``.

    Examples:
      >>> from jax_inits import sampling
      >>> u = sampling.uniform(jax.random.key(0), (1000,), jnp.float32, -1.0, 1.0)
      >>> bool((u >= -1).all() and (u < 1).all())
      True
    """
    shape = tuple(shape)
    if not fused(key, shape, dtype):
        return _draw(lambda s: jax.random.uniform(key, s, dtype, minval, maxval), shape)
    return _draw(lambda s: _uniform_f32(key, s, minval, maxval), shape)


def normal(key: jax.Array, shape: Shape, dtype: np.dtype, scale=None) -> jax.Array:
    """Standard normal values; the bits of ``jax.random.normal`` for real dtypes.

    With ``scale`` (a scalar of ``dtype``, traced or constant; a host number for
    complex dtypes), the bits of ``jax.random.normal(key, shape, dtype) * scale``
    as XLA computes it outside a mesh context, in every context.

    Complex dtypes draw the real and imaginary parts from the two halves of
    ``jax.random.split(key)``, each with variance 1/2, so that E|z|^2 = 1.

    Examples:
      >>> from jax_inits import sampling
      >>> z = sampling.normal(jax.random.key(0), (4, 5), jnp.float32)
      >>> bool((z == jax.random.normal(jax.random.key(0), (4, 5))).all())
      True
    """
    shape, dtype = tuple(shape), np.dtype(dtype)
    if jnp.issubdtype(dtype, np.complexfloating):
        # Each part: N(0, 1/2) times the real ``scale`` (a host number here), one
        # multiplier computed on the host, so no compiler can reassociate it.
        real = np.finfo(dtype).dtype
        part = np.array(np.sqrt(0.5) * (1.0 if scale is None else float(np.real(scale))), real)
        key_re, key_im = jax.random.split(key)
        return lax.complex(normal(key_re, shape, real, part), normal(key_im, shape, real, part))
    if not fused(key, shape, dtype):
        if scale is not None and not compat.FUSED_KERNELS:
            return _draw(lambda s: _normal_scaled(key, s, dtype, scale), shape)
        x = _draw(lambda s: jax.random.normal(key, s, dtype), shape)
        return x if scale is None else x * scale
    return _draw(lambda s: _normal_f32(key, s, scale), shape)


def _normal_scaled(key, shape, dtype, scale) -> jax.Array:
    """``jax.random.normal(key, shape, dtype) * scale`` as XLA folds it outside a
    mesh: jax.random.normal's own two steps (a uniform in [-1 + ulp, 1), then
    ``sqrt2 * erf_inv``) with the product written ``erf_inv(u) * (sqrt2 * scale)``.
    Below the gate only (`compat.FUSED_KERNELS`): there XLA leaves the product
    unfolded inside a mesh context, which would make values depend on it."""
    lo = np.nextafter(np.array(-1.0, dtype), np.array(0.0, dtype))
    u = jax.random.uniform(key, shape, dtype, lo, np.array(1.0, dtype))
    factor = _mul(np.array(np.sqrt(2), dtype), lax.convert_element_type(scale, dtype))
    return _mul(lax.erf_inv(u), factor)


def scale_complex(z: jax.Array, scale) -> jax.Array:
    """``z * scale`` for a real (or real-valued complex) ``scale``, as the real and
    imaginary parts each times ``scale``.

    The same value as the complex product, but in a form no XLA pipeline can
    reassociate: a complex product by a constant is folded differently inside and
    outside a mesh context, which would make values depend on the context.
    """
    real = jnp.finfo(z.dtype).dtype
    scale = jnp.asarray(scale)
    if jnp.issubdtype(scale.dtype, np.complexfloating):
        scale = lax.real(scale)
    scale = lax.convert_element_type(scale, real)
    return lax.complex(_mul(lax.real(z), scale), _mul(lax.imag(z), scale))


def tails_need_care(lower: float, upper: float) -> bool:
    """Whether inverting erf loses the distribution (jax issue 10951).

    jax maps a uniform through ``erf_inv`` between ``erf(lower/sqrt2)`` and
    ``erf(upper/sqrt2)``. Beyond about 3 standard deviations both ends crowd
    against +-1, where float32 holds only a few values (10 distinct values for
    (5, 6)), and an infinite bound makes ``erf_inv(-1) = -inf`` reachable. Such
    intervals go through `_truncated_normal_tail`; every interval with
    finite bounds that does not lie wholly beyond +-3 keeps jax's bits.
    """
    return math.isinf(lower) or math.isinf(upper) or lower >= 3.0 or upper <= -3.0


def _truncated_normal_tail(key, shape, lower: float, upper: float, dtype) -> jax.Array:
    """Inverse-CDF sampling in the lower tail, where it stays accurate.

    An interval with ``lower >= 0`` is mirrored to ``(-upper, -lower)``. Then
    ``p`` is uniform between ``Phi(lower)`` and ``Phi(upper)``, each computed as
    ``erfc(-x / sqrt2) / 2`` (accurate down to 1e-38 in float32), and
    ``x = ndtri(p)`` (Cephes' inverse normal CDF, accurate for tiny ``p``). The
    smallest ``p`` is kept >= the smallest normal float, so an infinite bound
    gives finite values.
    """
    from jax.scipy.special import ndtri

    mirror = lower >= 0
    lo, hi = (-upper, -lower) if mirror else (lower, upper)
    tiny = np.finfo(dtype).tiny
    phi = lambda x: np.array(0.5 * math.erfc(-x / math.sqrt(2)), dtype)  # noqa: E731
    p_lo, p_hi = max(phi(lo), np.array(tiny, dtype)), phi(hi)
    p = uniform(key, shape, dtype, p_lo, p_hi)  # pyright: ignore[reportArgumentType]
    x = ndtri(jnp.maximum(p, np.array(tiny, dtype)))
    x = -x if mirror else x
    return _inside_open(x, np.array(lower, dtype), np.array(upper, dtype), dtype)


def truncated_normal(
    key: jax.Array, lower: float, upper: float, shape: Shape, dtype: np.dtype
) -> jax.Array:
    """Standard normal truncated to ``(lower, upper)``.

    For finite bounds not wholly beyond 3 standard deviations, the bits of
    ``jax.random.truncated_normal``. Far tails (``lower >= 3`` or ``upper <= -3``)
    and infinite bounds use `_truncated_normal_tail` instead, which keeps
    the right distribution where jax's method collapses to a handful of values.

    Examples:
      >>> from jax_inits import sampling
      >>> t = sampling.truncated_normal(jax.random.key(0), -1.0, 1.0, (1000,), jnp.float32)
      >>> bool((jnp.abs(t) < 1).all())
      True
      >>> far = sampling.truncated_normal(jax.random.key(0), 5.0, 6.0, (1000,), jnp.float32)
      >>> bool((far > 5).all() and (far < 6).all()), len(jnp.unique(far)) > 900
      (True, True)
    """
    shape = tuple(shape)
    if tails_need_care(float(lower), float(upper)):
        return _draw(lambda s: _truncated_normal_tail(key, s, lower, upper, dtype), shape)
    if not fused(key, shape, dtype):
        return _draw(lambda s: jax.random.truncated_normal(key, lower, upper, s, dtype), shape)
    return _draw(lambda s: _truncated_normal_f32(key, s, lower, upper), shape)


def qr(z: jax.Array) -> tuple[jax.Array, jax.Array]:
    """The reduced QR decomposition of ``z``: the package's one call into LAPACK.

    Every QR-based builder (the orthogonal family) reaches LAPACK only here. Its
    last bits depend on the LAPACK build and the kernels it picks for the CPU
    (OpenBLAS chooses them per processor), so the golden-value tests pin the
    draw that enters it bit for bit and what comes out of it to a tolerance
    (``tests/golden/update.py``; docs/accelerators.md).
    """
    return jnp.linalg.qr(z)


def orthogonal(key: jax.Array, n: int, m: int, dtype: np.dtype) -> jax.Array:
    """A Haar-random ``(n, m)`` matrix with orthonormal rows or columns (unitary for
    complex dtypes): the Q of a QR decomposition of a normal matrix, with the signs
    of R's diagonal moved into Q (Mezzadri 2007), as ``jax.random.orthogonal``.

    Examples:
      >>> from jax_inits import sampling
      >>> q = sampling.orthogonal(jax.random.key(0), 3, 5, jnp.float32)
      >>> bool(jnp.allclose(q @ q.T, jnp.eye(3), atol=1e-6))
      True
    """
    z = normal(key, (max(n, m), min(n, m)), dtype)
    q, r = qr(z)
    q = q * jnp.expand_dims(jnp.sign(jnp.diagonal(r, axis1=-2, axis2=-1)), -2)
    return q.mT if n < m else q


def polar(key: jax.Array, modulus, shape: Shape, dtype: np.dtype) -> jax.Array:
    """``modulus(u) * exp(i theta)`` with ``u``, ``theta / 2 pi`` independent uniforms.

    The key is split in two: the first half draws the modulus, the second the phase.
    """
    key_modulus, key_phase = jax.random.split(key)
    real = np.finfo(dtype).dtype
    r = modulus(uniform(key_modulus, shape, real))
    theta = (2 * np.pi) * uniform(key_phase, shape, real)
    return jax.lax.complex(r * jnp.cos(theta), r * jnp.sin(theta))


def complex_uniform_disk(key: jax.Array, shape: Shape, dtype: np.dtype) -> jax.Array:
    """Uniform on the disk of radius sqrt(2), so that E|z|^2 = 1.

    Uniform on a disk means the squared modulus is uniform: ``r = sqrt(2 u)``.

    Examples:
      >>> from jax_inits import sampling
      >>> z = sampling.complex_uniform_disk(jax.random.key(0), (512, 512), jnp.complex64)
      >>> round(float(jnp.mean(jnp.abs(z) ** 2)), 2), bool(jnp.abs(z).max() <= 2**0.5)
      (1.0, True)
    """
    return polar(key, lambda u: jnp.sqrt(2 * u), shape, dtype)


def complex_truncated_normal(
    key: jax.Array, upper: float, shape: Shape, dtype: np.dtype
) -> jax.Array:
    """Standard complex normal (E|z|^2 = 1 before truncation) with modulus < ``upper``.

    The squared modulus of a standard complex normal is Exp(1). Truncated to
    ``[0, upper^2]`` its CDF is ``(1 - e^{-s}) / (1 - e^{-upper^2})``; inverting it
    gives ``r^2 = -log1p(-u (1 - e^{-upper^2}))`` for uniform ``u``. The phase is
    uniform and independent.

    Examples:
      >>> from jax_inits import sampling
      >>> z = sampling.complex_truncated_normal(jax.random.key(0), 2.0, (512, 512), jnp.complex64)
      >>> bool(jnp.abs(z).max() < 2.0), round(float(jnp.mean(jnp.abs(z) ** 2)), 1)  # 0.925
      (True, 0.9)
    """
    mass = -math.expm1(-upper * upper)
    return polar(key, lambda u: jnp.sqrt(-jnp.log1p(-mass * u)), shape, dtype)
