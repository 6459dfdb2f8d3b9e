"""``python -m jax_inits`` / ``jax-inits``: a table of every initializer.

For each one: its formula, and for a default shape the standard deviation it
targets and the one measured on a single sample.
"""

from __future__ import annotations

import argparse
import sys

import jax
import numpy as np

from jax_inits._src import catalog, checks


def _shape(text: str) -> tuple[int, ...]:
    try:
        return checks.shape("jax-inits", [int(p) for p in text.split(",") if p.strip()])
    except (TypeError, ValueError) as error:
        raise argparse.ArgumentTypeError(
            f"--shape must be comma-separated non-negative integers such as 256,512, got {text!r}"
        ) from error


def _dtype(text: str) -> np.dtype:
    try:
        return checks.dtype("jax-inits", text, random=True)
    except TypeError as error:
        raise argparse.ArgumentTypeError(
            f"--dtype must be a floating or complex dtype such as float32 or bfloat16, got {text!r}"
        ) from error


def table(shape: tuple[int, ...], dtype: np.dtype, seed: int) -> list[dict]:
    """One row per catalogue entry: name, aliases, formula, target and measured std."""
    key = jax.random.key(seed)
    rows = []
    for entry in catalog.ENTRIES:
        entry_shape = entry.shape(shape)
        init = entry.example
        sample = np.asarray(init(key, entry_shape, entry.dtype(dtype)), dtype=np.complex128)
        measured = float(np.sqrt(np.mean(np.abs(sample - sample.mean()) ** 2)))
        rows.append(
            {
                "name": entry.name,
                "aliases": list(entry.aliases),
                "example": repr(init),
                "formula": init.formula,
                "shape": list(entry_shape),
                "target_std": init.target_std(entry_shape),
                "measured_std": measured,
            }
        )
    return rows


def _print_table(rows: list[dict], out) -> None:
    header = ("initializer", "formula", "shape", "target std", "measured std")
    lines = [
        (
            r["name"] + "".join(f" / {a}" for a in r["aliases"]),
            r["formula"],
            "x".join(map(str, r["shape"])),
            f"{r['target_std']:.6g}",
            f"{r['measured_std']:.6g}",
        )
        for r in rows
    ]
    widths = [max(len(x) for x in col) for col in zip(header, *lines, strict=True)]
    for i, line in enumerate([header, *lines]):
        print("  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip(), file=out)
        if i == 0:
            print("  ".join("-" * w for w in widths), file=out)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["bench"]:
        from jax_inits import bench

        return bench.main(argv[1:])
    parser = argparse.ArgumentParser(
        prog="jax-inits",
        description="Print every jax_inits initializer with its formula, and for one "
        "sample of --shape the target and measured standard deviation. "
        "`jax-inits bench [--quick]` runs the benchmark harness.",
    )
    parser.add_argument("--shape", type=_shape, default=(256, 512), help="default 256,512")
    parser.add_argument("--dtype", type=_dtype, default=np.dtype("float32"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args(argv)
    rows = table(args.shape, args.dtype, args.seed)
    if args.json:
        import json

        json.dump(rows, sys.stdout, indent=1)
        print()
    else:
        print(
            f"jax_inits initializers: shape {args.shape}, dtype {args.dtype.name}, "
            f"seed {args.seed}\n"
        )
        _print_table(rows, sys.stdout)
    return 0


def _main() -> int:
    """Entry point that exits quietly when the reader of stdout goes away (``| head``)."""
    try:
        return main()
    except BrokenPipeError:
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    sys.exit(_main())
