"""``jax-inits`` / ``python -m jax_inits``: the command line.

Subcommands (each with ``--help`` and ``--json``):

- ``list``: every initializer with its formula and target std for ``--shape``
  (with ``--measure``, also the std of one sample of each: a compile per entry),
  and its counterparts in torch.nn.init, keras, haiku and flax (the default when
  no subcommand is given).
- ``sample NAME``: statistics of one sample and a histogram PNG with the target
  density.
- ``propagate``: forward variance and backward gradient norm through a deep MLP
  for initializers x activations (x plain/residual): a PNG and a table.
- ``coord-check``: activation scale of every layer of an MLP after a few Adam
  steps, across widths, under muP / SP / spectral: a table and a PNG.
- ``memory TARGET --mesh data=2,model=4``: the bytes per device and per process
  of the parameter spec ``TARGET`` returns for that mesh, nothing drawn.

Progress bars go to stderr, only when stderr is a terminal or ``--progress`` is
given; ``--json`` output on stdout is JSON and nothing else. Bad arguments and
errors raised by the library print one line and exit with status 2.
"""

from __future__ import annotations

import argparse
import inspect
import json
import math
import sys
import time
from typing import Any, cast

import jax
import numpy as np

from jax_inits._src import catalog, checks, diagnostics, registry

SUBCOMMANDS = ("list", "sample", "propagate", "coord-check", "memory")
DEFAULT_SHAPE = (256, 512)
DEFAULT_INITS = ("glorot_normal", "he_normal", "orthogonal")
DEFAULT_ACTIVATIONS = ("tanh", "relu", "gelu")


# --------------------------------------------------------------------------- argument types


def _shape(text: str) -> tuple[int, ...]:
    try:
        return checks.shape("jax-inits", [int(p) for p in text.split(",")])
    except (TypeError, ValueError) as error:
        raise argparse.ArgumentTypeError(
            f"--shape must be comma-separated non-negative integers such as 256,512, got {text!r}"
        ) from error


def _dtype(text: str) -> np.dtype:
    try:
        return cast(np.dtype, checks.dtype("jax-inits", text, random=True))  # text is not None
    except TypeError as error:
        raise argparse.ArgumentTypeError(
            f"--dtype must be a floating or complex dtype such as float32 or bfloat16, got {text!r}"
        ) from error


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}")
    return value


def _rate(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text!r}")
    return value


def _names(text: str) -> list[str]:
    return [n.strip() for n in text.split(",") if n.strip()]


def _kwarg(text: str) -> tuple[str, Any]:
    key, sep, value = text.partition("=")
    if not sep or not key.strip().isidentifier():
        raise argparse.ArgumentTypeError(
            f"--arg must be KEY=VALUE such as stddev=0.1 or mode=fan_out, got {text!r}"
        )
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError:
        parsed = value  # a plain string such as fan_out
    return key.strip(), parsed


# --------------------------------------------------------------------------- progress


class Progress:
    """A one-line progress bar on stderr; silent unless ``enabled``."""

    def __init__(self, total: int, label: str, enabled: bool):
        self.total, self.label, self.enabled = total, label, enabled
        self.done, self.start = 0, time.perf_counter()

    def __call__(self, what: str = "") -> None:
        self.done += 1
        if not self.enabled:
            return
        width = 24
        filled = round(width * self.done / max(self.total, 1))
        elapsed = time.perf_counter() - self.start
        bar = "#" * filled + "." * (width - filled)
        line = f"{self.label} [{bar}] {self.done}/{self.total} {elapsed:5.1f}s {what}"
        end = "\n" if self.done >= self.total else ""
        sys.stderr.write("\r" + line[:100].ljust(100) + end)
        sys.stderr.flush()


def _progress_enabled(args) -> bool:
    return sys.stderr.isatty() if args.progress is None else args.progress


# --------------------------------------------------------------------------- list


def table(
    shape: tuple[int, ...],
    dtype: np.dtype,
    seed: int,
    progress=lambda what: None,
    *,
    measure: bool = False,
) -> list[dict]:
    """One row per catalogue entry: name, aliases, formula, target std (and with
    ``measure`` the std of one sample of ``shape``, else ``None``), and the
    counterparts in other libraries.

    Without ``measure`` nothing is compiled: the shape checks and the target std
    are plain Python, so the whole table takes milliseconds after ``import jax``.
    """
    key = jax.random.key(seed)
    rows = []
    for entry in catalog.ENTRIES:
        entry_shape = entry.shape(shape)
        init = entry.example
        measured = None
        try:
            init.check(entry_shape, entry.dtype(dtype))
            if measure:
                sample = init(key, entry_shape, entry.dtype(dtype))
                measured = diagnostics.rms_deviation(np.asarray(sample, dtype=np.complex128))
            target, error = init.target_std(entry_shape), None
        except (ValueError, TypeError) as e:  # e.g. orthogonal for a rank-1 --shape
            measured = target = None
            error = " ".join(str(e).split())
        rows.append(
            {
                "name": entry.name,
                "aliases": list(entry.aliases),
                "example": repr(init),
                "formula": init.formula,
                "shape": list(entry_shape),
                "target_std": target,
                "measured_std": measured,
                "error": error,
                "equivalents": catalog.equivalents(entry.name),
            }
        )
        progress(entry.name)
    return rows


def _g(value) -> str:
    return "-" if value is None else f"{value:.6g}"


def _print_list(rows: list[dict], args) -> None:
    seed = f", seed {args.seed}" if args.measure else ""
    print(f"jax_inits initializers: shape {args.shape}, dtype {args.dtype.name}{seed}\n")
    header = ("initializer", "formula", "shape", "target std", "measured std")
    lines = [header] + [
        (
            r["name"] + "".join(f" / {a}" for a in r["aliases"]),
            r["formula"],
            "x".join(map(str, r["shape"])),
            _g(r["target_std"]),
            _g(r["measured_std"]),
        )
        for r in rows
    ]
    if not args.measure:  # no column of dashes
        lines = [line[:-1] for line in lines]
    print(diagnostics.format_table(lines))
    for r in rows:
        if r["error"]:
            print(f"  {r['error']}")
    if args.equivalents:
        print(
            "\nEquivalents in other libraries (~: same variance but an untruncated "
            "normal; torch lays a Linear weight out as (out, in)):\n"
        )
        libs = catalog.LIBRARIES
        lines = [("initializer", *(catalog.PREFIXES[lib].rstrip(".") for lib in libs))]
        lines += [
            (r["name"], *(catalog.short(lib, r["equivalents"][lib]) for lib in libs)) for r in rows
        ]
        print(diagnostics.format_table(lines))


def _cmd_list(args, parser) -> int:
    progress = Progress(len(catalog.ENTRIES), "list", args.measure and _progress_enabled(args))
    rows = table(args.shape, args.dtype, args.seed, progress, measure=args.measure)
    if args.json:
        _dump(rows)
    else:
        _print_list(rows, args)
    return 0


# --------------------------------------------------------------------------- sample


def _cmd_sample(args, parser) -> int:
    init = _lookup(parser, args.name, dict(args.arg or ()))
    entry = next((e for e in catalog.ENTRIES if args.name in (e.name, *e.aliases)), None)
    shape = args.shape or (entry.shape(DEFAULT_SHAPE) if entry else DEFAULT_SHAPE)
    if not math.prod(shape):
        parser.error(
            f"--shape {','.join(map(str, shape))} has no elements: sample needs at least one"
        )
    progress = Progress(2 - args.no_plot, "sample", _progress_enabled(args))
    key = jax.random.key(args.seed)
    stats = diagnostics.sample_stats(init, key, shape, args.dtype)
    stats["seed"] = args.seed
    progress("statistics")
    if not args.no_plot:
        from jax_inits._src import plots

        values = init(key, shape, args.dtype)
        path = args.plot or f"out/sample-{args.name}.png"
        plots.plot_histogram(
            values,
            path,
            density=diagnostics.target_density(init, shape, values.dtype),
            bounds=None if stats["lower"] is None else (stats["lower"], stats["upper"]),
            bins=args.bins,
            title=f"{stats['initializer']}  shape {'x'.join(map(str, shape))}  {stats['dtype']}",
        )
        stats["plot"] = str(path)
        progress("histogram")
    if args.json:
        _dump(stats)
        return 0
    print(f"{stats['initializer']}: {stats['formula']}")
    print(f"shape {'x'.join(map(str, shape))}, dtype {stats['dtype']}, seed {args.seed}\n")
    for name in ("mean", "std", "target_std", "min", "max", "lower", "upper"):
        value = stats[name]
        print(f"  {name:<11} {'-' if value is None else f'{value:.6g}'}")
    if stats["target_std"]:
        print(f"  {'std/target':<11} {stats['std'] / stats['target_std']:.6g}")
    if "plot" in stats:
        print(f"\nhistogram: {stats['plot']}")
    return 0


# --------------------------------------------------------------------------- propagate


def _cmd_coord_check(args, parser) -> int:
    from jax_inits._src import coord_check, mup

    depths = None if args.depths is None else [d for group in args.depths for d in group]
    _one_sweep(parser, args, depths)
    if args.scheme is None:
        args.scheme = ["sp", "mup"]
        if depths is not None:
            args.scheme += ["depth_mup", "complete_p", "u_mup"]
    for scheme in args.scheme:
        if scheme not in mup.SCHEMES:
            parser.error(f"unknown scheme {scheme!r}; choose from {', '.join(mup.SCHEMES)}")
    sizes = args.widths if depths is None else depths
    if len(sizes) < 2:
        what = (
            "--widths needs two or more widths"
            if depths is None
            else "--depths needs two or more depths"
        )
        parser.error(f"{what}, got {sizes}")
    if depths is None and min(args.widths) < args.base_width:
        parser.error(
            f"--widths must all be >= --base-width {args.base_width}, got "
            f"{','.join(map(str, args.widths))}; pass --base-width {min(args.widths)} or less"
        )
    progress = Progress(len(args.scheme), "coord-check", _progress_enabled(args))
    results = {}
    for scheme in args.scheme:
        if depths is None:
            setup, batch = coord_check.coord_check_mlp(
                scheme, base_width=args.base_width, lr=args.lr, seed=args.seed
            )
        else:
            setup, batch = coord_check.coord_check_residual(
                scheme, width=args.width, base_depth=args.base_depth, lr=args.lr, seed=args.seed
            )
        results[scheme] = coord_check.coord_check(
            setup,
            sizes,
            batch,
            steps=args.steps,
            seed=args.seed,
            axis="width" if depths is None else "depth",
        )
        progress(scheme)
    if args.json:
        print(
            json.dumps(
                {
                    scheme: {
                        f"{r.axis}s": list(r.widths),
                        "steps": r.steps,
                        "sizes": {k: v.tolist() for k, v in r.sizes.items()},
                        "growth": r.growth(),
                    }
                    for scheme, r in results.items()
                }
            )
        )
    else:
        for scheme, result in results.items():
            print(f"[{scheme}] {result}")
    if not args.no_plot:
        path = coord_check.plot_coord_check(results, args.plot)
        if not args.json:
            print(f"plot: {path}")
    return 0


# The options of each sweep (default None: a given one is told from an absent one).
_SWEEP_OPTIONS = {
    "width": {"widths": [64, 256, 1024], "base_width": 64},
    "depth": {"width": 64, "base_depth": 2},
}


def _one_sweep(parser, args, depths) -> None:
    """Options of the other sweep are usage errors; absent ones take their defaults."""
    sweep, other = ("width", "depth") if depths is None else ("depth", "width")
    for name in _SWEEP_OPTIONS[other]:
        if getattr(args, name) is not None:
            flag = "--" + name.replace("_", "-")
            needs = "without --depths" if other == "width" else "with --depths"
            parser.error(f"{flag} is for the {other} sweep ({needs}); drop it")
    for name, default in _SWEEP_OPTIONS[sweep].items():
        if getattr(args, name) is None:
            setattr(args, name, default)


def _cmd_propagate(args, parser) -> int:
    inits = args.init
    if inits == ["all"]:
        inits = [e.name for e in catalog.ENTRIES if not (e.conv or e.complex)]
    for name in inits:
        _resolve(parser, name)
    for act in args.activation:
        if act not in diagnostics.ACTIVATIONS:
            parser.error(
                f"unknown activation {act!r}"
                + (
                    registry.did_you_mean(act, diagnostics.ACTIVATIONS)
                    or f"; choose from {', '.join(diagnostics.ACTIVATIONS)}"
                )
            )
    for variant in args.variant:
        if variant not in diagnostics.VARIANTS:
            parser.error(
                f"--variant must be a comma-separated subset of "
                f"{','.join(diagnostics.VARIANTS)}, got {variant!r}"
            )
    total = len(inits) * len(args.activation) * len(args.variant)
    progress = Progress(total, "propagate", _progress_enabled(args))
    records = diagnostics.sweep(
        jax.random.key(args.seed),
        inits,
        args.activation,
        variants=args.variant,
        depth=args.depth,
        width=args.width,
        batch=args.batch,
        residual_scale=args.residual_scale,
        dtype=args.dtype,
        progress=progress,
    )
    plot = None
    if not args.no_plot:
        from jax_inits._src import plots

        plot = str(plots.plot_propagation(records, args.plot))
    if args.json:
        _dump({"seed": args.seed, "plot": plot, "records": records})
        return 0
    print(
        f"signal propagation at init: depth {args.depth}, width {args.width}, "
        f"batch {args.batch}, seed {args.seed}"
        + (f", residual scale {args.residual_scale:g}" if "residual" in args.variant else "")
    )
    print("q^l: mean square pre-activation; grad: |dL/dh^0| / |dL/dh^L|\n")
    lines = [
        (
            "variant",
            "activation",
            "init",
            "q^0",
            "q^L",
            "q^L/q^0",
            "forward",
            "grad ratio",
            "backward",
        )
    ]
    for r in records:
        lines.append(
            (
                r["variant"],
                r["activation"],
                r["init"],
                f"{r['forward'][0]:.3g}",
                f"{r['forward'][-1]:.3g}",
                f"{r['forward_ratio']:.3g}",
                r["forward_status"],
                f"{r['backward_ratio']:.3g}",
                r["backward_status"],
            )
        )
    print(diagnostics.format_table(lines))
    if plot:
        print(f"\nplot: {plot}")
    return 0


# --------------------------------------------------------------------------- memory


def _mesh_axes(text: str) -> dict[str, int]:
    """``data=2,model=4`` -> ``{"data": 2, "model": 4}``."""
    axes: dict[str, int] = {}
    for part in text.split(","):
        name, sep, size = part.partition("=")
        name = name.strip()
        if not sep or not name.isidentifier() or name in axes or not size.strip().isdigit():
            raise argparse.ArgumentTypeError(
                "--mesh must be comma-separated AXIS=SIZE with distinct axis names and "
                f"positive sizes, such as data=2,model=4, got {text!r}"
            )
        axes[name] = int(size)
        if axes[name] < 1:
            raise argparse.ArgumentTypeError(f"--mesh sizes must be >= 1, got {text!r}")
    return axes


def _load_target(parser, target: str) -> Any:
    """The callable ``module.path:name`` or ``path/to/file.py:name`` names."""
    import importlib
    import importlib.util
    import pathlib

    where, sep, name = target.rpartition(":")
    if not sep or not where or not name:
        parser.error(
            f"TARGET must be module.path:function or path/to/file.py:function, got {target!r}"
        )
    if where.endswith(".py"):
        path = pathlib.Path(where)
        if not path.is_file():
            parser.error(f"TARGET {target!r}: no file {where!r}")
        spec = importlib.util.spec_from_file_location(f"_jax_inits_target_{path.stem}", path)
        module = importlib.util.module_from_spec(spec)  # pyright: ignore[reportArgumentType]
        sys.modules[module.__name__] = module  # dataclasses look their module up there
        spec.loader.exec_module(module)  # pyright: ignore[reportOptionalMemberAccess]
    else:
        try:
            module = importlib.import_module(where)
        except ModuleNotFoundError as error:
            parser.error(f"TARGET {target!r}: cannot import {where!r} ({error})")
    value = module
    for part in name.split("."):
        if not hasattr(value, part):
            parser.error(f"TARGET {target!r}: {where!r} has no attribute {name!r}")
        value = getattr(value, part)
    return value


def _mesh_for(axes: dict[str, int]) -> Any:
    """A concrete mesh of the first devices when there are enough, else an AbstractMesh."""
    count = math.prod(axes.values())
    if len(jax.devices()) >= count:
        return jax.make_mesh(tuple(axes.values()), tuple(axes), devices=jax.devices()[:count])
    return jax.sharding.AbstractMesh(tuple(axes.values()), tuple(axes))


def _cmd_memory(args, parser) -> int:
    from jax_inits._src import memory

    make = _load_target(parser, args.target)
    mesh = _mesh_for(args.mesh) if args.mesh else None
    if callable(make):
        takes_mesh = True
        try:
            inspect.signature(make).bind(mesh)
        except TypeError:
            takes_mesh = False
        except ValueError:  # no signature to read (a builtin): try with the mesh
            pass
        spec = make(mesh) if takes_mesh else make()
    else:
        spec = make  # a spec object itself
    report = memory.plan("jax-inits memory", spec, mesh=mesh, processes=args.processes)
    if args.json:
        _dump(dict(report.to_json(), target=args.target))
    else:
        print(f"{args.target}")
        print(report.format(top=args.top or None))
    return 0


def _add_memory_arguments(p) -> None:
    p.add_argument(
        "target",
        metavar="TARGET",
        help="module.path:function or path/to/file.py:function, e.g. "
        "examples/llama_spec.py:llama3_8b",
    )
    p.add_argument(
        "--mesh",
        type=_mesh_axes,
        default=None,
        help="mesh axes and sizes, e.g. data=2,model=4 (default: the spec's own shardings)",
    )
    p.add_argument(
        "--processes",
        type=_positive,
        default=None,
        help="processes (hosts) the devices split over, in contiguous blocks in mesh order "
        "(default: the devices' process_index; one on an abstract mesh)",
    )
    p.add_argument(
        "--top",
        type=int,
        default=20,
        help="leaves in the table, largest per-device first (default 20; 0: all)",
    )
    p.add_argument("--json", action="store_true", help="print JSON (only JSON) on stdout")


# --------------------------------------------------------------------------- plumbing


def _dump(obj) -> None:
    """Strict JSON on stdout: NaN and infinities (overflowed statistics) become null."""
    json.dump(_finite(obj), sys.stdout, indent=1, allow_nan=False)
    print()


def _finite(value):
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    if isinstance(value, (np.floating, np.integer)):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def _resolve(parser, name: str) -> registry.Spec:  # pyright: ignore[reportReturnType]
    """The registration of a name the user gave; an unknown name is a usage error
    (its message, with the did-you-mean, comes from the registry)."""
    try:
        return registry.resolve(name, caller=None)
    except ValueError as error:
        parser.error(str(error))


def _lookup(parser, name: str, kwargs: dict):
    """Builds the initializer a user named (the one place the CLI does it). An
    argument given as a JSON config (``{"name": ..., "args": ...}``) is the
    initializer it describes; required arguments not given take the registered
    example's values (``zero_row --arg index=2`` keeps the example's ``init``)."""
    spec = _resolve(parser, name)
    kwargs = {
        k: registry.from_config(v) if isinstance(v, dict) and "name" in v else v
        for k, v in kwargs.items()
    }
    if kwargs and spec.builder is not None:
        signature = inspect.signature(spec.builder)
        example = signature.bind_partial(*spec.example[0], **spec.example[1]).arguments
        for arg, parameter in signature.parameters.items():
            if parameter.default is inspect.Parameter.empty and arg in example:
                kwargs.setdefault(arg, example[arg])
    return diagnostics.lookup(name, **kwargs)


def _common(parser, *, shape_default, dtype_default, seed=True) -> None:
    parser.add_argument(
        "--shape",
        type=_shape,
        default=shape_default,
        help="comma-separated sizes, e.g. 256,512"
        + (f" (default {','.join(map(str, shape_default))})" if shape_default else ""),
    )
    parser.add_argument(
        "--dtype",
        type=_dtype,
        default=dtype_default,
        help="floating or complex dtype, e.g. float32, bfloat16, complex64",
    )
    if seed:
        parser.add_argument("--seed", type=int, default=0, help="PRNG seed (default 0)")
    _json_and_progress(parser)


def _json_and_progress(parser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON (only JSON) on stdout")
    parser.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="progress bar on stderr (default: only when stderr is a terminal)",
    )


def build_parser() -> argparse.ArgumentParser:
    """The ``jax-inits`` argument parser with its subcommands."""
    parser = argparse.ArgumentParser(
        prog="jax-inits",
        description="jax_inits on the command line: the catalogue of initializers, "
        "statistics and histograms of samples, and signal propagation through deep MLPs. "
        "Without a subcommand, runs `list`.",
    )
    from jax_inits import __version__

    parser.add_argument("--version", action="version", version=f"jax-inits {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="{" + ",".join(SUBCOMMANDS) + "}")
    parser.set_defaults(subparsers=sub.choices)
    _add_list_arguments(
        sub.add_parser(
            "list",
            help="every initializer: formula, target std (--measure: measured), equivalents",
            description="Print every jax_inits initializer with its formula and the standard "
            "deviation it targets for --shape (with --measure, also the one measured on a "
            "sample of each), then the closest initializer of torch.nn.init, keras, haiku "
            "and flax.",
        )
    )
    _add_sample_arguments(
        sub.add_parser(
            "sample",
            help="statistics and a histogram of one sample",
            description="Draw one sample of initializer NAME and print mean, std, min, max, "
            "the target std and the truncation bounds; write a histogram PNG with the "
            "target density overlaid.",
        )
    )
    _add_propagate_arguments(
        sub.add_parser(
            "propagate",
            help="forward variance and gradient norm through a deep MLP",
            description="Forward activation variance and backward gradient norm through a "
            "deep MLP (h^l = phi(h^(l-1)) W^l, and with --variant residual "
            "h^l = h^(l-1) + s phi(h^(l-1)) W^l) for every initializer x activation: "
            "a PNG plot and a table. Every run uses the same seed.",
        )
    )
    _add_coord_check_arguments(
        sub.add_parser(
            "coord-check",
            help="activation scale per layer across widths after a few steps (muP vs SP)",
            description="Train a 3-layer ReLU MLP (jax_inits.diagnostics.coord_check_mlp) for "
            "--steps Adam steps at every width under each --scheme and print the mean |x| of "
            "every layer: flat across widths under muP, growing under SP. With --depths, a "
            "residual MLP at every depth instead: the feature update of its blocks, flat under "
            "depth_mup/complete_p/u_mup, growing under sp/mup.",
        )
    )
    _add_memory_arguments(
        sub.add_parser(
            "memory",
            help="bytes per device and per process of a parameter spec on a mesh, before drawing",
            description="Plan memory before launching: call TARGET (module.path:function or "
            "path/to/file.py:function) with the mesh (if it takes an argument) for a parameter "
            "spec, a pytree of jax.ShapeDtypeStruct whose leaves carry their NamedSharding, "
            "and print the bytes of every leaf, per device and per process (nothing is drawn). "
            "The mesh is concrete when this machine has enough devices, else a "
            "jax.sharding.AbstractMesh: a laptop plans a pod.",
        )
    )
    return parser


def _add_list_arguments(p) -> None:
    """The `list` subcommand's arguments: the catalogue."""
    _common(p, shape_default=DEFAULT_SHAPE, dtype_default=np.dtype("float32"))
    p.add_argument(
        "--measure",
        action="store_true",
        help="draw one sample per initializer (--seed) and show its std: compiles one "
        "program per entry, about 30 s on 2 cores (JSON measured_std is null without it)",
    )
    p.add_argument(
        "--no-equivalents",
        dest="equivalents",
        action="store_false",
        help="leave out the table of equivalents in other libraries",
    )


def _add_sample_arguments(p) -> None:
    """The `sample` subcommand's arguments: statistics and a histogram of one sample."""
    p.add_argument("name", metavar="NAME", help="an initializer name (see `jax-inits list`)")
    _common(p, shape_default=None, dtype_default=None)
    p.add_argument(
        "--arg",
        type=_kwarg,
        action="append",
        metavar="KEY=VALUE",
        help="builder argument, repeatable; VALUE is JSON (0.1, [0,1], null) or a string "
        "(e.g. --arg mode=fan_out --arg scale=2)",
    )
    p.add_argument("--bins", type=_positive, default=100, help="histogram bins (default 100)")
    p.add_argument("--plot", metavar="PNG", help="histogram file (default out/sample-NAME.png)")
    p.add_argument("--no-plot", action="store_true", help="statistics only, no PNG")


def _add_propagate_arguments(p) -> None:
    """The `propagate` subcommand's arguments: signal propagation through a deep MLP."""
    p.add_argument("--depth", type=_positive, default=64, help="layers (default 64)")
    p.add_argument("--width", type=_positive, default=256, help="units per layer (default 256)")
    p.add_argument("--batch", type=_positive, default=128, help="inputs (default 128)")
    p.add_argument(
        "--init",
        type=_names,
        default=list(DEFAULT_INITS),
        help=f"comma-separated initializer names, or all (default {','.join(DEFAULT_INITS)})",
    )
    p.add_argument(
        "--activation",
        type=_names,
        default=list(DEFAULT_ACTIVATIONS),
        help=f"comma-separated, from {','.join(diagnostics.ACTIVATIONS)} "
        f"(default {','.join(DEFAULT_ACTIVATIONS)})",
    )
    p.add_argument(
        "--variant",
        type=_names,
        default=list(diagnostics.VARIANTS),
        help="plain, residual or both (default plain,residual)",
    )
    p.add_argument(
        "--residual-scale",
        type=float,
        default=1.0,
        help="branch multiplier s of the residual variant (default 1)",
    )
    p.add_argument(
        "--dtype",
        type=_dtype,
        default=np.dtype("float32"),
        help="dtype of weights and activations (default float32)",
    )
    p.add_argument("--seed", type=int, default=0, help="PRNG seed (default 0)")
    p.add_argument(
        "--plot", metavar="PNG", default="out/propagate.png", help="default out/propagate.png"
    )
    p.add_argument("--no-plot", action="store_true", help="table only, no PNG")
    _json_and_progress(p)


def _add_coord_check_arguments(p) -> None:
    """The `coord-check` subcommand's arguments: activation scale across widths or depths."""
    p.add_argument(
        "--scheme",
        type=_names,
        default=None,
        help="comma-separated, from mup,sp,spectral,depth_mup,complete_p,u_mup (default "
        "sp,mup; with --depths sp,mup,depth_mup,complete_p,u_mup)",
    )
    p.add_argument(
        "--widths",
        type=lambda t: [_positive(w) for w in _names(t)],
        default=None,
        help="comma-separated widths (default 64,256,1024; not with --depths)",
    )
    p.add_argument("--base-width", type=_positive, default=None, help="base width (default 64)")
    p.add_argument(
        "--depths",
        nargs="+",
        type=lambda t: [_positive(d) for d in _names(t)],
        default=None,
        help="a depth sweep instead (e.g. --depths 2 4 8 16 32): a pre-LN residual MLP "
        "(jax_inits.diagnostics.coord_check_residual), the feature update of its blocks",
    )
    p.add_argument(
        "--base-depth", type=_positive, default=None, help="base depth (default 2; --depths only)"
    )
    p.add_argument(
        "--width", type=_positive, default=None, help="width of the depth sweep (default 64)"
    )
    p.add_argument("--steps", type=_positive, default=4, help="Adam steps (default 4)")
    p.add_argument("--lr", type=_rate, default=0.01, help="base learning rate, > 0 (default 0.01)")
    p.add_argument("--seed", type=int, default=0, help="PRNG seed (default 0)")
    p.add_argument(
        "--plot", metavar="PNG", default="out/coord_check.png", help="default out/coord_check.png"
    )
    p.add_argument("--no-plot", action="store_true", help="table only, no PNG")
    _json_and_progress(p)


COMMANDS = {
    "list": _cmd_list,
    "sample": _cmd_sample,
    "propagate": _cmd_propagate,
    "coord-check": _cmd_coord_check,
    "memory": _cmd_memory,
}


def main(argv: list[str] | None = None) -> int:
    """Runs the command line with ``argv`` (default ``sys.argv[1:]``); returns the
    exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or (argv[0].startswith("-") and argv[0] not in ("-h", "--help", "--version")):
        argv = ["list", *argv]  # the original `jax-inits [--shape ...]` table
    parser = build_parser()
    args = parser.parse_args(_glue_negative_values(argv))
    sub = args.subparsers[args.command]  # errors print its usage line
    try:
        return COMMANDS[args.command](args, sub)
    except (ValueError, TypeError, ArithmeticError, ImportError) as error:
        sub.error(" ".join(str(error).split()))  # usage, one line, status 2
    return 0


def _glue_negative_values(argv: list[str]) -> list[str]:
    """``--shape -1,4`` as ``--shape=-1,4``: argparse takes a value that starts with
    ``-`` (and is not a plain number) for an option, and would say only "expected
    one argument" instead of what is wrong with the shape."""
    out: list[str] = []
    for arg in argv:
        if out and out[-1] in ("--shape", "--widths") and arg.startswith("-"):
            out[-1] = f"{out[-1]}={arg}"
        else:
            out.append(arg)
    return out


def _main() -> int:
    """Entry point that exits quietly when the reader of stdout goes away (``| head``)."""
    try:
        return main()
    except BrokenPipeError:
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    sys.exit(_main())
