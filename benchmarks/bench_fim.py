"""Time the K-FAC FIM spectrum of All-CNN-C (batch 128, CPU): ours vs curvlinops' K-FAC factors + the same eigen step.

For every repetition, in one process and interleaved so both see the same machine load:

* floor: one forward pass plus ``loss.backward()`` of the summed cross-entropy (parameter gradients included);
* ours: :func:`act_bench.features.compute_spectra` (forward with hooks, backward to the layer outputs only,
  factors, float64 eigen step), with its phase split;
* curvlinops: ``KFACLinearOperator(..., fisher_type=EMPIRICAL, kfac_approx=EXPAND, separate_weight_and_bias=False)``
  + ``compute_kronecker_factors()``, followed by exactly our eigen step on its factors.

Prints medians over the repetitions and the ratio ours / curvlinops (goal <= 0.5), and checks that both give the
same spectra (curvlinops' sum-reduction blocks are N times ours).

Usage: ``python benchmarks/bench_fim.py [--reps 3] [--batch 128] [--fn relu(x)] [--threads 2] [--json]``
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time

import numpy as np
import torch
from torch import nn


def _eigen_step(pairs):
    """The eigen step shared by both: float64 eigvalsh of both factors, all pairwise log sums."""
    from act_bench.features._fisher import log_eigenvalues, single_thread

    out = []
    with single_thread():
        for omega, gamma in pairs:
            _, lo = log_eigenvalues(omega)
            _, lg = log_eigenvalues(gamma)
            out.append((lo[:, None] + lg[None, :]).ravel())
    return out


def _timed(fn, *args):
    """(wall seconds, process CPU seconds, result): CPU time is less sensitive to other jobs on shared cores."""
    w, c = time.perf_counter(), time.process_time()
    out = fn(*args)
    return time.perf_counter() - w, time.process_time() - c, out


def _floor(model, x, y) -> None:
    model.zero_grad(set_to_none=True)
    loss = nn.functional.cross_entropy(model(x), y, reduction="sum")
    loss.backward()
    model.zero_grad(set_to_none=True)


def _ours(model, x, y):
    from act_bench.features import compute_spectra

    res = compute_spectra(model, x, y)
    assert res.valid, res.reason
    return res.timings, [s.log_eigenvalues for s in res.layers]


def _curvlinops(model, x, y):
    from curvlinops import KFACLinearOperator
    from curvlinops.kfac import FisherType, KFACType

    params = [p for p in model.parameters() if p.requires_grad]
    t = time.perf_counter()
    op = KFACLinearOperator(model, nn.CrossEntropyLoss(reduction="sum"), params, [(x, y)],
                            fisher_type=FisherType.EMPIRICAL, kfac_approx=KFACType.EXPAND,
                            separate_weight_and_bias=False, check_deterministic=False, num_data=x.shape[0],
                            num_per_example_loss_terms=1)
    op.compute_kronecker_factors()
    t_fac = time.perf_counter() - t
    names = [n for n, m in model.named_modules() if isinstance(m, (nn.Linear, nn.Conv2d))]
    pairs = [(op._input_covariances[n], op._gradient_covariances[n]) for n in names]
    t = time.perf_counter()
    spectra = _eigen_step(pairs)
    t_eig = time.perf_counter() - t
    return {"factors": t_fac, "eigen": t_eig}, spectra


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--fn", default="relu(x)")
    ap.add_argument("--model", default="all-cnn-c")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)

    from data_builders.models import create_model

    model = create_model(args.model, args.fn, seed=0).eval()
    gen = torch.Generator().manual_seed(0)
    x = torch.randn((args.batch, *model.input_shape), generator=gen)
    y = torch.randint(0, model.num_classes, (args.batch,), generator=gen)

    rows = {"floor": [], "ours": [], "curvlinops": []}
    cpu = {"floor": [], "ours": [], "curvlinops": []}
    phases = {"ours": [], "curvlinops": []}
    max_dev = 0.0
    _ours(model, x[:8], y[:8])  # warm-up (allocator, kernels)
    for rep in range(args.reps):
        w_f, c_f, _ = _timed(_floor, model, x, y)
        t_o, c_o, (ph_o, sp_o) = _timed(_ours, model, x, y)
        t_c, c_c, (ph_c, sp_c) = _timed(_curvlinops, model, x, y)
        for key, w, c in (("floor", w_f, c_f), ("ours", t_o, c_o), ("curvlinops", t_c, c_c)):
            rows[key].append(w)
            cpu[key].append(c)
        phases["ours"].append(ph_o)
        phases["curvlinops"].append(ph_c)
        for a, b in zip(sp_o, sp_c):  # same spectra up to the documented scalar: curvlinops = N * ours
            a, b = np.sort(a), np.sort(b) - np.log(args.batch)
            top = a.max()
            keep = a > top - 10  # compare eigenvalues within 10 log-units of the largest (float32 factors)
            max_dev = max(max_dev, float(np.abs(a[keep] - b[keep]).max()))
        print(f"rep {rep + 1}/{args.reps}: floor {w_f:.2f}s  ours {t_o:.2f}s "
              f"({', '.join(f'{k} {v:.2f}' for k, v in ph_o.items())})  curvlinops {t_c:.2f}s "
              f"(factors {ph_c['factors']:.2f}, eigen {ph_c['eigen']:.2f})", file=sys.stderr, flush=True)

    med = {k: statistics.median(v) for k, v in rows.items()}
    med_cpu = {k: statistics.median(v) for k, v in cpu.items()}
    med_phases = {name: {k: statistics.median(p[k] for p in ph) for k in ph[0]} for name, ph in phases.items()}
    result = {"model": args.model, "fn": args.fn, "batch": args.batch, "threads": args.threads, "reps": args.reps,
              "median_seconds": med, "phases_median_seconds": med_phases,
              "ratio_ours_over_curvlinops": med["ours"] / med["curvlinops"],
              "median_cpu_seconds": med_cpu, "cpu_ratio_ours_over_curvlinops": med_cpu["ours"] / med_cpu["curvlinops"],
              "max_abs_log_eig_deviation_top10": max_dev, "torch": torch.__version__}
    if args.json:
        print(json.dumps(result))
    else:
        print(f"{args.model}, fn {args.fn}, batch {args.batch}, {args.threads} threads, median of {args.reps}:")
        print(f"  floor (forward + backward)  {med['floor']:.2f} s")
        print(f"  ours                        {med['ours']:.2f} s  "
              + ", ".join(f"{k} {v:.2f}" for k, v in med_phases["ours"].items()))
        print(f"  curvlinops + eigen          {med['curvlinops']:.2f} s  "
              + ", ".join(f"{k} {v:.2f}" for k, v in med_phases["curvlinops"].items()))
        print(f"  ratio ours / curvlinops     {result['ratio_ours_over_curvlinops']:.2f}  (goal <= 0.5)")
        print(f"  process CPU seconds: floor {med_cpu['floor']:.2f}, ours {med_cpu['ours']:.2f}, curvlinops "
              f"{med_cpu['curvlinops']:.2f}; ratio {result['cpu_ratio_ours_over_curvlinops']:.2f}")
        print(f"  spectra agree: max |log-eig difference| (top 10 log-units) = {max_dev:.2e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
