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

from jax_inits._src import checks, constant, structural, variance_scaling
from jax_inits._src import tree as _tree

Role = Literal["hidden", "input", "readout", "readout_bias", "vector", "fixed"]
ROLES: tuple[str, ...] = ("hidden", "input", "readout", "readout_bias", "vector", "fixed")
Scheme = Literal["mup", "spectral", "sp"]
SCHEMES: tuple[str, ...] = ("mup", "spectral", "sp")
Optimizer = Literal["adam", "sgd"]
OPTIMIZERS: tuple[str, ...] = ("adam", "sgd")


@dataclasses.dataclass(frozen=True)
class LeafScaling:
    """How one leaf is scaled with width (a row of `Parametrization.table`).

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


def _width_axes(path, shape, base, delta, has_delta) -> tuple[int, ...]:
    """The width axes of one leaf; checks ranks, growth and fixed axes."""
    other = "delta" if has_delta else "spec"
    if not (len(shape) == len(base) == len(delta)):
        raise ValueError(
            f"mup.parametrize: the leaf at path {path!r} must have the same number of axes "
            f"at every width, got spec {shape}, base {base}"
            + (f", delta {delta}." if has_delta else ".")
        )
    axes = []
    for axis, (n, n0, nd) in enumerate(zip(shape, base, delta, strict=True)):
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
            "(fan-in and fan-out)."
        )
    fans = {len(shape) - 2, len(shape) - 1}
    if len(shape) >= 2 and not set(axes) <= fans:
        raise ValueError(
            f"mup.parametrize: the leaf at path {path!r} (spec {shape}, base {base}) has a width "
            f"axis among its leading batch axes {tuple(range(len(shape) - 2))}; kernels must be "
            "laid out (..., in, out) with the width in `in` or `out`."
        )
    return tuple(axes)


def _readout_patterns(readout: Any) -> list[Any]:
    if isinstance(readout, (str, re.Pattern)) or callable(readout):
        patterns = [readout]
    elif isinstance(readout, (list, tuple)) and readout:
        patterns = list(readout)
    else:
        raise TypeError(
            "mup.parametrize: `readout` must be a pattern (glob string, compiled regex or "
            f"predicate (path, leaf) -> bool) or a non-empty list of them, got {readout!r}."
        )
    _tree._rule_list("mup.parametrize", [(p, None) for p in patterns], allow_keep=True)
    return patterns


# ----------------------------------------------------------------------------- the scaling


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
    """A width parametrization of one model; built by `parametrize`.

    Attributes:
      scheme: ``"mup"``, ``"spectral"`` or ``"sp"``.
      spec: The target-width spec it was built from.
      table: Path -> `LeafScaling`, one row per leaf, in flattening order.
      rules: ``(pattern, initializer)`` pairs, one per leaf (its exact path), with
        the scaled initializers; usable with ``jax_inits.tree.init``/``reinit``.
    """

    def __init__(self, scheme: str, spec: Any, table: dict[str, LeafScaling], rules: list):
        self.scheme = scheme
        self.spec = spec
        self.table = table
        self.rules = rules

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

        muP and spectral: ``attn_mult / head_dim`` (so that logits stay $O(1)$ once
        $q$ and $k$ correlate during training); SP: ``attn_mult / sqrt(head_dim)``.

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
        if self.scheme in ("mup", "spectral"):
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
          kind: One of ``"adam_lr"``, ``"adam_wd"``, ``"sgd_lr"``, ``"sgd_wd"``,
            ``"forward_mult"``, ``"init_scale"``, ``"width_mult"``.

        Returns:
          The pytree of Python floats.

        Raises:
          ValueError: If ``kind`` is not one of those.
        """
        kinds = (
            "adam_lr",
            "adam_wd",
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


def _scale_by_tree(factors: Any):
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
    import optax

    def init_fn(params):
        del params
        return optax.EmptyState()

    def update_fn(updates, state, params=None):
        if params is None:
            raise ValueError("Parametrization.add_decayed_weights: the update needs `params`.")
        updates = jax.tree.map(
            lambda u, p, r: u + jnp.asarray(r, u.dtype) * p, updates, params, rates
        )
        return updates, state

    transform = optax.GradientTransformation(init_fn, update_fn)
    return transform if mask is None else optax.masked(transform, mask)


def parametrize(
    spec: Any,
    base: Any,
    *,
    delta: Any = None,
    readout: Any,
    init: Any,
    scheme: Scheme = "mup",
    output_mult: float = 1.0,
    readout_zero_init: bool = False,
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

    The model applies `Parametrization.forward_mult` to the readout's input
    and `Parametrization.attention_scale` to its attention logits.

    Args:
      spec: The model's parameters (arrays or ``jax.ShapeDtypeStruct``, e.g. from
        ``jax.eval_shape``) at the target width.
      base: The same model at the base width (where hyper-parameters are tuned).
      delta: Optionally the same model at a second width, wider than ``base`` in
        every width axis, to tell width axes from fixed ones.
      readout: Pattern(s), as in ``jax_inits.tree``, of the output layer's leaves
        (its kernel and bias).
      init: ``jax_inits.tree`` rules of the model's initialization at the base width.
      scheme: ``"mup"``, ``"spectral"`` or ``"sp"``.
      output_mult: muP's $c_\mathrm{out}$, the readout's width-independent forward
        multiplier.
      readout_zero_init: Initialize readout leaves to exact zeros (mup's
        ``MuReadout(readout_zero_init=True)``).
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
      ValueError: If ``spec``/``base``/``delta`` differ in structure or rank, a
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
    base_paths, base_shapes, base_treedef = _leaves("base", base)
    _same_structure("base", base_paths, base_treedef, paths, treedef)
    if delta is None:
        delta_shapes = shapes
    else:
        delta_paths, delta_shapes, delta_treedef = _leaves("delta", delta)
        _same_structure("delta", delta_paths, delta_treedef, paths, treedef)

    leaves = _tree.flatten(spec)[1]
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
    table: dict[str, LeafScaling] = {}
    rules = []
    rows = zip(paths, leaves, shapes, base_shapes, delta_shapes, is_readout, strict=True)
    for path, leaf, shape, b, d, readout_leaf in rows:
        if path in table:
            raise ValueError(
                f"{fn}: two leaves have the same path {path!r}; rename one (a dict key "
                "containing '/' is the usual cause)."
            )
        base_init = _tree._first_match(fn, rule_list, path, leaf)
        fans = next((f for p, f in fan_rules if _tree._matches(p, path, leaf)), None)
        if fans is None:
            axes = _width_axes(path, shape, b, d, delta is not None)
            row = _stacked_scaling(
                scheme, output_mult, path, shape, b, axes, readout_leaf, base_init
            )
        else:
            row = _fan_scaling(
                scheme, output_mult, path, (shape, b, d), delta, fans, readout_leaf, base_init
            )
        leaf_init = _scaled(base_init, row.init_scale)
        if readout_zero_init and row.role in ("readout", "readout_bias"):
            leaf_init = constant.zeros
            row = dataclasses.replace(row, init_std=0.0, init_scale=0.0)
        table[path] = row
        rules.append((re.compile(re.escape(path)), leaf_init))
    return Parametrization(scheme, spec, table, rules)
