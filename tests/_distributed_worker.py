"""One process of tests/test_distributed.py: 4 virtual CPU devices of an 8-device job.

Run as ``python tests/_distributed_worker.py PORT PROCESS_ID OUT.npz AXIS_TYPE``
(``Auto`` or ``Explicit`` mesh axes). It joins
a 2-process ``jax.distributed`` job on localhost, creates the parameter tree of
:func:`spec_and_rules` sharded over all 8 devices with ``jax_inits.tree.init``
and saves the shards it holds, keyed ``"<path>|<start>:<stop>,...|<device id>"``.
"""

import sys

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import AxisType, NamedSharding
from jax.sharding import PartitionSpec as P

SEED = 42


def spec_and_rules(mesh=None):
    """The tree (sharded over ``mesh`` if given) and its rules; shared with the test."""

    def sds(shape, spec):
        sharding = None if mesh is None else NamedSharding(mesh, spec)
        return jax.ShapeDtypeStruct(shape, jnp.float32, sharding=sharding)

    import jax_inits as ji

    spec = {
        "embed": sds((64, 32), P("x", "y")),
        "dense": {"kernel": sds((32, 48), P(None, ("x", "y"))), "bias": sds((48,), P())},
        "head": {"kernel": sds((48, 16), P("y", "x"))},
        "proj": sds((16, 16), P("x", None)),
    }
    rules = [
        ("embed", ji.normal(1.0)),
        ("*/bias", ji.zeros),
        ("dense/kernel", ji.he_normal()),
        ("head/*", jax.nn.initializers.glorot_uniform()),  # a foreign initializer
        ("proj", ji.orthogonal()),  # not elementwise: a QR over the whole matrix
    ]
    return spec, rules


def main(port: str, process_id: int, out: str, axis_type: str) -> None:
    jax.config.update("jax_num_cpu_devices", 4)
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(
        coordinator_address=f"localhost:{port}", num_processes=2, process_id=process_id
    )
    import jax_inits.tree as jt

    assert jax.device_count() == 8 and jax.local_device_count() == 4
    mesh = jax.make_mesh((2, 4), ("x", "y"), axis_types=(getattr(AxisType, axis_type),) * 2)
    spec, rules = spec_and_rules(mesh)
    params = jt.init(jax.random.key(SEED), spec, rules)
    shards = {}
    for path, leaf in zip(jt.leaf_paths(params), jax.tree.leaves(params), strict=True):
        assert leaf.sharding.is_equivalent_to(
            jax.tree.leaves(spec)[jt.leaf_paths(spec).index(path)].sharding, leaf.ndim
        )
        for shard in leaf.addressable_shards:
            index = ",".join(
                f"{s.start or 0}:{leaf.shape[d] if s.stop is None else s.stop}"
                for d, s in enumerate(shard.index)
            )
            shards[f"{path}|{index}|{shard.device.id}"] = np.asarray(shard.data)
    np.savez(out, **shards)
    jax.distributed.shutdown()


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4])
