"""Width and depth parametrizations: `parametrize` as a pipeline over scheme tables.

A parametrization compares the same model at three widths, leaf by leaf: the
target (``spec``), the base and optionally a ``delta``. `parametrize` classifies
each leaf (`jax_inits._src.mup_roles`: width axes, role, blocks), looks its
multipliers up in the scheme's table (`jax_inits._src.mup_schemes`; u-μP's own in
`jax_inits._src.u_mup`) and builds the scaled ``jax_inits.tree`` rules;
`Parametrization` holds the table and gives the optax transformations
(`jax_inits._src.mup_optim`).

Kernels are in jax layout ``(..., in, out)``: the fan-in axis is ``-2``, the
fan-out axis ``-1``, leading axes (stacked layers, convolution taps) are batch
axes that belong to no fan and may not be width axes.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from jax_inits._src import checks, constant, mup_roles, mup_schemes, u_mup
from jax_inits._src import tree as _tree
from jax_inits._src.mup_optim import OPTIMIZERS as OPTIMIZERS
from jax_inits._src.mup_optim import OptaxTransforms
from jax_inits._src.mup_optim import Optimizer as Optimizer
from jax_inits._src.mup_roles import ROLES as ROLES
from jax_inits._src.mup_roles import Role as Role
from jax_inits._src.mup_schemes import SCHEMES as SCHEMES
from jax_inits._src.mup_schemes import LeafScaling as LeafScaling
from jax_inits._src.mup_schemes import Scheme as Scheme


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


# ----------------------------------------------------------------------------- the object


class Parametrization(OptaxTransforms):
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
        # u-μP's attention is muP's (unit-scaling's scaled_dot_product_attention: 1/d_head).
        table = mup_schemes.TABLES.get(self.scheme, mup_schemes.MUP)
        return attn_mult / table.attention(head_dim)

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

    Width axes are those whose size differs between ``base`` and ``delta`` (without
    ``delta``: between ``base`` and ``spec``), as in mup's ``set_base_shapes``. Each leaf
    gets a role (hidden, input, vector, readout, fixed) and, from the ``scheme``'s table,
    its init scale and its multipliers of the Adam and SGD learning rate, weight decay and
    Adam $\epsilon$ (`Parametrization.table`). ``"mup"`` is microsoft/mup 1.0.0,
    ``"spectral"`` the spectral condition, ``"sp"`` the base rule with every multiplier 1;
    ``"depth_mup"`` ($\alpha = 1/2$) and ``"complete_p"`` ($\alpha = 1$) add the depth ratio
    $m_L$ = ``depth / base_depth``; ``"u_mup"`` is unit-scaling 0.3.5's u-μP, with
    absolute sizes. The model applies `Parametrization.forward_mult` to the readout's
    input, `Parametrization.residual_mult` to its residual branches and
    `Parametrization.attention_scale` to its attention logits; `Parametrization.adamw`
    applies the optimizer multipliers (per-leaf $\epsilon$ included). What each scheme
    gives each leaf, with the references each is tested against: the guide
    docs/guides/mup.md ("What each leaf gets", "Other schemes", "Depth").

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
    # The arguments, then the pipeline: classify the leaves, look up each one's row of the
    # scheme's table, build the scaled rules.
    output_mult = _check_args(fn, scheme, output_mult, readout_zero_init)
    mup_roles.patterns("readout", readout)
    rule_list = _tree._rule_list(fn, init, allow_keep=False)
    fan_rules = mup_roles.fan_rules(fan_axes)
    leaves = _classify(
        fn, scheme, spec, base, delta, rule_list, readout, embeddings,
        blocks, depth, base_depth, layer_axis,
    )  # fmt: skip
    table, rules = _scale_leaves(
        fn, scheme, leaves, rule_list, fan_rules, output_mult, readout_zero_init
    )
    alpha = mup_schemes.TABLES[scheme].alpha if scheme in mup_schemes.TABLES else 0.0
    depth_mult = leaves.depth_mult
    return Parametrization(
        scheme, spec, table, rules, depth_mult=depth_mult, residual_mult=depth_mult**-alpha
    )


class _Leaves(NamedTuple):
    """What `parametrize` knows of each leaf: parallel lists, item ``i`` for leaf ``i``."""

    paths: list[str]
    leaves: list[Any]  # spec's leaves
    shapes: tuple[list, list, list]  # the (spec, base, delta) shape of each leaf
    has_delta: bool
    is_readout: list[bool]
    is_embedding: list[bool]  # u-muP's ``embeddings``
    in_block: list[bool]
    layer_axes: list[Any]  # the stack axis of a block leaf with ``layer_axis``, else None
    depth: Any
    depth_mult: float


def _classify(
    fn, scheme, spec, base, delta, rule_list, readout, embeddings,
    blocks, depth, base_depth, layer_axis,
) -> _Leaves:  # fmt: skip
    """Reads the trees and classifies their leaves: readout, blocks and depth, embeddings."""
    paths, leaves, shapes = _read_trees(fn, scheme, spec, base, delta, embeddings)
    _tree.check_stacks(fn, rule_list, paths)
    is_readout = mup_roles.match_all(fn, "readout", readout, paths, leaves)
    in_block, layer_axes, depth, depth_mult = mup_roles.depth_args(
        scheme, scheme in mup_schemes.DEPTH_SCHEMES, paths, leaves, shapes[0], shapes[1],
        blocks, depth, base_depth, layer_axis,
    )  # fmt: skip
    is_embedding = [False] * len(paths)
    if embeddings is not None:
        is_embedding = mup_roles.match_all(fn, "embeddings", embeddings, paths, leaves)
    return _Leaves(
        paths, leaves, shapes, delta is not None, is_readout, is_embedding, in_block,
        layer_axes, depth, depth_mult,
    )  # fmt: skip


def _scale_leaves(
    fn, scheme, leaves: _Leaves, rule_list, fan_rules, output_mult, readout_zero_init
) -> tuple[dict[str, LeafScaling], list]:
    """Per leaf: its rule at the base width, its row of the scheme's table, its scaled rule."""
    spec_leaves = dict(zip(leaves.paths, leaves.leaves, strict=True))
    table: dict[str, LeafScaling] = {}
    rules = []
    for i, (path, leaf) in enumerate(zip(leaves.paths, leaves.leaves, strict=True)):
        if path in table:
            raise ValueError(
                f"{fn}: two leaves have the same path {path!r}; rename one (a dict key "
                "containing '/' is the usual cause)."
            )
        rule = mup_roles.base_rule(fn, rule_list, path, leaf, spec_leaves, leaves.layer_axes[i])
        if scheme == "u_mup":
            row, leaf_init = u_mup.leaf_row(
                path, leaves.shapes[0][i], leaves.layer_axes[i], leaves.is_readout[i],
                leaves.is_embedding[i], rule, leaves.depth, leaves.in_block[i],
            )  # fmt: skip
        else:
            fans = next((f for p, f in fan_rules if _tree._matches(p, path, leaf)), None)
            view = mup_roles.leaf_view(
                path, tuple(s[i] for s in leaves.shapes), leaves.has_delta,
                leaves.layer_axes[i], fans, leaves.is_readout[i], rule,
            )  # fmt: skip
            row = mup_schemes.scale(
                scheme, view, output_mult=output_mult, in_block=leaves.in_block[i],
                depth_mult=leaves.depth_mult,
            )  # fmt: skip
            row, leaf_init = _rule(row, rule, readout_zero_init)
        table[path] = row
        rules.append((re.compile(re.escape(path)), leaf_init))
    return table, rules


def _check_args(fn, scheme, output_mult, readout_zero_init) -> float:
    """Checks ``scheme`` and ``readout_zero_init``; returns ``output_mult`` checked."""
    if not isinstance(scheme, str):
        raise TypeError(f"{fn}: `scheme` must be one of {SCHEMES}, got {scheme!r}.")
    if scheme not in SCHEMES:
        raise ValueError(f"{fn}: `scheme` must be one of {SCHEMES}, got {scheme!r}.")
    output_mult = checks.real_number(fn, "output_mult", output_mult)
    if not isinstance(readout_zero_init, bool):
        raise TypeError(f"{fn}: `readout_zero_init` must be a bool, got {readout_zero_init!r}.")
    return output_mult


def _read_trees(fn, scheme, spec, base, delta, embeddings):
    """(paths, spec's leaves, (spec, base, delta) shapes per leaf); delta's are spec's
    without ``delta``, base's too without ``base`` (u-muP). Checks that the trees have
    one structure."""
    paths, shapes, treedef = mup_roles.leaf_shapes("spec", spec)
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
    base_paths, base_shapes, base_treedef = mup_roles.leaf_shapes("base", base)
    mup_roles.same_structure("base", base_paths, base_treedef, paths, treedef)
    delta_shapes = shapes
    if delta is not None:
        delta_paths, delta_shapes, delta_treedef = mup_roles.leaf_shapes("delta", delta)
        mup_roles.same_structure("delta", delta_paths, delta_treedef, paths, treedef)
    return paths, _tree.flatten(spec)[1], (shapes, base_shapes, delta_shapes)


def _rule(row: LeafScaling, rule: Any, readout_zero_init: bool) -> tuple[LeafScaling, Any]:
    """The leaf's initializer: its base rule times ``init_scale`` (zeros for a readout
    with ``readout_zero_init``)."""
    if readout_zero_init and row.role in ("readout", "readout_bias"):
        return dataclasses.replace(row, init_std=0.0, init_scale=0.0), constant.zeros
    return row, _scaled(rule, row.init_scale)
