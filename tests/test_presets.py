"""jax_inits.presets against the reference implementations.

Two kinds of check:

* torch module defaults and Hugging Face transformers (GPT-2, Llama, BERT, T5, OLMo's
  port) run for real: the reference builds a tiny model and initializes it, the
  pack builds the JAX tree of the same architecture, and every parameter is
  compared. The name tables below (reference name -> JAX path, layout) say which
  JAX leaf, and so which rule, stands for which reference parameter.
* timm ViT, torchtitan Llama and ai2-olmo are not installed (timm needs torchvision,
  which does not load beside the pinned torch 2.13.0 CPU build; torchtitan and
  ai2-olmo pin their own torch/numpy): their schemes are checked against formulas
  transcribed from their source, cited next to each table.

Statistics: for a parameter of n values, sample std s and mean m, the tolerance is
5 standard errors: |s_ours - s_ref| <= 5 sqrt((s_ours^2 + s_ref^2) / (2n)) (the
normal's SE of a sample std, an upper bound for the uniform and truncated draws
here, whose kurtosis is < 3) and |m_ours - m_ref| <= 5 sqrt((s_ours^2 + s_ref^2) / n).
Against a formula, the same with the formula's std in place of the reference
sample. Values the reference sets exactly (zeros, ones, a padding row) must be
exactly equal; uniform draws must stay inside the bound and reach within 10/n of
it (a miss has probability e^-10 per end).
"""

import json
import math
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

import jax_inits
import jax_inits.presets as presets
import jax_inits.tree as jt
from jax_inits._src import presets as presets_src
from jax_inits._src import tree as tree_src

KEY = jax.random.key(0)
F32 = jnp.float32


# ----------------------------------------------------------------------------- helpers


def _nest(flat):
    tree = {}
    for path, leaf in flat.items():
        *parents, name = path.split("/")
        node = tree
        for part in parents:
            node = node.setdefault(part, {})
        node[name] = leaf
    return tree


def _to_jax(array, layout):
    if layout == "T":  # torch Linear (out, in) -> (in, out)
        return array.T
    if layout == "conv":  # torch OIHW -> HWIO
        return array.transpose(2, 3, 1, 0)
    return array  # "=": same layout (embeddings, norms, biases, GPT-2's Conv1D)


def _port(named, table):
    """{jax path: (reference array in the JAX layout, uniform?)}; every name mapped once."""
    out = {}
    for name, value in named:
        hits = [row for row in table if re.fullmatch(row[0], name)]
        assert len(hits) == 1, f"{name!r} matches {len(hits)} rows of the name table"
        rx, template, layout, uniform = hits[0]
        path = re.sub(rx, template, name)
        out[path] = (_to_jax(value.detach().numpy().astype(np.float64), layout), uniform)
    return out


def _compare(path, ours, ref, uniform):
    ours = np.asarray(ours, np.float64)
    assert ours.shape == ref.shape, path
    if np.all(ref == ref.flat[0]):  # zeros, ones, a factor: exactly
        np.testing.assert_array_equal(ours, ref, err_msg=path)
        return
    if ref.ndim == 2:  # a padding row: exactly zero, then compare the rest
        zero = np.all(ref == 0, axis=1)
        np.testing.assert_array_equal(ours[zero], 0.0, err_msg=path)
        ours, ref = ours[~zero], ref[~zero]
    n = ref.size
    s_ref, s_ours = ref.std(), ours.std()
    assert abs(s_ours - s_ref) <= 5 * math.sqrt((s_ours**2 + s_ref**2) / (2 * n)), (
        path,
        s_ours,
        s_ref,
    )
    assert abs(ours.mean() - ref.mean()) <= 5 * math.sqrt((s_ours**2 + s_ref**2) / n), path
    if uniform:  # same support: both reach within 10/n of the same bound, neither beyond
        lo, hi = sorted((np.abs(ours).max(), np.abs(ref).max()))
        assert lo >= hi * (1 - 10 / n), (path, lo, hi)


def _check_against_reference(model, table, rules):
    ref = _port(model.named_parameters(), table)
    spec = _nest({p: jax.ShapeDtypeStruct(a.shape, jnp.float32) for p, (a, _) in ref.items()})
    params = jt.init(KEY, spec, rules)
    paths, leaves, _ = _flat(params)
    assert sorted(paths) == sorted(ref)
    for path, leaf in zip(paths, leaves, strict=True):
        _compare(path, leaf, *ref[path])
    return dict(zip(paths, leaves, strict=True))


def _flat(params):
    return tree_src.flatten(params)


# ----------------------------------------------------------------------------- torch defaults


def _torch_modules():
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    modules = torch.nn.Module()
    modules.fc = torch.nn.Linear(64, 512)
    modules.conv = torch.nn.Conv2d(3, 256, 3)
    modules.emb = torch.nn.Embedding(300, 64)
    modules.ln = torch.nn.LayerNorm(64)
    modules.mha = torch.nn.MultiheadAttention(64, 4)
    return modules


def _transformers():
    """transformers with its torch backend, seeded; skips where either is absent."""
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    torch.manual_seed(0)
    return transformers


# reference name                  JAX path                  layout  uniform   rule (role)
TORCH_TABLE = [
    (r"fc\.weight", "fc/kernel", "T", True),  # kernel: linear_default
    (r"fc\.bias", "fc/bias", "=", True),  # bias: sibling kernel's fan-in
    (r"conv\.weight", "conv/kernel", "conv", True),  # kernel: linear_default (HWIO)
    (r"conv\.bias", "conv/bias", "=", True),  # bias: fan-in 3*3*3
    (r"emb\.weight", "emb/embedding", "=", False),  # embedding: N(0, 1)
    (r"ln\.weight", "ln/scale", "=", False),  # norm_scale: 1
    (r"ln\.bias", "ln/bias", "=", False),  # norm_bias: 0
    (r"mha\.in_proj_weight", "mha/in_proj/kernel", "T", True),  # qkv: xavier_uniform
    (r"mha\.in_proj_bias", "mha/in_proj/bias", "=", False),  # qkv_bias: 0
    (r"mha\.out_proj\.weight", "mha/out_proj/kernel", "T", True),  # kernel: linear_default
    (r"mha\.out_proj\.bias", "mha/out_proj/bias", "=", False),  # attn_out_bias: 0
]


def test_torch_module_defaults_match_torch():
    params = _check_against_reference(
        _torch_modules(), TORCH_TABLE, presets.torch_defaults(multihead_attention=True)
    )
    # The bias bound is the kernel's fan-in: 1/sqrt(64) for fc, 1/sqrt(27) for conv.
    assert np.abs(params["fc/bias"]).max() <= 1 / 8
    assert np.abs(params["conv/bias"]).max() > 1 / 8  # would be impossible with fc's bound


# ----------------------------------------------------------------------------- transformers

# GPT-2: Conv1D weights are (in, out) already.
GPT2_TABLE = [
    (r"wte\.weight", "wte/embedding", "=", False),  # token_embedding: N(0, .02)
    (r"wpe\.weight", "wpe/embedding", "=", False),  # embedding: N(0, .02)
    (r"h\.(\d+)\.ln_(\d)\.weight", r"h/\1/ln_\2/scale", "=", False),  # norm_scale: 1
    (r"h\.(\d+)\.ln_(\d)\.bias", r"h/\1/ln_\2/bias", "=", False),  # norm_bias: 0
    (r"h\.(\d+)\.attn\.c_attn\.weight", r"h/\1/attn/c_attn/kernel", "=", False),  # kernel
    (r"h\.(\d+)\.attn\.c_attn\.bias", r"h/\1/attn/c_attn/bias", "=", False),  # bias: 0
    (r"h\.(\d+)\.attn\.c_proj\.weight", r"h/\1/attn/c_proj/kernel", "=", False),  # attn_out
    (r"h\.(\d+)\.attn\.c_proj\.bias", r"h/\1/attn/c_proj/bias", "=", False),  # bias: 0
    (r"h\.(\d+)\.mlp\.c_fc\.weight", r"h/\1/mlp/c_fc/kernel", "=", False),  # kernel
    (r"h\.(\d+)\.mlp\.c_fc\.bias", r"h/\1/mlp/c_fc/bias", "=", False),  # bias: 0
    (r"h\.(\d+)\.mlp\.c_proj\.weight", r"h/\1/mlp/c_proj/kernel", "=", False),  # mlp_out
    (r"h\.(\d+)\.mlp\.c_proj\.bias", r"h/\1/mlp/c_proj/bias", "=", False),  # bias: 0
    (r"ln_f\.weight", "ln_f/scale", "=", False),
    (r"ln_f\.bias", "ln_f/bias", "=", False),
]


def test_hf_gpt2_matches_transformers():
    transformers = _transformers()
    config = transformers.GPT2Config(
        n_layer=4, n_embd=64, n_head=4, vocab_size=1000, n_positions=256, bos_token_id=0,
        eos_token_id=0,
    )  # fmt: skip
    model = transformers.GPT2Model(config)
    params = _check_against_reference(model, GPT2_TABLE, presets.hf_gpt2(4, 0.02))
    # The residual projections of every layer: std 0.02 / sqrt(2 * 4), n = 64 * 64 (c_proj)
    # and 256 * 64 (mlp); 5 standard errors of a sample std.
    for i in range(4):
        for path, n in ((f"h/{i}/attn/c_proj/kernel", 4096), (f"h/{i}/mlp/c_proj/kernel", 16384)):
            s = float(np.std(params[path]))
            assert abs(s / (0.02 / math.sqrt(8)) - 1) <= 5 / math.sqrt(2 * n), path


LLAMA_TABLE = [
    (r"model\.embed_tokens\.weight", "model/embed_tokens/embedding", "=", False),  # + pad row
    (r"model\.layers\.(\d+)\.self_attn\.(q|k|v|o)_proj\.weight",
     r"model/layers/\1/self_attn/\2_proj/kernel", "T", False),  # q, k, v, attn_out
    (r"model\.layers\.(\d+)\.self_attn\.(q|k|v|o)_proj\.bias",
     r"model/layers/\1/self_attn/\2_proj/bias", "=", False),  # bias: 0
    (r"model\.layers\.(\d+)\.mlp\.(gate|up|down)_proj\.weight",
     r"model/layers/\1/mlp/\2_proj/kernel", "T", False),  # mlp_gate, mlp_in, mlp_out
    (r"model\.layers\.(\d+)\.mlp\.(gate|up|down)_proj\.bias",
     r"model/layers/\1/mlp/\2_proj/bias", "=", False),  # bias: 0
    (r"model\.layers\.(\d+)\.(input|post_attention)_layernorm\.weight",
     r"model/layers/\1/\2_layernorm/scale", "=", False),  # norm_scale: 1
    (r"model\.norm\.weight", "model/norm/scale", "=", False),
    (r"lm_head\.weight", "lm_head/kernel", "T", False),  # head: N(0, .02)
]  # fmt: skip


def test_hf_llama_matches_transformers():
    transformers = _transformers()
    config = transformers.LlamaConfig(
        hidden_size=64, intermediate_size=192, num_hidden_layers=4, num_attention_heads=4,
        num_key_value_heads=2, vocab_size=1000, pad_token_id=1, bos_token_id=0, eos_token_id=0,
        attention_bias=True, mlp_bias=True, tie_word_embeddings=False, initializer_range=0.03,
    )  # fmt: skip
    model = transformers.LlamaForCausalLM(config)
    params = _check_against_reference(model, LLAMA_TABLE, presets.hf_llama(0.03, padding_idx=1))
    assert (np.asarray(params["model/embed_tokens/embedding"])[1] == 0).all()


BERT_TABLE = [
    (r"embeddings\.(word|position|token_type)_embeddings\.weight",
     r"embeddings/\1_embeddings/embedding", "=", False),  # token_embedding (pad row 0)
    (r"embeddings\.LayerNorm\.weight", "embeddings/LayerNorm/scale", "=", False),
    (r"embeddings\.LayerNorm\.bias", "embeddings/LayerNorm/bias", "=", False),
    (r"encoder\.layer\.(\d+)\.attention\.self\.(query|key|value)\.weight",
     r"encoder/layer/\1/attention/self/\2/kernel", "T", False),  # q, k, v
    (r"encoder\.layer\.(\d+)\.attention\.self\.(query|key|value)\.bias",
     r"encoder/layer/\1/attention/self/\2/bias", "=", False),
    (r"encoder\.layer\.(\d+)\.attention\.output\.dense\.weight",
     r"encoder/layer/\1/attention/output/dense/kernel", "T", False),  # attn_out
    (r"encoder\.layer\.(\d+)\.attention\.output\.dense\.bias",
     r"encoder/layer/\1/attention/output/dense/bias", "=", False),
    (r"encoder\.layer\.(\d+)\.(attention\.output|output)\.LayerNorm\.weight",
     r"encoder/layer/\1/\2/LayerNorm/scale", "=", False),  # norm_scale: 1 (dots: below)
    (r"encoder\.layer\.(\d+)\.(attention\.output|output)\.LayerNorm\.bias",
     r"encoder/layer/\1/\2/LayerNorm/bias", "=", False),  # norm_bias: 0
    (r"encoder\.layer\.(\d+)\.intermediate\.dense\.weight",
     r"encoder/layer/\1/intermediate/dense/kernel", "T", False),  # mlp_in
    (r"encoder\.layer\.(\d+)\.intermediate\.dense\.bias",
     r"encoder/layer/\1/intermediate/dense/bias", "=", False),
    (r"encoder\.layer\.(\d+)\.output\.dense\.weight",
     r"encoder/layer/\1/output/dense/kernel", "T", False),  # mlp_out
    (r"encoder\.layer\.(\d+)\.output\.dense\.bias",
     r"encoder/layer/\1/output/dense/bias", "=", False),
    (r"pooler\.dense\.weight", "pooler/dense/kernel", "T", False),  # kernel
    (r"pooler\.dense\.bias", "pooler/dense/bias", "=", False),
]  # fmt: skip


def test_hf_bert_matches_transformers():
    transformers = _transformers()
    config = transformers.BertConfig(
        hidden_size=64, intermediate_size=256, num_hidden_layers=2, num_attention_heads=4,
        vocab_size=1000, max_position_embeddings=128,
    )  # fmt: skip
    model = transformers.BertModel(config)
    ref = _port(model.named_parameters(), BERT_TABLE)
    ref = {p.replace("attention.output", "attention/output"): v for p, v in ref.items()}
    spec = _nest({p: jax.ShapeDtypeStruct(a.shape, jnp.float32) for p, (a, _) in ref.items()})
    params = jt.init(KEY, spec, presets.hf_bert(0.02))
    paths, leaves, _ = _flat(params)
    assert sorted(paths) == sorted(ref)
    for path, leaf in zip(paths, leaves, strict=True):
        _compare(path, leaf, *ref[path])
    word = np.asarray(params["embeddings"]["word_embeddings"]["embedding"])
    assert (word[0] == 0).all() and (word[1:] != 0).all()  # pad_token_id 0, exactly


T5_TABLE = [
    (r"shared\.weight", "shared/embedding", "=", False),  # token_embedding: N(0, f)
    (r"(encoder|decoder)\.block\.(\d+)\.layer\.(\d+)\.(SelfAttention|EncDecAttention)\.(q|k|v|o)\.weight",
     r"\1/block/\2/layer/\3/\4/\5/kernel", "T", False),  # q; k, v; attn_out (o)
    (r"(encoder|decoder)\.block\.0\.layer\.0\.SelfAttention\.relative_attention_bias\.weight",
     r"\1/block/0/layer/0/SelfAttention/relative_attention_bias/embedding", "=", False),  # rel_bias
    (r"(encoder|decoder)\.block\.(\d+)\.layer\.(\d+)\.DenseReluDense\.(wi|wo)\.weight",
     r"\1/block/\2/layer/\3/DenseReluDense/\4/kernel", "T", False),  # mlp_in (wi), mlp_out (wo)
    (r"(encoder|decoder)\.block\.(\d+)\.layer\.(\d+)\.layer_norm\.weight",
     r"\1/block/\2/layer/\3/layer_norm/scale", "=", False),  # norm_scale: f
    (r"(encoder|decoder)\.final_layer_norm\.weight", r"\1/final_layer_norm/scale", "=", False),
    (r"lm_head\.weight", "lm_head/kernel", "T", False),  # head: N(0, f)
]  # fmt: skip


def test_hf_t5_matches_transformers():
    transformers = _transformers()
    config = transformers.T5Config(
        d_model=64, d_kv=16, d_ff=256, num_layers=2, num_decoder_layers=2, num_heads=4,
        vocab_size=1000, tie_word_embeddings=False, initializer_factor=0.5,
    )  # fmt: skip
    model = transformers.T5ForConditionalGeneration(config)
    _check_against_reference(model, T5_TABLE, presets.hf_t5(64, 16, 0.5))


OLMO_HF_TABLE = [
    (r"model\.embed_tokens\.weight", "model/embed_tokens/embedding", "=", False),  # pad row 1
    (r"model\.layers\.(\d+)\.self_attn\.(q|k|v|o)_proj\.weight",
     r"model/layers/\1/self_attn/\2_proj/kernel", "T", False),
    (r"model\.layers\.(\d+)\.mlp\.(gate|up|down)_proj\.weight",
     r"model/layers/\1/mlp/\2_proj/kernel", "T", False),
    (r"lm_head\.weight", "lm_head/kernel", "T", False),
]  # fmt: skip


def test_olmo_hf_variant_matches_transformers_port():
    transformers = _transformers()
    config = transformers.OlmoConfig(
        hidden_size=64, intermediate_size=192, num_hidden_layers=2, num_attention_heads=4,
        vocab_size=1000, tie_word_embeddings=False, bos_token_id=0, eos_token_id=0,
    )  # fmt: skip
    model = transformers.OlmoForCausalLM(config)
    _check_against_reference(
        model, OLMO_HF_TABLE, presets.olmo("hf", initializer_range=0.02, padding_idx=1)
    )


# ----------------------------------------------------------------------------- formulas
# Each expectation: ("const", value) exactly; ("normal", std); ("uniform", bound);
# ("trunc", std, lo, hi): normal of std `std` truncated to the absolute [lo, hi].


def _expect(path, x, kind, *args):
    x = np.asarray(x, np.float64)
    n = x.size
    if kind == "const":  # exactly, in the float32 the tree is created in
        np.testing.assert_array_equal(x, np.float32(args[0]), err_msg=path)
        return
    if kind == "normal":
        mean, std = 0.0, args[0]
    elif kind == "uniform":
        (bound,) = args
        std = bound / math.sqrt(3)
        assert np.abs(x).max() <= bound and np.abs(x).max() >= bound * (1 - 10 / n), path
        mean = 0.0
    else:
        sigma, lo, hi = args
        dist = stats.truncnorm(lo / sigma, hi / sigma, scale=sigma)
        mean, std = dist.mean(), dist.std()
        assert x.min() >= lo and x.max() <= hi, path
    assert abs(x.mean() - mean) <= 5 * std / math.sqrt(n), (path, x.mean(), mean)
    assert abs(x.std() / std - 1) <= 5 / math.sqrt(2 * n), (path, x.std(), std)


def _check_formulas(spec_shapes, rules, expected):
    spec = _nest({p: jax.ShapeDtypeStruct(s, jnp.float32) for p, s in spec_shapes.items()})
    params = jt.init(KEY, spec, rules)
    paths, leaves, _ = _flat(params)
    assert sorted(paths) == sorted(expected)
    for path, leaf in zip(paths, leaves, strict=True):
        _expect(path, leaf, *expected[path])
    return dict(zip(paths, leaves, strict=True))


# timm ViT in Flax naming: D = 64, 2 blocks, MLP 256, 4x4 patches of 3 channels
# (fan-in 48), 16 patches + cls, 10 classes.
D, DEPTH, HIDDEN, CLASSES = 64, 2, 256, 10
VIT = {
    "patch_embed/proj/kernel": (4, 4, 3, D),
    "patch_embed/proj/bias": (D,),
    "cls_token": (1, 1, D),
    "pos_embed": (1, 17, D),
    "norm/scale": (D,),
    "norm/bias": (D,),
    "head/kernel": (D, CLASSES),
    "head/bias": (CLASSES,),
}
for _i in range(DEPTH):
    VIT |= {
        f"blocks/{_i}/norm1/scale": (D,),
        f"blocks/{_i}/norm1/bias": (D,),
        f"blocks/{_i}/attn/qkv/kernel": (D, 3 * D),
        f"blocks/{_i}/attn/qkv/bias": (3 * D,),
        f"blocks/{_i}/attn/proj/kernel": (D, D),
        f"blocks/{_i}/attn/proj/bias": (D,),
        f"blocks/{_i}/norm2/scale": (D,),
        f"blocks/{_i}/norm2/bias": (D,),
        f"blocks/{_i}/mlp/fc1/kernel": (D, HIDDEN),
        f"blocks/{_i}/mlp/fc1/bias": (HIDDEN,),
        f"blocks/{_i}/mlp/fc2/kernel": (HIDDEN, D),
        f"blocks/{_i}/mlp/fc2/bias": (D,),
    }


def _xavier(shape):  # torch xavier_uniform_ bound for a JAX (in, out) kernel
    return math.sqrt(6 / (shape[0] + shape[1]))


def _vit_expected(mode, head_bias=0.0):
    """Transcribed from timm (huggingface/pytorch-image-models @ 0041cb7):
    timm/models/vision_transformer.py, VisionTransformer.init_weights:
      trunc_normal_(self.pos_embed, std=.02); nn.init.normal_(self.cls_token, std=1e-6)
    init_weights_vit_timm: Linear -> trunc_normal_(weight, std=.02), zeros_(bias)
    init_weights_vit_jax: head -> zeros_(weight), constant_(bias, head_bias); other Linear ->
      xavier_uniform_(weight), normal_(bias, std=1e-6) if 'mlp' in name else zeros_(bias);
      Conv2d -> lecun_normal_(weight), zeros_(bias)
    init_weights_vit_moco: 'qkv' -> uniform_(-val, val),
      val = sqrt(6 / (weight.shape[0] // 3 + weight.shape[1])) on the torch (3D, D) weight;
      other Linear -> xavier_uniform_, zeros_(bias)
    Conv2d in '' and 'moco' mode keeps torch's default (the init is built with
    needs_reset=False), kaiming_uniform_(a=sqrt(5)): U(+-1/sqrt(fan_in)), bias the same.
    timm/layers/weight_init.py (@ 60c2fd1): trunc_normal_(tensor, mean=0., std=1., a=-2.,
    b=2.) (line 43: a, b are absolute values); variance_scaling_ (line 99) with
    'truncated_normal' draws trunc_normal_tf_(std=sqrt(1/fan_in) / .87962566103423978),
    i.e. a standard normal cut at +-2 (line 70), scaled; lecun_normal_ (line 124).
    """
    e = {
        "pos_embed": ("trunc", 0.02, -2.0, 2.0),
        "cls_token": ("normal", 1e-6),
        "norm/scale": ("const", 1.0),
        "norm/bias": ("const", 0.0),
    }
    tc = 1 / 0.87962566103423978  # the std of N(0,1) cut at +-2 is 0.8796...
    patch_fan = 4 * 4 * 3
    torch_patch = {
        "patch_embed/proj/kernel": ("uniform", 1 / math.sqrt(patch_fan)),
        "patch_embed/proj/bias": ("uniform", 1 / math.sqrt(patch_fan)),
    }
    if mode == "":
        e |= torch_patch | {"head/kernel": ("trunc", 0.02, -2.0, 2.0), "head/bias": ("const", 0.0)}
    elif mode == "jax":
        s = math.sqrt(1 / patch_fan) * tc
        e |= {
            "patch_embed/proj/kernel": ("trunc", s, -2 * s, 2 * s),
            "patch_embed/proj/bias": ("const", 0.0),
            "head/kernel": ("const", 0.0),
            "head/bias": ("const", head_bias),
        }
    else:
        e |= torch_patch | {
            "head/kernel": ("uniform", _xavier((D, CLASSES))),
            "head/bias": ("const", 0.0),
        }
    for i in range(DEPTH):
        b = f"blocks/{i}/"
        for norm in ("norm1", "norm2"):
            e |= {b + norm + "/scale": ("const", 1.0), b + norm + "/bias": ("const", 0.0)}
        linears = {"attn/qkv": (D, 3 * D), "attn/proj": (D, D), "mlp/fc1": (D, HIDDEN)}
        linears["mlp/fc2"] = (HIDDEN, D)
        for name, shape in linears.items():
            if mode == "":
                e[b + name + "/kernel"] = ("trunc", 0.02, -2.0, 2.0)
            elif mode == "moco" and name == "attn/qkv":
                e[b + name + "/kernel"] = ("uniform", math.sqrt(6 / (3 * D // 3 + D)))
            else:
                e[b + name + "/kernel"] = ("uniform", _xavier(shape))
            mlp_bias = mode == "jax" and "mlp" in name
            e[b + name + "/bias"] = ("normal", 1e-6) if mlp_bias else ("const", 0.0)
    return e


@pytest.mark.parametrize("mode", ["", "jax", "moco"])
def test_timm_vit_matches_timms_formulas(mode):
    head_bias = -math.log(CLASSES) if mode == "jax" else 0.0  # "jax_nlhb"
    _check_formulas(
        VIT, presets.timm_vit(mode, head_bias=head_bias), _vit_expected(mode, head_bias)
    )


def test_timm_default_trunc_normal_is_barely_truncated():
    # timm's trunc_normal_(std=.02) keeps a=-2, b=2 (absolute): at +-100 sigma the draw is a
    # plain N(0, .02^2); a +-2 sigma cut would shrink the std to 0.88 * 0.02 and bound
    # |w| by 0.04. n = 64 * 192 * 2 kernel values: the std is 0.02 within 5 / sqrt(2n).
    params = jt.init(KEY, _nest({k: jax.ShapeDtypeStruct(s, jnp.float32) for k, s in VIT.items()}),
                     presets.timm_vit())  # fmt: skip
    qkv = np.concatenate([np.ravel(params["blocks"][str(i)]["attn"]["qkv"]["kernel"])
                          for i in range(DEPTH)])  # fmt: skip
    assert abs(qkv.std() / 0.02 - 1) <= 5 / math.sqrt(2 * qkv.size)
    assert np.abs(qkv).max() > 0.04  # beyond +-2 sigma: not cut there


def test_timm_moco_qkv_blocks_each_reach_their_own_bound():
    params = _check_formulas(VIT, presets.timm_vit("moco"), _vit_expected("moco"))
    bound = math.sqrt(6 / (D + D))
    for block in np.split(np.asarray(params["blocks/0/attn/qkv/kernel"]), 3, axis=1):
        assert bound * (1 - 10 / block.size) <= np.abs(block).max() <= bound


# torchtitan Llama in Flax naming: dim 64, 4 layers, FFN hidden 192, vocab 1000.
TT_LAYERS, TT_HIDDEN, VOCAB = 4, 192, 1000
TITAN = {"tok_embeddings/embedding": (VOCAB, D), "norm/scale": (D,), "output/kernel": (D, VOCAB)}
for _i in range(TT_LAYERS):
    _b = f"layers/{_i}/"
    TITAN |= {_b + f"attention/{w}/kernel": (D, D) for w in ("wq", "wk", "wv", "wo")}
    TITAN |= {
        _b + "feed_forward/w1/kernel": (D, TT_HIDDEN),
        _b + "feed_forward/w3/kernel": (D, TT_HIDDEN),
    }
    TITAN |= {_b + "feed_forward/w2/kernel": (TT_HIDDEN, D)}
    TITAN |= {_b + "attention_norm/scale": (D,), _b + "ffn_norm/scale": (D,)}


def _titan_expected(depth_init):
    """Transcribed from torchtitan (pytorch/torchtitan @ 018740b),
    torchtitan/models/llama3/model/model.py:
      TransformerBlock.__init__: weight_init_std = 0.02 / (2 * (layer_id + 1)) ** 0.5 if
        depth_init else 0.02 / (2 * n_layers) ** 0.5
      Attention.init_weights: trunc_normal_(wq|wk|wv, mean=0, std=0.02); wo: std=init_std
      FeedForward.init_weights: w1: std=0.02; w2, w3: std=init_std
      Transformer.init_weights: normal_(tok_embeddings.weight); norms reset (ones);
        output: trunc_normal_(std=dim**-0.5, a=-3 std, b=3 std)
    nn.init.trunc_normal_ defaults a=-2, b=2: absolute bounds.
    """
    s_out = D**-0.5
    e = {
        "tok_embeddings/embedding": ("normal", 1.0),
        "norm/scale": ("const", 1.0),
        "output/kernel": ("trunc", s_out, -3 * s_out, 3 * s_out),
    }
    for i in range(TT_LAYERS):
        s = 0.02 / (2 * (i + 1)) ** 0.5 if depth_init else 0.02 / (2 * TT_LAYERS) ** 0.5
        b = f"layers/{i}/"
        e |= {b + f"attention/{w}/kernel": ("trunc", 0.02, -2.0, 2.0) for w in ("wq", "wk", "wv")}
        e |= {b + "attention/wo/kernel": ("trunc", s, -2.0, 2.0)}
        e |= {b + "feed_forward/w1/kernel": ("trunc", 0.02, -2.0, 2.0)}
        e |= {b + f"feed_forward/{w}/kernel": ("trunc", s, -2.0, 2.0) for w in ("w2", "w3")}
        e |= {b + "attention_norm/scale": ("const", 1.0), b + "ffn_norm/scale": ("const", 1.0)}
    return e


@pytest.mark.parametrize("depth_init", [True, False])
def test_torchtitan_llama_matches_torchtitans_formulas(depth_init):
    rules = presets.torchtitan_llama(depth_init=depth_init, num_layers=TT_LAYERS)
    _check_formulas(TITAN, rules, _titan_expected(depth_init))


# ai2-olmo (OLMo 1 naming) in Flax naming: d_model 64, 2 blocks, SwiGLU ff_proj (64, 256)
# whose ff_out takes 128 inputs, vocab 1000, untied output "transformer/ff_out".
OLMO = {"transformer/wte/embedding": (VOCAB, D), "transformer/ff_out/kernel": (D, VOCAB)}
for _i in range(2):
    _b = f"transformer/blocks/{_i}/"
    OLMO |= {_b + "att_proj/kernel": (D, 3 * D), _b + "attn_out/kernel": (D, D)}
    OLMO |= {_b + "ff_proj/kernel": (D, 256), _b + "ff_out/kernel": (128, D)}


def _olmo_expected():
    """Transcribed from ai2-olmo (allenai/OLMo @ ce5f30d), olmo/initialization.py lines 46-50:
      std = std_factor / math.sqrt(d); if layer_id is not None: std /= sqrt(2 * (layer_id + 1))
      nn.init.trunc_normal_(weight, mean=0.0, std=std, a=-3 * std, b=3 * std)
    with, in olmo/model.py: OLMo.reset_parameters: wte (std_factor 1, d = d_model),
    ff_out (final, d = d_model); OLMoSequentialBlock.reset_parameters: att_proj, ff_proj
    (d = d_model, layer_id None); OLMoBlock.reset_parameters: attn_out (d = d_model,
    layer_id), ff_out (d = ff_out.in_features, layer_id).
    """

    def tn(std):
        return ("trunc", std, -3 * std, 3 * std)

    e = {"transformer/wte/embedding": tn(D**-0.5), "transformer/ff_out/kernel": tn(D**-0.5)}
    for i in range(2):
        b = f"transformer/blocks/{i}/"
        depth = math.sqrt(2 * (i + 1))
        e |= {b + "att_proj/kernel": tn(D**-0.5), b + "ff_proj/kernel": tn(D**-0.5)}
        e |= {
            b + "attn_out/kernel": tn(D**-0.5 / depth),
            b + "ff_out/kernel": tn(128**-0.5 / depth),
        }
    return e


def test_olmo_mitchell_matches_ai2_olmos_formulas():
    rules = presets.olmo("mitchell", patterns={"head": "transformer/ff_out/kernel"})
    _check_formulas(OLMO, rules, _olmo_expected())


# ----------------------------------------------------------------------------- API


def test_patterns_override_a_role_and_its_bias():
    spec = _nest({
        "blk/my_out/kernel": jax.ShapeDtypeStruct((64, 64), jnp.float32),
        "blk/my_out/bias": jax.ShapeDtypeStruct((64,), jnp.float32),
    })  # fmt: skip
    rules = presets.timm_vit("jax", patterns={"mlp_out": "*/my_out/kernel"})
    params = jt.init(KEY, spec, rules)
    bias = np.asarray(params["blk"]["my_out"]["bias"])
    assert (bias != 0).all() and bias.std() < 1e-5  # mlp_out_bias: N(0, 1e-12), not zeros


def test_zero_row_negative_index():
    e = presets.zero_row(jax_inits.normal(1.0), -1)(KEY, (6, 4))
    assert (np.asarray(e)[-1] == 0).all() and (np.asarray(e)[:-1] != 0).all()


@pytest.mark.parametrize(
    ("call", "exc", "message"),
    [
        (lambda: presets.hf_gpt2(0), ValueError, r"^presets.hf_gpt2: `num_layers` must be > 0"),
        (lambda: presets.hf_llama(-1.0), ValueError, r"^presets.hf_llama: `initializer_range`"),
        (lambda: presets.timm_vit("mae"), ValueError, r"^presets.timm_vit: `mode` must be one of"),
        (lambda: presets.olmo("x"), ValueError, r"^presets.olmo: `variant` must be one of"),
        (
            lambda: presets.torchtitan_llama(depth_init=False),
            ValueError,
            r"^presets.torchtitan_llama: `num_layers` must be given when depth_init=False",
        ),
        (
            lambda: presets.hf_bert(patterns={"mlp": "*"}),
            ValueError,
            r"^presets.hf_bert: `patterns` has the unknown role 'mlp'",
        ),
        (
            lambda: presets.hf_bert(patterns={"q": 3}),
            TypeError,
            r"^presets.hf_bert: `patterns\['q'\]` must be a glob string",
        ),
        (
            lambda: presets.timm_vit("jax", patterns={"head": lambda p, leaf: False}),
            TypeError,
            r"^presets.timm_vit: cannot derive the pattern of `head_bias`",
        ),
        (lambda: presets.zero_row(3, 0), TypeError, r"^zero_row: `init` must be an init"),
    ],
)
def test_errors(call, exc, message):
    with pytest.raises(exc, match=message):
        call()


def test_depth_scaled_rule_without_a_layer_index_says_so():
    spec = {"attention": {"wo": {"kernel": jax.ShapeDtypeStruct((8, 8), jnp.float32)}}}
    with pytest.raises(ValueError, match=r"needs a block index, and the `layer` pattern"):
        jt.init(KEY, spec, presets.torchtitan_llama())


# --- issue 25.4: every rule list pickles, every rule value is a value -------------------

_PRESET_CALLS = {
    "torch_defaults": lambda: jax_inits.presets.torch_defaults(),
    "torch_defaults_mha": lambda: jax_inits.presets.torch_defaults(multihead_attention=True),
    "hf_llama_padding": lambda: jax_inits.presets.hf_llama(padding_idx=0),
    "hf_bert": lambda: jax_inits.presets.hf_bert(),
    "hf_gpt2": lambda: jax_inits.presets.hf_gpt2(num_layers=2),
    "hf_t5": lambda: jax_inits.presets.hf_t5(64, 16),
    "timm_vit": lambda: jax_inits.presets.timm_vit(),
    "torchtitan_llama": lambda: jax_inits.presets.torchtitan_llama(),
    "olmo_mitchell": lambda: jax_inits.presets.olmo("mitchell"),
    "olmo_hf": lambda: jax_inits.presets.olmo("hf", padding_idx=1),
}


@pytest.mark.parametrize("name", sorted(_PRESET_CALLS))
def test_every_preset_rule_list_pickles_and_its_values_round_trip_through_configs(name):
    import pickle

    from jax_inits._src.tree import Deferred

    rules = _PRESET_CALLS[name]()
    assert pickle.loads(pickle.dumps(rules)) is not None  # local closures would raise
    for _, init in rules:
        if isinstance(init, Deferred):  # built per leaf: no config of its own
            continue
        config = init.config
        assert jax_inits.from_config(json.loads(json.dumps(config))) == init, (name, config)


def test_zero_row_is_a_value_with_config_formula_and_target_std():
    init = jax_inits.presets.zero_row(jax_inits.normal(0.02), 1)
    assert init.config == {
        "name": "zero_row",
        "args": {"init": {"name": "normal", "args": {"stddev": 0.02}}, "index": 1},
    }
    assert jax_inits.from_config(init.config) == init
    assert init.formula == "N(0, 0.02^2), row 1 = 0"
    # 4 rows, one of them zero: E[w^2] = 0.02^2 * 3/4 (the mean is 0).
    assert init.target_std((4, 8)) == pytest.approx(0.02 * (3 / 4) ** 0.5)
    w = init(jax.random.key(0), (4, 8))
    assert (w[1] == 0).all() and (w[0] != 0).all()


# --- issue 23.2: presets as tables ----------------------------------------------------------

_GENERAL = {  # a general role and the specific roles that it would shadow
    "kernel": set(presets_src.KERNEL_ROLES),
    "bias": {f"{r}_bias" for r in presets_src.KERNEL_ROLES} | {"norm_bias"},
    "embedding": {"token_embedding", "rel_bias"},
}


def _shadowed(table):
    """Rows that can never match: a specific role after the general role covering it."""
    roles = [role for role, _ in table.rows]
    return [
        role
        for general, specific in _GENERAL.items()
        if general in roles
        for role in roles[roles.index(general) + 1 :]
        if role in specific
    ]


def _tables():
    found = {n: t for n, t in vars(presets_src).items() if isinstance(t, presets_src.Table)}
    found.update({f"_VIT_TABLES[{m!r}]": t for m, t in presets_src._VIT_TABLES.items()})
    return found


def test_every_table_row_is_reachable():
    tables = _tables()
    assert len(tables) >= 10, sorted(tables)
    for name, table in tables.items():
        assert not _shadowed(table), (name, _shadowed(table))
    # The check sees a shadowed row:
    bad = presets_src.Table((("kernel", "base"), ("q", "base")))
    assert _shadowed(bad) == ["q"]


def test_table_rejects_unknown_roles_when_built():
    with pytest.raises(ValueError, match=r"presets.Table: unknown roles \['mlp'\]"):
        presets_src.Table((("mlp", "base"),))


# --- issue 30.4, 30.9: scanned presets ----------------------------------------------------


def test_a_scanned_prefix_that_matches_nothing_is_an_error():
    # 30.4: the stacked (6, 64, 128) kernel was drawn as one tensor, std sqrt(2 / (L d))
    spec = {"layers": {"fc": {"kernel": jax.ShapeDtypeStruct((6, 8, 16), jnp.float32)}}}
    rules = jt.scanned([("*", jax_inits.he_normal())], "layer")
    with pytest.raises(
        ValueError,
        match=r"^tree.init: the `tree.scanned` prefix 'layer' matches no leaf, .* give the "
        r"stack's path as `prefix`. The paths are \['layers/fc/kernel'\]",
    ):
        jt.init(KEY, spec, rules)
    with pytest.raises(ValueError, match=r"^tree.reinit: the `tree.scanned` prefix 'layer'"):
        jt.reinit({"layers": {"fc": {"kernel": jnp.zeros((2, 2))}}}, KEY, rules)


_STACKED_WO = {"layers": {"attention": {"wo": {"kernel": jax.ShapeDtypeStruct((2, 8, 8), F32)}}}}


def test_a_depth_scaled_preset_on_a_stacked_leaf_names_tree_scanned():
    with pytest.raises(ValueError, match=r"jax_inits.tree.scanned\(rules, 'layers'\)"):
        jt.init(KEY, _STACKED_WO, presets.torchtitan_llama())


@pytest.mark.parametrize(
    "name", ["torchtitan_llama", pytest.param("hf_bert", marks=pytest.mark.slow)]
)
def test_scanned_preset_rule_lists_pickle(name):
    # 30.9: scanned's rules were local closures
    import pickle

    rules = jt.scanned(_PRESET_CALLS[name](), "layers")
    again = pickle.loads(pickle.dumps(rules))
    kernel = lambda r: jt.init(KEY, _STACKED_WO, r)["layers"]["attention"]["wo"]["kernel"]  # noqa: E731
    np.testing.assert_array_equal(kernel(again), kernel(rules))
