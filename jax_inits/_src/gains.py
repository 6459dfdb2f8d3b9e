"""Gains of nonlinearities: torch's ``calculate_gain``, extended.

The gain $g$ of an activation $\\phi$ is the factor by which a
fan-scaled initializer's standard deviation is multiplied,
$\\mathrm{std} = g / \\sqrt{n}$, so that the signal keeps its scale
through the layer.
"""

from __future__ import annotations

import math

import numpy as np

from jax_inits._src import caches, checks

# torch.nn.init.calculate_gain's table (torch's conventions, kept exactly).
_LINEAR = (
    "linear",
    "conv1d",
    "conv2d",
    "conv3d",
    "conv_transpose1d",
    "conv_transpose2d",
    "conv_transpose3d",
    "sigmoid",
)
_TORCH: tuple[str, ...] = (*_LINEAR, "tanh", "relu", "leaky_relu", "selu")


class ParamTypeError(TypeError, ValueError):
    """A ``param`` of the wrong type (a bool, a string, a list, ...).

    A TypeError by this package's rule for bad types, and a ValueError as
    ``torch.nn.init.calculate_gain`` raises it ("negative_slope ... not a valid
    number"), so code written for either catches it.
    """


def _param(param, **limits) -> float:
    try:
        return checks.real_number("calculate_gain", "param", param, **limits)
    except TypeError as error:
        raise ParamTypeError(str(error)) from None


def _softplus(z, beta):
    return np.logaddexp(0.0, beta * z) / beta


def _elu(z, alpha):
    return np.where(z > 0, z, alpha * np.expm1(np.minimum(z, 0.0)))


def _sigmoid(z):
    return 0.5 * (1.0 + np.tanh(0.5 * z))


def _erf(x):
    return np.vectorize(math.erf, otypes=[float])(x)


# Activations whose gain follows the second-moment rule; value: (phi, default param).
_SECOND_MOMENT = {
    "gelu": (lambda z, _: 0.5 * z * (1.0 + _erf(z / math.sqrt(2.0))), None),
    "silu": (lambda z, _: z * _sigmoid(z), None),
    "swish": (lambda z, _: z * _sigmoid(z), None),
    "mish": (lambda z, _: z * np.tanh(_softplus(z, 1.0)), None),
    "elu": (_elu, 1.0),
    "softplus": (_softplus, 1.0),
}
NONLINEARITIES: tuple[str, ...] = (*_TORCH, *_SECOND_MOMENT)


@caches.lru("gains.second_moment", 1024)
def second_moment(nonlinearity: str, param: float | None) -> float:
    """$E[\\phi(z)^2]$ for $z \\sim N(0, 1)$.

    Composite Simpson's rule on [-12, 0] and [0, 12] (20 000 panels each; the
    kinks of relu/elu sit on the panel boundary 0), accurate to ~1e-12 here.
    """
    phi, _ = _SECOND_MOMENT[nonlinearity]
    total = 0.0
    for lo, hi in ((-12.0, 0.0), (0.0, 12.0)):
        z = np.linspace(lo, hi, 40_001)
        f = phi(z, param) ** 2 * np.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)
        h = (hi - lo) / 40_000
        total += h / 3.0 * (f[0] + f[-1] + 4.0 * f[1:-1:2].sum() + 2.0 * f[2:-1:2].sum())
    return float(total)


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    r"""Returns the recommended gain for a nonlinearity, as ``torch.nn.init.calculate_gain``.

    torch's values, kept exactly: 1 for ``linear``, the ``conv*`` names and
    ``sigmoid``; $5/3$ for ``tanh``; $\sqrt{2}$ for ``relu``;
    $\sqrt{2 / (1 + a^2)}$ for ``leaky_relu`` with negative slope
    $a$ = ``param`` (default 0.01); $3/4$ for ``selu``. torch ignores
    ``param`` for all but ``leaky_relu``, and so does this function.

    Extended with ``gelu``, ``silu`` (alias ``swish``), ``mish``, ``elu``
    (``param`` = alpha, default 1) and ``softplus`` (``param`` = beta, default 1),
    by the second-moment rule of He et al. (2015): with fan-in scaling
    $\mathrm{Var}[y_l] = n\,\mathrm{Var}[w]\,E[\phi(y_{l-1})^2]$, so unit
    pre-activations stay unit for $g = 1 / \sqrt{E_{z \sim N(0,1)}[\phi(z)^2]}$.
    The rule gives relu's $\sqrt 2$ and leaky_relu's formula exactly; the
    expectation is computed by quadrature (gelu 1.5335, silu 1.6765, mish
    1.4868, elu 1.2452, softplus 1.0419 to 4 decimals). torch's tanh 5/3 and
    selu 3/4 are heuristics and are not derived this way.

    Args:
      nonlinearity: One of ``linear``, ``conv1d``, ``conv2d``, ``conv3d``,
        ``conv_transpose1d``, ``conv_transpose2d``, ``conv_transpose3d``,
        ``sigmoid``, ``tanh``, ``relu``, ``leaky_relu``, ``selu``, ``gelu``,
        ``silu``, ``swish``, ``mish``, ``elu``, ``softplus``.
      param: The negative slope of ``leaky_relu``, alpha of ``elu`` (``>= 0``)
        or beta of ``softplus`` (``> 0``); must be ``None`` for gelu, silu,
        swish and mish.

    Returns:
      The gain, a float.

    Raises:
      ValueError: unknown nonlinearity, or an invalid ``param``.
      ParamTypeError: ``param`` is not a real number (a bool, a string, a
        list, ...); it derives from both TypeError and ValueError, the
        exception torch raises there.

    Examples:
      >>> jax_inits.calculate_gain("tanh")
      1.6666666666666667
      >>> round(jax_inits.calculate_gain("leaky_relu", 0.2), 6)
      1.386750
      >>> round(jax_inits.calculate_gain("gelu"), 4)
      1.5335

    References:
      He et al., [Delving Deep into Rectifiers](https://arxiv.org/abs/1502.01852),
      2015. PyTorch, ``torch.nn.init.calculate_gain``.
    """
    builder = "calculate_gain"
    if nonlinearity in _LINEAR:
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "selu":
        return 3.0 / 4
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else _param(param)
        return math.sqrt(2.0 / (1 + slope**2))
    if nonlinearity in _SECOND_MOMENT:
        _, default = _SECOND_MOMENT[nonlinearity]
        if default is None:
            if param is not None:
                raise ValueError(f"{builder}: {nonlinearity!r} takes no `param`, got {param!r}.")
            return 1.0 / math.sqrt(second_moment(nonlinearity, None))
        if param is None:
            param = default
        strict = nonlinearity == "softplus"
        param = _param(param, minimum=0.0, strict=strict)
        return 1.0 / math.sqrt(second_moment(nonlinearity, param))
    raise ValueError(
        f"{builder}: `nonlinearity` must be one of {NONLINEARITIES}, got {nonlinearity!r}."
    )
