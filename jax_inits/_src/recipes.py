"""Initialization recipes from the literature, each built from the package's pieces.

Scaled fixed-std recipes (``small_init``, ``wang_init``, ``common_init``,
``uniform_init``, ``scaled_residual``, ``t_fixup_embedding``) go through
`jax_inits._src.distributions.with_std`, so ``std`` always means the
standard deviation of the result. Fan-based recipes (``deepnet``, ``fixup``,
``t_fixup``) are `variance_scaling` with the paper's scale. ``mitchell``
(OLMo), ``zero_init`` (ZerO) and ``block_orthogonal`` have classes of their own.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from typing import Any, Literal, cast

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from jax_inits._src import caches, checks, constant, registry, sampling
from jax_inits._src.base import InitializerBase
from jax_inits._src.distributions import UniformRange, require_real, with_std
from jax_inits._src.dtypes import OPEN, Interval, check_bounds, work_dtype
from jax_inits._src.variance_scaling import AxisArg, VarianceScaling, _build, _fans

# xlstm_jax's names for the arguments of its init module (``models.shared.init``).
InitDistribution = Literal["normal", "truncated_normal", "uniform"]
InitDistribution.__doc__ = """The ``distribution`` of the std-based recipes (xlstm_jax's name).

``"normal"``, ``"truncated_normal"`` or ``"uniform"``; the values have the
recipe's std for each.

Examples:
  >>> import typing
  >>> typing.get_args(jax_inits.recipes.InitDistribution)
  ('normal', 'truncated_normal', 'uniform')
"""
InitFnName = Literal["small", "wang", "wang2", "zeros"]
InitFnName.__doc__ = """The ``fn_name`` of `common_init` (xlstm_jax's name).

Examples:
  >>> import typing
  >>> typing.get_args(jax_inits.recipes.InitFnName)
  ('small', 'wang', 'wang2', 'zeros')
"""
Distribution = InitDistribution
Architecture = Literal["encoder", "decoder", "encoder_decoder"]
Part = Literal["encoder", "decoder"]
_DISTRIBUTIONS: tuple[str, ...] = typing.get_args(InitDistribution)
_FN_NAMES: tuple[str, ...] = typing.get_args(InitFnName)
_ARCHITECTURES: tuple[str, ...] = ("encoder", "decoder", "encoder_decoder")
_PARTS: tuple[str, ...] = ("encoder", "decoder")


# --- argument checks ---------------------------------------------------------------


def _count(builder: str, arg: str, value: Any, minimum: int = 1) -> int:
    """An integer ``>= minimum`` (the message says "> 0" for ``minimum == 1``)."""
    number = checks.integer(builder, arg, value)
    if number < minimum:
        wanted = "> 0" if minimum == 1 else f">= {minimum}"
        raise ValueError(f"{builder}: `{arg}` must be {wanted}, got {value!r}.")
    return number


def _choice(builder: str, arg: str, value: Any, allowed: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value not in allowed:
        raise ValueError(f"{builder}: `{arg}` must be one of {allowed}, got {value!r}.")
    return value


def _std_init(builder: str, std: float, distribution: str) -> InitializerBase:
    return with_std(builder, std, distribution)


# --- fixed-std recipes ---------------------------------------------------------------


def _small_std(dim: int) -> float:
    return math.sqrt(2.0 / (5.0 * dim))


def _wang_std(dim: int, num_blocks: int) -> float:
    return 2.0 / num_blocks / math.sqrt(dim)


@registry.register(
    "recipes.small_init",
    kinds={"dim": "count", "distribution": "choice"},
    example=registry.args(256),
)
def small_init(dim: int, distribution: InitDistribution = "normal") -> InitializerBase:
    r"""Builds the "small init" of Nguyen & Salazar: std $\sqrt{2 / (5\,d)}$.

    Zero mean, standard deviation $\sqrt{2/(5 d)}$ of the *result* for
    every ``distribution`` (the truncated normal is widened to compensate, the
    uniform has bounds $\pm\sqrt{3}\,\mathrm{std}$). The same recipe as
    ``small_init`` in GPT-NeoX and xlstm_jax.

    Args:
      dim: Feature dimension $d$ (the model width), ``> 0``.
      distribution: ``"normal"``, ``"truncated_normal"`` or ``"uniform"``.

    Returns:
      An initializer ``init(key, shape, dtype=None, out_sharding=None)``.

    Raises:
      TypeError: ``dim`` is not an integer.
      ValueError: ``dim <= 0`` or an unknown ``distribution``.

    Examples:
      >>> init = jax_inits.recipes.small_init(512)
      >>> init.target_std((512, 512)) == (2 / (5 * 512)) ** 0.5
      True
      >>> w = init(jax.random.key(0), (512, 512))
      >>> round(float(w.std()) / init.target_std(w.shape), 2)
      1.0

    References:
      Nguyen & Salazar, [Transformers without Tears: Improving the Normalization
      of Self-Attention](https://arxiv.org/abs/1910.05895), 2019.
    """
    builder = "recipes.small_init"
    return _std_init(builder, _small_std(_count(builder, "dim", dim)), distribution)


@registry.register(
    "recipes.wang_init",
    kinds={"dim": "count", "num_blocks": "count", "distribution": "choice"},
    example=registry.args(256, 12),
)
def wang_init(
    dim: int, num_blocks: int, distribution: InitDistribution = "normal"
) -> InitializerBase:
    r"""Builds Wang's init for residual output layers: std $2 / (L \sqrt{d})$.

    Zero mean, standard deviation $2 / (L\sqrt{d})$ of the result, with
    $L$ = ``num_blocks``. Introduced by Ben Wang in Mesh Transformer JAX
    (GPT-J); named ``wang_init`` in GPT-NeoX and xlstm_jax, where it initializes
    the output projections of the residual blocks.

    Args:
      dim: Feature dimension $d$, ``> 0``.
      num_blocks: Number of residual blocks $L$, ``> 0``.
      distribution: ``"normal"``, ``"truncated_normal"`` or ``"uniform"``.

    Returns:
      An initializer ``init(key, shape, dtype=None, out_sharding=None)``.

    Raises:
      TypeError: ``dim`` or ``num_blocks`` is not an integer.
      ValueError: ``dim`` or ``num_blocks`` ``<= 0``, or an unknown ``distribution``.

    Examples:
      >>> init = jax_inits.recipes.wang_init(1024, 16, "uniform")
      >>> init.target_std((1024, 1024))
      0.00390625
      >>> w = init(jax.random.key(0), (1024, 1024))
      >>> bool(jnp.abs(w).max() <= 3 ** 0.5 * 0.00390625)
      True

    References:
      Wang & Komatsuzaki, [GPT-J-6B](https://github.com/kingoflolz/mesh-transformer-jax),
      2021. Black et al., [GPT-NeoX-20B: An Open-Source Autoregressive Language
      Model](https://arxiv.org/abs/2204.06745), 2022.
    """
    builder = "recipes.wang_init"
    std = _wang_std(_count(builder, "dim", dim), _count(builder, "num_blocks", num_blocks))
    return _std_init(builder, std, distribution)


@registry.register(
    "recipes.common_init",
    kinds={"fn_name": "choice", "dim": "count", "num_blocks": "count?", "distribution": "choice"},
    example=registry.args("wang2", 256, 12),
)
def common_init(
    fn_name: InitFnName,
    dim: int,
    num_blocks: int | None = None,
    distribution: InitDistribution = "normal",
) -> InitializerBase:
    r"""Builds one of the common transformer inits by name (as xlstm_jax's
    ``create_common_init_fn``).

    * ``"small"``: `small_init` ``(dim, distribution)``;
    * ``"wang"``: `wang_init` ``(dim, num_blocks, distribution)``;
    * ``"wang2"``: `wang_init` ``(dim, 2 * num_blocks, distribution)``;
    * ``"zeros"``: all zeros.

    Differences from xlstm_jax's ``create_common_init_fn(fn_name, dim, num_blocks,
    distribution)``, with the same parameters in the same order: ``num_blocks`` is
    optional here (``None``), since only ``"wang"`` and ``"wang2"`` use it, and
    those raise without it; and ``std`` is the std of the result for every
    ``distribution``, as xlstm_jax documents, where its code passes the std to
    ``jax.nn.initializers.truncated_normal``, whose values have 0.88 times that std
    (for xlstm_jax's exact values use ``jax_inits.truncated_normal(std)``).

    Args:
      fn_name: ``"small"``, ``"wang"``, ``"wang2"`` or ``"zeros"`` (`InitFnName`).
      dim: Feature dimension, ``> 0`` (checked for every ``fn_name``).
      num_blocks: Number of residual blocks, ``> 0``; required by ``"wang"`` and
        ``"wang2"``, checked when given.
      distribution: ``"normal"``, ``"truncated_normal"`` or ``"uniform"``.

    Returns:
      An initializer ``init(key, shape, dtype=None, out_sharding=None)``.

    Raises:
      TypeError: ``dim`` or ``num_blocks`` is not an integer.
      ValueError: unknown ``fn_name`` or ``distribution``; ``dim`` or
        ``num_blocks`` ``<= 0``; ``num_blocks`` missing for ``"wang"``/``"wang2"``.

    Examples:
      >>> init = jax_inits.recipes.common_init("wang2", 256, num_blocks=4)
      >>> init.target_std((256, 256)) == 2 / 8 / 256 ** 0.5
      True
      >>> jax_inits.recipes.common_init("zeros", 256)(jax.random.key(0), (2, 2))
      Array([[0., 0.],
             [0., 0.]], dtype=float32)

    References:
      Beck et al., [xLSTM: Extended Long Short-Term
      Memory](https://arxiv.org/abs/2405.04517), 2024 (xlstm_jax); see
      `small_init` and `wang_init` for the recipes themselves.
    """
    builder = "recipes.common_init"
    fn_name = cast(
        Literal["small", "wang", "wang2", "zeros"],
        _choice(builder, "fn_name", fn_name, _FN_NAMES),
    )
    dim = _count(builder, "dim", dim)
    if num_blocks is not None:
        num_blocks = _count(builder, "num_blocks", num_blocks)
    if fn_name == "zeros":
        _choice(builder, "distribution", distribution, _DISTRIBUTIONS)
        return constant.zeros  # the registry records the call on a copy
    if fn_name == "small":
        return _std_init(builder, _small_std(dim), distribution)
    if num_blocks is None:
        raise ValueError(
            f"{builder}: `num_blocks` must be given for fn_name={fn_name!r}, got None."
        )
    blocks = 2 * num_blocks if fn_name == "wang2" else num_blocks
    return _std_init(builder, _wang_std(dim, blocks), distribution)


@registry.register(
    "recipes.uniform_init",
    kinds={"min_val": "real", "max_val": "real"},
    example=registry.args(-0.1, 0.1),
)
def uniform_init(min_val: float, max_val: float) -> InitializerBase:
    r"""Builds an initializer of uniform values on $[\mathrm{min\_val}, \mathrm{max\_val})$.

    The values are ``jax.random.uniform(key, shape, dtype, min_val, max_val)``
    (as xlstm_jax's ``uniform_init``); standard deviation
    $(\mathrm{max\_val} - \mathrm{min\_val})/\sqrt{12}$.

    Args:
      min_val: Lower end of the interval (finite).
      max_val: Upper end of the interval, ``> min_val``.

    Returns:
      An initializer ``init(key, shape, dtype=None, out_sharding=None)``.

    Raises:
      TypeError: a bound is not a real number.
      ValueError: a bound is not finite, or ``min_val >= max_val``.

    Examples:
      >>> w = jax_inits.recipes.uniform_init(-0.5, 1.5)(jax.random.key(0), (256, 256))
      >>> bool(w.min() >= -0.5), bool(w.max() <= 1.5), round(float(w.mean()), 1)
      (True, True, 0.5)

    References:
      Beck et al., [xLSTM: Extended Long Short-Term
      Memory](https://arxiv.org/abs/2405.04517), 2024 (xlstm_jax).
    """
    builder = "recipes.uniform_init"
    lo, hi = checks.interval(builder, "min_val", min_val, "max_val", max_val)
    return UniformRange(lo, hi)


@registry.register(
    "recipes.scaled_residual",
    kinds={"num_layers": "count", "std": "nonneg", "distribution": "choice"},
    example=registry.args(12),
)
def scaled_residual(
    num_layers: int, std: float = 0.02, distribution: Distribution = "normal"
) -> InitializerBase:
    r"""Builds the GPT-2 / Megatron-LM init of residual output projections.

    Standard deviation $\mathrm{std} / \sqrt{2 N}$ of the result, with
    $N$ = ``num_layers``: each transformer layer adds two residual
    branches (attention and MLP), so the residual stream's variance grows with
    $2N$. Other weights use plain ``std`` (e.g.
    ``jax_inits.normal(0.02)``).

    Args:
      num_layers: Number of transformer layers $N$, ``> 0``.
      std: Base standard deviation, ``>= 0``.
      distribution: ``"normal"``, ``"truncated_normal"`` or ``"uniform"``.

    Returns:
      An initializer ``init(key, shape, dtype=None, out_sharding=None)``.

    Raises:
      TypeError: ``num_layers`` is not an integer or ``std`` not a real number.
      ValueError: ``num_layers <= 0``, ``std`` negative or not finite, or an
        unknown ``distribution``.

    Examples:
      >>> init = jax_inits.recipes.scaled_residual(12)
      >>> round(init.target_std((768, 768)), 6)  # 0.02 / sqrt(24)
      0.004082

    References:
      Radford et al., [Language Models are Unsupervised Multitask Learners](https://cdn.openai.com/better-language-models/language_models_are_unsupervised_multitask_learners.pdf),
      2019. Shoeybi et al., [Megatron-LM: Training Multi-Billion Parameter
      Language Models Using Model Parallelism](https://arxiv.org/abs/1909.08053),
      2019.
    """
    builder = "recipes.scaled_residual"
    layers = _count(builder, "num_layers", num_layers)
    std = checks.real_number(builder, "std", std, minimum=0.0)
    return _std_init(builder, std / math.sqrt(2.0 * layers), distribution)


# --- OLMo "mitchell" -------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, repr=False)
class Mitchell(InitializerBase):
    name: str = dataclasses.field(default="recipes.mitchell", compare=False, kw_only=True)
    layer_id: int | None = None
    cutoff_factor: float = 3.0
    in_axis: checks.Axes = -2
    out_axis: checks.Axes = -1
    batch_axis: checks.Axes = ()

    @property
    def formula(self) -> str:
        depth = "" if self.layer_id is None else f" / (2 * {self.layer_id + 1})"
        c = self.cutoff_factor
        return f"s * TN({-c:g}, {c:g}), s^2 = 1 / fan_in{depth}"

    def sigma(self, shape: tuple[int, ...]) -> float:
        """The std of the normal before truncation."""
        fan_in, _ = _fans(self.name, tuple(shape), self.in_axis, self.out_axis, self.batch_axis)
        depth = 1 if self.layer_id is None else 2 * (self.layer_id + 1)
        return 1.0 / math.sqrt(fan_in * depth) if fan_in else 0.0

    def target_std(self, shape) -> float:
        c = self.cutoff_factor
        return self.sigma(shape) * sampling.truncated_normal_std(-c, c)

    def _check_call(self, shape, dtype):
        require_real(self.name, dtype)
        _fans(self.name, shape, self.in_axis, self.out_axis, self.batch_axis)
        if math.prod(shape):
            check_bounds(self.name, self._bounds(shape, work_dtype(dtype)), dtype)

    def _bounds(self, shape, dtype):
        bound = self.cutoff_factor * self.sigma(shape)
        return Interval(-bound, bound, OPEN)

    def _sample(self, key, shape, dtype):
        return self._draw(key, shape, dtype, self._scalars(shape, dtype))

    def _scalars(self, shape, dtype):
        return (self.sigma(shape),)

    def _draw(self, key, shape, dtype, scalars):
        c = self.cutoff_factor
        t = sampling.truncated_normal(key, -c, c, shape, dtype)
        return t * jnp.array(scalars[0], dtype)


@registry.register(
    "recipes.mitchell",
    kinds={
        "layer_id": "natural?",
        "cutoff_factor": "positive",
        "in_axis": "axes",
        "out_axis": "axes",
        "batch_axis": "axes",
    },
    example=registry.args(layer_id=2),
)
def mitchell(
    layer_id: int | None = None,
    cutoff_factor: float = 3.0,
    in_axis: AxisArg = -2,
    out_axis: AxisArg = -1,
    batch_axis: AxisArg = (),
) -> Mitchell:
    r"""Builds OLMo's "mitchell" init: a truncated normal with std from the fan-in.

    With $n$ the fan-in (from the axes, as `jax_inits.compute_fans`)
    and $\ell$ = ``layer_id``, the normal before truncation has std

    * $\sigma = 1/\sqrt{n}$ for input projections (``layer_id=None``);
    * $\sigma = 1/\sqrt{2 n (\ell + 1)}$ for the output projections of
      block $\ell$ (0-based),

    and is truncated to $[-c\sigma, c\sigma]$, $c$ =
    ``cutoff_factor``, as OLMo's ``init_normal`` does (``trunc_normal_(std=s,
    a=-c*s, b=c*s)``): $\sigma$ is the std *before* truncation, so the
    result has std $\sigma\cdot\tau(c)$ with $\tau(c)$ the std of a
    standard normal truncated to $(-c, c)$ ($\tau(3) = 0.98658$,
    $\tau(2) = 0.87963$); ``target_std`` returns exactly that. Every value
    lies strictly inside $(-c\sigma, c\sigma)$, in any dtype.

    Args:
      layer_id: ``None`` for input projections; for the output projection of a
        block, its 0-based index ``>= 0``.
      cutoff_factor: Truncation bound $c$ in units of $\sigma$, ``> 0``.
      in_axis: Input axis or axes.
      out_axis: Output axis or axes.
      batch_axis: Axis or axes that count in neither fan.

    Returns:
      An initializer ``init(key, shape, dtype=None, out_sharding=None)``.

    Raises:
      TypeError: non-integer ``layer_id`` or axes, non-real ``cutoff_factor``.
      ValueError: ``layer_id < 0``, ``cutoff_factor <= 0`` or not finite,
        repeated axes. At call: axes outside the shape, a complex dtype.

    Examples:
      >>> init = jax_inits.recipes.mitchell(layer_id=1)
      >>> w = init(jax.random.key(0), (1024, 256), jnp.bfloat16)
      >>> s = 1 / (2 * 1024 * 2) ** 0.5
      >>> bool(jnp.abs(w.astype(jnp.float32)).max() <= 3 * s)
      True
      >>> round(init.target_std(w.shape) / s, 5)
      0.98658

    References:
      Groeneveld et al., [OLMo: Accelerating the Science of Language
      Models](https://arxiv.org/abs/2402.00838), 2024 (``InitFnType.mitchell`` in
      the OLMo code).
    """
    builder = "recipes.mitchell"
    if layer_id is not None:
        layer_id = _count(builder, "layer_id", layer_id, minimum=0)
    cutoff = checks.real_number(builder, "cutoff_factor", cutoff_factor, minimum=0.0, strict=True)
    in_axis = checks.axes(builder, "in_axis", in_axis)
    out_axis = checks.axes(builder, "out_axis", out_axis)
    batch_axis = checks.axes(builder, "batch_axis", batch_axis)
    checks.disjoint_axes(builder, in_axis=in_axis, out_axis=out_axis, batch_axis=batch_axis)
    return Mitchell(layer_id, cutoff, in_axis, out_axis, batch_axis)


# --- DeepNet / DeepNorm ----------------------------------------------------------------


def _deepnorm(
    builder: str,
    architecture: str,
    encoder_layers: int | None,
    decoder_layers: int | None,
    part: str | None,
) -> tuple[float, float]:
    """``(alpha, beta)`` from Table 1 / Figure 2 of the DeepNet paper."""
    architecture = _choice(builder, "architecture", architecture, _ARCHITECTURES)
    n = None if encoder_layers is None else _count(builder, "encoder_layers", encoder_layers)
    m = None if decoder_layers is None else _count(builder, "decoder_layers", decoder_layers)
    if part is not None:
        part = _choice(builder, "part", part, _PARTS)
    needs = {"encoder": ("encoder_layers",), "decoder": ("decoder_layers",)}.get(
        architecture, ("encoder_layers", "decoder_layers")
    )
    given = {"encoder_layers": n, "decoder_layers": m}
    for arg, value in given.items():
        if (arg in needs) != (value is not None):
            wanted = "must be given" if arg in needs else "must be None"
            raise ValueError(
                f"{builder}: `{arg}` {wanted} for architecture={architecture!r}, got {value!r}."
            )
    if architecture == "encoder_decoder":
        if part is None:
            raise ValueError(
                f"{builder}: `part` must be 'encoder' or 'decoder' for "
                "architecture='encoder_decoder', got None."
            )
        n, m = cast(int, n), cast(int, m)  # both given: checked above
        if part == "encoder":
            nm = (n**4 * m) ** (1 / 16)
            return 0.81 * nm, 0.87 / nm
        return (3 * m) ** 0.25, (12 * m) ** -0.25
    if part is not None and part != architecture:
        raise ValueError(
            f"{builder}: `part` must be None or {architecture!r} for "
            f"architecture={architecture!r}, got {part!r}."
        )
    layers = cast(int, n if architecture == "encoder" else m)  # the one needed: checked above
    return (2 * layers) ** 0.25, (8 * layers) ** -0.25


_DEEPNET_ARGS = """architecture: ``"encoder"`` (encoder-only, e.g. BERT), ``"decoder"``
        (decoder-only, e.g. GPT) or ``"encoder_decoder"``.
      encoder_layers: Keyword-only number of encoder layers $N$, ``> 0``;
        given exactly for ``"encoder"`` and ``"encoder_decoder"``.
      decoder_layers: Keyword-only number of decoder layers $M$, ``> 0``;
        given exactly for ``"decoder"`` and ``"encoder_decoder"``.
      part: Keyword-only ``"encoder"`` or ``"decoder"``: which stack of an
        encoder-decoder the value is for (required there; for the other
        architectures ``None`` or the architecture itself)."""

_DEEPNET_TABLE = r"""
    | architecture     | $\alpha$                 | $\beta$                   |
    | ---------------- | ------------------------ | ------------------------- |
    | encoder (N)      | $(2N)^{1/4}$             | $(8N)^{-1/4}$             |
    | decoder (M)      | $(2M)^{1/4}$             | $(8M)^{-1/4}$             |
    | enc-dec, encoder | $0.81\,(N^4 M)^{1/16}$   | $0.87\,(N^4 M)^{-1/16}$   |
    | enc-dec, decoder | $(3M)^{1/4}$             | $(12M)^{-1/4}$            |"""

_DEEPNET_REF = (
    "Wang et al., [DeepNet: Scaling Transformers to 1,000 Layers]"
    "(https://arxiv.org/abs/2203.00555), 2022."
)


def deepnorm_alpha(
    architecture: Architecture,
    *,
    encoder_layers: int | None = None,
    decoder_layers: int | None = None,
    part: Part | None = None,
) -> float:
    return _deepnorm("recipes.deepnorm_alpha", architecture, encoder_layers, decoder_layers, part)[
        0
    ]


def deepnorm_beta(
    architecture: Architecture,
    *,
    encoder_layers: int | None = None,
    decoder_layers: int | None = None,
    part: Part | None = None,
) -> float:
    return _deepnorm("recipes.deepnorm_beta", architecture, encoder_layers, decoder_layers, part)[1]


deepnorm_alpha.__doc__ = rf"""The DeepNorm residual multiplier $\alpha$.

    DeepNorm computes $x_{{l+1}} = \mathrm{{LN}}(\alpha x_l + G(x_l))$;
    $\alpha$ (this function) and the init gain $\beta$
    (`deepnorm_beta`, used by `deepnet`) are, from the paper:
    {_DEEPNET_TABLE}

    Args:
      {_DEEPNET_ARGS}

    Returns:
      $\alpha$ as a Python float.

    Raises:
      TypeError: a layer count is not an integer.
      ValueError: unknown ``architecture`` or ``part``, a layer count ``<= 0``,
        missing or extra layer counts, ``part`` missing or inconsistent.

    Examples:
      >>> jax_inits.recipes.deepnorm_alpha("decoder", decoder_layers=8)  # (2 * 8) ** 0.25
      2.0
      >>> alpha = jax_inits.recipes.deepnorm_alpha(
      ...     "encoder_decoder", encoder_layers=6, decoder_layers=6, part="encoder")
      >>> round(alpha, 4)  # 0.81 * (6**4 * 6) ** (1 / 16)
      1.4179

    References:
      {_DEEPNET_REF}
    """

deepnorm_beta.__doc__ = rf"""The DeepNet init gain $\beta$ (see `deepnorm_alpha`).

    Args:
      {_DEEPNET_ARGS}

    Returns:
      $\beta$ as a Python float.

    Raises:
      TypeError: a layer count is not an integer.
      ValueError: as `deepnorm_alpha`.

    Examples:
      >>> jax_inits.recipes.deepnorm_beta("encoder", encoder_layers=2)  # (8 * 2) ** -0.25
      0.5
      >>> beta = jax_inits.recipes.deepnorm_beta(
      ...     "encoder_decoder", encoder_layers=3, decoder_layers=12, part="decoder")
      >>> round(beta, 4)  # 144 ** -0.25
      0.2887

    References:
      {_DEEPNET_REF}
    """


@registry.register(
    "recipes.deepnet",
    kinds={
        "architecture": "choice",
        "encoder_layers": "count?",
        "decoder_layers": "count?",
        "part": "choice?",
        "in_axis": "axes",
        "out_axis": "axes",
        "batch_axis": "axes",
    },
    example=registry.args("decoder", decoder_layers=12),
)
def deepnet(
    architecture: Architecture,
    *,
    encoder_layers: int | None = None,
    decoder_layers: int | None = None,
    part: Part | None = None,
    in_axis: AxisArg = -2,
    out_axis: AxisArg = -1,
    batch_axis: AxisArg = (),
    dtype=None,
) -> VarianceScaling:
    return _build(
        "recipes.deepnet",
        _deepnorm("recipes.deepnet", architecture, encoder_layers, decoder_layers, part)[1] ** 2,
        "fan_avg",
        "normal",
        in_axis,
        out_axis,
        batch_axis,
        dtype,
    )


deepnet.__doc__ = rf"""Builds the DeepNet init: Xavier normal with gain $\beta$.

    $w \sim \mathcal{{N}}(0, \beta^2 \cdot 2 / (n_\mathrm{{in}} +
    n_\mathrm{{out}}))$, i.e. ``variance_scaling(beta**2, "fan_avg", "normal")``
    (untruncated, as ``torch.nn.init.xavier_normal_(w, gain=beta)``), with
    $\beta$ from `deepnorm_beta`. The paper applies it to the
    feed-forward weights and to the value and output projections of attention;
    the query and key projections keep gain 1, e.g.
    ``jax_inits.variance_scaling(1.0, "fan_avg", "normal")``. The residual
    multiplier $\alpha$ is `deepnorm_alpha`.
    {_DEEPNET_TABLE}

    Args:
      {_DEEPNET_ARGS}
      in_axis: Keyword-only input axis or axes.
      out_axis: Keyword-only output axis or axes.
      batch_axis: Keyword-only axis or axes that count in neither fan.
      dtype: Keyword-only default dtype of the result.

    Returns:
      An initializer ``init(key, shape, dtype=None, out_sharding=None)``.

    Raises:
      TypeError: a layer count or axis is not an integer, a non-float ``dtype``.
      ValueError: as `deepnorm_alpha`; repeated axes.

    Examples:
      >>> init = jax_inits.recipes.deepnet("decoder", decoder_layers=2)  # beta = 1/2
      >>> init.target_std((256, 768)) == 0.5 * (2 / (256 + 768)) ** 0.5
      True

    References:
      {_DEEPNET_REF}
    """


# --- Fixup and T-Fixup ---------------------------------------------------------------


@registry.register(
    "recipes.fixup",
    kinds={
        "num_branches": "count",
        "branch_depth": "depth",
        "in_axis": "axes",
        "out_axis": "axes",
        "batch_axis": "axes",
    },
    example=registry.args(8, 2),
)
def fixup(
    num_branches: int,
    branch_depth: int,
    in_axis: AxisArg = -2,
    out_axis: AxisArg = -1,
    batch_axis: AxisArg = (),
    dtype=None,
) -> VarianceScaling:
    r"""Builds the Fixup init of the layers inside residual branches.

    He normal (fan-in) scaled by $L^{-1/(2m-2)}$, with $L$ =
    ``num_branches`` residual branches of $m$ = ``branch_depth`` layers:
    $w \sim \mathcal{N}(0, 2 L^{-1/(m-1)} / n_\mathrm{in})$, i.e.
    ``variance_scaling(2 * L ** (-1 / (m - 1)), "fan_in", "normal")``.

    This is for every layer of a branch *except its last*: Fixup initializes
    the last layer of each residual branch and the classification layer to zero
    (``jax_inits.zeros``), adds a scalar multiplier (initialized to 1) per
    branch and scalar biases (initialized to 0) before each convolution,
    linear and activation layer; layers outside the branches keep the
    standard (He) init.

    Args:
      num_branches: Number of residual branches $L$, ``> 0``.
      branch_depth: Number of layers per branch $m$, ``>= 2``.
      in_axis: Input axis or axes.
      out_axis: Output axis or axes.
      batch_axis: Axis or axes that count in neither fan.
      dtype: Default dtype of the result.

    Returns:
      An initializer ``init(key, shape, dtype=None, out_sharding=None)``.

    Raises:
      TypeError: a count or axis is not an integer, a non-float ``dtype``.
      ValueError: ``num_branches <= 0``, ``branch_depth < 2``, repeated axes.

    Examples:
      >>> init = jax_inits.recipes.fixup(num_branches=16, branch_depth=3)
      >>> init.target_std((3, 3, 64, 64)) == (2 / 576) ** 0.5 * 16 ** -0.25
      True

    References:
      Zhang, Dauphin & Ma, [Fixup Initialization: Residual Learning Without
      Normalization](https://arxiv.org/abs/1901.09321), 2019.
    """
    builder = "recipes.fixup"
    L = _count(builder, "num_branches", num_branches)
    m = _count(builder, "branch_depth", branch_depth, minimum=2)
    scale = 2.0 * L ** (-1.0 / (m - 1))
    return _build(builder, scale, "fan_in", "normal", in_axis, out_axis, batch_axis, dtype)


def _t_fixup_gain(part: str, num_layers: int) -> float:
    return 0.67 * num_layers**-0.25 if part == "encoder" else (9 * num_layers) ** -0.25


@registry.register(
    "recipes.t_fixup",
    kinds={
        "num_layers": "count",
        "part": "choice",
        "in_axis": "axes",
        "out_axis": "axes",
        "batch_axis": "axes",
    },
    example=registry.args(6),
)
def t_fixup(
    num_layers: int,
    part: Part = "encoder",
    in_axis: AxisArg = -2,
    out_axis: AxisArg = -1,
    batch_axis: AxisArg = (),
    dtype=None,
) -> VarianceScaling:
    r"""Builds the T-Fixup init of transformer value, output and MLP weights.

    Xavier uniform with gain $g$: uniform on
    $\pm g\sqrt{6/(n_\mathrm{in} + n_\mathrm{out})}$, i.e.
    ``variance_scaling(g**2, "fan_avg", "uniform")``, with

    * $g = 0.67\,N^{-1/4}$ for an encoder of $N$ layers
      (``part="encoder"``),
    * $g = (9M)^{-1/4}$ for a decoder of $M$ layers
      (``part="decoder"``).

    What the paper prescribes (T-Fixup, steps 1-3): Xavier initialization for
    every parameter except the input embeddings, which are
    $\mathcal{N}(0, d^{-1/2})$ (`t_fixup_embedding`); then the
    value and output projections of every attention block and the weights of
    every MLP block are scaled by the gains above (queries and keys keep plain
    Xavier, e.g. ``jax_inits.glorot_uniform()``), and the input embeddings of
    an encoder-decoder are scaled by $(9M)^{-1/4}$. Layer normalization
    and learning-rate warmup are removed.

    Args:
      num_layers: Number of layers $N$ (encoder) or $M$ (decoder), ``> 0``.
      part: ``"encoder"`` or ``"decoder"``.
      in_axis: Input axis or axes.
      out_axis: Output axis or axes.
      batch_axis: Axis or axes that count in neither fan.
      dtype: Default dtype of the result.

    Returns:
      An initializer ``init(key, shape, dtype=None, out_sharding=None)``.

    Raises:
      TypeError: ``num_layers`` or an axis is not an integer, a non-float ``dtype``.
      ValueError: ``num_layers <= 0``, unknown ``part``, repeated axes.

    Examples:
      >>> init = jax_inits.recipes.t_fixup(9, "decoder")  # g = 81 ** -0.25 = 1/3
      >>> w = init(jax.random.key(0), (512, 512))
      >>> bool(jnp.abs(w).max() <= (6 / 1024) ** 0.5 / 3)
      True

    References:
      Huang, Perez, Ba & Volkovs, [Improving Transformer Optimization Through
      Better Initialization](https://proceedings.mlr.press/v119/huang20f.html),
      ICML 2020.
    """
    builder = "recipes.t_fixup"
    layers = _count(builder, "num_layers", num_layers)
    part = cast(Part, _choice(builder, "part", part, _PARTS))
    scale = _t_fixup_gain(part, layers) ** 2
    return _build(builder, scale, "fan_avg", "uniform", in_axis, out_axis, batch_axis, dtype)


@registry.register(
    "recipes.t_fixup_embedding",
    kinds={"dim": "count", "num_decoder_layers": "count?"},
    example=registry.args(512),
)
def t_fixup_embedding(dim: int, num_decoder_layers: int | None = None) -> InitializerBase:
    r"""Builds the T-Fixup init of input embeddings.

    Normal with standard deviation $d^{-1/2}$ (the paper's
    $\mathcal{N}(0, d^{-1/2})$, read as in its fairseq code: std, not
    variance), $d$ = ``dim``. With ``num_decoder_layers`` $M$
    (the embeddings of an encoder-decoder, step 2 of T-Fixup) the std is
    further scaled by $(9M)^{-1/4}$.

    Args:
      dim: Embedding dimension $d$, ``> 0``.
      num_decoder_layers: Number of decoder layers $M$, ``> 0``, or ``None``.

    Returns:
      An initializer ``init(key, shape, dtype=None, out_sharding=None)``.

    Raises:
      TypeError: an argument is not an integer.
      ValueError: an argument ``<= 0``.

    Examples:
      >>> jax_inits.recipes.t_fixup_embedding(64).target_std((1000, 64))
      0.125
      >>> jax_inits.recipes.t_fixup_embedding(64, 9).target_std((1000, 64))  # / 3
      0.041666666666666664

    References:
      Huang, Perez, Ba & Volkovs, [Improving Transformer Optimization Through
      Better Initialization](https://proceedings.mlr.press/v119/huang20f.html),
      ICML 2020.
    """
    builder = "recipes.t_fixup_embedding"
    std = _count(builder, "dim", dim) ** -0.5
    if num_decoder_layers is not None:
        std *= _t_fixup_gain("decoder", _count(builder, "num_decoder_layers", num_decoder_layers))
    return _std_init(builder, std, "normal")


# --- ZerO ------------------------------------------------------------------------------


@caches.lru("recipes.hadamard_sum", 4096)
def _hadamard_sum(m: int, rows: int, cols: int) -> int:
    """Sum of the top-left ``rows x cols`` block of the Sylvester Hadamard ``H_m``."""
    if rows == 0 or cols == 0:
        return 0
    if m == 0:
        return 1
    h = 2 ** (m - 1)  # H_m = [[H, H], [H, -H]] with H = H_{m-1}
    r1, r2, c1, c2 = min(rows, h), max(rows - h, 0), min(cols, h), max(cols - h, 0)
    return (
        _hadamard_sum(m - 1, r1, c1)
        + _hadamard_sum(m - 1, r1, c2)
        + _hadamard_sum(m - 1, r2, c1)
        - _hadamard_sum(m - 1, r2, c2)
    )


def _hadamard_order(n_out: int) -> int:
    """$m = \\lceil \\log_2 P \\rceil$, computed exactly."""
    return (n_out - 1).bit_length()


def _zero_matrix(n_in: int, n_out: int, dtype) -> jax.Array:
    if n_out <= n_in:  # identity or partial identity
        return jnp.eye(n_in, n_out, dtype=dtype)
    m = _hadamard_order(n_out)
    c = 2.0 ** (-(m - 1) / 2)
    # Sylvester doubling H_{k+1} = [[H_k, H_k], [H_k, -H_k]] unrolled: the entry
    # (i, j) is (-1)^(number of common 1 bits of i and j). Only the needed
    # (in, out) block is formed, elementwise (no 2^m x 2^m matrix).
    i = lax.broadcasted_iota(jnp.uint32, (n_in, n_out), 0)
    j = lax.broadcasted_iota(jnp.uint32, (n_in, n_out), 1)
    odd = lax.population_count(i & j) & jnp.uint32(1)
    return jnp.where(odd == jnp.uint32(0), jnp.array(c, dtype), jnp.array(-c, dtype))


@dataclasses.dataclass(frozen=True, repr=False)
class ZerO(InitializerBase):
    name: str = dataclasses.field(default="recipes.zero_init", compare=False, kw_only=True)
    random = False

    formula = property(lambda self: "ZerO: identity, partial identity or c * Hadamard block")

    def target_std(self, shape) -> float:
        shape = tuple(shape)
        n = math.prod(shape)
        if n == 0:
            return 0.0
        n_in, n_out = shape[-2:]
        if n_out <= n_in:
            total, squares = n_out, n_out
        else:
            m = _hadamard_order(n_out)
            c = 2.0 ** (-(m - 1) / 2)
            total, squares = c * _hadamard_sum(m, n_in, n_out), c * c * n_in * n_out
        mean = total / n
        return math.sqrt(max(squares / n - mean * mean, 0.0))

    def _check_call(self, shape, dtype):
        if len(shape) < 2:
            raise ValueError(
                f"{self.name}: needs a shape of rank >= 2 ((in, out), or spatial axes "
                f"then in, out), got shape {shape}."
            )
        if not jnp.issubdtype(dtype, np.inexact):
            raise TypeError(
                f"{self.name}: `dtype` must be a floating or complex dtype, got {dtype.name}."
            )

    def _sample(self, key, shape, dtype):
        matrix = _zero_matrix(shape[-2], shape[-1], dtype)
        if len(shape) == 2:
            return matrix
        centre = tuple((k - 1) // 2 for k in shape[:-2])
        return jnp.zeros(shape, dtype).at[centre].set(matrix)


@registry.register("recipes.zero_init")
def zero_init() -> ZerO:
    r"""Builds the deterministic ZerO init (Zhao et al.; *not* all zeros).

    For a weight mapping $Q$ inputs to $P$ outputs (the paper's
    $P\times Q$ matrix $W$, $y = Wx$):

    * $P = Q$: $W = I$;
    * $P < Q$: $W = [I_P\ 0]$, the partial identity;
    * $P > Q$: $W = c\,(H_m)_{[:P, :Q]}$, the top-left block of the
      Sylvester Hadamard matrix of order $2^m$,
      $m = \lceil\log_2 P\rceil$, $c = 2^{-(m-1)/2}$.

    The array is in JAX's layout, ``(in, out)`` = $W^\top$ (for
    $P > Q$, $(H_m)_{[:Q, :P]}$ as $H_m$ is symmetric).
    A convolution kernel ``(spatial..., in, out)`` gets that matrix at its
    centre tap (index ``(k - 1) // 2`` per spatial axis) and zeros elsewhere.
    The key is ignored. The name ``zero_init`` is the paper's "ZerO".

    Returns:
      An initializer ``init(key, shape, dtype=None, out_sharding=None)``.

    Raises:
      ValueError: at call, a shape of rank < 2. TypeError: at call, a dtype that
        is not floating or complex.

    Examples:
      >>> init = jax_inits.recipes.zero_init()
      >>> init(None, (2, 4))  # out > in: c * H_2[:2, :4], c = 2 ** -0.5
      Array([[ 0.70710677,  0.70710677,  0.70710677,  0.70710677],
             [ 0.70710677, -0.70710677,  0.70710677, -0.70710677]], dtype=float32)
      >>> init(None, (3, 2))  # out < in: partial identity
      Array([[1., 0.],
             [0., 1.],
             [0., 0.]], dtype=float32)

    References:
      Zhao, Schäfer & Anandkumar, [ZerO Initialization: Initializing Neural
      Networks with only Zeros and Ones](https://arxiv.org/abs/2110.12661),
      2022.
    """
    return ZerO()


# --- block-orthogonal convolution ---------------------------------------------------------


@dataclasses.dataclass(frozen=True, repr=False)
class BlockOrthogonal(InitializerBase):
    name: str = dataclasses.field(default="recipes.block_orthogonal", compare=False, kw_only=True)
    scale: float = 1.0

    formula = property(
        lambda self: f"{self.scale:g} * H * [P, I - P] * ... (orthogonal convolution)"
    )

    def target_std(self, shape) -> float:
        # The taps satisfy sum_t K[t] K[t]^T = I_in, so the squares sum to `in`.
        shape = tuple(shape)
        return abs(self.scale) / math.sqrt(math.prod(shape[:-2]) * shape[-1])

    def _check_call(self, shape, dtype):
        if len(shape) not in (3, 4, 5):
            raise ValueError(
                f"{self.name}: needs a convolution kernel of rank 3, 4 or 5 (spatial "
                f"axes, then in, out), got shape {shape}."
            )
        if shape[-2] > shape[-1]:
            raise ValueError(
                f"{self.name}: needs in <= out (shape[-2] <= shape[-1]) for an isometric "
                f"convolution, got shape {shape}."
            )
        require_real(self.name, dtype)

    def _sample(self, key, shape, dtype):
        spatial, n_in, n_out = shape[:-2], shape[-2], shape[-1]
        keys = jax.random.split(key, 1 + sum(k - 1 for k in spatial))
        kernel = sampling.orthogonal(keys[0], n_in, n_out, dtype)  # orthonormal rows
        kernel = kernel.reshape((1,) * len(spatial) + (n_in, n_out))
        eye = jnp.eye(n_out, dtype=dtype)
        index = 1
        for axis, k in enumerate(spatial):
            for _ in range(k - 1):
                q = sampling.orthogonal(keys[index], n_out, n_out, dtype)[:, : n_out // 2]
                index += 1
                p = q @ q.T  # symmetric projection onto a random out/2-dim subspace
                kernel = _compose(kernel, p, eye - p, axis)
        return jnp.array(self.scale, dtype) * kernel


def _compose(kernel: jax.Array, first: jax.Array, second: jax.Array, axis: int) -> jax.Array:
    """Kernel of ``conv(conv(x, kernel), [first, second] along axis)``.

    Full convolution of the tap sequences, the later kernel's taps multiplying
    from the right: ``new[s] = kernel[s] @ first + kernel[s - 1] @ second``.
    """
    rank = kernel.ndim
    after = [(0, 0)] * rank
    before = [(0, 0)] * rank
    after[axis], before[axis] = (0, 1), (1, 0)
    return jnp.pad(kernel @ first, after) + jnp.pad(kernel @ second, before)


@registry.register("recipes.block_orthogonal", kinds={"scale": "real"}, shape="conv")
def block_orthogonal(scale: float = 1.0) -> BlockOrthogonal:
    r"""Builds a random orthogonal convolution kernel (Xiao et al.'s block-orthogonal).

    For a kernel ``(k1[, k2[, k3]], in, out)`` with ``in <= out``: start from a
    Haar ``(in, out)`` matrix $H$ with orthonormal rows as a 1-tap
    kernel; along each spatial axis $j$, compose it $k_j - 1$ times
    with a random 2-tap kernel $[P, I - P]$, $P = QQ^\top$ the
    projection onto a random $\lfloor out/2\rfloor$-dimensional subspace
    ($Q$ the first columns of a Haar orthogonal matrix, fresh for each
    step). Composition is full convolution of the tap sequences, the later
    kernel's taps multiplying from the right (JAX's
    $y = \sum_t x_{p+t} K_t$). Each $[P, I-P]$ is an orthogonal
    convolution (its symbol $P + z(I-P)$ is orthogonal for $|z|=1$)
    and $H$ is an isometry, so with circular padding the convolution by
    the result (times ``scale``) preserves norms exactly:
    $\|x * K\| = |\mathrm{scale}|\,\|x\|$. The taps are spread over the
    whole kernel, unlike `jax_inits.delta_orthogonal`.

    Args:
      scale: Multiplier of the kernel (any finite real).

    Returns:
      An initializer ``init(key, shape, dtype=None, out_sharding=None)``.

    Raises:
      TypeError: ``scale`` is not a real number; at call, a complex dtype.
      ValueError: ``scale`` not finite. At call: rank not 3, 4 or 5, or
        ``in > out``.

    Examples:
      >>> k = jax_inits.recipes.block_orthogonal()(jax.random.key(0), (3, 3, 8, 8))
      >>> taps = k.reshape(9, 8, 8)
      >>> bool(jnp.allclose(jnp.einsum("tio,tjo->ij", taps, taps), jnp.eye(8), atol=1e-5))
      True

    References:
      Xiao et al., [Dynamical Isometry and a Mean Field Theory of CNNs: How to Train
      10,000-Layer Vanilla Convolutional Neural Networks](https://arxiv.org/abs/1806.05393),
      2018.
    """
    return BlockOrthogonal(checks.real_number("recipes.block_orthogonal", "scale", scale))
