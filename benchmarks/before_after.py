"""This checkout against another one (``--before PATH``), in one run, with jax.nn beside.

    python benchmarks/before_after.py --before PATH [--reps 3] [--out benchmarks/results]

For a change that must not make calls slower (or is meant to make them faster):
each measurement runs in a fresh process per implementation, the
implementations take turns for ``--reps`` rounds (so a slow spell of the
machine hits all of them), and the table gives the median over rounds with
same-run ratios. Measured:

* throughput (M samples/s) of eager calls of he_normal, normal, uniform and
  truncated_normal at 4096x4096 in float32 and bfloat16 (median of 7 calls
  after one warm-up call);
* eager per-call latency (µs, median of 300 calls after warm-up) of he_normal
  float32 64x64 and 512x512, and of a pre-jitted ``jax.jit`` of jax.nn's he_normal;
* cold eager init of 50 distinct he_normal layer shapes (``_cold_init.py``),
  and jax.nn's eager calls for the same shapes.

Results: ``before_after.json`` and ``before_after.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import platform
import statistics
import subprocess
import sys

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent
ROWS = [
    (name, dtype)
    for dtype in ("float32", "bfloat16")
    for name in ("he_normal", "normal", "uniform", "truncated_normal")
]
LATENCY_SHAPES = ((64, 64), (512, 512))

PROBE = r"""
import json, statistics, sys, time
import jax, jax.numpy as jnp
impl = sys.argv[1]
if impl == "jax.nn":
    nn = jax.nn.initializers
    build = {"he_normal": nn.he_normal(), "normal": nn.normal(), "uniform": nn.uniform(),
             "truncated_normal": nn.truncated_normal()}
    # jax.nn's eager call is many small ops; its jitted call is the fair comparison.
    def make(init, shape, dtype):
        return jax.jit(lambda k: init(k, shape, dtype))
else:
    import jax_inits
    build = {"he_normal": jax_inits.he_normal(), "normal": jax_inits.normal(),
             "uniform": jax_inits.uniform(), "truncated_normal": jax_inits.truncated_normal()}
    def make(init, shape, dtype):
        return lambda k: init(k, shape, dtype)
key = jax.random.key(0)
out = {"throughput": {}, "latency": {}}
for name, dtype in json.loads(sys.argv[2]):
    f = make(build[name], (4096, 4096), getattr(jnp, dtype))
    f(key).block_until_ready()
    f(key).block_until_ready()
    times = []
    for _ in range(7):
        time.sleep(0.05)
        start = time.perf_counter()
        f(key).block_until_ready()
        times.append(time.perf_counter() - start)
    out["throughput"][f"{name} {dtype}"] = 4096 * 4096 / statistics.median(times) / 1e6
for shape in json.loads(sys.argv[3]):
    f = make(build["he_normal"], tuple(shape), jnp.float32)
    for _ in range(20):
        f(key).block_until_ready()
    times = []
    for _ in range(300):
        start = time.perf_counter()
        f(key).block_until_ready()
        times.append(time.perf_counter() - start)
    out["latency"]["x".join(map(str, shape))] = statistics.median(times) * 1e6
print(json.dumps(out))
"""


def _run(args: list[str], checkout: pathlib.Path | None) -> str:
    env = dict(os.environ)
    if checkout is not None:
        env["PYTHONPATH"] = str(checkout)
    done = subprocess.run(
        [sys.executable, *args],
        capture_output=True,
        text=True,
        check=True,
        env=env,
        cwd=checkout or ROOT,
    )
    return done.stdout.strip().splitlines()[-1]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--before", type=pathlib.Path, required=True)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--out", type=pathlib.Path, default=HERE / "results")
    args = parser.parse_args(argv)
    impls = {
        "jax_inits": ("jax_inits", ROOT),
        "jax_inits (before)": ("jax_inits", args.before.resolve()),
        "jax.nn": ("jax.nn", None),
    }
    cold_impls = {
        "jax_inits": ("jax_inits", ROOT),
        "jax_inits (before)": ("jax_inits", args.before.resolve()),
        "jax.nn (eager)": ("jax.nn (eager)", None),
    }
    probes: dict[str, list[dict]] = {name: [] for name in impls}
    cold: dict[str, list[float]] = {name: [] for name in cold_impls}
    rows, shapes = json.dumps(ROWS), json.dumps(LATENCY_SHAPES)
    for _ in range(args.reps):
        for name, (impl, checkout) in impls.items():
            probes[name].append(json.loads(_run(["-c", PROBE, impl, rows, shapes], checkout)))
        for name, (impl, checkout) in cold_impls.items():
            script = str(HERE / "_cold_init.py")
            cold[name].append(float(_run([script, impl, "50"], checkout)))

    def median(name: str, part: str, row: str) -> float:
        return statistics.median(p[part][row] for p in probes[name])

    import jax

    machine = {
        "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "load_average_at_end": os.getloadavg(),
        "python": platform.python_version(),
        "jax": jax.__version__,
        "before": str(args.before),
        "commit": subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip(),
        "before_commit": subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=args.before, capture_output=True, text=True
        ).stdout.strip(),
    }
    try:
        for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                machine["cpu"] = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    lines = [
        "# This checkout against the one before, same run",
        "",
        f"{machine['cpu']}, {machine['cores']} cores, Python {machine['python']}, jax "
        f"{machine['jax']}; commit {machine['commit']} against {machine['before_commit']}; "
        f"median of {args.reps} rounds, each a fresh process per implementation.",
        "",
        "## Throughput, eager 4096x4096 (M samples/s)",
        "",
        "| initializer | dtype | jax_inits | before | jax.nn (jit) | now / before | now / jax.nn |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, dtype in ROWS:
        row = f"{name} {dtype}"
        now, before, ref = (median(i, "throughput", row) for i in impls)
        lines.append(
            f"| {name} | {dtype} | {now:.0f} | {before:.0f} | {ref:.0f} | "
            f"{now / before:.2f}x | {now / ref:.2f}x |"
        )
    lines += [
        "",
        "## Eager per-call latency, he_normal float32 (µs; jax.nn pre-jitted)",
        "",
        "| shape | jax_inits | before | jax.nn (jit) | before / now | jax.nn jit / now |",
        "|---|---|---|---|---|---|",
    ]
    for shape in LATENCY_SHAPES:
        row = "x".join(map(str, shape))
        now, before, ref = (median(i, "latency", row) for i in impls)
        lines.append(
            f"| {row} | {now:.0f} | {before:.0f} | {ref:.0f} | {before / now:.2f}x | "
            f"{ref / now:.2f}x |"
        )
    now, before, ref = (statistics.median(cold[i]) for i in cold_impls)
    lines += [
        "",
        "## Cold eager init of 50 distinct he_normal shapes (s, fresh process)",
        "",
        "| jax_inits | before | jax.nn (eager) | jax eager / jax_inits | before / now |",
        "|---|---|---|---|---|",
        f"| {now:.2f} | {before:.2f} | {ref:.2f} | {ref / now:.2f}x | {before / now:.2f}x |",
        "",
    ]
    args.out.mkdir(parents=True, exist_ok=True)
    result = {"machine": machine, "probes": probes, "cold": cold, "rows": ROWS}
    (args.out / "before_after.json").write_text(json.dumps(result, indent=1) + "\n")
    (args.out / "before_after.md").write_text("\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
