"""Whole-model initialization schemes of reference implementations, as tree rules.

A scheme is a list of ``(pattern, initializer)`` rules for `jax_inits.tree.init`.
Rules are written per *role* (token embedding, q/k/v, fused qkv, attention output,
MLP gate/in/out, head, norm scale/bias, biases, other kernels); each role has a
default pattern for Flax nnx / linen parameter names (``Linear``/``Dense``:
``kernel``, ``bias``; ``Embed``: ``embedding``; norms: ``scale``, ``bias``) and
the module names the reference models use (``c_attn``, ``q_proj``, ``wq``,
``attention/output/dense``, ...). ``patterns={role: pattern}`` overrides a role
for a model named differently; a pattern is anything `jax_inits.tree.init`
accepts (glob string, compiled regex, predicate). The rule of a kernel role's
bias (``"qkv_bias"``, ``"mlp_out_bias"``, ...) is the kernel pattern with
``kernel`` replaced by ``bias``, unless given too.

Kernels are in the JAX layout ``(..., in, out)``; a torch ``Linear`` weight is
the transpose. Depth-scaled schemes read the block index from the path with the
``"layer"`` pattern (a regex whose first group is the index).

Each reference is a `Table`: ordered ``(role, kind)`` rows (first match wins),
the kinds naming what the scheme's arguments make (``"base"``, ``"residual"``,
``"torch_bias"``, ...). A preset function checks its arguments, makes the
initializer of each kind, and `Table.rules` turns the rows into rules: the one
place where roles become patterns, biases follow their kernels and depth
scaling (`PerLayer`) reads the block index. Scanned (stacked) layers are one
wrapper for every table, `jax_inits.tree.scanned`.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import re
import types
from collections.abc import Callable, Mapping
from typing import Any

from jax_inits._src import checks, recipes, tree
from jax_inits._src import pytorch as torch_init
from jax_inits._src.constant import constant, ones, zeros
from jax_inits._src.distributions import normal
from jax_inits._src.structural import grouped, zero_row
from jax_inits._src.variance_scaling import glorot_uniform, lecun_normal, variance_scaling


def _param(modules: str, leaf: str) -> re.Pattern:
    """A leaf ``leaf`` of a module whose last name(s) are one of ``modules``."""
    return re.compile(rf"(?:.*/)?(?:{modules})/{leaf}", re.IGNORECASE)


_ATTN_OUT = r"[^/]*(?:attn|attention)[^/]*/(?:o|o_proj|out_proj|wo|c_proj|proj|out|output/dense)"

#: The default pattern of every role (compiled regexes, matched against the whole path).
DEFAULT_PATTERNS: Mapping[str, Any] = types.MappingProxyType(
    {
        "token_embedding": _param(
            "wte|word_embeddings|embed_tokens|tok_embeddings|token_embedding|shared", "embedding"
        ),
        "rel_bias": _param("relative_attention_bias", "embedding"),
        "embedding": re.compile(r"(?:.*/)?embedding", re.IGNORECASE),
        "pos_embed": re.compile(r"(?:.*/)?(?:pos_embed|pos_embedding)", re.IGNORECASE),
        "cls_token": re.compile(r"(?:.*/)?(?:cls_token|reg_token)", re.IGNORECASE),
        "patch_embed": _param("patch_embed|patch_embed/proj", "kernel"),
        "qkv": _param("qkv|c_attn|in_proj|query_key_value|att_proj|wqkv|qkv_proj", "kernel"),
        "q": _param("q|query|q_proj|wq", "kernel"),
        "k": _param("k|key|k_proj|wk", "kernel"),
        "v": _param("v|value|v_proj|wv", "kernel"),
        "attn_out": _param(f"{_ATTN_OUT}|attn_out|out_proj", "kernel"),
        "mlp_gate": _param("gate_proj|w1|wi_0", "kernel"),
        "mlp_in": _param("c_fc|fc1|fc_in|up_proj|w3|wi|wi_1|ff_proj|intermediate/dense", "kernel"),
        "mlp_out": _param("c_proj|fc2|fc_out|down_proj|w2|wo|ff_out|output/dense", "kernel"),
        "head": _param("lm_head|head|classifier|output|qa_outputs", "kernel"),
        "norm_scale": re.compile(r"(?:.*/)?scale", re.IGNORECASE),
        "norm_bias": re.compile(r"(?:.*/)?[^/]*(?:norm|ln)[^/]*/bias", re.IGNORECASE),
        "bias": re.compile(r"(?:.*/)?bias", re.IGNORECASE),
        "kernel": re.compile(r"(?:.*/)?kernel", re.IGNORECASE),
        # Not a rule: the block index of a path is the first group of its first match.
        "layer": re.compile(r"(?:^|/)(?:layers|layer|h|blocks|block)/(\d+)/", re.IGNORECASE),
    }
)
KERNEL_ROLES: tuple[str, ...] = (
    "patch_embed",
    "qkv",
    "q",
    "k",
    "v",
    "attn_out",
    "mlp_gate",
    "mlp_in",
    "mlp_out",
    "head",
)
ROLES: tuple[str, ...] = (*DEFAULT_PATTERNS, *(f"{r}_bias" for r in KERNEL_ROLES))
_VIT_MODES: tuple[str, ...] = ("", "jax", "moco")
_OLMO_VARIANTS: tuple[str, ...] = ("mitchell", "hf")


def _bias_of(scheme: str, role: str, pattern: Any) -> Any:
    if isinstance(pattern, re.Pattern) and pattern.pattern.endswith("/kernel"):
        return re.compile(pattern.pattern[: -len("kernel")] + "bias", pattern.flags)
    if isinstance(pattern, str) and pattern.endswith("kernel"):
        return pattern[: -len("kernel")] + "bias"
    raise TypeError(
        f"{scheme}: cannot derive the pattern of `{role}_bias` from {pattern!r}; give "
        f"`patterns['{role}_bias']` too."
    )


# A stack's path in a scanned model: the path up to its usual name (for the error below).
_STACK_NAME = re.compile(r"(?:.*?/)?(?:layers|layer|h|blocks|block)(?=/)", re.IGNORECASE)


def _from_layer(
    scheme: str, layer: re.Pattern, build: Callable[[int], Any], path: str, lookup: Any
) -> Any:
    """``build(block index of path)``: the rule a `_Patterns.per_layer` defers."""
    found = layer.search(path)
    if found is None:
        named = _STACK_NAME.match(path)
        stack = named.group(0) if named else path.split("/")[0]
        raise ValueError(
            f"{scheme}: the leaf at path {path!r} needs a block index, and the "
            f"`layer` pattern {layer.pattern!r} finds none in its path; give "
            "`patterns['layer']` for this model, or, if its layers are stacked on a leading "
            f"axis, wrap the rules: jax_inits.tree.scanned(rules, {stack!r}) with the stack's "
            "path as prefix."
        )
    return build(int(found.group(1)))


class _Patterns:
    """The patterns of one scheme: the defaults with the user's overrides."""

    def __init__(self, scheme: str, overrides: Mapping[str, Any] | None):
        if overrides is None:
            overrides = {}
        if not isinstance(overrides, Mapping):
            raise TypeError(
                f"{scheme}: `patterns` must be a mapping from role to pattern, got {overrides!r}."
            )
        for role, pattern in overrides.items():
            if role not in ROLES:
                raise ValueError(
                    f"{scheme}: `patterns` has the unknown role {role!r}; roles: {ROLES}."
                )
            if not isinstance(pattern, (str, re.Pattern)) and not callable(pattern):
                raise TypeError(
                    f"{scheme}: `patterns[{role!r}]` must be a glob string, a compiled regex or "
                    f"a predicate (path, leaf) -> bool, got {pattern!r}."
                )
        if "layer" in overrides and not isinstance(overrides["layer"], re.Pattern):
            raise TypeError(
                f"{scheme}: `patterns['layer']` must be a compiled regex whose first group is "
                f"the block index, got {overrides['layer']!r}."
            )
        self.scheme = scheme
        self.overrides = dict(overrides)

    def __getitem__(self, role: str) -> Any:
        if role in self.overrides:
            return self.overrides[role]
        if role.endswith("_bias") and role[: -len("_bias")] in KERNEL_ROLES:
            kernel_role = role[: -len("_bias")]
            return _bias_of(self.scheme, kernel_role, self[kernel_role])
        return DEFAULT_PATTERNS[role]

    def per_layer(self, build: Callable[[int], Any]) -> tree.Deferred:
        """A rule value built from the block index found in the leaf's path
        (picklable where ``build`` is)."""
        return tree.Deferred(functools.partial(_from_layer, self.scheme, self["layer"], build))


@dataclasses.dataclass(frozen=True)
class PerLayer:
    """A kind whose initializer depends on the block: ``build(block index)``, the
    index read from each leaf's path with the ``"layer"`` pattern."""

    build: Callable[[int], Any]


@dataclasses.dataclass(frozen=True)
class Table:
    """One reference's initialization as data: ``(role, kind)`` rows in rule order
    (the first matching role wins, so specific roles come before ``"bias"`` and
    ``"kernel"``). A kind names an initializer the preset makes from its
    arguments; ``"ones"``, ``"zeros"`` and ``"torch_bias"`` (torch's Linear/Conv
    bias from the sibling kernel's fan-in) are always there."""

    rows: tuple[tuple[str, str], ...]

    def __post_init__(self) -> None:
        unknown = [role for role, _ in self.rows if role not in ROLES]
        if unknown:
            raise ValueError(f"presets.Table: unknown roles {unknown}; roles: {ROLES}.")

    def __add__(self, other: Table) -> Table:
        return Table(self.rows + other.rows)

    def rules(
        self, scheme: str, patterns: Mapping[str, Any] | None, **kinds: Any
    ) -> list[tuple[Any, Any]]:
        """The rules of ``rows`` for ``scheme``: each role's pattern (the defaults
        with ``patterns``), each kind's initializer from ``kinds``."""
        p = _Patterns(scheme, patterns)
        kinds = {"ones": ones, "zeros": zeros, "torch_bias": _torch_bias(), **kinds}
        out = []
        for role, kind in self.rows:
            init = kinds[kind]
            out.append((p[role], p.per_layer(init.build) if isinstance(init, PerLayer) else init))
        return out


# --- building blocks ---------------------------------------------------------------------


def _torch_bias_rule(path: str, lookup: Callable[[str], Any]) -> Any:
    """torch's Linear/Conv bias: U(+-1/sqrt(fan_in)) with the sibling kernel's fan-in
    (`jax_inits.tree.sibling`'s lookup, as a module-level function so that the
    rule list pickles)."""
    parent = path.rpartition("/")[0]
    kernel = lookup(f"{parent}/kernel" if parent else "kernel")
    return torch_init.linear_bias_default(math.prod(tuple(kernel.shape)[:-1]))


def _torch_bias() -> tree.Deferred:
    return tree.Deferred(_torch_bias_rule)


def _std(scheme: str, arg: str, value: Any) -> float:
    return checks.real_number(scheme, arg, value, minimum=0.0, strict=True)


def _count(scheme: str, arg: str, value: Any) -> int:
    number = checks.integer(scheme, arg, value)
    if number < 1:
        raise ValueError(f"{scheme}: `{arg}` must be > 0, got {value!r}.")
    return number


# --- torch ------------------------------------------------------------------------------

_TORCH_MHA = Table((("qkv", "xavier"), ("qkv_bias", "zeros"), ("attn_out_bias", "zeros")))
_TORCH = Table(
    (
        ("token_embedding", "embedding"),
        ("rel_bias", "embedding"),
        ("embedding", "embedding"),
        ("norm_scale", "ones"),
        ("norm_bias", "zeros"),
        ("bias", "torch_bias"),
        ("kernel", "kernel"),
    )
)


def torch_defaults(
    *, multihead_attention: bool = False, patterns: Mapping[str, Any] | None = None
) -> list[tuple[Any, Any]]:
    r"""Builds the rules of torch's module defaults (``reset_parameters``).

    * ``nn.Linear`` / ``nn.Conv*`` weight: ``kaiming_uniform_(a=sqrt(5))``,
      i.e. $U(\pm 1/\sqrt{n_\mathrm{in}})$; bias $U(\pm 1/\sqrt{n_\mathrm{in}})$
      with the fan-in of the *kernel* next to it (``jax_inits.tree.sibling``);
    * ``nn.Embedding``: $\mathcal{N}(0, 1)$;
    * ``nn.LayerNorm`` / ``nn.RMSNorm``: scale 1, bias 0;
    * with ``multihead_attention=True``, the fused q/k/v kernel and the output
      projection are those of ``nn.MultiheadAttention``: ``in_proj_weight``
      ``xavier_uniform_`` over the whole $(d, 3d)$ kernel, ``in_proj_bias`` and
      ``out_proj.bias`` zero (``out_proj.weight`` keeps the Linear default).

    Args:
      multihead_attention: Treat the ``qkv`` and ``attn_out`` roles as the
        parameters of ``nn.MultiheadAttention``.
      patterns: Role -> pattern overrides (see the module docstring).

    Returns:
      A list of ``(pattern, initializer)`` rules for `jax_inits.tree.init`.

    Raises:
      TypeError, ValueError: bad ``patterns``.

    Examples:
      >>> import jax_inits.presets, jax_inits.tree
      >>> spec = {"fc1": {"kernel": jax.ShapeDtypeStruct((400, 64), jnp.float32),
      ...                 "bias": jax.ShapeDtypeStruct((64,), jnp.float32)}}
      >>> p = jax_inits.tree.init(jax.random.key(0), spec, jax_inits.presets.torch_defaults())
      >>> bool(jnp.abs(p["fc1"]["bias"]).max() <= 1 / 20)
      True

    References:
      PyTorch, ``torch/nn/modules/linear.py`` (``Linear.reset_parameters``),
      ``conv.py``, ``sparse.py`` (``Embedding``), ``normalization.py``,
      ``activation.py`` (``MultiheadAttention._reset_parameters``).
    """
    table = _TORCH_MHA + _TORCH if multihead_attention else _TORCH
    return table.rules(
        "presets.torch_defaults",
        patterns,
        xavier=torch_init.xavier_uniform(),
        embedding=torch_init.embedding_default(),
        kernel=torch_init.linear_default(),
    )


# --- Hugging Face transformers ------------------------------------------------------------


_HF = Table(
    (
        ("token_embedding", "token"),
        ("rel_bias", "base"),
        ("embedding", "base"),
        ("norm_scale", "ones"),
        ("norm_bias", "zeros"),
        ("bias", "zeros"),
        ("kernel", "base"),
    )
)
_HF_GPT2 = Table((("attn_out", "residual"), ("mlp_out", "residual"))) + _HF


def _hf_kinds(scheme: str, initializer_range: float, padding_idx: int | None) -> dict[str, Any]:
    """The kinds of `_HF`: ``base`` N(0, initializer_range^2), ``token`` the same
    with the ``padding_idx`` row zero."""
    std = _std(scheme, "initializer_range", initializer_range)
    token = normal(std)
    if padding_idx is not None:
        token = zero_row(token, checks.integer(scheme, "padding_idx", padding_idx))
    return {"base": normal(std), "token": token}


def hf_llama(
    initializer_range: float = 0.02,
    *,
    padding_idx: int | None = None,
    patterns: Mapping[str, Any] | None = None,
) -> list[tuple[Any, Any]]:
    r"""Builds the rules of Hugging Face's ``PreTrainedModel._init_weights`` (Llama & co).

    Every Linear/Conv kernel and every embedding $\mathcal{N}(0,
    \mathrm{initializer\_range}^2)$ (not truncated), biases 0, norm scales 1
    and biases 0; the token embedding's ``padding_idx`` row exactly 0. This is
    what Llama, Mistral, Qwen2, Gemma (and OLMo's transformers port) get: their
    ``_init_weights`` adds nothing for their parameters.

    Args:
      initializer_range: ``config.initializer_range``, ``> 0``.
      padding_idx: ``config.pad_token_id`` (the row zeroed in the token
        embedding), or ``None``.
      patterns: Role -> pattern overrides.

    Returns:
      A list of ``(pattern, initializer)`` rules for `jax_inits.tree.init`.

    Raises:
      TypeError, ValueError: a bad argument.

    Examples:
      >>> import jax_inits.presets
      >>> rules = jax_inits.presets.hf_llama(0.02)
      >>> [r for r in rules if r[0].pattern.endswith("kernel")][-1][1]
      normal(stddev=0.02)

    References:
      Hugging Face transformers, ``modeling_utils.py``
      (``PreTrainedModel._init_weights``).
    """
    scheme = "presets.hf_llama"
    return _HF.rules(scheme, patterns, **_hf_kinds(scheme, initializer_range, padding_idx))


def hf_bert(
    initializer_range: float = 0.02,
    *,
    padding_idx: int | None = 0,
    patterns: Mapping[str, Any] | None = None,
) -> list[tuple[Any, Any]]:
    r"""Builds the rules of Hugging Face's BERT ``_init_weights``.

    The rules of `hf_llama` (normal kernels and embeddings, LayerNorm
    1/0, zero biases, the MLM head's bias 0) with BERT's default
    ``pad_token_id = 0``: row 0 of ``word_embeddings`` is exactly zero.

    Args:
      initializer_range: ``config.initializer_range``, ``> 0``.
      padding_idx: ``config.pad_token_id`` (default 0), or ``None``.
      patterns: Role -> pattern overrides.

    Returns:
      A list of ``(pattern, initializer)`` rules for `jax_inits.tree.init`.

    Raises:
      TypeError, ValueError: a bad argument.

    Examples:
      >>> import jax_inits.presets
      >>> len(jax_inits.presets.hf_bert()) == len(jax_inits.presets.hf_llama())
      True

    References:
      Hugging Face transformers, ``models/bert/modeling_bert.py``
      (``BertPreTrainedModel._init_weights``).
    """
    scheme = "presets.hf_bert"
    return _HF.rules(scheme, patterns, **_hf_kinds(scheme, initializer_range, padding_idx))


def hf_gpt2(
    num_layers: int,
    initializer_range: float = 0.02,
    *,
    padding_idx: int | None = None,
    patterns: Mapping[str, Any] | None = None,
) -> list[tuple[Any, Any]]:
    r"""Builds the rules of Hugging Face's GPT-2 ``_init_weights``.

    As `hf_llama`, and the residual projections (``attn.c_proj`` and
    ``mlp.c_proj``, roles ``attn_out`` and ``mlp_out``) of every block
    $\mathcal{N}(0, \sigma^2)$ with $\sigma = \mathrm{initializer\_range} /
    \sqrt{2 N}$, $N$ = ``num_layers`` (two residual branches per block).
    GPT-2's ``Conv1D`` weights are ``(in, out)`` already: no transpose.

    Args:
      num_layers: ``config.n_layer``, ``> 0``.
      initializer_range: ``config.initializer_range``, ``> 0``.
      padding_idx: A row of the token embedding to zero, or ``None`` (GPT-2 has none).
      patterns: Role -> pattern overrides.

    Returns:
      A list of ``(pattern, initializer)`` rules for `jax_inits.tree.init`.

    Raises:
      TypeError, ValueError: a bad argument.

    Examples:
      >>> import jax_inits.presets
      >>> round(jax_inits.presets.hf_gpt2(12)[0][1].target_std((768, 768)), 6)  # 0.02/sqrt(24)
      0.004082

    References:
      Hugging Face transformers, ``models/gpt2/modeling_gpt2.py``
      (``GPT2PreTrainedModel._init_weights``); Radford et al., [Language Models
      are Unsupervised Multitask Learners](https://cdn.openai.com/better-language-models/language_models_are_unsupervised_multitask_learners.pdf),
      2019.
    """
    scheme = "presets.hf_gpt2"
    layers = _count(scheme, "num_layers", num_layers)
    std = _std(scheme, "initializer_range", initializer_range)
    residual = normal(std / math.sqrt(2 * layers))
    kinds = _hf_kinds(scheme, initializer_range, padding_idx)
    return _HF_GPT2.rules(scheme, patterns, residual=residual, **kinds)


_T5 = Table(
    (
        ("rel_bias", "rel_bias"),
        ("q", "q"),
        ("k", "fan_in"),
        ("v", "fan_in"),
        ("attn_out", "fan_in"),
        ("mlp_gate", "fan_in"),
        ("mlp_in", "fan_in"),
        ("mlp_out", "fan_in"),
        ("token_embedding", "factor"),
        ("embedding", "factor"),
        ("head", "factor"),
        ("norm_scale", "norm_scale"),
        ("bias", "zeros"),
    )
)


def hf_t5(
    d_model: int,
    d_kv: int,
    factor: float = 1.0,
    *,
    patterns: Mapping[str, Any] | None = None,
) -> list[tuple[Any, Any]]:
    r"""Builds the rules of Hugging Face's T5 ``_init_weights`` (its per-module factors).

    With $f$ = ``factor`` (``config.initializer_factor``), every draw an
    untruncated normal with std:

    * shared token embedding and an untied ``lm_head``: $f$;
    * attention ``q``: $f / \sqrt{d_\mathrm{model} d_\mathrm{kv}}$; ``k``,
      ``v``: $f / \sqrt{d_\mathrm{model}}$; ``o``: $f / \sqrt{n_\mathrm{heads}
      d_\mathrm{kv}}$ (its fan-in); ``relative_attention_bias``: $f /
      \sqrt{d_\mathrm{model}}$;
    * ``DenseReluDense``: ``wi`` (``wi_0``, ``wi_1``) $f / \sqrt{d_\mathrm{model}}$,
      ``wo`` $f / \sqrt{d_\mathrm{ff}}$ (each its fan-in);
    * layer norm scales $f$; biases (T5 has none) 0.

    Args:
      d_model: ``config.d_model``, ``> 0``.
      d_kv: ``config.d_kv``, ``> 0``.
      factor: ``config.initializer_factor``, ``> 0``.
      patterns: Role -> pattern overrides.

    Returns:
      A list of ``(pattern, initializer)`` rules for `jax_inits.tree.init`.

    Raises:
      TypeError, ValueError: a bad argument.

    Examples:
      >>> import jax_inits.presets
      >>> rules = jax_inits.presets.hf_t5(512, 64)
      >>> round(rules[1][1].target_std((512, 512)) * (512 * 64) ** 0.5, 6)  # q
      1.0

    References:
      Hugging Face transformers, ``models/t5/modeling_t5.py``
      (``T5PreTrainedModel._init_weights``).
    """
    scheme = "presets.hf_t5"
    d_model = _count(scheme, "d_model", d_model)
    d_kv = _count(scheme, "d_kv", d_kv)
    f = _std(scheme, "factor", factor)
    return _T5.rules(
        scheme,
        patterns,
        rel_bias=normal(f / math.sqrt(d_model)),
        q=variance_scaling(f**2 / d_kv, "fan_in", "normal"),
        fan_in=variance_scaling(f**2, "fan_in", "normal"),
        factor=normal(f),
        norm_scale=constant(f),
    )


# --- timm ViT ---------------------------------------------------------------------------


_VIT = Table(
    (
        ("pos_embed", "timm_trunc"),
        ("cls_token", "tiny"),
        ("norm_scale", "ones"),
        ("norm_bias", "zeros"),
    )
)
_TORCH_PATCH = Table((("patch_embed", "conv"), ("patch_embed_bias", "torch_bias")))
_VIT_TABLES: Mapping[str, Table] = {
    "": _VIT + _TORCH_PATCH + Table((("bias", "zeros"), ("kernel", "timm_trunc"))),
    "jax": _VIT
    + Table(
        (
            ("patch_embed", "lecun"),
            ("patch_embed_bias", "zeros"),
            ("head", "zeros"),
            ("head_bias", "head_bias"),
            ("mlp_in_bias", "tiny"),
            ("mlp_out_bias", "tiny"),
            ("bias", "zeros"),
            ("kernel", "glorot"),
        )
    ),
    "moco": _VIT
    + _TORCH_PATCH
    + Table((("qkv", "grouped_glorot"), ("bias", "zeros"), ("kernel", "glorot"))),
}


def timm_vit(
    mode: str = "", *, head_bias: float = 0.0, patterns: Mapping[str, Any] | None = None
) -> list[tuple[Any, Any]]:
    r"""Builds the rules of timm's ``VisionTransformer.init_weights(mode)``.

    Always: ``pos_embed`` ``trunc_normal_(std=.02)`` with timm's *absolute*
    bounds $[-2, 2]$ (at std 0.02, $\pm 100\sigma$: barely truncated, unlike
    $\pm 2\sigma$); ``cls_token`` $\mathcal{N}(0, 10^{-12})$; norms 1/0. Then
    by ``mode``:

    * ``""`` (timm's default): every Linear kernel ``trunc_normal_(std=.02)``
      (absolute $\pm 2$), Linear biases 0; the patch-embedding convolution
      keeps torch's default (``kaiming_uniform_(a=sqrt(5))``, bias from its fan-in);
    * ``"jax"``: Linear kernels ``xavier_uniform_``; MLP biases
      $\mathcal{N}(0, 10^{-12})$, other biases 0; the head kernel 0 and its
      bias ``head_bias``; the patch embedding ``lecun_normal_`` (a normal
      truncated at $\pm 2\sigma$, rescaled to variance $1/n_\mathrm{in}$,
      ``jax_inits.lecun_normal``), bias 0;
    * ``"moco"``: the fused qkv kernel ``grouped(glorot_uniform(), 3)`` (each
      of q, k, v with its own fans, $U(\pm\sqrt{6 / (d + d)})$), other Linear
      kernels ``xavier_uniform_`` (the head too), Linear biases 0, the patch
      embedding torch's default.

    Args:
      mode: ``""``, ``"jax"`` or ``"moco"``.
      head_bias: The head's bias in ``"jax"`` mode (``-log(num_classes)`` is
        timm's ``"jax_nlhb"``).
      patterns: Role -> pattern overrides.

    Returns:
      A list of ``(pattern, initializer)`` rules for `jax_inits.tree.init`.

    Raises:
      TypeError, ValueError: a bad argument.

    Examples:
      >>> import jax_inits.presets
      >>> [init for _, init in jax_inits.presets.timm_vit()][0]
      pytorch.trunc_normal(std=0.02)

    References:
      timm, ``timm/models/vision_transformer.py`` (``VisionTransformer.init_weights``,
      ``init_weights_vit_timm``, ``init_weights_vit_jax``,
      ``init_weights_vit_moco``) and ``timm/layers/weight_init.py``
      (``trunc_normal_``, ``lecun_normal_``).
    """
    scheme = "presets.timm_vit"
    if mode not in _VIT_MODES:
        raise ValueError(f"{scheme}: `mode` must be one of {_VIT_MODES}, got {mode!r}.")
    head_bias = checks.real_number(scheme, "head_bias", head_bias)
    return _VIT_TABLES[mode].rules(
        scheme,
        patterns,
        timm_trunc=torch_init.trunc_normal(std=0.02),  # a=-2, b=2: absolute bounds
        tiny=torch_init.normal(std=1e-6),
        conv=torch_init.conv_default(),
        lecun=lecun_normal(),
        head_bias=constant(head_bias),
        glorot=glorot_uniform(),
        grouped_glorot=grouped(glorot_uniform(), 3),
    )


# --- torchtitan, OLMo -------------------------------------------------------------------


def _titan_depth_init(layer: int) -> Any:
    return torch_init.trunc_normal(std=0.02 / math.sqrt(2 * (layer + 1)))


_TITAN = Table(
    (
        ("token_embedding", "embedding"),
        ("q", "base"),
        ("k", "base"),
        ("v", "base"),
        ("attn_out", "residual"),
        ("mlp_gate", "base"),
        ("mlp_in", "residual"),
        ("mlp_out", "residual"),
        ("head", "head"),
        ("norm_scale", "ones"),
    )
)


def torchtitan_llama(
    *,
    depth_init: bool = True,
    num_layers: int | None = None,
    patterns: Mapping[str, Any] | None = None,
) -> list[tuple[Any, Any]]:
    r"""Builds the rules of torchtitan's Llama ``init_weights`` (depth-scaled).

    With $s_\ell = 0.02 / \sqrt{2(\ell + 1)}$ for block $\ell$ (``depth_init``,
    the default) or $s = 0.02 / \sqrt{2 N}$:

    * ``tok_embeddings``: $\mathcal{N}(0, 1)$;
    * ``wq``, ``wk``, ``wv``, ``w1``: ``trunc_normal_(std=0.02)``; ``wo``,
      ``w2``, ``w3``: ``trunc_normal_(std=s)``, all with torch's *absolute*
      bounds $[-2, 2]$ (no truncation to speak of);
    * the output head: ``trunc_normal_`` with std $d^{-1/2}$ cut at $\pm
      3\sigma$ ($d$ its fan-in, ``jax_inits.recipes.mitchell()``);
    * RMSNorm scales 1.

    Args:
      depth_init: Scale by the block index (``True``) or by ``num_layers``.
      num_layers: ``n_layers``; required when ``depth_init=False``.
      patterns: Role -> pattern overrides (``"layer"`` finds the block index).

    Returns:
      A list of ``(pattern, initializer)`` rules for `jax_inits.tree.init`.

    Raises:
      TypeError, ValueError: a bad argument, ``num_layers`` missing.

    Examples:
      >>> import jax_inits.presets, jax_inits.tree
      >>> spec = {"layers": {str(i): {"attention": {"wo": {"kernel": jax.ShapeDtypeStruct(
      ...     (256, 256), jnp.float32)}}} for i in range(2)}}
      >>> p = jax_inits.tree.init(jax.random.key(0), spec, jax_inits.presets.torchtitan_llama())
      >>> [round(float(p["layers"][i]["attention"]["wo"]["kernel"].std()) * 1e3, 1)
      ...  for i in "01"]
      [14.1, 10.0]

    References:
      torchtitan, ``torchtitan/models/llama3/model/model.py``
      (``Attention.init_weights``, ``FeedForward.init_weights``,
      ``TransformerBlock.__init__``, ``Transformer.init_weights``).
    """
    scheme = "presets.torchtitan_llama"
    if not isinstance(depth_init, bool):
        raise TypeError(f"{scheme}: `depth_init` must be a bool, got {depth_init!r}.")
    if depth_init:
        residual: Any = PerLayer(_titan_depth_init)
    else:
        if num_layers is None:
            raise ValueError(
                f"{scheme}: `num_layers` must be given when depth_init=False, got None."
            )
        layers = _count(scheme, "num_layers", num_layers)
        residual = torch_init.trunc_normal(std=0.02 / math.sqrt(2 * layers))
    return _TITAN.rules(
        scheme,
        patterns,
        embedding=torch_init.normal(),
        base=torch_init.trunc_normal(std=0.02),
        residual=residual,
        head=recipes.mitchell(),
    )


def _mitchell_at(layer: int) -> Any:
    return recipes.mitchell(layer_id=layer)


_OLMO = Table(
    (
        ("token_embedding", "table"),
        ("embedding", "table"),
        ("head", "proj"),  # before the residual roles: OLMo names the head ff_out too
        ("qkv", "proj"),
        ("q", "proj"),
        ("k", "proj"),
        ("v", "proj"),
        ("attn_out", "residual"),
        ("mlp_gate", "proj"),
        ("mlp_in", "proj"),
        ("mlp_out", "residual"),
        ("norm_scale", "ones"),
        ("norm_bias", "zeros"),
        ("bias", "zeros"),
    )
)


def olmo(
    variant: str = "mitchell",
    *,
    initializer_range: float = 0.02,
    padding_idx: int | None = None,
    patterns: Mapping[str, Any] | None = None,
) -> list[tuple[Any, Any]]:
    r"""Builds the rules of OLMo's init: ai2-olmo's "mitchell" or the transformers port's.

    * ``"mitchell"`` (``init_fn: mitchell`` in ai2-olmo, model-wide): every
      weight a normal truncated at $\pm 3\sigma$ with $\sigma = 1/\sqrt{d}$, $d$
      the weight's input size (``jax_inits.recipes.mitchell``): embeddings
      (``wte``, ``wpe``) over the model width, ``att_proj``/q/k/v and
      ``ff_proj`` over $d_\mathrm{model}$, the head over $d_\mathrm{model}$;
      the residual outputs of block $\ell$ (``attn_out`` over
      $d_\mathrm{model}$, ``ff_out`` over the hidden size) further divided by
      $\sqrt{2(\ell + 1)}$. Biases 0, norms 1/0.
    * ``"hf"``: transformers' ``OlmoForCausalLM`` re-implements the model but
      initializes it with the generic ``_init_weights``: plain
      $\mathcal{N}(0, \mathrm{initializer\_range}^2)$ everywhere
      (`hf_llama`), no truncation, no depth scaling.

    Args:
      variant: ``"mitchell"`` or ``"hf"``.
      initializer_range: The std of the ``"hf"`` variant, ``> 0``.
      padding_idx: The ``"hf"`` variant's ``pad_token_id`` (``OlmoConfig``'s
        default is 1), whose token-embedding row is zero; or ``None``.
      patterns: Role -> pattern overrides (``"layer"`` finds the block index).

    Returns:
      A list of ``(pattern, initializer)`` rules for `jax_inits.tree.init`.

    Raises:
      TypeError, ValueError: a bad argument.

    Examples:
      >>> import jax_inits.presets
      >>> rules = jax_inits.presets.olmo()
      >>> rules[0][1]
      recipes.mitchell(in_axis=-1, out_axis=-2)

    References:
      Groeneveld et al., [OLMo: Accelerating the Science of Language
      Models](https://arxiv.org/abs/2402.00838), 2024; ai2-olmo
      ``olmo/initialization.py`` (``init_weights``) and ``olmo/model.py`` (``reset_parameters``);
      transformers ``models/olmo/modeling_olmo.py``.
    """
    scheme = "presets.olmo"
    if variant not in _OLMO_VARIANTS:
        raise ValueError(f"{scheme}: `variant` must be one of {_OLMO_VARIANTS}, got {variant!r}.")
    if variant == "hf":
        return _HF.rules(scheme, patterns, **_hf_kinds(scheme, initializer_range, padding_idx))
    return _OLMO.rules(
        scheme,
        patterns,
        table=recipes.mitchell(in_axis=-1, out_axis=-2),  # (vocab, d): the fan is d
        proj=recipes.mitchell(),
        residual=PerLayer(_mitchell_at),
    )
