"""Create the parameters of a small MLP with jax_inits, eagerly and under jax.jit.

Run: .venv/bin/python examples/mlp_params.py
"""

import jax
import jax.numpy as jnp

import jax_inits

SIZES = (784, 512, 256, 10)


def init_mlp(key, sizes=SIZES, dtype=jnp.float32):
    kernel_init, bias_init = jax_inits.he_normal(), jax_inits.zeros
    params = []
    for layer_key, (n_in, n_out) in zip(
        jax.random.split(key, len(sizes) - 1), zip(sizes[:-1], sizes[1:], strict=True), strict=True
    ):
        params.append(
            {
                "w": kernel_init(layer_key, (n_in, n_out), dtype),
                "b": bias_init(layer_key, (n_out,), dtype),
            }
        )
    return params


if __name__ == "__main__":
    key = jax.random.key(0)
    eager = init_mlp(key)
    jitted = jax.jit(init_mlp, static_argnums=(1, 2))(key)
    same = jax.tree.all(jax.tree.map(lambda a, b: bool((a == b).all()), eager, jitted))
    for i, layer in enumerate(eager):
        w = layer["w"]
        print(
            f"layer {i}: w {w.shape} std {float(w.std()):.4f} "
            f"(target {jax_inits.he_normal().target_std(w.shape):.4f})"
        )
    print("eager == jit:", same)
