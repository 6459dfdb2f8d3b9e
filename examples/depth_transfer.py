"""Depth transfer: is the best learning rate found at depth 2 the best at depth 16?

A pre-LN residual MLP on scikit-learn's digits (64 -> width, ``depth`` blocks
``h + r * W2 gelu(W1 LN(h))``, final LN, readout to 10 classes) is trained with AdamW
for a grid of learning rates at several depths, under muP (width only: at a fixed
width every depth gets the same rules, ``r = 1``) and under CompleteP
(``jax_inits.mup.parametrize(scheme="complete_p", blocks="blocks/*", layer_axis=0)``:
``r = p.residual_mult = 2 / depth``, block lr and eps rescaled). The plot (training
loss vs learning rate, one curve per depth) goes to ``out/depth_transfer.png``.

What the model does for CompleteP, all of it from the ``Parametrization``:
- initializes with ``p.init(key)``;
- multiplies every residual branch by ``p.residual_mult`` and the readout's input
  by ``p.forward_mult["output/kernel"]``;
- trains with ``p.adamw(lr)`` (per-leaf lr and eps).

Run: ``python examples/depth_transfer.py`` (several minutes on 2 CPU cores), or
``--quick`` (depths 2 and 8, fewer rates and steps) for the check the slow tests run.
"""

import argparse

import _transfer
import jax
import jax.numpy as jnp

import jax_inits
import jax_inits.mup

BASE_DEPTH = 2
WIDTH = 128
CLASSES = 10


def spec(depth, d_in):
    s = lambda *shape: jax.ShapeDtypeStruct(shape, jnp.float32)  # noqa: E731
    return {
        "input": {"kernel": s(d_in, WIDTH), "bias": s(WIDTH)},
        "blocks": {
            "ln": {"scale": s(depth, WIDTH), "bias": s(depth, WIDTH)},
            "fc1": {"kernel": s(depth, WIDTH, WIDTH), "bias": s(depth, WIDTH)},
            "fc2": {"kernel": s(depth, WIDTH, WIDTH), "bias": s(depth, WIDTH)},
        },
        "ln_f": {"scale": s(WIDTH), "bias": s(WIDTH)},
        "output": {"kernel": s(WIDTH, CLASSES), "bias": s(CLASSES)},
    }


# The initialization at the base depth: what the model would use without CompleteP.
RULES = [
    ("*/scale", jax_inits.ones),
    ("*/bias", jax_inits.zeros),
    ("blocks/*", jax_inits.lecun_normal(batch_axis=0)),  # stacked: axis 0 is the layer
    ("*", jax_inits.lecun_normal()),
]


def layer_norm(h, scale, bias):
    mu = h.mean(-1, keepdims=True)
    h = (h - mu) / jnp.sqrt(jnp.square(h - mu).mean(-1, keepdims=True) + 1e-5)
    return h * scale[None] + bias[None]


def make_loss(residual_mult, readout_mult):
    def loss_fn(params, x, y):
        h = x @ params["input"]["kernel"] + params["input"]["bias"][None]

        def block(h, b):
            z = layer_norm(h, b["ln"]["scale"], b["ln"]["bias"])
            z = jax.nn.gelu(z @ b["fc1"]["kernel"] + b["fc1"]["bias"][None])
            return h + residual_mult * (z @ b["fc2"]["kernel"] + b["fc2"]["bias"][None]), None

        h, _ = jax.lax.scan(block, h, params["blocks"])
        h = layer_norm(h, params["ln_f"]["scale"], params["ln_f"]["bias"]) * readout_mult
        logits = h @ params["output"]["kernel"] + params["output"]["bias"][None]
        return _transfer.cross_entropy(logits, y)

    return loss_fn


def sweep(scheme, depth, lrs, x, y, steps, batch_size, seed=0):
    """Final training loss (whole training set) for each learning rate."""
    p = jax_inits.mup.parametrize(
        spec(depth, x.shape[1]),
        spec(BASE_DEPTH, x.shape[1]),
        readout="output/*",
        init=RULES,
        scheme=scheme,
        blocks="blocks/*",
        layer_axis=0,
    )
    loss_fn = make_loss(p.residual_mult, p.forward_mult["output/kernel"])
    params = p.init(jax.random.key(seed))
    return _transfer.final_losses(loss_fn, params, p.adamw, lrs, x, y, steps, batch_size, seed)


SCHEMES = (("mup", "muP (width only)"), ("complete_p", "CompleteP"))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="depths 2,8; 6 rates; 100 steps")
    parser.add_argument("--out", default="out/depth_transfer.png", help="the PNG")
    args = parser.parse_args()
    depths = (2, 8) if args.quick else (2, 4, 8, 16)
    steps = 100 if args.quick else 200
    # A factor 2 apart: 9 rates, 6 in the quick run.
    lrs = [2.0**k for k in (range(-11, -5) if args.quick else range(-13, -4))]
    label = lambda scheme, depth: f"{scheme:10s} depth {depth:3d}"  # noqa: E731
    xlabel = f"learning rate (at the base depth {BASE_DEPTH})"
    title = "AdamW, digits, residual MLP"
    _transfer.compare(sweep, SCHEMES, depths, lrs, steps, label, "depth", title, xlabel, args.out)


if __name__ == "__main__":
    main()
