"""Create a transformer-sized parameter tree directly in its sharding.

8 virtual CPU devices stand in for accelerators. ``jax_inits.tree.init`` takes
a spec whose leaves carry their ``NamedSharding`` and creates every leaf in one
jitted call, each device computing only its own shard: per-device memory is
one shard of each parameter, not the whole tree. The same rules with
jax.nn.initializers need temporaries several shards large; the values of
jax_inits do not depend on the layout (they equal the unsharded ones).

Run: .venv/bin/python examples/sharded_init.py [--width 1024 --layers 4]  (--quick: small)
"""

import argparse

import jax

jax.config.update("jax_num_cpu_devices", 8)  # before the CPU backend starts

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from jax.sharding import AxisType, NamedSharding  # noqa: E402
from jax.sharding import PartitionSpec as P  # noqa: E402

import jax_inits  # noqa: E402
import jax_inits.tree  # noqa: E402

MIB = 2**20


def make_spec(mesh, width, layers, vocab):
    def leaf(shape, spec):
        return jax.ShapeDtypeStruct(shape, jnp.float32, sharding=NamedSharding(mesh, spec))

    block = {
        "attn": {
            "qkv": leaf((width, 3 * width), P("data", "model")),
            "out": leaf((width, width), P("model", "data")),
        },
        "mlp": {
            "up": leaf((width, 4 * width), P("data", "model")),
            "down": leaf((4 * width, width), P("model", "data")),
        },
        "norm": {"scale": leaf((width,), P())},
    }
    return {"embed": leaf((vocab, width), P("model", "data")), "layers": [block] * layers}


def rules(lib):
    return [
        ("*norm/scale", lib.ones),
        ("embed", lib.normal(1.0)),
        ("*mlp/*", lib.he_normal()),
        ("*", lib.lecun_normal()),
    ]


def per_device_peak(spec, rule_list):
    compiled = (
        jax.jit(lambda k: jax_inits.tree.init(k, spec, rule_list))
        .lower(jax.random.key(0))
        .compile()
    )
    memory = compiled.memory_analysis()
    return memory.output_size_in_bytes + memory.temp_size_in_bytes


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--width", type=int, default=1024)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--quick", action="store_true", help="width 128, 2 layers")
    args = parser.parse_args()
    width, layers = (128, 2) if args.quick else (args.width, args.layers)
    mesh = jax.make_mesh((2, 4), ("data", "model"), axis_types=(AxisType.Auto,) * 2)
    spec = make_spec(mesh, width, layers, vocab=8 * width)

    key = jax.random.key(0)
    params = jax_inits.tree.init(key, spec, rules(jax_inits))
    total = sum(x.nbytes for x in jax.tree.leaves(params))
    for path, x in zip(
        jax_inits.tree.leaf_paths(params)[:6], jax.tree.leaves(params)[:6], strict=False
    ):
        shard = x.addressable_shards[0].data.shape
        print(f"{path:22s} {str(x.shape):14s} {str(x.sharding.spec):22s} shard {shard}")

    unsharded = jax.tree.map(lambda s: jax.ShapeDtypeStruct(s.shape, s.dtype), spec)
    plain = jax_inits.tree.init(key, unsharded, rules(jax_inits))
    same = all(
        np.array_equal(a, b)
        for a, b in zip(jax.tree.leaves(params), jax.tree.leaves(plain), strict=True)
    )
    print(f"sharded values == unsharded values: {same}")

    ours = per_device_peak(spec, rules(jax_inits))
    theirs = per_device_peak(spec, rules(jax.nn.initializers))
    print(
        f"parameters: {total / MIB:.2f} MiB in all, {total / 8 / MIB:.2f} MiB per device "
        "if evenly sharded (norm scales are replicated)"
    )
    print(
        f"compiled per-device peak (output + temp): jax_inits {ours / MIB:.2f} MiB, "
        f"jax.nn.initializers {theirs / MIB:.2f} MiB"
    )


if __name__ == "__main__":
    main()
