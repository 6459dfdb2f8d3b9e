"""Benchmark harness: jax_inits against jax.nn.initializers, torch.nn.init, numpy
and the memory-write limit, interleaved in one run.

``make bench`` (or ``python benchmarks/harness.py``) writes into ``--out``
(default ``benchmarks/results``): ``<tag>.json`` (one record per case plus the
machine), ``<tag>.md`` (tables with same-run ratios) and ``<tag>.png``
(throughput against size per implementation). ``--quick`` runs small sizes and
few repetitions, as a smoke test.

Method: every implementation is warmed up (compiled) first; then, per case, the
implementations take turns for ``reps`` rounds (the starting one rotating each
round, with a 0.1 s rest before each throughput call so that threads left
spinning by the previous implementation are idle; latency calls run back to
back), each call ending with
``block_until_ready()`` (torch and numpy are synchronous), and the median is
reported. Torch and numpy rows are skipped when the package is not installed.
Cold init and peak memory run ``_cold_init.py`` and ``_peak_rss.py`` (next to
this file) in fresh processes.

Not part of the installed package: the wheel ships no benchmark code.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import pathlib
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

import jax_inits

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent

INITS = ("normal", "uniform", "truncated_normal", "he_normal", "glorot_uniform", "orthogonal")
FULL_SIZES = ((1024, 1024), (4096, 4096), (16384, 4096))
QUICK_SIZES = ((256, 256), (512, 512))
ORTHOGONAL_MAX = 4096 * 4096  # QR of larger matrices takes minutes on a small CPU


def _try_import(name):
    try:
        return __import__(name)
    except ImportError:
        return None


def machine() -> dict:
    """What the numbers were measured on."""
    cpu = platform.processor()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if "model name" in line)
    except (OSError, StopIteration):
        pass
    torch = _try_import("torch")
    mem = None
    try:
        mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError):
        pass
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "platform": platform.platform(),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": None if mem is None else round(mem, 1),
        "device": str(jax.devices()[0].device_kind),
        "backend": jax.default_backend(),
        "python": platform.python_version(),
        "jax": jax.__version__,
        "numpy": np.__version__,
        "torch": None if torch is None else torch.__version__,
        "torch_threads": None if torch is None else torch.get_num_threads(),
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
    }


# ----------------------------------------------------------------- implementations


def _jax_dtype(dtype: str):
    return jnp.dtype(dtype)


def _ours(name: str, shape, dtype: str) -> Callable:
    init = (
        getattr(jax_inits, name)(1.0)
        if name in ("normal", "uniform", "truncated_normal")
        else getattr(jax_inits, name)()
    )
    key = jax.random.key(0)
    return lambda: init(key, shape, _jax_dtype(dtype))


def _jax(name: str, shape, dtype: str, jit: bool) -> Callable:
    J = jax.nn.initializers
    init = (
        getattr(J, name)(1.0)
        if name in ("normal", "uniform", "truncated_normal")
        else getattr(J, name)()
    )
    if dtype != "float32" and name == "orthogonal":
        return None  # jax raises NotImplementedError for 16-bit orthogonal
    key = jax.random.key(0)
    if jit:
        f = jax.jit(init, static_argnums=(1, 2))
        return lambda: f(key, shape, _jax_dtype(dtype))
    return lambda: init(key, shape, _jax_dtype(dtype))


def _torch(name: str, shape, dtype: str) -> Callable | None:
    torch = _try_import("torch")
    if torch is None:
        return None
    t = torch.empty(shape[::-1], dtype=getattr(torch, dtype))  # torch layout (out, in)
    init = torch.nn.init
    fn = {
        "normal": lambda: init.normal_(t),
        "uniform": lambda: init.uniform_(t),
        "truncated_normal": lambda: init.trunc_normal_(t, std=1.0),
        "he_normal": lambda: init.kaiming_normal_(t),
        "glorot_uniform": lambda: init.xavier_uniform_(t),
        "orthogonal": lambda: init.orthogonal_(t),
    }[name]
    if name == "orthogonal" and dtype != "float32":
        return None  # torch's QR has no bf16 kernel
    return lambda: fn()


def _numpy(name: str, shape, dtype: str) -> Callable | None:
    if dtype != "float32":
        return None  # numpy has no bfloat16 generator
    rng = np.random.default_rng(0)
    fan_in, fan_out = shape
    fn = {
        "normal": lambda: rng.standard_normal(shape, dtype=np.float32),
        "uniform": lambda: rng.random(shape, dtype=np.float32),
        "he_normal": lambda: (
            rng.standard_normal(shape, dtype=np.float32) * np.float32(math.sqrt(2 / fan_in))
        ),
        "glorot_uniform": lambda: (
            rng.uniform(-1, 1, shape).astype(np.float32)
            * np.float32(math.sqrt(6 / (fan_in + fan_out)))
        ),
        "orthogonal": lambda: np.linalg.qr(rng.standard_normal(shape, dtype=np.float32))[0],
    }.get(name)
    return fn


def _limit(shape, dtype: str) -> Callable:
    f = jax.jit(lambda: jnp.full(shape, 1.0, _jax_dtype(dtype)))
    return f


def implementations(name: str, shape, dtype: str) -> dict[str, Callable]:
    impls = {
        "jax_inits": _ours(name, shape, dtype),
        "jax.nn (jit)": _jax(name, shape, dtype, jit=True),
        "jax.nn (eager)": _jax(name, shape, dtype, jit=False),
        "torch.nn.init": _torch(name, shape, dtype),
        "numpy": _numpy(name, shape, dtype),
        "limit (jnp.full)": _limit(shape, dtype),
    }
    return {k: v for k, v in impls.items() if v is not None}


def _block(x):
    if hasattr(x, "block_until_ready"):
        x.block_until_ready()


#: Seconds of rest before each timed call, so that worker threads an implementation
#: leaves spinning (OpenBLAS behind numpy's QR, torch's pools) are idle again and do
#: not slow down whichever implementation runs next.
PAUSE = 0.1


def _time(fn: Callable, pause: float) -> float:
    if pause:
        time.sleep(pause)
    start = time.perf_counter()
    _block(fn())
    return time.perf_counter() - start


def interleaved(
    impls: dict[str, Callable], reps: int, pause: float | None = None
) -> dict[str, float]:
    """Median seconds per call, implementations taking turns (``pause``: rest before
    each call, default `PAUSE`)."""
    pause = PAUSE if pause is None else pause
    for fn in impls.values():  # warm-up: compile / allocate
        _block(fn())
    times: dict[str, list[float]] = {k: [] for k in impls}
    order = list(impls)
    for rep in range(reps):
        # Rotate who goes first, so that what one implementation leaves behind
        # (spinning BLAS/OpenMP threads, dirty caches) does not always hit the same next one.
        for k in order[rep % len(order) :] + order[: rep % len(order)]:
            times[k].append(_time(impls[k], pause))
    return {k: statistics.median(v) for k, v in times.items()}


# ----------------------------------------------------------------- whole-run cases


def throughput(sizes, dtypes, inits, reps, progress) -> list[dict]:
    records = []
    cases = [
        (n, s, d)
        for s in sizes
        for d in dtypes
        for n in inits
        if not (n == "orthogonal" and math.prod(s) > ORTHOGONAL_MAX)
    ]
    for i, (name, shape, dtype) in enumerate(cases, 1):
        progress(f"[{i}/{len(cases)}] {name} {shape[0]}x{shape[1]} {dtype}")
        n_reps = max(3, reps // 2) if name == "orthogonal" else reps
        medians = interleaved(implementations(name, shape, dtype), n_reps)
        for impl, sec in medians.items():
            records.append(
                {
                    "kind": "throughput",
                    "impl": impl,
                    "initializer": name,
                    "shape": list(shape),
                    "dtype": dtype,
                    "median_s": sec,
                    "msamples_per_s": math.prod(shape) / sec / 1e6,
                    "reps": n_reps,
                }
            )
    return records


def orthogonal_breakdown(shape, reps) -> dict:
    """Where the time of our orthogonal goes: sampling the normal matrix vs the QR."""
    from jax_inits._src import sampling

    key = jax.random.key(0)
    n, m = shape
    z = jax.jit(lambda k: sampling.normal(k, (max(n, m), min(n, m)), jnp.float32))
    qr = jax.jit(lambda a: jnp.linalg.qr(a)[0])
    zz = z(key)
    medians = interleaved(
        {
            "sample": lambda: z(key),
            "qr": lambda: qr(zz),
            "total": _ours("orthogonal", shape, "float32"),
        },
        reps,
    )
    return {"kind": "orthogonal_breakdown", "shape": list(shape), **medians}


def latency(reps: int) -> list[dict]:
    """Eager per-call latency for small layers (cached executables)."""
    records = []
    torch = _try_import("torch")
    for shape in [(64, 64), (512, 512)]:
        impls = {
            "jax_inits": _ours("he_normal", shape, "float32"),
            "jax.nn (eager)": _jax("he_normal", shape, "float32", jit=False),
            "jax.nn (jit)": _jax("he_normal", shape, "float32", jit=True),
        }
        if torch is not None:
            impls["torch.nn.init"] = _torch("he_normal", shape, "float32")
        # Back to back (no rest): a rest before a 100 us call would time a cold call.
        med = interleaved(impls, reps * 10, pause=0.0)
        for impl, sec in med.items():
            records.append(
                {
                    "kind": "latency",
                    "impl": impl,
                    "initializer": "he_normal",
                    "shape": list(shape),
                    "dtype": "float32",
                    "median_s": sec,
                }
            )
    return records


def _script(name: str, *args) -> str:
    """Runs ``benchmarks/<name>`` in a fresh process (the checkout's jax_inits first on
    the path); returns its stdout."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    out = subprocess.run(
        [sys.executable, str(HERE / name), *map(str, args)],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    )
    return out.stdout


def cold_init(layers: int = 50) -> list[dict]:
    """Cold eager init of a model with ``layers`` distinct layer shapes, fresh process each."""
    impls = ["jax_inits", "jax.nn (eager)"] + (["torch.nn.init"] if _try_import("torch") else [])
    records = []
    for impl in impls:
        out = _script("_cold_init.py", impl, layers)
        records.append(
            {
                "kind": "cold_init",
                "impl": impl,
                "layers": layers,
                "seconds": float(out.split()[-1]),
            }
        )
    return records


def peak_rss(n: int) -> list[dict]:
    """Peak resident memory added by one n x n float32 he_normal, separate processes."""
    impls = ["jax_inits", "jax.nn (jit)"] + (["torch.nn.init"] if _try_import("torch") else [])
    records = []
    for impl in impls:
        base, peak = map(int, _script("_peak_rss.py", impl, n).split()[-2:])
        size = n * n * 4
        records.append(
            {
                "kind": "peak_rss",
                "impl": impl,
                "shape": [n, n],
                "output_bytes": size,
                "peak_added_bytes": peak - base,
                "ratio_to_output": (peak - base) / size,
            }
        )
    return records


# ----------------------------------------------------------------- reporting


def _ratio(a, b):
    return "—" if not a or not b else f"{a / b:.2f}x"


def markdown(result: dict) -> str:
    m = result["machine"]
    lines = [
        f"# jax_inits benchmark ({result['tag']})",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB, "
        f"{m['platform']}; backend {m['backend']} ({m['device']}); jax {m['jax']}, "
        f"torch {m['torch']} ({m['torch_threads']} threads, OMP_WAIT_POLICY="
        f"{m.get('omp_wait_policy')}), numpy {m['numpy']}; "
        f"{m['date']}.",
        "",
        "## Throughput (M samples/s, median; ratios are jax_inits over the others, same run)",
        "",
    ]
    rows = [r for r in result["records"] if r["kind"] == "throughput"]
    cases = sorted(
        {(r["initializer"], tuple(r["shape"]), r["dtype"]) for r in rows},
        key=lambda c: (c[2], INITS.index(c[0]), math.prod(c[1])),
    )
    impls = [
        "jax_inits",
        "jax.nn (jit)",
        "jax.nn (eager)",
        "torch.nn.init",
        "numpy",
        "limit (jnp.full)",
    ]
    lines.append(
        "| initializer | shape | dtype | " + " | ".join(impls) + " | vs jax jit | vs torch |"
    )
    lines.append("|" + "---|" * (len(impls) + 5))
    for name, shape, dtype in cases:
        got = {
            r["impl"]: r["msamples_per_s"]
            for r in rows
            if (r["initializer"], tuple(r["shape"]), r["dtype"]) == (name, shape, dtype)
        }
        cells = [f"{got[i]:.0f}" if i in got else "—" for i in impls]
        lines.append(
            f"| {name} | {shape[0]}x{shape[1]} | {dtype} | "
            + " | ".join(cells)
            + f" | {_ratio(got.get('jax_inits'), got.get('jax.nn (jit)'))}"
            + f" | {_ratio(got.get('jax_inits'), got.get('torch.nn.init'))} |"
        )
    lat = [r for r in result["records"] if r["kind"] == "latency"]
    if lat:
        lines += [
            "",
            "## Eager per-call latency, he_normal float32 (µs, median)",
            "",
            "| shape | "
            + " | ".join(sorted({r["impl"] for r in lat}))
            + " | jax eager / jax_inits |",
            "|---" * (len({r["impl"] for r in lat}) + 2) + "|",
        ]
        for shape in sorted({tuple(r["shape"]) for r in lat}):
            got = {r["impl"]: r["median_s"] for r in lat if tuple(r["shape"]) == shape}
            lines.append(
                f"| {shape[0]}x{shape[1]} | "
                + " | ".join(f"{got[i] * 1e6:.0f}" for i in sorted(got))
                + f" | {_ratio(got.get('jax.nn (eager)'), got.get('jax_inits'))} |"
            )
    cold = [r for r in result["records"] if r["kind"] == "cold_init"]
    if cold:
        got = {r["impl"]: r["seconds"] for r in cold}
        lines += [
            "",
            f"## Cold eager init, {cold[0]['layers']} distinct he_normal layer shapes "
            "(s, fresh process)",
            "",
            "| " + " | ".join(got) + " | jax eager / jax_inits |",
            "|---" * (len(got) + 1) + "|",
            "| "
            + " | ".join(f"{v:.2f}" for v in got.values())
            + f" | {_ratio(got.get('jax.nn (eager)'), got.get('jax_inits'))} |",
        ]
    rss = [r for r in result["records"] if r["kind"] == "peak_rss"]
    if rss:
        lines += [
            "",
            f"## Peak RSS added by one {rss[0]['shape'][0]}² float32 he_normal "
            "(separate process, compiled beforehand)",
            "",
            "| impl | peak added (MiB) | / output size |",
            "|---|---|---|",
        ]
        lines += [
            f"| {r['impl']} | {r['peak_added_bytes'] / 2**20:.0f} | {r['ratio_to_output']:.2f}x |"
            for r in rss
        ]
    br = [r for r in result["records"] if r["kind"] == "orthogonal_breakdown"]
    for r in br:
        lines += [
            "",
            f"## Orthogonal {r['shape'][0]}x{r['shape'][1]}: where time goes",
            "",
            f"sampling {r['sample'] * 1e3:.0f} ms, QR {r['qr'] * 1e3:.0f} ms, "
            f"total {r['total'] * 1e3:.0f} ms.",
        ]
    return "\n".join(lines) + "\n"


def plot(result: dict, path: pathlib.Path) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    rows = [r for r in result["records"] if r["kind"] == "throughput"]
    inits = [n for n in INITS if any(r["initializer"] == n for r in rows)]
    dtypes = sorted({r["dtype"] for r in rows})
    impls = sorted({r["impl"] for r in rows})
    colors = {impl: f"C{i}" for i, impl in enumerate(impls)}  # one colour per impl everywhere
    fig, axes = plt.subplots(
        len(dtypes),
        len(inits),
        figsize=(3.2 * len(inits), 3.0 * len(dtypes)),
        squeeze=False,
        sharey=True,
    )
    for di, dtype in enumerate(dtypes):
        for ii, name in enumerate(inits):
            ax = axes[di][ii]
            for impl in impls:
                pts = sorted(
                    (math.prod(r["shape"]), r["msamples_per_s"])
                    for r in rows
                    if r["impl"] == impl and r["initializer"] == name and r["dtype"] == dtype
                )
                if pts:
                    ax.plot(*zip(*pts, strict=True), marker="o", label=impl, color=colors[impl])
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_title(f"{name} {dtype}", fontsize=9)
            ax.set_xlabel("elements")
            if ii == 0:
                ax.set_ylabel("M samples/s")
    handles = [plt.Line2D([], [], color=colors[i], marker="o", label=i) for i in impls]
    fig.legend(handles=handles, loc="lower center", ncol=len(impls), fontsize=8)
    fig.suptitle(
        f"jax_inits throughput ({result['machine']['cpu']}, {result['machine']['cores']} cores)",
        fontsize=10,
    )
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return True


def run(quick: bool, out: pathlib.Path, tag: str | None = None, progress=None) -> dict:
    progress = progress or (lambda msg: print(msg, file=sys.stderr, flush=True))
    tag = tag or ("quick" if quick else f"{jax.default_backend()}")
    sizes = QUICK_SIZES if quick else FULL_SIZES
    reps = 3 if quick else 7
    records = throughput(sizes, ("float32", "bfloat16"), INITS, reps, progress)
    progress("orthogonal breakdown")
    records.append(orthogonal_breakdown(sizes[-1] if quick else (4096, 4096), 3))
    progress("eager latency")
    records += latency(reps)
    if not quick:
        progress("cold init (fresh processes)")
        records += cold_init()
        progress("peak RSS (fresh processes)")
        records += peak_rss(16384)
    result = {"tag": tag, "quick": quick, "machine": machine(), "records": records}
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{tag}.json").write_text(json.dumps(result, indent=1))
    (out / f"{tag}.md").write_text(markdown(result))
    plot(result, out / f"{tag}.png")
    progress(f"wrote {out / tag}.json/.md/.png")
    return result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python benchmarks/harness.py", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--quick", action="store_true", help="small sizes, few reps (smoke)")
    parser.add_argument("--out", type=pathlib.Path, default=HERE / "results")
    parser.add_argument("--tag", default=None, help="file name stem (default: backend)")
    parser.add_argument(
        "--json", action="store_true", help="print the JSON result instead of the markdown"
    )
    parser.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="progress lines on stderr (default: only when stderr is a terminal)",
    )
    args = parser.parse_args(argv)
    # Idle OpenMP threads of torch would otherwise spin on the cores that the next
    # implementation in the interleaved order runs on (torch reads this at import;
    # the fresh processes of cold_init and peak_rss inherit it).
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    show = sys.stderr.isatty() if args.progress is None else args.progress
    result = run(args.quick, args.out, args.tag, None if show else (lambda msg: None))
    print(json.dumps(result, indent=1) if args.json else markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
