"""The initializer protocol and the base class every jax_inits initializer shares.

An initializer is an immutable value: equal hyper-parameters compare and hash
equal, so it can be a static argument of ``jax.jit`` and equal initializers built
in different places share compiled code. This module holds the value (repr,
config, formula, bounds); a call goes through `jax_inits._src.dispatch`,
the one call path, which checks the arguments, caches eager calls by signature
and context, and runs one executable.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable
from typing import Any, ClassVar, Protocol, runtime_checkable

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import NamedSharding, PartitionSpec

from jax_inits._src import checks, densities, dispatch, registry
from jax_inits._src.dispatch import resolve_sharding as resolve_sharding
from jax_inits._src.dtypes import Interval as Interval
from jax_inits._src.dtypes import Shape as Shape
from jax_inits._src.dtypes import default_float_dtype as default_float_dtype
from jax_inits._src.dtypes import inner_bounds as inner_bounds
from jax_inits._src.dtypes import work_dtype as work_dtype

OutSharding = NamedSharding | PartitionSpec | None


@runtime_checkable
class Initializer(Protocol):
    """What every initializer is: ``init(key, shape, dtype=None, out_sharding=None)``.

    The same protocol as `jax.nn.initializers.Initializer`; jax's own
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


def display_name(default: str) -> Any:
    """The ``name`` field of an initializer class, ``default`` until a builder sets it.

    The registered builder that makes an initializer gives it its own name
    (`jax_inits._src.registry.register`), the one its messages and repr
    show. The name is left out of equality and hashing: equal hyper-parameters
    draw the same bits whichever builder made them (``kaiming_normal() ==
    he_normal()``), so they compare equal and share compiled code.
    """
    return dataclasses.field(default=default, compare=False, kw_only=True)


def _nan_for_zero_size(target_std: Callable[..., float]) -> Callable[..., float]:
    """``target_std`` of a subclass, nan for a shape with no elements: the one
    place a zero-size draw's std is defined (its fans may be 0)."""

    @functools.wraps(target_std)
    def wrapped(self, shape: Any) -> float:
        if isinstance(shape, (tuple, list)) and 0 in shape:
            return math.nan
        return target_std(self, shape)

    wrapped._zero_size_nan = True  # type: ignore[attr-defined]
    return wrapped


@dataclasses.dataclass(frozen=True, repr=False)
class InitializerBase:
    """Base class: value semantics, argument checks and the one-executable call.

    Subclasses are frozen dataclasses whose fields are the hyper-parameters. They
    implement `_sample` (traced; returns the array in ``work_dtype``) and may
    override `_check_call` (static shape checks), `_bounds` (real
    bounds the result must never cross, enforced in the output dtype) and, for
    draws elementwise in the flat index, `_scalars` with `_draw`.
    """

    random: ClassVar[bool] = True
    name: str = dataclasses.field(default="initializer", compare=False, kw_only=True)
    #: ``(builder name, arguments)`` as the registered builder was called (``None``
    #: for a ready initializer's arguments); set by that builder, not compared.
    built: tuple[str, dict[str, Any] | None] | None = dataclasses.field(
        default=None, compare=False, kw_only=True
    )

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        own = cls.__dict__.get("target_std")
        if own is not None and not getattr(own, "_zero_size_nan", False):
            cls.target_std = _nan_for_zero_size(own)  # pyright: ignore[reportAttributeAccessIssue]

    def __repr__(self) -> str:
        built = registry.built_repr(self)
        if built is not None:
            return built
        args = []
        for field in dataclasses.fields(self):
            if field.name in ("name", "built"):
                continue
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

    @functools.cached_property
    def traced(self) -> bool:
        """Whether a hyper-parameter is a traced value (the builder was called
        under ``jax.jit``/``vmap`` with a traced argument).

        Such an initializer runs only inside that transformation, draws without
        the bounds enforcement that needs the value, and has no config or hash.
        """
        return any(checks.is_traced(getattr(self, f.name)) for f in dataclasses.fields(self))

    @property
    def config(self) -> dict[str, Any]:
        """The builder's name and arguments as JSON values; see `jax_inits.from_config`.

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
        of an array of ``shape`` have by construction; nan where ``shape`` has no
        elements (a draw with no values has no std, and its fans may be 0)."""
        raise NotImplementedError

    def check(self, shape: Any, dtype: Any = None) -> tuple[Shape, np.dtype]:
        """Runs the static checks of a call ``init(key, shape, dtype)`` without drawing.

        Returns:
          The checked shape (a tuple of ints) and the dtype the call returns.

        Raises:
          ValueError, TypeError: where the call would, with the same message.

        Examples:
          >>> jax_inits.he_normal().check([3, 3, 16, 32], "bfloat16")
          ((3, 3, 16, 32), dtype(bfloat16))
          >>> jax_inits.orthogonal().check((8,))
          Traceback (most recent call last):
          ValueError: orthogonal: needs a shape of rank >= 2, got shape (8,).
        """
        shape = checks.shape(self.name, shape)
        dtype = self.resolve_dtype(checks.dtype(self.name, dtype, random=self.random))
        self._check_call(shape, dtype)
        return shape, dtype

    def bounds(self, shape: Any, dtype: Any = None) -> tuple[float, float] | None:
        """The real interval every value of ``init(key, shape, dtype)`` lies in, or
        ``None`` where the values are unbounded (and for complex dtypes).

        The bounds the call clips to, computed in the dtype the values are drawn
        in; runs the call's static checks first (see `check`).

        Examples:
          >>> jax_inits.truncated_normal(0.5).bounds((4, 4))
          (-1.0, 1.0)
          >>> jax_inits.normal().bounds((4, 4)) is None
          True
        """
        shape, dtype = self.check(shape, dtype)
        if jnp.issubdtype(dtype, np.complexfloating):
            return None
        found = self._bounds(shape, work_dtype(dtype))
        return None if found is None else (float(found[0]), float(found[1]))

    def density(self, shape: Any, dtype: Any = None) -> tuple[Callable[..., Any], str] | None:
        """The density of one value of ``init(key, shape, dtype)``, and a label for it.

        Exact where the family knows it (normal, truncated normal, uniform, the
        real variance-scaling presets); otherwise the normal density with the
        target std, labelled as a reference (the entries of a Haar orthogonal
        $n \\times n$ matrix are close to $\\mathcal{N}(0, 1/n)$ for large $n$). For
        complex dtypes, a normal reference for the real part (std
        $\\sigma / \\sqrt{2}$). ``None`` where the target std is 0 (constants).
        Runs the call's static checks first (see `check`).

        Examples:
          >>> pdf, label = jax_inits.uniform(2.0).density((3, 3))
          >>> label, float(pdf(np.array(1.0)))
          ('U[0, 2)', 0.5)
        """
        shape, dtype = self.check(shape, dtype)
        if not math.prod(shape):  # no values, no density
            return None
        complex_ = jnp.issubdtype(dtype, np.complexfloating)
        exact = None if complex_ else self._density(shape)
        if exact is not None:
            return exact
        target = self.target_std(shape)
        if not target:
            return None
        std = target / math.sqrt(2) if complex_ else target
        label = f"N(0, {std:.4g}^2) reference" + (", real part" if complex_ else "")
        return functools.partial(densities.normal_pdf, mean=0.0, std=std), label

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

    def _bounds(self, shape: Shape, dtype: np.dtype) -> Interval | None:
        """The interval every value lies in, open or closed at each end, or ``None``
        (computed in ``work_dtype``; enforced in the output dtype)."""
        return None

    def _density(self, shape: Shape) -> tuple[Callable[..., Any], str] | None:
        """The exact density of one real value and its label, or ``None`` where the
        family does not know it (then `density` shows a normal reference)."""
        return None

    def _sample(self, key: jax.Array, shape: Shape, dtype: np.dtype) -> jax.Array:
        raise NotImplementedError

    def _sample_traced(self, key: jax.Array, shape: Shape, dtype: np.dtype) -> jax.Array:
        """`_sample` for an initializer built from a traced argument (`traced`).

        A family whose jax.nn counterpart takes that argument overrides it with
        jax.nn's own operations in jax.nn's order: with the multiplier a runtime
        value, XLA cannot fold it into the draw's constants as it does for a
        concrete one, so the order of the products decides the last bit.
        """
        return self._sample(key, shape, dtype)

    def _scalars(self, shape: Shape, dtype: np.dtype) -> tuple[float, ...] | None:
        """The numbers through which ``shape`` enters the draw, for draws that are
        otherwise elementwise in the flat element index; ``None`` for the rest.

        Such a draw of ``shape`` is the first ``prod(shape)`` values of a flat draw
        of any larger size given the same numbers, which lets eager calls share
        one executable per size bucket (see `_bucket_runner`).
        """
        return None

    def _draw(self, key: jax.Array, shape: Shape, dtype: np.dtype, scalars: tuple) -> jax.Array:
        """`_sample` with `_scalars` given (traced in bucket kernels)."""
        return self._sample(key, shape, dtype)
