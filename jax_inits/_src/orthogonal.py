"""Orthogonal initializers: ``orthogonal`` and ``delta_orthogonal``."""

from __future__ import annotations

import dataclasses
import math

import jax.numpy as jnp
import numpy as np

from jax_inits._src import checks, registry, sampling
from jax_inits._src.base import InitializerBase


def _column_axis(builder: str, shape: tuple[int, ...], column_axis: int) -> int:
    return checks.normalize_axes(builder, shape, column_axis=column_axis)["column_axis"][0]


@dataclasses.dataclass(frozen=True, repr=False)
class Orthogonal(InitializerBase):
    name: str = dataclasses.field(default="orthogonal", compare=False, kw_only=True)
    scale: float = 1.0
    column_axis: int = -1
    dtype: np.dtype | None = None

    formula = property(lambda self: f"{self.scale:g} * Haar orthogonal (rows x column_axis)")

    def target_std(self, shape) -> float:
        shape = tuple(shape)
        n_cols = shape[_column_axis(self.name, shape, self.column_axis)]
        return abs(self.scale) / math.sqrt(max(n_cols, math.prod(shape) // n_cols))

    def _check_call(self, shape, dtype):
        if len(shape) < 2:
            raise ValueError(f"{self.name}: needs a shape of rank >= 2, got shape {shape}.")
        _column_axis(self.name, shape, self.column_axis)

    def _sample(self, key, shape, dtype):
        axis = _column_axis(self.name, shape, self.column_axis)
        n_cols = shape[axis]
        n_rows = math.prod(shape) // n_cols
        q = sampling.orthogonal(key, n_rows, n_cols, dtype)
        q = q.reshape(shape[:axis] + shape[axis + 1 :] + (n_cols,))
        return jnp.array(self.scale, dtype) * jnp.moveaxis(q, -1, axis)


@dataclasses.dataclass(frozen=True, repr=False)
class DeltaOrthogonal(Orthogonal):
    """`Orthogonal`'s matrix over the last two axes at the centre tap, zeros elsewhere."""

    name: str = dataclasses.field(default="delta_orthogonal", compare=False, kw_only=True)

    formula = property(lambda self: f"{self.scale:g} * orthogonal at the centre tap, 0 elsewhere")

    def target_std(self, shape) -> float:
        shape = tuple(shape)
        return abs(self.scale) * math.sqrt(min(shape[-2:]) / math.prod(shape))

    def _check_call(self, shape, dtype):
        if len(shape) not in (3, 4, 5):
            raise ValueError(
                f"{self.name}: needs a convolution kernel of rank 3, 4 or 5 (spatial "
                f"axes, then in, out), got shape {shape}."
            )
        if shape[-1] < shape[-2]:
            raise ValueError(
                f"{self.name}: needs fan_in <= fan_out (shape[-2] <= shape[-1]), got shape {shape}."
            )
        _column_axis(self.name, shape[-2:], self.column_axis)

    def _sample(self, key, shape, dtype):
        matrix = super()._sample(key, shape[-2:], dtype)
        centre = tuple((k - 1) // 2 for k in shape[:-2])
        return jnp.zeros(shape, dtype).at[centre].set(matrix)


@registry.register(
    "orthogonal",
    equivalents={
        "torch": "orthogonal_(w, gain)",
        "keras": "Orthogonal(gain)",
        "haiku": "Orthogonal(scale)",
        "flax": "orthogonal(scale)",
    },
    kinds={"scale": "real", "column_axis": "int"},
    traced=("scale",),
)
def orthogonal(scale: float = 1.0, column_axis: int = -1, dtype=None) -> Orthogonal:
    r"""Builds an initializer of Haar-random orthogonal (unitary) matrices.

    The array is viewed as a matrix whose columns run along ``column_axis`` and
    whose rows are all other axes flattened; that matrix has orthonormal rows or
    columns, whichever are fewer, times ``scale``. Complex dtypes give unitary
    matrices. Same arguments and, for float32/float64, the same values (within
    float rounding) as `jax.nn.initializers.orthogonal`; 8/16-bit floats
    are computed in float32 and rounded.

    Args:
      scale: Multiplier of the orthogonal matrix (any real number).
      column_axis: The axis holding the columns.
      dtype: Default dtype of the result (floating or complex).

    Returns:
      An initializer ``init(key, shape, dtype=None, out_sharding=None)``.

    Raises:
      TypeError: ``column_axis`` is not an integer, ``scale`` not a number.
      ValueError: ``scale`` not finite. At call: rank < 2 or ``column_axis``
        outside the shape.

    Examples:
      >>> w = jax_inits.orthogonal()(jax.random.key(0), (64, 64))
      >>> bool(jnp.allclose(w.T @ w, jnp.eye(64), atol=1e-5))
      True

    References:
      Saxe et al., [Exact solutions to the nonlinear dynamics of learning in deep
      linear neural networks](https://arxiv.org/abs/1312.6120), 2014.
      Mezzadri, [How to generate random matrices from the classical compact
      groups](https://arxiv.org/abs/math-ph/0609050), 2007.
    """
    builder = "orthogonal"
    return Orthogonal(
        checks.real_or_traced(builder, "scale", scale),
        checks.integer(builder, "column_axis", column_axis),
        checks.dtype(builder, dtype, random=True),
    )


@registry.register(
    "delta_orthogonal",
    shape="conv",
    equivalents={"flax": "delta_orthogonal(scale)"},
    kinds={"scale": "real", "column_axis": "int"},
    traced=("scale",),
)
def delta_orthogonal(scale: float = 1.0, column_axis: int = -1, dtype=None) -> DeltaOrthogonal:
    r"""Builds a delta-orthogonal initializer for convolution kernels.

    The kernel (spatial axes, then ``in``, ``out``) is zero except at the centre
    tap, which holds an ``(in, out)`` orthogonal matrix as `orthogonal`
    builds it. Same arguments and values as
    `jax.nn.initializers.delta_orthogonal`.

    Args:
      scale: Multiplier of the orthogonal matrix.
      column_axis: Column axis of the ``(in, out)`` centre matrix (-2..1).
      dtype: Default dtype of the result (floating or complex).

    Returns:
      An initializer ``init(key, shape, dtype=None, out_sharding=None)``.

    Raises:
      TypeError: ``column_axis`` is not an integer, ``scale`` not a number.
      ValueError: ``scale`` not finite. At call: rank not 3, 4 or 5, or
        ``shape[-2] > shape[-1]``.

    Examples:
      >>> w = jax_inits.delta_orthogonal()(jax.random.key(0), (3, 3, 16, 16))
      >>> float(jnp.abs(w[0]).max())  # off-centre taps
      0.0
      >>> bool(jnp.allclose(w[1, 1].T @ w[1, 1], jnp.eye(16), atol=1e-5))
      True

    References:
      Xiao et al., [Dynamical Isometry and a Mean Field Theory of
      CNNs](https://arxiv.org/abs/1806.05393), 2018.
    """
    builder = "delta_orthogonal"
    return DeltaOrthogonal(
        checks.real_or_traced(builder, "scale", scale),
        checks.integer(builder, "column_axis", column_axis),
        checks.dtype(builder, dtype, random=True),
    )
