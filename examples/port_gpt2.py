"""Port GPT-2's initialization to a Flax nnx model and compare it with the torch model's.

Builds a small GPT-2 in Flax nnx, named as Hugging Face names its modules (``wte``,
``h/0/attn/c_attn``, ``h/0/mlp/c_proj``, ...), initializes its parameters with
``jax_inits.presets.hf_gpt2`` through ``jax_inits.tree.reinit``, and prints the
std of every parameter next to the std of the same parameter of
``transformers.GPT2Model`` (initialized by its own ``_init_weights``), with the
residual projections scaled by ``1 / sqrt(2 n_layer)`` in both.

    python examples/port_gpt2.py            # 12 layers, width 768
    python examples/port_gpt2.py --quick    # 4 layers, width 64 (the test suite)

Without transformers (``pip install transformers torch``) it prints the JAX side only.
"""

import argparse
import math

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

import jax_inits.presets
import jax_inits.tree


class Attention(nnx.Module):
    def __init__(self, d, heads, rngs):
        self.heads = heads
        self.c_attn = nnx.Linear(d, 3 * d, rngs=rngs)  # fused q, k, v
        self.c_proj = nnx.Linear(d, d, rngs=rngs)

    def __call__(self, x):
        t, d = x.shape[-2:]
        q, k, v = jnp.split(self.c_attn(x), 3, axis=-1)
        q, k, v = (a.reshape(*a.shape[:-1], self.heads, d // self.heads) for a in (q, k, v))
        mask = jnp.tril(jnp.ones((t, t), bool))
        return self.c_proj(jax.nn.dot_product_attention(q, k, v, mask=mask).reshape(x.shape))


class MLP(nnx.Module):
    def __init__(self, d, rngs):
        self.c_fc = nnx.Linear(d, 4 * d, rngs=rngs)
        self.c_proj = nnx.Linear(4 * d, d, rngs=rngs)

    def __call__(self, x):
        return self.c_proj(jax.nn.gelu(self.c_fc(x)))


class Block(nnx.Module):
    def __init__(self, d, heads, rngs):
        self.ln_1 = nnx.LayerNorm(d, rngs=rngs)
        self.attn = Attention(d, heads, rngs)
        self.ln_2 = nnx.LayerNorm(d, rngs=rngs)
        self.mlp = MLP(d, rngs)

    def __call__(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class GPT2(nnx.Module):
    def __init__(self, vocab, positions, d, layers, heads, rngs):
        self.wte = nnx.Embed(vocab, d, rngs=rngs)
        self.wpe = nnx.Embed(positions, d, rngs=rngs)
        self.h = nnx.List([Block(d, heads, rngs) for _ in range(layers)])
        self.ln_f = nnx.LayerNorm(d, rngs=rngs)

    def __call__(self, tokens):
        x = self.wte(tokens) + self.wpe(jnp.arange(tokens.shape[-1]))
        for block in self.h:
            x = block(x)
        return self.wte.attend(self.ln_f(x))  # tied head, as GPT-2


def torch_params(vocab, positions, d, layers, heads):
    """{HF parameter name: array} of transformers' GPT2Model, or None without transformers."""
    try:
        import torch
        import transformers
    except ImportError:
        return None
    torch.manual_seed(0)
    config = transformers.GPT2Config(
        vocab_size=vocab,
        n_positions=positions,
        n_embd=d,
        n_layer=layers,
        n_head=heads,
        bos_token_id=0,
        eos_token_id=0,
    )
    model = transformers.GPT2Model(config)
    return {name: p.detach().numpy() for name, p in model.named_parameters()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="4 layers of width 64")
    args = parser.parse_args()
    vocab, positions = (1000, 128) if args.quick else (50257, 1024)
    d, layers, heads = (64, 4, 4) if args.quick else (768, 12, 12)

    model = GPT2(vocab, positions, d, layers, heads, nnx.Rngs(0))
    graphdef, params = nnx.split(model, nnx.Param)
    rules = jax_inits.presets.hf_gpt2(layers, initializer_range=0.02)
    params = jax_inits.tree.reinit(params, jax.random.key(0), rules)
    model = nnx.merge(graphdef, params)
    logits = model(jnp.arange(16)[None] % vocab)
    print(f"GPT-2 in nnx: {layers} layers, width {d}; logits {logits.shape}, finite: "
          f"{bool(jnp.isfinite(logits).all())}")  # fmt: skip

    reference = torch_params(vocab, positions, d, layers, heads)
    paths, leaves = jax_inits.tree.leaf_paths(params), jax.tree.leaves(params)
    print(f"{'parameter':26} {'jax std':>9} {'torch std':>9} {'jax mean':>9} {'torch mean':>10}")
    for path, leaf in zip(paths, leaves, strict=True):
        # nnx names LayerNorm's weight "scale" and Linear's "kernel"; HF uses "weight".
        hf = path.replace("/", ".").replace(".kernel", ".weight").replace(".scale", ".weight")
        hf = hf.replace(".embedding", ".weight")
        std, mean = float(np.std(leaf)), float(np.mean(leaf))
        if reference is None:
            print(f"{path:26} {std:9.5f} {'':>9} {mean:9.5f}")
        else:
            theirs = reference[hf]
            t_std, t_mean = float(np.std(theirs)), float(np.mean(theirs))
            print(f"{path:26} {std:9.5f} {t_std:9.5f} {mean:9.5f} {t_mean:10.5f}")
    print(
        f"residual projections: std 0.02 / sqrt(2 * {layers}) = {0.02 / math.sqrt(2 * layers):.5f}"
    )


if __name__ == "__main__":
    main()
