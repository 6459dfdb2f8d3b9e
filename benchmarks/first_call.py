"""The first initializer call in a fresh process, import and backend start excluded.

    python benchmarks/first_call.py [--reps 5] [--before PATH] [--out benchmarks/results]

Each sample is a new Python process that imports jax (and jax_inits), creates a
key, then times ``he_normal()(key, (784, 512)).block_until_ready()`` -- a
model's first layer, which pays for the package's once-per-process work (its
self-checks and the first compile). jax.nn's eager call is timed the same way.
The minimum over ``--reps`` processes is reported (the least disturbed run).
``--before PATH`` also times the jax_inits checkout at PATH, in the same run,
interleaved. A further mode times the first call inside ``jax.set_mesh`` of an
8-device CPU mesh. Results: ``first_call.json`` and ``first_call.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import platform
import subprocess
import sys

SCRIPT = """
import sys, time
import jax
impl, mesh = sys.argv[1], sys.argv[2] == "mesh"
if mesh:
    jax.config.update("jax_num_cpu_devices", 8)
if impl == "jax.nn":
    init = jax.nn.initializers.he_normal()
else:
    import jax_inits
    init = jax_inits.he_normal()
key = jax.random.key(0)
key.block_until_ready()
context = jax.set_mesh(jax.make_mesh((2, 4), ("x", "y"))) if mesh else None
start = time.perf_counter()
if context is None:
    init(key, (784, 512)).block_until_ready()
else:
    with context:
        init(key, (784, 512)).block_until_ready()
print(time.perf_counter() - start)
"""


def _time(impl: str, checkout: pathlib.Path | None, mesh: bool) -> float | None:
    """Seconds of the first call, or ``None`` where the call raised (the error is
    printed: the checkout before the call-path change fails inside a mesh)."""
    env = dict(os.environ)
    if checkout is not None:
        env["PYTHONPATH"] = str(checkout)
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT, impl, "mesh" if mesh else "plain"],
        capture_output=True,
        text=True,
        env=env,
        cwd=checkout or pathlib.Path.cwd(),
    )
    if out.returncode != 0:
        print(f"{impl} at {checkout} (mesh={mesh}) failed: {out.stderr.strip().splitlines()[-1]}")
        return None
    return float(out.stdout.split()[-1])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--before", type=pathlib.Path, default=None)
    parser.add_argument("--out", type=pathlib.Path, default=pathlib.Path("benchmarks/results"))
    args = parser.parse_args(argv)
    here = pathlib.Path(__file__).resolve().parents[1]
    impls: dict[str, tuple[str, pathlib.Path | None]] = {
        "jax.nn (eager)": ("jax.nn", None),
        "jax_inits": ("jax_inits", here),
    }
    if args.before is not None:
        impls["jax_inits (before)"] = ("jax_inits", args.before.resolve())
    rows = []
    for mesh in (False, True):
        times: dict[str, list[float | None]] = {name: [] for name in impls}
        for _ in range(args.reps):  # interleaved: each round times every implementation
            for name, (impl, checkout) in impls.items():
                times[name].append(_time(impl, checkout, mesh))
        for name, samples in times.items():
            ran = [t for t in samples if t is not None]
            best = min(ran) if len(ran) == len(samples) else None  # any failure: "fails"
            rows.append({"impl": name, "mesh": mesh, "min_s": best, "samples": samples})
    import jax

    machine = {
        "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "jax": jax.__version__,
    }
    try:
        for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                machine["cpu"] = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    result = {"machine": machine, "reps": args.reps, "rows": rows}
    lines = [
        "## First call in a fresh process: he_normal (784, 512) float32",
        "",
        f"{machine['cpu']}, {machine['cores']} cores, jax {machine['jax']}; "
        f"min of {args.reps} fresh processes, import excluded.",
        "",
        "| implementation | context | first call (ms) |",
        "|---|---|---|",
    ]
    for row in rows:
        where = "inside jax.set_mesh (8 CPU devices)" if row["mesh"] else "none"
        ms = "raises" if row["min_s"] is None else f"{row['min_s'] * 1e3:.0f}"
        lines.append(f"| {row['impl']} | {where} | {ms} |")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "first_call.json").write_text(json.dumps(result, indent=1))
    (args.out / "first_call.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
