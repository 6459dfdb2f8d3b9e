"""The sampling kernels every jax_inits initializer draws from.

Bit-identical to ``jax.random`` for threefry keys (partitionable mode, jax's
default) and compiled as one loop-free fusion; other keys and modes fall back to
``jax.random``.
"""

from jax_inits._src.sampling import bits as bits
from jax_inits._src.sampling import complex_truncated_normal as complex_truncated_normal
from jax_inits._src.sampling import complex_uniform_disk as complex_uniform_disk
from jax_inits._src.sampling import normal as normal
from jax_inits._src.sampling import orthogonal as orthogonal
from jax_inits._src.sampling import truncated_normal as truncated_normal
from jax_inits._src.sampling import uniform as uniform

__all__ = (
    "bits",
    "complex_truncated_normal",
    "complex_uniform_disk",
    "normal",
    "orthogonal",
    "truncated_normal",
    "uniform",
)
