"""torch.nn.init semantics as pure JAX builders (public as ``jax_inits.pytorch``).

Every builder takes a keyword-only ``layout``: ``"jax"`` (default) for kernels
``(..., in, out)`` with the receptive-field axes first (Dense ``(in, out)``, conv
HWIO), or ``"torch"`` for torch weight shapes ``(out, in, *kernel)``. Fans are
torch's: $n_\\mathrm{in} = \\mathrm{in} \\cdot r$,
$n_\\mathrm{out} = \\mathrm{out} \\cdot r$ with $r$ the product of the
kernel sizes, for either layout; eye, dirac, orthogonal and sparse place their
structure where torch does for the torch shape (for ``"jax"``, transposed to
the JAX layout). The four fan-scaled builders (``xavier_*``, ``kaiming_*``)
also take ``layout="transformer_lens"``: that library's weight layouts and fans
(MLP ``(d_in, d_out)``, attention ``(n_heads, d_model, d_head)``).
"""

from __future__ import annotations

import dataclasses
import math

from jax_inits._src import checks, registry, structural
from jax_inits._src.constant import Constant
from jax_inits._src.distributions import Normal, TruncatedNormal, UniformRange
from jax_inits._src.gains import calculate_gain
from jax_inits._src.orthogonal import Orthogonal
from jax_inits._src.variance_scaling import FanScaled, VarianceScaling, _build

_KAIMING_MODES: tuple[str, ...] = ("fan_in", "fan_out")
# The fan-scaled builders (xavier_*, kaiming_*) take one layout more than the rest.
_FAN_LAYOUTS: tuple[str, ...] = (*structural.LAYOUTS, "transformer_lens")


@dataclasses.dataclass(frozen=True, repr=False)
class TorchFans(FanScaled):
    """A variance scaling (composed) whose rank check speaks torch's words."""

    def _check_call(self, shape, dtype):
        if len(shape) < 2:
            raise ValueError(
                f"{self.name}: Fan in and fan out can not be computed for tensor with fewer "
                f"than 2 dimensions, got shape {shape}."
            )
        super()._check_call(shape, dtype)


@dataclasses.dataclass(frozen=True, repr=False)
class TransformerLensScaling(VarianceScaling):
    r"""Variance scaling with the fans of transformer_lens's ``calc_fan_in_and_fan_out``.

    transformer_lens lays weights out its own way and reads the fans by rank:
    $(1, n)$ for a vector of size $n$; $(d_\mathrm{in}, d_\mathrm{out})$ for an
    MLP matrix ``(d_in, d_out)``; $(d_\mathrm{model}, n_\mathrm{heads} d_\mathrm{head})$
    for an attention weight ``(n_heads, d_model, d_head)`` (the rule it applies to
    every rank-3 weight, ``W_O`` of shape ``(n_heads, d_head, d_model)`` included).
    Other ranks have no fans there, and raise here.
    """

    def fans(self, shape: tuple[int, ...]) -> tuple[float, float]:
        shape = tuple(shape)
        if len(shape) == 1:
            return 1.0, float(shape[0])
        if len(shape) == 2:
            return float(shape[0]), float(shape[1])
        if len(shape) == 3:
            return float(shape[1]), float(shape[0] * shape[2])
        raise ValueError(
            f"{self.name}: layout 'transformer_lens' has fans for rank 1, 2 or 3 (as "
            f"transformer_lens's calc_fan_in_and_fan_out), got shape {shape}."
        )

    def _check_call(self, shape, dtype):
        self.fans(shape)  # the rank check, for empty shapes too
        super()._check_call(shape, dtype)


def _fan_scaled(builder: str, variance: float, mode: str, distribution: str, layout: str, dtype):
    if layout not in _FAN_LAYOUTS:
        raise ValueError(f"{builder}: `layout` must be one of {_FAN_LAYOUTS}, got {layout!r}.")
    if layout == "transformer_lens":  # axes unused: fans by rank
        vs = _build(builder, variance, mode, distribution, -2, -1, (), dtype)
        fields = {f.name: getattr(vs, f.name) for f in dataclasses.fields(vs) if f.init}
        return FanScaled(TransformerLensScaling(**fields), name=builder)
    in_axis, out_axis = structural.layout_axes(builder, layout)
    scaling = _build(builder, variance, mode, distribution, in_axis, out_axis, (), dtype)
    return TorchFans(scaling, name=builder)


def _dtype(builder: str, dtype, *, random: bool = True):
    return checks.dtype(builder, dtype, random=random)


@registry.register(
    "pytorch.uniform",
    equivalents={"torch": "uniform_(w, a, b)"},
    kinds={"a": "real", "b": "real", "layout": "layout"},
)
def uniform(a: float = 0.0, b: float = 1.0, *, layout: str = "jax", dtype=None) -> UniformRange:
    """Builds ``torch.nn.init.uniform_``: $U[a, b)$.

    Args:
      a: Lower bound.
      b: Upper bound, ``> a``.
      layout: Keyword-only ``"jax"`` or ``"torch"`` (no effect on elementwise values).
      dtype: Keyword-only default dtype (real floating).

    Returns:
      An initializer ``init(key, shape, dtype=None, out_sharding=None)``.

    Raises:
      TypeError, ValueError: non-finite or non-numeric bounds, ``a >= b``.

    Examples:
      >>> w = jax_inits.pytorch.uniform(-1.0, 3.0)(jax.random.key(0), (256, 256))
      >>> bool(w.min() >= -1.0), bool(w.max() < 3.0)
      (True, True)
    """
    builder = "pytorch.uniform"
    structural.check_layout(builder, layout)
    lo, hi = checks.interval(builder, "a", a, "b", b)
    return UniformRange(lo, hi, _dtype(builder, dtype))


@registry.register(
    "pytorch.normal",
    equivalents={"torch": "normal_(w, mean, std)"},
    kinds={"mean": "real", "std": "nonneg", "layout": "layout"},
)
def normal(mean: float = 0.0, std: float = 1.0, *, layout: str = "jax", dtype=None) -> Normal:
    r"""Builds ``torch.nn.init.normal_``: $\mathcal{N}(\mathrm{mean}, \mathrm{std}^2)$.

    Note the defaults: std 1 (``jax_inits.normal`` defaults to 0.01).

    Args:
      mean: Mean.
      std: Standard deviation, ``>= 0``.
      layout: Keyword-only ``"jax"`` or ``"torch"`` (no effect on elementwise values).
      dtype: Keyword-only default dtype.

    Returns:
      An initializer ``init(key, shape, dtype=None, out_sharding=None)``.

    Raises:
      TypeError, ValueError: non-finite or non-numeric arguments, ``std < 0``.

    Examples:
      >>> w = jax_inits.pytorch.normal(1.0, 0.5)(jax.random.key(0), (512, 512))
      >>> round(float(w.mean()), 2), round(float(w.std()), 2)
      (1.0, 0.5)
    """
    builder = "pytorch.normal"
    structural.check_layout(builder, layout)
    return Normal(
        checks.real_number(builder, "std", std, minimum=0.0),
        _dtype(builder, dtype),
        checks.real_number(builder, "mean", mean),
    )


@registry.register(
    "pytorch.trunc_normal",
    equivalents={"torch": "trunc_normal_(w, mean, std, a, b)"},
    kinds={"mean": "real", "std": "positive", "a": "bound", "b": "bound"},
)
def trunc_normal(
    mean: float = 0.0,
    std: float = 1.0,
    a: float = -2.0,
    b: float = 2.0,
    *,
    layout: str = "jax",
    dtype=None,
) -> TruncatedNormal:
    r"""Builds ``torch.nn.init.trunc_normal_``: a normal truncated to *absolute* bounds.

    $\mathcal{N}(\mathrm{mean}, \mathrm{std}^2)$ conditioned on
    $[a, b]$: unlike ``jax_inits.truncated_normal`` the bounds are values,
    not multiples of ``std`` (the default ``[-2, 2]`` with ``std=0.02`` does
    not truncate at all). ``std`` is the std before truncation, as in torch.
    Bounds far out in the tails are sampled accurately (torch's inverse-CDF
    method loses precision there).

    Args:
      mean: Mean of the untruncated normal.
      std: Its standard deviation, ``> 0``.
      a: Lower bound (may be ``-inf``).
      b: Upper bound, ``> a`` (may be ``inf``).
      layout: Keyword-only ``"jax"`` or ``"torch"`` (no effect on elementwise values).
      dtype: Keyword-only default dtype (real floating).

    Returns:
      An initializer ``init(key, shape, dtype=None, out_sharding=None)``.

    Raises:
      TypeError, ValueError: non-numeric arguments, ``std <= 0``, ``a >= b``.

    Examples:
      >>> w = jax_inits.pytorch.trunc_normal(std=0.02, a=-0.03, b=0.03)(
      ...     jax.random.key(0), (512, 512))
      >>> bool(w.min() >= -0.03), bool(w.max() <= 0.03)
      (True, True)
    """
    builder = "pytorch.trunc_normal"
    structural.check_layout(builder, layout)
    mean = checks.real_number(builder, "mean", mean)
    std = checks.real_number(builder, "std", std, minimum=0.0, strict=True)
    lo, hi = checks.interval(builder, "a", a, "b", b, allow_inf=True)
    return TruncatedNormal(std, _dtype(builder, dtype), (lo - mean) / std, (hi - mean) / std, mean)


@registry.register(
    "pytorch.constant",
    equivalents={"torch": "constant_(w, val)"},
    kinds={"val": "real", "layout": "layout"},
    example=registry.args(0.1),
)
def constant(val: float, *, layout: str = "jax", dtype=None) -> Constant:
    """Builds ``torch.nn.init.constant_``: every entry ``val``.

    Args:
      val: The value (a real number).
      layout: Keyword-only ``"jax"`` or ``"torch"`` (no effect).
      dtype: Keyword-only default dtype (any numeric dtype).

    Returns:
      An initializer ``init(key, shape, dtype=None, out_sharding=None)``.

    Raises:
      TypeError, ValueError: ``val`` not a finite real number.

    Examples:
      >>> jax_inits.pytorch.constant(0.1)(None, (2,))
      Array([0.1, 0.1], dtype=float32)
    """
    builder = "pytorch.constant"
    structural.check_layout(builder, layout)
    return Constant(checks.real_number(builder, "val", val), _dtype(builder, dtype, random=False))


@registry.register("pytorch.ones", equivalents={"torch": "ones_"}, kinds={"layout": "layout"})
def ones(*, layout: str = "jax", dtype=None) -> Constant:
    """Builds ``torch.nn.init.ones_``.

    Args:
      layout: Keyword-only ``"jax"`` or ``"torch"`` (no effect).
      dtype: Keyword-only default dtype (any numeric dtype).

    Returns:
      An initializer ``init(key, shape, dtype=None, out_sharding=None)``.

    Examples:
      >>> jax_inits.pytorch.ones()(None, (2,))
      Array([1., 1.], dtype=float32)
    """
    structural.check_layout("pytorch.ones", layout)
    return Constant(1.0, _dtype("pytorch.ones", dtype, random=False))


@registry.register("pytorch.zeros", equivalents={"torch": "zeros_"}, kinds={"layout": "layout"})
def zeros(*, layout: str = "jax", dtype=None) -> Constant:
    """Builds ``torch.nn.init.zeros_``.

    Args:
      layout: Keyword-only ``"jax"`` or ``"torch"`` (no effect).
      dtype: Keyword-only default dtype (any numeric dtype).

    Returns:
      An initializer ``init(key, shape, dtype=None, out_sharding=None)``.

    Examples:
      >>> jax_inits.pytorch.zeros()(None, (2,))
      Array([0., 0.], dtype=float32)
    """
    structural.check_layout("pytorch.zeros", layout)
    return Constant(0.0, _dtype("pytorch.zeros", dtype, random=False))


@registry.register(
    "pytorch.eye", equivalents={"torch": "eye_"}, kinds={"layout": "layout"}, shape="matrix"
)
def eye(*, layout: str = "jax", dtype=None) -> structural.Identity:
    """Builds ``torch.nn.init.eye_``: the (rectangular) identity of a matrix.

    Ones where row index equals column index, in either layout (the identity's
    transpose is the identity), so a Dense layer initialised with it passes the
    first ``min(in, out)`` features through.

    Args:
      layout: Keyword-only ``"jax"`` or ``"torch"``.
      dtype: Keyword-only default dtype (any numeric dtype).

    Returns:
      An initializer ``init(key, shape, dtype=None, out_sharding=None)``.

    Raises:
      ValueError: at call, a shape that is not a matrix (as torch).

    Examples:
      >>> jax_inits.pytorch.eye()(None, (2, 3))
      Array([[1., 0., 0.],
             [0., 1., 0.]], dtype=float32)
    """
    builder = "pytorch.eye"
    structural.check_layout(builder, layout)
    return structural.Identity(1.0, False, _dtype(builder, dtype, random=False))


@registry.register(
    "pytorch.dirac",
    equivalents={"torch": "dirac_(w, groups)"},
    kinds={"groups": "int", "layout": "layout"},
    shape="conv",
)
def dirac(groups: int = 1, *, layout: str = "jax", dtype=None) -> structural.Dirac:
    """Builds ``torch.nn.init.dirac_``: the identity convolution.

    Same values as `jax_inits.dirac` with gain 1: with ``layout="torch"``
    exactly ``torch.nn.init.dirac_(weight, groups)``; with ``"jax"`` its
    transpose to ``(*spatial, in, out)``.

    Args:
      groups: Number of groups, ``>= 1``, dividing the out-channels.
      layout: Keyword-only ``"jax"`` or ``"torch"``.
      dtype: Keyword-only default dtype (any numeric dtype).

    Returns:
      An initializer ``init(key, shape, dtype=None, out_sharding=None)``.

    Raises:
      ValueError: ``groups < 1``; at call a rank other than 3, 4, 5 or
        out-channels not divisible by ``groups`` (as torch).

    Examples:
      >>> w = jax_inits.pytorch.dirac(layout="torch")(None, (2, 2, 3))
      >>> w[:, :, 1]
      Array([[1., 0.],
             [0., 1.]], dtype=float32)
    """
    return structural.make_dirac("pytorch.dirac", groups, 1.0, dtype, layout)


def _gain_of(builder: str, nonlinearity: str, a: float) -> float:
    try:
        return calculate_gain(nonlinearity, a)
    except (TypeError, ValueError) as error:
        message = str(error).replace("calculate_gain: `param`", f"{builder}: `a`")
        raise type(error)(message.replace("calculate_gain", builder)) from None


@registry.register(
    "pytorch.xavier_uniform",
    equivalents={"torch": "xavier_uniform_(w, gain)"},
    kinds={"gain": "nonneg", "a": "nonneg", "scale": "nonneg", "layout": "fan_layout"},
)
def xavier_uniform(
    gain: float = 1.0,
    *,
    a: float = math.sqrt(3.0),
    scale: float = 2.0,
    layout: str = "jax",
    dtype=None,
) -> FanScaled:
    r"""Builds ``torch.nn.init.xavier_uniform_``: $U[-b, b)$,
    $b = \mathrm{gain}\sqrt{6 / (n_\mathrm{in} + n_\mathrm{out})}$.

    The keyword-only ``a`` and ``scale`` are colossalai's ``xavier_uniform_(a,
    scale, gain)``: $\sigma = \mathrm{gain}\sqrt{\mathrm{scale} / (n_\mathrm{in} +
    n_\mathrm{out})}$ and $b = a\,\sigma$. Their defaults $a = \sqrt 3$ (a uniform's
    bound-to-std ratio) and $\mathrm{scale} = 2$ give torch's bound, and the same
    initializer. This ``a`` is the bound-to-std ratio, not the negative slope that
    `kaiming_uniform` calls ``a``.

    Args:
      gain: Multiplier (e.g. `jax_inits.calculate_gain`), ``>= 0``.
      a: Keyword-only bound-to-std ratio, ``>= 0`` (colossalai's ``a``).
      scale: Keyword-only numerator of the variance, ``>= 0`` (colossalai's ``scale``).
      layout: Keyword-only ``"jax"``, ``"torch"`` or ``"transformer_lens"`` (fans
        ``(1, n)``, ``(d_in, d_out)``, ``(d_model, n_heads * d_head)`` by rank).
      dtype: Keyword-only default dtype.

    Returns:
      An initializer ``init(key, shape, dtype=None, out_sharding=None)``.

    Raises:
      TypeError, ValueError: bad ``gain``, ``a``, ``scale`` or ``layout``; at call
        rank < 2 (``"transformer_lens"``: a rank other than 1, 2 or 3).

    Examples:
      >>> init = jax_inits.pytorch.xavier_uniform(layout="torch")
      >>> w = init(jax.random.key(0), (256, 128))  # torch (out, in)
      >>> bool(jnp.abs(w).max() <= (6 / 384) ** 0.5)
      True
      >>> colossal = jax_inits.pytorch.xavier_uniform(a=2.0, scale=1.0)
      >>> round(colossal.target_std((256, 128)) * 3**0.5 * 384**0.5, 6)  # b = 2 sqrt(1/384)
      2.0

    References:
      Glorot & Bengio, [Understanding the difficulty of training deep feedforward
      neural networks](http://proceedings.mlr.press/v9/glorot10a.html), 2010.
      ColossalAI, ``colossalai.nn.init.xavier_uniform_``.
    """
    builder = "pytorch.xavier_uniform"
    gain = checks.real_number(builder, "gain", gain, minimum=0.0)
    ratio = checks.real_number(builder, "a", a, minimum=0.0) / math.sqrt(3.0)
    scale = checks.real_number(builder, "scale", scale, minimum=0.0)
    # Written so that the defaults multiply gain**2 by exactly 1.0 (torch's bits).
    variance = gain**2 * (scale / 2.0) * ratio**2
    return _fan_scaled(builder, variance, "fan_avg", "uniform", layout, dtype)


@registry.register(
    "pytorch.xavier_normal",
    equivalents={"torch": "xavier_normal_(w, gain)"},
    kinds={"gain": "nonneg", "scale": "nonneg", "layout": "fan_layout"},
)
def xavier_normal(
    gain: float = 1.0, *, scale: float = 2.0, layout: str = "jax", dtype=None
) -> FanScaled:
    r"""Builds ``torch.nn.init.xavier_normal_``: $\mathcal{N}(0, \sigma^2)$,
    $\sigma = \mathrm{gain}\sqrt{2 / (n_\mathrm{in} + n_\mathrm{out})}$ (not truncated).

    The keyword-only ``scale`` is colossalai's ``xavier_normal_(scale, gain)``:
    $\sigma = \mathrm{gain}\sqrt{\mathrm{scale} / (n_\mathrm{in} + n_\mathrm{out})}$;
    its default 2 is torch's.

    Args:
      gain: Multiplier, ``>= 0``.
      scale: Keyword-only numerator of the variance, ``>= 0`` (colossalai's ``scale``).
      layout: Keyword-only ``"jax"``, ``"torch"`` or ``"transformer_lens"`` (fans
        ``(1, n)``, ``(d_in, d_out)``, ``(d_model, n_heads * d_head)`` by rank).
      dtype: Keyword-only default dtype.

    Returns:
      An initializer ``init(key, shape, dtype=None, out_sharding=None)``.

    Raises:
      TypeError, ValueError: bad ``gain``, ``scale`` or ``layout``; at call rank < 2
        (``"transformer_lens"``: a rank other than 1, 2 or 3).

    Examples:
      >>> w = jax_inits.pytorch.xavier_normal()(jax.random.key(0), (512, 512))
      >>> round(float(w.std()) * 512 ** 0.5, 1)
      1.0

    References:
      Glorot & Bengio, [Understanding the difficulty of training deep feedforward
      neural networks](http://proceedings.mlr.press/v9/glorot10a.html), 2010.
      ColossalAI, ``colossalai.nn.init.xavier_normal_``.
    """
    builder = "pytorch.xavier_normal"
    gain = checks.real_number(builder, "gain", gain, minimum=0.0)
    scale = checks.real_number(builder, "scale", scale, minimum=0.0)
    return _fan_scaled(builder, gain**2 * (scale / 2.0), "fan_avg", "normal", layout, dtype)


def _kaiming(builder, a, mode, nonlinearity, distribution, layout, dtype, gain=1.0):
    if mode not in _KAIMING_MODES:
        raise ValueError(
            f"{builder}: `mode` must be one of {_KAIMING_MODES} (Mode {mode!r} not "
            f"supported), got {mode!r}."
        )
    extra = checks.real_number(builder, "gain", gain, minimum=0.0)
    std_gain = extra * _gain_of(builder, nonlinearity, a)  # extra = 1.0: torch's bits
    return _fan_scaled(builder, std_gain**2, mode, distribution, layout, dtype)


@registry.register(
    "pytorch.kaiming_uniform",
    equivalents={"torch": "kaiming_uniform_(w, a, mode, nonlinearity)"},
    kinds={"gain": "nonneg", "layout": "fan_layout"},
)
def kaiming_uniform(
    a: float = 0.0,
    mode: str = "fan_in",
    nonlinearity: str = "leaky_relu",
    *,
    gain: float = 1.0,
    layout: str = "jax",
    dtype=None,
) -> FanScaled:
    r"""Builds ``torch.nn.init.kaiming_uniform_``: $U[-b, b)$,
    $b = \mathrm{gain}\cdot g\sqrt{3 / n}$, $g$ = ``calculate_gain(nonlinearity, a)``.

    With ``a=sqrt(5)`` this is the default of torch's ``nn.Linear`` and
    ``nn.Conv*`` weights, $b = 1/\sqrt{n_\mathrm{in}}$ (`linear_default`).

    The keyword-only ``gain`` (default 1, torch's formula) is the extra multiplier
    of transformer_lens's ``init_kaiming_uniform_(param, a, nonlinearity, gain,
    mode)``. Port those calls by keyword (its second argument is ``nonlinearity``,
    torch's is ``mode``) with ``layout="transformer_lens"``; its default
    ``nonlinearity="relu"`` has the gain $\sqrt 2$ of the default here
    (``"leaky_relu"`` with ``a=0``).

    Args:
      a: Negative slope for ``leaky_relu`` (ignored by other nonlinearities).
      mode: ``"fan_in"`` or ``"fan_out"``.
      nonlinearity: A name `jax_inits.calculate_gain` knows.
      gain: Keyword-only extra multiplier, ``>= 0``.
      layout: Keyword-only ``"jax"``, ``"torch"`` or ``"transformer_lens"`` (fans
        ``(1, n)``, ``(d_in, d_out)``, ``(d_model, n_heads * d_head)`` by rank).
      dtype: Keyword-only default dtype.

    Returns:
      An initializer ``init(key, shape, dtype=None, out_sharding=None)``.

    Raises:
      ValueError: unknown ``mode``/``nonlinearity``/``layout``, ``gain < 0``; at
        call rank < 2 (``"transformer_lens"``: a rank other than 1, 2 or 3).
      TypeError: ``a`` or ``gain`` not a real number (for ``a`` the exception is
        also a ValueError, as torch raises).

    Examples:
      >>> init = jax_inits.pytorch.kaiming_uniform(nonlinearity="relu")
      >>> w = init(jax.random.key(0), (3, 3, 64, 32))  # HWIO, fan_in = 576
      >>> bool(jnp.abs(w).max() <= (6 / 576) ** 0.5)
      True

    References:
      He et al., [Delving Deep into Rectifiers](https://arxiv.org/abs/1502.01852), 2015.
      TransformerLens, ``utilities.initialization_utils.init_kaiming_uniform_``.
    """
    return _kaiming(
        "pytorch.kaiming_uniform", a, mode, nonlinearity, "uniform", layout, dtype, gain
    )


@registry.register(
    "pytorch.kaiming_normal",
    equivalents={"torch": "kaiming_normal_(w, a, mode, nonlinearity)"},
    kinds={"gain": "nonneg", "layout": "fan_layout"},
)
def kaiming_normal(
    a: float = 0.0,
    mode: str = "fan_in",
    nonlinearity: str = "leaky_relu",
    *,
    gain: float = 1.0,
    layout: str = "jax",
    dtype=None,
) -> FanScaled:
    r"""Builds ``torch.nn.init.kaiming_normal_``: $\mathcal{N}(0, \sigma^2)$,
    $\sigma = \mathrm{gain}\cdot g / \sqrt{n}$, $g$ = ``calculate_gain(nonlinearity,
    a)`` (not truncated).

    The keyword-only ``gain`` (default 1, torch's formula) is the extra multiplier
    of transformer_lens's ``init_kaiming_normal_(param, a, nonlinearity, gain,
    mode)``; port those calls by keyword with ``layout="transformer_lens"`` (see
    `kaiming_uniform`).

    Args:
      a: Negative slope for ``leaky_relu`` (ignored by other nonlinearities).
      mode: ``"fan_in"`` or ``"fan_out"``.
      nonlinearity: A name `jax_inits.calculate_gain` knows.
      gain: Keyword-only extra multiplier, ``>= 0``.
      layout: Keyword-only ``"jax"``, ``"torch"`` or ``"transformer_lens"`` (fans
        ``(1, n)``, ``(d_in, d_out)``, ``(d_model, n_heads * d_head)`` by rank).
      dtype: Keyword-only default dtype.

    Returns:
      An initializer ``init(key, shape, dtype=None, out_sharding=None)``.

    Raises:
      ValueError: unknown ``mode``/``nonlinearity``/``layout``, ``gain < 0``; at
        call rank < 2 (``"transformer_lens"``: a rank other than 1, 2 or 3).
      TypeError: ``a`` or ``gain`` not a real number (for ``a`` the exception is
        also a ValueError, as torch raises).

    Examples:
      >>> init = jax_inits.pytorch.kaiming_normal(mode="fan_out", layout="torch")
      >>> w = init(jax.random.key(0), (256, 1024))  # torch (out, in): fan_out = 256
      >>> round(float(w.std()) * (256 / 2) ** 0.5, 1)
      1.0
      >>> w_q = jax_inits.pytorch.kaiming_normal(  # transformer_lens W_Q, fan_in = d_model
      ...     nonlinearity="relu", gain=0.5, layout="transformer_lens")
      >>> round(w_q.target_std((8, 512, 64)) * 512**0.5 / 2**0.5, 6)
      0.5

    References:
      He et al., [Delving Deep into Rectifiers](https://arxiv.org/abs/1502.01852), 2015.
      TransformerLens, ``utilities.initialization_utils.init_kaiming_normal_``.
    """
    return _kaiming("pytorch.kaiming_normal", a, mode, nonlinearity, "normal", layout, dtype, gain)


@registry.register(
    "pytorch.orthogonal",
    equivalents={"torch": "orthogonal_(w, gain)"},
    kinds={"gain": "real", "layout": "layout"},
)
def orthogonal(gain: float = 1.0, *, layout: str = "jax", dtype=None) -> Orthogonal:
    r"""Builds ``torch.nn.init.orthogonal_``: a Haar (semi-)orthogonal matrix times ``gain``.

    torch views the weight as a matrix with rows along dim 0 (the out axis) and
    all other axes flattened into columns; that matrix has orthonormal rows or
    columns. With ``layout="jax"`` the rows are the out axis (-1) and the
    result is the transpose of such a torch weight.

    Args:
      gain: Multiplier.
      layout: Keyword-only ``"jax"`` or ``"torch"``.
      dtype: Keyword-only default dtype (floating or complex).

    Returns:
      An initializer ``init(key, shape, dtype=None, out_sharding=None)``.

    Raises:
      TypeError, ValueError: bad ``gain``/``layout``; at call rank < 2.

    Examples:
      >>> w = jax_inits.pytorch.orthogonal(layout="torch")(jax.random.key(0), (16, 4, 3, 3))
      >>> m = w.reshape(16, 36)
      >>> bool(jnp.allclose(m @ m.T, jnp.eye(16), atol=1e-5))
      True

    References:
      Saxe et al., [Exact solutions to the nonlinear dynamics of learning in deep
      linear neural networks](https://arxiv.org/abs/1312.6120), 2014.
    """
    builder = "pytorch.orthogonal"
    row_axis = structural.layout_axes(builder, layout)[1]
    return Orthogonal(checks.real_number(builder, "gain", gain), row_axis, _dtype(builder, dtype))


@registry.register(
    "pytorch.sparse",
    equivalents={"torch": "sparse_(w, sparsity, std)"},
    kinds={"sparsity": "nonneg", "std": "nonneg", "layout": "layout"},
    example=registry.args(0.25),
    shape="matrix",
)
def sparse(sparsity: float, std: float = 0.01, *, layout: str = "jax", dtype=None):
    """Builds ``torch.nn.init.sparse_``: normal values, ``ceil(sparsity * out)`` zeros
    per input unit.

    The same initializer as `jax_inits.sparse` (torch names the std ``std``).

    Args:
      sparsity: Fraction of zeros per input unit, in ``[0, 1]``.
      std: Std of the non-zero values, ``>= 0``.
      layout: Keyword-only ``"jax"`` (``(in, out)``) or ``"torch"`` (``(out, in)``).
      dtype: Keyword-only default dtype (real floating).

    Returns:
      An initializer ``init(key, shape, dtype=None, out_sharding=None)``.

    Raises:
      TypeError, ValueError: bad arguments; at call a non-matrix shape (as torch).

    Examples:
      >>> w = jax_inits.pytorch.sparse(0.5, layout="torch")(jax.random.key(0), (10, 3))
      >>> (w == 0).sum(axis=0).tolist()  # per column (input unit) of (out, in)
      [5, 5, 5]

    References:
      Martens, [Deep learning via Hessian-free
      optimization](https://www.cs.toronto.edu/~jmartens/docs/Deep_HessianFree.pdf), 2010.
    """
    return structural.make_sparse("pytorch.sparse", sparsity, std, dtype, layout, "std")


@registry.register(
    "pytorch.linear_default",
    equivalents={"torch": "kaiming_uniform_(w, a=sqrt(5)) (nn.Linear)"},
    kinds={"layout": "layout"},
)
def linear_default(*, layout: str = "jax", dtype=None) -> TorchFans:
    r"""Builds the default weight init of torch's ``nn.Linear``: $U[-1/\sqrt{n_\mathrm{in}},
    1/\sqrt{n_\mathrm{in}})$.

    torch calls ``kaiming_uniform_(weight, a=sqrt(5))``: gain $\sqrt{2/6}$,
    bound $\sqrt{3}\sqrt{1/3}/\sqrt{n_\mathrm{in}}$.

    Args:
      layout: Keyword-only ``"jax"`` (``(in, out)``) or ``"torch"`` (``(out, in)``).
      dtype: Keyword-only default dtype.

    Returns:
      An initializer ``init(key, shape, dtype=None, out_sharding=None)``.

    Examples:
      >>> w = jax_inits.pytorch.linear_default()(jax.random.key(0), (400, 300))
      >>> bool(jnp.abs(w).max() <= 1 / 20), round(float(jnp.abs(w).max()) * 20, 2)
      (True, 1.0)
    """
    structural.check_layout("pytorch.linear_default", layout)  # torch's layouts only
    return _kaiming(  # pyright: ignore[reportReturnType]
        "pytorch.linear_default", math.sqrt(5.0), "fan_in", "leaky_relu", "uniform", layout, dtype
    )


@registry.register(
    "pytorch.conv_default",
    equivalents={"torch": "kaiming_uniform_(w, a=sqrt(5)) (nn.Conv*)"},
    kinds={"layout": "layout"},
    shape="conv",
)
def conv_default(*, layout: str = "jax", dtype=None) -> TorchFans:
    r"""Builds the default weight init of torch's ``nn.Conv{1,2,3}d``.

    The same rule as `linear_default` with the convolution fan
    $n_\mathrm{in} = \mathrm{in} \cdot \prod k$ (``in`` per group).

    Args:
      layout: Keyword-only ``"jax"`` (HWIO) or ``"torch"`` (OIHW).
      dtype: Keyword-only default dtype.

    Returns:
      An initializer ``init(key, shape, dtype=None, out_sharding=None)``.

    Examples:
      >>> w = jax_inits.pytorch.conv_default()(jax.random.key(0), (3, 3, 16, 32))
      >>> bool(jnp.abs(w).max() <= 1 / 12)  # fan_in = 144
      True
    """
    structural.check_layout("pytorch.conv_default", layout)  # torch's layouts only
    return _kaiming(  # pyright: ignore[reportReturnType]
        "pytorch.conv_default", math.sqrt(5.0), "fan_in", "leaky_relu", "uniform", layout, dtype
    )


@registry.register(
    "pytorch.linear_bias_default",
    equivalents={"torch": "uniform_(b, -1/sqrt(fan_in), 1/sqrt(fan_in))"},
    kinds={"fan_in": "nonneg", "layout": "layout"},
    example=registry.args(64),
)
def linear_bias_default(fan_in: float, *, layout: str = "jax", dtype=None):
    r"""Builds the default bias init of torch's ``nn.Linear``/``nn.Conv*``:
    $U[-1/\sqrt{n_\mathrm{in}}, 1/\sqrt{n_\mathrm{in}})$, zeros if ``fan_in`` is 0.

    The bias shape does not hold the fan, so it is an argument: the weight's
    fan-in (``in`` for Linear, ``in * prod(kernel)`` per group for convolutions).

    Args:
      fan_in: The layer's fan-in, ``>= 0``.
      layout: Keyword-only ``"jax"`` or ``"torch"`` (no effect on a bias).
      dtype: Keyword-only default dtype.

    Returns:
      An initializer ``init(key, shape, dtype=None, out_sharding=None)``.

    Raises:
      TypeError, ValueError: ``fan_in`` negative or not a real number.

    Examples:
      >>> b = jax_inits.pytorch.linear_bias_default(100)(jax.random.key(0), (1000,))
      >>> bool(jnp.abs(b).max() <= 0.1)
      True
    """
    builder = "pytorch.linear_bias_default"
    structural.check_layout(builder, layout)
    fan_in = checks.real_number(builder, "fan_in", fan_in, minimum=0.0)
    if fan_in == 0:
        return Constant(0.0, _dtype(builder, dtype, random=False))
    bound = 1.0 / math.sqrt(fan_in)
    return UniformRange(-bound, bound, _dtype(builder, dtype))


@registry.register(
    "pytorch.embedding_default",
    equivalents={"torch": "normal_ (nn.Embedding)"},
    kinds={"layout": "layout"},
)
def embedding_default(*, layout: str = "jax", dtype=None) -> Normal:
    r"""Builds the default init of torch's ``nn.Embedding``: $\mathcal{N}(0, 1)$.

    Args:
      layout: Keyword-only ``"jax"`` or ``"torch"`` (no effect; both are
        ``(num_embeddings, dim)``).
      dtype: Keyword-only default dtype.

    Returns:
      An initializer ``init(key, shape, dtype=None, out_sharding=None)``.

    Examples:
      >>> e = jax_inits.pytorch.embedding_default()(jax.random.key(0), (1000, 64))
      >>> round(float(e.std()), 1)
      1.0
    """
    builder = "pytorch.embedding_default"
    structural.check_layout(builder, layout)
    return Normal(1.0, _dtype(builder, dtype))
