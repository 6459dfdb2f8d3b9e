"""Porting packs: whole-model init schemes of reference implementations as tree rules.

Each scheme returns ``(pattern, initializer)`` rules for `jax_inits.tree.init`,
written per role (embeddings, q/k/v, fused qkv, attention output, MLP, head, norms,
biases) with default patterns for Flax nnx / linen names; ``patterns=`` overrides
them. Kernels are in the JAX layout ``(..., in, out)``.

Examples:
  >>> import jax_inits.presets, jax_inits.tree
  >>> kernel = jax.ShapeDtypeStruct((64, 64), jnp.float32)
  >>> spec = {"h": {"0": {"attn": {"c_proj": {"kernel": kernel}}}}}
  >>> params = jax_inits.tree.init(jax.random.key(0), spec, jax_inits.presets.hf_gpt2(4))
  >>> round(float(params["h"]["0"]["attn"]["c_proj"]["kernel"].std()), 3)  # 0.02 / sqrt(8)
  0.007
"""

from jax_inits._src.presets import DEFAULT_PATTERNS as DEFAULT_PATTERNS
from jax_inits._src.presets import ROLES as ROLES
from jax_inits._src.presets import hf_bert as hf_bert
from jax_inits._src.presets import hf_gpt2 as hf_gpt2
from jax_inits._src.presets import hf_llama as hf_llama
from jax_inits._src.presets import hf_t5 as hf_t5
from jax_inits._src.presets import olmo as olmo
from jax_inits._src.presets import timm_vit as timm_vit
from jax_inits._src.presets import torch_defaults as torch_defaults
from jax_inits._src.presets import torchtitan_llama as torchtitan_llama
from jax_inits._src.presets import zero_row as zero_row

__all__ = (
    "DEFAULT_PATTERNS",
    "ROLES",
    "hf_bert",
    "hf_gpt2",
    "hf_llama",
    "hf_t5",
    "olmo",
    "timm_vit",
    "torch_defaults",
    "torchtitan_llama",
    "zero_row",
)
