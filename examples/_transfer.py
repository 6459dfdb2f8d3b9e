"""What the transfer examples share: the data, the training sweep, the report and the plot.

`mup_transfer.py` (across widths) and `depth_transfer.py` (across depths) each define
their model and parametrization; this module trains it for a grid of learning rates
and says where the best one lands.
"""

import pathlib

import jax
import jax.numpy as jnp
import numpy as np


def load_digits():
    """scikit-learn's digits, standardized: ``(x (1797, 64) float32, y (1797,) int32)``."""
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    x = (x - x.mean(0)) / (x.std(0) + 1e-6)
    return jnp.asarray(x, jnp.float32), jnp.asarray(y, jnp.int32)


def cross_entropy(logits, y):
    logp = jax.nn.log_softmax(logits)
    return -jnp.mean(jnp.take_along_axis(logp, y[:, None], axis=1))


def final_losses(loss_fn, params, make_tx, lrs, x, y, steps, batch_size, seed=0):
    """Final training loss (whole training set) for each learning rate: ``steps`` steps
    of ``make_tx(lr)`` on batches drawn in one order (seed ``seed + 1``) for all rates."""
    order = jax.random.permutation(jax.random.key(seed + 1), jnp.arange(steps * batch_size))
    batches = (order % x.shape[0]).reshape(steps, batch_size)

    def train(lr):
        tx = make_tx(lr)

        def step(carry, idx):
            params, state = carry
            grads = jax.grad(loss_fn)(params, x[idx], y[idx])
            updates, state = tx.update(grads, state, params)
            params = jax.tree.map(lambda a, u: a + u, params, updates)
            return (params, state), None

        (final, _), _ = jax.lax.scan(step, (params, tx.init(params)), batches)
        return loss_fn(final, x, y)

    with jax.numpy_dtype_promotion("standard"), jax.numpy_rank_promotion("allow"):
        losses = jax.jit(jax.vmap(train))(jnp.asarray(lrs, jnp.float32))
    return np.asarray(losses, np.float64)


def best_index(losses):
    """The grid index of the lowest loss (NaN/diverged runs never win)."""
    return int(np.nanargmin(np.where(np.isfinite(losses), losses, np.nan)))


def report(label, lrs, losses):
    """One line: the best rate and every loss."""
    best = best_index(losses)
    print(
        f"{label}: best lr 2^{int(np.log2(lrs[best]))} "
        f"loss {losses[best]:.4f}   " + " ".join(f"{v:.3f}" for v in losses),
        flush=True,
    )


def compare(sweep, panels, sizes, lrs, steps, label, size_name, title, xlabel, out):
    """Runs ``sweep(scheme, size, lrs, x, y, steps, batch_size=64)`` for every scheme of
    ``panels`` (``(scheme, title)`` pairs) and size, prints a line each
    (``label(scheme, size)``), then per scheme how many grid steps the best rate moves
    across ``sizes``, and plots the losses to ``out``."""
    x, y = load_digits()
    results = {}
    for scheme, _ in panels:
        for size in sizes:
            results[scheme, size] = sweep(scheme, size, lrs, x, y, steps, batch_size=64)
            report(label(scheme, size), lrs, results[scheme, size])
    for scheme, _ in panels:
        bests = [best_index(results[scheme, n]) for n in sizes]
        shift = max(bests) - min(bests)
        print(f"{scheme} best-lr shift (grid steps) across {size_name}s: {shift}")
    titled = [(scheme, f"{name}: {title}") for scheme, name in panels]
    plot(results, titled, sizes, size_name, lrs, xlabel, pathlib.Path(out))
    print(f"plot: {out}")


def plot(results, panels, sizes, size_name, lrs, xlabel, path):
    """Loss vs learning rate, one panel per ``(scheme, title)``, one curve per size."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 4), layout="constrained")
    axes = fig.subplots(1, 2, sharey=True)
    colors = [f"C{i}" for i in range(len(sizes))]
    for ax, (scheme, title) in zip(axes, panels, strict=True):
        for size, color in zip(sizes, colors, strict=True):
            losses = results[scheme, size]
            ax.plot(lrs, losses, marker="o", color=color, label=f"{size_name} {size}")
            best = best_index(losses)
            ax.plot(lrs[best], losses[best], marker="*", markersize=14, color=color)
        ax.set_xscale("log", base=2)
        ax.set_title(title)
        ax.set_xlabel(xlabel)
    axes[0].set_ylabel("training loss")
    finite = np.concatenate([v[np.isfinite(v)] for v in results.values()])
    axes[0].set_ylim(max(finite.min() * 0.5, 1e-4), min(finite.max(), 2.5))
    axes[0].set_yscale("log")
    axes[1].legend()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
