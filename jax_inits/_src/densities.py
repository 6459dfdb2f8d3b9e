"""Probability densities of one value, for diagnostics (numpy only).

The families' `jax_inits._src.base.InitializerBase.density` return these.
"""

from __future__ import annotations

import math
import operator

import numpy as np


def normal_pdf(x, mean: float, std: float):
    """The density of $\\mathcal{N}(\\mathrm{mean}, \\mathrm{std}^2)$ at ``x``."""
    return np.exp(-0.5 * ((x - mean) / std) ** 2) / (std * math.sqrt(2 * math.pi))


def truncated_normal_pdf(x, mean: float, std: float, lower: float, upper: float):
    """The density at ``x`` of $\\mathcal{N}(\\mathrm{mean}, \\mathrm{std}^2)$ conditioned
    on $[\\mathrm{mean} + \\mathrm{lower} \\cdot \\mathrm{std}, \\mathrm{mean} + \\mathrm{upper}
    \\cdot \\mathrm{std}]$."""
    phi = operator.sub(*(0.5 * math.erfc(-b / math.sqrt(2)) for b in (upper, lower)))
    lo, hi = mean + lower * std, mean + upper * std
    return np.where((x >= lo) & (x <= hi), normal_pdf(x, mean, std) / phi, 0.0)


def uniform_pdf(x, lo: float, hi: float):
    """The density of $U[\\mathrm{lo}, \\mathrm{hi}]$ at ``x``."""
    return np.where((x >= lo) & (x <= hi), 1.0 / (hi - lo), 0.0)
