"""muP transfer: the best learning rate found at width 64 is the best at width 1024.

A 3-layer ReLU MLP (64 -> w -> w -> 10) is trained with Adam on scikit-learn's
digits for a sweep of learning rates at several widths, once in the standard
parametrization (SP) and once in muP (``jax_inits.mup.parametrize``). Under SP
the optimal learning rate shifts as the model widens; under muP it stays put,
and wider is better at every learning rate. The plot (training loss vs learning
rate, one curve per width) goes to ``out/mup_transfer.png``.

What the model does for muP, all of it from the ``Parametrization``:
- initializes with ``p.init(key)`` (the base rules, readout rescaled);
- multiplies the readout's input by ``p.forward_mult["output/kernel"]``;
- chains ``p.scale_updates("adam")`` after ``optax.adam(lr)``.

Run: ``python examples/mup_transfer.py`` (a few minutes on 2 CPU cores), or
``--quick`` (widths 64 and 512, fewer steps) for the check the tests run.
"""

import argparse

import _transfer
import jax
import jax.numpy as jnp
import optax

import jax_inits
import jax_inits.mup

BASE = 64
CLASSES = 10


def spec(width, d_in):
    s = lambda *shape: jax.ShapeDtypeStruct(shape, jnp.float32)  # noqa: E731
    return {
        "hidden1": {"kernel": s(d_in, width), "bias": s(width)},
        "hidden2": {"kernel": s(width, width), "bias": s(width)},
        "output": {"kernel": s(width, CLASSES), "bias": s(CLASSES)},
    }


# The initialization at the base width: what the model would use without muP.
RULES = [("*/bias", jax_inits.zeros), ("*", jax_inits.lecun_normal())]


def make_loss(forward_mult):
    def loss_fn(params, x, y):
        h = x
        for layer in ("hidden1", "hidden2"):
            h = jax.nn.relu(h @ params[layer]["kernel"] + params[layer]["bias"][None])
        logits = (h * forward_mult) @ params["output"]["kernel"] + params["output"]["bias"][None]
        return _transfer.cross_entropy(logits, y)

    return loss_fn


def sweep(scheme, width, lrs, x, y, steps, batch_size, seed=0):
    """Final training loss (whole training set) for each learning rate."""
    p = jax_inits.mup.parametrize(
        spec(width, x.shape[1]),
        spec(BASE, x.shape[1]),
        readout="output/*",
        init=RULES,
        scheme=scheme,
    )
    loss_fn = make_loss(p.forward_mult["output/kernel"])
    make_tx = lambda lr: optax.chain(optax.adam(lr), p.scale_updates("adam"))  # noqa: E731
    params = p.init(jax.random.key(seed))
    return _transfer.final_losses(loss_fn, params, make_tx, lrs, x, y, steps, batch_size, seed)


SCHEMES = (("sp", "SP"), ("mup", "muP"))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="widths 64,512; 8 rates; 150 steps")
    parser.add_argument("--out", default="out/mup_transfer.png", help="the PNG")
    args = parser.parse_args()
    widths = (64, 512) if args.quick else (64, 128, 256, 512, 1024)
    steps = 150 if args.quick else 200
    # A factor 2 apart: 10 rates, 8 in the quick run.
    lrs = [2.0**k for k in (range(-12, -4) if args.quick else range(-13, -3))]
    label = lambda scheme, width: f"{scheme:3s} width {width:5d}"  # noqa: E731
    xlabel = f"learning rate (at the base width {BASE})"
    title = "Adam, digits, 3-layer MLP"
    _transfer.compare(sweep, SCHEMES, widths, lrs, steps, label, "width", title, xlabel, args.out)


if __name__ == "__main__":
    main()
