"""Multi-host init: one model over 1, 2 and 4 ``jax.distributed`` processes.

Run: ``python benchmarks/multihost.py [--model gpt2_xl] [--processes 1,2,4]``
(``--model gpt2_small`` for a smoke run; tests/test_real_scale.py runs it so).
Each run starts its processes on localhost (a local coordinator, gloo
collectives); the 8 virtual CPU devices are split between them (8/N each) and
form one 2x4 ``("data", "model")`` mesh, the spec of ``examples/llama_spec.py``
laid out on it. Every process:

1. draws the model with ``jax_inits.tree.init`` (timed; its peak resident set
   above the one before, from ``VmHWM``) and records what it holds: the bytes of
   its addressable shards, and that no sharded leaf is whole on it;
2. hashes every shard it holds (SHA-256 of its bytes, keyed by leaf path and
   index): the union over processes must be the single-process run's hashes,
   the values equal bit for bit whatever the number of processes;
3. saves the parameters with orbax (``StandardCheckpointer``, every process
   writing its shards), restores them into the same shardings, and creates a
   bigger model around them with ``tree.init(..., known=restored,
   force=[the embedding])`` from another key: a new ``score`` head drawn, the
   embedding drawn again, every other leaf the checkpoint's. Those hashes too
   must be the single-process run's.

Results go to ``benchmarks/results/multihost.{json,md}``. Linux only.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import pathlib
import socket
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
GIB = 2**30
DEVICES = 8


def _rss(field: str) -> int:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith(field))


def _reset_peak() -> int:
    with open("/proc/self/clear_refs", "w") as refs:
        refs.write("5")
    return _rss("VmRSS:")


def _hashes(params) -> dict[str, str]:
    """SHA-256 of every shard this process holds, keyed ``path|start:stop,...``."""
    import jax
    import numpy as np

    import jax_inits.tree

    out = {}
    for path, leaf in zip(jax_inits.tree.leaf_paths(params), jax.tree.leaves(params), strict=True):
        for shard in leaf.addressable_shards:
            index = ",".join(
                f"{s.start or 0}:{leaf.shape[d] if s.stop is None else s.stop}"
                for d, s in enumerate(shard.index)
            )
            out[f"{path}|{index}"] = hashlib.sha256(np.asarray(shard.data).tobytes()).hexdigest()
    return out


def _held(params) -> tuple[int, list[str]]:
    """Bytes of this process's shards, and the sharded leaves it holds whole."""
    import jax

    import jax_inits.tree

    held, whole = 0, []
    for path, leaf in zip(jax_inits.tree.leaf_paths(params), jax.tree.leaves(params), strict=True):
        held += sum(shard.data.nbytes for shard in leaf.addressable_shards)
        if jax.process_count() > 1 and not leaf.is_fully_replicated and leaf.is_fully_addressable:
            whole.append(path)
    return held, whole


def worker(model: str, port: int, processes: int, process_id: int, workdir: str) -> dict:
    """One process of a run: draw, hash, save, restore around."""
    import jax

    jax.config.update("jax_num_cpu_devices", DEVICES // processes)
    if processes > 1:
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
        jax.distributed.initialize(
            coordinator_address=f"localhost:{port}",
            num_processes=processes,
            process_id=process_id,
        )
    import orbax.checkpoint as ocp
    from jax.sharding import AxisType, NamedSharding
    from jax.sharding import PartitionSpec as P

    import jax_inits.tree

    sys.path.insert(0, str(ROOT / "examples"))
    import llama_spec

    mesh = jax.make_mesh((2, 4), ("data", "model"), axis_types=(AxisType.Auto,) * 2)
    spec, rules = llama_spec.spec(model, mesh), llama_spec.rules_for(model)
    before = _reset_peak()
    start = time.perf_counter()
    params = jax.block_until_ready(jax_inits.tree.init(jax.random.key(0), spec, rules))
    init_s, peak = time.perf_counter() - start, _rss("VmHWM:")
    held, whole = _held(params)
    record = {
        "process": process_id,
        "init_s": init_s,
        "peak_increase_bytes": peak - before,
        "held_bytes": held,
        "whole_sharded_leaves": whole,
        "total_bytes": sum(leaf.nbytes for leaf in jax.tree.leaves(params)),
        "hashes": _hashes(params),
    }

    path = pathlib.Path(workdir) / "checkpoint"
    start = time.perf_counter()
    with ocp.StandardCheckpointer() as checkpointer:
        checkpointer.save(path, params)
        checkpointer.wait_until_finished()
    record["save_s"] = time.perf_counter() - start
    del params
    start = time.perf_counter()
    with ocp.StandardCheckpointer() as checkpointer:
        restored = checkpointer.restore(path, spec)
    record["restore_s"] = time.perf_counter() - start
    config = llama_spec.config_of(model)
    embedding = "transformer/wte/*" if model.startswith("gpt2") else "model/embed_tokens/*"
    bigger = dict(
        spec,
        score={
            "kernel": jax.ShapeDtypeStruct(
                (config.d_model, 8), config.dtype, sharding=NamedSharding(mesh, P("data", None))
            )
        },
    )
    start = time.perf_counter()
    around = jax_inits.tree.init(
        jax.random.key(1), bigger, rules, known=restored, force=[embedding]
    )
    around = jax.block_until_ready(around)
    record["around_s"] = time.perf_counter() - start
    record["around_hashes"] = _hashes(around)
    drawn, forced = record["hashes"], embedding[:-1]
    record["restored_equal"] = all(
        digest == drawn[index]
        for index, digest in record["around_hashes"].items()
        if index in drawn and not index.startswith(forced)
    )
    record["forced_differs"] = all(
        digest != drawn[index]
        for index, digest in record["around_hashes"].items()
        if index.startswith(forced)
    )
    if processes > 1:
        jax.distributed.shutdown()
    return record


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("localhost", 0))
        return sock.getsockname()[1]


def run(model: str, processes: int, timeout: int) -> list[dict]:
    """The records of the ``processes`` processes of one run."""
    port = _free_port()
    env = dict(os.environ, PYTHONPATH=str(ROOT), JAX_PLATFORMS="cpu")
    env.pop("XLA_FLAGS", None)
    with tempfile.TemporaryDirectory(prefix="multihost") as workdir:
        procs = [
            subprocess.Popen(
                [sys.executable, __file__, "--model", model, "--worker"]
                + [str(port), str(processes), str(i), workdir],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for i in range(processes)
        ]
        outs = []
        try:
            for proc in procs:
                outs.append(proc.communicate(timeout=timeout))
        finally:
            for proc in procs:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
    for proc, (_, err) in zip(procs, outs, strict=True):
        if proc.returncode != 0:
            raise RuntimeError(f"multihost: a process of {processes} failed:\n{err[-3000:]}")
    return [json.loads(out.strip().splitlines()[-1]) for out, _ in outs]


def compare(reference: list[dict], records: list[dict]) -> dict:
    """What a run of several processes holds, against the one-process run."""
    want = reference[0]
    summary = {"processes": len(records)}
    for key in ("hashes", "around_hashes"):
        union: dict[str, str] = {}
        for record in records:
            for index, digest in record[key].items():
                if union.setdefault(index, digest) != digest:
                    raise AssertionError(f"multihost: two processes differ on {index}")
        summary[f"{key}_equal"] = union == want[key]
        summary[f"{key}_count"] = len(union)
    summary["restored_equal"] = all(r["restored_equal"] for r in records)
    summary["forced_differs"] = all(r["forced_differs"] for r in records)
    whole = {path for r in records for path in r["whole_sharded_leaves"]}
    summary["whole_sharded_leaves"] = sorted(whole)
    for field in ("init_s", "save_s", "restore_s", "around_s"):
        summary[field] = max(r[field] for r in records)
    summary["held_bytes_per_process"] = [r["held_bytes"] for r in records]
    summary["peak_increase_bytes_per_process"] = [r["peak_increase_bytes"] for r in records]
    summary["total_bytes"] = want["total_bytes"]
    return summary


def _markdown(model: str, summaries: list[dict], machine: dict) -> str:
    lines = [
        f"# Multi-host init: {model} over 1, 2 and 4 processes",
        "",
        "Produced by `python benchmarks/multihost.py`; 8 virtual CPU devices split between "
        "`jax.distributed` processes on localhost, one 2x4 (data, model) mesh.",
        "",
        f"Machine: {machine['cpu']}, {machine['cores']} cores, jax {machine['jax']}, "
        f"{machine['date']}; load average before the runs {machine['load']}.",
        "",
        "init / save / restore / around = slowest process's seconds for `tree.init`, the "
        "orbax save, the restore into the same shardings and `tree.init(known=restored, "
        "force=[embedding])` of the model with a new head; held = bytes of the shards a "
        "process holds (replicated norms once per device); peak = its peak resident set "
        "above the one before `tree.init`; equal = the union of the processes' shard "
        "hashes is the one-process run's (draw, and restore-around); restored = every "
        "known leaf is the checkpoint's value and the forced embedding a new draw.",
        "",
        "| processes | init | save | restore | around | held / process (GiB) | "
        "peak / process (GiB) | equal (draw, around) | restored | "
        "sharded leaves whole on a process |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for s in summaries:
        held = ", ".join(f"{b / GIB:.2f}" for b in s["held_bytes_per_process"])
        peak = ", ".join(f"{b / GIB:.2f}" for b in s["peak_increase_bytes_per_process"])
        lines.append(
            f"| {s['processes']} | {s['init_s']:.1f} s | {s['save_s']:.1f} s | "
            f"{s['restore_s']:.1f} s | {s['around_s']:.1f} s | {held} | {peak} | "
            f"{s['hashes_equal']}, {s['around_hashes_equal']} | "
            f"{s['restored_equal'] and s['forced_differs']} | "
            f"{len(s['whole_sharded_leaves'])} |"
        )
    lines += ["", f"Parameters: {summaries[0]['total_bytes'] / GIB:.2f} GiB.", ""]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="gpt2_xl")
    parser.add_argument("--processes", default="1,2,4", help="comma-separated; 1 comes first")
    parser.add_argument("--timeout", type=int, default=600, help="seconds a run may take")
    parser.add_argument("--out", type=pathlib.Path, default=RESULTS)
    parser.add_argument("--worker", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        port, processes, process_id, workdir = args.worker
        record = worker(args.model, int(port), int(processes), int(process_id), workdir)
        print(json.dumps(record))
        return 0
    counts = [int(n) for n in args.processes.split(",")]
    bad = [n for n in counts if n < 1 or DEVICES % n]
    if bad:
        parser.error(f"--processes: {bad} do not divide the {DEVICES} devices")
    counts = [1] + [n for n in counts if n != 1]
    load = os.getloadavg()[0]
    reference = run(args.model, 1, args.timeout)
    summaries = [compare(reference, reference)]
    for n in counts[1:]:
        summaries.append(compare(reference, run(args.model, n, args.timeout)))
        print(json.dumps({k: v for k, v in summaries[-1].items()}), flush=True)
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from real_scale import _machine

    machine = dict(_machine(), load=round(load, 2))
    args.out.mkdir(parents=True, exist_ok=True)
    payload = {"machine": machine, "model": args.model, "runs": summaries}
    (args.out / "multihost.json").write_text(json.dumps(payload, indent=1) + "\n")
    (args.out / "multihost.md").write_text(_markdown(args.model, summaries, machine))
    checks = ("hashes_equal", "around_hashes_equal", "restored_equal", "forced_differs")
    ok = all(s[c] for s in summaries for c in checks) and not any(
        s["whole_sharded_leaves"] for s in summaries
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
