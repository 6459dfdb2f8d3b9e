"""Leaf roles and width axes: what `parametrize` learns about each leaf before any scheme.

Each leaf of the target model is compared with the same leaf at the base width (and
``delta``): an axis whose size differs is a *width* axis (mup's ``set_base_shapes``).
From its width axes and the ``readout``/``blocks`` patterns follows its role, the
key of the scheme tables (`jax_inits._src.mup_schemes`). Also here: the rule of a
leaf at the base width, the depth arguments (``blocks``, ``depth``, ``layer_axis``)
and named fan axes (``fan_axes``).
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Mapping
from typing import Any, Literal

from jax_inits._src import checks, structural, variance_scaling
from jax_inits._src import tree as _tree

Role = Literal["hidden", "input", "readout", "readout_bias", "vector", "fixed"]
ROLES: tuple[str, ...] = ("hidden", "input", "readout", "readout_bias", "vector", "fixed")


# ----------------------------------------------------------------------------- checks


def leaf_shapes(arg: str, tree: Any) -> tuple[list[str], list[tuple[int, ...]], Any]:
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


def same_structure(arg: str, paths: list[str], treedef: Any, ref_paths, ref_treedef) -> None:
    if treedef != ref_treedef or paths != ref_paths:
        extra = sorted(set(paths) - set(ref_paths))
        missing = sorted(set(ref_paths) - set(paths))
        raise ValueError(
            f"mup.parametrize: `{arg}` must have the structure of `spec` (the same model "
            f"at another width); extra paths {extra}, missing paths {missing}."
        )


def width_axes(path, shape, base, delta, has_delta, layer_axis=None) -> tuple[int, ...]:
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


def patterns(arg: str, value: Any) -> list[Any]:
    """``value`` (one pattern or a non-empty list) as a list of checked patterns."""
    if isinstance(value, (str, re.Pattern)) or callable(value):
        found = [value]
    elif isinstance(value, (list, tuple)) and value:
        found = list(value)
    else:
        raise TypeError(
            f"mup.parametrize: `{arg}` must be a pattern (glob string, compiled regex or "
            f"predicate (path, leaf) -> bool) or a non-empty list of them, got {value!r}."
        )
    _tree._rule_list("mup.parametrize", [(p, None) for p in found], allow_keep=True)
    return found


# ----------------------------------------------------------------------------- rules


def base_rule(fn, rule_list, path, leaf, spec_leaves, layer_axis):
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
    if std_of(init, shape) is not None and std_of(one, shape) is None:
        return init  # written for the stack (batch_axis=layer_axis): one layer's std already
    return one


def std_of(init: Any, shape: tuple[int, ...]) -> float | None:
    method = getattr(init, "target_std", None)
    if method is None:
        return None
    try:
        return float(method(shape))
    except (NotImplementedError, ValueError, TypeError, IndexError, ZeroDivisionError):
        return None


# ----------------------------------------------------------------------------- fan axes


_FAN_KEYS = ("in_axis", "out_axis", "batch_axis")


def fan_rules(fan_axes: Any) -> list[tuple[Any, dict[str, Any]]]:
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


# ----------------------------------------------------------------------------- roles


@dataclasses.dataclass(frozen=True)
class View:
    """What a scheme scales of a leaf: the leaf itself, one slice of a `jax_inits.stacked`
    rule's stack, or the matrix ``(*batch, fan_in, fan_out)`` of its named fan axes.

    Attributes:
      shape: Its shape at the target width.
      base: Its shape at the base width.
      axes: Its width axes.
      init: The rule whose std is asked at ``shape``.
    """

    shape: tuple[int, ...]
    base: tuple[int, ...]
    axes: tuple[int, ...]
    init: Any


@dataclasses.dataclass(frozen=True)
class Own:
    """The leaf as it is.

    Attributes:
      shape: Its shape at the target width.
      base: Its shape at the base width.
      axes: Its width axes.
      rule: Its rule at the base width, as given.
      base_std_shape: The shape whose std under ``rule`` is the base width's
        (``base`` with a stacked layer axis at the target depth).
    """

    shape: tuple[int, ...]
    base: tuple[int, ...]
    axes: tuple[int, ...]
    rule: Any
    base_std_shape: tuple[int, ...]


@dataclasses.dataclass(frozen=True)
class Leaf:
    """One leaf as the scheme tables see it.

    Attributes:
      path: The leaf's path.
      role: One of `ROLES`.
      width_mult: mup's width multiplier of ``view`` (its fan-in's, or its only
        width axis's; 1 without width axes).
      view: What scales (`View`).
      own: The leaf itself (`Own`).
    """

    path: str
    role: Role
    width_mult: float
    view: View
    own: Own


def role_of(path, shape, base, axes, is_readout) -> Role:
    """The role of a leaf from its width axes (and whether ``readout`` matches it)."""
    ndim = len(shape)
    if is_readout:
        return "readout" if ndim >= 2 else "readout_bias"
    if len(axes) == 2:
        return "hidden"
    if len(axes) == 1 and ndim >= 2:
        if axes[0] == ndim - 2:
            raise ValueError(
                f"mup.parametrize: the kernel at path {path!r} (spec {shape}, base {base}) has a "
                "width fan-in and a fixed fan-out, so it is an output layer, but no `readout` "
                "pattern matches it; add its path to `readout`."
            )
        return "input"
    return "vector" if len(axes) == 1 else "fixed"


def _width_mult(shape, base, axes) -> float:
    ndim = len(shape)
    if ndim >= 2 and (ndim - 2) in axes:
        return shape[-2] / base[-2]
    if axes:
        return shape[axes[0]] / base[axes[0]]
    return 1.0


def _matrix_view(path, shapes, has_delta, fans, init):
    """(shape, base, width axes, init) of a leaf with named fans as the matrix
    ``(*batch, fan_in, fan_out)`` of its axes (axes in no fan count as batch)."""
    shape, base, wider = shapes
    named = checks.normalize_axes("mup.parametrize", shape, **fans)
    fan_in, fan_out = named["in_axis"], named["out_axis"]
    batch = tuple(a for a in range(len(shape)) if a not in fan_in + fan_out)

    def matrix(s):  # a leaf with no fan-in (a bias) is the vector of its fan-out
        sizes = [s[a] for a in batch] + ([math.prod(s[a] for a in fan_in)] if fan_in else [])
        return tuple(sizes + [math.prod(s[a] for a in fan_out)])

    axes = width_axes(path, matrix(shape), matrix(base), matrix(wider), has_delta)
    target = init if getattr(init, "target_std", None) is None else _AtShape(init, shape)
    return matrix(shape), matrix(base), axes, target


def _slice_view(path, shape, base, axes, init):
    """(shape, base, width axes, init) where a `jax_inits.stacked` rule's stack axis is
    left out: a stack of layers scales as one of its slices (the stack axis is in no fan)."""
    if type(init) is not structural.Stacked or not shape:
        return shape, base, axes, init
    stack = init.axis % len(shape)
    if stack in axes:
        raise ValueError(
            f"mup.parametrize: the stack axis {stack} of the leaf at path {path!r} (spec "
            f"{shape}, base {base}) changes with the width; a stack of layers must have the "
            "same number of layers at every width."
        )
    drop = lambda t: t[:stack] + t[stack + 1 :]  # noqa: E731
    inner = tuple(a - (a > stack) for a in axes)
    return drop(shape), drop(base), inner, init.init


def leaf_view(path, shapes, has_delta, layer_axis, fans, is_readout, rule) -> Leaf:
    """Classifies one leaf: its width axes, role and the shape a scheme scales.

    ``shapes`` is (spec, base, delta) (delta the spec without ``delta``); ``fans`` the
    named fan axes matching the leaf (``fan_axes``) or None; ``rule`` its base rule.
    """
    shape, base, wider = shapes
    if layer_axis is not None and has_delta:
        wider = wider[:layer_axis] + (base[layer_axis],) + wider[layer_axis + 1 :]
    if fans is None:
        own_axes = width_axes(path, shape, base, wider, has_delta, layer_axis)
        view = _slice_view(path, shape, base, own_axes, rule)
    else:
        view = _matrix_view(path, (shape, base, wider), has_delta, fans, rule)
        own_axes = tuple(a for a in range(len(shape)) if wider[a] != base[a])
    v_shape, v_base, v_axes, v_init = view
    role = role_of(path, v_shape, v_base, v_axes, is_readout)
    if layer_axis is not None and len(shape) == 2 and role == "input":
        role = "vector"  # a stacked bias or norm gain
    std_base = base
    if layer_axis is not None:
        std_base = base[:layer_axis] + (shape[layer_axis],) + base[layer_axis + 1 :]
    view = View(v_shape, v_base, v_axes, v_init)
    own = Own(shape, base, own_axes, rule, std_base)
    return Leaf(path, role, _width_mult(v_shape, v_base, v_axes), view, own)


# ----------------------------------------------------------------------------- depth


def depth_args(scheme, needs_depth, paths, leaves, shapes, base_shapes, blocks, depth, base_depth,
               layer_axis):  # fmt: skip
    """(in_block per leaf, layer axis per leaf, depth, m_L) from the depth arguments;
    ``needs_depth``: the scheme is a depth scheme (it needs ``blocks`` and a depth)."""
    fn = "mup.parametrize"
    n = len(paths)
    if blocks is None:
        if needs_depth:
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
    in_block = match_all(fn, "blocks", blocks, paths, leaves)
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
            if needs_depth:
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


def match_all(fn, arg, value, paths, leaves) -> list[bool]:
    """Per leaf: does a pattern of ``value`` match it; every pattern must match one."""
    found = patterns(arg, value)
    hits = [
        [_tree._matches(pattern, path, leaf) for pattern in found]
        for path, leaf in zip(paths, leaves, strict=True)
    ]
    for i, pattern in enumerate(found):
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
