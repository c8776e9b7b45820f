"""Enumerate and deduplicate the paper's five four-node schemas (appendix B); print median time and peak RSS.

Each run happens in a fresh subprocess so that peak RSS is per run. Usage: python benchmarks/bench_space.py [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys

_CHILD = r"""
import json, resource, time
t0 = time.perf_counter()
from act_bench.space import PAPER_FOUR_NODE_SCHEMAS, count_graphs, count_unique
t1 = time.perf_counter()
graphs = count_graphs(PAPER_FOUR_NODE_SCHEMAS)
unique = count_unique(PAPER_FOUR_NODE_SCHEMAS)
t2 = time.perf_counter()
print(json.dumps({"graphs": graphs, "unique": unique, "import_s": t1 - t0, "seconds": t2 - t1,
                  "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    results = []
    for i in range(args.runs):
        out = subprocess.run([sys.executable, "-c", _CHILD], capture_output=True, text=True, check=True).stdout
        results.append(json.loads(out))
        r = results[-1]
        print(f"run {i + 1}: {r['seconds']:.2f} s (import {r['import_s']:.2f} s), peak RSS {r['peak_rss_gb']:.2f} GB")
    r = results[0]
    print(f"four-node schemas: {r['graphs']:,} graphs -> {r['unique']:,} unique functions")
    print(f"median enumerate+dedup: {statistics.median(x['seconds'] for x in results):.2f} s over {args.runs} runs "
          f"(goal <= 10 s); max peak RSS {max(x['peak_rss_gb'] for x in results):.2f} GB (goal <= 4 GB)")


if __name__ == "__main__":
    main()
