"""Implementation modules; the public API is re-exported from jax_inits."""
