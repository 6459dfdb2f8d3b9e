"""Cold eager init, run by ``harness.cold_init`` in a fresh process.

``python benchmarks/_cold_init.py IMPL LAYERS`` initializes ``LAYERS`` he_normal
weights of distinct shapes eagerly with ``IMPL`` (``jax_inits``, ``jax.nn (eager)``
or ``torch.nn.init``) and prints the seconds it took, backend start-up excluded.
"""

import sys
import time


def main(impl: str, layers: int) -> float:
    import jax

    shapes = [(32 + 8 * i, 48 + 4 * i) for i in range(layers)]
    if impl == "torch.nn.init":
        import torch

        start = time.perf_counter()
        for s in shapes:
            torch.nn.init.kaiming_normal_(torch.empty(s[::-1]))
        return time.perf_counter() - start
    if impl == "jax_inits":
        import jax_inits

        init = jax_inits.he_normal()
    else:
        init = jax.nn.initializers.he_normal()
    key = jax.random.key(0)
    jax.random.split(key)  # start the backend before the clock
    start = time.perf_counter()
    for s in shapes:
        init(key, s).block_until_ready()
    return time.perf_counter() - start


if __name__ == "__main__":
    print(main(sys.argv[1], int(sys.argv[2])))
