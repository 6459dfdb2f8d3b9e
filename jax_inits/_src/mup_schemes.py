r"""The schemes as data: each scheme's multipliers, one row per kind of leaf and quantity.

A row says: leaves of this kind (a role, or a width class) have this quantity times
a width ratio to a power, and, inside a residual block, times the depth ratio
$m_L$ = ``depth / base_depth`` to a power. `scale` applies a scheme's table to one
leaf (a `mup_roles.Leaf`) and returns its `LeafScaling`; adding a scheme is adding a
`Table` to `TABLES`.

Two sections, each in its own arithmetic so that every value stays what microsoft/mup
and EleutherAI's nanoGPT-mup compute, bit for bit:

- ``width``: mup's rules, ratios of sizes (``1 / m`` a division, ``m ** 1/2`` a square
  root), applied to the base rule at the target shape.
- ``depth``: the depth schemes' rules (Dey et al. 2025, Table 1), powers ``x ** e`` of
  $m_N$ and $m_L$, applied after ``width``.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Literal

from jax_inits._src import mup_roles
from jax_inits._src.mup_roles import Role

Scheme = Literal["mup", "spectral", "sp", "depth_mup", "complete_p", "u_mup"]

#: The `LeafScaling` fields a row can multiply (``init_std`` only in ``depth``: the
#: target std relative to the rule's std at the base width).
QUANTITIES: tuple[str, ...] = (
    "init_scale", "init_std", "forward_mult", "adam_lr", "adam_wd", "sgd_lr", "sgd_wd", "adam_eps",
)  # fmt: skip
#: The kinds of leaf a row can be for: the roles, the width classes, kernels, block leaves.
KINDS: tuple[str, ...] = (
    *mup_roles.ROLES, "matrix_like", "vector_like", "scalar_like", "kernel", "block",
)  # fmt: skip
#: The width ratios a row can raise to a power (see `ratio`).
RATIOS: tuple[str, ...] = ("m", "m_in/m_out", "n_in0/n_in", "aspect")


@dataclasses.dataclass(frozen=True)
class LeafScaling:
    r"""How one leaf is scaled with width (a row of `Parametrization.table`).

    Attributes:
      path: The leaf's path, as in ``jax_inits.tree``.
      role: ``"hidden"`` (two width axes: fan-in and fan-out), ``"input"`` (a
        kernel whose fan-out alone is a width axis: input layers, embeddings),
        ``"readout"`` (a kernel matched by ``readout``), ``"readout_bias"`` (a
        leaf of fewer than two axes matched by ``readout``), ``"vector"`` (one
        width axis: biases, norm scales) or ``"fixed"`` (no width axis).
      shape: The leaf's shape at the target width.
      base_shape: Its shape at the base width.
      width_axes: The axes (non-negative) that are width axes.
      width_mult: mup's width multiplier ``n / n_base`` of the leaf's main
        width axis: the fan-in's for a kernel whose fan-in is a width axis,
        otherwise its only width axis; 1 without width axes.
      init_std: The absolute standard deviation the leaf is initialized with
        (``None`` when the base rule does not state its own, i.e. it has no
        ``target_std``).
      init_scale: The factor applied to the base rule at the target shape.
      forward_mult: The multiplier of the readout's input (1 elsewhere).
      adam_lr: Learning-rate multiplier under Adam-like optimizers.
      adam_wd: Weight-decay multiplier under Adam-like optimizers.
      sgd_lr: Learning-rate multiplier under SGD-like optimizers.
      sgd_wd: Weight-decay multiplier under SGD-like optimizers.
      adam_eps: Multiplier of Adam's $\epsilon$ (1 except under the depth schemes).
      in_block: Whether the leaf belongs to a residual block (matched by ``blocks``).
    """

    path: str
    role: Role
    shape: tuple[int, ...]
    base_shape: tuple[int, ...]
    width_axes: tuple[int, ...]
    width_mult: float
    init_std: float | None
    init_scale: float
    forward_mult: float
    adam_lr: float
    adam_wd: float
    sgd_lr: float
    sgd_wd: float
    adam_eps: float = 1.0
    in_block: bool = False


@dataclasses.dataclass(frozen=True)
class Row:
    r"""One multiplier of one kind of leaf: ``of ** width``, and $m_L$ ``** depth`` in a block.

    Attributes:
      leaf: The leaves it is for (one of `KINDS`): a role (``"hidden"``,
        ``"readout"``, ...), a width class (``"matrix_like"``: two width axes,
        ``"vector_like"``: one, ``"scalar_like"``: none; mup's classes, whatever the
        role), ``"kernel"`` (two or more axes, one of them a width axis) or
        ``"block"`` (inside a residual block).
      quantity: The `LeafScaling` field it multiplies (one of `QUANTITIES`).
      width: The exponent of the width ratio ``of``.
      of: The width ratio (one of `RATIOS`, see `ratio`): ``"m"`` (the leaf's width
        multiplier), ``"m_in/m_out"``, ``"n_in0/n_in"`` or ``"aspect"``; a ``depth``
        row's is ``"m"``.
      depth: The exponent of $m_L$ (``depth`` rows only).
      output_mult: The row also multiplies by ``parametrize``'s ``output_mult``.
    """

    leaf: str
    quantity: str
    width: float = 0.0
    of: str = "m"
    depth: float = 0.0
    output_mult: bool = False


@dataclasses.dataclass(frozen=True)
class Table:
    r"""A scheme: its rows and what is not a power law.

    Attributes:
      width: Rows applied in mup's arithmetic (ratios of sizes).
      depth: Rows applied after them as powers (the depth schemes).
      alpha: Every residual branch is multiplied by $m_L^{-\alpha}$.
      init_std: Where the init std is not the base rule's times ``init_scale`` rows:
        a function of the leaf's (matrix) shape giving the absolute std of a
        ``"kernel"`` leaf (spectral).
      attention: The attention logits are multiplied by ``attn_mult /
        attention(head_dim)``: the head size under muP (Yang et al. 2021, section 6:
        $q \cdot k$ grows like it once q and k correlate), its square root under SP
        (Vaswani et al. 2017).
    """

    width: tuple[Row, ...] = ()
    depth: tuple[Row, ...] = ()
    alpha: float = 0.0
    init_std: Callable[[tuple[int, ...]], float] | None = None
    attention: Callable[[int], float] = float

    def __post_init__(self):
        for row in self.width + self.depth:
            if row.leaf not in KINDS or row.quantity not in QUANTITIES or row.of not in RATIOS:
                raise ValueError(f"mup_schemes.Table: unknown kind, quantity or ratio in {row}.")
        for row in self.width:
            if row.depth or row.quantity == "init_std":
                raise ValueError(f"mup_schemes.Table: a `width` row has no depth: {row}.")
        for row in self.depth:
            if row.of != "m" or row.output_mult:
                raise ValueError(f"mup_schemes.Table: a `depth` row is a power of m: {row}.")


def _spectral_std(shape: tuple[int, ...]) -> float:
    r"""$\frac{1}{\sqrt{n_\mathrm{in}}}\min(1, \sqrt{n_\mathrm{out}/n_\mathrm{in}})$."""
    fan_in, fan_out = shape[-2], shape[-1]
    return min(1.0, math.sqrt(fan_out / fan_in)) / math.sqrt(fan_in)


# microsoft/mup 1.0.0: MuAdam groups matrix-like parameters by width_mult (lr / m, wd x m),
# MuSGD by fan-in/fan-out (lr x m_out / m_in) and vector-like ones by their width (lr x m);
# MuReadout keeps the readout's base-width std (x sqrt(m) on a 1/sqrt(fan_in) rule) and
# multiplies its input by output_mult / m.
MUP = Table(
    width=(
        Row("matrix_like", "adam_lr", width=-1),
        Row("matrix_like", "adam_wd", width=1),
        Row("matrix_like", "sgd_lr", width=-1, of="m_in/m_out"),
        Row("matrix_like", "sgd_wd", width=1, of="m_in/m_out"),
        Row("vector_like", "sgd_lr", width=1),
        Row("vector_like", "sgd_wd", width=-1),
        Row("readout", "init_scale", width=0.5),
        Row("readout", "forward_mult", width=-1, output_mult=True),
    )
)

# Yang, Simon and Bernstein 2023: every kernel with a width axis gets the spectral std;
# SGD lr n_out/n_in (the paper's rule), Adam lr 1/n_in (an entrywise-normalized, low-rank
# update has spectral norm eta sqrt(n_in n_out)), both 1 at the base shape; wd the inverse.
SPECTRAL = Table(
    width=(
        Row("kernel", "adam_lr", width=1, of="n_in0/n_in"),
        Row("kernel", "adam_wd", width=-1, of="n_in0/n_in"),
        Row("kernel", "sgd_lr", width=1, of="aspect"),
        Row("kernel", "sgd_wd", width=-1, of="aspect"),
    ),
    init_std=_spectral_std,
)

SP = Table(attention=math.sqrt)


def depth_rows(alpha: float) -> tuple[Row, ...]:
    r"""The rows a depth scheme adds to muP's (Dey et al. 2025, Table 1).

    Every leaf inside a residual block (kernels, biases and pre-LN gains alike): Adam lr
    $m_L^{\alpha-1}$, $\epsilon$ $m_L^{-\alpha}$, weight decay independent of depth, as
    EleutherAI's nanoGPT-mup implements it (model.py, configure_optimizers, commit
    3904404). The SGD rule $m_L^{2\alpha-1}$ is derived (one block's feature update
    $\sim m_L^{-2\alpha}\eta$, summed over $m_L$ blocks), not transcribed: at $\alpha =
    1/2$ it is Depth-muP's depth-independent SGD rate (Yang et al. 2023); no reference
    implementation checks it. Width: hidden kernels have init std $\sigma_\mathrm{base}
    / \sqrt{m_N}$ (every other leaf keeps the base width's std, the readout included:
    its input is multiplied by $1/m_N$ instead); $\epsilon / m_N$ on every leaf with a
    width axis but the readout bias (nanoGPT-mup's "emb_unemb_adam_eps" and
    "hidden_adam_eps").
    """
    eps_width = tuple(
        Row(role, "adam_eps", width=-1.0) for role in ("hidden", "input", "vector", "readout")
    )
    return (
        Row("hidden", "init_std", width=-0.5),
        *eps_width,
        Row("block", "adam_lr", depth=alpha - 1.0),
        Row("block", "adam_eps", depth=-alpha),
        Row("block", "sgd_lr", depth=2.0 * alpha - 1.0),
    )


# Depth-muP (alpha = 1/2) and CompleteP (alpha = 1): muP's width rows, then the depth rows.
DEPTH_MUP = Table(width=MUP.width, depth=depth_rows(0.5), alpha=0.5)
COMPLETE_P = Table(width=MUP.width, depth=depth_rows(1.0), alpha=1.0)

#: The schemes applied by `scale`; ``"u_mup"`` has its own rules (`jax_inits._src.u_mup`).
TABLES: dict[str, Table] = {
    "mup": MUP,
    "spectral": SPECTRAL,
    "sp": SP,
    "depth_mup": DEPTH_MUP,
    "complete_p": COMPLETE_P,
}
SCHEMES: tuple[str, ...] = (*TABLES, "u_mup")
#: The schemes that need ``blocks`` and a depth.
DEPTH_SCHEMES: tuple[str, ...] = tuple(name for name, t in TABLES.items() if t.depth)


def ratio(of: str, leaf: mup_roles.Leaf) -> float:
    """The width ratio ``of`` of a leaf (sizes of its scaled shape; fans the last two axes)."""
    shape, base = leaf.view.shape, leaf.view.base
    if of == "m":
        return leaf.width_mult
    if of == "m_in/m_out":  # mup's fan ratio
        return (shape[-2] / base[-2]) / (shape[-1] / base[-1])
    if of == "n_in0/n_in":
        return base[-2] / shape[-2]
    if of == "aspect":  # n_out / n_in relative to the base's
        return (shape[-1] / shape[-2]) / (base[-1] / base[-2])
    raise ValueError(f"mup_schemes: unknown width ratio {of!r}.")


def kinds(leaf: mup_roles.Leaf, in_block: bool) -> set[str]:
    """The ``Row.leaf`` values a leaf answers to."""
    found = {
        leaf.role,
        {2: "matrix_like", 1: "vector_like"}.get(len(leaf.view.axes), "scalar_like"),
    }
    if len(leaf.view.shape) >= 2 and leaf.view.axes:
        found.add("kernel")
    if in_block:
        found.add("block")
    return found


def _times(value: float, x: float, e: float) -> float:
    """``value * x ** e`` in mup's arithmetic: ``x ** -1`` a division, ``x ** 1/2`` a root."""
    if e == 0:
        return value
    if e == 1:
        return value * x
    if e == -1:
        return value / x
    if e == 0.5:
        return value * math.sqrt(x)
    return value * x**e


def _width(table: Table, leaf: mup_roles.Leaf, found: set[str], output_mult: float):
    """The ``width`` rows, each quantity from 1, in mup's arithmetic."""
    values = dict.fromkeys(QUANTITIES, 1.0)
    for row in table.width:
        if row.leaf in found:
            value = values[row.quantity] * (output_mult if row.output_mult else 1.0)
            values[row.quantity] = _times(value, ratio(row.of, leaf), row.width)
    return values


def _depth(table: Table, values: dict[str, float], leaf: mup_roles.Leaf, found: set[str],
           depth_mult: float) -> dict[str, float]:  # fmt: skip
    """The ``depth`` rows over the ``width`` values, as powers ``x ** e`` of m_N and m_L;
    their ``init_std`` is relative to the rule's std at the base width."""
    values = {**values, "init_std": 1.0}
    for row in table.depth:
        if row.leaf in found:
            value = values[row.quantity]
            if row.width:
                value = value * leaf.width_mult**row.width
            if row.depth:
                value = value * depth_mult**row.depth
            values[row.quantity] = value
    return values


def _init(
    scheme: str, table: Table, leaf: mup_roles.Leaf, found: set[str], values
) -> tuple[float, float | None]:
    """(init_scale, init_std) of a leaf from the ``width`` section."""
    base_std = mup_roles.std_of(leaf.view.init, leaf.view.shape)
    scale = values["init_scale"]
    if table.init_std is not None and "kernel" in found:
        if base_std is None:
            raise ValueError(
                f"mup.parametrize: scheme {scheme!r} sets the std of the leaf at path "
                f"{leaf.path!r}, so its rule must state one (have `target_std`), got "
                f"{leaf.view.init!r}."
            )
        scale = table.init_std(leaf.view.shape) / base_std if base_std > 0 else 1.0
    return scale, None if base_std is None else base_std * scale


def _depth_init(scheme: str, leaf: mup_roles.Leaf, relative: float) -> tuple[float, float]:
    """(init_scale, init_std): the rule's std at the base width times ``relative``."""
    std_now = mup_roles.std_of(leaf.own.rule, leaf.own.shape)
    std_base = mup_roles.std_of(leaf.own.rule, leaf.own.base_std_shape)
    if std_now is None or std_base is None:
        raise ValueError(
            f"mup.parametrize: scheme {scheme!r} sets the std of the leaf at path "
            f"{leaf.path!r} from its std at the base width, so its rule must state one "
            f"(have `target_std`), got {leaf.own.rule!r}."
        )
    target = std_base * relative
    scale = target / std_now if std_now > 0 else 1.0
    return scale, std_now * scale


def scale(
    scheme: str, leaf: mup_roles.Leaf, *, output_mult: float, in_block: bool, depth_mult: float
) -> LeafScaling:
    """The `LeafScaling` of a leaf under a scheme of `TABLES`."""
    table = TABLES[scheme]
    found = kinds(leaf, in_block)
    values = _width(table, leaf, found, output_mult)
    init_scale, init_std = _init(scheme, table, leaf, found, values)
    if table.depth:
        values = _depth(table, values, leaf, found, depth_mult)
        if leaf.own.axes:
            init_scale, init_std = _depth_init(scheme, leaf, values["init_std"])
    own = (leaf.path, leaf.role, leaf.own.shape, leaf.own.base, leaf.own.axes, leaf.width_mult)
    multipliers = {q: values[q] for q in QUANTITIES if q not in ("init_scale", "init_std")}
    return LeafScaling(*own, init_std, init_scale, in_block=in_block, **multipliers)
