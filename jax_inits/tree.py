"""Whole-tree parameter creation: ``init``, ``reinit`` and ``lsuv``.

Rules map leaf paths ("/"-joined pytree key paths such as ``"dense/kernel"``) to
initializers; the first matching rule wins. Each leaf's key is derived from its
path alone (:func:`leaf_key`), so adding a layer does not change the values of
the others, and the whole tree is created by one ``jax.jit``-compiled call.
"""

from jax_inits._src.tree import deferred as deferred
from jax_inits._src.tree import init as init
from jax_inits._src.tree import leaf_key as leaf_key
from jax_inits._src.tree import leaf_paths as leaf_paths
from jax_inits._src.tree import lsuv as lsuv
from jax_inits._src.tree import reinit as reinit
from jax_inits._src.tree import sibling as sibling

__all__ = ("deferred", "init", "leaf_key", "leaf_paths", "lsuv", "reinit", "sibling")
