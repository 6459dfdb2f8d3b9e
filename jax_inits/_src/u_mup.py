r"""u-muP's own rules: its table (absolute sizes), the residual tau rule, unit attention.

Unit scaling (Blake et al. 2024) keeps every tensor at unit scale. A residual layer mixes
skip $x$ and branch $f(x)$ as $(\tau f(x) + x) / \sqrt{1 + \tau^2}$, with the weights
$\tau$ of `residual_tau`; attention uses logits $q \cdot k \cdot$ ``mult`` $/ d_\mathrm{head}$
and multiplies its output by `attention_output_scale`, an empirical model of its std.
Forward only: unit-scaling's backward-only factors (``scale_bwd``) are not applied; see the
muP guide's "Depth" section for what that changes.
"""

from __future__ import annotations

import math

from jax_inits._src import checks, distributions, mup_roles, mup_schemes


def residual_tau(
    index: int, branches: int, *, residual_mult: float = 1.0, residual_attn_ratio: float = 1.0
) -> float:
    r"""The weight $\tau$ of residual branch ``index`` of a transformer (u-muP, Appendix G).

    Branches alternate attention (even ``index``) and MLP (odd); with
    $a_\mathrm{mlp} = r \sqrt{2 / (1 + \rho^2)}$, $a_\mathrm{attn} = \rho\, a_\mathrm{mlp}$
    ($r$ = ``residual_mult``, $\rho$ = ``residual_attn_ratio``), branch $i$ of $B$ has
    $\tau_i = a_i / \sqrt{B/2 + n_\mathrm{attn}(i)\, a_\mathrm{attn}^2 + n_\mathrm{mlp}(i)\,
    a_\mathrm{mlp}^2}$, $n(i)$ the branches of each kind before $i$. Then every attention
    branch contributes the same variance, every MLP branch too, all branches together
    $r^2$ times the embedding's, attention $\rho^2$ times the MLP's.

    Args:
      index: The branch, ``0 <= index < branches``.
      branches: The number of residual branches, ``2 * layers``.
      residual_mult: $r$, ``> 0``.
      residual_attn_ratio: $\rho$, ``> 0``.

    Returns:
      $\tau$ as a Python float.

    Raises:
      ValueError: If ``index`` is out of range or a multiplier is not ``> 0``.

    Examples:
      >>> from jax_inits.mup import residual_tau
      >>> round(residual_tau(0, 4), 4), round(residual_tau(3, 4), 4)
      (0.7071, 0.4472)

    References:
      Blake et al., [u-μP: The Unit-Scaled Maximal Update
      Parametrization](https://arxiv.org/abs/2407.17465), 2024.
    """
    fn = "mup.residual_tau"
    index = checks.integer(fn, "index", index)
    branches = checks.integer(fn, "branches", branches)
    if branches < 1 or not 0 <= index < branches:
        raise ValueError(
            f"{fn}: `index` must be in [0, branches) and `branches` >= 1, got index={index!r}, "
            f"branches={branches!r}."
        )
    r = checks.real_number(fn, "residual_mult", residual_mult, minimum=0.0, strict=True)
    rho = checks.real_number(
        fn, "residual_attn_ratio", residual_attn_ratio, minimum=0.0, strict=True
    )
    a_mlp = r * math.sqrt(2.0 / (1.0 + rho**2))
    a_attn = rho * a_mlp
    n_attn, n_mlp = (index + 1) // 2, index // 2
    a = a_attn if index % 2 == 0 else a_mlp
    return a / math.sqrt(branches / 2 + n_attn * a_attn**2 + n_mlp * a_mlp**2)


def attention_output_scale(
    head_dim: int, seq_len: int, *, mult: float = 1.0, is_causal: bool = False,
    dropout_p: float = 0.0,
) -> float:  # fmt: skip
    r"""The factor u-muP multiplies attention's output by, so that it has unit scale.

    The output's std is modelled as interpolating, on a log scale, between 1 (one key
    dominates) and $\sqrt{c / s}$ (uniform attention over $s$ positions; $c = \log s$
    causal, 1 otherwise) with weight $a = 1 / (1 + 4 d_\mathrm{head} / m^2)$ on the
    former: the scale is $\sqrt{1 - p} / (c / s)^{(1 - a)/2}$. Logits are
    $q \cdot k\, m / d_\mathrm{head}$ (`Parametrization.attention_scale` with
    ``attn_mult=m``).

    Args:
      head_dim: $d_\mathrm{head}$, ``>= 1``.
      seq_len: $s$, ``>= 1``.
      mult: $m$, ``> 0``.
      is_causal: Causal masking.
      dropout_p: Post-softmax dropout probability $p$ in ``[0, 1)``.

    Returns:
      The scale as a Python float.

    Raises:
      ValueError: If an argument is out of range.

    Examples:
      >>> from jax_inits.mup import attention_output_scale
      >>> round(attention_output_scale(64, 256), 3)
      15.828
    """
    fn = "mup.attention_output_scale"
    head_dim = checks.integer(fn, "head_dim", head_dim)
    seq_len = checks.integer(fn, "seq_len", seq_len)
    if head_dim < 1 or seq_len < 1:
        raise ValueError(
            f"{fn}: `head_dim` and `seq_len` must be >= 1, got {head_dim!r}, {seq_len!r}."
        )
    mult = checks.real_number(fn, "mult", mult, minimum=0.0, strict=True)
    dropout_p = checks.real_number(fn, "dropout_p", dropout_p, minimum=0.0)
    if dropout_p >= 1.0:
        raise ValueError(f"{fn}: `dropout_p` must be < 1, got {dropout_p!r}.")
    a = 1.0 / (1.0 + 4.0 * head_dim / mult**2)
    lower = math.sqrt((math.log(seq_len) if is_causal else 1.0) / seq_len)
    return math.sqrt(1.0 - dropout_p) / lower ** (1.0 - a)


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


def leaf_row(path, shape, layer_axis, is_readout, is_embedding, base_init, depth, in_block):
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
    own_std = mup_roles.std_of(base_init, shape)
    row = mup_schemes.LeafScaling(
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
