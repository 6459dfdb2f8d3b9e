"""Argument checks shared by every builder.

Each check names the builder and the argument, shows the value it got and says
what is allowed, so a bad argument never reaches XLA.
"""

from __future__ import annotations

import contextlib
import math
import operator
from collections.abc import Iterator, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import core as jax_core

Axes = int | tuple[int, ...]


def _is_tracer(value: Any) -> bool:
    return isinstance(value, jax_core.Tracer)


def real_number(
    builder: str,
    arg: str,
    value: Any,
    *,
    minimum: float | None = None,
    strict: bool = False,
    allow_inf: bool = False,
) -> float:
    """Returns ``value`` as a Python float, or raises naming builder and argument.

    Accepts Python and NumPy real scalars and concrete 0-d arrays. Rejects bools,
    strings, complex numbers, non-scalar arrays, traced values and NaN (and
    infinities unless ``allow_inf``). ``minimum`` is inclusive unless ``strict``.
    """
    if _is_tracer(value):
        raise TypeError(
            f"{builder}: `{arg}` must be a concrete real number, got a traced value "
            f"{value!r}; build the initializer outside jax.jit or pass a Python float."
        )
    if isinstance(value, (bool, np.bool_)) or isinstance(value, (str, bytes)):
        raise TypeError(f"{builder}: `{arg}` must be a real number, got {value!r}.")
    if np.ndim(value) != 0:
        raise TypeError(
            f"{builder}: `{arg}` must be a real scalar, got an array of shape {np.shape(value)}."
        )
    try:
        array = np.asarray(value)
    except Exception:  # noqa: BLE001 - anything unconvertible is a type error
        array = None
    if array is None or not (
        np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)
    ):
        raise TypeError(f"{builder}: `{arg}` must be a real number, got {value!r}.")
    number = float(array)
    if math.isnan(number) and allow_inf:
        raise ValueError(f"{builder}: `{arg}` must not be NaN, got {value!r}.")
    if math.isnan(number) or (math.isinf(number) and not allow_inf):
        raise ValueError(f"{builder}: `{arg}` must be finite, got {value!r}.")
    if minimum is not None:
        if strict and not number > minimum:
            raise ValueError(f"{builder}: `{arg}` must be > {minimum:g}, got {value!r}.")
        if not strict and not number >= minimum:
            raise ValueError(f"{builder}: `{arg}` must be >= {minimum:g}, got {value!r}.")
    return number


def is_traced(value: Any) -> bool:
    """Whether ``value`` is a traced value (an argument under jit, vmap, grad, ...)."""
    return _is_tracer(value)


def real_or_traced(builder: str, arg: str, value: Any, **checks: Any) -> Any:
    """`real_number` for a concrete ``value``; a traced real scalar as it is.

    A traced argument (``normal(s)`` with ``s`` swept under ``jax.vmap`` or
    ``jax.jit``, as jax.nn's builders allow) has no value to check: only its
    shape and dtype are, and the initializer built from it runs only traced.
    """
    if not _is_tracer(value):
        return real_number(builder, arg, value, **checks)
    if np.ndim(value) != 0:
        raise TypeError(
            f"{builder}: `{arg}` must be a real scalar, got a traced value of shape "
            f"{np.shape(value)}."
        )
    dt = np.dtype(value.dtype)
    if not (jnp.issubdtype(dt, np.floating) or jnp.issubdtype(dt, np.integer)):
        raise TypeError(
            f"{builder}: `{arg}` must be a real number, got a traced value of dtype {dt.name}."
        )
    return value


def interval(
    builder: str, lo_arg: str, lo: Any, hi_arg: str, hi: Any, *, allow_inf: bool = False
) -> tuple[float, float]:
    """Returns the bounds ``(lo, hi)`` as floats, or raises unless ``lo < hi``."""
    lo_f = real_number(builder, lo_arg, lo, allow_inf=allow_inf)
    hi_f = real_number(builder, hi_arg, hi, allow_inf=allow_inf)
    if not lo_f < hi_f:
        raise ValueError(
            f"{builder}: `{lo_arg}` must be < `{hi_arg}`, got {lo_arg}={lo!r}, {hi_arg}={hi!r}."
        )
    return lo_f, hi_f


def integer(builder: str, arg: str, value: Any) -> int:
    """Returns ``value`` as a Python int; bools, floats and tracers are rejected."""
    if isinstance(value, (bool, np.bool_)) or _is_tracer(value):
        raise TypeError(f"{builder}: `{arg}` must be an integer, got {value!r}.")
    try:
        return operator.index(value)
    except TypeError:
        raise TypeError(f"{builder}: `{arg}` must be an integer, got {value!r}.") from None


def axes(builder: str, arg: str, value: Any) -> Axes:
    """Returns an axis argument as an int or a tuple of distinct ints."""
    if isinstance(value, Sequence) and not isinstance(value, (str, bytes)):
        items = tuple(integer(builder, arg, v) for v in value)
        if len(set(items)) != len(items):
            raise ValueError(f"{builder}: `{arg}` must not repeat an axis, got {value!r}.")
        return items
    if isinstance(value, np.ndarray) and value.ndim == 1:
        return axes(builder, arg, value.tolist())
    try:
        return integer(builder, arg, value)
    except TypeError:
        raise TypeError(
            f"{builder}: `{arg}` must be an integer or a sequence of integers, got {value!r}."
        ) from None


def axis_tuple(axes_: Axes) -> tuple[int, ...]:
    return (axes_,) if isinstance(axes_, int) else axes_


def disjoint_axes(builder: str, **named: Axes) -> None:
    """Raises if two axis arguments given with the same sign name the same axis.

    Axes of mixed sign can only be compared once the rank is known, which
    `normalize_axes` does at call time.
    """
    seen: dict[int, str] = {}
    for arg, value in named.items():
        for axis in axis_tuple(value):
            if axis in seen:
                raise ValueError(
                    f"{builder}: `{seen[axis]}` and `{arg}` both name axis {axis}; "
                    "an axis can be an input, an output or a batch axis, not two of them."
                )
            seen[axis] = arg


def normalize_axes(
    builder: str, shape: tuple[int, ...], **named: Axes
) -> dict[str, tuple[int, ...]]:
    """Maps each axis argument to non-negative axes of ``shape``, or raises."""
    rank = len(shape)
    out: dict[str, tuple[int, ...]] = {}
    owner: dict[int, str] = {}
    for arg, value in named.items():
        normalized = []
        for axis in axis_tuple(value):
            if not -rank <= axis < rank:
                described = ", ".join(f"{k}={v!r}" for k, v in named.items())
                allowed = f"Axes must lie in [-{rank}, {rank})." if rank else "It has no axes."
                raise ValueError(
                    f"{builder}: shape {shape} of rank {rank} has no axis {axis} "
                    f"(`{arg}`); got {described}. {allowed}"
                )
            axis %= rank
            if axis in owner:
                raise ValueError(
                    f"{builder}: `{owner[axis]}` and `{arg}` both name axis {axis} of "
                    f"shape {shape}; an axis can be an input, an output or a batch axis, "
                    "not two of them."
                )
            owner[axis] = arg
            normalized.append(axis)
        out[arg] = tuple(normalized)
    return out


#: What a call ``init(shape, dtype)`` (a forgotten key, or Haiku's calling
#: convention) most likely meant.
_NO_KEY = (
    "the call looks like `init(shape, dtype)`, without a key. Initializers are "
    "called as `init(key, shape, dtype)`; to use one as a Haiku `w_init`/`b_init`, "
    "wrap it: `jax_inits.haiku.to_haiku(init)`."
)


def _is_shape(value: Any) -> bool:
    """Whether ``value`` is a tuple or list of ints (a shape where it should not be)."""
    return isinstance(value, (tuple, list)) and all(
        isinstance(d, (int, np.integer)) and not isinstance(d, (bool, np.bool_)) for d in value
    )


def shape(builder: str, value: Any) -> tuple[int, ...]:
    """Returns ``value`` as a tuple of non-negative ints, or raises.

    Accepts an int, a sequence of ints and a concrete 1-d integer array
    (``jnp.array([64, 32])``, as jax accepts).
    """
    if isinstance(value, (type, np.dtype)) and is_dtype(value):  # init(shape, dtype)
        raise TypeError(
            f"{builder}: `shape` must be a sequence of non-negative integers, got the dtype "
            f"{np.dtype(value).name}; {_NO_KEY}"
        )
    if _is_tracer(value):
        raise TypeError(
            f"{builder}: `shape` must hold concrete integers, got a traced value {value!r}; "
            "shapes are static under jax.jit: pass a tuple of ints."
        )
    if isinstance(value, jax.Array):
        value = np.asarray(value)
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value[()]
    if isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_)):
        value = (value,)
    if isinstance(value, np.ndarray) and value.ndim > 1:
        raise TypeError(
            f"{builder}: `shape` must be a sequence of non-negative integers, got an array "
            f"of shape {value.shape}."
        )
    if not isinstance(value, (Sequence, np.ndarray)) or isinstance(value, (str, bytes)):
        raise TypeError(
            f"{builder}: `shape` must be a sequence of non-negative integers, got {value!r}."
        )
    dims = []
    for dim in value:
        if isinstance(dim, (bool, np.bool_)) or _is_tracer(dim):
            raise TypeError(f"{builder}: `shape` must hold concrete integers, got {value!r}.")
        try:
            dims.append(operator.index(dim))
        except TypeError:
            raise TypeError(f"{builder}: `shape` must hold integers, got {value!r}.") from None
    if any(d < 0 for d in dims):
        raise ValueError(f"{builder}: `shape` must hold non-negative sizes, got {tuple(dims)}.")
    return tuple(dims)


def is_dtype(value: Any) -> bool:
    """Whether ``np.dtype(value)`` accepts ``value``."""
    try:
        np.dtype(value)
    except TypeError:
        return False
    return True


def dtype(builder: str, value: Any, *, random: bool) -> np.dtype | None:
    """Returns a canonical NumPy dtype (``None`` stays ``None``), or raises TypeError.

    Random initializers need a floating or complex dtype; constant ones accept
    any numeric dtype, as ``jnp.full`` does.
    """
    if value is None:
        return None
    try:
        dt = np.dtype(value)
    except TypeError:
        raise TypeError(
            f"{builder}: `dtype` must be a floating or complex dtype, got {value!r}."
        ) from None
    allowed = (np.inexact,) if random else (np.inexact, np.integer, np.bool_)
    if not any(jax.numpy.issubdtype(dt, kind) for kind in allowed):
        wanted = "a floating or complex" if random else "a numeric"
        raise TypeError(f"{builder}: `dtype` must be {wanted} dtype, got {dt.name}.")
    if random and jax.numpy.issubdtype(dt, np.floating) and float(jax.numpy.finfo(dt).min) > 0:
        raise TypeError(
            f"{builder}: `dtype` must be a floating dtype with zero and negative values, "
            f"got {dt.name} (a scale format: powers of two only)."
        )
    return np.dtype(jax.dtypes.canonicalize_dtype(dt))


def key(builder: str, value: Any) -> None:
    """Raises TypeError unless ``value`` is a typed key or a raw uint32 key."""
    dt = getattr(value, "dtype", None)
    if dt is not None and jnp.issubdtype(dt, jax.dtypes.prng_key):
        if np.ndim(value) != 0:
            raise TypeError(
                f"{builder}: `key` must be a single key, got a key array of shape "
                f"{np.shape(value)}; use jax.vmap to sample with several keys."
            )
        return
    if dt is not None and np.dtype(dt) == np.uint32 and np.ndim(value) == 1:
        return
    if _is_shape(value):
        raise TypeError(
            f"{builder}: `key` must be a PRNG key from jax.random.key or "
            f"jax.random.PRNGKey, got the shape {tuple(value)}; {_NO_KEY}"
        )
    raise TypeError(
        f"{builder}: `key` must be a PRNG key from jax.random.key or "
        f"jax.random.PRNGKey, got {_describe(value)}."
    )


def _is_key(value: Any) -> bool:
    dt = getattr(value, "dtype", None)
    return dt is not None and jax.dtypes.issubdtype(dt, jax.dtypes.prng_key)  # pyright: ignore[reportPrivateImportUsage]


def _is_raw_key(value: Any) -> bool:
    dt = getattr(value, "dtype", None)
    return isinstance(value, jax.Array) and dt == np.uint32 and np.shape(value) == (2,)


def builder_args(name: str, args: tuple) -> None:
    """Raises TypeError if a builder's positional arguments are an initializer's:
    a key first (``he_normal(key, shape)``, or ``kernel_init=he_normal`` without
    the parentheses, which flax then calls as ``he_normal(key, shape, dtype)``)."""
    if args and (
        _is_key(args[0]) or (_is_raw_key(args[0]) and len(args) > 1 and _is_shape(args[1]))
    ):
        raise TypeError(
            f"{name}: `{name}` is a builder, not an initializer: call it first, "
            f"`{name}()` (with its hyper-parameters), and pass the result (e.g. "
            f"`kernel_init=jax_inits.{name}()`); it was called with a PRNG key as if it "
            "were the initializer."
        )


def initializer(builder: str, arg: str, value: Any) -> None:
    """Raises TypeError unless ``value`` is callable and not a jax_inits builder."""
    built = getattr(value, "_jax_inits_builder", None)
    if built is not None:
        raise TypeError(
            f"{builder}: `{arg}` must be an initializer, got the builder `{built}`: "
            f"call it first, `{built}()`."
        )
    if not callable(value):
        raise TypeError(f"{builder}: `{arg}` must be an initializer, got {value!r}.")


def _describe(value: Any) -> str:
    if hasattr(value, "dtype") and hasattr(value, "shape"):
        return f"an array of dtype {value.dtype} and shape {tuple(value.shape)}"
    return repr(value)


# The pip package and jax-inits extra of each optional module the package imports lazily.
_OPTIONAL: dict[str, tuple[str, str]] = {
    "flax": ("flax", "frameworks"),
    "equinox": ("equinox", "frameworks"),
    "haiku": ("dm-haiku", "frameworks"),
    "optax": ("optax", "cli"),
}


@contextlib.contextmanager
def needs(fn: str, module: str) -> Iterator[None]:
    """Within: importing the optional ``module`` (a key of ``_OPTIONAL``) that is not
    installed raises a ``ModuleNotFoundError`` that names ``fn``, the package and
    the jax-inits extra to install."""
    try:
        yield
    except ModuleNotFoundError as error:
        if (error.name or "").split(".")[0] != module:
            raise
        package, extra = _OPTIONAL[module]
        raise ModuleNotFoundError(
            f"{fn} needs {module} (the package {package!r}), which is not installed: "
            f"pip install 'jax-inits[{extra}]' (or pip install {package}).",
            name=error.name,
        ) from error
