"""Moment checks with tolerances derived from the sample size.

For n i.i.d. values with standard deviation s and kurtosis k, the sample std
has standard error about s * sqrt((k - 1) / (4 n)) <= s / sqrt(2 n) for the
distributions here (k <= 3), and the sample mean has standard error s / sqrt(n).
Every check allows 5 standard errors (a false failure rate below 1e-6 per
check), plus the rounding error of the output dtype where stated.
"""

import math

import numpy as np

SIGMAS = 5.0


def assert_mean_std(x, mean, std, *, extra_rel=0.0):
    """|mean - m| <= 5 s/sqrt(n) and |std/s - 1| <= 5/sqrt(2n) + extra_rel."""
    x = np.asarray(x, np.float64).ravel()
    n = x.size
    assert abs(x.mean() - mean) <= SIGMAS * std / math.sqrt(n) + abs(mean) * extra_rel, (
        x.mean(),
        mean,
    )
    rel = x.std() / std - 1
    assert abs(rel) <= SIGMAS / math.sqrt(2 * n) + extra_rel, (x.std(), std, rel)


def assert_complex_moments(z, power):
    """E|z|^2 = power, E z = 0 and E z^2 = 0 (circular), within 5 standard errors."""
    z = np.asarray(z, np.complex128).ravel()
    n = z.size
    sq = np.abs(z) ** 2
    assert abs(sq.mean() / power - 1) <= SIGMAS * sq.std() / power / math.sqrt(n), (
        sq.mean(),
        power,
    )
    assert abs(z.mean()) <= SIGMAS * math.sqrt(power / n)
    assert abs((z * z).mean()) <= SIGMAS * power / math.sqrt(n)
