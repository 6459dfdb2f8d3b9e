"""Real model sizes: Llama-3-8B (bfloat16) and GPT-2 XL (float32) initialized
sharded on 8 virtual CPU devices, beside what users do today.

Run: ``python benchmarks/real_scale.py [--models llama3_8b,gpt2_xl] [--methods ...]
[--layers N] [--before PATH]`` (``--models llama_small`` for a minute-long smoke
run). Every case is a fresh process with ``jax_num_cpu_devices=8`` and a 2x4
``("data", "model")`` mesh; parameters are laid out FSDP x tensor-parallel as
MaxText and torchtitan do (``examples/llama_spec.py`` has the layout of every
leaf). Methods:

* ``tree.init``: ``jax_inits.tree.init(key, spec, rules)`` on the spec of
  ``examples/llama_spec.py`` with the ``presets.hf_llama`` / ``presets.hf_gpt2``
  rules; ``tree.init scanned`` the same with the layers stacked on a leading axis.
* ``flax.create`` / ``flax.create scanned``: ``jax_inits.flax.create`` of the nnx
  model `nnx_model` (the spec's leaves as ``nnx.Param``s with
  ``nnx.with_partitioning``; layers a list of blocks, or one block whose
  parameters carry a leading layer axis).
* ``nnx recipe``: Flax's documented sharded init, ``nnx.jit`` of the
  constructor that constrains the state to ``nnx.get_partition_spec`` (the
  model's own initializers: ``jax.nn.initializers`` normal(0.02), ones, zeros).
* ``jax.nn jit``: one ``jax.jit(..., out_shardings=...)`` of
  ``jax.nn.initializers`` over the spec (a key per leaf by ``fold_in``).

Per case: cold seconds (the first call in the fresh process: tracing,
compilation and the draw; imports and the mesh excluded), warm seconds (a
second call from another key once the first result is freed), the process's
peak resident set (``VmHWM`` from ``/proc/self/status``, reset just before each
call) above its resident set before the first call, against the bytes of the
parameters, and the bytes the one executable of ``jax.nn jit`` needs per
device (``memory_analysis()``; compiled alone where the run was killed). CPU
devices report no live-buffer statistics. A case killed for memory is a
record too. ``--layers N`` gives every model N blocks (the largest size at
which the baselines fit); ``--before PATH`` runs ``tree.init`` and
``flax.create`` also with the package of the checkout at PATH, in the same run;
``--report`` writes the table of a ``--name`` JSON again. Results go to
``benchmarks/results/<name>.{json,md}`` with the machine and the load average.
Linux only (``/proc``).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import pathlib
import platform
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
GIB = 2**30
MODELS = ("llama3_8b", "gpt2_xl", "llama_small", "gpt2_small")
#: The methods ``--before`` runs with the other checkout too (scanned layers are
#: one leaf a stack: no group to cut, the same draw).
BEFORE = ("tree.init", "flax.create")
METHODS = (
    "tree.init",
    "tree.init scanned",
    "flax.create",
    "flax.create scanned",
    "nnx recipe",
    "jax.nn jit",
)


def rss(field: str) -> int:
    """``field`` of ``/proc/self/status`` in bytes (``VmRSS:``, ``VmHWM:``)."""
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith(field))


def reset_peak() -> int:
    """Resets the peak resident set to the current one, and returns it."""
    gc.collect()
    with open("/proc/self/clear_refs", "w") as refs:
        refs.write("5")
    return rss("VmRSS:")


# ----------------------------------------------------------------------------- the nnx models


def _specs():
    """``examples/llama_spec.py``: the specs, their configurations and rules."""
    sys.path.insert(0, str(ROOT / "examples"))
    import llama_spec

    return llama_spec


def jax_nn_init(model: str, path: str, layers: int | None = None):
    """The ``jax.nn.initializers`` initializer of a leaf: the distribution the
    preset's rule draws (Hugging Face's ``_init_weights``)."""
    import jax
    import numpy as np

    if path.endswith("scale"):
        return jax.nn.initializers.ones
    if path.endswith("bias"):
        return jax.nn.initializers.zeros
    config = _specs().config_of(model, layers)
    if path.endswith("c_proj/kernel"):  # GPT-2's residual projections
        return jax.nn.initializers.normal(0.02 / np.sqrt(2 * config.layers))
    return jax.nn.initializers.normal(0.02)


def nnx_model(model: str, rngs, *, scanned: bool = False, layers: int | None = None):
    """The nnx model whose parameters are the leaves of spec ``model``: the same
    paths, shapes, dtypes and layouts (``nnx.with_partitioning`` with the
    spec's PartitionSpecs), a list of blocks (or one stacked block with
    ``scanned``), each parameter created by its `jax_nn_init`."""
    from flax import nnx
    from jax.sharding import AbstractMesh

    mesh = AbstractMesh((2, 4), ("data", "model"))
    spec = _specs().spec(model, mesh, scanned=scanned, layers=layers)

    class Node(nnx.Module):
        def __init__(self, children):
            for name, child in children.items():
                setattr(self, name, child)

    def build(node, path):
        if not isinstance(node, dict):
            names = tuple(node.sharding.spec)
            names += (None,) * (len(node.shape) - len(names))
            init = nnx.with_partitioning(jax_nn_init(model, path, layers), names)
            return nnx.Param(init(rngs.params(), node.shape, node.dtype))
        children = {n: build(child, f"{path}/{n}".lstrip("/")) for n, child in node.items()}
        if all(name.isdigit() for name in children):
            return nnx.List([children[str(i)] for i in range(len(children))])
        return Node(children)

    return build(spec, "")


# ----------------------------------------------------------------------------- one case


def _maker(model: str, method: str, mesh, layers: int | None):
    """``(make(key) -> parameters, notes)`` for one method; ``make`` is what is timed."""
    import jax
    from flax import nnx

    import jax_inits.flax
    import jax_inits.tree

    specs = _specs()
    scanned = method.endswith("scanned")
    rules = specs.rules_for(model, scanned=scanned, layers=layers)
    if method.startswith("tree.init"):
        spec = specs.spec(model, mesh, scanned=scanned, layers=layers)
        return lambda key: jax_inits.tree.init(key, spec, rules), {}
    if method.startswith("flax.create"):

        def build(rngs):
            return nnx_model(model, rngs, scanned=scanned, layers=layers)

        return (
            lambda key: nnx.state(jax_inits.flax.create(build, key, rules, mesh=mesh), nnx.Param),
            {},
        )
    if method == "nnx recipe":

        @nnx.jit
        def create(key):
            module = nnx_model(model, nnx.Rngs(params=key), layers=layers)
            state = nnx.state(module)
            pspecs = nnx.get_partition_spec(state)
            nnx.update(module, jax.lax.with_sharding_constraint(state, pspecs))
            return module

        def make(key):
            with jax.set_mesh(mesh):
                return nnx.state(create(key), nnx.Param)

        return make, {}
    if method == "jax.nn jit":
        spec = specs.spec(model, mesh, layers=layers)
        paths = jax_inits.tree.leaf_paths(spec)
        leaves, treedef = jax.tree_util.tree_flatten(spec)
        inits = [jax_nn_init(model, path, layers) for path in paths]

        def draw(key):
            out = [
                init(jax.random.fold_in(key, i), leaf.shape, leaf.dtype)
                for i, (init, leaf) in enumerate(zip(inits, leaves, strict=True))
            ]
            return jax.tree_util.tree_unflatten(treedef, out)

        shardings = jax.tree_util.tree_unflatten(treedef, [leaf.sharding for leaf in leaves])
        jitted = jax.jit(draw, out_shardings=shardings)
        return jitted, {"jitted": jitted}
    raise ValueError(f"real_scale: unknown method {method!r}; methods: {METHODS}.")


def _bytes(params) -> tuple[int, int, int]:
    """The parameters' count and bytes, and the most bytes of them one device holds."""
    import jax

    count, total, per_device = 0, 0, {}
    for leaf in jax.tree_util.tree_leaves(params):
        count += leaf.size
        total += leaf.nbytes
        for shard in leaf.addressable_shards:
            per_device[shard.device] = per_device.get(shard.device, 0) + shard.data.nbytes
    return count, total, max(per_device.values())


def _timed(make, key) -> tuple[float, int, int, object]:
    """Seconds, resident set before and peak resident set of one call."""
    import jax

    before = reset_peak()
    start = time.perf_counter()
    params = make(key)
    jax.block_until_ready(params)
    seconds = time.perf_counter() - start
    return seconds, before, rss("VmHWM:"), params


def _compiled_memory(jitted) -> dict:
    """What the one executable of ``jitted`` needs per device (nothing allocated)."""
    import jax

    memory = jitted.lower(jax.random.key(0)).compile().memory_analysis()
    return {
        "temp_bytes_per_device": memory.temp_size_in_bytes,
        "output_bytes_per_device": memory.output_size_in_bytes,
    }


def run_case(model: str, method: str, layers: int | None = None, compile_only=False) -> dict:
    """One case in this (fresh) process; ``compile_only``: only `_compiled_memory`."""
    import jax
    import numpy as np

    jax.config.update("jax_num_cpu_devices", 8)
    from jax.sharding import AxisType

    mesh = jax.make_mesh((2, 4), ("data", "model"), axis_types=(AxisType.Auto,) * 2)
    make, notes = _maker(model, method, mesh, layers)
    if compile_only:
        return _compiled_memory(notes["jitted"])
    cold, before, peak, params = _timed(make, jax.random.key(0))
    count, total, device_max = _bytes(params)
    del params
    warm, warm_before, warm_peak, params = _timed(make, jax.random.key(1))
    del params
    record = {
        "model": model,
        "method": method,
        "layers": _specs().config_of(model, layers).layers,
        "dtype": np.dtype(_specs().config_of(model).dtype).name,
        "param_bytes": total,
        "params": count,
        "max_param_bytes_one_device": device_max,
        "cold_s": cold,
        "warm_s": warm,
        "rss_before_bytes": before,
        "peak_rss_bytes": peak,
        "peak_increase_bytes": peak - before,
        # Over the resident set before the first call: after `del params` the allocator
        # may keep freed pages, so the one before the warm call can be higher.
        "warm_rss_before_bytes": warm_before,
        "warm_peak_increase_bytes": warm_peak - before,
    }
    if "jitted" in notes:
        record.update(_compiled_memory(notes["jitted"]))
    return record


# ----------------------------------------------------------------------------- the run


def _machine() -> dict:
    import jax

    cpu = platform.processor()
    for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    memory = 0
    for line in pathlib.Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            memory = int(line.split()[1]) * 1024
    import flax

    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_bytes": memory,
        "python": platform.python_version(),
        "jax": jax.__version__,
        "flax": flax.__version__,
        "date": time.strftime("%Y-%m-%d"),
        "devices": "8 virtual CPU devices (jax_num_cpu_devices=8), mesh 2x4 (data, model)",
    }


def _row(r: dict) -> str:
    program = ""
    if "temp_bytes_per_device" in r:
        need = r["temp_bytes_per_device"] + r["output_bytes_per_device"]
        program = f"{need / GIB:.2f} ({r['temp_bytes_per_device'] / GIB:.2f} temporary)"
    if "error" in r:
        layers = r.get("layers") or "all"
        return (
            f"| {r['model']} | {layers} | {r['method']} | failed: {r['error']} | | | | "
            f"| {program} |"
        )
    ratio = r["peak_increase_bytes"] / r["param_bytes"]
    return (
        f"| {r['model']} | {r['layers']} | {r['method']} | {r['cold_s']:.1f} s | "
        f"{r['warm_s']:.1f} s | "
        f"{r['param_bytes'] / GIB:.2f} | {r['peak_increase_bytes'] / GIB:.2f} ({ratio:.2f}x) | "
        f"{r['warm_peak_increase_bytes'] / GIB:.2f} | {program} |"
    )


def _markdown(records: list[dict], machine: dict) -> str:
    lines = [
        "# Real model sizes: sharded init on one host",
        "",
        f"Produced by `{machine['command']}`; every case a fresh process with 8 "
        "virtual CPU devices on a 2x4 (data, model) mesh, FSDP x tensor-parallel layout "
        "(`examples/llama_spec.py`).",
        "",
        f"Machine: {machine['cpu']}, {machine['cores']} cores, "
        f"{machine['memory_bytes'] / GIB:.1f} GiB, jax {machine['jax']}, flax {machine['flax']}, "
        f"Python {machine['python']}, {machine['date']}.",
        "",
        "cold = first call in the process (trace, compile, draw; imports excluded); warm = "
        "a second call from another key after the first result is freed; peak = rise of the "
        "process's peak resident set (VmHWM) over its resident set before the call, all 8 "
        "devices together, and its ratio to the parameters' bytes (warm: over the resident "
        "set before the first call). A case killed for memory is named with the seconds "
        "it ran. Load average (1 min) before the run: "
        f"{machine['load']}; during it the cases' own threads (8 devices on "
        f"{machine['cores']} cores) keep it near 6. One jit's program = output plus "
        "temporaries per device of the one executable of `jax.nn jit` (`memory_analysis()`, "
        "compiled alone where the run was killed); CPU devices report no live buffers.",
        "",
        "| model | layers | method | cold | warm | params (GiB) | peak cold (GiB) "
        "| peak warm (GiB) | one jit's program / device (GiB) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    lines += [_row(r) for r in records]
    lines.append("")
    return "\n".join(lines)


def _run_one(
    model: str, method: str, args: argparse.Namespace, env: dict, compile_only: bool = False
) -> dict:
    """The record of one case, run in a fresh process (a failure is a record too).
    Where one jax.jit failed, its compiled program's needs are asked for alone."""
    load, start = os.getloadavg()[0], time.perf_counter()
    command = [sys.executable, __file__, "--case", f"{model}:{method}"]
    if compile_only:
        command.append("--compile-only")
    if args.layers is not None:
        command += ["--layers", str(args.layers)]
    try:
        result = subprocess.run(
            command, capture_output=True, text=True, env=env, timeout=args.timeout
        )
        if result.returncode == 0:
            record = json.loads(result.stdout.strip().splitlines()[-1])
        else:
            tail = (result.stderr.strip().splitlines() or ["(no output)"])[-1]
            why = "killed (out of memory)" if result.returncode == -9 else tail[-300:]
            record = {"error": f"{why} after {time.perf_counter() - start:.0f} s"}
    except subprocess.TimeoutExpired:
        record = {"error": f"over {args.timeout} s"}
    record.update(model=model, method=method, load_before=round(load, 2))
    record.setdefault("layers", args.layers)
    if "error" in record and method == "jax.nn jit" and not compile_only:
        compiled = _run_one(model, method, args, env, compile_only=True)
        record.update({k: v for k, v in compiled.items() if k.endswith("per_device")})
    return record


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="llama3_8b,gpt2_xl")
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--layers", type=int, help="blocks of every model (default: its own)")
    parser.add_argument("--timeout", type=int, default=600, help="seconds a case may take")
    parser.add_argument("--out", type=pathlib.Path, default=RESULTS)
    parser.add_argument("--name", default="real_scale", help="result file stem")
    parser.add_argument(
        "--before",
        type=pathlib.Path,
        metavar="PATH",
        help="also run tree.init and flax.create with the package of the checkout at PATH",
    )
    parser.add_argument(
        "--report", action="store_true", help="only write the .md of the --name .json again"
    )
    parser.add_argument("--case", help=argparse.SUPPRESS)
    parser.add_argument("--compile-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case:
        model, method = args.case.split(":")
        print(json.dumps(run_case(model, method, args.layers, args.compile_only)))
        return 0
    if args.report:
        payload = json.loads((args.out / f"{args.name}.json").read_text())
        (args.out / f"{args.name}.md").write_text(_markdown(payload["records"], payload["machine"]))
        return 0
    models, methods = args.models.split(","), args.methods.split(",")
    for flag, given, allowed in (("--models", models, MODELS), ("--methods", methods, METHODS)):
        unknown = [g for g in given if g not in allowed]
        if unknown:
            parser.error(f"{flag}: unknown {unknown}; allowed: {', '.join(allowed)}")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    env.pop("XLA_FLAGS", None)
    cases = [(model, method, method, env) for model in models for method in methods]
    if args.before is not None:  # the same package methods with the checkout at PATH
        before = dict(env, PYTHONPATH=f"{args.before.resolve()}{os.pathsep}{ROOT}")
        cases = [
            case
            for model, method, label, env in cases
            for case in [(model, method, label, env)]
            + ([(model, method, f"{method} (before)", before)] if method in BEFORE else [])
        ]
    records, run_load = [], os.getloadavg()[0]
    for model, method, label, case_env in cases:
        record = _run_one(model, method, args, case_env)
        record["method"] = label
        records.append(record)
        print(_row(record), flush=True)
    command = " ".join(["python benchmarks/real_scale.py", *sys.argv[1:]])
    machine = dict(_machine(), load=round(run_load, 2), command=command)
    args.out.mkdir(parents=True, exist_ok=True)
    payload = {"machine": machine, "records": records}
    (args.out / f"{args.name}.json").write_text(json.dumps(payload, indent=1) + "\n")
    (args.out / f"{args.name}.md").write_text(_markdown(records, machine))
    return 0


if __name__ == "__main__":
    sys.exit(main())
