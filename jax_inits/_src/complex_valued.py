"""Complex initializers: Trabelsi's complex Glorot/He, complex uniform, Haar unitary.

Their default dtype is complex64 (complex128 under ``jax_enable_x64``) and a
real dtype is a TypeError: a real array from a "complex" initializer is a bug.
"""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np

from jax_inits._src import checks, registry, sampling
from jax_inits._src.base import InitializerBase, default_float_dtype
from jax_inits._src.orthogonal import Orthogonal
from jax_inits._src.variance_scaling import AxisArg, FanScaled, _build

REGIONS: tuple[str, ...] = ("disk", "box")


def default_complex_dtype() -> np.dtype:
    """complex64, or complex128 under ``jax_enable_x64``."""
    return np.result_type(default_float_dtype(), np.complex64)


def require_complex(builder: str, dtype: np.dtype) -> None:
    if not jnp.issubdtype(dtype, np.complexfloating):
        raise TypeError(
            f"{builder}: `dtype` must be a complex dtype such as complex64, got {dtype.name}."
        )


class _ComplexOnly:
    """Mixin: complex default dtype, real dtypes rejected at call."""

    def _default_dtype(self):
        return default_complex_dtype()

    def _check_call(self, shape, dtype):
        require_complex(self.name, dtype)  # pyright: ignore[reportAttributeAccessIssue]
        super()._check_call(shape, dtype)  # pyright: ignore[reportAttributeAccessIssue]


@dataclasses.dataclass(frozen=True, repr=False)
class ComplexVarianceScaling(_ComplexOnly, FanScaled):
    """A variance scaling (composed) for complex dtypes only."""


@dataclasses.dataclass(frozen=True, repr=False)
class HaarUnitary(_ComplexOnly, Orthogonal):
    name: str = dataclasses.field(default="haar_unitary", compare=False, kw_only=True)


@dataclasses.dataclass(frozen=True, repr=False)
class ComplexUniform(_ComplexOnly, InitializerBase):
    name: str = dataclasses.field(default="complex_uniform", compare=False, kw_only=True)
    scale: float = 1e-2
    region: str = "disk"
    dtype: np.dtype | None = None

    @property
    def formula(self) -> str:
        if self.region == "disk":
            return f"uniform on the disk |w| <= {self.scale:g}"
        return f"Re, Im independent U[-{self.scale:g}, {self.scale:g})"

    def target_std(self, shape) -> float:
        # E|w|^2: disk of radius r: r^2 / 2; box [-a, a]^2: 2 a^2 / 3.
        factor = 1 / 2 if self.region == "disk" else 2 / 3
        return self.scale * math.sqrt(factor)

    def _sample(self, key, shape, dtype):
        real = jnp.finfo(dtype).dtype
        if self.region == "disk":  # uniform on a disk: the squared modulus is uniform
            radius = jnp.array(self.scale, real)
            return sampling.polar(key, lambda u: radius * jnp.sqrt(u), shape, dtype)
        parts = sampling.uniform(key, (2, *shape), real, -self.scale, self.scale)
        return jax.lax.complex(parts[0], parts[1])


def _complex_fans(label: str, scale: float, mode: str, in_axis, out_axis, batch_axis, dtype):
    scaling = _build(label, scale, mode, "normal", in_axis, out_axis, batch_axis, dtype)
    if scaling.dtype is not None:
        require_complex(label, scaling.dtype)
    return ComplexVarianceScaling(scaling, name=label)


_TRABELSI = "Trabelsi et al., [Deep Complex Networks](https://arxiv.org/abs/1705.09792), 2018."


@registry.register(
    "complex_glorot",
    complex=True,
    kinds={"in_axis": "axes", "out_axis": "axes", "batch_axis": "axes"},
)
def complex_glorot(
    in_axis: AxisArg = -2, out_axis: AxisArg = -1, batch_axis: AxisArg = (), dtype=None
) -> ComplexVarianceScaling:
    r"""Builds Trabelsi et al.'s complex Glorot initializer.

    Modulus Rayleigh with parameter $\sigma = 1 / \sqrt{n_\mathrm{in} +
    n_\mathrm{out}}$, phase uniform on $[-\pi, \pi)$, so
    $E|w|^2 = 2\sigma^2 = 2 / (n_\mathrm{in} + n_\mathrm{out})$, the
    Glorot variance. That is exactly a circular complex normal, which is how it
    is sampled. (The paper's reference code passes $1/(n_\mathrm{in} +
    n_\mathrm{out})$ itself as $\sigma$, missing the square root.)

    {fans}

    Examples:
      >>> w = jax_inits.complex_glorot()(jax.random.key(0), (256, 256))
      >>> w.dtype, round(float(jnp.mean(jnp.abs(w) ** 2) * 256), 2)  # 2 / 512 * 256
      (dtype('complex64'), 1.0)

    References:
      {ref}
    """
    return _complex_fans("complex_glorot", 1.0, "fan_avg", in_axis, out_axis, batch_axis, dtype)


@registry.register(
    "complex_he", complex=True, kinds={"in_axis": "axes", "out_axis": "axes", "batch_axis": "axes"}
)
def complex_he(
    in_axis: AxisArg = -2, out_axis: AxisArg = -1, batch_axis: AxisArg = (), dtype=None
) -> ComplexVarianceScaling:
    r"""Builds Trabelsi et al.'s complex He initializer.

    Modulus Rayleigh with parameter $\sigma = 1 / \sqrt{n_\mathrm{in}}$,
    phase uniform, so $E|w|^2 = 2 / n_\mathrm{in}$ (sampled as a circular
    complex normal, the same distribution).

    {fans}

    Examples:
      >>> w = jax_inits.complex_he()(jax.random.key(0), (256, 256))
      >>> round(float(jnp.mean(jnp.abs(w) ** 2) * 256), 1)  # 2 / 256 * 256
      2.0

    References:
      {ref}
    """
    return _complex_fans("complex_he", 2.0, "fan_in", in_axis, out_axis, batch_axis, dtype)


# The Args, Returns and Raises both builders share (indented as in their docstrings).
_FANS = """Args:
      in_axis: Input axis or axes.
      out_axis: Output axis or axes.
      batch_axis: Axis or axes that count in neither fan.
      dtype: Default dtype (complex; ``None``: complex64).

    Returns:
      An initializer ``init(key, shape, dtype=None, out_sharding=None)``.

    Raises:
      TypeError: a real ``dtype`` (here or at call), non-integer axes.
      ValueError: repeated axes; at call, axes outside the shape.
"""

for _fn in (complex_glorot, complex_he):
    _doc = _fn.__doc__ or ""
    _fn.__doc__ = _doc.replace("{ref}", _TRABELSI).replace("    {fans}\n", "    " + _FANS)


@registry.register("complex_uniform", complex=True, kinds={"scale": "nonneg"})
def complex_uniform(scale: float = 1e-2, dtype=None, *, region: str = "disk") -> ComplexUniform:
    r"""Builds a complex uniform initializer, on a disk or on a box.

    Two conventions are in use, with different variances:

    * ``region="disk"``: uniform on the disk $|w| \le \mathrm{scale}$
      (modulus $\mathrm{scale}\sqrt{U}$, uniform phase);
      $E|w|^2 = \mathrm{scale}^2 / 2$.
    * ``region="box"``: real and imaginary parts independent, uniform on
      $[-\mathrm{scale}, \mathrm{scale})$; $E|w|^2 = 2\,\mathrm{scale}^2 / 3$.

    Args:
      scale: Disk radius or box half-width, ``>= 0``.
      dtype: Default dtype (complex; ``None``: complex64).
      region: Keyword-only: ``"disk"`` or ``"box"``.

    Returns:
      An initializer ``init(key, shape, dtype=None, out_sharding=None)``.

    Raises:
      TypeError: ``scale`` not a real number, a real ``dtype``.
      ValueError: ``scale`` negative or not finite, unknown ``region``.

    Examples:
      >>> w = jax_inits.complex_uniform(1.0)(jax.random.key(0), (512, 512))
      >>> bool(jnp.abs(w).max() <= 1.0), round(float(jnp.mean(jnp.abs(w) ** 2)), 2)
      (True, 0.5)
    """
    builder = "complex_uniform"
    if region not in REGIONS:
        raise ValueError(f"{builder}: `region` must be one of {REGIONS}, got {region!r}.")
    dtype = checks.dtype(builder, dtype, random=True)
    if dtype is not None:
        require_complex(builder, dtype)
    return ComplexUniform(checks.real_number(builder, "scale", scale, minimum=0.0), region, dtype)


@registry.register("haar_unitary", complex=True, kinds={"scale": "real", "column_axis": "int"})
def haar_unitary(scale: float = 1.0, column_axis: int = -1, dtype=None) -> HaarUnitary:
    r"""Builds an initializer of Haar-random unitary matrices.

    `orthogonal` for complex dtypes: the array viewed as a matrix (columns
    along ``column_axis``) has orthonormal rows or columns in the complex inner
    product, distributed by Haar measure on the unitary group (QR of a complex
    Ginibre matrix with the phases of $R$'s diagonal divided out,
    Mezzadri 2007).

    Args:
      scale: Multiplier.
      column_axis: The axis holding the columns.
      dtype: Default dtype (complex; ``None``: complex64).

    Returns:
      An initializer ``init(key, shape, dtype=None, out_sharding=None)``.

    Raises:
      TypeError: a real ``dtype``, non-integer ``column_axis``.
      ValueError: ``scale`` not finite; at call rank < 2.

    Examples:
      >>> u = jax_inits.haar_unitary()(jax.random.key(0), (32, 32))
      >>> u.dtype, bool(jnp.allclose(u.conj().T @ u, jnp.eye(32, dtype=u.dtype), atol=1e-5))
      (dtype('complex64'), True)

    References:
      Mezzadri, [How to generate random matrices from the classical compact
      groups](https://arxiv.org/abs/math-ph/0609050), 2007.
    """
    builder = "haar_unitary"
    dtype = checks.dtype(builder, dtype, random=True)
    if dtype is not None:
        require_complex(builder, dtype)
    return HaarUnitary(
        checks.real_number(builder, "scale", scale),
        checks.integer(builder, "column_axis", column_axis),
        dtype,
    )
