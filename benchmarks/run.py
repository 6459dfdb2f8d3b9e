"""Run the benchmark harness: ``python benchmarks/run.py [--quick] [--tag NAME]``.

Same as ``jax-inits bench``; results land in benchmarks/results/.
"""

import sys

from jax_inits import bench

if __name__ == "__main__":
    sys.exit(bench.main())
