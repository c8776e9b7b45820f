"""What moved the statuses of the rebuilt CNN table: the operator-gradient fix, or kernel-level chaos.

The rebuild of ``act-bench-mnist1d`` changed two things at once: the operators' gradients (gradient-safe local
derivatives, ``docs/space.md``) and the builder (the fast CPU kernels of ``act_bench.space.fast_kernels``, flat SGD).
``docs/data/act-bench-mnist1d-before-operator-fix.json`` holds the statuses of the table before it; this script
measures, from the shipped data, how much of the status change each can explain:

1. **Affected by the gradient fix.** A changed function's gradient before the fix (plain torch autograd through
   the frozen old operators, ``tests/_frozen_forward.py``) is *non-finite* when it is NaN or ±inf at some input of
   the gradient audit's batch where the function's output is finite (``docs/scripts/gradient_audit.py``: its
   ``wide_inputs`` and ``gradient``, reused by import); the function is *affected* when at such an input today's
   gradient (``backward="fused"``) is finite, i.e. the fix changed it there (``reciprocal`` near 1e-38 is non-finite
   before and after: no float32 holds ``-1/x^2``). Counted per direction (diverged → ok, ok → diverged), on the
   audit's inputs with its edge values and on its plain batch; and which operators the functions contain (``div``,
   ``reciprocal``, operators whose value or derivative uses a fast kernel).
2. **Kernel-level chaos.** Runs retrained with today's code and recipe but torch's own kernels instead of the fast
   ones (``train_run`` enters ``fast_kernels(dev.type == "cpu")`` by the name bound in ``data_builders._train``;
   this script rebinds that name, for the duration of a call, to ``fast_kernels(False)``: no library change), against
   the same runs with the fast kernels (the journal's record of each run, which ``train_run`` reproduces: checked on
   a few runs). Status flip rates, per run and per function (the paper's status rule over seeds 0-2), for (a) a
   sample of the changed functions, stratified by affected / not affected, (b) functions whose seeds disagree on
   status in the table, (c) a random sample of all functions; 95 % CIs by a bootstrap over functions.

Statuses of the table are the paper's rule over seeds 0-2 of the build journal
(``data/act-bench-mnist1d.journal/records.jsonl``, read only): ``rebuild`` uses each run's first record (what the
rebuild produced, the table's ``status`` column at the rebuild), ``final`` each run's last (a record that
``replaces`` an earlier one: a run retrained under today's labelling rule, issue 22 item 1).

Run ``nice -n 19 python docs/scripts/status_changes.py`` to measure and write ``docs/data/status_changes.json``
(training results are cached in ``--cache`` so an interrupted run resumes); :func:`render` turns the JSON into the
paragraph that ``docs/scripts/results.py`` puts in ``docs/suite.md``. ``--render`` prints it from the stored JSON.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
TABLE = "act-bench-mnist1d"
JOURNAL = ROOT / "data" / f"{TABLE}.journal"
OLD = ROOT / "docs" / "data" / f"{TABLE}-before-operator-fix.json"
OUT = ROOT / "docs" / "data" / "status_changes.json"
PAPER_SEEDS = (0, 1, 2)
#: Functions per sample and the seed of each sample's generator (``numpy.random.default_rng([SEED, k])``).
SAMPLE, SEED = 40, 22
BOOTSTRAP = 10_000
#: Operators named in the report besides the fast-kernel ones.
NAMED = ("div", "reciprocal")

sys.path.insert(0, str(ROOT / "docs" / "scripts"))
import gradient_audit as audit  # also puts tests/ on sys.path (the frozen old operators)

# -- the shipped data ------------------------------------------------------------------------------------------------


def paper_status(statuses: list[str]) -> str:
    """The table's status rule over a function's paper-seed runs (``act_bench.tables`` builds ``status`` so):
    ``failed`` when every run failed, ``diverged`` when at least as many diverged as trained, else ``ok``."""
    n_ok, n_div = statuses.count("ok"), statuses.count("diverged")
    if n_ok + n_div == 0:
        return "failed"
    return "diverged" if n_div and n_div >= n_ok else "ok"


def journal_runs(folder: Path = JOURNAL) -> tuple[dict, dict]:
    """(first, final) record of every paper-seed run by (function, seed), read from the JSON-lines journal (never
    written; a torn last line, the background build appending, is skipped by the reader)."""
    from data_builders.build import LegacyJournal

    j = LegacyJournal(folder)
    j.load()
    first: dict[tuple[str, int], dict] = {}
    for r in j.records:
        if r["type"] == "run" and int(r["seed"]) in PAPER_SEEDS:
            first.setdefault((r["function"], int(r["seed"])), r)
    final = {k: r for k, r in j.runs().items() if k[1] in PAPER_SEEDS}
    return first, final


def statuses(runs: dict) -> dict[str, str]:
    by: dict[str, list[str]] = {}
    for (f, s), r in sorted(runs.items()):
        by.setdefault(f, []).append(r["status"])
    return {f: paper_status(st) for f, st in by.items()}


def changed(old: dict[str, str], now: dict[str, str]) -> dict[str, str]:
    """Function -> ``"before → after"`` for every shared function whose status differs."""
    return {f: f"{st} → {now[f]}" for f, st in sorted(old.items()) if f in now and now[f] != st}


# -- operators and the gradient fix ----------------------------------------------------------------------------------


def fast_kernel_operators() -> list[str]:
    """Operators whose value or derivative, as training computes them (``ActivationFunction`` forward and fused
    backward inside ``fast_kernels``), calls a fast kernel (counted by spying on ``act_bench.space._fast._applies``)."""
    from unittest import mock

    import torch

    import act_bench.space._fast as fast
    from act_bench.space import BINARY_OPS, UNARY_OPS, ActivationFunction, fast_kernels, parse

    real = fast._applies
    out = []
    for name in [*UNARY_OPS, *BINARY_OPS]:
        calls = [0]

        def spy(x, calls=calls):
            applied = real(x)
            calls[0] += bool(applied)
            return applied

        expr = parse(f"{name}(x)" if name in UNARY_OPS else f"{name}(x,x)")
        with mock.patch.object(fast, "_applies", spy), fast_kernels(True):
            x = torch.linspace(-3.0, 3.0, 11).requires_grad_(True)
            ActivationFunction(expr)(x).sum().backward()
        if calls[0]:
            out.append(name)
    return out


def operators(function: str) -> set[str]:
    from act_bench.space import as_expr

    return {e.op for e in as_expr(function).walk() if not e.is_input}


def gradient_fix(function: str, x=None, plain=None) -> dict[str, bool]:
    """What the gradient fix did to ``function`` on the gradient audit's inputs ``x`` (``plain``: its plain batch).

    ``nonfinite``/``nonfinite_plain``: the old gradient (autograd through the frozen old operators) is non-finite at
    some input where the output is finite (with the edge inputs / on the plain batch); ``affected``/
    ``affected_plain``: at such an input today's gradient (``backward="fused"``) is finite, i.e. the fix changed a
    non-finite gradient into a finite one there. ``reciprocal`` at 1e-38 (``-1/x^2 = -1e76``) is non-finite before
    and after: non-finite, not affected.
    """
    import torch

    from act_bench.space import as_expr

    if x is None:
        x, plain = audit.wide_inputs()
    expr = as_expr(function)
    y, g = audit.gradient(expr, x, "old")
    bad = torch.isfinite(y) & ~torch.isfinite(g)
    fixed = torch.zeros_like(bad)
    if bool(bad.any()):
        _, g_new = audit.gradient(expr, x, "fused")
        fixed = bad & torch.isfinite(g_new)
    return {"nonfinite": bool(bad.any()), "nonfinite_plain": bool((bad & plain).any()),
            "affected": bool(fixed.any()), "affected_plain": bool((fixed & plain).any())}


# -- training with fast and exact kernels ----------------------------------------------------------------------------


@contextlib.contextmanager
def kernels(fast: bool) -> Iterator[None]:
    """Inside, ``train_run`` trains with the fast kernels (``fast=True``, its default on CPU) or torch's own."""
    if fast:
        yield
        return
    from unittest import mock

    import data_builders._train as train
    from act_bench.space import fast_kernels

    with mock.patch.object(train, "fast_kernels", lambda enabled=True: fast_kernels(False)):
        yield


_TASK = None


def train(function: str, seed: int, fast: bool) -> dict[str, Any]:
    """One run of recipe ``act-bench-mnist1d`` with today's code (one thread, as the builder's workers)."""
    global _TASK
    import torch

    from data_builders.build import train_run
    from data_builders.recipes import get_recipe
    from data_builders.tasks import create_task

    torch.set_num_threads(1)
    recipe = get_recipe(TABLE)
    if _TASK is None:
        _TASK = create_task(recipe.task, **recipe.task_args)
    start = time.perf_counter()
    with kernels(fast):
        r = train_run(recipe, function, seed, task=_TASK)
    return {"function": function, "seed": seed, "fast": fast, "status": r.status, "val_accuracy": r.val_accuracy,
            "error": r.error, "seconds": round(time.perf_counter() - start, 3)}


def _train_job(args: tuple[str, int, bool]) -> dict[str, Any]:
    import warnings

    warnings.filterwarnings("ignore")
    np.seterr(all="ignore")
    return train(*args)


def read_cache(cache: Path) -> dict[tuple[str, int, bool], dict]:
    done: dict[tuple[str, int, bool], dict] = {}
    if cache.exists():
        for line in cache.read_text().splitlines():
            with contextlib.suppress(ValueError, KeyError):
                r = json.loads(line)
                done[(r["function"], int(r["seed"]), bool(r["fast"]))] = r
    return done


def train_all(jobs: list[tuple[str, int, bool]], cache: Path, workers: int,
              train: bool = True) -> dict[tuple[str, int, bool], dict]:
    """Results of ``jobs`` (those trained: ``train=False`` trains none); the ones in ``cache`` (JSON lines) are not
    retrained, new ones are appended to it as they finish (an interrupted measurement resumes)."""
    done = read_cache(cache)
    todo = [j for j in dict.fromkeys(jobs) if j not in done]
    if train and todo:
        print(f"training {len(todo)} runs ({len(jobs) - len(todo)} cached) with {workers} workers", file=sys.stderr)
        with cache.open("a") as fh, ProcessPoolExecutor(workers) as pool:
            for k, r in enumerate(pool.map(_train_job, todo), 1):
                fh.write(json.dumps(r) + "\n")
                fh.flush()
                done[(r["function"], r["seed"], r["fast"])] = r
                print(f"  {k}/{len(todo)} {r['function']} {r['seed']} {r['status']} {r['seconds']:.1f}s",
                      file=sys.stderr, flush=True)
    return {j: done[j] for j in jobs if j in done}


# -- statistics ------------------------------------------------------------------------------------------------------


def cluster_rate(flips: list[list[bool]], draws: int = BOOTSTRAP, seed: int = SEED) -> dict[str, Any]:
    """Share of flipped runs (``flips``: one list per function) with a 95 % percentile CI from a bootstrap over
    functions (a draw resamples whole functions; the rate is flipped runs / runs of the draw)."""
    k = np.array([sum(f) for f in flips], dtype=np.float64)
    n = np.array([len(f) for f in flips], dtype=np.float64)
    if not n.sum():
        return {"rate": None, "lo": None, "hi": None, "flipped": 0, "runs": 0, "functions": 0}
    idx = np.random.default_rng(seed).integers(0, len(k), size=(draws, len(k)))
    boot = k[idx].sum(axis=1) / n[idx].sum(axis=1)
    lo, hi = np.percentile(boot, [2.5, 97.5])
    return {"rate": float(k.sum() / n.sum()), "lo": float(lo), "hi": float(hi), "flipped": int(k.sum()),
            "runs": int(n.sum()), "functions": len(k)}


def _sample(pool: list[str], n: int, k: int) -> list[str]:
    """The first ``n`` of a fixed random order of ``pool`` (a smaller sample is a prefix of a larger one)."""
    pool = sorted(pool)
    order = np.random.default_rng([SEED, k]).permutation(len(pool))
    return [pool[i] for i in order[:n]]


# -- the measurement -------------------------------------------------------------------------------------------------


def measure(cache: Path, workers: int, sample: int = SAMPLE, verify: int = 2, train: bool = True) -> dict[str, Any]:
    start = time.time()
    old_snap = json.loads(OLD.read_text())
    first, final = journal_runs()
    rebuild, now = statuses(first), statuses(final)
    moved = changed(old_snap["status"], rebuild)
    relabel = changed(rebuild, now)
    fast_ops = fast_kernel_operators()

    x, plain = audit.wide_inputs()
    fix = {f: gradient_fix(f, x, plain) for f in moved}
    functions = {f: {"change": c, **fix[f], "operators": sorted(operators(f))} for f, c in moved.items()}

    def summary(fs: list[str]) -> dict[str, int]:
        ops = [operators(f) for f in fs]
        return {"functions": len(fs),
                **{k: sum(fix[f][k] for f in fs) for k in ("affected", "affected_plain", "nonfinite",
                                                             "nonfinite_plain")},
                **{f"with_{o}": sum(o in s for s in ops) for o in NAMED},
                "with_div_or_reciprocal": sum(bool(s & set(NAMED)) for s in ops),
                "with_fast_kernel_operator": sum(bool(s & set(fast_ops)) for s in ops),
                "div_or_reciprocal_without_fast": sum(bool(s & set(NAMED)) and not s & set(fast_ops) for s in ops)}

    directions = sorted(set(moved.values()))
    counts = {"all": summary(list(moved)),
              **{d: summary([f for f, c in moved.items() if c == d]) for d in directions},
              **{f"{a} {d}": summary([f for f, c in moved.items() if c == d and fix[f]["affected"] == (a == "affected")])
                 for d in directions for a in ("affected", "not affected")}}

    # samples: (a) changed functions, stratified by affected / not affected; (b) seeds disagree; (c) all functions
    affected = [f for f in moved if fix[f]["affected"]]
    unaffected = [f for f in moved if not fix[f]["affected"]]
    by_fn: dict[str, list[str]] = {}
    for (f, _), r in final.items():
        by_fn.setdefault(f, []).append(r["status"])
    disagree = [f for f, st in by_fn.items() if len(set(st)) > 1]
    samples = {"changed, affected": _sample(affected, sample // 2, 1),
               "changed, not affected": _sample(unaffected, sample - sample // 2, 2),
               "seeds disagree": _sample(disagree, sample, 3),
               "random": _sample(list(now), sample, 4)}
    # interleaved across the samples (the two that the conclusion rests on first), so that the runs trained first
    # cover every sample; the fast-kernel check first
    first_order = ("changed, not affected", "random", "seeds disagree", "changed, affected")
    sampled = list(dict.fromkeys(f for fs in zip(*[samples[k] + [None] * (sample - len(samples[k]))
                                                   for k in first_order]) for f in fs if f is not None))
    # the kernels differ only in the operators with a fast kernel: a function without one trains bit for bit the same
    # either way (checked on the runs of such functions in the cache, trained before this rule), so only the others
    # are trained and the rates are over them
    fast_set = set(fast_ops)
    trainable = [f for f in sampled if operators(f) & fast_set]
    jobs = [(f, s, False) for f in trainable for s in PAPER_SEEDS]
    check = [(f, 0, True) for f in _sample(sampled, verify, 5)]
    results = train_all(check + jobs, cache, workers, train)
    cached = read_cache(cache)
    same = [(cached[(f, s, False)], final[(f, s)]) for f in sampled if not operators(f) & fast_set
            for s in PAPER_SEEDS if (f, s, False) in cached]
    no_fast_check = {"runs": len(same), "equal": sum(a["status"] == b["status"] and a["val_accuracy"] == b["val_accuracy"]
                                                     for a, b in same)}
    excluded = {k: sum(not operators(f) & fast_set for f in fs) for k, fs in samples.items()}
    # a sample keeps the functions whose three exact runs were trained (all of them unless training was cut short)
    complete = {f for f in trainable if all((f, s, False) in results for s in PAPER_SEEDS)}
    drawn = {k: len(fs) for k, fs in samples.items()}
    samples = {k: [f for f in fs if f in complete] for k, fs in samples.items()}
    sampled = [f for f in trainable if f in complete]
    check = [j for j in check if j in results]

    fast_check = []
    for f, s, _ in check:
        rec, r = final[(f, s)], results[(f, s, True)]
        fast_check.append({"function": f, "seed": s, "journal": [rec["status"], rec["val_accuracy"]],
                           "retrained": [r["status"], r["val_accuracy"]],
                           "equal": rec["status"] == r["status"] and rec["val_accuracy"] == r["val_accuracy"]})
    runs = [{"function": f, "seed": s, "fast": final[(f, s)]["status"], "exact": results[(f, s, False)]["status"],
             "fast_val": final[(f, s)]["val_accuracy"], "exact_val": results[(f, s, False)]["val_accuracy"],
             "seconds": results[(f, s, False)]["seconds"]} for f in sampled for s in PAPER_SEEDS]
    by_run = {(r["function"], r["seed"]): r for r in runs}

    def rates(fs: list[str]) -> dict[str, Any]:
        run_flips = [[by_run[(f, s)]["fast"] != by_run[(f, s)]["exact"] for s in PAPER_SEEDS] for f in fs]
        fn_flips = [[paper_status([by_run[(f, s)]["fast"] for s in PAPER_SEEDS])
                     != paper_status([by_run[(f, s)]["exact"] for s in PAPER_SEEDS])] for f in fs]
        return {"pool": None, "runs": cluster_rate(run_flips), "functions": cluster_rate(fn_flips)}

    pools = {"changed, affected": len(affected), "changed, not affected": len(unaffected),
             "seeds disagree": len(disagree), "random": len(now)}
    chaos = {}
    for name, fs in samples.items():
        chaos[name] = rates(fs)
        chaos[name]["pool"] = pools[name]
    not_aff_random = [f for f in samples["random"] if not gradient_fix(f, x, plain)["affected"]]
    chaos["random, not affected"] = rates(not_aff_random)
    chaos["random, not affected"]["pool"] = None
    return {
        "table": TABLE,
        "before": {"file": str(OLD.relative_to(ROOT)), "digest": old_snap["digest"],
                   "built_by_commit": old_snap.get("built_by_commit")},
        "journal_runs": {"first": len(first), "final": len(final),
                         "replaced": sum(final[k] is not first[k] for k in final)},
        "shared_functions": sum(f in rebuild for f in old_snap["status"]),
        "changed": len(moved),
        "directions": {d: sum(c == d for c in moved.values()) for d in directions},
        "relabel_changed": {"functions": len(relabel),
                            "directions": {d: sum(c == d for c in relabel.values()) for d in sorted(set(relabel.values()))}},
        "fast_kernel_operators": fast_ops,
        "counts": counts,
        "samples": {k: {"pool": pools[k], "drawn": drawn[k], "without_fast_kernel_operator": excluded[k],
                        "functions": v} for k, v in samples.items()},
        "no_fast_kernel_check": no_fast_check,
        "with_fast_kernel_operator": {"table": sum(bool(operators(f) & fast_set) for f in now),
                                      "changed, not affected": sum(bool(operators(f) & fast_set) for f in unaffected)},
        "chaos": chaos,
        "fast_check": fast_check,
        "runs": runs,
        "functions": functions,
        "settings": {"sample": sample, "seed": SEED, "bootstrap": BOOTSTRAP, "seeds": list(PAPER_SEEDS),
                     "audit_inputs": int(x.numel()), "audit_plain_inputs": int(plain.sum())},
        "exact_runs_trained": len(runs), "wall_s": round(time.time() - start, 1),
    }


# -- the docs paragraph ----------------------------------------------------------------------------------------------


def _pct(r: dict[str, Any]) -> str:
    if r["rate"] is None:
        return "–"
    return f"{100 * r['rate']:.0f} % [{100 * r['lo']:.0f}, {100 * r['hi']:.0f}]"


def render(data: dict[str, Any]) -> str:
    """A short markdown paragraph and table: what moved the rebuilt CNN table's statuses (numbers from ``data``,
    the JSON this script writes)."""
    c, dirs, ch = data["counts"], data["directions"], data["chaos"]
    up, down = "diverged → ok", "ok → diverged"
    a, n, shared = c["all"], data["changed"], data["shared_functions"]
    fast = ", ".join(f"`{o}`" for o in data["fast_kernel_operators"])
    text = [
        (f"Rebuilt `{data['table']}` against the table built before the operator-gradient fix (statuses in "
         f"`{data['before']['file']}`): {n:,} of {shared:,} shared functions changed status ({up} {dirs.get(up, 0):,}, "
         f"{down} {dirs.get(down, 0):,}). The rebuild changed the operators' gradients and the builder (fast CPU "
         f"kernels, flat SGD) at once; `docs/scripts/status_changes.py` measures what each can explain "
         f"(`docs/data/status_changes.json`). The gradient fix turned a non-finite gradient into a finite one, at an "
         f"input of the gradient audit where the function's output is finite, in {a['affected']:,} of the {n:,} "
         f"({c[up]['affected']:,} of {c[up]['functions']:,} {up}, {c[down]['affected']:,} of "
         f"{c[down]['functions']:,} {down}): at most these can be its effect. {a['nonfinite']:,} had a non-finite "
         f"old gradient somewhere, but for {a['nonfinite'] - a['affected']:,} of them it is non-finite after the fix "
         f"too (where no float32 can hold it, as `reciprocal` near 1e-38). {c[down]['with_div_or_reciprocal']:,} of "
         f"the {c[down]['functions']:,} {down} functions contain `div` or `reciprocal`, "
         f"{c[down]['div_or_reciprocal_without_fast']:,} of those no operator with a fast kernel ({fast})."),
    ]
    na, rnd = ch.get("changed, not affected"), ch.get("random")
    if na and rnd and na["functions"]["rate"] is not None and rnd["functions"]["rate"] is not None:
        chk = data["no_fast_kernel_check"]
        nf = f": {chk['equal']} of {chk['runs']} of their runs retrained identical" if chk["runs"] else ""
        text.append(
            f"Kernel-level chaos alone, measured: the same runs (seeds 0–2) retrained with today's code and recipe, "
            f"torch's kernels instead of the fast ones, for sampled functions that contain an operator with a fast "
            f"kernel (in the others the swap changes no computation{nf}). Of the changed "
            f"functions the fix did not affect, {na['functions']['flipped']} of {na['functions']['functions']} "
            f"({_pct(na['functions'])}) change status again, {_pct(na['runs'])} of their runs; of a random sample of "
            f"all functions {rnd['functions']['flipped']} of {rnd['functions']['functions']}, "
            f"{_pct(rnd['runs'])} of their runs. 95 % CIs from a bootstrap over functions; a function's status is the "
            f"paper's rule over its three seeds. The samples are small ({len(data['runs']) // 3}"
            f" distinct functions, {data['exact_runs_trained']} runs: training ran at the lowest priority beside a build), so "
            f"the CIs are wide and a 0 % from a handful of functions bounds nothing.")
    rel = data.get("relabel_changed") or {}
    if rel.get("functions"):
        text.append(f"Not counted above: the honest run labels (a run that completed training is `ok`) move "
                    f"{rel['functions']:,} more functions ("
                    + ", ".join(f"{k} {v:,}" for k, v in rel["directions"].items())
                    + ") once the table is rebuilt from its extended journal.")
    lines = ["\n\n".join(text), "",
             "| sample (fast vs torch's kernels) | functions sampled | status flips, functions | status flips, runs |",
             "|---|---|---|---|"]
    for name, r in ch.items():
        pool = "" if r["pool"] is None else f" of {r['pool']:,}"
        lines.append(f"| {name} | {r['functions']['functions']}{pool} | {_pct(r['functions'])} | "
                     f"{_pct(r['runs'])} ({r['runs']['flipped']}/{r['runs']['runs']}) |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cache", type=Path, default=Path("/tmp/act-bench-status-changes-runs.jsonl"),
                   help="JSON lines of trained runs (resumes an interrupted measurement)")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--sample", type=int, default=SAMPLE, help="functions per sample")
    p.add_argument("--render", action="store_true", help="print the paragraph from the stored JSON and exit")
    p.add_argument("--no-train", dest="train", action="store_false",
                   help="train nothing: measure on the runs in --cache (samples shrink to their complete functions)")
    args = p.parse_args(argv)
    if args.render:
        print(render(json.loads(OUT.read_text())))
        return 0
    data = measure(args.cache, args.workers, args.sample, train=args.train)
    OUT.write_text(json.dumps(data, indent=1, allow_nan=True) + "\n")
    print(render(data))
    print(f"wrote {OUT.relative_to(ROOT)} ({data['exact_runs_trained']} exact runs, {data['wall_s']:.0f} s)",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    np.seterr(all="ignore")
    raise SystemExit(main())
