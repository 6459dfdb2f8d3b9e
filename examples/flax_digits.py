"""Train a Flax nnx MLP on the scikit-learn digits with several initializers.

The 1797 8x8 digit images ship with scikit-learn (no download). Each run builds
the same 64-256-256-256-10 tanh MLP with a different ``kernel_init``, trains it
with SGD + momentum and records the training loss per epoch; the curves go to
one PNG. "orthogonal + LSUV" rescales orthogonal kernels with
``jax_inits.tree.lsuv`` on 256 training images before training.

Run: .venv/bin/python examples/flax_digits.py [--epochs 30] [--out out/flax_digits.png]
     (--quick: 2 epochs and three of the initializers, for the test suite)
"""

import argparse
import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx
from sklearn.datasets import load_digits

import jax_inits
import jax_inits.tree

WIDTHS = (64, 256, 256, 256, 10)
INITS = {
    "normal(1.0) (too large)": jax_inits.normal(1.0),
    "lecun_normal": jax_inits.lecun_normal(),
    "glorot_uniform": jax_inits.glorot_uniform(),
    "he_normal": jax_inits.he_normal(),
    "orthogonal": jax_inits.orthogonal(),
    "orthogonal + LSUV": jax_inits.orthogonal(),
}


class MLP(nnx.Module):
    def __init__(self, kernel_init, rngs):
        self.layers = nnx.List(
            [
                nnx.Linear(a, b, kernel_init=kernel_init, rngs=rngs)
                for a, b in zip(WIDTHS[:-1], WIDTHS[1:], strict=True)
            ]
        )

    def pre_activations(self, x):
        outs = []
        for i, layer in enumerate(self.layers):
            x = layer(x)
            outs.append(x)
            if i < len(self.layers) - 1:
                x = jnp.tanh(x)
        return outs

    def __call__(self, x):
        return self.pre_activations(x)[-1]


def load(seed=0):
    x, y = load_digits(return_X_y=True)
    x = (x / 16.0 - 0.5).astype(np.float32) * 2
    order = np.random.default_rng(seed).permutation(len(x))
    x, y = x[order], y[order].astype(np.int32)
    return (x[:1437], y[:1437]), (x[1437:], y[1437:])


def train(name, init, data, epochs, seed=0, batch=64):
    (x_train, y_train), (x_test, y_test) = data
    model = MLP(init, nnx.Rngs(seed))
    graphdef, params = nnx.split(model, nnx.Param)
    if name.endswith("LSUV"):

        def apply(p, xb):
            return nnx.merge(graphdef, p).pre_activations(xb)

        kernels = [f"layers/{i}/kernel" for i in range(len(WIDTHS) - 1)]
        params = jax_inits.tree.lsuv(apply, params, jnp.asarray(x_train[:256]), kernels)

    optimizer = optax.sgd(0.02, momentum=0.9)
    opt_state = optimizer.init(params)

    def loss_fn(p, xb, yb):
        logits = nnx.merge(graphdef, p)(xb)
        return optax.softmax_cross_entropy_with_integer_labels(logits, yb).mean()

    @jax.jit
    def step(p, s, xb, yb):
        loss, grads = jax.value_and_grad(loss_fn)(p, xb, yb)
        updates, s = optimizer.update(grads, s, p)
        return optax.apply_updates(p, updates), s, loss

    rng = np.random.default_rng(seed)
    curve = []
    for _ in range(epochs):
        order = rng.permutation(len(x_train))
        losses = []
        for start in range(0, len(order) - batch + 1, batch):
            idx = order[start : start + batch]
            params, opt_state, loss = step(params, opt_state, x_train[idx], y_train[idx])
            losses.append(float(loss))
        curve.append(float(np.mean(losses)))
    logits = nnx.merge(graphdef, params)(jnp.asarray(x_test))
    accuracy = float((jnp.argmax(logits, -1) == y_test).mean())
    return curve, accuracy


def plot(curves, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name, curve in curves.items():
        ax.plot(range(1, len(curve) + 1), curve, label=name)
    ax.set(xlabel="epoch", ylabel="training loss", yscale="log", title="nnx MLP on digits")
    ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--quick", action="store_true", help="2 epochs, 3 initializers")
    parser.add_argument("--out", type=pathlib.Path, default=pathlib.Path("out/flax_digits.png"))
    args = parser.parse_args()
    epochs = 2 if args.quick else args.epochs
    names = ["normal(1.0) (too large)", "he_normal", "orthogonal + LSUV"] if args.quick else INITS
    data = load()
    curves = {}
    for name in names:
        init = INITS[name]
        curve, accuracy = train(name, init, data, epochs)
        curves[name] = curve
        print(f"{name:24s} final loss {curve[-1]:.4f}  test accuracy {accuracy:.3f}")
    plot(curves, args.out)
    print(f"loss curves: {args.out}")


if __name__ == "__main__":
    main()
