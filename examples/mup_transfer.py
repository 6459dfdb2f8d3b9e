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
import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import optax

import jax_inits
import jax_inits.mup

BASE = 64
CLASSES = 10


def load_digits():
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    x = (x - x.mean(0)) / (x.std(0) + 1e-6)
    return jnp.asarray(x, jnp.float32), jnp.asarray(y, jnp.int32)


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
        logp = jax.nn.log_softmax(logits)
        return -jnp.mean(jnp.take_along_axis(logp, y[:, None], axis=1))

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
    params = p.init(jax.random.key(seed))
    order = jax.random.permutation(jax.random.key(seed + 1), jnp.arange(steps * batch_size))
    batches = (order % x.shape[0]).reshape(steps, batch_size)

    def train(lr):
        tx = optax.chain(optax.adam(lr), p.scale_updates("adam"))

        def step(carry, idx):
            params, state = carry
            grads = jax.grad(loss_fn)(params, x[idx], y[idx])
            updates, state = tx.update(grads, state, params)
            return (optax.apply_updates(params, updates), state), None

        (final, _), _ = jax.lax.scan(step, (params, tx.init(params)), batches)
        return loss_fn(final, x, y)

    with jax.numpy_dtype_promotion("standard"):
        losses = jax.jit(jax.vmap(train))(jnp.asarray(lrs, jnp.float32))
    return np.asarray(losses, np.float64)


def best_index(losses):
    """The grid index of the lowest loss (NaN/diverged runs never win)."""
    return int(np.nanargmin(np.where(np.isfinite(losses), losses, np.nan)))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="widths 64,512; 8 rates; 150 steps")
    parser.add_argument("--out", default="out/mup_transfer.png", help="the PNG")
    args = parser.parse_args()
    widths = (64, 512) if args.quick else (64, 128, 256, 512, 1024)
    steps = 150 if args.quick else 200
    # A factor 2 apart: 10 rates, 8 in the quick run.
    lrs = [2.0**k for k in (range(-12, -4) if args.quick else range(-13, -3))]
    x, y = load_digits()
    results = {}
    for scheme in ("sp", "mup"):
        for width in widths:
            losses = sweep(scheme, width, lrs, x, y, steps, batch_size=64)
            results[scheme, width] = losses
            best = best_index(losses)
            print(
                f"{scheme:3s} width {width:5d}: best lr 2^{int(np.log2(lrs[best]))} "
                f"loss {losses[best]:.4f}   " + " ".join(f"{v:.3f}" for v in losses)
            )
    for scheme in ("sp", "mup"):
        bests = [best_index(results[scheme, w]) for w in widths]
        print(f"{scheme} best-lr shift (grid steps) across widths: {max(bests) - min(bests)}")
    plot(results, widths, lrs, pathlib.Path(args.out))
    print(f"plot: {args.out}")


def plot(results, widths, lrs, path):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 4), layout="constrained")
    axes = fig.subplots(1, 2, sharey=True)
    colors = [f"C{i}" for i in range(len(widths))]
    for ax, scheme, title in zip(axes, ("sp", "mup"), ("SP", "muP"), strict=True):
        for width, color in zip(widths, colors, strict=True):
            losses = results[scheme, width]
            ax.plot(lrs, losses, marker="o", color=color, label=f"width {width}")
            best = best_index(losses)
            ax.plot(lrs[best], losses[best], marker="*", markersize=14, color=color)
        ax.set_xscale("log", base=2)
        ax.set_title(f"{title}: Adam, digits, 3-layer MLP")
        ax.set_xlabel("learning rate (at the base width 64)")
    axes[0].set_ylabel("training loss")
    finite = np.concatenate([v[np.isfinite(v)] for v in results.values()])
    axes[0].set_ylim(max(finite.min() * 0.5, 1e-4), min(finite.max(), 2.5))
    axes[0].set_yscale("log")
    axes[1].legend()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    main()
