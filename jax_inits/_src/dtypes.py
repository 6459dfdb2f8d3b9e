"""Dtype rules shared by every family: defaults, the work dtype and bounds."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

Shape = tuple[int, ...]


def default_float_dtype() -> np.dtype:
    """float64 when ``jax_enable_x64`` is on, else float32 (as jax)."""
    return np.dtype(jax.dtypes.canonicalize_dtype(np.float64))


def work_dtype(dtype: np.dtype) -> np.dtype:
    """The dtype random values are computed in: float32 for 8/16-bit floats."""
    if jnp.issubdtype(dtype, np.floating) and dtype.itemsize < 4:
        return np.dtype(np.float32)
    return dtype


def inner_bounds(lo: float, hi: float, dtype: np.dtype) -> tuple[Any, Any]:
    """The closest values of ``dtype`` inside the real interval ``[lo, hi]``."""
    lo_d, hi_d = np.array(lo, dtype), np.array(hi, dtype)
    if float(lo_d) < lo:
        lo_d = np.nextafter(lo_d, np.array(np.inf, dtype))
    if float(hi_d) > hi:
        hi_d = np.nextafter(hi_d, np.array(-np.inf, dtype))
    return lo_d, hi_d
