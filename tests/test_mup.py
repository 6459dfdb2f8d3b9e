"""jax_inits.mup against microsoft/mup 1.0.0 (run for real in torch) and its own spec."""

import functools
import math
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jax_inits
import jax_inits.mup
import jax_inits.tree
from jax_inits import pytorch as jpt
from jax_inits._src import _jax_compat as compat

WIDTHS = (64, 256, 1024)
BASE, DELTA = 64, 128


def _sds(*shape):
    return jax.ShapeDtypeStruct(shape, jnp.float32)


# ----------------------------------------------------------------------------- torch models


def _torch_models():
    torch = pytest.importorskip("torch")
    mup = pytest.importorskip("mup")
    nn = torch.nn

    class MLP(nn.Module):
        def __init__(self, w):
            super().__init__()
            self.fc1 = nn.Linear(32, w)
            self.fc2 = nn.Linear(w, w)
            self.readout = mup.MuReadout(w, 10)

        def forward(self, x):
            return self.readout(torch.relu(self.fc2(torch.relu(self.fc1(x)))))

    class Block(nn.Module):
        def __init__(self, w):
            super().__init__()
            self.ln1 = nn.LayerNorm(w)
            self.q, self.k, self.v, self.o = (nn.Linear(w, w) for _ in range(4))
            self.ln2 = nn.LayerNorm(w)
            self.fc1 = nn.Linear(w, 4 * w)
            self.fc2 = nn.Linear(4 * w, w)

    class Transformer(nn.Module):
        def __init__(self, w):
            super().__init__()
            self.emb = nn.Embedding(50, w)
            self.blocks = nn.ModuleList([Block(w) for _ in range(2)])
            self.ln_f = nn.LayerNorm(w)
            self.readout = mup.MuReadout(w, 50)

    return torch, mup, {"mlp": MLP, "transformer": Transformer}


MLP_RULES = [
    ("fc1/bias", jpt.linear_bias_default(32)),
    ("*/bias", jpt.linear_bias_default(BASE)),
    ("*/kernel", jpt.linear_default()),
]
TRANSFORMER_RULES = [
    ("*ln*/scale", jax_inits.ones),
    ("*ln*/bias", jax_inits.zeros),
    ("emb/embedding", jpt.embedding_default()),
    ("*/fc2/bias", jpt.linear_bias_default(4 * BASE)),
    ("*/bias", jpt.linear_bias_default(BASE)),
    ("*/kernel", jpt.linear_default()),
]
RULES = {"mlp": MLP_RULES, "transformer": TRANSFORMER_RULES}


def _jax_spec(torch, model):
    """The jax spec of a torch model, and torch name -> jax path (Linear weights transposed)."""
    spec, names = {}, {}
    for name, param in model.named_parameters():
        *parents, last = name.split(".")
        module = model.get_submodule(".".join(parents))
        shape = tuple(param.shape)
        if isinstance(module, torch.nn.Linear) and last == "weight":
            leaf, shape = "kernel", shape[::-1]
        elif isinstance(module, torch.nn.Embedding):
            leaf = "embedding"
        elif isinstance(module, torch.nn.LayerNorm) and last == "weight":
            leaf = "scale"
        else:
            leaf = last
        node = spec
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = _sds(*shape)
        names[name] = "/".join([*parents, leaf])
    return spec, names


def _torch_default_std(torch, module, last, shape):
    """The std torch's default init gives (torch docs), before mup rescales it."""
    if isinstance(module, torch.nn.Linear):  # U(-1/sqrt(fan_in), 1/sqrt(fan_in))
        return 1 / math.sqrt(3 * module.in_features)
    if isinstance(module, torch.nn.Embedding):  # N(0, 1)
        return 1.0
    return 0.0  # LayerNorm: ones and zeros


@pytest.fixture(scope="module", params=[(m, w) for m in ("mlp", "transformer") for w in WIDTHS])
def compared(request):
    """mup's view of a model (set_base_shapes, MuAdam/MuSGD groups) next to ours."""
    kind, width = request.param
    torch, mup, makers = _torch_models()
    torch.manual_seed(0)
    make = makers[kind]
    model, base, delta = make(width), make(BASE), make(DELTA)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    mup.set_base_shapes(model, base, delta=delta)
    params = dict(model.named_parameters())

    def groups(optimizer):
        out = {}
        for group in optimizer(model.parameters(), lr=1.0, weight_decay=1.0).param_groups:
            for p in group["params"]:
                out[id(p)] = (group["lr"], group["weight_decay"])
        return {n: out[id(p)] for n, p in params.items()}

    spec, names = _jax_spec(torch, model)
    base_spec, _ = _jax_spec(torch, base)
    delta_spec, _ = _jax_spec(torch, delta)
    p = jax_inits.mup.parametrize(
        spec, base_spec, delta=delta_spec, readout="readout/*", init=RULES[kind]
    )
    return {
        "torch": torch,
        "model": model,
        "before": before,
        "params": params,
        "adam": groups(mup.MuAdam),
        "sgd": groups(mup.MuSGD),
        "names": names,
        "p": p,
        "width": width,
    }


def test_learning_rate_and_weight_decay_multipliers_match_mup(compared):
    p, names = compared["p"], compared["names"]
    assert set(p.table) == set(names.values())
    for name, path in names.items():
        row = p.table[path]
        for opt in ("adam", "sgd"):
            lr, wd = compared[opt][name]
            got = (getattr(row, f"{opt}_lr"), getattr(row, f"{opt}_wd"))
            # mup computes the same ratios of the same integers: equal up to rounding.
            np.testing.assert_allclose(got, (lr, wd), rtol=1e-12, err_msg=f"{opt} {path}")


def test_readout_forward_multiplier_matches_mureadout(compared):
    readout = compared["model"].readout
    want = readout.output_mult / readout.width_mult()
    assert compared["p"].forward_mult == {"readout/kernel": pytest.approx(want, rel=1e-12)}
    assert compared["p"].table["readout/bias"].forward_mult == 1.0


def test_init_std_matches_mup_rescaled_torch_init(compared):
    torch, model, p = compared["torch"], compared["model"], compared["p"]
    for name, param in compared["params"].items():
        row = p.table[compared["names"][name]]
        *parents, last = name.split(".")
        module = model.get_submodule(".".join(parents))
        before = compared["before"][name]
        # The factor set_base_shapes applied, read off the tensors (exact: x * c / x).
        nonzero = before != 0
        factor = (param.detach()[nonzero] / before[nonzero]).double()
        factor = float(factor.mean()) if factor.numel() else 1.0
        want = factor * _torch_default_std(torch, module, last, tuple(param.shape))
        np.testing.assert_allclose(row.init_std, want, rtol=1e-6, err_msg=name)
        n = param.numel()
        if n >= 1024 and want > 0:
            # Sample std of mup's initialized tensor: relative sd sqrt((kurtosis - 1) / 4n)
            # <= sqrt(0.5 / n) for uniform and normal; 5 sd of it.
            std = float(param.detach().double().std())
            assert abs(std / row.init_std - 1) < 5 * math.sqrt(0.5 / n), (name, std)


def test_roles(compared):
    table = compared["p"].table
    assert table["readout/kernel"].role == "readout"
    assert table["readout/bias"].role == "readout_bias"
    assert table["fc1/kernel" if "fc1/kernel" in table else "emb/embedding"].role == "input"
    hidden = "fc2/kernel" if "fc2/kernel" in table else "blocks/0/q/kernel"
    # Width axes come from base vs delta, so at width 64 (= base) the roles are the same.
    assert table[hidden].role == "hidden" and table[hidden].width_mult == compared["width"] / BASE


def test_init_creates_the_table_std():
    spec = {"fc1": {"kernel": _sds(32, 1024)}, "fc2": {"kernel": _sds(1024, 1024)}}
    spec["readout"] = {"kernel": _sds(1024, 10), "bias": _sds(10)}
    base = {"fc1": {"kernel": _sds(32, 64)}, "fc2": {"kernel": _sds(64, 64)}}
    base["readout"] = {"kernel": _sds(64, 10), "bias": _sds(10)}
    p = jax_inits.mup.parametrize(
        spec,
        base,
        readout="readout/*",
        init=[("*/bias", jax_inits.zeros), ("*", jax_inits.lecun_normal())],
    )
    params = p.init(jax.random.key(0))
    for path, leaf in zip(jax_inits.tree.leaf_paths(params), jax.tree.leaves(params), strict=True):
        row = p.table[path]
        if leaf.size >= 1024:
            # n >= 10240 normal draws: relative sd of the sample std sqrt(1 / 2n) < 0.007.
            assert abs(float(leaf.std()) / row.init_std - 1) < 5 * math.sqrt(0.5 / leaf.size)
    # The readout keeps the base width's std 1/sqrt(64).
    assert p.table["readout/kernel"].init_std == pytest.approx(1 / 8, rel=1e-6)
    again = jax_inits.tree.init(jax.random.key(0), spec, p.rules)
    jax.tree.map(np.testing.assert_array_equal, params, again)


def _mlp(w):
    return {
        "fc1": {"kernel": _sds(32, w), "bias": _sds(w)},
        "fc2": {"kernel": _sds(w, w), "bias": _sds(w)},
        "head": {"kernel": _sds(w, 10), "bias": _sds(10)},
    }


INIT = [("*/bias", jax_inits.zeros), ("*", jax_inits.lecun_normal())]


def test_sp_has_every_multiplier_one_and_the_plain_init():
    p = jax_inits.mup.parametrize(_mlp(1024), _mlp(64), readout="head/*", init=INIT, scheme="sp")
    for row in p.table.values():
        assert (row.adam_lr, row.adam_wd, row.sgd_lr, row.sgd_wd) == (1, 1, 1, 1)
        assert row.forward_mult == 1 and row.init_scale == 1
    assert p.table["head/kernel"].init_std == pytest.approx(1 / 32, rel=1e-6)
    assert p.attention_scale(64) == pytest.approx(1 / 8)


def test_spectral_scaling():
    spec = {"up": {"kernel": _sds(256, 1024)}, "down": {"kernel": _sds(1024, 256)}}
    base = {"up": {"kernel": _sds(64, 256)}, "down": {"kernel": _sds(256, 64)}}
    spec["head"], base["head"] = {"kernel": _sds(256, 10)}, {"kernel": _sds(64, 10)}
    spec["scale"], base["scale"] = _sds(256), _sds(64)
    p = jax_inits.mup.parametrize(
        spec,
        base,
        readout="head/*",
        init=[("scale", jax_inits.ones), ("*", jax_inits.lecun_normal())],
        scheme="spectral",
    )
    up, down, head = p.table["up/kernel"], p.table["down/kernel"], p.table["head/kernel"]
    # sigma = 1/sqrt(fan_in) * min(1, sqrt(fan_out / fan_in)), written out per shape.
    assert up.init_std == pytest.approx(1 / 16, rel=1e-6)
    assert down.init_std == pytest.approx(1 / 32 * 0.5, rel=1e-6)
    assert head.init_std == pytest.approx(1 / 16 * math.sqrt(10 / 256), rel=1e-6)
    # SGD lr ~ fan_out / fan_in and Adam lr ~ 1 / fan_in, both 1 at the base shape.
    assert (up.sgd_lr, down.sgd_lr, head.sgd_lr) == (1.0, 1.0, 0.25)
    assert (up.adam_lr, down.adam_lr, head.adam_lr) == (0.25, 0.25, 0.25)
    assert (up.adam_wd, head.sgd_wd) == (4.0, 4.0)
    assert head.forward_mult == 1.0 and p.attention_scale(64) == pytest.approx(1 / 64)
    row = p.table["scale"]
    assert (row.adam_lr, row.sgd_lr, row.init_std) == (1.0, 1.0, 0.0)
    params = p.init(jax.random.key(1))
    # 262144 draws: relative sd of the sample std sqrt(1 / 2n) = 0.0014; 5 sd.
    assert float(params["down"]["kernel"].std()) == pytest.approx(1 / 64, rel=0.007)


def test_spectral_needs_a_stated_std():
    spec, base = {"head": {"kernel": _sds(256, 10)}}, {"head": {"kernel": _sds(64, 10)}}
    with pytest.raises(ValueError, match=r"scheme 'spectral' sets the std of the leaf at path"):
        jax_inits.mup.parametrize(
            spec,
            base,
            readout="head/*",
            init=[("*", jax.nn.initializers.lecun_normal())],
            scheme="spectral",
        )


def test_mup_attention_scale_and_zero_readout():
    p = jax_inits.mup.parametrize(
        _mlp(256), _mlp(64), readout="head/*", init=INIT, readout_zero_init=True, output_mult=2.0
    )
    assert p.attention_scale(64) == pytest.approx(1 / 64)
    assert p.attention_scale(64, attn_mult=8.0) == pytest.approx(1 / 8)
    assert p.forward_mult == {"head/kernel": 0.5}
    params = p.init(jax.random.key(0))
    assert not np.any(params["head"]["kernel"]) and p.table["head/kernel"].init_std == 0.0


def test_multipliers_tree_and_rules_reinit():
    p = jax_inits.mup.parametrize(_mlp(256), _mlp(64), readout="head/*", init=INIT)
    lrs = p.multipliers("adam_lr")
    assert lrs["fc2"]["kernel"] == 0.25 and lrs["fc1"]["kernel"] == 1.0
    params = p.init(jax.random.key(0))
    again = jax_inits.tree.reinit(params, jax.random.key(0), p.rules)
    jax.tree.map(np.testing.assert_array_equal, params, again)


# ----------------------------------------------------------------------------- optax


def test_scale_updates_multiplies_each_leaf():
    optax = pytest.importorskip("optax")
    p = jax_inits.mup.parametrize(_mlp(256), _mlp(64), readout="head/*", init=INIT)
    params = p.init(jax.random.key(0))
    grads = jax.tree.map(jnp.ones_like, params)
    for opt in ("adam", "sgd"):
        tx = optax.chain(optax.sgd(1.0), p.scale_updates(opt))
        updates, _ = tx.update(grads, tx.init(params), params)
        want = p.multipliers(f"{opt}_lr")
        jax.tree.map(
            lambda u, m: np.testing.assert_allclose(u, -m * jnp.ones_like(u)), updates, want
        )


@pytest.mark.parametrize("opt", ["adam", "sgd"])
def test_one_step_equals_mup_optimizers(opt):
    """One step of MuAdam/MuSGD (coupled weight decay) == optax with our multipliers."""
    torch, mup, makers = _torch_models()
    optax = pytest.importorskip("optax")
    torch.manual_seed(1)
    model, base, delta = makers["mlp"](256), makers["mlp"](BASE), makers["mlp"](DELTA)
    mup.set_base_shapes(model, base, delta=delta)
    spec, names = _jax_spec(torch, model)
    p = jax_inits.mup.parametrize(
        spec,
        _jax_spec(torch, base)[0],
        delta=_jax_spec(torch, delta)[0],
        readout="readout/*",
        init=MLP_RULES,
    )
    lr, wd = 0.01, 0.1

    def to_jax(t, name):
        a = t.detach().numpy()
        return jnp.asarray(a.T if p.table[names[name]].role != "vector" and a.ndim == 2 else a)

    def tree_of(values):
        out = {}
        for name, value in values.items():
            *parents, leaf = names[name].split("/")
            out.setdefault(parents[0], {})[leaf] = value
        return out

    x = torch.randn(16, 32, generator=torch.Generator().manual_seed(2))
    loss = model(x).square().mean()
    loss.backward()
    params = tree_of({n: to_jax(t, n) for n, t in model.named_parameters()})
    grads = tree_of({n: to_jax(t.grad, n) for n, t in model.named_parameters()})
    make = {"adam": mup.MuAdam, "sgd": mup.MuSGD}[opt]
    step = make(model.parameters(), lr=lr, weight_decay=wd)
    step.step()
    base_opt = optax.adam(lr, eps=1e-8) if opt == "adam" else optax.sgd(lr)
    tx = optax.chain(p.add_decayed_weights(wd, opt), base_opt, p.scale_updates(opt))
    with jax.numpy_dtype_promotion("standard"):  # optax's bias correction mixes int and float
        updates, _ = tx.update(grads, tx.init(params), params)
    new = optax.apply_updates(params, updates)
    want = tree_of({n: to_jax(t, n) for n, t in model.named_parameters()})
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7), new, want)


# ----------------------------------------------------------------------------- errors


def _p(spec, base, **kwargs):
    kwargs.setdefault("readout", "head/*")
    kwargs.setdefault("init", INIT)
    return jax_inits.mup.parametrize(spec, base, **kwargs)


def test_error_structure_differs():
    base = _mlp(64)
    del base["fc2"]
    with pytest.raises(ValueError, match=r"`base` must have the structure of `spec`.*'fc2/bias'"):
        _p(_mlp(256), base)
    with pytest.raises(ValueError, match=r"`delta` must have the structure of `spec`"):
        _p(_mlp(256), _mlp(64), delta=base)


def test_error_readout_matches_nothing():
    with pytest.raises(ValueError, match=r"the `readout` pattern 'out/\*' matches no leaf"):
        _p(_mlp(256), _mlp(64), readout="out/*")
    with pytest.raises(TypeError, match=r"`readout` must be a pattern"):
        _p(_mlp(256), _mlp(64), readout=3)


def test_error_width_shrinks():
    with pytest.raises(ValueError, match=r"width axis 1 of the leaf at path 'fc1/bias'|shrinks"):
        _p(_mlp(32), _mlp(64))
    with pytest.raises(ValueError, match=r"shrinks from 64 in `base` to 32 in `delta`"):
        _p(_mlp(256), _mlp(64), delta=_mlp(32))


def test_error_more_than_two_width_axes():
    spec, base = {"head": {"kernel": _sds(8, 8)}}, {"head": {"kernel": _sds(4, 4)}}
    spec["w"], base["w"] = _sds(256, 256, 256), _sds(64, 64, 64)
    with pytest.raises(ValueError, match=r"path 'w' has 3 width axes \(0, 1, 2\)"):
        _p(spec, base, init=[("*", jax_inits.lecun_normal())])


def test_error_width_in_a_batch_axis_and_fixed_axis_changes():
    spec, base = {"head": {"kernel": _sds(8, 8)}}, {"head": {"kernel": _sds(4, 4)}}
    spec["w"], base["w"] = _sds(256, 3, 3), _sds(64, 3, 3)
    with pytest.raises(ValueError, match=r"has a width axis among its leading batch axes \(0,\)"):
        _p(spec, base, init=[("*", jax_inits.lecun_normal())])
    with pytest.raises(ValueError, match=r"axis 0 of the leaf at path 'fc1/kernel' is not a width"):
        spec = _mlp(256)
        spec["fc1"]["kernel"] = _sds(33, 256)
        _p(spec, _mlp(64), delta=_mlp(128))


def test_error_output_layer_not_a_readout():
    with pytest.raises(ValueError, match=r"'head/kernel'.*no `readout` pattern matches it"):
        _p(_mlp(256), _mlp(64), readout="fc1/*")


def test_error_bad_scheme_and_missing_rule():
    with pytest.raises(ValueError, match=re.escape("`scheme` must be one of ('mup', 'spectral'")):
        _p(_mlp(256), _mlp(64), scheme="ntk")
    with pytest.raises(ValueError, match=r"no rule matches the leaf at path 'fc1/bias'"):
        _p(_mlp(256), _mlp(64), init=[("*/kernel", jax_inits.lecun_normal())])
    p = _p(_mlp(256), _mlp(64))
    with pytest.raises(ValueError, match=r"`optimizer` must be one of \('adam', 'sgd'\)"):
        p.scale_updates("lion")
    with pytest.raises(ValueError, match=r"`weight_decay` must be >= 0"):
        p.add_decayed_weights(-1.0)
    with pytest.raises(ValueError, match=r"`head_dim` must be >= 1, got 0"):
        p.attention_scale(0)
    with pytest.raises(ValueError, match=r"`kind` must be one of"):
        p.multipliers("lr")


def test_unequal_width_multipliers_match_mup():
    """Two widths scaled differently (m_in = 4, m_out = 16): MuSGD's fan-in/fan-out ratio."""
    torch, mup, _ = _torch_models()
    nn = torch.nn

    class TwoWidths(nn.Module):
        def __init__(self, w1, w2):
            super().__init__()
            self.fc1 = nn.Linear(32, w1)
            self.fc2 = nn.Linear(w1, w2)
            self.readout = mup.MuReadout(w2, 10)

    torch.manual_seed(0)
    model = TwoWidths(256, 1024)
    base, delta = TwoWidths(64, 64), TwoWidths(128, 128)
    mup.set_base_shapes(model, base, delta=delta)
    spec, names = _jax_spec(torch, model)
    p = jax_inits.mup.parametrize(
        spec,
        _jax_spec(torch, base)[0],
        delta=_jax_spec(torch, delta)[0],
        readout="readout/*",
        init=MLP_RULES,
    )
    for make, opt in ((mup.MuAdam, "adam"), (mup.MuSGD, "sgd")):
        for group in make(model.parameters(), lr=1.0, weight_decay=1.0).param_groups:
            for param in group["params"]:
                name = next(n for n, q in model.named_parameters() if q is param)
                row = p.table[names[name]]
                got = (getattr(row, f"{opt}_lr"), getattr(row, f"{opt}_wd"))
                want = (group["lr"], group["weight_decay"])
                np.testing.assert_allclose(got, want, rtol=1e-12, err_msg=f"{opt} {name}")
    assert p.table["fc2/kernel"].sgd_lr == 4.0  # m_out / m_in = 16 / 4
    assert p.forward_mult["readout/kernel"] == pytest.approx(1 / 16)


@pytest.mark.slow  # a training loop of the guide; the guide block itself runs in test_docs
def test_flax_nnx_model_as_in_the_guide():
    """nnx.eval_shape specs, p.init into the model, and Adam's first step scaled per leaf."""
    nnx = pytest.importorskip("flax.nnx")
    optax = pytest.importorskip("optax")

    class MLP(nnx.Module):
        def __init__(self, width, *, rngs, readout_mult=1.0):
            self.hidden1 = nnx.Linear(64, width, rngs=rngs)
            self.hidden2 = nnx.Linear(width, width, rngs=rngs)
            self.output = nnx.Linear(width, 10, rngs=rngs)
            self.readout_mult = readout_mult

        def __call__(self, x):
            h = nnx.relu(self.hidden1(x))
            h = nnx.relu(self.hidden2(h))
            return self.output(h * self.readout_mult)

    def shapes(width):
        return nnx.state(nnx.eval_shape(lambda: MLP(width, rngs=nnx.Rngs(0))), nnx.Param)

    p = jax_inits.mup.parametrize(
        shapes(256),
        shapes(64),
        readout="output/*",
        init=[("*/bias", jax_inits.zeros), ("*/kernel", jax_inits.lecun_normal())],
    )
    assert p.table["hidden2/kernel"].role == "hidden"
    model = MLP(256, rngs=nnx.Rngs(0), readout_mult=p.forward_mult["output/kernel"])
    nnx.update(model, p.init(jax.random.key(0)))
    state = nnx.state(model, nnx.Param)
    before = dict(zip(jax_inits.tree.leaf_paths(state), jax.tree.leaves(state), strict=True))
    lr = 1e-3
    optimizer = nnx.Optimizer(
        model, optax.chain(optax.adam(lr), p.scale_updates("adam")), wrt=nnx.Param
    )
    x = jax.random.normal(jax.random.key(1), (32, 64))
    y = jnp.arange(32) % 10

    def loss_fn(model):
        logits = model(x)
        return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()

    with jax.numpy_dtype_promotion("standard"):
        grads = nnx.grad(loss_fn)(model)
        optimizer.update(model, grads)
    state = nnx.state(model, nnx.Param)
    after = dict(zip(jax_inits.tree.leaf_paths(state), jax.tree.leaves(state), strict=True))
    # Adam's first step moves each entry by lr * g / (|g| + eps) ~ lr, times the multiplier.
    for path in ("hidden2/kernel", "hidden1/kernel", "output/kernel"):
        step = jnp.abs(after[path] - before[path])
        biggest = float(step.max())
        assert biggest == pytest.approx(lr * p.table[path].adam_lr, rel=1e-3), path


# ----------------------------------------------------------------------------- depth


def _gpt(w, depth, stacked=True):
    """A pre-LN MLP-only transformer: embedding, ``depth`` blocks, final norm, head."""
    if stacked:
        layers = {
            "layers": {
                "ln": {"scale": _sds(depth, w), "bias": _sds(depth, w)},
                "fc": {"kernel": _sds(depth, w, 4 * w), "bias": _sds(depth, 4 * w)},
                "proj": {"kernel": _sds(depth, 4 * w, w), "bias": _sds(depth, w)},
            }
        }
    else:
        layers = {
            f"layers_{i}": {
                "ln": {"scale": _sds(w), "bias": _sds(w)},
                "fc": {"kernel": _sds(w, 4 * w), "bias": _sds(4 * w)},
                "proj": {"kernel": _sds(4 * w, w), "bias": _sds(w)},
            }
            for i in range(depth)
        }
    return {"emb": _sds(50, w), **layers, "ln_f": {"scale": _sds(w), "bias": _sds(w)},
            "head": _sds(w, 50)}  # fmt: skip


GPT_RULES = [
    ("*/scale", jax_inits.ones),
    ("*/bias", jax_inits.zeros),
    ("*", jax_inits.normal(0.02)),  # nanoGPT's init_std
]

# The worked example: width 64 -> 256 (m_N = 4), depth 4 -> 16 (m_L = 4). Expected values by
# hand from Dey et al. 2025, Table 1 and nanoGPT-mup's configure_optimizers (commit 3904404):
#   hidden kernel: std 0.02 / sqrt(m_N); lr m_N^-1 m_L^(a-1); wd m_N; eps m_N^-1 m_L^-a
#   block bias / LN: std as base; lr m_L^(a-1); eps m_N^-1 m_L^-a
#   embedding, final LN, head: std as base; lr 1; eps m_N^-1; head input x 1/m_N
DEPTH_EXAMPLE = {
    # scheme: (residual, hidden lr, hidden eps, block-vector lr, block-vector eps)
    "complete_p": (1 / 4, 1 / 4, 1 / 16, 1.0, 1 / 16),
    "depth_mup": (1 / 2, 1 / 8, 1 / 8, 1 / 2, 1 / 8),
}


@pytest.mark.parametrize("stacked", [True, False], ids=["layer_axis", "blocks_pattern"])
@pytest.mark.parametrize("scheme", sorted(DEPTH_EXAMPLE))
def test_depth_schemes_worked_example(scheme, stacked):
    residual, h_lr, h_eps, v_lr, v_eps = DEPTH_EXAMPLE[scheme]
    if stacked:
        p = jax_inits.mup.parametrize(
            _gpt(256, 16), _gpt(64, 4), readout="head", init=GPT_RULES, scheme=scheme,
            blocks="layers/*", layer_axis=0,
        )  # fmt: skip
        block = "layers"
    else:  # the base is at the target depth; base_depth is a number
        p = jax_inits.mup.parametrize(
            _gpt(256, 16, False), _gpt(64, 16, False), readout="head", init=GPT_RULES,
            scheme=scheme, blocks="layers_*", depth=16, base_depth=4,
        )  # fmt: skip
        block = "layers_3"
    assert p.depth_mult == 4.0
    assert p.residual_mult == pytest.approx(residual, rel=1e-12)
    t = p.table
    for name in ("fc/kernel", "proj/kernel"):
        row = t[f"{block}/{name}"]
        assert row.role == "hidden" and row.in_block
        assert row.init_std == pytest.approx(0.01, rel=1e-12)
        got = (row.adam_lr, row.adam_wd, row.adam_eps)
        np.testing.assert_allclose(got, (h_lr, 4.0, h_eps), rtol=1e-12, err_msg=name)
    for name in ("fc/bias", "proj/bias", "ln/scale", "ln/bias"):
        row = t[f"{block}/{name}"]
        assert row.role == "vector" and row.in_block, name
        np.testing.assert_allclose((row.adam_lr, row.adam_eps), (v_lr, v_eps), rtol=1e-12)
    for name in ("emb", "ln_f/scale", "head"):
        row = t[name]
        assert not row.in_block
        np.testing.assert_allclose((row.adam_lr, row.adam_eps), (1.0, 1 / 4), rtol=1e-12)
    assert t["emb"].init_std == t["head"].init_std == pytest.approx(0.02, rel=1e-12)
    assert p.forward_mult == {"head": 0.25}
    assert p.attention_scale(64) == 1 / 64
    params = p.init(jax.random.key(0))
    fc = params[block]["fc"]["kernel"]
    n = fc.size  # std of n normal samples: relative error ~ 1 / sqrt(2 n); 5 sigma
    assert float(fc.std()) == pytest.approx(0.01, rel=5 / math.sqrt(2 * n))


def test_width_only_schemes_ignore_depth():
    for scheme in ("sp", "mup"):
        p = jax_inits.mup.parametrize(
            _gpt(256, 16), _gpt(64, 4), readout="head", init=GPT_RULES, scheme=scheme,
            blocks="layers/*", layer_axis=0,
        )  # fmt: skip
        assert p.residual_mult == 1.0 and p.depth_mult == 4.0
        assert all(r.adam_eps == 1.0 for r in p.table.values())
        assert p.table["layers/fc/kernel"].adam_lr == (0.25 if scheme == "mup" else 1.0)


def test_per_leaf_eps_by_gradient_scaling_equals_torch_adamw():
    """Two steps of torch AdamW, one param group per leaf (its own lr, eps, weight decay),
    against `Parametrization.adamw`: optax's single eps made per-leaf by gradient scaling.
    In float64 on both sides: in float32 optax's bias correction 1 - 0.999**t alone is off
    by 1e-5 relative (torch computes it in Python floats), which would hide an eps error.
    eps is near sqrt(v) so that a wrong eps shows (checked: one global eps fails)."""
    torch = pytest.importorskip("torch")
    optax = pytest.importorskip("optax")
    p = jax_inits.mup.parametrize(
        _gpt(32, 2), _gpt(16, 1), readout="head", init=GPT_RULES, scheme="complete_p",
        blocks="layers/*", layer_axis=0,
    )  # fmt: skip
    rng = np.random.default_rng(0)
    params = [np.asarray(x, np.float64) for x in jax.tree.leaves(p.init(jax.random.key(0)))]
    grads = [[1e-3 * rng.standard_normal(x.shape) for x in params] for _ in range(2)]
    lr, eps, wd = 1e-2, 1e-3, 0.1
    rows = list(p.table.values())
    tparams = [torch.nn.Parameter(torch.tensor(x)) for x in params]
    groups = [
        {"params": [t], "lr": lr * r.adam_lr, "eps": eps * r.adam_eps}
        | {"weight_decay": wd * r.adam_wd}
        for t, r in zip(tparams, rows, strict=True)
    ]
    opt = torch.optim.AdamW(groups, lr=lr, betas=(0.9, 0.999), eps=eps)
    for g in grads:
        for t, x in zip(tparams, g, strict=True):
            t.grad = torch.tensor(x)
        opt.step()
    want = [t.detach().numpy() for t in tparams]
    treedef = jax.tree.structure(p.spec)

    def run(tx):
        with compat.enable_x64(True), jax.numpy_dtype_promotion("standard"):
            ps = jax.tree.unflatten(treedef, [jnp.asarray(x) for x in params])

            @jax.jit
            def two_steps(ps, grads):
                state = tx.init(ps)
                for g in grads:
                    updates, state = tx.update(g, state, ps)
                    ps = optax.apply_updates(ps, updates)
                return ps

            ps = two_steps(ps, [jax.tree.unflatten(treedef, g) for g in grads])
            return [np.asarray(x) for x in jax.tree.leaves(ps)]

    got = run(p.adamw(lr, eps=eps, weight_decay=wd))
    for a, b, x, r in zip(got, want, params, rows, strict=True):
        assert a.dtype == np.float64
        np.testing.assert_allclose(a - x, b - x, rtol=1e-10, atol=1e-15, err_msg=r.path)
    single_eps = optax.chain(
        optax.scale_by_adam(eps=eps), p.add_decayed_weights(wd), p.scale_updates("adam"),
        optax.scale_by_learning_rate(lr),
    )  # fmt: skip
    worst = max(
        float(np.max(np.abs(a - b) / np.abs(b - x)))
        for a, b, x in zip(run(single_eps), want, params, strict=True)
    )
    assert worst > 1e-3  # the test can fail: one eps for every leaf is visibly different


def _nanogpt_spec(w, depth, vocab=11, block=4):
    """nanoGPT's parameters in jax layout, blocks stacked on axis 0 (lm_head untied)."""
    ln = {"scale": _sds(depth, w), "bias": _sds(depth, w)}
    lin = lambda i, o: {"kernel": _sds(depth, i, o), "bias": _sds(depth, o)}  # noqa: E731
    return {
        "wte": _sds(vocab, w),
        "wpe": _sds(block, w),
        "h": {
            "ln_1": ln,
            "attn": {"c_attn": lin(w, 3 * w), "c_proj": lin(w, w)},
            "ln_2": ln,
            "mlp": {"c_fc": lin(w, 4 * w), "c_proj": lin(4 * w, w)},
        },
        "ln_f": {"scale": _sds(w), "bias": _sds(w)},
        "lm_head": _sds(w, vocab),
    }


def _nanogpt_jax_loss(params, idx, targets, *, p, n_head):
    """The forward pass of nanoGPT-mup's GPT (completep branch) in jax, for one batch."""

    def layer_norm(x, ln):
        mu = x.mean(-1, keepdims=True)
        var = jnp.square(x - mu).mean(-1, keepdims=True)
        return (x - mu) / jnp.sqrt(var + 1e-5) * ln["scale"] + ln["bias"]

    def linear(x, lin):
        return x @ lin["kernel"] + lin["bias"]

    b, t = idx.shape
    x = params["wte"][idx] + params["wpe"][:t][None]
    h = params["h"]
    for i in range(h["ln_1"]["scale"].shape[0]):
        blk = jax.tree.map(lambda a, i=i: a[i], h)
        q, k, v = jnp.split(linear(layer_norm(x, blk["ln_1"]), blk["attn"]["c_attn"]), 3, -1)
        heads = lambda a: a.reshape(b, t, n_head, -1).transpose(0, 2, 1, 3)  # noqa: E731
        q, k, v = heads(q), heads(k), heads(v)
        att = (q @ k.transpose(0, 1, 3, 2)) * p.attention_scale(q.shape[-1])
        att = jnp.where(jnp.tril(jnp.ones((t, t), bool)), att, -jnp.inf)
        y = (jax.nn.softmax(att, -1) @ v).transpose(0, 2, 1, 3).reshape(b, t, -1)
        x = x + p.residual_mult * linear(y, blk["attn"]["c_proj"])
        m = jax.nn.gelu(linear(layer_norm(x, blk["ln_2"]), blk["mlp"]["c_fc"]), approximate=False)
        x = x + p.residual_mult * linear(m, blk["mlp"]["c_proj"])
    x = layer_norm(x, params["ln_f"]) * p.forward_mult["lm_head"]
    logp = jax.nn.log_softmax(x @ params["lm_head"])
    return -jnp.take_along_axis(logp, targets[..., None], -1).mean()


def _nanogpt_torch(torch, w, depth, n_head, alpha, m_n, m_l):
    """A torch model as nanoGPT-mup's completep branch configures it (model.py, commit
    3904404): the same module names, residual scale m_L^-alpha, attention 1/d_head,
    readout input x 1/m_N; LayerNorm eps 1e-5, exact GELU. lm_head is untied."""
    nn, F = torch.nn, torch.nn.functional

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.ln_1, self.ln_2 = nn.LayerNorm(w), nn.LayerNorm(w)
            self.attn = nn.ModuleDict({"c_attn": nn.Linear(w, 3 * w), "c_proj": nn.Linear(w, w)})
            self.mlp = nn.ModuleDict({"c_fc": nn.Linear(w, 4 * w), "c_proj": nn.Linear(4 * w, w)})

        def forward(self, x):
            b, t, c = x.shape
            q, k, v = self.attn["c_attn"](self.ln_1(x)).split(c, dim=2)
            q, k, v = (a.view(b, t, n_head, c // n_head).transpose(1, 2) for a in (q, k, v))
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True, scale=1.0 / k.size(-1))
            y = y.transpose(1, 2).contiguous().view(b, t, c)
            x = x + m_l**-alpha * self.attn["c_proj"](y)
            h = self.mlp["c_proj"](F.gelu(self.mlp["c_fc"](self.ln_2(x))))
            return x + m_l**-alpha * h

    class GPT(nn.Module):
        def __init__(self, vocab=11, block=4):
            super().__init__()
            self.transformer = nn.ModuleDict(
                {
                    "wte": nn.Embedding(vocab, w),
                    "wpe": nn.Embedding(block, w),
                    "h": nn.ModuleList([Block() for _ in range(depth)]),
                    "ln_f": nn.LayerNorm(w),
                }
            )
            self.lm_head = nn.Linear(w, vocab, bias=False)

        def forward(self, idx, targets):
            tr = self.transformer
            x = tr["wte"](idx) + tr["wpe"](torch.arange(idx.shape[1]))
            for block in tr["h"]:
                x = block(x)
            logits = self.lm_head(tr["ln_f"](x) * (1.0 / m_n))
            return F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1))

    return GPT()


def _nanogpt_groups(model, lr, wd, eps, alpha, m_n, m_l):
    """configure_optimizers of nanoGPT-mup (completep branch, commit 3904404): five groups
    by parameter name; train.py sets each group's lr to lr * lr_scale. lm_head (tied to wte
    there) joins the embedding group."""
    groups = {k: [] for k in ("emb", "hidden_ln", "hidden_w", "hidden_b", "final_ln")}
    for n, q in model.named_parameters():
        if n in ("transformer.wte.weight", "transformer.wpe.weight", "lm_head.weight"):
            groups["emb"].append(q)
        elif ".ln_" in n and ".ln_f." not in n:
            groups["hidden_ln"].append(q)
        elif n.endswith(("c_attn.weight", "c_fc.weight", "c_proj.weight")):
            groups["hidden_w"].append(q)
        elif n.endswith(("c_attn.bias", "c_fc.bias", "c_proj.bias")):
            groups["hidden_b"].append(q)
        else:
            assert "ln_f" in n, n
            groups["final_ln"].append(q)
    depth_lr, width_lr = m_l ** (alpha - 1), 1 / m_n
    emb_eps, hidden_eps = eps / m_n, eps / m_n * m_l**-alpha
    settings = {  # weight_decay, lr_scale, eps
        "emb": (wd, 1.0, emb_eps),
        "hidden_ln": (0.0, depth_lr, hidden_eps),
        "hidden_w": (wd / width_lr, width_lr * depth_lr, hidden_eps),
        "hidden_b": (0.0, depth_lr, hidden_eps),
        "final_ln": (0.0, 1.0, emb_eps),
    }
    return [
        {"params": groups[k], "weight_decay": d, "lr": lr * s, "eps": e}
        for k, (d, s, e) in settings.items()
    ]


def _torch_name(path):
    """jax path of _nanogpt_spec -> (torch name, layer index or None, transpose)."""
    parts = path.split("/")
    leaf = {"scale": "weight", "kernel": "weight", "bias": "bias"}
    if parts[0] in ("wte", "wpe"):
        return f"transformer.{parts[0]}.weight", None, False
    if parts[0] == "lm_head":
        return "lm_head.weight", None, True
    if parts[0] == "ln_f":
        return f"transformer.ln_f.{leaf[parts[1]]}", None, False
    mid = ".".join(parts[1:-1])
    return f"transformer.h.{{}}.{mid}.{leaf[parts[-1]]}", 0, parts[-1] == "kernel"


@pytest.mark.parametrize(
    "scheme", ["complete_p", pytest.param("depth_mup", marks=pytest.mark.slow)]
)
def test_one_adamw_step_equals_nanogpt_completep(scheme):
    """One AdamW step of a 2-block GPT (width 32 over base 16, depth 2 over base 1: m_N =
    m_L = 2), our jax model and `Parametrization.adamw` against the torch model and param
    groups of nanoGPT-mup's completep branch, same weights; float64 on both sides."""
    torch = pytest.importorskip("torch")
    optax = pytest.importorskip("optax")
    alpha = {"complete_p": 1.0, "depth_mup": 0.5}[scheme]
    w, depth, n_head = 32, 2, 2
    rules = [("*ln*/scale", jax_inits.ones), ("*/bias", jax_inits.zeros),
             ("*", jax_inits.normal(0.02))]  # fmt: skip
    p = jax_inits.mup.parametrize(
        _nanogpt_spec(w, depth), _nanogpt_spec(16, 1), readout="lm_head", init=rules,
        scheme=scheme, blocks="h/*", layer_axis=0,
    )  # fmt: skip
    params = jax.tree.map(lambda a: np.asarray(a, np.float64), p.init(jax.random.key(0)))
    torch.manual_seed(0)
    model = _nanogpt_torch(torch, w, depth, n_head, alpha, 2.0, 2.0).double()
    named = dict(model.named_parameters())
    with torch.no_grad():
        for path, value in zip(p.table, jax.tree.leaves(params), strict=True):
            name, layer, transpose = _torch_name(path)
            for i in range(depth) if layer is not None else [None]:
                v = value if i is None else value[i]
                named[name.format(i)].copy_(torch.tensor(v.T if transpose else v))
    rng = np.random.default_rng(1)
    idx, targets = rng.integers(0, 11, (3, 4)), rng.integers(0, 11, (3, 4))
    lr, wd, eps = 1e-2, 0.1, 1e-4  # eps near |g|: a wrong eps shows
    opt = torch.optim.AdamW(_nanogpt_groups(model, lr, wd, eps, alpha, 2.0, 2.0), lr=lr, eps=eps)
    loss = model(torch.tensor(idx), torch.tensor(targets))
    loss.backward()
    opt.step()
    decay = jax.tree.unflatten(
        jax.tree.structure(p.spec),
        [r.role in ("hidden", "input", "readout") for r in p.table.values()],
    )
    tx = p.adamw(lr, eps=eps, weight_decay=wd, mask=decay)
    with (
        compat.enable_x64(True),
        jax.numpy_dtype_promotion("standard"),
        jax.numpy_rank_promotion("allow"),  # the model broadcasts (b, t, c) with (c,)
    ):

        @jax.jit
        def step(ps, idx, targets):
            fn = functools.partial(_nanogpt_jax_loss, idx=idx, targets=targets, p=p, n_head=2)
            loss, grads = jax.value_and_grad(fn)(ps)
            updates, _ = tx.update(grads, tx.init(ps), ps)
            return loss, optax.apply_updates(ps, updates)

        jax_loss, new = step(jax.tree.map(jnp.asarray, params), idx, targets)
        new = jax.tree.map(np.asarray, new)
    assert float(jax_loss) == pytest.approx(loss.item(), rel=1e-10)
    for path, value in zip(p.table, jax.tree.leaves(new), strict=True):
        name, layer, transpose = _torch_name(path)
        for i in range(depth) if layer is not None else [None]:
            got = value if i is None else value[i]
            want = named[name.format(i)].detach().numpy()
            np.testing.assert_allclose(got, want.T if transpose else want, rtol=1e-5, atol=1e-12,
                                       err_msg=f"{path} {i}")  # fmt: skip


def test_depth_errors():
    def gp(scheme="complete_p", **kwargs):
        kwargs.setdefault("readout", "head")
        kwargs.setdefault("init", GPT_RULES)
        spec = kwargs.pop("spec", _gpt(64, 4))
        return jax_inits.mup.parametrize(spec, _gpt(32, 2), scheme=scheme, **kwargs)

    with pytest.raises(ValueError, match=r"scheme 'complete_p' needs `blocks`.*layers/\*"):
        gp()
    with pytest.raises(ValueError, match=r"`depth` needs `blocks`, got depth=4"):
        gp("mup", depth=4)
    with pytest.raises(TypeError, match=r"`blocks` must be a pattern .* got 3"):
        gp(blocks=3)
    with pytest.raises(ValueError, match=r"the `blocks` pattern 'blocks/\*' matches no leaf"):
        gp(blocks="blocks/*", layer_axis=0)
    with pytest.raises(ValueError, match=r"scheme 'depth_mup' needs `depth` \(or a `layer_axis`"):
        gp("depth_mup", blocks="layers/*", spec=_gpt(64, 2))
    with pytest.raises(ValueError, match=r"`base_depth` must be >= 1, got 0"):
        gp(blocks="layers/*", depth=2, base_depth=0, spec=_gpt(64, 2))
    with pytest.raises(TypeError, match=r"`depth` must be an integer, got 2.0"):
        gp(blocks="layers/*", depth=2.0, base_depth=1, spec=_gpt(64, 2))
    with pytest.raises(
        ValueError, match=r"`layer_axis` 1 must be a leading axis .*'layers/fc/bias'"
    ):
        gp(blocks="layers/*", layer_axis=1)
    with pytest.raises(ValueError, match=r"`depth` is 8 but the stacked layer axis .* \[4\]"):
        gp(blocks="layers/*", layer_axis=0, depth=8)
    mixed = _gpt(64, 4)
    mixed["layers"]["ln"]["bias"] = _sds(3, 64)
    with pytest.raises(ValueError, match=r"has sizes \[3, 4\] in `spec`; give `depth`"):
        gp(blocks="layers/*", layer_axis=0, spec=mixed)
    no_std = [("*", lambda key, shape, dtype=None: jnp.zeros(shape, dtype))]
    with pytest.raises(ValueError, match=r"scheme 'complete_p' sets the std .* `target_std`"):
        gp(blocks="layers/*", layer_axis=0, init=no_std)


# ----------------------------------------------------------------------------- u-muP


def _unit_scaling():
    torch = pytest.importorskip("torch")
    uu = pytest.importorskip("unit_scaling")
    return torch, uu


def _uu_spec(model):
    """jax spec of a unit-scaling model (Linear weights transposed), torch name -> path."""
    spec, names = {}, {}
    for name, q in model.named_parameters():
        path = name.replace(".", "/")
        shape = tuple(q.shape)
        spec[path] = _sds(*(shape[::-1] if q.ndim == 2 and "emb" not in name else shape))
        names[name] = path
    return spec, names


def _uu_tiny(torch, uu):
    """unit-scaling's own test model (tests/test_optim.py): an embedding, three linears in
    a DepthSequential, a readout."""
    torch.manual_seed(0)
    return torch.nn.ModuleDict(
        {
            "emb": uu.Embedding(256, 16),
            "layers": uu.DepthSequential(*(uu.Linear(16, 16, bias=True) for _ in range(3))),
            "head": uu.LinearReadout(16, 1024),
        }
    )


U_RULES = [("*bias", jax_inits.zeros), ("*weight", jax_inits.ones), ("*", jax_inits.zeros)]


def _u_parametrize(spec, **kwargs):
    return jax_inits.mup.parametrize(spec, scheme="u_mup", init=U_RULES, **kwargs)


@pytest.mark.parametrize("model_name", ["tiny", "transformer_stack"])
def test_u_mup_multipliers_equal_unit_scaling_scaled_parameters(model_name):
    """lr and weight decay of every parameter group of unit_scaling.optim.scaled_parameters
    (Adam and SGD rules, independent weight decay on and off) against the table."""
    torch, uu = _unit_scaling()
    if model_name == "tiny":
        model = _uu_tiny(torch, uu)
        kwargs = dict(readout="head/*", embeddings="emb/*", blocks="layers/*", depth=3)
    else:
        from unit_scaling._modules import TransformerStack

        stack = TransformerStack(layers=2, hidden_size=16, heads=2, is_causal=True)
        norm = uu.LayerNorm(16, elementwise_affine=True)
        model = torch.nn.ModuleDict(
            {"stack": stack, "norm": norm, "head": uu.LinearReadout(16, 32)}
        )
        kwargs = dict(readout="head/*", blocks="stack/*", depth=2)
    spec, names = _uu_spec(model)
    p = _u_parametrize(spec, **kwargs)
    lr, wd = 0.01, 0.1
    funcs = {
        "adam": uu.optim.lr_scale_func_adam,
        "sgd": uu.optim.lr_scale_func_sgd(None),
    }
    for opt, func in funcs.items():
        for independent in (True, False):
            groups = uu.optim.scaled_parameters(
                model.parameters(), func, lr=lr, weight_decay=wd,
                independent_weight_decay=independent,
            )  # fmt: skip
            for group in groups:
                (param,) = group["params"]
                name = next(n for n, q in model.named_parameters() if q is param)
                row = p.table[names[name]]
                c_lr = getattr(row, f"{opt}_lr")
                np.testing.assert_allclose(group["lr"], lr * c_lr, rtol=1e-12, err_msg=name)
                want_wd = wd / (lr * c_lr) if independent else wd
                np.testing.assert_allclose(
                    group["weight_decay"], want_wd * getattr(row, f"{opt}_wd"), rtol=1e-12
                )


def test_u_mup_residual_tau_equals_unit_scaling_rule():
    _, uu = _unit_scaling()
    from unit_scaling._modules import TransformerStack
    from unit_scaling.core.functional import transformer_residual_scaling_rule

    for r, rho in ((1.0, 1.0), (0.5, 2.0), (3.0, 0.25)):
        rule = transformer_residual_scaling_rule(r, rho)
        for layers in (1, 2, 5, 48):
            got = [
                jax_inits.mup.residual_tau(i, 2 * layers, residual_mult=r, residual_attn_ratio=rho)
                for i in range(2 * layers)
            ]
            want = [rule(i, 2 * layers) for i in range(2 * layers)]
            np.testing.assert_allclose(got, want, rtol=1e-14, err_msg=f"{r} {rho} {layers}")
    stack = TransformerStack(layers=3, hidden_size=8, heads=2, is_causal=True)
    taus = [t for layer in stack for t in (layer.mhsa_tau, layer.mlp_tau)]
    np.testing.assert_allclose([jax_inits.mup.residual_tau(i, 6) for i in range(6)], taus)


@pytest.mark.parametrize(("causal", "mult", "dropout"), [(True, 1.0, 0.0), (False, 4.0, 0.1)])
def test_u_mup_attention_equals_unit_scaling(causal, mult, dropout):
    """Logits x mult / d_head (attention_scale) and the output scale, against
    unit_scaling.functional.scaled_dot_product_attention's forward pass (dropout's scale
    factor only: run in eval, the dropout itself is off)."""
    torch, uu = _unit_scaling()
    b, h, s, d = 2, 2, 5, 8
    q, k, v = (
        torch.randn(b, h, s, d, generator=torch.Generator().manual_seed(i)) for i in range(3)
    )
    want = uu.functional.scaled_dot_product_attention(q, k, v, is_causal=causal, mult=mult)
    p = _u_parametrize({"head": {"kernel": _sds(4, 4)}}, readout="head/*")
    qj, kj, vj = (jnp.asarray(t.numpy()) for t in (q, k, v))
    logits = jnp.einsum("bhqd,bhkd->bhqk", qj, kj) * p.attention_scale(d, attn_mult=mult)
    if causal:
        logits = jnp.where(jnp.tril(jnp.ones((s, s), bool)), logits, -jnp.inf)
    out = jnp.einsum("bhqk,bhkd->bhqd", jax.nn.softmax(logits, -1), vj)
    out = out * jax_inits.mup.attention_output_scale(d, s, mult=mult, is_causal=causal)
    np.testing.assert_allclose(out, want.numpy(), rtol=1e-5, atol=1e-6)
    if dropout:  # the scale's sqrt(1 - p), as unit-scaling writes it
        ratio = jax_inits.mup.attention_output_scale(
            d, s, mult=mult, is_causal=causal, dropout_p=dropout
        ) / jax_inits.mup.attention_output_scale(d, s, mult=mult, is_causal=causal)
        assert ratio == pytest.approx(math.sqrt(1 - dropout), rel=1e-14)


def test_u_mup_unit_init_and_forward_equal_unit_scaling():
    """Unit init (kernels N(0, 1), biases zeros) and the forward pass of unit-scaling's tiny
    model with the same weights: embedding x 1, linears x fan_in^-1/2 (bias included), the
    readout x 1/fan_in."""
    torch, uu = _unit_scaling()
    model = _uu_tiny(torch, uu)
    spec, names = _uu_spec(model)
    p = _u_parametrize(spec, readout="head/*", embeddings="emb/*", blocks="layers/*", depth=3)
    params = p.init(jax.random.key(0))
    for name, q in model.named_parameters():
        row, x = p.table[names[name]], params[names[name]]
        if q.mup_type == "bias":
            assert row.init_std == 0.0 and not np.any(np.asarray(x)), name
            assert not torch.any(q), name
        else:  # the std of n N(0, 1) samples: relative error ~ 1/sqrt(2n) (n >= 256); 5 sigma
            assert row.init_std == 1.0, name
            tol = 5 / math.sqrt(2 * x.size)
            assert float(jnp.std(x)) == pytest.approx(1.0, rel=tol), name
            assert q.detach().std().item() == pytest.approx(1.0, rel=tol), name
    with torch.no_grad():  # non-zero biases, so that the forward pass shows how they scale
        for layer in model["layers"]:
            layer.bias.normal_()
    weights = {names[n]: jnp.asarray(q.detach().numpy()) for n, q in model.named_parameters()}
    weights = {k: (w.T if w.ndim == 2 and k != "emb/weight" else w) for k, w in weights.items()}
    mult = p.multipliers("forward_mult")
    idx = np.arange(12).reshape(3, 4) * 17 % 256
    h = weights["emb/weight"][jnp.asarray(idx)] * mult["emb/weight"]
    for i in range(3):
        k, b = f"layers/{i}/weight", f"layers/{i}/bias"
        h = (h @ weights[k] + weights[b][None, None]) * mult[k]
    out = (h @ weights["head/weight"]) * mult["head/weight"]
    x = model["emb"](torch.tensor(idx))
    want = model["head"](model["layers"](x)).detach().numpy()
    assert mult["layers/0/weight"] == 0.25 and mult["head/weight"] == 1 / 16
    np.testing.assert_allclose(out, want, rtol=1e-5, atol=1e-6)


def test_u_mup_independent_weight_decay():
    """With zero gradients Adam's step is 0 and the update is the decay alone: lambda * w
    a step, whatever the learning rate and the leaf's lr multiplier."""
    optax = pytest.importorskip("optax")
    spec = {"fc": {"kernel": _sds(64, 64)}, "head": {"kernel": _sds(64, 10)}}
    p = _u_parametrize(spec, readout="head/*")
    params = p.init(jax.random.key(0))
    grads = jax.tree.map(jnp.zeros_like, params)
    tx = p.adamw(0.3, weight_decay=0.01, independent_weight_decay=True)
    with jax.numpy_dtype_promotion("standard"):
        updates, _ = tx.update(grads, tx.init(params), params)
    jax.tree.map(lambda u, w: np.testing.assert_allclose(u, -0.01 * w, rtol=1e-6), updates, params)
    with pytest.raises(TypeError, match=r"adamw: `independent_weight_decay` needs a float"):
        p.adamw(optax.constant_schedule(0.1), independent_weight_decay=True)


def test_u_mup_errors():
    with pytest.raises(ValueError, match=r"scheme 'mup' needs `base`.*only 'u_mup'"):
        jax_inits.mup.parametrize(_mlp(64), readout="head/*", init=INIT)
    with pytest.raises(ValueError, match=r"`embeddings` is for scheme 'u_mup'.*'mup'"):
        _p(_mlp(256), _mlp(64), embeddings="fc1/*")
    with pytest.raises(ValueError, match=r"the `embeddings` pattern 'emb' matches no leaf"):
        _u_parametrize(_mlp(64), readout="head/*", embeddings="emb")
    with pytest.raises(ValueError, match=r"residual_tau: `index` must be in \[0, branches\)"):
        jax_inits.mup.residual_tau(4, 4)
    with pytest.raises(ValueError, match=r"residual_tau: `residual_mult` must be > 0"):
        jax_inits.mup.residual_tau(0, 4, residual_mult=0.0)
    with pytest.raises(ValueError, match=r"attention_output_scale: `dropout_p` must be < 1"):
        jax_inits.mup.attention_output_scale(8, 8, dropout_p=1.0)
    with pytest.raises(ValueError, match=r"`head_dim` and `seq_len` must be >= 1, got 0, 8"):
        jax_inits.mup.attention_output_scale(0, 8)


def test_u_mup_gradients_differ_from_unit_scaling_by_one_factor_per_tensor():
    """What the guide says about unit-scaling's backward-only scales, checked: on its tiny
    model every parameter's gradient is the true gradient of the same forward pass (ours,
    no scaled ops) times one positive factor per tensor, so Adam's update differs only
    through eps and SGD's by that factor."""
    torch, uu = _unit_scaling()
    model = _uu_tiny(torch, uu)
    with torch.no_grad():
        for layer in model["layers"]:
            layer.bias.normal_()
    idx = torch.tensor(np.arange(12).reshape(3, 4) * 17 % 256)
    target = torch.randn(3, 4, 1024, generator=torch.Generator().manual_seed(5))
    out = model["head"](model["layers"](model["emb"](idx)))
    (out * target).sum().backward()
    plain = {n: q.detach().clone().requires_grad_(True) for n, q in model.named_parameters()}
    h = torch.nn.functional.embedding(idx, plain["emb.weight"])
    for i in range(3):
        h = (h @ plain[f"layers.{i}.weight"].T + plain[f"layers.{i}.bias"]) / 4.0
    ((h @ plain["head.weight"].T / 16.0) * target).sum().backward()
    for name, q in model.named_parameters():
        true = plain[name].grad
        assert true is not None and q.grad is not None
        mask = true.abs() > 1e-3 * true.abs().max()
        ratio = (q.grad[mask] / true[mask]).numpy()
        assert ratio.min() > 0, name
        np.testing.assert_allclose(ratio, ratio.mean(), rtol=1e-4, err_msg=name)
        # By hand from unit-scaling's scale_bwd factors (12 tokens): a weight's gradient is
        # x batch^-1/2 instead of its forward scale; the readout (no constraint) scales its
        # input's gradient by fan_out^-1/2 = 1/32 instead of 1/16, halving all below it; the
        # embedding's gradient is x sqrt(vocab / batch).
        want = {"emb": 0.5 * math.sqrt(256 / 12), "layers": 0.5 * 4 / math.sqrt(12)}
        want["head"] = 16 / math.sqrt(12)
        assert ratio.mean() == pytest.approx(want[name.split(".")[0]], rel=1e-4), name


# --- issue 25.6: a stack axis is never a fan axis ---------------------------------------


def _stack_spec(w, stack=None):
    """An MLP with every role (input, hidden, readout, readout bias, vector, fixed),
    unstacked, or with a leading stack axis of ``stack`` layers on every leaf."""
    lead = () if stack is None else (stack,)
    s = lambda *shape: jax.ShapeDtypeStruct((*lead, *shape), jnp.float32)  # noqa: E731
    return {
        "fc1": {"kernel": s(12, w), "bias": s(w)},
        "fc2": {"kernel": s(w, w), "bias": s(w)},
        "norm": {"scale": s(w), "gain": s(5)},
        "head": {"kernel": s(w, 10), "bias": s(10)},
    }


_STACK_RULES = [("*kernel", jax_inits.lecun_normal()), ("*bias", jax_inits.normal(0.1))]
_STACK_RULES += [("*scale", jax_inits.ones), ("*gain", jax_inits.ones)]


@pytest.mark.parametrize("scheme", ["mup", "spectral", "sp"])
def test_stacked_leaves_scale_as_their_unstacked_slices(scheme):
    plain = jax_inits.mup.parametrize(
        _stack_spec(256), _stack_spec(64), readout="head/*", init=_STACK_RULES, scheme=scheme
    )
    stacked_rules = [(p, jax_inits.stacked(i)) for p, i in _STACK_RULES]
    stacked = jax_inits.mup.parametrize(
        _stack_spec(256, 3), _stack_spec(64, 3), readout="head/*", init=stacked_rules,
        scheme=scheme,
    )  # fmt: skip
    roles = set()
    for path, row in plain.table.items():
        other = stacked.table[path]
        roles.add(row.role)
        for field in ("role", "width_mult", "init_scale", "forward_mult"):
            assert getattr(other, field) == getattr(row, field), (path, field)
        for field in ("init_std", "adam_lr", "adam_wd", "sgd_lr", "sgd_wd"):
            assert getattr(other, field) == pytest.approx(getattr(row, field)), (path, field)
        assert other.shape == (3, *row.shape)
        assert other.width_axes == tuple(a + 1 for a in row.width_axes)
    assert roles == {"input", "hidden", "readout", "readout_bias", "vector", "fixed"}


def test_a_stack_axis_that_changes_with_the_width_is_an_error():
    s = lambda *shape: {"h": {"kernel": jax.ShapeDtypeStruct(shape, jnp.float32)}}  # noqa: E731
    with pytest.raises(
        ValueError,
        match=r"mup.parametrize: the stack axis 0 of the leaf at path 'h/kernel' \(spec "
        r"\(8, 4\), base \(2, 4\)\) changes with the width",
    ):
        jax_inits.mup.parametrize(
            s(8, 4), s(2, 4), readout="h/*",
            init=[("*", jax_inits.stacked(jax_inits.lecun_normal()))],
        )  # fmt: skip


# --- issue 25.5: fan axes per pattern (nnx.MultiHeadAttention) --------------------------

_MHA_HEADS = 4
_MHA_FANS = [
    ("*/query/kernel", "...d,dhk->...hk"),
    ("*/key/kernel", "...d,dhk->...hk"),
    ("*/value/kernel", "...d,dhk->...hk"),
    ("*/out/kernel", "...hk,hkd->...d"),
    ("*/out/bias", {"out_axis": 0}),
    ("attn/*/bias", {"out_axis": (0, 1)}),
]


def _nnx_mha_spec(width):
    nnx = pytest.importorskip("flax.nnx")  # not in `make test-min`'s venv

    class Model(nnx.Module):
        def __init__(self, rngs):
            self.attn = nnx.MultiHeadAttention(
                num_heads=_MHA_HEADS, in_features=width, decode=False, rngs=rngs
            )
            self.head = nnx.Linear(width, 10, rngs=rngs)

    model = nnx.eval_shape(lambda: Model(nnx.Rngs(0)))
    state = nnx.state(model, nnx.Param)
    return jax.tree.map(lambda v: jax.ShapeDtypeStruct(v.shape, v.dtype), nnx.to_pure_dict(state))


def test_nnx_multi_head_attention_kernels_are_hidden_with_named_fans():
    """Fast tier: muP's hidden-layer multipliers for m = 256 / 64 = 4 (m_in = m_out)."""
    rules = [("attn/*/kernel", jax_inits.lecun_normal(in_axis=0, out_axis=(1, 2)))]
    rules += [("*kernel", jax_inits.lecun_normal()), ("*bias", jax_inits.zeros)]
    p = jax_inits.mup.parametrize(
        _nnx_mha_spec(256), _nnx_mha_spec(BASE), readout="head/*", init=rules,
        fan_axes=_MHA_FANS,
    )  # fmt: skip
    for path in ("attn/query/kernel", "attn/key/kernel", "attn/value/kernel"):
        row = p.table[path]
        assert (row.role, row.adam_lr, row.adam_wd, row.sgd_lr, row.sgd_wd) == (
            "hidden", 0.25, 4.0, 1.0, 1.0,
        )  # fmt: skip
    assert p.table["attn/query/bias"].role == "vector"
    assert p.table["attn/query/bias"].sgd_lr == 4.0


@pytest.mark.slow  # torch and mup: several seconds on 2 cores
def test_nnx_multi_head_attention_multipliers_match_mup_on_torch_attention():
    """nnx's q/k/v kernels ``(d, heads, head_dim)`` and output ``(heads, head_dim, d)``,
    their fans named per pattern, get microsoft/mup's multipliers of torch's fused
    ``in_proj_weight`` ``(3 h d_head, d)`` and ``out_proj.weight`` ``(d, d)``."""
    torch, mup, _ = _torch_models()
    nn = torch.nn

    class Model(nn.Module):
        def __init__(self, width):
            super().__init__()
            self.attn = nn.MultiheadAttention(width, _MHA_HEADS)
            self.readout = mup.MuReadout(width, 10)

    torch.manual_seed(0)
    model = Model(256)
    mup.set_base_shapes(model, Model(BASE), delta=Model(DELTA))
    groups = {}
    for make, opt in ((mup.MuAdam, "adam"), (mup.MuSGD, "sgd")):
        for group in make(model.parameters(), lr=1.0, weight_decay=1.0).param_groups:
            for param in group["params"]:
                name = next(n for n, q in model.named_parameters() if q is param)
                groups[opt, name] = (group["lr"], group["weight_decay"])

    rules = [("*kernel", jax_inits.lecun_normal()), ("*bias", jax_inits.zeros)]
    rules = [("*/query/kernel", jax_inits.lecun_normal(in_axis=0, out_axis=(1, 2)))] + rules
    p = jax_inits.mup.parametrize(
        _nnx_mha_spec(256), _nnx_mha_spec(BASE), delta=_nnx_mha_spec(DELTA),
        readout="head/*", init=rules, fan_axes=_MHA_FANS,
    )  # fmt: skip
    torch_of = {
        "attn/query/kernel": "attn.in_proj_weight",
        "attn/key/kernel": "attn.in_proj_weight",
        "attn/value/kernel": "attn.in_proj_weight",
        "attn/query/bias": "attn.in_proj_bias",
        "attn/out/kernel": "attn.out_proj.weight",
        "attn/out/bias": "attn.out_proj.bias",
        "head/kernel": "readout.weight",
    }
    for path, name in torch_of.items():
        row = p.table[path]
        for opt in ("adam", "sgd"):
            got = (getattr(row, f"{opt}_lr"), getattr(row, f"{opt}_wd"))
            np.testing.assert_allclose(got, groups[opt, name], rtol=1e-12, err_msg=path)
    assert p.table["attn/query/kernel"].role == p.table["attn/out/kernel"].role == "hidden"
    assert p.table["attn/query/kernel"].width_axes == (0, 2)  # d and head_dim grow
    # the base rule states its std at the real shape: lecun over fan-in d = 256
    assert p.table["attn/query/kernel"].init_std == pytest.approx(1 / 16)


def test_fan_axes_errors():
    spec = {"h": {"kernel": jax.ShapeDtypeStruct((8, 8), jnp.float32)}}
    base = {"h": {"kernel": jax.ShapeDtypeStruct((4, 4), jnp.float32)}}
    common = {"readout": "h/*", "init": [("*", jax_inits.lecun_normal())]}
    with pytest.raises(TypeError, match=r"mup.parametrize: `fan_axes` must be a list of"):
        jax_inits.mup.parametrize(spec, base, fan_axes="x", **common)
    with pytest.raises(
        TypeError,
        match=r"mup.parametrize: the fan axes of pattern 'h/\*' must be an einsum equation or "
        r"a dict of in_axis, out_axis, batch_axis, got 3",
    ):
        jax_inits.mup.parametrize(spec, base, fan_axes=[("h/*", 3)], **common)


# --- issue 30: depth transfer with stacked and unstacked blocks -------------------------


def _blocks(w, depth, stacked=True):
    """Embedding, ``depth`` blocks (stacked on axis 0, or a list: ``blocks/i/...``), head."""
    lead = (depth,) if stacked else ()

    def block():
        return {"fc1": {"kernel": _sds(*lead, w, w), "bias": _sds(*lead, w)},
                "ln": {"scale": _sds(*lead, w)}}  # fmt: skip

    return {"emb": _sds(5, w), "blocks": block() if stacked else [block()] * depth,
            "head": _sds(w, 3)}  # fmt: skip


_BLOCK_RULES = [("*scale", jax_inits.ones), ("*bias", jax_inits.zeros),
                ("*", jax_inits.lecun_normal())]  # fmt: skip


def _stacked_and_unstacked(scheme, init=_BLOCK_RULES):
    kwargs = dict(readout="head", scheme=scheme, blocks="blocks/*")
    u_mup = scheme == "u_mup"
    stacked = jax_inits.mup.parametrize(
        _blocks(32, 4), None if u_mup else _blocks(16, 2), init=init, layer_axis=0,
        **kwargs,
    )  # fmt: skip
    unstacked = jax_inits.mup.parametrize(
        _blocks(32, 4, False), None if u_mup else _blocks(16, 4, False), init=_BLOCK_RULES,
        depth=4, base_depth=None if u_mup else 2, **kwargs,
    )  # fmt: skip
    return stacked, unstacked


def _assert_rows_equal(stacked, unstacked):
    fields = ("role", "init_std", "forward_mult", "adam_lr", "adam_wd", "adam_eps", "sgd_lr",
              "sgd_wd", "in_block")  # fmt: skip
    for path, row in stacked.table.items():
        other = unstacked.table[path.replace("blocks/", "blocks/1/")]
        for field in fields:
            assert getattr(row, field) == pytest.approx(getattr(other, field)), (path, field)
    assert stacked.residual_mult == unstacked.residual_mult


@pytest.mark.parametrize(
    "scheme",
    ["complete_p", "spectral", *(pytest.param(s, marks=pytest.mark.slow)
                                 for s in ("mup", "sp", "depth_mup", "u_mup"))],
)  # fmt: skip
def test_layer_axis_leaves_get_what_one_layer_gets(scheme):
    # 30.2: a fan-based rule on a (L, in, out) kernel counted L in the fan (std / sqrt(L));
    # 30.7: under 'spectral' a stacked bias (L, w) was read as a (fan_in=L, fan_out=w) kernel.
    stacked, unstacked = _stacked_and_unstacked(scheme)
    _assert_rows_equal(stacked, unstacked)
    if scheme == "complete_p":
        w = stacked.init(jax.random.key(0))["blocks"]["fc1"]["kernel"]
        want = stacked.table["blocks/fc1/kernel"].init_std  # base 1/sqrt(16), / sqrt(m_N = 2)
        assert want == pytest.approx(0.25 / math.sqrt(2))
        # std of n = 4096 normal samples: relative error ~ 1 / sqrt(2 n); 5 sigma
        assert float(w.std()) == pytest.approx(want, rel=5 / math.sqrt(2 * w.size))


def test_layer_axis_with_scanned_rules():
    # 30.8: the porting guide's tree.scanned rules compose with layer_axis
    scanned = jax_inits.tree.scanned(_BLOCK_RULES, "blocks")
    stacked, unstacked = _stacked_and_unstacked("complete_p", init=scanned)
    _assert_rows_equal(stacked, unstacked)


def test_layer_axis_on_unstacked_blocks_is_refused():
    # 30.3: square leaves were accepted, the width read as the depth
    square = {"blocks": [{"fc": {"kernel": _sds(8, 8)}}] * 2, "head": _sds(8, 3)}
    base = {"blocks": [{"fc": {"kernel": _sds(4, 4)}}] * 2, "head": _sds(4, 3)}
    with pytest.raises(
        ValueError,
        match=r"mup.parametrize: `layer_axis` 0 is for stacked blocks, but the block leaf "
        r"at path 'blocks/0/fc/kernel' has a layer index in its path: the blocks look "
        r"unstacked; drop `layer_axis` and give `depth`",
    ):
        jax_inits.mup.parametrize(
            square, base, readout="head", init=_BLOCK_RULES, scheme="complete_p",
            blocks="blocks/*", layer_axis=0,
        )  # fmt: skip


def test_depth_is_checked_against_the_block_indices():
    # 30.6: depth=16 on 8 unstacked blocks gave residual 0.125
    with pytest.raises(
        ValueError,
        match=r"mup.parametrize: `depth` is 16 but the block leaves' paths have 4 block "
        r"indices \(blocks/0 \.\. blocks/3\)",
    ):
        jax_inits.mup.parametrize(
            _blocks(32, 4, False), _blocks(16, 4, False), readout="head", init=_BLOCK_RULES,
            scheme="complete_p", blocks="blocks/*", depth=16, base_depth=2,
        )  # fmt: skip


def test_u_mup_with_blocks_needs_a_depth():
    # 30.5: the depth^-1/2 lr factor was dropped silently
    with pytest.raises(
        ValueError, match=r"mup.parametrize: scheme 'u_mup' needs `depth` with `blocks`"
    ):
        jax_inits.mup.parametrize(
            _blocks(32, 4, False), None, readout="head", init=_BLOCK_RULES, scheme="u_mup",
            blocks="blocks/*",
        )  # fmt: skip


def test_width_axis_errors_name_layer_axis_and_fan_axes():
    # 30.14: stacked blocks at another depth without layer_axis; 30.13: attention kernels
    with pytest.raises(
        ValueError, match=r"has 3 width axes .* a leading axis stacks layers.*`layer_axis`"
    ):
        jax_inits.mup.parametrize(
            _blocks(32, 4), _blocks(16, 2), readout="head", init=_BLOCK_RULES,
            scheme="complete_p", blocks="blocks/*", depth=4, base_depth=2,
        )  # fmt: skip
    with pytest.raises(ValueError, match=r"leading batch axes .*`fan_axes`.*\.\.\.d,dhk->"):
        jax_inits.mup.parametrize(
            _nnx_mha_spec(64), _nnx_mha_spec(32), readout="head/*", init=_BLOCK_RULES
        )


def test_layer_axis_on_unstacked_leaves_says_they_look_unstacked():
    # 30.14: blocks without an index in their paths, unequal leading sizes
    with pytest.raises(ValueError, match=r"sizes \[64, 256\] in `spec`.* look unstacked"):
        jax_inits.mup.parametrize(
            _gpt(64, 2, False), _gpt(32, 2, False), readout="head", init=GPT_RULES,
            scheme="complete_p", blocks=["layers_*/fc/kernel", "layers_*/proj/kernel"],
            layer_axis=0,
        )  # fmt: skip


def test_schemes_are_tables_of_rows():
    from jax_inits._src import mup_schemes

    assert jax_inits.mup.SCHEMES == (*mup_schemes.TABLES, "u_mup")
    assert mup_schemes.DEPTH_SCHEMES == ("depth_mup", "complete_p")
    Row, Table = mup_schemes.Row, mup_schemes.Table
    with pytest.raises(ValueError, match="unknown kind, quantity or ratio"):
        Table(width=(Row("hiden", "adam_lr", width=-1),))
    with pytest.raises(ValueError, match="unknown kind, quantity or ratio"):
        Table(width=(Row("hidden", "adam_lr", width=-1, of="n"),))
    with pytest.raises(ValueError, match="a `width` row has no depth"):
        Table(width=(Row("block", "adam_lr", depth=-0.5),))
    with pytest.raises(ValueError, match="a `depth` row is a power of m"):
        Table(depth=(Row("hidden", "adam_lr", width=-1, of="m_in/m_out"),))


def test_a_new_table_is_a_new_scheme(monkeypatch):
    """What CONTRIBUTING's "How to add a scheme" promises: a table is enough."""
    from jax_inits._src import mup_schemes

    Row = mup_schemes.Row
    halved = mup_schemes.Table(width=(*mup_schemes.MUP.width, Row("hidden", "adam_lr", width=-1)))
    monkeypatch.setitem(mup_schemes.TABLES, "mup_squared", halved)
    monkeypatch.setattr(mup_schemes, "SCHEMES", (*mup_schemes.TABLES, "u_mup"))
    monkeypatch.setattr(jax_inits._src.mup, "SCHEMES", mup_schemes.SCHEMES)
    s = lambda *shape: jax.ShapeDtypeStruct(shape, jnp.float32)  # noqa: E731
    mlp = lambda w: {"fc": {"kernel": s(w, w)}, "head": {"kernel": s(w, 10)}}  # noqa: E731
    args = dict(readout="head/*", init=[("*", jax_inits.lecun_normal())])
    mup = jax_inits.mup.parametrize(mlp(256), mlp(64), **args)
    new = jax_inits.mup.parametrize(mlp(256), mlp(64), scheme="mup_squared", **args)  # type: ignore[arg-type]
    assert new.table["fc/kernel"].adam_lr == mup.table["fc/kernel"].adam_lr / 4 == 1 / 16
    assert new.table["head/kernel"] == mup.table["head/kernel"]
