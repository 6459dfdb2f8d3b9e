"""Dtypes: the default float, the dtype values are drawn in, and the bounds that
survive rounding to the output dtype.

Random values are drawn in float32 for 8/16-bit floats (`work_dtype`) and
rounded once to the output dtype. Rounding to nearest can land *on* a bound
(``truncated_normal(1.0)`` reaching exactly ``-2.0`` in bfloat16) or, for a
bound beyond a float8 type's range, overflow to NaN. `inner_bounds` gives
the representable values of the output dtype to clip to first: rounding is
monotonic and leaves representable values alone, so a value clipped to them
stays inside the interval after rounding.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import numpy as np

from jax_inits._src import caches

Shape = tuple[int, ...]


class Interval(NamedTuple):
    """The real interval every value of an initializer lies in.

    ``open`` says which ends are excluded: jax draws truncated normals in the
    open interval $(\\mathrm{lower}, \\mathrm{upper})$ and uniforms in
    $[\\mathrm{minval}, \\mathrm{maxval})$. A zero-width interval (a zero scale)
    holds its one point whatever ``open`` says.

    The fields are ordered so that ``inner_bounds(*interval, dtype)`` reads as
    the call it is.
    """

    lo: float
    hi: float
    open: tuple[bool, bool] = (False, False)


#: Uniform draws: the lower end may be reached, the upper one never.
HALF_OPEN = (False, True)
#: Truncated normal draws: neither end is reached.
OPEN = (True, True)


def default_float_dtype() -> np.dtype:
    """float64 when ``jax_enable_x64`` is on, else float32 (as jax)."""
    return np.dtype(jax.dtypes.canonicalize_dtype(np.float64))


def work_dtype(dtype: np.dtype) -> np.dtype:
    """The dtype random values are computed in: float32 for 8/16-bit floats."""
    if jax.numpy.issubdtype(dtype, np.floating) and dtype.itemsize < 4:
        return np.dtype(np.float32)
    return dtype


@caches.lru("dtypes.finite_values", 64)
def _finite_values(dtype: np.dtype) -> np.ndarray:
    """Every finite value of an 8/16-bit float dtype, sorted, as float64.

    Enumerating the bit patterns holds for every format (fn, fnuz, e8m0, float4)
    without knowing its encoding. (``np.nextafter`` on these ml_dtypes scalars
    gives NaN.)
    """
    patterns = np.arange(1 << (8 * dtype.itemsize), dtype=np.uint64)
    with np.errstate(invalid="ignore"):  # the NaN patterns
        values = patterns.astype(f"u{dtype.itemsize}").view(dtype).astype(np.float64)
    return np.unique(values[np.isfinite(values)])


def _largest(dtype: np.dtype) -> float:
    return float(jax.numpy.finfo(dtype).max)


def _inward(x: float, dtype: np.dtype, up: bool, strict: bool) -> float | None:
    """The least value of ``dtype`` that is ``>= x`` (``> x`` if ``strict``) when
    ``up``, else the greatest ``<= x`` (``< x``); ``None`` if there is none."""
    if dtype.itemsize <= 2:
        values = _finite_values(dtype)
        if up:
            i = np.searchsorted(values, x, side="right" if strict else "left")
            return float(values[i]) if i < len(values) else None
        i = np.searchsorted(values, x, side="left" if strict else "right") - 1
        return float(values[i]) if i >= 0 else None
    largest = _largest(dtype)
    if up and x < -largest:
        return -largest
    if not up and x > largest:
        return largest
    if (up and x > largest) or (not up and x < -largest):
        return None
    v = np.array(x, dtype)  # the nearest value, no overflow: |x| <= largest
    if (float(v) < x if up else float(v) > x) or (strict and float(v) == x):
        v = np.nextafter(v, np.array(np.inf if up else -np.inf, dtype))
    return float(v) if np.isfinite(v) else None


def _describe(lo: float, hi: float, open: tuple[bool, bool]) -> str:
    return f"{'(' if open[0] else '['}{lo!r}, {hi!r}{')' if open[1] else ']'}"


def inner_bounds(
    lo: float, hi: float, open: tuple[bool, bool], dtype: Any, builder: str | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The least and the greatest value of ``dtype`` inside an interval.

    Ends in ``open`` are excluded: the bound itself is never returned for them,
    even where it is representable. Bounds beyond the finite range of ``dtype``
    (an infinite truncation bound, a float8 type's small range) give its largest
    finite value, so a value clipped to the result is never NaN or infinite.

    Args:
      lo: Lower end of the real interval (may be ``-inf``).
      hi: Upper end (may be ``inf``), ``>= lo``.
      open: Whether each end is excluded, ``(lo_open, hi_open)``.
      dtype: A real floating dtype, 8 to 64 bits (float8 and float4 types included).
      builder: Name for the error message.

    Returns:
      Two 0-d arrays of ``dtype``. A zero-width interval gives its point, rounded.

    Raises:
      ValueError: ``dtype`` has no value inside the interval.

    Examples:
      >>> from jax_inits._src.dtypes import inner_bounds
      >>> [float(b) for b in inner_bounds(-2.0, 2.0, (True, True), jnp.bfloat16)]
      [-1.9921875, 1.9921875]
      >>> [float(b) for b in inner_bounds(-1.0, 1.0, (False, True), jnp.float8_e4m3fn)]
      [-1.0, 0.9375]
    """
    dtype = np.dtype(dtype)
    if lo == hi:
        largest = _largest(dtype)
        point = np.array(min(max(lo, -largest), largest), dtype)
        return point, point
    lo_d = _inward(lo, dtype, up=True, strict=open[0])
    hi_d = _inward(hi, dtype, up=False, strict=open[1])
    if lo_d is None or hi_d is None or lo_d > hi_d:
        prefix = f"{builder}: " if builder else ""
        raise ValueError(
            f"{prefix}no {dtype.name} value lies inside the bounds {_describe(lo, hi, open)}; "
            "widen them or use a wider dtype."
        )
    return np.array(lo_d, dtype), np.array(hi_d, dtype)


def check_bounds(builder: str, bounds: Interval | None, dtype: np.dtype) -> None:
    """Raises ValueError, naming ``builder``, if ``dtype`` has no value inside
    ``bounds`` (an initializer's ``_bounds`` for the call's shape)."""
    if bounds is not None:
        inner_bounds(*bounds, dtype, builder=builder)
