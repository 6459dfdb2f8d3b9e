"""Memory planning: the bytes of a parameter tree per device and per process, from
shapes, dtypes and shardings alone (nothing drawn, nothing allocated).

A spec's shardings are resolved as `jax_inits.tree.init` resolves them (each leaf's
``.sharding`` or ``out_shardings``; a ``PartitionSpec`` against the mesh), so the
report describes the tree that ``tree.init`` (or ``flax.create``) would create. On
a concrete ``jax.sharding.Mesh`` the shards are jax's own
(``Sharding.devices_indices_map``); on a ``jax.sharding.AbstractMesh`` the same
layout is computed from the mesh's axis sizes: a dimension named by axes
``(a, b)`` is cut into ``size(a) * size(b)`` equal blocks, ``a`` the major axis,
and the device at mesh coordinates ``(.., i_a, .., i_b, ..)`` holds block
``i_a * size(b) + i_b``.
"""

from __future__ import annotations

import dataclasses
import math
import sys
from collections.abc import Sequence
from typing import Any, cast

import jax
import numpy as np
from jax.sharding import NamedSharding, PartitionSpec, Sharding

from jax_inits._src import _jax_compat as compat
from jax_inits._src import checks, tree
from jax_inits._src.diagnostics import format_table

_GIB = 2**30


@dataclasses.dataclass(frozen=True)
class LeafMemory:
    """One leaf of a `Memory` report.

    Attributes:
      path: The leaf's path (as `jax_inits.tree.init` names it).
      shape: Its global shape.
      dtype: Its dtype's name.
      spec: Its layout: the ``PartitionSpec`` as a string, ``"unsharded"`` (no
        sharding: replicated on every device of the mesh, as jit lays it out) or
        the sharding's type for other shardings.
      shard_shape: The shape of the block each device that holds it has.
      shard_bytes: The bytes of that block.
      devices: How many of the report's devices hold a block.
      copies: How many devices hold each block (``devices / distinct blocks``).
      replicated: Whether every device of the report holds the whole leaf.

    Examples:
      >>> from jax.sharding import AbstractMesh, NamedSharding, PartitionSpec as P
      >>> from jax_inits.diagnostics import memory
      >>> mesh = AbstractMesh((2, 4), ("data", "model"))
      >>> spec = {"w": jax.ShapeDtypeStruct((1024, 512), jnp.bfloat16,
      ...                                   sharding=NamedSharding(mesh, P("model")))}
      >>> leaf = memory(spec).leaves[0]
      >>> leaf.shard_shape, leaf.shard_bytes, leaf.copies, leaf.replicated
      ((256, 512), 262144, 2, False)
    """

    path: str
    shape: tuple[int, ...]
    dtype: str
    spec: str
    shard_shape: tuple[int, ...]
    shard_bytes: int
    devices: int
    copies: int
    replicated: bool

    @property
    def size(self) -> int:
        """The number of elements of the whole leaf."""
        return math.prod(self.shape)


@dataclasses.dataclass(frozen=True)
class Memory:
    """What a parameter tree takes on each device and each process (`memory`'s report).

    ``print`` it for a summary and a per-leaf table (`format`), `to_json` for the numbers.

    Attributes:
      mesh: The mesh's axis sizes, ``{"data": 2, "model": 4}`` (``{}``: one device).
      devices: Each device's name, in mesh order: its id on a concrete mesh, its mesh
        coordinates on an abstract one.
      process_of: The process of each device (same order).
      parameters: Elements of the tree, each leaf counted once.
      total_bytes: Bytes of the tree, each leaf counted once.
      per_device: Bytes each device holds (same order as ``devices``).
      per_process: Bytes each process's devices hold, summed over them (a leaf
        replicated on 4 devices of a process counts 4 times): its share of device
        memory.
      per_process_distinct: Bytes of the distinct blocks each process's devices hold
        (that leaf once): what the process holds on the host to load or save them.
      leaves: One `LeafMemory` per array leaf, in ``jax.tree.flatten`` order.

    Examples:
      >>> from jax.sharding import AbstractMesh, NamedSharding, PartitionSpec as P
      >>> from jax_inits.diagnostics import memory
      >>> mesh = AbstractMesh((2, 4), ("data", "model"))
      >>> spec = {"w": jax.ShapeDtypeStruct((1024, 512), jnp.float32,
      ...                                   sharding=NamedSharding(mesh, P("data", "model")))}
      >>> report = memory(spec, processes=2)
      >>> report.total_bytes, report.max_device_bytes, report.per_process
      (2097152, 262144, (1048576, 1048576))
    """

    mesh: dict[str, int]
    devices: tuple[str, ...]
    process_of: tuple[int, ...]
    parameters: int
    total_bytes: int
    per_device: tuple[int, ...]
    per_process: tuple[int, ...]
    per_process_distinct: tuple[int, ...]
    leaves: tuple[LeafMemory, ...]

    @property
    def max_device_bytes(self) -> int:
        """The most bytes any one device holds."""
        return max(self.per_device)

    @property
    def min_device_bytes(self) -> int:
        """The fewest bytes any one device holds."""
        return min(self.per_device)

    @property
    def largest_shard(self) -> LeafMemory | None:
        """The leaf with the largest block on one device (``None`` for an empty tree)."""
        return max(self.leaves, key=lambda leaf: leaf.shard_bytes, default=None)

    def format(self, top: int | None = None) -> str:
        """The summary and the per-leaf table; ``top``: only the ``top`` leaves with the
        largest blocks (all when ``None``)."""
        procs = len(self.per_process)
        mesh = " x ".join(f"{k}={v}" for k, v in self.mesh.items()) or "one device"
        lines = [
            f"mesh {mesh}: {len(self.devices)} device(s), {procs} process(es)",
            f"parameters: {self.parameters:,} ({_size(self.total_bytes)})",
            f"per device: max {_size(self.max_device_bytes)}, min {_size(self.min_device_bytes)}",
        ]
        if procs > 1 or len(self.devices) > 1:
            lines.append(
                f"per process: device memory max {_size(max(self.per_process))}, "
                f"min {_size(min(self.per_process))}; distinct blocks max "
                f"{_size(max(self.per_process_distinct))}, "
                f"min {_size(min(self.per_process_distinct))}"
            )
        largest = self.largest_shard
        if largest is not None:
            lines.append(
                f"largest shard: {largest.path} {_dims(largest.shape)} -> "
                f"{_dims(largest.shard_shape)}, {_size(largest.shard_bytes)}"
            )
        leaves = sorted(self.leaves, key=lambda leaf: -leaf.shard_bytes)
        shown = leaves if top is None else leaves[:top]
        rows = [("path", "shape", "dtype", "spec", "shard", "per device", "copies")]
        for leaf in shown:
            rows.append(
                (
                    leaf.path,
                    _dims(leaf.shape),
                    leaf.dtype,
                    leaf.spec,
                    _dims(leaf.shard_shape),
                    _size(leaf.shard_bytes),
                    "all" if leaf.replicated and leaf.devices > 1 else str(leaf.copies),
                )
            )
        lines += ["", format_table(rows)]
        if len(shown) < len(leaves):
            rest = sum(leaf.shard_bytes for leaf in leaves[len(shown) :])
            lines.append(
                f"... and {len(leaves) - len(shown)} more leaves ({_size(rest)} per device)"
            )
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.format()

    def to_json(self) -> dict[str, Any]:
        """The report as JSON-ready dicts and lists (bytes as integers)."""
        out = dataclasses.asdict(self)
        out["devices"], out["process_of"] = list(self.devices), list(self.process_of)
        for name in ("per_device", "per_process", "per_process_distinct"):
            out[name] = list(out[name])
        out["leaves"] = [
            dict(leaf, shape=list(leaf["shape"]), shard_shape=list(leaf["shard_shape"]))
            for leaf in out["leaves"]
        ]
        out["max_device_bytes"], out["min_device_bytes"] = (
            self.max_device_bytes,
            self.min_device_bytes,
        )
        largest = self.largest_shard
        out["largest_shard"] = None if largest is None else largest.path
        return out


def _dims(shape: Sequence[int]) -> str:
    return "x".join(map(str, shape)) if len(shape) else "()"


def _size(nbytes: int) -> str:
    for unit, scale in (("GiB", _GIB), ("MiB", 2**20), ("KiB", 2**10)):
        if nbytes >= scale:
            return f"{nbytes / scale:.2f} {unit}"
    return f"{nbytes} B"


def _bits(fn: str, path: str, dtype: Any) -> int:
    """Bits per element (4 for int4 and the 4-bit floats; a PRNG key's data words)."""
    if jax.numpy.issubdtype(dtype, jax.dtypes.prng_key):
        return 32 * math.prod(getattr(getattr(dtype, "_impl", None), "key_shape", (2,)))
    try:
        dtype = np.dtype(dtype)
    except TypeError:
        raise TypeError(
            f"{fn}: the leaf at path {path!r} has the dtype {dtype!r}, which is not an array dtype."
        ) from None
    for info in (jax.numpy.finfo, jax.numpy.iinfo):
        try:
            return int(info(dtype).bits)
        except ValueError:
            continue
    return 8 * dtype.itemsize


def _nbytes(count: int, bits: int) -> int:
    return (count * bits + 7) // 8


# ----------------------------------------------------------------------------- the mesh


def _axes(mesh: Any) -> dict[str, int]:
    return dict(zip(mesh.axis_names, (int(s) for s in mesh.axis_sizes), strict=True))


def _is_concrete(mesh: Any) -> bool:
    return isinstance(mesh, jax.sharding.Mesh)


def _same_layout(a: Any, b: Any) -> bool:
    """Whether two meshes have the same axes and sizes (and devices, both concrete)."""
    if _axes(a) != _axes(b):
        return False
    if _is_concrete(a) and _is_concrete(b):
        return [d.id for d in a.devices.flat] == [d.id for d in b.devices.flat]
    return True


def _describe(mesh: Any) -> str:
    return ", ".join(f"{k}={v}" for k, v in _axes(mesh).items())


def _report_mesh(fn: str, given: Any, paths: list[str], shardings: list) -> Any:
    """The one mesh of the report: ``given``, else the concrete mesh among the
    leaves' NamedShardings (else their abstract mesh); every leaf must be on it."""
    mesh = given
    for path, sharding in zip(paths, shardings, strict=True):
        if not isinstance(sharding, NamedSharding):
            continue
        if mesh is None:
            mesh = sharding.mesh
        elif not _same_layout(mesh, sharding.mesh):
            raise ValueError(
                f"{fn}: the leaf at path {path!r} is sharded on the mesh "
                f"({_describe(sharding.mesh)}), another than the report's "
                f"({_describe(mesh)}); every leaf must be on one mesh."
            )
        elif _is_concrete(sharding.mesh) and not _is_concrete(mesh):
            mesh = sharding.mesh
    return mesh


# ----------------------------------------------------------------------------- shards


def _abstract_blocks(shape: tuple[int, ...], spec: Any, axes: dict) -> tuple[tuple, np.ndarray]:
    """(shard shape, block id of each device in mesh order) from the axis sizes."""
    sizes = tuple(axes.values())
    coords = dict(zip(axes, np.indices(sizes).reshape(len(sizes), -1), strict=True))
    ids = np.zeros(math.prod(sizes), dtype=np.int64)
    shard = list(shape)
    for dim in range(len(shape)):
        names = tree.spec_axes(spec[dim]) if dim < len(spec) else ()
        block = np.zeros_like(ids)
        ways = 1
        for name in names:  # the first axis named is the major one
            block = block * axes[name] + coords[name]
            ways *= axes[name]
        shard[dim] = shape[dim] // ways
        ids = ids * ways + block
    return tuple(shard), ids


def _concrete_blocks(sharding: Sharding, shape: tuple[int, ...], devices: list) -> tuple:
    """(shard shape, block id of each device in ``devices``; -1: holds none) from
    jax's ``devices_indices_map``."""
    index = sharding.devices_indices_map(shape)
    blocks: dict[tuple, int] = {}
    ids = np.full(len(devices), -1, dtype=np.int64)
    shard: tuple[int, ...] = tuple(shape)
    for i, device in enumerate(devices):
        if device not in index:
            continue
        bounds = tuple(s.indices(n)[:2] for s, n in zip(index[device], shape, strict=True))
        shard = tuple(stop - start for start, stop in bounds)
        ids[i] = blocks.setdefault(bounds, len(blocks))
    return shard, ids


def _spec_string(sharding: Any) -> str:
    if sharding is None:
        return "unsharded"
    if isinstance(sharding, NamedSharding):
        entries = ", ".join(
            "None" if e is None else repr(e) if isinstance(e, str) else repr(tuple(e))
            for e in sharding.spec
        )
        return f"P({entries})"
    return type(sharding).__name__


# ----------------------------------------------------------------------------- the report


def _nnx_state(spec: Any) -> tuple[Any, bool]:
    """(the state of an nnx Module, or ``spec``; whether it holds nnx Variables)."""
    nnx = sys.modules.get("flax.nnx")  # never imported here: only seen if the user has it
    if nnx is None:
        return spec, False
    if isinstance(spec, nnx.Module):
        return nnx.state(spec), True
    leaves = jax.tree_util.tree_leaves(spec, is_leaf=lambda n: isinstance(n, nnx.Variable))
    return spec, any(isinstance(leaf, nnx.Variable) for leaf in leaves)


def memory(
    spec: Any,
    out_shardings: Any = None,
    *,
    mesh: Any = None,
    processes: int | None = None,
) -> Memory:
    """Plans memory: the bytes of a parameter tree per device and per process, before
    anything is drawn.

    Computed from shapes, dtypes and shardings alone: nothing is drawn or allocated,
    so a laptop with one CPU plans a 16x16 pod with a ``jax.sharding.AbstractMesh``.
    The shardings are those `jax_inits.tree.init` would give the leaves: each leaf's
    ``.sharding`` or ``out_shardings``, a ``PartitionSpec`` resolved against ``mesh``;
    a Flax nnx model (or its state from ``nnx.eval_shape``) takes them from its
    variables' sharding metadata, as `jax_inits.flax.create` does
    (``nnx.get_named_sharding`` on ``mesh``). A leaf without a sharding is
    replicated on every device of the mesh (jit lays it out so beside sharded
    leaves); a tree without any sharding and without a mesh is on one device.

    Each device holds one block of every leaf (``P("data", "model")`` on a 2x4 mesh:
    half of the rows and a quarter of the columns, the block of the device's mesh
    coordinates); blocks are jax's own (``devices_indices_map``) on a concrete
    ``Mesh``, and the same layout from the axis sizes on an abstract one. jax lays
    out only even shards, so a dimension that its mesh axes do not divide is an
    error here, as it would be when drawing.

    Processes: on a concrete mesh a device belongs to ``device.process_index``. On
    an abstract mesh, or when ``processes=N`` is given, the devices in mesh order
    are cut into ``N`` equal contiguous blocks (the first ``D/N`` devices are
    process 0, ...), as ``jax.make_mesh`` lays out the hosts of a pod: the major
    (first) mesh axis spans the hosts. Without ``processes`` an abstract mesh is one
    process. Per process the report gives both the bytes of its devices summed
    (device memory) and the bytes of the distinct blocks they hold (a leaf
    replicated on its 4 devices counted once: what the host reads or writes).

    Args:
      spec: A pytree of ``jax.ShapeDtypeStruct`` or arrays (as for
        `jax_inits.tree.init`), or a Flax nnx ``Module`` / ``State`` (e.g. from
        ``nnx.eval_shape``).
      out_shardings: As for `jax_inits.tree.init`: one ``Sharding`` /
        ``PartitionSpec`` for every leaf or a pytree matching ``spec``; ``None``
        uses each leaf's ``sharding`` (an nnx model's sharding metadata).
      mesh: A ``jax.sharding.Mesh`` or ``AbstractMesh`` that ``PartitionSpec``
        shardings and nnx metadata resolve against, and whose devices the report
        lists; ``None``: the mesh set with ``jax.set_mesh``, else the leaves'.
      processes: The number of processes (hosts) the devices are split over, or
        ``None`` (see above); must divide the number of devices.

    Returns:
      A `Memory` report; ``print`` it for a table.

    Raises:
      TypeError: If a spec leaf is not array-like, or ``mesh``, ``processes`` or a
        sharding has the wrong type.
      ValueError: If a partition spec names an axis the mesh lacks or does not
        divide a dimension, leaves are on different meshes, or ``processes`` does
        not divide the number of devices.

    Examples:
      >>> from jax.sharding import AbstractMesh, NamedSharding, PartitionSpec as P
      >>> from jax_inits.diagnostics import memory
      >>> mesh = AbstractMesh((2, 4), ("data", "model"))
      >>> spec = {"w": jax.ShapeDtypeStruct((1024, 512), jnp.bfloat16,
      ...                                   sharding=NamedSharding(mesh, P("data", "model"))),
      ...         "scale": jax.ShapeDtypeStruct((512,), jnp.float32)}
      >>> report = memory(spec, processes=2)
      >>> report.total_bytes, report.per_device[0], report.per_process_distinct
      (1050624, 133120, (526336, 526336))
    """
    return plan("diagnostics.memory", spec, out_shardings, mesh=mesh, processes=processes)


def plan(
    fn: str, spec: Any, out_shardings: Any = None, *, mesh: Any = None, processes: Any = None
) -> Memory:
    """`memory`, its errors starting with ``fn``: the leaves' shardings, the
    report's devices and processes, then each leaf's blocks."""
    processes = _check_arguments(fn, mesh, processes)
    paths, leaves, shardings = _leaf_shardings(fn, spec, out_shardings, mesh)
    report_mesh = _report_mesh(fn, mesh, paths, shardings)
    devices, axes, names = _devices(report_mesh, shardings)
    process_of = _processes(fn, devices, len(names), processes)
    process_ids = sorted(set(process_of.tolist()))
    rank = np.searchsorted(process_ids, process_of)
    per_device = np.zeros(len(names), dtype=np.int64)
    per_process = np.zeros(len(process_ids), dtype=np.int64)
    distinct = np.zeros(len(process_ids), dtype=np.int64)
    rows, total, parameters = [], 0, 0
    for path, leaf, sharding in zip(paths, leaves, shardings, strict=True):
        shape = tuple(int(n) for n in leaf.shape)
        bits = _bits(fn, path, leaf.dtype)
        shard, ids = _blocks(fn, path, shape, sharding, report_mesh, devices, axes)
        shard_bytes = _nbytes(math.prod(shard), bits)
        held = ids >= 0
        per_device += np.where(held, shard_bytes, 0)
        np.add.at(per_process, rank[held], shard_bytes)
        for p in range(len(process_ids)):
            distinct[p] += shard_bytes * len(np.unique(ids[held & (rank == p)]))
        blocks, n_held = len(np.unique(ids[held])), int(held.sum())
        rows.append(
            LeafMemory(
                path=path,
                shape=shape,
                dtype=str(leaf.dtype),
                spec=_spec_string(sharding),
                shard_shape=tuple(shard),
                shard_bytes=shard_bytes,
                devices=n_held,
                copies=n_held // max(blocks, 1),
                replicated=blocks == 1 and n_held == len(names),
            )
        )
        total += _nbytes(math.prod(shape), bits)
        parameters += math.prod(shape)
    return Memory(
        mesh=axes,
        devices=names,
        process_of=tuple(int(p) for p in process_of),
        parameters=parameters,
        total_bytes=total,
        per_device=tuple(int(b) for b in per_device),
        per_process=tuple(int(b) for b in per_process),
        per_process_distinct=tuple(int(b) for b in distinct),
        leaves=tuple(rows),
    )


def _check_arguments(fn: str, mesh: Any, processes: Any) -> int | None:
    """Checks ``mesh`` and ``processes``; returns ``processes``."""
    if mesh is not None and not isinstance(mesh, (jax.sharding.Mesh, jax.sharding.AbstractMesh)):
        raise TypeError(
            f"{fn}: `mesh` must be a jax.sharding.Mesh, a jax.sharding.AbstractMesh or None, "
            f"got {mesh!r}."
        )
    if processes is not None:
        processes = checks.integer(fn, "processes", processes)
        if processes < 1:
            raise ValueError(f"{fn}: `processes` must be >= 1, got {processes!r}.")
    return processes


def _leaf_shardings(fn: str, spec: Any, out_shardings: Any, mesh: Any) -> tuple:
    """``(paths, leaves, shardings)``: each leaf's sharding as `tree.init` resolves it
    (a PartitionSpec against ``mesh`` or the context's), nnx metadata included."""
    spec, is_nnx = _nnx_state(spec)
    context = mesh if mesh is not None else compat.context_mesh()
    if is_nnx and out_shardings is None and context is not None:
        from flax import nnx

        out_shardings = nnx.get_named_sharding(spec, context)  # pyright: ignore[reportArgumentType]
    paths, leaves, treedef = tree.flatten(spec)
    for path, leaf in zip(paths, leaves, strict=True):
        if not tree._is_array_like(leaf):
            raise TypeError(
                f"{fn}: `spec` leaves must be jax.ShapeDtypeStruct or arrays, got "
                f"{leaf!r} at path {path!r}."
            )
    given = tree._sharding_leaves(
        fn, out_shardings, treedef, leaves, lambda leaf: getattr(leaf, "sharding", None)
    )
    shardings = []
    for path, leaf, sharding in zip(paths, leaves, given, strict=True):
        if isinstance(sharding, PartitionSpec):
            if context is None:
                raise ValueError(
                    f"{fn}: the sharding {sharding!r} of the leaf at path {path!r} is a "
                    "PartitionSpec, which needs a mesh: give `mesh` or call inside "
                    "`with jax.set_mesh(mesh):`."
                )
            tree.check_spec(fn, path, tuple(leaf.shape), sharding, _axes(context))
            with compat.use_any_mesh(context):
                sharding = tree._resolve(fn, path, sharding)
        elif sharding is not None and not isinstance(sharding, Sharding):
            raise TypeError(
                f"{fn}: a leaf's sharding must be a jax.sharding.Sharding, a PartitionSpec "
                f"or None, got {sharding!r} at path {path!r}."
            )
        shardings.append(sharding)
    return paths, leaves, shardings


def _devices(report_mesh: Any, shardings: list) -> tuple[list, dict[str, int], tuple]:
    """``(concrete devices or [], mesh axes, device names)`` of the report."""
    if report_mesh is None:
        others = [s for s in shardings if s is not None]
        devices = sorted({d for s in others for d in s.device_set}, key=lambda d: d.id)
        devices = devices or [jax.devices()[0]]
        axes: dict[str, int] = {}
    else:
        axes = _axes(report_mesh)
        devices = list(report_mesh.devices.flat) if _is_concrete(report_mesh) else []
    if devices:
        return devices, axes, tuple(str(d.id) for d in devices)
    return devices, axes, tuple(str(tuple(map(int, c))) for c in np.ndindex(*axes.values()))


def _processes(fn: str, devices: list, count: int, processes: int | None) -> np.ndarray:
    """The process of each device: its ``process_index`` (one process on an
    abstract mesh), or ``processes`` contiguous blocks in mesh order."""
    if processes is None:
        if devices:
            return np.array([d.process_index for d in devices])
        return np.zeros(count, dtype=np.int64)
    if count % processes:
        raise ValueError(
            f"{fn}: `processes` must divide the number of devices ({count}), got {processes!r}."
        )
    return np.arange(count) // (count // processes)


def _blocks(
    fn: str, path: str, shape: tuple, sharding: Any, report_mesh: Any, devices: list, axes: dict
) -> tuple[tuple, np.ndarray]:
    """``(shard shape, block id of each device or -1)`` of one leaf."""
    layout = sharding
    if layout is None and report_mesh is not None:
        layout = NamedSharding(report_mesh, PartitionSpec())
    if isinstance(layout, NamedSharding):
        tree.check_spec(fn, path, shape, layout.spec, axes)
        if devices:  # on the concrete mesh: jax's own blocks
            layout = NamedSharding(cast(Any, report_mesh), layout.spec)
    if layout is None:  # no mesh, no sharding: on the default (first) device
        ids = np.full(len(devices), -1, dtype=np.int64)
        ids[0] = 0
        return shape, ids
    if isinstance(layout, NamedSharding) and not devices:
        return _abstract_blocks(shape, layout.spec, axes)
    if not devices:
        raise ValueError(
            f"{fn}: the leaf at path {path!r} has the sharding {layout!r} on concrete "
            f"devices, but the report's mesh ({_describe(report_mesh)}) is abstract; give "
            "a concrete `mesh` or NamedShardings."
        )
    return _concrete_blocks(layout, shape, devices)
