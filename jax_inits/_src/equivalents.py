"""The closest initializer of other libraries, for each catalogue name.

Keyed by the name in :data:`jax_inits._src.catalog.ENTRIES`; a name without an
entry (or a library without a counterpart) shows ``-``. A ``~`` marks a
counterpart that matches the variance but not the distribution (torch's
``kaiming_normal_`` and ``xavier_normal_`` are untruncated normals where jax's
presets truncate at 2 sigma). torch computes fans of a ``Linear`` weight of
shape ``(out, in)``, the transpose of the ``(in, out)`` layout used here.

Sources: the torch.nn.init, keras.initializers, haiku.initializers and
flax.linen.initializers (= jax.nn.initializers) reference pages.
"""

from __future__ import annotations

LIBRARIES = ("torch", "keras", "haiku", "flax")
PREFIXES = {
    "torch": "torch.nn.init.",
    "keras": "keras.initializers.",
    "haiku": "hk.initializers.",
    "flax": "nn.initializers.",
}

_T, _K, _H, _F = PREFIXES.values()

EQUIVALENTS: dict[str, dict[str, str]] = {
    "zeros": {"torch": _T + "zeros_", "keras": _K + "Zeros()", "haiku": _H + "Constant(0)",
              "flax": _F + "zeros"},
    "ones": {"torch": _T + "ones_", "keras": _K + "Ones()", "haiku": _H + "Constant(1)",
             "flax": _F + "ones"},
    "constant": {"torch": _T + "constant_(w, v)", "keras": _K + "Constant(v)",
                 "haiku": _H + "Constant(v)", "flax": _F + "constant(v)"},
    "uniform": {"torch": _T + "uniform_(w, 0, s)", "keras": _K + "RandomUniform(0, s)",
                "haiku": _H + "RandomUniform(0, s)", "flax": _F + "uniform(s)"},
    "uniform_range": {"torch": _T + "uniform_(w, a, b)", "keras": _K + "RandomUniform(a, b)",
                      "haiku": _H + "RandomUniform(a, b)"},
    "normal": {"torch": _T + "normal_(w, 0, s)", "keras": _K + "RandomNormal(0, s)",
               "haiku": _H + "RandomNormal(s)", "flax": _F + "normal(s)"},
    "truncated_normal": {"torch": _T + "trunc_normal_(w, 0, s, -2s, 2s)",
                         "keras": _K + "TruncatedNormal(0, s)",
                         "haiku": _H + "TruncatedNormal(s)", "flax": _F + "truncated_normal(s)"},
    "variance_scaling": {"keras": _K + "VarianceScaling(...)",
                         "haiku": _H + "VarianceScaling(...)",
                         "flax": _F + "variance_scaling(...)"},
    "glorot_uniform": {"torch": _T + "xavier_uniform_", "keras": _K + "GlorotUniform()",
                       "haiku": _H + 'VarianceScaling(1, "fan_avg", "uniform")',
                       "flax": _F + "glorot_uniform()"},
    "glorot_normal": {"torch": "~" + _T + "xavier_normal_", "keras": _K + "GlorotNormal()",
                      "haiku": _H + 'VarianceScaling(1, "fan_avg")',
                      "flax": _F + "glorot_normal()"},
    "lecun_uniform": {"torch": _T + 'kaiming_uniform_(w, nonlinearity="linear")',
                      "keras": _K + "LecunUniform()",
                      "haiku": _H + 'VarianceScaling(1, "fan_in", "uniform")',
                      "flax": _F + "lecun_uniform()"},
    "lecun_normal": {"torch": "~" + _T + 'kaiming_normal_(w, nonlinearity="linear")',
                     "keras": _K + "LecunNormal()", "haiku": _H + "VarianceScaling(1)",
                     "flax": _F + "lecun_normal()"},
    "he_uniform": {"torch": _T + "kaiming_uniform_(w, a=0)", "keras": _K + "HeUniform()",
                   "haiku": _H + 'VarianceScaling(2, "fan_in", "uniform")',
                   "flax": _F + "he_uniform()"},
    "he_normal": {"torch": "~" + _T + "kaiming_normal_", "keras": _K + "HeNormal()",
                  "haiku": _H + "VarianceScaling(2)", "flax": _F + "he_normal()"},
    "orthogonal": {"torch": _T + "orthogonal_(w, gain)", "keras": _K + "Orthogonal(gain)",
                   "haiku": _H + "Orthogonal(scale)", "flax": _F + "orthogonal(scale)"},
    "delta_orthogonal": {"flax": _F + "delta_orthogonal(scale)"},
    "identity": {"torch": _T + "eye_ (2-D)", "keras": _K + "Identity(gain)",
                 "haiku": _H + "Identity(gain)"},
    "dirac": {"torch": _T + "dirac_(w, groups)"},
    "sparse": {"torch": _T + "sparse_(w, sparsity, std)"},
}  # fmt: skip
# jax_inits.pytorch reproduces torch.nn.init: its builders' counterparts are exact.
_TORCH_NAMES = {
    "uniform": "uniform_(w, a, b)",
    "normal": "normal_(w, mean, std)",
    "trunc_normal": "trunc_normal_(w, mean, std, a, b)",
    "constant": "constant_(w, val)",
    "ones": "ones_",
    "zeros": "zeros_",
    "eye": "eye_",
    "dirac": "dirac_(w, groups)",
    "xavier_uniform": "xavier_uniform_(w, gain)",
    "xavier_normal": "xavier_normal_(w, gain)",
    "kaiming_uniform": "kaiming_uniform_(w, a, mode, nonlinearity)",
    "kaiming_normal": "kaiming_normal_(w, a, mode, nonlinearity)",
    "orthogonal": "orthogonal_(w, gain)",
    "sparse": "sparse_(w, sparsity, std)",
    "linear_default": "kaiming_uniform_(w, a=sqrt(5)) (nn.Linear)",
    "conv_default": "kaiming_uniform_(w, a=sqrt(5)) (nn.Conv*)",
    "linear_bias_default": "uniform_(b, -1/sqrt(fan_in), 1/sqrt(fan_in))",
    "embedding_default": "normal_ (nn.Embedding)",
}
EQUIVALENTS.update({f"pytorch.{k}": {"torch": _T + v} for k, v in _TORCH_NAMES.items()})


def equivalents(name: str) -> dict[str, str]:
    """The counterpart of ``name`` in each of :data:`LIBRARIES`, ``-`` where none."""
    known = EQUIVALENTS.get(name, {})
    return {lib: known.get(lib, "-") for lib in LIBRARIES}


def short(library: str, text: str) -> str:
    """``text`` without the module prefix of ``library`` (for narrow tables)."""
    approx = text.startswith("~")
    text = text.removeprefix("~").removeprefix(PREFIXES[library])
    return "~" + text if approx else text
