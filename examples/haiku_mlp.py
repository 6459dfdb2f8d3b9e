"""A Haiku MLP on the scikit-learn digits with jax_inits initializers.

``jax_inits.haiku.to_haiku`` turns any jax_inits initializer into a Haiku
``w_init``/``b_init`` (keys come from ``hk.next_rng_key()``); ``from_haiku``
goes the other way, here to re-initialise the output layer of the trained
parameters with a Haiku initializer through ``jax_inits.tree.reinit``.

Run: .venv/bin/python examples/haiku_mlp.py [--steps 300]   (--quick: 20 steps)
"""

import argparse

import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np
import optax
from sklearn.datasets import load_digits

import jax_inits
import jax_inits.haiku
import jax_inits.tree


def forward(x):
    mlp = hk.nets.MLP(
        [128, 128, 10],
        w_init=jax_inits.haiku.to_haiku(jax_inits.he_normal()),
        b_init=jax_inits.haiku.to_haiku(jax_inits.zeros),
    )
    return mlp(x)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--quick", action="store_true", help="20 steps")
    args = parser.parse_args()
    steps = 20 if args.quick else args.steps

    x, y = load_digits(return_X_y=True)
    x, y = (x / 8.0 - 1.0).astype(np.float32), y.astype(np.int32)
    x_train, y_train, x_test, y_test = x[:1437], y[:1437], x[1437:], y[1437:]

    model = hk.without_apply_rng(hk.transform(forward))
    params = model.init(jax.random.key(0), x_train[:1])
    for path in jax_inits.tree.leaf_paths(params):
        print("param", path)
    optimizer = optax.adam(1e-3)
    opt_state = optimizer.init(params)

    def loss_fn(p, xb, yb):
        logits = model.apply(p, xb)
        return optax.softmax_cross_entropy_with_integer_labels(logits, yb).mean()

    @jax.jit
    def step(p, s, xb, yb):
        loss, grads = jax.value_and_grad(loss_fn)(p, xb, yb)
        updates, s = optimizer.update(grads, s, p)
        return optax.apply_updates(p, updates), s, loss

    rng = np.random.default_rng(0)
    for i in range(steps):
        idx = rng.integers(0, len(x_train), 64)
        params, opt_state, loss = step(params, opt_state, x_train[idx], y_train[idx])
        if i % max(1, steps // 5) == 0 or i == steps - 1:
            print(f"step {i:4d} loss {float(loss):.4f}")
    accuracy = float((jnp.argmax(model.apply(params, x_test), -1) == y_test).mean())
    print(f"test accuracy {accuracy:.3f}")

    # Fresh output layer from a Haiku initializer, the hidden layers kept.
    head_init = jax_inits.haiku.from_haiku(hk.initializers.VarianceScaling(1.0))
    rules = [("mlp/~/linear_2/w", head_init), ("mlp/~/linear_2/b", jax_inits.zeros), ("*", None)]
    fresh = jax_inits.tree.reinit(params, jax.random.key(1), rules)
    accuracy = float((jnp.argmax(model.apply(fresh, x_test), -1) == y_test).mean())
    print(f"re-initialised head: test accuracy {accuracy:.3f}")


if __name__ == "__main__":
    main()
