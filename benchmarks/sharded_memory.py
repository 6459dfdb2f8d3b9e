"""Peak per-device memory of a large sharded init: jax_inits vs jax.nn.initializers.

Run: ``python benchmarks/sharded_memory.py [--shape 8192,8192] [--quick]``.

Each case runs in a fresh subprocess with 8 virtual CPU devices and a 2x4 mesh,
sharding the parameter ``P("x", "y")`` (one 1/8 block per device). Cases:

* ``jit_out_shardings``: ``jax.jit(lambda k: init(k, shape), out_shardings=s)``
  (Auto mesh), the way most training code creates parameters.
* ``out_sharding``: ``init(k, shape, out_sharding=P("x", "y"))`` under
  ``jax.set_mesh`` of an Explicit mesh, jitted (jax.nn rejects a NamedSharding
  on an Auto mesh), which is what jax issue 19893 / flax 3701 ran into.
* ``eager_then_reshard``: the whole array created on one device, then
  ``jax.device_put`` to the sharding (what Flax nnx does with a sharded
  ``Param`` created eagerly).

Per device we record the compiled program's output and temporary sizes
(``memory_analysis()``; the same program runs on every device), their sum as the
per-device peak, the largest number of bytes any device held after the call
(live buffers), and the process's peak RSS increase (all 8 virtual devices share
host memory, so this is the total over devices). Results go to
``benchmarks/results/sharded_memory.{json,md}`` with the machine they ran on.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import platform
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
IMPLS = ("jax_inits", "jax.nn")
MODES = ("jit_out_shardings", "out_sharding", "eager_then_reshard")
INITIALIZERS = ("lecun_normal", "glorot_uniform", "normal")
MIB = 2**20


def _case(impl: str, mode: str, name: str, shape: tuple[int, ...]) -> dict:
    """Runs one case in this process (called in a fresh subprocess)."""
    import resource

    import jax

    jax.config.update("jax_num_cpu_devices", 8)
    import numpy as np
    from jax.sharding import AxisType, NamedSharding
    from jax.sharding import PartitionSpec as P

    import jax_inits

    module = jax_inits if impl == "jax_inits" else jax.nn.initializers
    init = getattr(module, name)()
    key = jax.random.key(0)
    spec = P("x", "y")
    explicit = mode == "out_sharding"
    axis_type = AxisType.Explicit if explicit else AxisType.Auto
    mesh = jax.make_mesh((2, 4), ("x", "y"), axis_types=(axis_type,) * 2)
    sharding = NamedSharding(mesh, spec)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

    compiled = None
    if mode == "jit_out_shardings":
        f = jax.jit(lambda k: init(k, shape), out_shardings=sharding)
        compiled = f.lower(key).compile()
        out = f(key)
    elif mode == "out_sharding":
        with jax.set_mesh(mesh):
            f = jax.jit(lambda k: init(k, shape, out_sharding=spec))
            compiled = f.lower(key).compile()
            out = f(key)
    else:
        f = jax.jit(lambda k: init(k, shape))
        compiled = f.lower(key).compile()
        whole = f(key).block_until_ready()
        out = jax.device_put(whole, sharding)
        out.block_until_ready()
        held = max(whole.nbytes, 0)
    out.block_until_ready()
    per_device: dict[int, int] = {}
    for shard in out.addressable_shards:
        per_device[shard.device.id] = per_device.get(shard.device.id, 0) + shard.data.nbytes
    live_max = max(per_device.values())
    if mode == "eager_then_reshard":
        live_max = max(live_max, held)  # device 0 held the whole array before the copy
    memory = compiled.memory_analysis()
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return {
        "impl": impl,
        "mode": mode,
        "initializer": name,
        "shape": list(shape),
        "dtype": "float32",
        "devices": 8,
        "mesh": "2x4",
        "spec": "P('x', 'y')",
        "array_bytes": int(np.prod(shape)) * 4,
        "shard_bytes": int(np.prod(shape)) * 4 // 8,
        "output_bytes_per_device": memory.output_size_in_bytes,
        "temp_bytes_per_device": memory.temp_size_in_bytes,
        "compiled_peak_bytes_per_device": memory.output_size_in_bytes + memory.temp_size_in_bytes,
        "max_live_bytes_on_one_device": live_max,
        "peak_rss_increase_bytes": max(0, rss_after - rss_before),
    }


def _machine() -> dict:
    import jax

    cpu = platform.processor()
    try:
        for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "jax": jax.__version__,
        "platform": platform.platform(),
        "devices": "8 virtual CPU devices (jax_num_cpu_devices=8)",
    }


def _markdown(records: list[dict], machine: dict) -> str:
    shape = "x".join(map(str, records[0]["shape"]))
    lines = [
        "# Peak per-device memory of a sharded init",
        "",
        f"{shape} float32 ({records[0]['array_bytes'] / MIB:.0f} MiB) sharded P('x', 'y') "
        "over a 2x4 mesh of 8 virtual CPU devices: one shard is "
        f"{records[0]['shard_bytes'] / MIB:.0f} MiB.",
        "Produced by `python benchmarks/sharded_memory.py`.",
        "",
        f"Machine: {machine['cpu']}, {machine['cores']} cores, jax {machine['jax']}, "
        f"Python {machine['python']}.",
        "",
        "Compiled peak = output + temporaries of the per-device program "
        "(`memory_analysis()`; for eager_then_reshard, the unsharded program on one "
        "device); max live = most bytes one device held; RSS = peak resident-set "
        "increase of the process (all 8 devices together).",
        "",
        "| initializer | mode | impl | compiled peak / device (MiB) | in shards | "
        "max live on one device (MiB) | RSS increase (MiB) |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in records:
        peak = r["compiled_peak_bytes_per_device"]
        lines.append(
            f"| {r['initializer']} | {r['mode']} | {r['impl']} | {peak / MIB:.1f} | "
            f"{peak / r['shard_bytes']:.2f} | {r['max_live_bytes_on_one_device'] / MIB:.1f} | "
            f"{r['peak_rss_increase_bytes'] / MIB:.0f} |"
        )
    lines.append("")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", default="8192,8192")
    parser.add_argument("--quick", action="store_true", help="1024x1024, lecun_normal only")
    parser.add_argument("--case", help=argparse.SUPPRESS)
    parser.add_argument("--out", type=pathlib.Path, default=RESULTS)
    args = parser.parse_args()
    shape = tuple(int(s) for s in ("1024,1024" if args.quick else args.shape).split(","))
    if args.case:
        impl, mode, name = args.case.split(":")
        print(json.dumps(_case(impl, mode, name, shape)))
        return 0
    names = INITIALIZERS[:1] if args.quick else INITIALIZERS
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    env.pop("XLA_FLAGS", None)
    records = []
    for name in names:
        for mode in MODES:
            for impl in IMPLS:
                case = f"{impl}:{mode}:{name}"
                shape_arg = ",".join(map(str, shape))
                result = subprocess.run(
                    [sys.executable, __file__, "--case", case, "--shape", shape_arg],
                    capture_output=True,
                    text=True,
                    env=env,
                    timeout=600,
                )
                if result.returncode != 0:
                    print(result.stderr[-2000:], file=sys.stderr)
                    return 1
                record = json.loads(result.stdout.strip().splitlines()[-1])
                records.append(record)
                print(
                    f"{name:15s} {mode:19s} {impl:9s} compiled peak/device "
                    f"{record['compiled_peak_bytes_per_device'] / MIB:8.1f} MiB  "
                    f"max live {record['max_live_bytes_on_one_device'] / MIB:8.1f} MiB  "
                    f"RSS +{record['peak_rss_increase_bytes'] / MIB:6.0f} MiB",
                    flush=True,
                )
    machine = _machine()
    args.out.mkdir(parents=True, exist_ok=True)
    stem = "sharded_memory_quick" if args.quick else "sharded_memory"
    (args.out / f"{stem}.json").write_text(
        json.dumps({"machine": machine, "records": records}, indent=1) + "\n"
    )
    (args.out / f"{stem}.md").write_text(_markdown(records, machine))
    return 0


if __name__ == "__main__":
    sys.exit(main())
