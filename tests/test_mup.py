"""jax_inits.mup against microsoft/mup 1.0.0 (run for real in torch) and its own spec."""

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
    from flax import nnx

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
