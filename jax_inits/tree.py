"""Whole-tree parameter creation: ``init``, ``reinit``, ``lsuv`` and ``fingerprint``.

Rules map leaf paths ("/"-joined pytree key paths such as ``"dense/kernel"``) to
initializers; the first matching rule wins. Each leaf's key is derived from its
path alone (`leaf_key`; for rbg and unsafe_rbg roots from a threefry key
folded from the root's data), so adding a layer does not change the values of
the others. The whole tree is created by one ``jax.jit``-compiled call whose
leaves are drawn in groups (same initializer, shape, dtype and sharding: one
vmapped draw), so compile time follows the number of groups, not the depth.
``init(..., known=, force=)`` initializes only what a checkpoint lacks;
`scanned` adapts rules to layers stacked on a leading axis (``nnx.vmap``/``nnx.scan``);
`fingerprint` hashes a tree's paths, dtypes, shapes and bytes.
"""

from jax_inits._src.tree import deferred as deferred
from jax_inits._src.tree import fingerprint as fingerprint
from jax_inits._src.tree import init as init
from jax_inits._src.tree import leaf_key as leaf_key
from jax_inits._src.tree import leaf_paths as leaf_paths
from jax_inits._src.tree import lsuv as lsuv
from jax_inits._src.tree import reinit as reinit
from jax_inits._src.tree import scanned as scanned
from jax_inits._src.tree import sibling as sibling

__all__ = (
    "deferred",
    "fingerprint",
    "init",
    "leaf_key",
    "leaf_paths",
    "lsuv",
    "reinit",
    "scanned",
    "sibling",
)
