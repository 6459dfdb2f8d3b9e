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

Keys of other implementations (rbg, unsafe_rbg, custom), the non-partitionable
mode, float64 and arrays of 2^32 or more elements use ``jax.random`` itself, so
they stay correct (and bit-identical to jax) everywhere.

Reference: Salmon et al., `Parallel random numbers: as easy as 1, 2, 3
<https://doi.org/10.1145/2063384.2063405>`_, SC 2011 (Threefry-2x32, 20 rounds).
"""

from __future__ import annotations

import contextlib
import math
import threading

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

Shape = tuple[int, ...]

_layout = threading.local()

# Threefry-2x32 rotation constants (Salmon et al. 2011, table 4) and key parity.
_ROTATIONS = ((13, 15, 26, 6), (17, 29, 16, 24))
_PARITY = np.uint32(0x1BD11BDA)
_F32 = np.dtype(np.float32)


@contextlib.contextmanager
def flat_layout(enabled: bool):
    """While tracing inside this context, elementwise samplers draw a flat array.

    Threefry counters are the flat (row-major) element index, so the bits of a
    flat draw reshaped to ``shape`` are the bits of a draw of ``shape``. The flat
    graph compiles several times faster for rank >= 3 shapes. It is turned off
    for sharded outputs, where the partitioner needs the shaped graph to give each
    device only its own shard.
    """
    previous = getattr(_layout, "flat", False)
    _layout.flat = enabled
    try:
        yield
    finally:
        _layout.flat = previous


def _draw(sampler, shape: Shape):
    """Calls ``sampler(draw_shape)`` in the current layout; returns ``shape``."""
    if getattr(_layout, "flat", False) and len(shape) != 1:
        return sampler((math.prod(shape),)).reshape(shape)
    return sampler(shape)


def _is_threefry(key: jax.Array) -> bool:
    if jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key):
        return str(jax.random.key_impl(key)) == "threefry2x32"
    return jax.config.jax_default_prng_impl == "threefry2x32" and key.shape == (2,)


def fused(key: jax.Array, shape: Shape, dtype=_F32) -> bool:
    """Whether the fused kernel reproduces jax.random here (else jax.random runs)."""
    return (
        np.dtype(dtype) == _F32
        and math.prod(shape) < 2**32
        and jax.config.jax_threefry_partitionable
        and _is_threefry(key)
    )


def _threefry2x32(k0, k1, x0, x1):
    """The Threefry-2x32 block function, 20 rounds unrolled (uint32 arithmetic)."""
    ks = (k0, k1, k0 ^ k1 ^ _PARITY)
    x0, x1 = x0 + ks[0], x1 + ks[1]
    for block in range(5):
        for r in _ROTATIONS[block % 2]:
            x0 = x0 + x1
            x1 = lax.shift_left(x1, np.uint32(r)) | lax.shift_right_logical(x1, np.uint32(32 - r))
            x1 = x0 ^ x1
        x0 = x0 + ks[(block + 1) % 3]
        x1 = x1 + ks[(block + 2) % 3] + np.uint32(block + 1)
    return x0, x1


def _counters(shape: Shape) -> jax.Array:
    """The row-major element index of ``shape`` as uint32 (size < 2^32)."""
    index = jnp.zeros(shape, np.uint32)
    stride = 1
    for axis in reversed(range(len(shape))):
        iota = lax.broadcasted_iota(np.uint32, shape, axis)
        index = index + iota * np.uint32(stride) if stride != 1 else index + iota
        stride *= shape[axis]
    return index


def _bits32(key: jax.Array, shape: Shape) -> jax.Array:
    data = (
        jax.random.key_data(key) if jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key) else key
    )
    hi, lo = _threefry2x32(data[0], data[1], np.uint32(0), _counters(shape))
    return hi ^ lo


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


def _unit_floats(key: jax.Array, shape: Shape) -> jax.Array:
    """Floats in [0, 1) from the top 23 bits, as jax.random.uniform makes them."""
    mantissa = lax.shift_right_logical(_bits32(key, shape), np.uint32(32 - 23))
    one = np.array(1.0, _F32)
    return lax.bitcast_convert_type(mantissa | one.view(np.uint32), _F32) - one


def _uniform_f32(key, shape, minval, maxval) -> jax.Array:
    minval = lax.convert_element_type(minval, _F32)
    maxval = lax.convert_element_type(maxval, _F32)
    return lax.max(minval, _unit_floats(key, shape) * (maxval - minval) + minval)


def _normal_f32(key, shape) -> jax.Array:
    lo = np.nextafter(np.array(-1.0, _F32), np.array(0.0, _F32))
    u = _uniform_f32(key, shape, lo, np.array(1.0, _F32))
    return lax.mul(np.array(np.sqrt(2), _F32), lax.erf_inv(u))


def _truncated_normal_f32(key, shape, lower, upper) -> jax.Array:
    sqrt2 = np.array(np.sqrt(2), _F32)
    lower = lax.convert_element_type(lower, _F32)
    upper = lax.convert_element_type(upper, _F32)
    a, b = lax.erf(lower / sqrt2), lax.erf(upper / sqrt2)
    return _inside_open(sqrt2 * lax.erf_inv(_uniform_f32(key, shape, a, b)), lower, upper, _F32)


def _inside_open(x, lower, upper, dtype) -> jax.Array:
    """Clamps ``x`` into the open interval ``(lower, upper)``, as jax does:
    rounding can reach the bounds."""
    return jnp.clip(
        x,
        lax.nextafter(lower, np.array(np.inf, dtype)),
        lax.nextafter(upper, np.array(-np.inf, dtype)),
    )


#: Standard deviation of a standard normal truncated to (-2, 2).
TRUNCATED_NORMAL_STD = 0.87962566103423978

#: Root mean square modulus of a standard complex normal (E|z|^2 = 1) whose
#: modulus is truncated to 2: |z|^2 is Exp(1) truncated to [0, 4], whose mean is
#: (1 - 5 e^-4) / (1 - e^-4).
COMPLEX_TRUNCATED_NORMAL_STD = math.sqrt((1 - 5 * math.exp(-4)) / (1 - math.exp(-4)))


def truncated_normal_std(lower: float, upper: float) -> float:
    r"""Standard deviation of a standard normal truncated to ``(lower, upper)``.

    With :math:`Z = \Phi(b) - \Phi(a)`, the variance is
    :math:`1 + (a\varphi(a) - b\varphi(b))/Z - ((\varphi(a) - \varphi(b))/Z)^2`
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


def normal(key: jax.Array, shape: Shape, dtype: np.dtype) -> jax.Array:
    """Standard normal values; the bits of ``jax.random.normal`` for real dtypes.

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
        real = np.finfo(dtype).dtype
        key_re, key_im = jax.random.split(key)
        half = np.array(np.sqrt(0.5), real)
        return lax.complex(normal(key_re, shape, real) * half, normal(key_im, shape, real) * half)
    if not fused(key, shape, dtype):
        return _draw(lambda s: jax.random.normal(key, s, dtype), shape)
    return _draw(lambda s: _normal_f32(key, s), shape)


def _tails_need_care(lower: float, upper: float) -> bool:
    """Whether inverting erf loses the distribution (jax issue 10951).

    jax maps a uniform through ``erf_inv`` between ``erf(lower/sqrt2)`` and
    ``erf(upper/sqrt2)``. Beyond about 3 standard deviations both ends crowd
    against +-1, where float32 holds only a few values (10 distinct values for
    (5, 6)), and an infinite bound makes ``erf_inv(-1) = -inf`` reachable. Such
    intervals go through :func:`_truncated_normal_tail`; every interval with
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
    p = uniform(key, shape, dtype, p_lo, p_hi)
    x = ndtri(jnp.maximum(p, np.array(tiny, dtype)))
    x = -x if mirror else x
    return _inside_open(x, np.array(lower, dtype), np.array(upper, dtype), dtype)


def truncated_normal(
    key: jax.Array, lower: float, upper: float, shape: Shape, dtype: np.dtype
) -> jax.Array:
    """Standard normal truncated to ``(lower, upper)``.

    For finite bounds not wholly beyond 3 standard deviations, the bits of
    ``jax.random.truncated_normal``. Far tails (``lower >= 3`` or ``upper <= -3``)
    and infinite bounds use :func:`_truncated_normal_tail` instead, which keeps
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
    if _tails_need_care(float(lower), float(upper)):
        return _draw(lambda s: _truncated_normal_tail(key, s, lower, upper, dtype), shape)
    if not fused(key, shape, dtype):
        return _draw(lambda s: jax.random.truncated_normal(key, lower, upper, s, dtype), shape)
    return _draw(lambda s: _truncated_normal_f32(key, s, lower, upper), shape)


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
    q, r = jnp.linalg.qr(z)
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
