"""Fans and the variance-scaling family (Glorot/Xavier, LeCun, He/Kaiming)."""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Sequence
from typing import Any, Literal

import jax
import jax.numpy as jnp
import numpy as np

from jax_inits._src import checks, densities, registry, sampling
from jax_inits._src.base import InitializerBase
from jax_inits._src.dtypes import HALF_OPEN, OPEN, Interval, check_bounds, work_dtype

Mode = Literal["fan_in", "fan_out", "fan_avg", "fan_geo_avg"]
Distribution = Literal["truncated_normal", "normal", "uniform"]
_MODES: tuple[str, ...] = ("fan_in", "fan_out", "fan_avg", "fan_geo_avg")
_DISTRIBUTIONS: tuple[str, ...] = ("truncated_normal", "normal", "uniform")
AxisArg = int | Sequence[int]


def _fans(
    builder: str, shape: tuple[int, ...], in_axis, out_axis, batch_axis
) -> tuple[float, float]:
    axes = checks.normalize_axes(
        builder, shape, in_axis=in_axis, out_axis=out_axis, batch_axis=batch_axis
    )
    named = set().union(*axes.values())
    receptive = math.prod(d for i, d in enumerate(shape) if i not in named)
    in_size = math.prod(shape[i] for i in axes["in_axis"])
    out_size = math.prod(shape[i] for i in axes["out_axis"])
    return float(in_size * receptive), float(out_size * receptive)


def compute_fans(
    shape: Sequence[int],
    in_axis: AxisArg = -2,
    out_axis: AxisArg = -1,
    batch_axis: AxisArg = (),
    *,
    einsum: str | None = None,
) -> tuple[float, float]:
    r"""Computes ``(fan_in, fan_out)`` of a weight shape.

    Axes in none of ``in_axis``, ``out_axis`` and ``batch_axis`` form the
    receptive field (a convolution's spatial axes); with $r$ their size
    product, $n_\mathrm{in} = r \prod_{i \in \mathrm{in}} s_i$ and
    $n_\mathrm{out} = r \prod_{o \in \mathrm{out}} s_o$. Batch axes count in
    neither. The same numbers as jax's ``_compute_fans``.

    Args:
      shape: The weight shape.
      in_axis: Input axis or axes.
      out_axis: Output axis or axes.
      batch_axis: Axis or axes ignored by the fans (e.g. a stack of layers).
      einsum: Keyword-only: the einsum equation that applies the kernel; its
        axes then come from `einsum_axes` (the kernel is the last input)
        and the axis arguments must be left at their defaults.

    Returns:
      ``(fan_in, fan_out)`` as floats.

    Raises:
      TypeError: an axis is not an integer or the shape holds non-integers.
      ValueError: an axis is outside the shape's rank, or two arguments name the
        same axis.

    Examples:
      >>> jax_inits.compute_fans((3, 3, 64, 128))  # HWIO convolution kernel
      (576.0, 1152.0)
      >>> jax_inits.compute_fans((8, 512, 256), batch_axis=0)
      (512.0, 256.0)
      >>> jax_inits.compute_fans((512, 8, 64), einsum="btd,dhk->bthk")  # attention Q
      (512.0, 512.0)
    """
    builder = "compute_fans"
    if einsum is not None:
        if (in_axis, out_axis, batch_axis) != (-2, -1, ()):
            raise ValueError(
                f"{builder}: give either `einsum` or axis arguments, got einsum={einsum!r} "
                f"with in_axis={in_axis!r}, out_axis={out_axis!r}, batch_axis={batch_axis!r}."
            )
        axes = einsum_axes(einsum)
        in_axis, out_axis, batch_axis = axes["in_axis"], axes["out_axis"], axes["batch_axis"]
    return _fans(
        builder,
        checks.shape(builder, shape),
        checks.axes(builder, "in_axis", in_axis),
        checks.axes(builder, "out_axis", out_axis),
        checks.axes(builder, "batch_axis", batch_axis),
    )


def einsum_axes(equation: str, operand: int = -1) -> dict[str, tuple[int, ...]]:
    r"""Reads the fan axes of a kernel from the einsum equation that applies it.

    Each axis of the kernel operand is classified by where its label appears:
    in another input and not in the output, it is contracted (an input axis);
    in the output and in no other input, it is an output axis; in another input
    and in the output, it is shared (a batch axis, in neither fan). The result is
    the keyword arguments of `compute_fans` and of every fan-based builder.

    For attention kernels laid out as transformer_lens does, ``W_Q`` of shape
    ``(n_heads, d_model, d_head)`` applied by ``"bpd,hdk->bphk"``, ``d`` is the
    input axis and ``h``, ``k`` the output axes: $n_\mathrm{in} = d_\mathrm{model}$,
    $n_\mathrm{out} = n_\mathrm{heads} d_\mathrm{head}$.

    Args:
      equation: An explicit einsum equation ``"inputs->output"`` with at least
        two operands; the kernel's labels must be letters (no ``...``).
      operand: Index of the kernel among the inputs (default: the last).

    Returns:
      ``{"in_axis": ..., "out_axis": ..., "batch_axis": ...}`` (tuples of axes).

    Raises:
      TypeError: ``equation`` not a string, ``operand`` not an integer.
      ValueError: no ``->``, fewer than two operands, ``operand`` out of range,
        a kernel label repeated, ``...`` or a non-letter in the kernel, or a
        kernel axis that appears in no other operand and not in the output.

    Examples:
      >>> axes = jax_inits.einsum_axes("...d,dhk->...hk")
      >>> axes
      {'in_axis': (0,), 'out_axis': (1, 2), 'batch_axis': ()}
      >>> jax_inits.compute_fans((512, 8, 64), **axes)
      (512.0, 512.0)
      >>> jax_inits.einsum_axes("ebd,edf->ebf")  # per-expert (MoE) kernels
      {'in_axis': (1,), 'out_axis': (2,), 'batch_axis': (0,)}
    """
    builder = "einsum_axes"
    if not isinstance(equation, str):
        raise TypeError(f"{builder}: `equation` must be a string, got {equation!r}.")
    operand = checks.integer(builder, "operand", operand)
    text = equation.replace(" ", "")
    if text.count("->") != 1:
        raise ValueError(
            f"{builder}: `equation` must be explicit, 'inputs->output', got {equation!r}."
        )
    inputs, output = text.split("->")
    operands = inputs.split(",")
    if len(operands) < 2:
        raise ValueError(
            f"{builder}: `equation` must have at least two inputs (activations and "
            f"kernel), got {equation!r}."
        )
    if not -len(operands) <= operand < len(operands):
        raise ValueError(
            f"{builder}: `operand` must index one of the {len(operands)} inputs, got {operand}."
        )
    kernel = operands[operand]
    others = "".join(o for i, o in enumerate(operands) if i != operand % len(operands))
    if not kernel.isalpha() or len(set(kernel)) != len(kernel):
        raise ValueError(
            f"{builder}: the kernel {kernel!r} of {equation!r} must be distinct letters "
            "(no '...', no repeated label)."
        )
    axes: dict[str, list[int]] = {"in_axis": [], "out_axis": [], "batch_axis": []}
    for axis, label in enumerate(kernel):
        role = {
            (True, False): "in_axis",
            (False, True): "out_axis",
            (True, True): "batch_axis",
        }.get((label in others, label in output))
        if role is None:
            raise ValueError(
                f"{builder}: kernel axis {axis} ({label!r}) of {equation!r} appears in no "
                "other operand and not in the output, so it has no fan role."
            )
        axes[role].append(axis)
    return {k: tuple(v) for k, v in axes.items()}


@dataclasses.dataclass(frozen=True, repr=False)
class VarianceScaling(InitializerBase):
    scale: float = 1.0
    mode: str = "fan_in"
    distribution: str = "truncated_normal"
    in_axis: checks.Axes = -2
    out_axis: checks.Axes = -1
    batch_axis: checks.Axes = ()
    dtype: np.dtype | None = None
    fan_in: float | None = None
    fan_out: float | None = None
    name: str = dataclasses.field(default="variance_scaling", compare=False, kw_only=True)

    def fans(self, shape: tuple[int, ...]) -> tuple[float, float]:
        """``(fan_in, fan_out)`` for ``shape``; explicit fans take precedence."""
        if self.fan_in is not None and self.fan_out is not None:
            return self.fan_in, self.fan_out
        fan_in, fan_out = _fans(self.name, shape, self.in_axis, self.out_axis, self.batch_axis)
        return (
            fan_in if self.fan_in is None else self.fan_in,
            fan_out if self.fan_out is None else self.fan_out,
        )

    def denominator(self, shape: tuple[int, ...]) -> float:
        """The ``n`` in ``Var[w] = scale / n``. The shape is not consulted when the
        explicit fans are all that ``mode`` needs."""
        if self.mode == "fan_in" and self.fan_in is not None:
            return self.fan_in
        if self.mode == "fan_out" and self.fan_out is not None:
            return self.fan_out
        fan_in, fan_out = self.fans(shape)
        return {
            "fan_in": fan_in,
            "fan_out": fan_out,
            "fan_avg": (fan_in + fan_out) / 2,
            "fan_geo_avg": (fan_in * fan_out) ** 0.5,
        }[self.mode]

    @property
    def formula(self) -> str:
        n = {
            "fan_in": "fan_in",
            "fan_out": "fan_out",
            "fan_avg": "((fan_in+fan_out)/2)",
            "fan_geo_avg": "sqrt(fan_in*fan_out)",
        }[self.mode]
        return f"{self.distribution}, var = {self.scale:g} / {n}"

    def target_std(self, shape) -> float:
        return math.sqrt(self.scale / self.denominator(tuple(shape)))

    def _check_call(self, shape, dtype):
        if self.traced and jnp.issubdtype(dtype, np.complexfloating):
            raise TypeError(
                f"{self.name}: a traced `scale` draws real dtypes only, got {dtype.name}; "
                "build it with a concrete number for complex arrays."
            )
        if math.prod(shape):
            self.denominator(shape)  # raises for axes that do not fit the shape
            check_bounds(self.name, self._bounds(shape, work_dtype(dtype)), dtype)

    def _real_scale(self, shape, dtype) -> Any:
        """Multiplier of the unit-scale sample, computed in ``dtype`` as jax does
        (on the host, or in the graph for a traced ``scale``)."""
        xp = jnp if self.traced else np
        variance = xp.asarray(self.scale / self.denominator(shape), dtype)
        if self.distribution == "truncated_normal":
            return xp.sqrt(variance) / xp.asarray(sampling.TRUNCATED_NORMAL_STD, dtype)
        if self.distribution == "uniform":
            return xp.sqrt(3 * variance)
        return xp.sqrt(variance)

    def _density(self, shape):
        target = self.target_std(shape)
        if self.distribution == "uniform":
            limit = math.sqrt(3) * target
            pdf = functools.partial(densities.uniform_pdf, lo=-limit, hi=limit)
            return pdf, f"U[-{limit:.4g}, {limit:.4g}]"
        if self.distribution == "truncated_normal":
            s = target / sampling.TRUNCATED_NORMAL_STD
            pdf = functools.partial(
                densities.truncated_normal_pdf, mean=0.0, std=s, lower=-2.0, upper=2.0
            )
            return pdf, f"{s:.4g} * TN(-2, 2)"
        return functools.partial(densities.normal_pdf, mean=0.0, std=target), (
            f"N(0, {target:.4g}^2)"
        )

    def _bounds(self, shape, dtype):
        if self.traced or self.distribution == "normal":
            return None
        if jnp.issubdtype(dtype, np.complexfloating):
            return None
        limit = float(self._real_scale(shape, dtype))
        if self.distribution == "truncated_normal":  # jax: t in (-2, 2), times the scale
            return Interval(-2.0 * limit, 2.0 * limit, OPEN)
        return Interval(-limit, limit, HALF_OPEN)  # jax: u in [-1, 1), times the scale

    def _sample(self, key, shape, dtype):
        if jnp.issubdtype(dtype, np.complexfloating):
            std = self.target_std(shape)
            if self.distribution == "truncated_normal":
                unit = sampling.complex_truncated_normal(key, 2.0, shape, dtype)
                std /= sampling.COMPLEX_TRUNCATED_NORMAL_STD
            elif self.distribution == "uniform":
                unit = sampling.complex_uniform_disk(key, shape, dtype)
            else:
                return sampling.normal(key, shape, dtype, std)
            return sampling.scale_complex(unit, np.array(std, jnp.finfo(dtype).dtype))
        return self._draw(key, shape, dtype, (self._real_scale(shape, dtype),))

    def _sample_traced(self, key, shape, dtype):
        # jax.nn.initializers.variance_scaling, real dtypes (a traced scale allows no
        # other): the unit draw of jax.random times the multiplier computed in-graph.
        scale = self._real_scale(shape, dtype)
        if self.distribution == "truncated_normal":
            return jax.random.truncated_normal(key, -2, 2, shape, dtype) * scale
        if self.distribution == "uniform":
            return jax.random.uniform(key, shape, dtype, -1) * scale
        return jax.random.normal(key, shape, dtype) * scale

    def _scalars(self, shape, dtype):
        if self.traced or jnp.issubdtype(dtype, np.complexfloating):
            return None
        return (float(self._real_scale(shape, dtype)),)

    def _draw(self, key, shape, dtype, scalars):
        # The multiplier is computed on the host in ``dtype``, where XLA folds
        # jax's in-graph constants to the same bits (a runtime division by a
        # constant would not be correctly rounded).
        scale = jnp.array(scalars[0], dtype)
        if self.distribution == "truncated_normal":
            return sampling.truncated_normal(key, -2, 2, shape, dtype) * scale
        if self.distribution == "uniform":
            return sampling.uniform(key, shape, dtype, -1) * scale
        return sampling.normal(key, shape, dtype, scale)


@dataclasses.dataclass(frozen=True, repr=False)
class FanScaled(InitializerBase):
    """Draws as its `VarianceScaling` ``scaling`` does, bit for bit; for
    families that add their own call checks or default dtype (torch's rank
    message, complex-only dtypes) by composition instead of copying its fields.
    Subclasses override `_check_call` (calling ``super()``) or
    `_default_dtype`."""

    scaling: VarianceScaling = VarianceScaling()
    name: str = dataclasses.field(default="variance_scaling", compare=False, kw_only=True)

    @property
    def dtype(self) -> np.dtype | None:
        """The builder's default dtype (that of ``scaling``)."""
        return self.scaling.dtype

    @property
    def formula(self) -> str:
        return self.scaling.formula

    def fans(self, shape: tuple[int, ...]) -> tuple[float, float]:
        """``(fan_in, fan_out)`` for ``shape``, as ``scaling`` computes them."""
        return self.scaling.fans(shape)

    def target_std(self, shape) -> float:
        return self.scaling.target_std(shape)

    def _check_call(self, shape, dtype):
        self.scaling._check_call(shape, dtype)

    def _bounds(self, shape, dtype):
        return self.scaling._bounds(shape, dtype)

    def _density(self, shape):
        return self.scaling._density(shape)

    def _sample(self, key, shape, dtype):
        return self.scaling._sample(key, shape, dtype)

    def _scalars(self, shape, dtype):
        return self.scaling._scalars(shape, dtype)

    def _draw(self, key, shape, dtype, scalars):
        return self.scaling._draw(key, shape, dtype, scalars)


def _build(
    label: str,
    scale,
    mode,
    distribution,
    in_axis,
    out_axis,
    batch_axis,
    dtype,
    fan_in=None,
    fan_out=None,
) -> VarianceScaling:
    if mode not in _MODES:
        raise ValueError(f"{label}: `mode` must be one of {_MODES}, got {mode!r}.")
    if distribution not in _DISTRIBUTIONS:
        raise ValueError(
            f"{label}: `distribution` must be one of {_DISTRIBUTIONS}, got {distribution!r}."
        )
    in_axis = checks.axes(label, "in_axis", in_axis)
    out_axis = checks.axes(label, "out_axis", out_axis)
    batch_axis = checks.axes(label, "batch_axis", batch_axis)
    checks.disjoint_axes(label, in_axis=in_axis, out_axis=out_axis, batch_axis=batch_axis)
    fans = [
        None if f is None else checks.real_number(label, arg, f, minimum=0.0, strict=True)
        for arg, f in (("fan_in", fan_in), ("fan_out", fan_out))
    ]
    return VarianceScaling(
        checks.real_or_traced(label, "scale", scale, minimum=0.0),
        mode,
        distribution,
        in_axis,
        out_axis,
        batch_axis,
        checks.dtype(label, dtype, random=True),
        *fans,
        name=label,
    )


@registry.register(
    "variance_scaling",
    example=registry.args(1.0, "fan_avg", "normal"),
    equivalents={
        "keras": "VarianceScaling(...)",
        "haiku": "VarianceScaling(...)",
        "flax": "variance_scaling(...)",
    },
    kinds={
        "scale": "nonneg",
        "in_axis": "axes",
        "out_axis": "axes",
        "batch_axis": "axes",
        "fan_in": "positive",
        "fan_out": "positive",
    },
    traced=("scale",),
)
def variance_scaling(
    scale: float,
    mode: Mode,
    distribution: Distribution,
    in_axis: AxisArg = -2,
    out_axis: AxisArg = -1,
    batch_axis: AxisArg = (),
    dtype=None,
    *,
    fan_in: float | None = None,
    fan_out: float | None = None,
) -> VarianceScaling:
    r"""Builds an initializer whose variance adapts to the weight's fans.

    Samples with mean 0 and $\mathrm{Var}[w] = \mathrm{scale} / n$
    (for complex dtypes $E|w|^2 = \mathrm{scale} / n$), where $n$ is
    $n_\mathrm{in}$, $n_\mathrm{out}$, their mean or their geometric
    mean for ``mode`` ``"fan_in"``, ``"fan_out"``, ``"fan_avg"``,
    ``"fan_geo_avg"`` (fans from `compute_fans`).

    * ``"truncated_normal"``: a normal truncated to two of its standard
      deviations, rescaled by 1/0.8796 so the *result* has the variance above.
      Complex: modulus of a complex normal truncated at 2, rescaled by
      $1/\sqrt{(1 - 5e^{-4}) / (1 - e^{-4})}$.
    * ``"normal"``: a normal (complex: circular complex normal).
    * ``"uniform"``: uniform on $[-\sqrt{3\,\mathrm{scale}/n}, \sqrt{3\,\mathrm{scale}/n})$
      (complex: uniform on a disk).

    Same arguments, defaults and, for float32/float64, bits as
    `jax.nn.initializers.variance_scaling`. A shape with an axis of size 0
    gives the empty array of that shape, as in jax (Kaun's ``variance_scaling``
    raises there, for the fan of 0 such a shape has).

    Args:
      scale: Variance scale, ``>= 0``.
      mode: One of ``"fan_in"``, ``"fan_out"``, ``"fan_avg"``, ``"fan_geo_avg"``.
      distribution: One of ``"truncated_normal"``, ``"normal"``, ``"uniform"``.
      in_axis: Input axis or axes.
      out_axis: Output axis or axes.
      batch_axis: Axis or axes that count in neither fan.
      dtype: Default dtype of the result (floating or complex).
      fan_in: Keyword-only explicit fan-in, overriding the one from the shape.
      fan_out: Keyword-only explicit fan-out, overriding the one from the shape.

    Returns:
      An initializer ``init(key, shape, dtype=None, out_sharding=None)``.

    Raises:
      ValueError: unknown ``mode``/``distribution``; negative or non-finite
        ``scale``; non-positive fans; repeated axes. At call: axes outside the
        shape's rank.
      TypeError: non-integer axes, non-numeric arguments, non-float ``dtype``.

    Examples:
      >>> init = jax_inits.variance_scaling(2.0, "fan_in", "normal")
      >>> w = init(jax.random.key(0), (1024, 256))
      >>> round(float(w.std() * 32), 1)  # sqrt(2 / 1024) = 1 / 22.6
      1.4

    References:
      Glorot & Bengio, [Understanding the difficulty of training deep feedforward
      neural networks](http://proceedings.mlr.press/v9/glorot10a.html), 2010.
      He et al., [Delving Deep into Rectifiers](https://arxiv.org/abs/1502.01852),
      2015. Trabelsi et al., [Deep Complex Networks](https://arxiv.org/abs/1705.09792), 2018.
    """
    return _build(
        "variance_scaling",
        scale,
        mode,
        distribution,
        in_axis,
        out_axis,
        batch_axis,
        dtype,
        fan_in,
        fan_out,
    )


def _named(
    label: str,
    scale: float,
    mode: str,
    distribution: str,
    summary: str,
    reference: str,
    equivalents: dict[str, str],
):
    def builder(
        in_axis: AxisArg = -2, out_axis: AxisArg = -1, batch_axis: AxisArg = (), dtype=None
    ) -> VarianceScaling:
        return _build(label, scale, mode, distribution, in_axis, out_axis, batch_axis, dtype)

    builder.__name__ = builder.__qualname__ = label
    aliases = {"glorot": ("xavier",), "he": ("kaiming",)}.get(label.split("_")[0], ())
    aliases = tuple(f"{a}_{label.split('_', 1)[1]}" for a in aliases)
    builder.__doc__ = f"""Builds a {summary} initializer.

  `variance_scaling` with ``scale={scale}``, ``mode="{mode}"`` and
  ``distribution="{distribution}"``; the same bits as
  ``jax.nn.initializers.{label}`` for float32/float64.

  Args:
    in_axis: Input axis or axes.
    out_axis: Output axis or axes.
    batch_axis: Axis or axes that count in neither fan.
    dtype: Default dtype of the result (floating or complex).

  Returns:
    An initializer ``init(key, shape, dtype=None, out_sharding=None)``.

  Raises:
    TypeError: non-integer axes or a non-float ``dtype``.
    ValueError: repeated axes; at call, axes outside the shape's rank.

  Examples:
    >>> w = jax_inits.{label}()(jax.random.key(0), (512, 512))
    >>> w.shape, w.dtype
    ((512, 512), dtype('float32'))
    >>> round(float(w.std()) * (512 / {scale}) ** 0.5, 1)  # target sqrt({scale} / 512)
    1.0

  References:
    {reference}
  """
    kinds = dict.fromkeys(("in_axis", "out_axis", "batch_axis"), "axes")
    return registry.register(label, aliases=aliases, equivalents=equivalents, kinds=kinds)(builder)  # pyright: ignore[reportArgumentType]


_GLOROT = (
    "Glorot & Bengio, [Understanding the difficulty of training deep feedforward "
    "neural networks](http://proceedings.mlr.press/v9/glorot10a.html), 2010."
)
_LECUN = (
    "Klambauer et al., [Self-Normalizing Neural Networks](https://arxiv.org/abs/1706.02515), "
    "2017; LeCun et al., Efficient BackProp, 1998."
)
_HE = "He et al., [Delving Deep into Rectifiers](https://arxiv.org/abs/1502.01852), 2015."

glorot_uniform = _named(
    "glorot_uniform", 1.0, "fan_avg", "uniform", "Glorot (Xavier) uniform", _GLOROT,
    {"torch": "xavier_uniform_", "keras": "GlorotUniform()",
     "haiku": 'VarianceScaling(1, "fan_avg", "uniform")', "flax": "glorot_uniform()"},
)  # fmt: skip
glorot_normal = _named(
    "glorot_normal", 1.0, "fan_avg", "truncated_normal", "Glorot (Xavier) truncated-normal",
    _GLOROT,
    {"torch": "~xavier_normal_", "keras": "GlorotNormal()",
     "haiku": 'VarianceScaling(1, "fan_avg")', "flax": "glorot_normal()"},
)  # fmt: skip
lecun_uniform = _named(
    "lecun_uniform", 1.0, "fan_in", "uniform", "LeCun uniform", _LECUN,
    {"torch": 'kaiming_uniform_(w, nonlinearity="linear")', "keras": "LecunUniform()",
     "haiku": 'VarianceScaling(1, "fan_in", "uniform")', "flax": "lecun_uniform()"},
)  # fmt: skip
lecun_normal = _named(
    "lecun_normal", 1.0, "fan_in", "truncated_normal", "LeCun truncated-normal", _LECUN,
    {"torch": '~kaiming_normal_(w, nonlinearity="linear")', "keras": "LecunNormal()",
     "haiku": "VarianceScaling(1)", "flax": "lecun_normal()"},
)  # fmt: skip
he_uniform = _named(
    "he_uniform", 2.0, "fan_in", "uniform", "He (Kaiming) uniform", _HE,
    {"torch": "kaiming_uniform_(w, a=0)", "keras": "HeUniform()",
     "haiku": 'VarianceScaling(2, "fan_in", "uniform")', "flax": "he_uniform()"},
)  # fmt: skip
he_normal = _named(
    "he_normal", 2.0, "fan_in", "truncated_normal", "He (Kaiming) truncated-normal", _HE,
    {"torch": "~kaiming_normal_", "keras": "HeNormal()", "haiku": "VarianceScaling(2)",
     "flax": "he_normal()"},
)  # fmt: skip
