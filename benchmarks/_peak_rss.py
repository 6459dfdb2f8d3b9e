"""Peak resident memory of one n x n he_normal, run by ``harness.peak_rss`` in a
fresh process.

``python benchmarks/_peak_rss.py IMPL N`` prints the resident set size before the
call and the peak (``VmHWM``, reset just before the call) in bytes. jax
implementations are compiled before the measurement. Linux only (``/proc``).
"""

import sys


def rss(field: str) -> int:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith(field))


def main(impl: str, n: int) -> tuple[int, int]:
    import jax

    shape = (n, n)
    if impl == "torch.nn.init":
        import torch

        def run():
            return torch.nn.init.kaiming_normal_(torch.empty(shape))
    else:
        import jax_inits

        init = jax_inits.he_normal() if impl == "jax_inits" else jax.nn.initializers.he_normal()
        f = jax.jit(init, static_argnums=(1,))
        f.lower(jax.random.key(0), shape).compile()  # compile outside the measurement

        def run():
            return f(jax.random.key(0), shape).block_until_ready()

    base = rss("VmRSS:")
    with open("/proc/self/clear_refs", "w") as refs:
        refs.write("5")  # reset the peak (VmHWM)
    out = run()
    peak = rss("VmHWM:")
    del out
    return base, peak


if __name__ == "__main__":
    print(*main(sys.argv[1], int(sys.argv[2])))
