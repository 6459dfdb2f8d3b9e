"""The sampling kernels every initializer family draws from.

Real samplers produce exactly the bits of the ``jax.random`` function of the same
name for the same key, shape and dtype. The complex samplers are the ones
``jax.nn.initializers.variance_scaling`` uses, with their split of the key into
(modulus, phase) kept so that correct-by-jax paths stay bit-identical.
"""

from __future__ import annotations

import contextlib
import math
import threading

import jax
import jax.numpy as jnp
import numpy as np

Shape = tuple[int, ...]

_layout = threading.local()


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
    pdf = lambda x: math.exp(-x * x / 2) / math.sqrt(2 * math.pi)  # noqa: E731
    mass = (math.erf(upper / math.sqrt(2)) - math.erf(lower / math.sqrt(2))) / 2
    shift = (pdf(lower) - pdf(upper)) / mass
    return math.sqrt(1 + (lower * pdf(lower) - upper * pdf(upper)) / mass - shift * shift)


def uniform(
    key: jax.Array, shape: Shape, dtype: np.dtype, minval: float = 0.0, maxval: float = 1.0
) -> jax.Array:
    """Uniform values in ``[minval, maxval)``; the bits of ``jax.random.uniform``."""
    return _draw(lambda s: jax.random.uniform(key, s, dtype, minval, maxval), shape)


def normal(key: jax.Array, shape: Shape, dtype: np.dtype) -> jax.Array:
    """Standard normal values (complex: E|z|^2 = 1); the bits of ``jax.random.normal``."""
    return _draw(lambda s: jax.random.normal(key, s, dtype), shape)


def truncated_normal(
    key: jax.Array, lower: float, upper: float, shape: Shape, dtype: np.dtype
) -> jax.Array:
    """Standard normal truncated to ``(lower, upper)``; ``jax.random.truncated_normal``."""
    return _draw(lambda s: jax.random.truncated_normal(key, lower, upper, s, dtype), shape)


def orthogonal(key: jax.Array, n: int, m: int, dtype: np.dtype) -> jax.Array:
    """A Haar-random ``(n, m)`` matrix with orthonormal rows or columns
    (unitary for complex dtypes); ``jax.random.orthogonal``."""
    return jax.random.orthogonal(key, n, (), dtype, m)


def _polar(key: jax.Array, modulus, shape: Shape, dtype: np.dtype) -> jax.Array:
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
    """
    return _polar(key, lambda u: jnp.sqrt(2 * u), shape, dtype)


def complex_truncated_normal(
    key: jax.Array, upper: float, shape: Shape, dtype: np.dtype
) -> jax.Array:
    """Standard complex normal (E|z|^2 = 1 before truncation) with modulus < ``upper``.

    The squared modulus of a standard complex normal is Exp(1). Truncated to
    ``[0, upper^2]`` its CDF is ``(1 - e^{-s}) / (1 - e^{-upper^2})``; inverting it
    gives ``r^2 = -log1p(-u (1 - e^{-upper^2}))`` for uniform ``u``. The phase is
    uniform and independent.
    """
    mass = -math.expm1(-upper * upper)
    return _polar(key, lambda u: jnp.sqrt(-jnp.log1p(-mass * u)), shape, dtype)
