"""Depth sweep of whole-model init: compile time against the number of layers.

Run: ``python benchmarks/tree_depth.py [--layers 4,16,64,256] [--old PATH] [--before PATH]
[--impls ...] [--name NAME] [--render]``.

The spec is Llama-like (d_model 256, ffn 688, vocab 1024; per layer
wq/wk/wv/wo/w1/w3/w2 and two norm scales: 9 leaves, plus the embedding and a
final norm), with the rules ``*ln*`` -> ones, ``embed`` -> normal(0.02),
``*`` -> he_normal. Every (implementation, depth) point runs in a fresh
process, so "cold" is the first call with empty caches (tracing, compiling and
running; imports excluded) and "warm" the median of 3 further calls with other
keys. Implementations:

* ``tree.init``: ``jax_inits.tree.init`` of this checkout (grouped draws).
* ``tree.init (old)``: the same call from the checkout given by ``--old`` (e.g. a
  worktree of the commit before grouping), imported in its own process.
* ``jax.nn jit``: one ``jax.jit`` creating the same tree with jax.nn.initializers
  (keys ``fold_in(key, leaf index)``), the plain-JAX way.
* ``nnx eager`` / ``nnx.jit`` / ``nnx create``: a Flax nnx model with the same
  parameters (``nnx.Embed``, ``nnx.RMSNorm``, bias-free ``nnx.Linear``), built
  eagerly (``Model(rngs=...)``), under ``nnx.jit``, and with
  ``jax_inits.flax.create`` and the rules above (paths such as
  ``layers/0/wq/kernel``); ``nnx create (inline)`` passes a new
  ``lambda rngs: Model(rngs)`` on every call, as user code often does.
* ``linen eager`` / ``linen jit`` / ``linen create``: the same model in linen,
  ``model.init`` called eagerly and ``jax.jit(model.init)`` (both also run the
  forward pass on 8 tokens, as ``init`` does), and
  ``jax_inits.flax.create_linen`` with the rules.
* ``eqx eager`` / ``eqx create``: the same model in Equinox (``eqx.nn.Embedding``,
  ``eqx.nn.RMSNorm``, bias-free ``eqx.nn.Linear``), built eagerly and with
  ``jax_inits.equinox.create`` and the rules (``he_normal`` on ``(out, in)``
  weights).
* ``X (before)``: implementation ``X`` with the ``jax_inits`` of the checkout given by
  ``--before`` (e.g. a worktree of the commit before a change), imported in its
  own process beside this checkout's, for the implementations in
  ``--before-impls`` (default: the three ``create`` helpers).

With ``--before`` the results also get a targets table: for each helper, its
cold time over ``tree.init``'s cold time (target at most 1.5) and its warm time
over the plain construction's warm time (``nnx eager``, ``linen eager``, ``eqx
eager``; target at most 1), for this checkout and the one before.

The interleaving is by depth: every implementation runs at 4 layers, then at
16, and so on. Results go to ``benchmarks/results/NAME.{json,md}`` (``--name``,
default ``tree_depth``) with the machine (CPU model, cores, load average at the
start and the end) and versions.
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
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
D_MODEL, FFN, VOCAB = 256, 688, 1024
IMPLS = (
    "tree.init",
    "tree.init (old)",
    "jax.nn jit",
    "nnx eager",
    "nnx.jit",
    "nnx create",
    "nnx create (inline)",
    "linen eager",
    "linen jit",
    "linen create",
    "eqx eager",
    "eqx create",
)
#: The helpers and what each is compared with: (cold reference, warm reference).
TARGETS = {
    "nnx create": ("tree.init", "nnx eager"),
    "linen create": ("tree.init", "linen eager"),
    "eqx create": ("tree.init", "eqx eager"),
}
BEFORE = " (before)"
#: Every implementation name in table order, each followed by its "before" run.
ORDER = tuple(j for i in IMPLS for j in (i, i + BEFORE))


def _present(records: list[dict]) -> list[str]:
    """The implementations ``records`` have, in table order."""
    return [i for i in ORDER if any(r["impl"] == i for r in records)]


def llama_spec(n_layers: int):
    """The benchmark's spec: ``jax.ShapeDtypeStruct`` leaves, 9 a layer + 2."""
    import jax
    import jax.numpy as jnp

    def sds(*shape):
        return jax.ShapeDtypeStruct(shape, jnp.float32)

    d, f = D_MODEL, FFN
    layer = {
        "attn_ln": (d,),
        "mlp_ln": (d,),
        "wq": (d, d),
        "wk": (d, d),
        "wv": (d, d),
        "wo": (d, d),
        "w1": (d, f),
        "w3": (d, f),
        "w2": (f, d),
    }
    return {
        "embed": sds(VOCAB, d),
        "final_ln": sds(d),
        "layers": [{name: sds(*shape) for name, shape in layer.items()} for _ in range(n_layers)],
    }


def _nnx_model(n_layers: int):
    """The benchmark's spec as a Flax nnx model class (same shapes, float32)."""
    from flax import nnx

    d, f = D_MODEL, FFN

    class Block(nnx.Module):
        def __init__(self, rngs):
            self.attn_ln = nnx.RMSNorm(d, rngs=rngs)
            self.mlp_ln = nnx.RMSNorm(d, rngs=rngs)
            for name in ("wq", "wk", "wv", "wo"):
                setattr(self, name, nnx.Linear(d, d, use_bias=False, rngs=rngs))
            self.w1 = nnx.Linear(d, f, use_bias=False, rngs=rngs)
            self.w3 = nnx.Linear(d, f, use_bias=False, rngs=rngs)
            self.w2 = nnx.Linear(f, d, use_bias=False, rngs=rngs)

    class Model(nnx.Module):
        def __init__(self, rngs):
            self.embed = nnx.Embed(VOCAB, d, rngs=rngs)
            self.final_ln = nnx.RMSNorm(d, rngs=rngs)
            self.layers = nnx.List([Block(rngs) for _ in range(n_layers)])

    return Model


def _linen_model(n_layers: int):
    """The benchmark's spec as a Flax linen module (same shapes, float32)."""
    from flax import linen as nn

    d, f = D_MODEL, FFN

    class Block(nn.Module):
        @nn.compact
        def __call__(self, x):
            h = nn.RMSNorm(name="attn_ln")(x)
            q, k, v = (nn.Dense(d, use_bias=False, name=n)(h) for n in ("wq", "wk", "wv"))
            x = x + nn.Dense(d, use_bias=False, name="wo")(q * k * v)
            h = nn.RMSNorm(name="mlp_ln")(x)
            gate = nn.Dense(f, use_bias=False, name="w1")(h)
            up = nn.Dense(f, use_bias=False, name="w3")(h)
            return x + nn.Dense(d, use_bias=False, name="w2")(gate * up)

    class Model(nn.Module):
        @nn.compact
        def __call__(self, tokens):
            x = nn.Embed(VOCAB, d, name="embed")(tokens)
            for i in range(n_layers):
                x = Block(name=f"layers_{i}")(x)
            return nn.RMSNorm(name="final_ln")(x)

    return Model()


def _eqx_model(n_layers: int):
    """The benchmark's spec as an Equinox module class (same shapes, float32)."""
    import equinox as eqx
    import jax

    d, f = D_MODEL, FFN

    class Block(eqx.Module):
        attn_ln: eqx.nn.RMSNorm
        mlp_ln: eqx.nn.RMSNorm
        wq: eqx.nn.Linear
        wk: eqx.nn.Linear
        wv: eqx.nn.Linear
        wo: eqx.nn.Linear
        w1: eqx.nn.Linear
        w3: eqx.nn.Linear
        w2: eqx.nn.Linear

        def __init__(self, key):
            keys = jax.random.split(key, 7)
            self.attn_ln, self.mlp_ln = eqx.nn.RMSNorm(d), eqx.nn.RMSNorm(d)
            self.wq, self.wk, self.wv, self.wo = (
                eqx.nn.Linear(d, d, use_bias=False, key=k) for k in keys[:4]
            )
            self.w1 = eqx.nn.Linear(d, f, use_bias=False, key=keys[4])
            self.w3 = eqx.nn.Linear(d, f, use_bias=False, key=keys[5])
            self.w2 = eqx.nn.Linear(f, d, use_bias=False, key=keys[6])

    class Model(eqx.Module):
        embed: eqx.nn.Embedding
        final_ln: eqx.nn.RMSNorm
        layers: list

        def __init__(self, key):
            keys = jax.random.split(key, n_layers + 1)
            self.embed = eqx.nn.Embedding(VOCAB, d, key=keys[0])
            self.final_ln = eqx.nn.RMSNorm(d)
            self.layers = [Block(k) for k in keys[1:]]

    return Model


def _maker(impl: str, spec):
    """``make(key) -> params`` for ``impl``."""
    import fnmatch

    import jax
    import jax.numpy as jnp

    import jax_inits
    import jax_inits.tree

    rules = [
        ("*ln*", jax_inits.ones),
        ("embed*", jax_inits.normal(0.02)),
        ("*", jax_inits.he_normal()),
    ]
    n_layers = len(spec["layers"])
    if impl.startswith("nnx"):
        from flax import nnx

        import jax_inits.flax

        model = _nnx_model(n_layers)
        if impl == "nnx eager":
            return lambda key: nnx.state(model(nnx.Rngs(key)))
        if impl == "nnx.jit":
            return nnx.jit(lambda key: model(nnx.Rngs(key)))
        if impl == "nnx create (inline)":  # a new lambda on every call, as users write it
            return lambda key: nnx.state(
                jax_inits.flax.create(lambda rngs: model(rngs), key, rules)
            )
        return lambda key: nnx.state(jax_inits.flax.create(model, key, rules))
    if impl.startswith("eqx"):
        import equinox as eqx

        import jax_inits.equinox

        model = _eqx_model(n_layers)
        if impl == "eqx eager":
            return lambda key: eqx.filter(model(key), eqx.is_array)
        eqx_rules = rules[:2] + [("*", jax_inits.he_normal(in_axis=-1, out_axis=-2))]
        return lambda key: eqx.filter(jax_inits.equinox.create(model, key, eqx_rules), eqx.is_array)
    if impl.startswith("linen"):
        import jax_inits.flax

        module = _linen_model(n_layers)
        tokens = jnp.zeros((1, 8), jnp.int32)
        if impl == "linen eager":
            return lambda key: module.init(key, tokens)
        if impl == "linen jit":
            return jax.jit(lambda key: module.init(key, tokens))
        return lambda key: jax_inits.flax.create_linen(module, key, tokens, rules=rules)

    if impl == "jax.nn jit":
        nn = jax.nn.initializers
        rules = [("*ln*", nn.ones), ("embed", nn.normal(0.02)), ("*", nn.he_normal())]
        paths = [
            "/".join(str(getattr(k, "key", getattr(k, "idx", k))) for k in path)
            for path, _ in jax.tree_util.tree_flatten_with_path(spec)[0]
        ]
        leaves, treedef = jax.tree.flatten(spec)
        inits = [next(i for p, i in rules if fnmatch.fnmatchcase(path, p)) for path in paths]

        @jax.jit
        def make(key):
            out = [
                init(jax.random.fold_in(key, i), leaf.shape, leaf.dtype)
                for i, (init, leaf) in enumerate(zip(inits, leaves, strict=True))
            ]
            return jax.tree.unflatten(treedef, out)

        return make

    return lambda key: jax_inits.tree.init(key, spec, rules)


def _case(impl: str, n_layers: int) -> dict:
    """One point, in this (fresh) process."""
    import jax

    spec = llama_spec(n_layers)
    make = _maker(impl, spec)
    start = time.perf_counter()
    jax.block_until_ready(make(jax.random.key(0)))
    cold = time.perf_counter() - start
    warm = []
    for seed in (1, 2, 3):
        start = time.perf_counter()
        jax.block_until_ready(make(jax.random.key(seed)))
        warm.append(time.perf_counter() - start)
    return {
        "impl": impl,
        "layers": n_layers,
        "leaves": len(jax.tree.leaves(spec)),
        "cold_s": cold,
        "warm_s": statistics.median(warm),
        "device": str(jax.devices()[0].platform),
    }


def _run_point(
    impl: str, n_layers: int, old: str | None, timeout: float, before: str | None = None
) -> dict:
    env = dict(os.environ)
    src = str(ROOT)
    if impl == "tree.init (old)":
        src = str(old)
    elif impl.endswith(BEFORE):
        src = str(before)
    env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
    case = impl.removesuffix(BEFORE)
    cmd = [sys.executable, __file__, "--case", case, str(n_layers)]
    try:
        done = subprocess.run(
            cmd, env=env, capture_output=True, text=True, timeout=timeout, check=True, cwd=src
        )
    except subprocess.TimeoutExpired:
        return {"impl": impl, "layers": n_layers, "cold_s": None, "timed_out": timeout}
    record = json.loads(done.stdout.strip().splitlines()[-1])
    record["impl"] = impl
    return record


def _machine() -> dict:
    import jax

    model = platform.processor()
    try:
        for line in subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines():
            if line.startswith("Model name:"):
                model = line.split(":", 1)[1].strip()
    except OSError:
        pass
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "load_average_at_start": os.getloadavg(),
        "python": platform.python_version(),
        "jax": jax.__version__,
        "jaxlib": __import__("jaxlib").__version__,
        "commit": subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip(),
    }


def _loads(averages: list[float]) -> str:
    """A load average triple as the results print it: ``1.2, 0.9, 0.8``."""
    return ", ".join(f"{x:.1f}" for x in averages)


def _table(records: list[dict], impls: list[str]) -> str:
    layers = sorted({r["layers"] for r in records})
    head = "| layers (leaves) | " + " | ".join(f"{i} cold" for i in impls)
    head += " | " + " | ".join(f"{i} warm" for i in impls) + " |"
    lines = [head, "|" + "---|" * (1 + 2 * len(impls))]
    for n in layers:
        row = {r["impl"]: r for r in records if r["layers"] == n}
        leaves = next((r["leaves"] for r in row.values() if "leaves" in r), 9 * n + 2)

        def cell(impl, field, unit, row=row):
            r = row.get(impl)
            if r is None:
                return "—"
            if r.get(field) is None:
                if field != "cold_s":
                    return "—"
                return f"> {r['timed_out']:.0f} s" + ("†" if r.get("not_run") else "")
            value = r[field]
            return f"{value:.2f} s" if unit == "s" else f"{1000 * value:.0f} ms"

        cells = [cell(i, "cold_s", "s") for i in impls] + [cell(i, "warm_s", "ms") for i in impls]
        lines.append(f"| {n} ({leaves}) | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _targets(records: list[dict]) -> list[str]:
    """Each helper's cold time over tree.init's and warm time over the plain construction's."""
    by = {(r["impl"], r["layers"]): r for r in records}
    layers = sorted({r["layers"] for r in records})
    lines = [
        "| layers | helper | cold / tree.init cold (target <= 1.5) | before | "
        "warm / plain warm (target <= 1) | before |",
        "|---|---|---|---|---|---|",
    ]

    def ratio(impl, field, ref, n):
        a, b = by.get((impl, n), {}).get(field), by.get((ref, n), {}).get(field)
        return "—" if a is None or b is None else f"{a / b:.2f}"

    for n in layers:
        for helper, (cold_ref, warm_ref) in TARGETS.items():
            if (helper, n) not in by:
                continue
            cells = [
                ratio(helper, "cold_s", cold_ref, n),
                ratio(helper + BEFORE, "cold_s", cold_ref, n),
                ratio(helper, "warm_s", warm_ref, n),
                ratio(helper + BEFORE, "warm_s", warm_ref, n),
            ]
            lines.append(f"| {n} | {helper} | " + " | ".join(cells) + " |")
    return lines


def _markdown(machine: dict, records: list[dict], impls: list[str]) -> str:
    """The results page: machine, table, re-measurements and (where ``tree.init`` ran,
    the reference of the cold targets) the targets of the create helpers."""
    before = machine.get("before")
    lines = [
        "# tree init depth sweep (cold = fresh process, first call; warm = median of 3)",
        "",
        f"Machine: {machine['cpu']}, {machine['cores']} cores, load average at start "
        f"{_loads(machine['load_average_at_start'])}"
        + (f", at end {_loads(end)}; " if (end := machine.get("load_average_at_end")) else "; ")
        + f"Python {machine['python']}, jax {machine['jax']}, jaxlib {machine['jaxlib']}, "
        f"commit {machine['commit']}.",
        "",
        *(
            [f"'before' is the checkout {before} (commit {machine['before_commit']}).", ""]
            if before
            else []
        ),
        _table(records, impls),
        "",
        *(
            f"Re-measured later: {', '.join(u['impls'])} (commit {u['commit']}, load average "
            f"at the end {_loads(u['load_average_at_end'])})."
            for u in machine.get("updated", [])
        ),
        "",
        "> T s: stopped at the per-point limit T; †: not run, because the same "
        "implementation already exceeded the limit at a smaller depth.",
        "",
    ]
    ran = {r["impl"] for r in records}
    if "tree.init" in ran and ran & set(TARGETS):
        lines += [
            "## Targets: the create helpers against tree.init and plain construction",
            "",
            *_targets(records),
            "",
        ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layers", default="4,16,64,256")
    parser.add_argument("--impls", default=",".join(IMPLS))
    parser.add_argument("--old", help="checkout with the old tree.init (for 'tree.init (old)')")
    parser.add_argument(
        "--before", help="another checkout: runs --before-impls with it too, as 'X (before)'"
    )
    parser.add_argument(
        "--before-impls",
        default=",".join(TARGETS),
        help="the implementations to run with the --before checkout as well",
    )
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds per point")
    parser.add_argument("--out", default=str(RESULTS))
    parser.add_argument(
        "--name", default="tree_depth", help="results file stem: OUT/NAME.json and OUT/NAME.md"
    )
    parser.add_argument(
        "--update",
        action="store_true",
        help="re-measure --impls at --layers, replacing those points in the existing results",
    )
    parser.add_argument(
        "--render",
        action="store_true",
        help="measure nothing: write OUT/NAME.md again from OUT/NAME.json",
    )
    parser.add_argument("--case", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case:
        print(json.dumps(_case(args.case[0], int(args.case[1]))))
        return
    out = pathlib.Path(args.out)
    if args.render:
        saved = json.loads((out / f"{args.name}.json").read_text())
        records = saved["records"]
        (out / f"{args.name}.md").write_text(
            _markdown(saved["machine"], records, _present(records))
        )
        return
    impls = [i for i in args.impls.split(",") if i != "tree.init (old)" or args.old]
    unknown = [i for i in impls if i not in IMPLS]
    if unknown:
        parser.error(f"unknown --impls {unknown}; known: {', '.join(IMPLS)}")
    if args.before:
        chosen = [i for i in args.before_impls.split(",") if i in impls]
        impls = [j for i in impls for j in ([i, i + BEFORE] if i in chosen else [i])]
    machine = _machine()
    if args.before:
        machine["before"] = args.before
        machine["before_commit"] = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=args.before,
            capture_output=True,
            text=True,
        ).stdout.strip()
    records = []
    over: set[str] = set()  # implementations that ran out of time at a smaller depth
    for n in (int(x) for x in args.layers.split(",")):
        for impl in impls:
            if impl in over:  # more leaves can only take longer: not run again
                record = {"impl": impl, "layers": n, "cold_s": None, "timed_out": args.timeout}
                record["not_run"] = True
                records.append(record)
                continue
            record = _run_point(impl, n, args.old, args.timeout, args.before)
            if record.get("timed_out"):
                over.add(impl)
            records.append(record)
            print(json.dumps(record), flush=True)
    machine["load_average_at_end"] = list(os.getloadavg())
    out.mkdir(parents=True, exist_ok=True)
    if args.update:  # the other implementations' records (and the machine) stay as they were
        previous = json.loads((out / f"{args.name}.json").read_text())
        machine = previous["machine"]
        now = _machine()  # after the runs: its load average is the one at the end
        now["load_average_at_end"] = now.pop("load_average_at_start")
        machine.setdefault("updated", []).append({"impls": impls, **now})
        done = {(r["impl"], r["layers"]) for r in records}
        kept = [r for r in previous["records"] if (r["impl"], r["layers"]) not in done]
        order = {impl: i for i, impl in enumerate(ORDER)}
        records = sorted(kept + records, key=lambda r: (r["layers"], order[r["impl"]]))
        impls = _present(records)
    (out / f"{args.name}.json").write_text(
        json.dumps({"machine": machine, "records": records}, indent=1) + "\n"
    )
    text = _markdown(machine, records, impls)
    (out / f"{args.name}.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
