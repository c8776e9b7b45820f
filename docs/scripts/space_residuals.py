"""Print the facts behind docs/space.md: counts under both equivalence definitions and the fragile classes.

Run: python docs/scripts/space_residuals.py
"""

from __future__ import annotations

import numpy as np

from act_bench.space import (
    PAPER_FOUR_NODE_SCHEMAS,
    PAPER_THREE_NODE_SCHEMA,
    count_graphs,
    count_unique,
    equivalence_classes,
)


def ulp_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Max distance in float32 units-in-the-last-place between rows of a and b (NaN pattern must match)."""
    def ordered(v):
        i = v.view(np.int32).astype(np.int64)
        return np.where(i < 0, -(i & 0x7FFFFFFF), i)
    return np.abs(ordered(a) - ordered(b))


def main() -> None:
    ours = equivalence_classes(schemas=PAPER_THREE_NODE_SCHEMA)
    signed = equivalence_classes(schemas=PAPER_THREE_NODE_SCHEMA, signed_zero=True)
    print(f"three-node: graphs={ours.n_graphs} unique(-0==0)={len(ours)} unique(-0!=0)={len(signed)}")
    ours_set = {tuple(m) for m in ours.equivalents}
    print("\nclasses split only by the sign of zero:")
    for members in ours.equivalents:
        parts = [m for m in signed.equivalents if m[0] in members]
        if len(parts) > 1:
            print("  ", " | ".join(p[0] + (f" (+{len(p) - 1})" if len(p) > 1 else "") for p in parts))
    assert len(ours_set) == len(ours)
    # fragile pairs: different classes whose outputs agree within 4 ulps everywhere (same NaN/inf pattern)
    out = ours.outputs
    finite = np.isfinite(out)
    print("\nfragile pairs (distinct classes within 4 float32 ulps on every input):")
    n = 0
    for i in range(len(out)):
        same_pattern = (finite == finite[i]).all(axis=1)
        same_pattern[: i + 1] = False
        cand = np.nonzero(same_pattern)[0]
        if cand.size == 0:
            continue
        a = np.where(finite[i], out[i], 0)[None, :]
        b = np.where(finite[cand], out[cand], 0)
        bad_i = np.where(finite[i], 0, out[i])[None, :]
        bad_c = np.where(finite[cand], 0, out[cand])
        nonfin_equal = (bad_i == bad_c) | (np.isnan(bad_i) & np.isnan(bad_c))
        d = ulp_distance(np.broadcast_to(a, b.shape).copy(), b).max(axis=1)
        for j in cand[(d <= 4) & nonfin_equal.all(axis=1)]:  # same non-finite values, finite ones within 4 ulp
            n += 1
            dist = int(ulp_distance(a[0], b[list(cand).index(j)]).max())
            print(f"   {ours.representatives[i]:40s} ~ {ours.representatives[j]:40s} max {dist} ulp")
    print(f"   {n} pairs")
    print("\nfour-node (appendix B):")
    print(f"  graphs={count_graphs(PAPER_FOUR_NODE_SCHEMAS)} unique(-0==0)={count_unique(PAPER_FOUR_NODE_SCHEMAS)} "
          f"unique(-0!=0)={count_unique(PAPER_FOUR_NODE_SCHEMAS, signed_zero=True)}")
    for s in PAPER_FOUR_NODE_SCHEMAS:
        print(f"  {s:40s} graphs={count_graphs(s):7d} unique={count_unique(s):7d}")


if __name__ == "__main__":
    main()
