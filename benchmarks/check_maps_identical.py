"""Check that the maps of this checkout are bit-identical to those of a reference checkout (e.g. commit c2643e7, before
the seed-independent parts of a map were cached), so the surrogates' map quality is unchanged by construction.

Each side runs in its own process from empty caches; this checkout is run twice, once computing the shared base and
once loading it from the disk cache the first run wrote. Exit status 0 when every map matches bit for bit.

Usage:
    git archive c2643e7 act_bench | tar -x -C /tmp/ref-c2643e7
    python benchmarks/check_maps_identical.py --ref /tmp/ref-c2643e7 --table data/act-bench-mnist1d --seeds 0,1,2
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]

_WORKER = r"""
import sys
# an editable install maps act_bench to its own folder ahead of sys.path: drop that finder, import from PYTHONPATH
sys.meta_path = [f for f in sys.meta_path if not getattr(f, "__module__", "").startswith("__editable__")
                 and not getattr(f, "__name__", "").startswith("__editable__")]
import numpy as np, act_bench
from act_bench.search import CandidateSet, embed_candidates
table, out, seeds, feats, cache = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]
cs = CandidateSet.from_table(act_bench.load_table(table))
for f in feats.split(","):
    for s in map(int, seeds.split(",")):
        kw = {"use_cache": False} if cache == "-" else {"cache_dir": cache}
        np.save(f"{out}/{f}-{s}.npy", embed_candidates(cs, f, seed=s, **kw).coords)
print(act_bench.__file__)
"""


def _run(pythonpath: Path, table: str, out: Path, seeds: str, feats: str, cache: str) -> str:
    env = dict(os.environ, PYTHONPATH=str(pythonpath))
    done = subprocess.run([sys.executable, "-c", _WORKER, str(Path(table).resolve()), str(out), seeds, feats, cache],
                          env=env, capture_output=True, text=True, check=True, cwd=tempfile.gettempdir())
    return done.stdout.strip()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--ref", required=True, help="folder holding the reference checkout's act_bench package")
    p.add_argument("--table", default=str(ROOT / "data" / "act-bench-mnist1d"), help="table folder")
    p.add_argument("--seeds", default="0,1")
    p.add_argument("--features", default="fim,outputs,both")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        dirs = {k: tmp / k for k in ("ref", "cold", "warm")}
        for d in dirs.values():
            d.mkdir()
        cache = tmp / "cache"
        print("reference:", _run(Path(args.ref), args.table, dirs["ref"], args.seeds, args.features, "-"))
        print("this checkout (computes the base):", _run(ROOT, args.table, dirs["cold"], args.seeds, args.features,
                                                          str(cache)))
        print("this checkout (base from the disk cache):", _run(ROOT, args.table, dirs["warm"], "9," + args.seeds,
                                                                 args.features, str(cache)))
        bases = sorted(p.name for p in (cache / "embeddings").glob("base-*.npz"))
        print(f"{len(bases)} cached base(s)")
        bad = 0
        for f in args.features.split(","):
            for s in args.seeds.split(","):
                ref = np.load(dirs["ref"] / f"{f}-{s}.npy")
                for side in ("cold", "warm"):
                    got = np.load(dirs[side] / f"{f}-{s}.npy")
                    same = ref.shape == got.shape and ref.tobytes() == got.tobytes()
                    bad += not same
                    print(f"{f} seed {s} {side}: {'bit-identical' if same else 'DIFFERENT'}")
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
