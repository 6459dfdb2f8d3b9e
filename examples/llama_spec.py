"""Parameter specs of real models, sharded for FSDP x tensor parallelism: no memory used.

Each builder returns a nested dict of ``jax.ShapeDtypeStruct`` whose leaves carry
their ``NamedSharding`` on a ``("data", "model")`` mesh, laid out as MaxText and
torchtitan do: a kernel ``(in, out)`` that widens (q/k/v, gate/up, lm_head) is
``P("data", "model")``, one that narrows back to ``d_model`` (o, down) is
``P("model", "data")``, the token embedding ``(vocab, d)`` is ``P("model", "data")``,
norm scales are replicated. The mesh may be a concrete ``jax.sharding.Mesh`` or a
``jax.sharding.AbstractMesh`` (plan a pod on a laptop), or ``None`` for unsharded
leaves. The leaf paths are Hugging Face's module names, so `rules_for` gives the
rules of `jax_inits.presets` that port each model's ``_init_weights``:

    spec = llama3_8b(mesh)
    params = jax_inits.tree.init(key, spec, rules_for("llama3_8b"))

``scanned=True`` stacks the blocks: every leaf of ``model/layers`` (Llama) or
``transformer/h`` (GPT-2) gets a leading layer axis (unsharded, ``P(None, ...)``)
and `rules_for(name, scanned=True)` wraps the rules with `jax_inits.tree.scanned`,
so each layer is drawn by the initializer its unscanned layer gets
(an independent key per layer: values differ from the unscanned draw).

Used by ``jax-inits memory examples/llama_spec.py:llama3_8b --mesh data=2,model=4``
and by ``benchmarks/real_scale.py``.

Run: .venv/bin/python examples/llama_spec.py  (parameter counts of each spec)
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import jax
import jax.numpy as jnp
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

import jax_inits.presets
import jax_inits.tree

SPECS = ("llama3_8b", "llama_small", "gpt2_xl", "gpt2_small")


@dataclasses.dataclass(frozen=True)
class LlamaConfig:
    """The sizes of a Llama-architecture decoder (untied embedding and lm_head)."""

    layers: int
    d_model: int
    ffn: int
    vocab: int
    heads: int
    kv_heads: int
    head_dim: int
    dtype: Any = jnp.bfloat16


@dataclasses.dataclass(frozen=True)
class GPT2Config:
    """The sizes of a GPT-2 decoder (token embedding tied to the head, biases)."""

    layers: int
    d_model: int
    ffn: int
    vocab: int
    n_ctx: int
    dtype: Any = jnp.float32


#: Meta's Llama-3-8B (``config.json`` of meta-llama/Meta-Llama-3-8B).
LLAMA3_8B = LlamaConfig(
    layers=32, d_model=4096, ffn=14336, vocab=128256, heads=32, kv_heads=8, head_dim=128
)
#: A two-layer Llama for tests and quick looks.
LLAMA_SMALL = LlamaConfig(
    layers=2, d_model=256, ffn=512, vocab=1024, heads=4, kv_heads=2, head_dim=64
)
#: OpenAI's GPT-2 XL (1.5B; ``config.json`` of openai-community/gpt2-xl).
GPT2_XL = GPT2Config(layers=48, d_model=1600, ffn=6400, vocab=50257, n_ctx=1024)
#: A two-layer GPT-2 for tests (an odd vocabulary, as GPT-2's).
GPT2_SMALL = GPT2Config(layers=2, d_model=128, ffn=512, vocab=1001, n_ctx=64)
#: The configuration of every spec.
CONFIGS: dict[str, Any] = {
    "llama3_8b": LLAMA3_8B,
    "llama_small": LLAMA_SMALL,
    "gpt2_xl": GPT2_XL,
    "gpt2_small": GPT2_SMALL,
}


def _leaf(mesh: Any, shape: tuple[int, ...], dtype: Any, spec: P, stack: int | None) -> Any:
    """One leaf; with ``stack``, a leading layer axis of that size (unsharded)."""
    if stack is not None:
        shape, spec = (stack, *shape), P(None, *spec)
    sharding = None if mesh is None else NamedSharding(mesh, spec)
    return jax.ShapeDtypeStruct(shape, dtype, sharding=sharding)


def _layers(block: Any, layers: int, scanned: bool) -> dict[str, Any]:
    """``{"0": block(None), ...}``, or with ``scanned`` the one stacked block."""
    if scanned:
        return block(layers)
    return {str(i): block(None) for i in range(layers)}


def llama(config: LlamaConfig, mesh: Any, *, scanned: bool = False) -> dict[str, Any]:
    """The parameter spec of a Llama decoder of ``config``, sharded on ``mesh``."""
    c = config
    q_width, kv_width = c.heads * c.head_dim, c.kv_heads * c.head_dim

    def block(stack: int | None) -> dict[str, Any]:
        def leaf(shape: tuple[int, ...], spec: P) -> Any:
            return _leaf(mesh, shape, c.dtype, spec, stack)

        return {
            "input_layernorm": {"scale": leaf((c.d_model,), P())},
            "self_attn": {
                "q_proj": {"kernel": leaf((c.d_model, q_width), P("data", "model"))},
                "k_proj": {"kernel": leaf((c.d_model, kv_width), P("data", "model"))},
                "v_proj": {"kernel": leaf((c.d_model, kv_width), P("data", "model"))},
                "o_proj": {"kernel": leaf((q_width, c.d_model), P("model", "data"))},
            },
            "post_attention_layernorm": {"scale": leaf((c.d_model,), P())},
            "mlp": {
                "gate_proj": {"kernel": leaf((c.d_model, c.ffn), P("data", "model"))},
                "up_proj": {"kernel": leaf((c.d_model, c.ffn), P("data", "model"))},
                "down_proj": {"kernel": leaf((c.ffn, c.d_model), P("model", "data"))},
            },
        }

    def leaf(shape: tuple[int, ...], spec: P) -> Any:
        return _leaf(mesh, shape, c.dtype, spec, None)

    return {
        "model": {
            "embed_tokens": {"embedding": leaf((c.vocab, c.d_model), P("model", "data"))},
            "layers": _layers(block, c.layers, scanned),
            "norm": {"scale": leaf((c.d_model,), P())},
        },
        "lm_head": {"kernel": leaf((c.d_model, c.vocab), P("data", "model"))},
    }


def gpt2(config: GPT2Config, mesh: Any, *, scanned: bool = False) -> dict[str, Any]:
    """The parameter spec of a GPT-2 decoder of ``config``, sharded on ``mesh``
    (column-parallel biases sharded with their kernel's output, the others replicated;
    the token embedding over ``d_model`` only, as its vocabulary is odd)."""
    c = config

    def block(stack: int | None) -> dict[str, Any]:
        def leaf(shape: tuple[int, ...], spec: P) -> Any:
            return _leaf(mesh, shape, c.dtype, spec, stack)

        def norm() -> dict[str, Any]:
            return {"scale": leaf((c.d_model,), P()), "bias": leaf((c.d_model,), P())}

        return {
            "ln_1": norm(),
            "attn": {
                "c_attn": {
                    "kernel": leaf((c.d_model, 3 * c.d_model), P("data", "model")),
                    "bias": leaf((3 * c.d_model,), P("model")),
                },
                "c_proj": {
                    "kernel": leaf((c.d_model, c.d_model), P("model", "data")),
                    "bias": leaf((c.d_model,), P()),
                },
            },
            "ln_2": norm(),
            "mlp": {
                "c_fc": {
                    "kernel": leaf((c.d_model, c.ffn), P("data", "model")),
                    "bias": leaf((c.ffn,), P("model")),
                },
                "c_proj": {
                    "kernel": leaf((c.ffn, c.d_model), P("model", "data")),
                    "bias": leaf((c.d_model,), P()),
                },
            },
        }

    def leaf(shape: tuple[int, ...], spec: P) -> Any:
        return _leaf(mesh, shape, c.dtype, spec, None)

    return {
        "transformer": {
            # GPT-2's vocabulary (50257 = 29 x 1733) divides by no mesh axis, and jax
            # shards only evenly: wte is sharded along d_model over both axes.
            "wte": {"embedding": leaf((c.vocab, c.d_model), P(None, ("data", "model")))},
            "wpe": {"embedding": leaf((c.n_ctx, c.d_model), P(None, "data"))},
            "h": _layers(block, c.layers, scanned),
            "ln_f": {"scale": leaf((c.d_model,), P()), "bias": leaf((c.d_model,), P())},
        }
    }


def llama3_8b(mesh: Any, *, scanned: bool = False) -> dict[str, Any]:
    """Llama-3-8B (8,030,261,248 parameters, bfloat16) on ``mesh``."""
    return llama(LLAMA3_8B, mesh, scanned=scanned)


def llama_small(mesh: Any, *, scanned: bool = False) -> dict[str, Any]:
    """A two-layer Llama (d_model 256, ffn 512, vocab 1024, 4 heads, 2 kv heads) on ``mesh``."""
    return llama(LLAMA_SMALL, mesh, scanned=scanned)


def gpt2_xl(mesh: Any, *, scanned: bool = False) -> dict[str, Any]:
    """GPT-2 XL (1,557,611,200 parameters, float32, wte tied to the head) on ``mesh``."""
    return gpt2(GPT2_XL, mesh, scanned=scanned)


def gpt2_small(mesh: Any, *, scanned: bool = False) -> dict[str, Any]:
    """A two-layer GPT-2 (d_model 128, ffn 512, vocab 1001, 64 positions) on ``mesh``."""
    return gpt2(GPT2_SMALL, mesh, scanned=scanned)


def config_of(name: str, layers: int | None = None) -> Any:
    """The configuration of spec ``name`` (one of `SPECS`), with ``layers`` blocks if given."""
    if name not in CONFIGS:
        raise ValueError(f"llama_spec: `name` must be one of {SPECS}, got {name!r}.")
    config = CONFIGS[name]
    return config if layers is None else dataclasses.replace(config, layers=layers)


def spec(
    name: str, mesh: Any, *, scanned: bool = False, layers: int | None = None
) -> dict[str, Any]:
    """The spec of ``name`` (one of `SPECS`) on ``mesh``, with ``layers`` blocks if given."""
    config = config_of(name, layers)
    build = gpt2 if isinstance(config, GPT2Config) else llama
    return build(config, mesh, scanned=scanned)


def rules_for(
    name: str, *, scanned: bool = False, layers: int | None = None
) -> list[tuple[Any, Any]]:
    """The `jax_inits.presets` rules of spec ``name`` (one of `SPECS`): Hugging Face's
    ``_init_weights`` with ``initializer_range`` 0.02; with ``scanned``, for the
    stacked spec (`jax_inits.tree.scanned` over the stack's path)."""
    config = config_of(name, layers)
    if isinstance(config, GPT2Config):
        rules, stack = jax_inits.presets.hf_gpt2(config.layers, 0.02), "transformer/h"
    else:
        rules, stack = jax_inits.presets.hf_llama(0.02), "model/layers"
    return jax_inits.tree.scanned(rules, stack) if scanned else rules


def main() -> None:
    for name in SPECS:
        spec = globals()[name](None)
        count = sum(math.prod(leaf.shape) for leaf in jax.tree.leaves(spec))
        print(f"{name}: {count:,} parameters")


if __name__ == "__main__":
    main()
