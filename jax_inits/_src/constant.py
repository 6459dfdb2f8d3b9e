"""Constant initializers: ``zeros``, ``ones`` and ``constant(value)``.

``zeros`` and ``ones`` are initializers themselves (as in jax), not builders:

>>> jax_inits.zeros(jax.random.key(0), (2, 3))
Array([[0., 0., 0.],
       [0., 0., 0.]], dtype=float32)
>>> jax_inits.ones(jax.random.key(0), (3, 2), jnp.bfloat16)
Array([[1, 1],
       [1, 1],
       [1, 1]], dtype=bfloat16)
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import core as jax_core

from jax_inits._src import checks, registry
from jax_inits._src.base import InitializerBase


@dataclasses.dataclass(frozen=True, repr=False, eq=False)
class Constant(InitializerBase):
    """An initializer that fills the array with ``value`` (broadcast to the shape).

    ``zeros`` and ``ones`` are instances; `constant` builds others.

    >>> jax_inits.zeros(jax.random.key(0), (2,), jnp.int32)
    Array([0, 0], dtype=int32)
    """

    name: str = dataclasses.field(default="constant", compare=False, kw_only=True)
    random = False
    value: Any = 0.0
    dtype: np.dtype | None = None

    def _array(self) -> np.ndarray:
        return self.value if self.traced else np.asarray(self.value)

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        if self.traced or other.traced:  # a traced value has no value to compare
            return self is other
        a, b = self._array(), other._array()
        return (
            self.dtype == other.dtype
            and a.dtype == b.dtype
            and a.shape == b.shape
            and a.tobytes() == b.tobytes()
        )

    def __hash__(self) -> int:
        if self.traced:
            raise TypeError(f"{self.name}: an initializer built from a traced value is unhashable.")
        a = self._array()
        return hash((type(self), self.dtype, a.dtype.str, a.shape, a.tobytes()))

    @property
    def formula(self) -> str:
        a = self._array()
        return f"{a.item():g}" if a.ndim == 0 else f"array of shape {a.shape}"

    def target_std(self, shape) -> float:
        a = self._array()
        if a.ndim == 0 or not shape:
            return 0.0
        return float(np.std(np.broadcast_to(a, shape)))

    def density(self, shape, dtype=None):
        """``None``: the values are one number (or a fixed array), not a density."""
        self.check(shape, dtype)
        return None

    def _check_call(self, shape, dtype) -> None:
        value_shape = self._array().shape
        try:
            broadcast = np.broadcast_shapes(value_shape, shape)
        except ValueError:
            broadcast = None
        if broadcast != shape:
            raise ValueError(
                f"constant: `value` of shape {value_shape} does not broadcast to the "
                f"requested shape {shape}."
            )

    def _sample(self, key, shape, dtype) -> jax.Array:
        return jnp.full(shape, self._array(), dtype=dtype)


@registry.register(
    "constant",
    example=registry.args(0.5),
    equivalents={
        "torch": "constant_(w, v)",
        "keras": "Constant(v)",
        "haiku": "Constant(v)",
        "flax": "constant(v)",
    },
    traced=("value",),
)
def constant(value: Any, dtype: Any = None) -> Constant:
    """Builds an initializer that fills arrays with a constant ``value``.

    Same arguments as `jax.nn.initializers.constant`. The key is ignored.

    Args:
      value: A number, or an array that broadcasts to the requested shape. It is
        copied when the initializer is built.
      dtype: Default dtype of the result; ``None`` means float32 (float64 under
        ``jax_enable_x64``). Any numeric dtype is allowed.

    Returns:
      An initializer ``init(key, shape, dtype=None, out_sharding=None)``.

    Raises:
      TypeError: ``value`` is not numeric; ``dtype`` is not
        a numeric dtype.
      ValueError: ``value`` has NaN entries.

    Examples:
      >>> init = jax_inits.constant(-7)
      >>> init(jax.random.key(0), (2, 3))
      Array([[-7., -7., -7.],
             [-7., -7., -7.]], dtype=float32)
    """
    if isinstance(value, jax_core.Tracer):  # swept under jax.jit/vmap, as jax.nn allows
        if not jnp.issubdtype(value.dtype, np.number) and value.dtype != np.bool_:
            raise TypeError(f"constant: `value` must be numeric, got a traced value {value!r}.")
        return Constant(value, checks.dtype("constant", dtype, random=False))
    if isinstance(value, (str, bytes)) or value is None:
        raise TypeError(f"constant: `value` must be a number or an array, got {value!r}.")
    array = np.array(value)
    if not (
        np.issubdtype(array.dtype, np.number)
        or array.dtype == np.bool_
        or array.dtype == jnp.bfloat16
    ):
        raise TypeError(f"constant: `value` must be numeric, got {value!r}.")
    if np.issubdtype(array.dtype, np.inexact) and np.isnan(array).any():
        raise ValueError(f"constant: `value` must not be NaN, got {value!r}.")
    array.flags.writeable = False
    stored = array.item() if array.ndim == 0 else array
    return Constant(stored, checks.dtype("constant", dtype, random=False))


#: An initializer that returns an array of zeros (the key is ignored).
zeros = registry.register_ready(
    "zeros",
    Constant(0.0),
    equivalents={"torch": "zeros_", "keras": "Zeros()", "haiku": "Constant(0)", "flax": "zeros"},
)
#: An initializer that returns an array of ones (the key is ignored).
ones = registry.register_ready(
    "ones",
    Constant(1.0),
    equivalents={"torch": "ones_", "keras": "Ones()", "haiku": "Constant(1)", "flax": "ones"},
)
