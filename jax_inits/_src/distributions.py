"""Fixed-scale distributions: ``uniform``, ``uniform_range``, ``normal``,
``truncated_normal``.

For float32/float64 these produce the bits of the ``jax.nn.initializers``
builder of the same name (under ``jax.jit``); 8/16-bit floats are sampled in
float32 and rounded once.
"""

from __future__ import annotations

import dataclasses
import functools
import math

import jax
import jax.numpy as jnp
import numpy as np

from jax_inits._src import checks, densities, registry, sampling
from jax_inits._src.base import InitializerBase
from jax_inits._src.dtypes import HALF_OPEN, OPEN, Interval, check_bounds, work_dtype


def require_real(builder: str, dtype: np.dtype) -> None:
    """Raises TypeError for a complex ``dtype`` in a real-only initializer."""
    if jnp.issubdtype(dtype, np.complexfloating):
        raise TypeError(
            f"{builder}: `dtype` must be a floating dtype, got {dtype.name}; complex "
            "arrays come from variance_scaling, normal or orthogonal."
        )


def _nonzero(value) -> bool:
    """Whether a (possibly traced) hyper-parameter may be non-zero."""
    return checks.is_traced(value) or value != 0


@dataclasses.dataclass(frozen=True, repr=False)
class Uniform(InitializerBase):
    name: str = dataclasses.field(default="uniform", compare=False, kw_only=True)
    scale: float = 1e-2
    dtype: np.dtype | None = None

    formula = property(lambda self: f"U[0, {self.scale:g})")

    def target_std(self, shape) -> float:
        return self.scale / math.sqrt(12)

    def _check_call(self, shape, dtype):
        require_real(self.name, dtype)
        if not self.traced:
            check_bounds(self.name, self._bounds(shape, work_dtype(dtype)), dtype)

    def _bounds(self, shape, dtype):
        return Interval(0.0, self.scale, HALF_OPEN)

    def _density(self, shape):
        return functools.partial(densities.uniform_pdf, lo=0.0, hi=self.scale), self.formula

    def _sample(self, key, shape, dtype):
        return sampling.uniform(key, shape, dtype) * jnp.array(self.scale, dtype)

    def _scalars(self, shape, dtype):
        return ()


@dataclasses.dataclass(frozen=True, repr=False)
class UniformRange(InitializerBase):
    name: str = dataclasses.field(default="uniform_range", compare=False, kw_only=True)
    minval: float = -1.0
    maxval: float = 1.0
    dtype: np.dtype | None = None

    formula = property(lambda self: f"U[{self.minval:g}, {self.maxval:g})")

    def target_std(self, shape) -> float:
        return (self.maxval - self.minval) / math.sqrt(12)

    def _check_call(self, shape, dtype):
        require_real(self.name, dtype)
        check_bounds(self.name, self._bounds(shape, work_dtype(dtype)), dtype)

    def _bounds(self, shape, dtype):
        return Interval(self.minval, self.maxval, HALF_OPEN)

    def _density(self, shape):
        pdf = functools.partial(densities.uniform_pdf, lo=self.minval, hi=self.maxval)
        return pdf, self.formula

    def _sample(self, key, shape, dtype):
        return sampling.uniform(key, shape, dtype, self.minval, self.maxval)

    def _scalars(self, shape, dtype):
        return ()


@dataclasses.dataclass(frozen=True, repr=False)
class Normal(InitializerBase):
    name: str = dataclasses.field(default="normal", compare=False, kw_only=True)
    stddev: float = 1e-2
    dtype: np.dtype | None = None
    mean: float = 0.0

    formula = property(lambda self: f"N({self.mean:g}, {self.stddev:g}^2)")

    def target_std(self, shape) -> float:
        return self.stddev

    def _density(self, shape):
        pdf = functools.partial(densities.normal_pdf, mean=self.mean, std=self.stddev)
        return pdf, self.formula

    def _sample(self, key, shape, dtype):
        if jnp.issubdtype(dtype, np.complexfloating):
            x = sampling.normal(key, shape, dtype, self.stddev)
        else:
            x = sampling.normal(key, shape, dtype, jnp.array(self.stddev, dtype))
        return x + jnp.array(self.mean, dtype) if _nonzero(self.mean) else x

    def _sample_traced(self, key, shape, dtype):
        if jnp.issubdtype(dtype, np.complexfloating):
            return self._sample(key, shape, dtype)
        # jax.nn.initializers.normal: random.normal(key, shape, dtype) * stddev
        x = jax.random.normal(key, shape, dtype) * jnp.array(self.stddev, dtype)
        return x + jnp.array(self.mean, dtype) if _nonzero(self.mean) else x

    def _scalars(self, shape, dtype):
        return None if jnp.issubdtype(dtype, np.complexfloating) else ()


@dataclasses.dataclass(frozen=True, repr=False)
class TruncatedNormal(InitializerBase):
    name: str = dataclasses.field(default="truncated_normal", compare=False, kw_only=True)
    stddev: float = 1e-2
    dtype: np.dtype | None = None
    lower: float = -2.0
    upper: float = 2.0
    mean: float = 0.0

    formula = property(
        lambda self: (
            (f"{self.mean:g} + " if self.mean else "")
            + f"{self.stddev:g} * TN({self.lower:g}, {self.upper:g})"
        )
    )

    def target_std(self, shape) -> float:
        return self.stddev * sampling.truncated_normal_std(self.lower, self.upper)

    def _check_call(self, shape, dtype):
        require_real(self.name, dtype)
        if not self.traced:
            check_bounds(self.name, self._bounds(shape, work_dtype(dtype)), dtype)

    def _bounds(self, shape, dtype):
        if self.stddev == 0:  # every value is the mean (an infinite bound times 0 is NaN)
            return Interval(self.mean, self.mean)
        return Interval(
            self.mean + self.lower * self.stddev, self.mean + self.upper * self.stddev, OPEN
        )

    def _density(self, shape):
        pdf = functools.partial(
            densities.truncated_normal_pdf,
            mean=self.mean,
            std=self.stddev,
            lower=self.lower,
            upper=self.upper,
        )
        return pdf, self.formula

    def _sample(self, key, shape, dtype):
        t = sampling.truncated_normal(key, self.lower, self.upper, shape, dtype)
        x = t * jnp.array(self.stddev, dtype)
        return x + jnp.array(self.mean, dtype) if _nonzero(self.mean) else x

    def _sample_traced(self, key, shape, dtype):
        if sampling.tails_need_care(self.lower, self.upper):
            return self._sample(key, shape, dtype)
        # jax.nn.initializers.truncated_normal: random.truncated_normal(...) * stddev
        t = jax.random.truncated_normal(key, self.lower, self.upper, shape, dtype)
        x = t * jnp.array(self.stddev, dtype)
        return x + jnp.array(self.mean, dtype) if _nonzero(self.mean) else x

    def _scalars(self, shape, dtype):
        return ()


@registry.register(
    "uniform",
    equivalents={
        "torch": "uniform_(w, 0, s)",
        "keras": "RandomUniform(0, s)",
        "haiku": "RandomUniform(0, s)",
        "flax": "uniform(s)",
    },
    kinds={"scale": "nonneg"},
    traced=("scale",),
)
def uniform(scale: float = 1e-2, dtype=None) -> Uniform:
    r"""Builds an initializer of uniform values on $[0, \mathrm{scale})$.

    Same arguments and, for float32/float64, the same bits as
    `jax.nn.initializers.uniform`. Values lie in ``[0, scale)`` in every
    dtype: where rounding to an 8/16-bit dtype would reach ``scale``, the value
    is that dtype's largest value below it.

    Args:
      scale: Upper end of the interval, ``>= 0``.
      dtype: Default dtype of the result (real floating).

    Returns:
      An initializer ``init(key, shape, dtype=None, out_sharding=None)``.

    Raises:
      TypeError: ``scale`` is not a real number or ``dtype`` not a float dtype.
      ValueError: ``scale`` is negative or not finite.

    Examples:
      >>> w = jax_inits.uniform(0.5)(jax.random.key(0), (256, 256))
      >>> bool(w.min() >= 0), bool(w.max() <= 0.5)
      (True, True)
    """
    return Uniform(
        checks.real_or_traced("uniform", "scale", scale, minimum=0.0),
        checks.dtype("uniform", dtype, random=True),
    )


@registry.register(
    "uniform_range",
    equivalents={
        "torch": "uniform_(w, a, b)",
        "keras": "RandomUniform(a, b)",
        "haiku": "RandomUniform(a, b)",
    },
    kinds={"minval": "real", "maxval": "real"},
)
def uniform_range(minval: float = -1.0, maxval: float = 1.0, dtype=None) -> UniformRange:
    r"""Builds an initializer of uniform values on $[\mathrm{minval}, \mathrm{maxval})$.

    The values are ``jax.random.uniform(key, shape, dtype, minval, maxval)``.

    Args:
      minval: Lower end of the interval.
      maxval: Upper end of the interval, ``> minval``.
      dtype: Default dtype of the result (real floating).

    Returns:
      An initializer ``init(key, shape, dtype=None, out_sharding=None)``.

    Raises:
      TypeError: a bound is not a real number.
      ValueError: a bound is not finite, or ``minval >= maxval``.

    Examples:
      >>> w = jax_inits.uniform_range(-3.0, 3.0)(jax.random.key(0), (512, 512))
      >>> round(float(w.std()), 1)
      1.7
    """
    lo, hi = checks.interval("uniform_range", "minval", minval, "maxval", maxval)
    return UniformRange(lo, hi, checks.dtype("uniform_range", dtype, random=True))


@registry.register(
    "normal",
    equivalents={
        "torch": "normal_(w, 0, s)",
        "keras": "RandomNormal(0, s)",
        "haiku": "RandomNormal(s)",
        "flax": "normal(s)",
    },
    kinds={"stddev": "nonneg", "mean": "real"},
    traced=("stddev", "mean"),
)
def normal(stddev: float = 1e-2, dtype=None, *, mean: float = 0.0) -> Normal:
    r"""Builds an initializer of normal values, $\mathcal{N}(\mu, \sigma^2)$.

    Same arguments and, for float32/float64 and ``mean=0``, the same bits as
    `jax.nn.initializers.normal`. For complex dtypes the values are
    circular complex normal with $E|w|^2 = \mathrm{stddev}^2$.

    Args:
      stddev: Standard deviation, ``>= 0``.
      dtype: Default dtype of the result (floating or complex).
      mean: Keyword-only mean (real).

    Returns:
      An initializer ``init(key, shape, dtype=None, out_sharding=None)``.

    Raises:
      TypeError: an argument is not a real number.
      ValueError: ``stddev`` is negative or an argument is not finite.

    Examples:
      >>> w = jax_inits.normal(2.0, mean=1.0)(jax.random.key(0), (512, 512))
      >>> round(float(w.mean()), 1), round(float(w.std()), 1)
      (1.0, 2.0)
    """
    return Normal(
        checks.real_or_traced("normal", "stddev", stddev, minimum=0.0),
        checks.dtype("normal", dtype, random=True),
        checks.real_or_traced("normal", "mean", mean),
    )


@registry.register(
    "truncated_normal",
    equivalents={
        "torch": "trunc_normal_(w, 0, s, -2s, 2s)",
        "keras": "TruncatedNormal(0, s)",
        "haiku": "TruncatedNormal(s)",
        "flax": "truncated_normal(s)",
    },
    kinds={"stddev": "nonneg", "lower": "bound", "upper": "bound", "mean": "real"},
    traced=("stddev", "mean"),
)
def truncated_normal(
    stddev: float = 1e-2, dtype=None, lower: float = -2.0, upper: float = 2.0, *, mean: float = 0.0
) -> TruncatedNormal:
    r"""Builds an initializer of truncated normal values.

    Samples $\mathrm{mean} + \mathrm{stddev}\, t$ where $t$ is a
    standard normal truncated to $(\mathrm{lower}, \mathrm{upper})$: the
    bounds are in units of ``stddev`` and ``stddev`` is the std *before*
    truncation (as `jax.nn.initializers.truncated_normal`, whose bits this
    reproduces for float32/float64 and ``mean=0``). Every value lies strictly
    inside $(\mathrm{mean} + \mathrm{lower}\,\mathrm{stddev},
    \mathrm{mean} + \mathrm{upper}\,\mathrm{stddev})$, in any dtype: where
    rounding to an 8/16-bit dtype would land on a bound, the value is that
    dtype's nearest value inside.

    Any interval works, including far tails such as ``(5, 6)``, one-sided ones
    such as ``(-inf, -3)`` and very narrow ones: intervals wholly beyond 3
    standard deviations and infinite bounds are sampled through the lower-tail
    CDF (``erfc``/``ndtri``), where jax's ``erf`` inversion collapses to a few
    distinct values (jax issue 10951).

    Args:
      stddev: Standard deviation of the untruncated normal, ``>= 0``.
      dtype: Default dtype of the result (real floating).
      lower: Lower truncation bound in units of ``stddev`` (may be ``-inf``).
      upper: Upper truncation bound in units of ``stddev``, ``> lower`` (may be
        ``inf``).
      mean: Keyword-only mean.

    Returns:
      An initializer ``init(key, shape, dtype=None, out_sharding=None)``.

    Raises:
      TypeError: an argument is not a real number, or a complex dtype.
      ValueError: ``stddev`` negative, a non-finite argument, ``lower >= upper``;
        at call time, a dtype with no value inside the bounds.

    Examples:
      >>> w = jax_inits.truncated_normal(0.02)(jax.random.key(0), (512, 512), jnp.bfloat16)
      >>> bool(jnp.abs(w).max() <= 0.04)
      True
    """
    builder = "truncated_normal"
    lo, hi = checks.interval(builder, "lower", lower, "upper", upper, allow_inf=True)
    return TruncatedNormal(
        checks.real_or_traced(builder, "stddev", stddev, minimum=0.0),
        checks.dtype(builder, dtype, random=True),
        lo,
        hi,
        checks.real_or_traced(builder, "mean", mean),
    )


STD_DISTRIBUTIONS: tuple[str, ...] = ("normal", "truncated_normal", "uniform")


def with_std(builder: str, std: float, distribution: str, dtype=None) -> InitializerBase:
    r"""A zero-mean initializer whose *result* has standard deviation ``std``.

    ``"normal"``: $\mathcal{N}(0, \mathrm{std}^2)$; ``"truncated_normal"``:
    a normal truncated to two of its standard deviations, widened by 1/0.8796 so
    the result has std ``std``; ``"uniform"``: uniform on
    $[-\sqrt{3}\,\mathrm{std}, \sqrt{3}\,\mathrm{std})$.

    ``builder`` names the public builder in error messages.
    """
    std = checks.real_number(builder, "std", std, minimum=0.0)
    dtype = checks.dtype(builder, dtype, random=True)
    if distribution == "normal":
        return Normal(std, dtype)
    if distribution == "truncated_normal":
        return TruncatedNormal(std / sampling.TRUNCATED_NORMAL_STD, dtype)
    if distribution == "uniform":
        bound = math.sqrt(3.0) * std
        return UniformRange(-bound, bound, dtype)
    raise ValueError(
        f"{builder}: `distribution` must be one of {STD_DISTRIBUTIONS}, got {distribution!r}."
    )
