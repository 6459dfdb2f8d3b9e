"""Width parametrizations (muP, spectral, SP) built on ``jax_inits.tree`` rules.

A parametrization compares the same model at three widths, leaf by leaf: the
target (``spec``), the base and optionally a ``delta``. An axis whose size
differs between ``base`` and ``delta`` (or ``base`` and ``spec``) is a *width*
axis, as in ``mup.set_base_shapes``. From the number of width axes of a leaf and
their ratios ``m = n / n_base`` follow its initialization scale and its
learning-rate, weight-decay and forward multipliers (microsoft/mup 1.0.0).

Kernels are in jax layout ``(..., in, out)``: the fan-in axis is ``-2``, the
fan-out axis ``-1``, leading axes (stacked layers, convolution taps) are batch
axes that belong to no fan and may not be width axes.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Mapping
from typing import Any, Literal

import jax
import jax.numpy as jnp

from jax_inits._src import checks, constant, distributions, structural, variance_scaling
from jax_inits._src import tree as _tree

Role = Literal["hidden", "input", "readout", "readout_bias", "vector", "fixed"]
ROLES: tuple[str, ...] = ("hidden", "input", "readout", "readout_bias", "vector", "fixed")
Scheme = Literal["mup", "spectral", "sp", "depth_mup", "complete_p", "u_mup"]
SCHEMES: tuple[str, ...] = ("mup", "spectral", "sp", "depth_mup", "complete_p", "u_mup")
Optimizer = Literal["adam", "sgd"]
OPTIMIZERS: tuple[str, ...] = ("adam", "sgd")


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
class Scaled:
    """An initializer times a constant: ``scale * init(key, shape, dtype)``."""

    init: Any
    scale: float

    def __call__(self, key, shape, dtype=None, out_sharding=None):
        if out_sharding is None:
            x = self.init(key, shape, dtype)
        else:
            x = self.init(key, shape, dtype, out_sharding=out_sharding)
        return x * jnp.asarray(self.scale, dtype=x.dtype)


def _scaled(init: Any, scale: float) -> Any:
    return init if scale == 1.0 else Scaled(init, scale)


# ----------------------------------------------------------------------------- checks


def _leaves(arg: str, tree: Any) -> tuple[list[str], list[tuple[int, ...]], Any]:
    paths, leaves, treedef = _tree.flatten(tree)
    shapes = []
    for path, leaf in zip(paths, leaves, strict=True):
        if not _tree._is_array_like(leaf):
            raise TypeError(
                f"mup.parametrize: the leaves of `{arg}` must be arrays or "
                f"jax.ShapeDtypeStruct, got {leaf!r} at path {path!r}."
            )
        shapes.append(tuple(int(d) for d in leaf.shape))
    return paths, shapes, treedef


def _same_structure(arg: str, paths: list[str], treedef: Any, ref_paths, ref_treedef) -> None:
    if treedef != ref_treedef or paths != ref_paths:
        extra = sorted(set(paths) - set(ref_paths))
        missing = sorted(set(ref_paths) - set(paths))
        raise ValueError(
            f"mup.parametrize: `{arg}` must have the structure of `spec` (the same model "
            f"at another width); extra paths {extra}, missing paths {missing}."
        )


def _width_axes(path, shape, base, delta, has_delta, layer_axis=None) -> tuple[int, ...]:
    """The width axes of one leaf; checks ranks, growth and fixed axes.

    ``layer_axis`` (non-negative, or None) is a stacked layer axis: neither a width
    axis nor checked, its size is the depth.
    """
    other = "delta" if has_delta else "spec"
    if not (len(shape) == len(base) == len(delta)):
        raise ValueError(
            f"mup.parametrize: the leaf at path {path!r} must have the same number of axes "
            f"at every width, got spec {shape}, base {base}"
            + (f", delta {delta}." if has_delta else ".")
        )
    axes = []
    for axis, (n, n0, nd) in enumerate(zip(shape, base, delta, strict=True)):
        if axis == layer_axis:
            continue
        if nd == n0:
            if n != n0:
                raise ValueError(
                    f"mup.parametrize: axis {axis} of the leaf at path {path!r} is not a width "
                    f"axis (base and delta both {n0}) but is {n} in `spec`; give a `delta` in "
                    "which every width axis differs from `base`."
                )
            continue
        if nd < n0:
            raise ValueError(
                f"mup.parametrize: width axis {axis} of the leaf at path {path!r} shrinks from "
                f"{n0} in `base` to {nd} in `{other}`; `{other}` must be wider than `base`."
            )
        axes.append(axis)
    if len(axes) > 2:
        raise ValueError(
            f"mup.parametrize: the leaf at path {path!r} has {len(axes)} width axes "
            f"{tuple(axes)} (spec {shape}, base {base}); at most two are supported "
            "(fan-in and fan-out)." + _LEADING_AXES_HINT
        )
    fans = {len(shape) - 2, len(shape) - 1}
    if len(shape) >= 2 and not set(axes) <= fans:
        raise ValueError(
            f"mup.parametrize: the leaf at path {path!r} (spec {shape}, base {base}) has a width "
            f"axis among its leading batch axes {tuple(range(len(shape) - 2))}; kernels must be "
            "laid out (..., in, out) with the width in `in` or `out`." + _LEADING_AXES_HINT
        )
    return tuple(axes)


_LEADING_AXES_HINT = (
    " If a leading axis stacks layers (a scanned model), give it as `layer_axis` (with "
    "`blocks`); if the fans are other axes (an attention kernel (d, heads, head_dim)), give "
    "`fan_axes`, e.g. [('*/query/kernel', '...d,dhk->...hk')]."
)


def _readout_patterns(readout: Any) -> list[Any]:
    return _patterns("readout", readout)


def _patterns(arg: str, value: Any) -> list[Any]:
    if isinstance(value, (str, re.Pattern)) or callable(value):
        patterns = [value]
    elif isinstance(value, (list, tuple)) and value:
        patterns = list(value)
    else:
        raise TypeError(
            f"mup.parametrize: `{arg}` must be a pattern (glob string, compiled regex or "
            f"predicate (path, leaf) -> bool) or a non-empty list of them, got {value!r}."
        )
    _tree._rule_list("mup.parametrize", [(p, None) for p in patterns], allow_keep=True)
    return patterns


# ----------------------------------------------------------------------------- depth as data

# The residual-branch exponent alpha of each depth scheme: every residual branch is
# multiplied by m_L^-alpha, m_L = depth / base_depth (Dey et al. 2025: Depth-muP alpha = 1/2,
# CompleteP alpha = 1). Schemes absent here are width-only: every m_L exponent is 0.
_ALPHA: dict[str, float] = {"depth_mup": 0.5, "complete_p": 1.0}

# Quantity -> exponent of m_L, as a function of alpha, for every leaf inside a residual
# block (hidden kernels, their biases, pre-LN gains alike); leaves outside the blocks
# (embeddings, final norm, readout) take m_L^0. Dey et al. 2025, Table 1, as EleutherAI's
# nanoGPT-mup implements it (model.py, configure_optimizers, commit 3904404): Adam lr
# m_L^(alpha-1), Adam eps m_L^-alpha, weight decay independent of depth. The SGD rule
# m_L^(2 alpha - 1) is derived (one block's feature update ~ m_L^-2alpha eta, summed over
# m_L blocks), not transcribed: at alpha = 1/2 it is Depth-muP's depth-independent SGD rate
# (Yang et al. 2023); it has no reference implementation to be checked against.
_DEPTH_EXPONENTS: dict[str, Any] = {
    "adam_lr": lambda alpha: alpha - 1.0,
    "adam_eps": lambda alpha: -alpha,
    "sgd_lr": lambda alpha: 2.0 * alpha - 1.0,
    "adam_wd": lambda alpha: 0.0,
    "sgd_wd": lambda alpha: 0.0,
}

# Role -> (exponent of m_N of the init std, relative to the base rule's std at the base
# width; exponent of m_N of Adam's eps), for the depth schemes. Hidden weights have init
# variance sigma^2 / m_N, every other leaf keeps the base width's std (the readout included:
# its input is multiplied by 1/m_N instead); eps is eps / m_N for every leaf with a width axis
# (nanoGPT-mup: "emb_unemb_adam_eps" and "hidden_adam_eps" both carry 1/m_N).
_DEPTH_WIDTH: dict[str, tuple[float, float]] = {
    "hidden": (-0.5, -1.0),
    "input": (0.0, -1.0),
    "vector": (0.0, -1.0),
    "readout": (0.0, -1.0),
    "readout_bias": (0.0, 0.0),
    "fixed": (0.0, 0.0),
}


def _apply_depth_table(row, scheme, base_init, shape, base_std_shape, depth_mult, in_block):
    """The row of a depth scheme: mup's width multipliers, then the two tables above."""
    alpha = _ALPHA[scheme]
    init_exp, eps_exp = _DEPTH_WIDTH[row.role]
    scale, std = row.init_scale, row.init_std
    if row.width_axes:
        std_now = _std_of(base_init, shape)
        std_base = _std_of(base_init, base_std_shape)
        if std_now is None or std_base is None:
            raise ValueError(
                f"mup.parametrize: scheme {scheme!r} sets the std of the leaf at path "
                f"{row.path!r} from its std at the base width, so its rule must state one "
                f"(have `target_std`), got {base_init!r}."
            )
        target = std_base * row.width_mult**init_exp
        scale = target / std_now if std_now > 0 else 1.0
        std = std_now * scale
    changes: dict[str, Any] = {
        "init_scale": scale,
        "init_std": std,
        "adam_eps": row.width_mult**eps_exp,
        "in_block": in_block,
    }
    if in_block:
        for kind, exponent in _DEPTH_EXPONENTS.items():
            changes[kind] = changes.get(kind, getattr(row, kind)) * depth_mult ** exponent(alpha)
    return dataclasses.replace(row, **changes)


# u-muP (Blake et al. 2024) as graphcore's unit-scaling 0.3.5 implements it: the same kind
# of table with absolute sizes, m_N = the leaf's fan-in and m_L = the depth (the number of
# layers of the `DepthSequential`/`TransformerStack` the leaf is in, for leaves in `blocks`).
# Role -> (init std or None for the rule's own, exponent of fan-in of the forward
# multiplier, of the Adam lr); every leaf inside the blocks has lr x depth^-1/2
# (unit_scaling.optim.lr_scale_func_adam). Kernels ("hidden": linear weights, fan-in their
# input size; "input": embeddings, whose fan-in unit-scaling takes to be their output size)
# are N(0, 1); the linear output (bias included) is x fan_in^-1/2, the readout's x 1/fan_in,
# an embedding's x 1. SGD takes Adam's rule (lr_scale_func_sgd(None): a readout without
# constraint, LinearReadout's default); weight decay and eps multipliers are 1.
_U_MUP: dict[str, tuple[float | None, float, float]] = {
    "hidden": (1.0, -0.5, -0.5),
    "input": (1.0, 0.0, -0.5),
    "readout": (1.0, -1.0, 0.0),
    "readout_bias": (None, 0.0, 0.0),
    "vector": (None, 0.0, 0.0),
    "fixed": (None, 0.0, 0.0),
}
_U_MUP_DEPTH_LR = -0.5


def _u_mup_row(path, shape, layer_axis, is_readout, is_embedding, base_init, depth, in_block):
    """The row of a leaf under u-muP (no base model: sizes are absolute)."""
    dims = [n for axis, n in enumerate(shape) if axis != layer_axis]
    if is_readout:
        role = "readout" if len(dims) >= 2 else "readout_bias"
    elif len(dims) >= 2:
        role = "input" if is_embedding else "hidden"
    else:
        role = "vector" if dims else "fixed"
    if role == "input":
        fan_in = dims[-1]
    elif len(dims) >= 2:
        fan_in = math.prod(dims[:-1])
    else:
        fan_in = 1
    std, forward_exp, lr_exp = _U_MUP[role]
    lr = float(fan_in) ** lr_exp
    if in_block and depth is not None:
        lr *= float(depth) ** _U_MUP_DEPTH_LR
    own_std = _std_of(base_init, shape)
    row = LeafScaling(
        path=path,
        role=role,  # pyright: ignore[reportArgumentType]
        shape=shape,
        base_shape=shape,
        width_axes=(),
        width_mult=1.0,
        init_std=own_std if std is None else std,
        init_scale=1.0,
        forward_mult=float(fan_in) ** forward_exp,
        adam_lr=lr,
        adam_wd=1.0,
        sgd_lr=lr,
        sgd_wd=1.0,
        in_block=in_block,
    )
    leaf_init = base_init if std is None else distributions.normal(std)
    return row, leaf_init


# ----------------------------------------------------------------------------- the scaling


def _base_rule(fn, rule_list, path, leaf, spec_leaves, layer_axis):
    """The rule of a leaf at the base width: a deferred rule (`jax_inits.tree.scanned`)
    resolved, and with a ``layer_axis`` the rule of one layer, `jax_inits.stacked` over
    that axis, so that the layer axis counts in no fan whatever the rule."""
    init = _tree._first_match(fn, rule_list, path, leaf)
    if isinstance(init, _tree.Deferred):
        init = init.resolve(fn, path, spec_leaves)
    if layer_axis is None:
        return init
    if type(init) is structural.Stacked:
        if init.axis % len(leaf.shape) != layer_axis:
            raise ValueError(
                f"{fn}: the rule of the leaf at path {path!r} stacks axis {init.axis} but "
                f"`layer_axis` is {layer_axis}; stack the layer axis (or drop `stacked`)."
            )
        return init
    one = structural.stacked(init, axis=layer_axis)
    shape = tuple(leaf.shape)
    if _std_of(init, shape) is not None and _std_of(one, shape) is None:
        return init  # written for the stack (batch_axis=layer_axis): one layer's std already
    return one


def _std_of(init: Any, shape: tuple[int, ...]) -> float | None:
    method = getattr(init, "target_std", None)
    if method is None:
        return None
    try:
        return float(method(shape))
    except (NotImplementedError, ValueError, TypeError, IndexError, ZeroDivisionError):
        return None


def _spectral(shape, base):
    r"""(adam_lr, sgd_lr) of a kernel under the spectral condition, 1 at the base shape.

    SGD: $\eta \propto n_\mathrm{out}/n_\mathrm{in}$ (the paper's rule). Adam's
    update is entrywise $\pm\eta$ and of low rank, so its spectral norm is
    $\eta\sqrt{n_\mathrm{in} n_\mathrm{out}}$; the condition
    $\|\Delta W\|_* \propto \sqrt{n_\mathrm{out}/n_\mathrm{in}}$ then asks
    $\eta \propto 1/n_\mathrm{in}$.
    """
    adam = base[-2] / shape[-2]
    sgd = (shape[-1] / shape[-2]) / (base[-1] / base[-2])
    return adam, sgd


def _multipliers(scheme, shape, base, axes, mult, width_mult):
    """(adam_lr, adam_wd, sgd_lr, sgd_wd) of a leaf."""
    if scheme == "sp":
        return 1.0, 1.0, 1.0, 1.0
    if scheme == "spectral":
        if len(shape) >= 2 and axes:
            adam, sgd = _spectral(shape, base)
            return adam, 1.0 / adam, sgd, 1.0 / sgd
        return 1.0, 1.0, 1.0, 1.0
    if len(axes) == 2:  # matrix-like: MuAdam groups by width_mult, MuSGD by fan-in/fan-out
        ratio = mult[-2] / mult[-1]
        return 1.0 / width_mult, width_mult, 1.0 / ratio, ratio
    if len(axes) == 1:  # vector-like
        return 1.0, 1.0, width_mult, 1.0 / width_mult
    return 1.0, 1.0, 1.0, 1.0


def _leaf_scaling(scheme, output_mult, path, shape, base, axes, is_readout, init):
    ndim = len(shape)
    mult = {a - ndim: shape[a] / base[a] for a in axes}  # keyed by negative axis
    if ndim >= 2 and (ndim - 2) in axes:
        width_mult = shape[-2] / base[-2]
    elif axes:
        width_mult = shape[axes[0]] / base[axes[0]]
    else:
        width_mult = 1.0
    if is_readout:
        role = "readout" if ndim >= 2 else "readout_bias"
    elif len(axes) == 2:
        role = "hidden"
    elif len(axes) == 1 and ndim >= 2:
        if axes[0] == ndim - 2:
            raise ValueError(
                f"mup.parametrize: the kernel at path {path!r} (spec {shape}, base {base}) has a "
                "width fan-in and a fixed fan-out, so it is an output layer, but no `readout` "
                "pattern matches it; add its path to `readout`."
            )
        role = "input"
    elif len(axes) == 1:
        role = "vector"
    else:
        role = "fixed"

    base_std = _std_of(init, shape)
    scale = 1.0
    forward = 1.0
    if scheme == "mup" and role == "readout":
        # MuReadout: the weight keeps the base width's std (x sqrt(m) on a 1/sqrt(fan_in)
        # rule), and its input is multiplied by output_mult / m.
        scale = math.sqrt(width_mult)
        forward = output_mult / width_mult
    elif scheme == "spectral" and ndim >= 2 and axes:
        fan_in, fan_out = shape[-2], shape[-1]
        target = min(1.0, math.sqrt(fan_out / fan_in)) / math.sqrt(fan_in)
        if base_std is None:
            raise ValueError(
                f"mup.parametrize: scheme 'spectral' sets the std of the leaf at path {path!r}, "
                f"so its rule must state one (have `target_std`), got {init!r}."
            )
        scale = target / base_std if base_std > 0 else 1.0
    std = None if base_std is None else base_std * scale
    lrs = _multipliers(scheme, shape, base, tuple(a - ndim for a in axes), mult, width_mult)
    return LeafScaling(
        path=path,
        role=role,
        shape=shape,
        base_shape=base,
        width_axes=axes,
        width_mult=width_mult,
        init_std=std,
        init_scale=scale,
        forward_mult=forward,
        adam_lr=lrs[0],
        adam_wd=lrs[1],
        sgd_lr=lrs[2],
        sgd_wd=lrs[3],
    )


_FAN_KEYS = ("in_axis", "out_axis", "batch_axis")


def _fan_rules(fan_axes: Any) -> list[tuple[Any, dict[str, Any]]]:
    """``fan_axes`` as ``[(pattern, {in_axis, out_axis, batch_axis})]``, checked."""
    fn = "mup.parametrize"
    if fan_axes is None:
        return []
    if not isinstance(fan_axes, (list, tuple)) or not all(
        isinstance(r, tuple) and len(r) == 2 for r in fan_axes
    ):
        raise TypeError(
            f"{fn}: `fan_axes` must be a list of (pattern, einsum equation or axes dict) "
            f"pairs, got {fan_axes!r}."
        )
    _tree._rule_list(fn, [(p, None) for p, _ in fan_axes], allow_keep=True)
    rules = []
    for pattern, axes in fan_axes:
        if isinstance(axes, str):
            found = variance_scaling.einsum_axes(axes)
        elif isinstance(axes, Mapping) and set(axes) <= set(_FAN_KEYS):
            found = {k: checks.axes(fn, k, axes.get(k, ())) for k in _FAN_KEYS}
        else:
            raise TypeError(
                f"{fn}: the fan axes of pattern {_tree._describe_pattern(pattern)} must be an "
                f"einsum equation or a dict of {', '.join(_FAN_KEYS)}, got {axes!r}."
            )
        rules.append((pattern, found))
    return rules


class _AtShape:
    """``init``'s target std at the leaf's real shape, asked with its matrix shape."""

    def __init__(self, init: Any, shape: tuple[int, ...]):
        self.init, self.shape = init, shape

    def target_std(self, _matrix_shape: Any) -> float:
        return self.init.target_std(self.shape)


def _fan_scaling(scheme, output_mult, path, shapes, delta, fans, is_readout, init):
    """`_leaf_scaling` of a leaf with named fan axes: as the matrix
    ``(*batch, fan_in, fan_out)`` of its axes (axes in no fan count as batch)."""
    shape, base, wider = shapes
    named = checks.normalize_axes("mup.parametrize", shape, **fans)
    fan_in, fan_out = named["in_axis"], named["out_axis"]
    batch = tuple(a for a in range(len(shape)) if a not in fan_in + fan_out)

    def matrix(s):  # a leaf with no fan-in (a bias) is the vector of its fan-out
        sizes = [s[a] for a in batch] + ([math.prod(s[a] for a in fan_in)] if fan_in else [])
        return tuple(sizes + [math.prod(s[a] for a in fan_out)])

    axes = _width_axes(path, matrix(shape), matrix(base), matrix(wider), delta is not None)
    target = init if getattr(init, "target_std", None) is None else _AtShape(init, shape)
    row = _leaf_scaling(
        scheme, output_mult, path, matrix(shape), matrix(base), axes, is_readout, target
    )
    grown = tuple(a for a in range(len(shape)) if wider[a] != base[a])
    return dataclasses.replace(row, shape=shape, base_shape=base, width_axes=grown)


def _stacked_scaling(scheme, output_mult, path, shape, base, axes, is_readout, init):
    """`_leaf_scaling`, where a `jax_inits.stacked` rule's stack axis is left out:
    a stack of layers scales as one of its slices (the stack axis is in no fan)."""
    if type(init) is not structural.Stacked or not shape:
        return _leaf_scaling(scheme, output_mult, path, shape, base, axes, is_readout, init)
    stack = init.axis % len(shape)
    if stack in axes:
        raise ValueError(
            f"mup.parametrize: the stack axis {stack} of the leaf at path {path!r} (spec "
            f"{shape}, base {base}) changes with the width; a stack of layers must have the "
            "same number of layers at every width."
        )
    drop = lambda t: t[:stack] + t[stack + 1 :]  # noqa: E731
    inner = tuple(a - (a > stack) for a in axes)
    row = _leaf_scaling(
        scheme, output_mult, path, drop(shape), drop(base), inner, is_readout, init.init
    )
    return dataclasses.replace(row, shape=shape, base_shape=base, width_axes=axes)


# ----------------------------------------------------------------------------- the object


class Parametrization:
    r"""A width (and depth) parametrization of one model; built by `parametrize`.

    Attributes:
      scheme: One of `SCHEMES`.
      spec: The target-width spec it was built from.
      table: Path -> `LeafScaling`, one row per leaf, in flattening order.
      rules: ``(pattern, initializer)`` pairs, one per leaf (its exact path), with
        the scaled initializers; usable with ``jax_inits.tree.init``/``reinit``.
      depth_mult: $m_L$ = ``depth / base_depth`` (1 without a depth).
      residual_mult: The factor the model applies to every residual branch's output
        (``x + residual_mult * f(x)``): $m_L^{-\alpha}$ under the depth schemes, 1 under
        the width-only ones.
    """

    def __init__(
        self,
        scheme: str,
        spec: Any,
        table: dict[str, LeafScaling],
        rules: list,
        *,
        depth_mult: float = 1.0,
        residual_mult: float = 1.0,
    ):
        self.scheme = scheme
        self.spec = spec
        self.table = table
        self.rules = rules
        self.depth_mult = depth_mult
        self.residual_mult = residual_mult

    def __repr__(self) -> str:
        roles = {}
        for row in self.table.values():
            roles[row.role] = roles.get(row.role, 0) + 1
        return f"Parametrization(scheme={self.scheme!r}, leaves={len(self.table)}, roles={roles})"

    @property
    def forward_mult(self) -> dict[str, float]:
        """Readout path -> the multiplier the model applies to that layer's input.

        Under muP ``output_mult / m`` (mup's ``MuReadout``), 1 under SP and spectral.
        """
        return {p: r.forward_mult for p, r in self.table.items() if r.role == "readout"}

    def attention_scale(self, head_dim: int, *, attn_mult: float = 1.0) -> float:
        r"""The factor of the attention logits $q \cdot k$ for heads of ``head_dim``.

        muP, spectral and the depth schemes: ``attn_mult / head_dim`` (so that logits
        stay $O(1)$ once $q$ and $k$ correlate during training); SP:
        ``attn_mult / sqrt(head_dim)``.

        Args:
          head_dim: The size of one attention head, ``>= 1``.
          attn_mult: A width-independent factor (a tunable hyper-parameter).

        Returns:
          The scale as a Python float.

        Raises:
          ValueError: If ``head_dim < 1``.
        """
        head_dim = checks.integer("Parametrization.attention_scale", "head_dim", head_dim)
        if head_dim < 1:
            raise ValueError(
                f"Parametrization.attention_scale: `head_dim` must be >= 1, got {head_dim!r}."
            )
        attn_mult = checks.real_number("Parametrization.attention_scale", "attn_mult", attn_mult)
        if self.scheme != "sp":
            return attn_mult / head_dim
        return attn_mult / math.sqrt(head_dim)

    def init(self, key: jax.Array, *, out_shardings: Any = None) -> Any:
        """Creates the parameters at the target width (``jax_inits.tree.init`` with `rules`).

        Args:
          key: The root PRNG key.
          out_shardings: As for ``jax_inits.tree.init``.

        Returns:
          A pytree of the structure of ``spec``.
        """
        return _tree.init(key, self.spec, self.rules, out_shardings=out_shardings)

    def multipliers(self, kind: str) -> Any:
        """A pytree like ``spec`` holding each leaf's multiplier ``kind`` as a float.

        Args:
          kind: One of ``"adam_lr"``, ``"adam_wd"``, ``"adam_eps"``, ``"sgd_lr"``,
            ``"sgd_wd"``, ``"forward_mult"``, ``"init_scale"``, ``"width_mult"``.

        Returns:
          The pytree of Python floats.

        Raises:
          ValueError: If ``kind`` is not one of those.
        """
        kinds = (
            "adam_lr",
            "adam_wd",
            "adam_eps",
            "sgd_lr",
            "sgd_wd",
            "forward_mult",
            "init_scale",
            "width_mult",
        )
        if kind not in kinds:
            raise ValueError(
                f"Parametrization.multipliers: `kind` must be one of {kinds}, got {kind!r}."
            )
        _, _, treedef = _tree.flatten(self.spec)
        return jax.tree_util.tree_unflatten(
            treedef, [float(getattr(r, kind)) for r in self.table.values()]
        )

    def _optimizer(self, fn: str, optimizer: Any) -> str:
        if optimizer not in OPTIMIZERS:
            raise ValueError(f"{fn}: `optimizer` must be one of {OPTIMIZERS}, got {optimizer!r}.")
        return optimizer

    def scale_updates(self, optimizer: Optimizer = "adam"):
        """An optax transformation multiplying each leaf's update by its lr multiplier.

        Chain it after the base optimizer, whose learning rate is the one tuned
        at the base width: ``optax.chain(optax.adam(lr), p.scale_updates("adam"))``.
        The scaling is linear, so its place among other linear steps does not matter.

        Args:
          optimizer: ``"adam"`` for Adam-like (entrywise normalized) updates,
            ``"sgd"`` for SGD-like ones (mup's ``MuAdam`` / ``MuSGD``).

        Returns:
          An ``optax.GradientTransformation`` (stateless).

        Raises:
          ValueError: If ``optimizer`` is neither.
        """
        kind = self._optimizer("Parametrization.scale_updates", optimizer) + "_lr"
        return _scale_by_tree(self.multipliers(kind))

    def add_decayed_weights(
        self, weight_decay: float, optimizer: Optimizer = "adam", *, mask: Any = None
    ):
        r"""``optax.add_decayed_weights`` with each leaf's decay times its wd multiplier.

        Adds $\lambda\, c_{wd}\, w$ to the update of each leaf $w$. Torch's
        coupled weight decay (``MuAdam``/``MuSGD`` with ``weight_decay``): chain it
        before the optimizer; decoupled (``MuAdamW``): after ``optax.scale_by_adam``
        and before `scale_updates`, so that $\eta\, c_{lr} \cdot \lambda\,
        c_{wd}$ is the same product as in mup's param groups.

        Args:
          weight_decay: The base rate $\lambda$, ``>= 0``.
          optimizer: ``"adam"`` or ``"sgd"``: which wd multipliers to use.
          mask: Optional pytree of bools (or a callable), as in optax.

        Returns:
          An ``optax.GradientTransformation``.

        Raises:
          ValueError: If ``weight_decay < 0`` or ``optimizer`` is neither.
        """
        fn = "Parametrization.add_decayed_weights"
        kind = self._optimizer(fn, optimizer) + "_wd"
        weight_decay = checks.real_number(fn, "weight_decay", weight_decay, minimum=0.0)
        rates = jax.tree.map(lambda c: weight_decay * c, self.multipliers(kind))
        return _add_decayed_weights(rates, mask)

    def scale_gradients_for_eps(self):
        r"""An optax transformation giving Adam a per-leaf $\epsilon$: gradient $\div c_\epsilon$.

        Adam's update $\hat m / (\sqrt{\hat v} + \epsilon)$ of a gradient scaled by
        $s$ is $\hat m / (\sqrt{\hat v} + \epsilon / s)$: the same update with
        $\epsilon / s$. So ``optax.scale_by_adam(eps=eps)`` fed gradients divided by
        each leaf's ``adam_eps`` multiplier $c_\epsilon$ runs with $\epsilon\,
        c_\epsilon$ on that leaf, exactly (up to rounding; ``eps_root`` must be 0).
        Chain it immediately before ``scale_by_adam``: anything between (clipping)
        would see the scaled gradients. `adamw` does this.

        Returns:
          An ``optax.GradientTransformation`` (stateless).
        """
        return _scale_by_tree(jax.tree.map(lambda c: 1.0 / c, self.multipliers("adam_eps")))

    def adamw(
        self,
        learning_rate: Any,
        *,
        b1: float = 0.9,
        b2: float = 0.999,
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        mask: Any = None,
        independent_weight_decay: bool = False,
    ):
        r"""AdamW with every per-leaf multiplier of the table: lr, weight decay and $\epsilon$.

        The chain `scale_gradients_for_eps`, ``optax.scale_by_adam(b1, b2, eps)``,
        `add_decayed_weights` (decoupled, as torch's ``AdamW``), `scale_updates`
        and ``optax.scale_by_learning_rate(learning_rate)``. Leaf $w$ moves by
        $-\eta\, c_{lr} (\hat m / (\sqrt{\hat v} + \epsilon\, c_\epsilon) + \lambda\,
        c_{wd}\, w)$, torch ``AdamW`` with one param group per leaf at
        ``lr = eta * c_lr``, ``weight_decay = lambda * c_wd``, ``eps = eps * c_eps``.

        Args:
          learning_rate: The base $\eta$ (a float or an optax schedule).
          b1: Adam's $\beta_1$.
          b2: Adam's $\beta_2$.
          eps: The base $\epsilon$.
          weight_decay: The base $\lambda$, ``>= 0``.
          mask: Which leaves decay (a pytree of bools or a callable), as in optax;
            None decays every leaf.
          independent_weight_decay: Decay by $\lambda\, c_{wd}\, w$ a step whatever
            the learning rate (unit-scaling's ``independent_weight_decay=True``: torch
            groups with ``weight_decay = lambda / (eta * c_lr)``); needs a float
            ``learning_rate`` (the peak rate, as there).

        Returns:
          An ``optax.GradientTransformation``.

        Raises:
          ValueError: If ``weight_decay < 0``.
          TypeError: If ``independent_weight_decay`` and ``learning_rate`` is a schedule.
        """
        with checks.needs("Parametrization.adamw", "optax"):
            import optax

        fn = "Parametrization.adamw"
        weight_decay = checks.real_number(fn, "weight_decay", weight_decay, minimum=0.0)
        if independent_weight_decay:
            if callable(learning_rate):
                raise TypeError(
                    f"{fn}: `independent_weight_decay` needs a float `learning_rate` (the peak "
                    f"rate), got {learning_rate!r}."
                )
            eta = checks.real_number(fn, "learning_rate", learning_rate, strict=True, minimum=0.0)
            rates = jax.tree.map(
                lambda wd, lr: weight_decay * wd / (eta * lr),
                self.multipliers("adam_wd"),
                self.multipliers("adam_lr"),
            )
            decay = _add_decayed_weights(rates, mask)
        else:
            decay = self.add_decayed_weights(weight_decay, "adam", mask=mask)
        return optax.chain(
            self.scale_gradients_for_eps(),
            optax.scale_by_adam(b1=b1, b2=b2, eps=eps),
            decay,
            self.scale_updates("adam"),
            optax.scale_by_learning_rate(learning_rate),
        )


def _scale_by_tree(factors: Any):
    with checks.needs("mup.Parametrization's optax transformations", "optax"):
        import optax

    def init_fn(params):
        del params
        return optax.EmptyState()

    def update_fn(updates, state, params=None):
        del params
        updates = jax.tree.map(lambda u, c: u * jnp.asarray(c, u.dtype), updates, factors)
        return updates, state

    return optax.GradientTransformation(init_fn, update_fn)


def _add_decayed_weights(rates: Any, mask: Any):
    with checks.needs("Parametrization.add_decayed_weights", "optax"):
        import optax

    def init_fn(params):
        del params
        return optax.EmptyState()

    def update_fn(updates, state, params=None):
        if params is None:
            raise ValueError("Parametrization.add_decayed_weights: the update needs `params`.")
        keep = mask(params) if callable(mask) else mask
        leaf_rates = rates if keep is None else jax.tree.map(lambda r, k: r * k, rates, keep)
        updates = jax.tree.map(
            lambda u, p, r: u + jnp.asarray(r, u.dtype) * p, updates, params, leaf_rates
        )
        return updates, state

    return optax.GradientTransformation(init_fn, update_fn)


def parametrize(
    spec: Any,
    base: Any = None,
    *,
    delta: Any = None,
    readout: Any,
    init: Any,
    scheme: Scheme = "mup",
    output_mult: float = 1.0,
    readout_zero_init: bool = False,
    blocks: Any = None,
    depth: int | None = None,
    base_depth: int | None = None,
    layer_axis: int | None = None,
    embeddings: Any = None,
    fan_axes: Any = None,
) -> Parametrization:
    r"""Builds the width parametrization of a model: init scales and multipliers per leaf.

    Widths: an axis is a width axis when its size differs between ``base`` and
    ``delta`` (without ``delta``: between ``base`` and ``spec``), as in mup's
    ``set_base_shapes``. With $m = n / n_\mathrm{base}$ per width axis and, for a
    kernel, $m_\mathrm{in}$, $m_\mathrm{out}$ those of its fan-in and fan-out
    (the leaf's *width multiplier* is $m_\mathrm{in}$, or that of its only width
    axis), ``scheme="mup"`` follows microsoft/mup 1.0.0:

    - hidden (two width axes): the base rule at the target shape; Adam lr
      $\times 1/m_\mathrm{in}$, wd $\times m_\mathrm{in}$; SGD lr
      $\times m_\mathrm{out}/m_\mathrm{in}$, wd $\times m_\mathrm{in}/m_\mathrm{out}$.
    - input and vector (one width axis: input kernels, embeddings, biases, norm
      scales): the base rule; Adam $\times 1$; SGD lr $\times m$, wd $\div m$.
    - readout kernel: the base rule $\times\sqrt{m}$, so that its std stays the
      base width's (exact zeros with ``readout_zero_init``); its input is
      multiplied by ``output_mult / m``; lr and wd by its width axes as above.
    - readout bias and fixed leaves (no width axis): the base rule, multipliers 1.

    Biases: mup multiplies a torch ``Linear``'s bias by $\sqrt{m_\mathrm{in}}$,
    which undoes the $1/\sqrt{n_\mathrm{in}}$ of torch's default bias init, so that
    its std stays the base width's. A jax bias rule sees only the bias shape, so
    written for the base width (e.g. ``jax_inits.pytorch.linear_bias_default(64)``)
    it already gives that std: biases take their rule unscaled.

    ``scheme="spectral"`` (Yang, Simon and Bernstein): every kernel with a width
    axis (input, hidden and readout alike, no forward multiplier) gets std
    $\frac{1}{\sqrt{n_\mathrm{in}}}\min(1, \sqrt{n_\mathrm{out}/n_\mathrm{in}})$ (the
    base rule rescaled, so it must have ``target_std``), SGD learning rate
    $\propto n_\mathrm{out}/n_\mathrm{in}$ (the paper's rule) and Adam learning
    rate $\propto 1/n_\mathrm{in}$ (Adam's entrywise-normalized, low-rank update
    has spectral norm $\eta\sqrt{n_\mathrm{in} n_\mathrm{out}}$, and the condition
    asks $\sqrt{n_\mathrm{out}/n_\mathrm{in}}$), both normalized to 1 at the base
    shape, weight decay the inverse; fans are the global sizes of the last two
    axes. Other leaves as in SP. Embedding tables are kernels here too, though
    the paper's input-norm assumption does not hold for one-hot inputs.
    ``scheme="sp"``: the base rule at the target shape, every multiplier 1.

    Depth: ``scheme="depth_mup"`` ($\alpha = 1/2$) and ``scheme="complete_p"``
    ($\alpha = 1$) (Dey et al. 2025) add the depth ratio $m_L$ = ``depth /
    base_depth`` to muP's Adam rules. Every residual branch is multiplied by
    $m_L^{-\alpha}$ (`Parametrization.residual_mult`); every leaf inside a residual
    block (matched by ``blocks``: kernels, biases and norm gains alike) has Adam
    lr $\times m_L^{\alpha - 1}$ and $\epsilon \times m_L^{-\alpha}$; hidden kernels
    have init std $\sigma_\mathrm{base} / \sqrt{m_N}$ ($\sigma_\mathrm{base}$: the
    rule's std at the base width, so the rule must have ``target_std``), Adam lr
    $\times 1/m_N$, weight decay $\times m_N$; embeddings, biases, norms and the
    readout keep the base width's std; the readout's input is multiplied by
    ``output_mult`` $/m_N$; $\epsilon \times 1/m_N$ on every leaf with a width axis.
    Apply the multipliers with `Parametrization.adamw` (per-leaf $\epsilon$ included).
    SGD: muP's width rules and lr $\times m_L^{2\alpha - 1}$ in blocks (derived, not
    checked against a reference). With ``blocks`` and a depth, the width-only
    schemes have `Parametrization.residual_mult` 1 and no depth multiplier.

    ``scheme="u_mup"`` (Blake et al. 2024, as graphcore's ``unit-scaling`` 0.3.5):
    sizes are absolute, so ``base`` may be None (its widths are not used). Kernels
    are $\mathcal{N}(0, 1)$, every other leaf takes its rule (norm gains ones,
    biases zeros). Forward multipliers (applied to the layer's *output*, bias
    included): a kernel $n_\mathrm{in}^{-1/2}$, the readout $1/n_\mathrm{in}$, an
    embedding (matched by ``embeddings``) 1. Adam and SGD lr: a kernel
    $\times n_\mathrm{in}^{-1/2}$ (an embedding's $n_\mathrm{in}$ is its output
    size, as unit-scaling counts it), others 1, and every leaf in ``blocks``
    $\times$ ``depth``$^{-1/2}$ (the number of layers); weight decay 1 (see
    ``independent_weight_decay`` of `Parametrization.adamw`). Residual branches
    use `residual_tau`, attention `attention_output_scale`. unit-scaling's
    backward-only gradient scales are not applied (see the guide).

    The model applies `Parametrization.forward_mult` to the readout's input,
    `Parametrization.residual_mult` to its residual branches and
    `Parametrization.attention_scale` to its attention logits.

    Args:
      spec: The model's parameters (arrays or ``jax.ShapeDtypeStruct``, e.g. from
        ``jax.eval_shape``) at the target width.
      base: The same model at the base width (where hyper-parameters are tuned);
        None only under ``"u_mup"``.
      delta: Optionally the same model at a second width, wider than ``base`` in
        every width axis, to tell width axes from fixed ones.
      readout: Pattern(s), as in ``jax_inits.tree``, of the output layer's leaves
        (its kernel and bias).
      init: ``jax_inits.tree`` rules of the model's initialization at the base width.
      scheme: One of `SCHEMES`: ``"mup"``, ``"spectral"``, ``"sp"``, ``"depth_mup"``,
        ``"complete_p"``, ``"u_mup"``.
      output_mult: muP's $c_\mathrm{out}$, the readout's width-independent forward
        multiplier.
      readout_zero_init: Initialize readout leaves to exact zeros (mup's
        ``MuReadout(readout_zero_init=True)``).
      blocks: Pattern(s), as ``readout``, of the leaves inside the residual blocks
        (e.g. ``"layers/*"``). Required by the depth schemes; under ``"u_mup"``
        their lr is scaled by ``depth``$^{-1/2}$.
      depth: The model's number of residual blocks (the depth ``spec`` is at).
        Required by the depth schemes and by ``"u_mup"`` with ``blocks``; with
        ``layer_axis``, defaults to that axis's size in ``spec``. Where the block
        paths hold a block index (``blocks/3/...``), it must be their number.
      base_depth: The depth the hyper-parameters were tuned at; with
        ``layer_axis``, defaults to that axis's size in ``base``.
      layer_axis: For stacked (scanned) blocks, the leading axis of every block
        leaf that indexes the layer: not a width axis, and it may differ between
        ``spec`` and ``base`` (a base model at the base depth). Every block leaf
        gets what one layer gets: its rule applied as ``jax_inits.stacked(rule,
        axis=layer_axis)`` (a rule that already excludes the axis, such as
        ``lecun_normal(batch_axis=0)``, is kept). Refused for unstacked blocks.
      embeddings: ``"u_mup"`` only: pattern(s) of the embedding tables (forward
        multiplier 1, fan-in their output size).
      fan_axes: ``[(pattern, axes), ...]``: the fan axes of the leaves a pattern
        matches (first match wins), where they are not the last two: ``axes`` is
        the einsum equation that applies the kernel (see
        `jax_inits.einsum_axes`), e.g. ``"...d,dhk->...hk"`` for
        ``nnx.MultiHeadAttention``'s ``(d, heads, head_dim)`` query kernel, or a
        dict of ``in_axis``/``out_axis``/``batch_axis``. Such a leaf scales as the
        matrix ``(fan_in, fan_out)`` of its fan axes (other axes are batch axes).

    Returns:
      A `Parametrization`.

    Raises:
      TypeError: If a tree leaf, ``readout``, ``init`` or ``scheme`` has the wrong type.
      ValueError: If a depth scheme (or ``"u_mup"`` with ``blocks``) lacks
        ``blocks`` or a depth, a depth is < 1 or is not the number of block
        indices in the paths, ``layer_axis`` is given for blocks whose paths hold
        an index, is not a leading axis of every block leaf or its size is not the
        depth, a ``tree.scanned`` prefix of ``init`` holds no leaf,
        ``spec``/``base``/``delta`` differ in structure or rank, a
        width axis shrinks, a leaf has more than two width axes, a pattern of
        ``readout`` matches no leaf, a kernel with a width fan-in and fixed
        fan-out is not a readout, or no rule of ``init`` matches a leaf.

    Examples:
      >>> import jax_inits.mup
      >>> def mlp(w):
      ...     s = lambda *shape: jax.ShapeDtypeStruct(shape, jnp.float32)
      ...     return {"fc1": {"kernel": s(32, w)}, "fc2": {"kernel": s(w, w)},
      ...             "head": {"kernel": s(w, 10)}}
      >>> p = jax_inits.mup.parametrize(
      ...     mlp(1024), mlp(64), readout="head/*", init=[("*", jax_inits.lecun_normal())])
      >>> row = p.table["fc2/kernel"]
      >>> row.role, row.width_mult, row.adam_lr, row.sgd_lr
      ('hidden', 16.0, 0.0625, 1.0)
      >>> p.forward_mult
      {'head/kernel': 0.0625}
      >>> params = p.init(jax.random.key(0))
      >>> round(float(params["head"]["kernel"].std()) * 8, 1)  # the base width's 1/sqrt(64)
      1.0

    References:
      Yang et al., [Tensor Programs V: Tuning Large Neural Networks via Zero-Shot
      Hyperparameter Transfer](https://arxiv.org/abs/2203.03466), 2022.

      Yang, Simon and Bernstein, [A Spectral Condition for Feature
      Learning](https://arxiv.org/abs/2310.17813), 2023.

      Yang et al., [Tensor Programs VI: Feature Learning in Infinite-Depth Neural
      Networks](https://arxiv.org/abs/2310.02244), 2023.

      Dey et al., [Don't be lazy: CompleteP enables compute-efficient deep
      transformers](https://arxiv.org/abs/2505.01618), 2025.

      Blake et al., [u-μP: The Unit-Scaled Maximal Update
      Parametrization](https://arxiv.org/abs/2407.17465), 2024.
    """
    fn = "mup.parametrize"
    if not isinstance(scheme, str):
        raise TypeError(f"{fn}: `scheme` must be one of {SCHEMES}, got {scheme!r}.")
    if scheme not in SCHEMES:
        raise ValueError(f"{fn}: `scheme` must be one of {SCHEMES}, got {scheme!r}.")
    output_mult = checks.real_number(fn, "output_mult", output_mult)
    if not isinstance(readout_zero_init, bool):
        raise TypeError(f"{fn}: `readout_zero_init` must be a bool, got {readout_zero_init!r}.")
    patterns = _readout_patterns(readout)
    rule_list = _tree._rule_list(fn, init, allow_keep=False)
    fan_rules = _fan_rules(fan_axes)

    paths, shapes, treedef = _leaves("spec", spec)
    if base is None:
        if scheme != "u_mup":
            raise ValueError(
                f"{fn}: scheme {scheme!r} needs `base`, the model at the base width "
                "(only 'u_mup' has none)."
            )
        base = spec
    if embeddings is not None and scheme != "u_mup":
        raise ValueError(
            f"{fn}: `embeddings` is for scheme 'u_mup' (the other schemes tell embeddings "
            f"by their width axes), got scheme {scheme!r}."
        )
    base_paths, base_shapes, base_treedef = _leaves("base", base)
    _same_structure("base", base_paths, base_treedef, paths, treedef)
    if delta is None:
        delta_shapes = shapes
    else:
        delta_paths, delta_shapes, delta_treedef = _leaves("delta", delta)
        _same_structure("delta", delta_paths, delta_treedef, paths, treedef)

    leaves = _tree.flatten(spec)[1]
    spec_leaves = dict(zip(paths, leaves, strict=True))
    _tree.check_stacks(fn, rule_list, paths)
    hits = [
        [_tree._matches(pattern, path, leaf) for pattern in patterns]
        for path, leaf in zip(paths, leaves, strict=True)
    ]
    is_readout = [any(row) for row in hits]
    for i, pattern in enumerate(patterns):
        if not any(row[i] for row in hits):
            raise ValueError(
                f"{fn}: the `readout` pattern {_tree._describe_pattern(pattern)} matches no "
                f"leaf; the paths are {paths}."
            )
    in_block, layer_axes, depth, depth_mult = _depth(
        scheme, paths, leaves, shapes, base_shapes, blocks, depth, base_depth, layer_axis
    )
    is_embedding = [False] * len(paths)
    if embeddings is not None:
        is_embedding = _match_all(fn, "embeddings", embeddings, paths, leaves)
    table: dict[str, LeafScaling] = {}
    rules = []
    rows = zip(
        paths,
        leaves,
        shapes,
        base_shapes,
        delta_shapes,
        is_readout,
        in_block,
        layer_axes,
        is_embedding,
        strict=True,
    )
    for path, leaf, shape, b, d, readout_leaf, block_leaf, l_axis, embedding_leaf in rows:
        if path in table:
            raise ValueError(
                f"{fn}: two leaves have the same path {path!r}; rename one (a dict key "
                "containing '/' is the usual cause)."
            )
        base_init = _base_rule(fn, rule_list, path, leaf, spec_leaves, l_axis)
        if scheme == "u_mup":
            row, leaf_init = _u_mup_row(
                path, shape, l_axis, readout_leaf, embedding_leaf, base_init, depth,
                block_leaf,
            )  # fmt: skip
            table[path] = row
            rules.append((re.compile(re.escape(path)), leaf_init))
            continue
        if l_axis is not None and delta is not None:
            d = d[:l_axis] + (b[l_axis],) + d[l_axis + 1 :]
        width_scheme = "mup" if scheme in _ALPHA else scheme
        fans = next((f for p, f in fan_rules if _tree._matches(p, path, leaf)), None)
        if fans is None:
            axes = _width_axes(path, shape, b, d, delta is not None, l_axis)
            row = _stacked_scaling(
                width_scheme, output_mult, path, shape, b, axes, readout_leaf, base_init
            )
        else:
            row = _fan_scaling(
                width_scheme, output_mult, path, (shape, b, d), delta, fans, readout_leaf,
                base_init,
            )  # fmt: skip
        if l_axis is not None and len(shape) == 2 and row.role == "input":
            row = dataclasses.replace(row, role="vector")  # a stacked bias or norm gain
        if scheme in _ALPHA:
            b_std = b if l_axis is None else b[:l_axis] + (shape[l_axis],) + b[l_axis + 1 :]
            row = _apply_depth_table(row, scheme, base_init, shape, b_std, depth_mult, block_leaf)
        elif block_leaf:
            row = dataclasses.replace(row, in_block=True)
        leaf_init = _scaled(base_init, row.init_scale)
        if readout_zero_init and row.role in ("readout", "readout_bias"):
            leaf_init = constant.zeros
            row = dataclasses.replace(row, init_std=0.0, init_scale=0.0)
        table[path] = row
        rules.append((re.compile(re.escape(path)), leaf_init))
    alpha = _ALPHA.get(scheme, 0.0)
    return Parametrization(
        scheme,
        spec,
        table,
        rules,
        depth_mult=depth_mult,
        residual_mult=depth_mult**-alpha,
    )


def _depth(scheme, paths, leaves, shapes, base_shapes, blocks, depth, base_depth, layer_axis):
    """(in_block per leaf, layer axis per leaf, m_L) from the depth arguments."""
    fn = "mup.parametrize"
    n = len(paths)
    if blocks is None:
        if scheme in _ALPHA:
            raise ValueError(
                f"{fn}: scheme {scheme!r} needs `blocks`, the pattern(s) of the leaves inside "
                "the residual blocks (e.g. blocks='layers/*')."
            )
        for arg, value in (
            ("depth", depth),
            ("base_depth", base_depth),
            ("layer_axis", layer_axis),
        ):
            if value is not None:
                raise ValueError(f"{fn}: `{arg}` needs `blocks`, got {arg}={value!r}.")
        return [False] * n, [None] * n, None, 1.0
    in_block = _match_all(fn, "blocks", blocks, paths, leaves)
    indices = _block_indices([p for p, b in zip(paths, in_block, strict=True) if b])
    layer_axes: list[int | None] = [None] * n
    if layer_axis is not None:
        layer_axis = checks.integer(fn, "layer_axis", layer_axis)
        if indices is not None:
            raise ValueError(
                f"{fn}: `layer_axis` {layer_axis!r} is for stacked blocks, but the block leaf at "
                f"path {indices[2]!r} has a layer index in its path: the blocks look unstacked; "
                "drop `layer_axis` and give `depth`."
            )
        stacked_depth = set()
        stacked_base = set()
        for i, (path, shape, b) in enumerate(zip(paths, shapes, base_shapes, strict=True)):
            if not in_block[i]:
                continue
            axis = layer_axis + len(shape) if layer_axis < 0 else layer_axis
            if not 0 <= axis < len(shape) - min(len(shape) - 1, 2) or len(b) != len(shape):
                raise ValueError(
                    f"{fn}: `layer_axis` {layer_axis!r} must be a leading axis (not one of the "
                    f"last two, which are the fans) of every block leaf; the leaf at path "
                    f"{path!r} has shape {shape}." + _UNSTACKED_HINT
                )
            layer_axes[i] = axis
            stacked_depth.add(shape[axis])
            stacked_base.add(b[axis])
        if depth is None:
            depth = _one_size(fn, "depth", stacked_depth, "spec")
        if base_depth is None:
            base_depth = _one_size(fn, "base_depth", stacked_base, "base")
        if any(size != depth for size in stacked_depth):
            raise ValueError(
                f"{fn}: `depth` is {depth!r} but the stacked layer axis of the block leaves "
                f"has sizes {sorted(stacked_depth)} in `spec`."
            )
    if scheme == "u_mup" and depth is None:
        raise ValueError(
            f"{fn}: scheme 'u_mup' needs `depth` with `blocks` (the number of layers, for "
            "the blocks' lr x depth^-1/2), or a `layer_axis` to read it from; got depth=None."
        )
    if depth is not None and indices is not None:
        _check_depth(fn, depth, indices)
    for arg, value in (("depth", depth), ("base_depth", base_depth)):
        if value is None:
            if scheme in _ALPHA:
                raise ValueError(
                    f"{fn}: scheme {scheme!r} needs `{arg}` (or a `layer_axis` to read it from), "
                    f"got {arg}=None."
                )
            continue
        value = checks.integer(fn, arg, value)
        if value < 1:
            raise ValueError(f"{fn}: `{arg}` must be >= 1, got {value!r}.")
    depth_mult = 1.0 if depth is None or base_depth is None else depth / base_depth
    return in_block, layer_axes, depth, depth_mult


def _match_all(fn, arg, value, paths, leaves) -> list[bool]:
    """Per leaf: does a pattern of ``value`` match it; every pattern must match one."""
    patterns = _patterns(arg, value)
    hits = [
        [_tree._matches(pattern, path, leaf) for pattern in patterns]
        for path, leaf in zip(paths, leaves, strict=True)
    ]
    for i, pattern in enumerate(patterns):
        if not any(row[i] for row in hits):
            raise ValueError(
                f"{fn}: the `{arg}` pattern {_tree._describe_pattern(pattern)} matches no "
                f"leaf; the paths are {paths}."
            )
    return [any(row) for row in hits]


def _one_size(fn, arg, sizes, where):
    if len(sizes) != 1:
        raise ValueError(
            f"{fn}: the stacked layer axis of the block leaves has sizes {sorted(sizes)} in "
            f"`{where}`; give `{arg}` or stack every block leaf to the same depth."
            + _UNSTACKED_HINT
        )
    return next(iter(sizes))


_UNSTACKED_HINT = (
    " If the blocks are not stacked (one leaf per layer), they look unstacked: drop "
    "`layer_axis` and give `depth`."
)


def _block_indices(paths: list[str]) -> tuple[str, list[str], str] | None:
    """(head, the indices, the first path) where the block paths hold a layer index,
    ``head/<i>/...`` (unstacked blocks); ``None`` where they do not.

    The index is the first all-digit part among those the paths share and the first
    where they differ (``blocks/3/fc/kernel``), so a list inside a stacked block
    (``blocks/mlp/0/kernel`` beside ``blocks/attn/kernel``) is not taken for one.
    """
    parts = [p.split("/") for p in paths]
    if not parts:
        return None
    common = 0
    while all(len(q) > common + 1 and q[common] == parts[0][common] for q in parts):
        common += 1
    for i in range(common + 1):
        if all(len(q) > i + 1 and q[i].isdigit() for q in parts):
            indices = sorted({q[i] for q in parts}, key=int)
            return "/".join(parts[0][:i]), indices, paths[0]
    return None


def _check_depth(fn, depth, indices):
    head, found, _ = indices
    depth = checks.integer(fn, "depth", depth)
    if depth != len(found):
        raise ValueError(
            f"{fn}: `depth` is {depth!r} but the block leaves' paths have {len(found)} block "
            f"indices ({head}/{found[0]} .. {head}/{found[-1]}); give `depth`={len(found)} "
            "(the number of blocks `spec` has)."
        )
