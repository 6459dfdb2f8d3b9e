r"""u-muP's forward pieces beside the table in ``mup``: the residual tau rule, unit attention.

Unit scaling (Blake et al. 2024) keeps every tensor at unit scale. A residual layer mixes
skip $x$ and branch $f(x)$ as $(\tau f(x) + x) / \sqrt{1 + \tau^2}$, with the weights
$\tau$ of `residual_tau`; attention uses logits $q \cdot k \cdot$ ``mult`` $/ d_\mathrm{head}$
and multiplies its output by `attention_output_scale`, an empirical model of its std.
Forward only: unit-scaling's backward-only factors (``scale_bwd``) are not applied; see the
muP guide's "Depth" section for what that changes.
"""

from __future__ import annotations

import math

from jax_inits._src import checks


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
