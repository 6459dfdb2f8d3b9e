"""The initializer protocol and the base class every jax_inits initializer shares.

An initializer is an immutable value: equal hyper-parameters compare and hash
equal, so it can be a static argument of ``jax.jit`` and equal initializers built
in different places share compiled code. This module holds the value (repr,
config, formula, bounds); a call goes through :mod:`jax_inits._src.dispatch`,
the one call path, which checks the arguments, caches eager calls by signature
and context, and runs one executable.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar, Protocol, runtime_checkable

import jax
import numpy as np
from jax.sharding import NamedSharding, PartitionSpec

from jax_inits._src import dispatch, registry
from jax_inits._src.dispatch import resolve_sharding as resolve_sharding
from jax_inits._src.dtypes import Shape as Shape
from jax_inits._src.dtypes import default_float_dtype as default_float_dtype
from jax_inits._src.dtypes import inner_bounds as inner_bounds
from jax_inits._src.dtypes import work_dtype as work_dtype

OutSharding = NamedSharding | PartitionSpec | None


@runtime_checkable
class Initializer(Protocol):
    """What every initializer is: ``init(key, shape, dtype=None, out_sharding=None)``.

    The same protocol as :class:`jax.nn.initializers.Initializer`; jax's own
    initializers satisfy it too.

    Examples:
      >>> isinstance(jax_inits.he_normal(), jax_inits.Initializer)
      True
      >>> isinstance(jax.nn.initializers.he_normal(), jax_inits.Initializer)
      True
    """

    def __call__(
        self, key: jax.Array, shape: Any, dtype: Any = None, out_sharding: OutSharding = None
    ) -> jax.Array: ...


@dataclasses.dataclass(frozen=True, repr=False)
class InitializerBase:
    """Base class: value semantics, argument checks and the one-executable call.

    Subclasses are frozen dataclasses whose fields are the hyper-parameters. They
    implement :meth:`_sample` (traced; returns the array in ``work_dtype``) and may
    override :meth:`_check_call` (static shape checks), :meth:`_bounds` (real
    bounds the result must never cross, enforced in the output dtype) and, for
    draws elementwise in the flat index, :meth:`_scalars` with :meth:`_draw`.
    """

    name: ClassVar[str] = "initializer"
    random: ClassVar[bool] = True

    def __repr__(self) -> str:
        built = registry.built_repr(self)
        if built is not None:
            return built
        args = []
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if field.name == "dtype" and value is not None:
                value = np.dtype(value).name
            if field.default is not dataclasses.MISSING and value == field.default:
                continue
            args.append(f"{field.name}={value!r}")
        return f"{self.name}({', '.join(args)})"

    def __call__(
        self, key: Any, shape: Any, dtype: Any = None, out_sharding: OutSharding = None
    ) -> jax.Array:
        return dispatch.call(self, key, shape, dtype, out_sharding)

    @property
    def config(self) -> dict[str, Any]:
        """The builder's name and arguments as JSON values; see :func:`jax_inits.from_config`.

        Examples:
          >>> jax_inits.he_normal(batch_axis=0).config
          {'name': 'he_normal', 'args': {'batch_axis': 0}}
        """
        return registry.config_of(self)

    @property
    def formula(self) -> str:
        """The distribution in one line of plain text, e.g. ``N(0, 0.01^2)``."""
        raise NotImplementedError

    def target_std(self, shape: Any) -> float:
        """The standard deviation (complex: root mean square modulus) that the values
        of an array of ``shape`` have by construction."""
        raise NotImplementedError

    def resolve_dtype(self, dtype: Any = None) -> np.dtype:
        """The dtype a call with ``dtype`` returns: ``dtype``, else the builder's
        ``dtype``, else the default (float32, or complex64 for complex-only ones)."""
        if dtype is None:
            dtype = getattr(self, "dtype", None)
        return self._default_dtype() if dtype is None else np.dtype(dtype)

    def _default_dtype(self) -> np.dtype:
        """The dtype when neither the call nor the builder names one."""
        return default_float_dtype()

    def _check_call(self, shape: Shape, dtype: np.dtype) -> None:
        """Static checks of ``shape`` and ``dtype``; raise ValueError/TypeError."""

    def _bounds(self, shape: Shape, dtype: np.dtype) -> tuple[float, float] | None:
        """Real bounds every value lies in, or ``None`` (computed in ``work_dtype``)."""
        return None

    def _sample(self, key: jax.Array, shape: Shape, dtype: np.dtype) -> jax.Array:
        raise NotImplementedError

    def _scalars(self, shape: Shape, dtype: np.dtype) -> tuple[float, ...] | None:
        """The numbers through which ``shape`` enters the draw, for draws that are
        otherwise elementwise in the flat element index; ``None`` for the rest.

        Such a draw of ``shape`` is the first ``prod(shape)`` values of a flat draw
        of any larger size given the same numbers, which lets eager calls share
        one executable per size bucket (see :func:`_bucket_runner`).
        """
        return None

    def _draw(self, key: jax.Array, shape: Shape, dtype: np.dtype, scalars: tuple) -> jax.Array:
        """:meth:`_sample` with :meth:`_scalars` given (traced in bucket kernels)."""
        return self._sample(key, shape, dtype)
