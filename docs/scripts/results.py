"""Every figure of docs/suite.md, docs/searchers.md and docs/fidelity.md, from the shipped tables (one script).

Usage: python docs/scripts/results.py [--jobs N] [--parts tables,study,transfer,warm,replay,multifidelity,comparison]
       python docs/scripts/results.py --check          (what tests/test_docs_results.py runs)

Parts and where they go (marked blocks ``<!-- BEGIN results:PART ... -->`` of docs/suite.md):

* ``tables`` (cheap): per suite table, functions, runs, ok / diverged / failed, FIM-valid, best function, ReLU's rank,
  build wall time (from the table's metadata, as its dataset card quotes it); for the rebuilt CNN table, the functions
  whose status changed against the table built before the operator-gradient fix (its statuses were recorded in
  ``docs/data/act-bench-mnist1d-before-operator-fix.json`` by ``--snapshot-old-cnn`` before the rebuild).
* ``study`` (cheap): Spearman / Kendall correlations of the validation accuracies (all functions, and those ``ok``
  in all three), each table's best functions and their ranks in the others, overlap of the top 1 %.
* ``transfer`` (expensive, ``docs/data/suite_transfer.json``): surrogate transfer between every ordered pair.
* ``warm`` (expensive, ``docs/data/suite_warm_start.json``): warm-started vs cold replays for every ordered pair.
* ``replay`` (expensive, ``docs/data/suite_replay.json``): ``act-bench replay --table A,B,C`` with the 10 algorithms
  (``random``, ``evolution``, knr/rfr/svr on fim/outputs/both minus ``gpr``) plus the fair random baselines, 100
  seeds x 100 evaluations, under ``--observe median`` (the paper's protocol) and ``--observe run``.
* ``multifidelity`` (expensive, ``docs/data/suite_multifidelity.json``): ``random``, ``knr:both``, ``svr:both``
  under ``--scheduler none|sh|asha`` at an equal ``--time-budget`` per table, 4 workers.
* ``comparison``: docs/searchers.md and docs/fidelity.md, by ``docs/scripts/replay_comparison.py`` (called, not
  duplicated). Dataset cards are written from the table itself by ``act_bench.tables`` on save.

A cross-table block needs all three tables: with one missing, it says "not built yet" and which tables are missing
(no numbers); the ``tables`` block shows the tables that are built and names the missing ones. Expensive parts store the digest of the tables they ran on; ``--check`` recomputes the cheap parts,
renders the expensive ones from their JSON, and fails when a block is stale or a JSON was computed on other tables.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from act_bench.errors import InvalidInputError
from act_bench.search import list_searchers, searcher_info
from act_bench.tables import SUITE_TABLES, best_groups, group_ranking, load_table, noise_summary, top_groups
from evaluation import WarmStart, rank_correlations, replay, surrogate_transfer, top_functions, top_overlap

SUITE_DOC = ROOT / "docs" / "suite.md"
DATA = ROOT / "docs" / "data"
PARTS = ("tables", "noise", "study", "transfer", "warm", "replay", "multifidelity")
#: Split-half top-1 % agreement each table aims at (issue 22): 0.6 for the CNN and ResNet, 0.4 for the ViT.
NOISE_GOALS = {"act-bench-mnist1d": 0.6, "act-bench-mnist1d-resnet": 0.6, "act-bench-mnist1d-vit": 0.4}
EXPENSIVE = {"transfer": "suite_transfer.json", "warm": "suite_warm_start.json", "replay": "suite_replay.json",
             "multifidelity": "suite_multifidelity.json"}
#: Statuses of the CNN table built before the operator-gradient fix (``--snapshot-old-cnn`` wrote it from that
#: table), to count the functions whose status changed in the rebuild.
OLD_CNN = DATA / "act-bench-mnist1d-before-operator-fix.json"
MF_ALGORITHMS = ("random", "knr:both", "svr:both")
MF_WORKERS, MF_EVALS = 4, 100
MF_SCHEDULERS = ("none", "sh", "asha")
TRANSFER_ALGORITHM = "knr:both"
WARM_ALGORITHMS = ("evolution", "knr:both", "rfr:both", "svr:both")
#: Warm starts from the source's best 1 % and 10 % (all of a source, 2,902 points, makes every RFR / SVR refit so
#: slow that the four algorithms x 100 seeds take about 11 CPU-minutes per pair, against about one for the top 10 %).
WARM_FRACTIONS = (0.01, 0.10)


def begin(part: str) -> str:
    return f"<!-- BEGIN results:{part} (written by docs/scripts/results.py; do not edit) -->"


def end(part: str) -> str:
    return f"<!-- END results:{part} -->"


def suite_algorithms() -> list[str]:
    """``random``, ``evolution`` and knr/rfr/svr on every feature set (the 10 of the suite replay)."""
    names = [n for n in list_searchers() if searcher_info(n).kind in ("random", "evolution", "knr", "rfr", "svr")]
    return [n for n in names if not (searcher_info(n).kind == "random" and searcher_info(n).features)]


def load_suite(names=SUITE_TABLES):
    """``({name: table}, [missing names])``."""
    tables, missing = {}, []
    for n in names:
        try:
            tables[n] = load_table(n)
        except InvalidInputError:
            missing.append(n)
    return tables, missing


def digest(table) -> str:
    """Digest of what the study reads: names and accuracies (changes when a table is rebuilt)."""
    f = table.functions
    h = hashlib.sha256()
    h.update("\n".join(map(str, f["function"])).encode())
    h.update(np.asarray(f["val_accuracy"], dtype=np.float64).tobytes())
    h.update(np.asarray(f["test_accuracy"], dtype=np.float64).tobytes())
    return h.hexdigest()[:16]


def not_built(missing: list[str], *, rows: bool = False) -> str:
    cmds = "; ".join(f"`act-bench build --recipe {n} --out data/{n}`" for n in missing)
    what = ("Their rows appear when they are built" if rows
            else "No figure is shown until every table of the suite is built")
    return (f"Not built yet: {', '.join(f'`{n}`' for n in missing)} missing from `data/` ({cmds}). {what}; "
            f"`docs/scripts/results.py` writes them then.")


def _f(v, fmt=".3f") -> str:
    return "–" if v is None else format(v, fmt)


def _ci(b: dict, fmt: str = "g") -> str:
    """``median [low, high]``; ``–`` for a bound that was not reached (censored) or is undefined."""
    m, (lo, hi) = b["median"], b["ci95"]
    g = lambda v: "–" if v is None else format(v, fmt)
    return f"{g(m)} [{g(lo)}, {g(hi)}]"


# -- cheap parts ---------------------------------------------------------------------------------------------------

def _extension(t) -> dict:
    """From a table's journal: runs retrained under the corrected labelling rule (by rule), contender functions and
    runs added, and the extension's wall time (its sessions, start to end)."""
    path = ROOT / "data" / f"{t.name}.journal" / "records.jsonl"
    out = {"relabelled": {}, "contenders": 0, "added": 0, "seconds": 0.0,
           "moved": {"functions": 0, "value": 0, "status": 0}}
    if not path.exists():
        return out
    started, contenders = {}, set()
    first: dict = {}  # (function, seed) -> the run's first record (what the old rule stored)
    final: dict = {}
    for line in path.open():
        r = json.loads(line)
        if r["type"] == "run" and r["seed"] < 3:
            first.setdefault((r["function"], r["seed"]), r)
            final[(r["function"], r["seed"])] = r
        if r["type"] == "session" and r.get("purpose"):
            started[r["id"]] = r["time"]
        elif r["type"] == "session_end" and r.get("id") in started:
            out["seconds"] += r["time"] - started.pop(r["id"])
        elif r["type"] == "run" and r.get("source") == "extend":
            if r.get("replaces"):
                rule = r["replaces"]["rule"]
                out["relabelled"][rule] = out["relabelled"].get(rule, 0) + 1
            else:
                out["added"] += 1
                contenders.add(r["function"])
    out["contenders"] = len(contenders)
    # the paper columns (median of seeds 0-2, the paper's status rule) with the old records and with the new ones
    touched = {f for (f, _), r in final.items() if r.get("replaces")}
    moved_value = moved_status = 0
    for f in touched:
        old_runs = [first[(f, s)] for s in range(3)]
        new_runs = [final[(f, s)] for s in range(3)]
        med = lambda rs: float(np.median([r["val_accuracy"] for r in rs]))
        status = lambda rs: "diverged" if 2 * sum(r["status"] == "diverged" for r in rs) >= len(rs) else "ok"
        moved_value += med(old_runs) != med(new_runs)
        moved_status += status(old_runs) != status(new_runs)
    out["moved"] = {"functions": len(touched), "value": moved_value, "status": moved_status}
    return out


def tables_block(tables: dict) -> str:
    lines = [("| table | functions | twin groups | runs | ok | diverged | failed | FIM-valid | best (val acc, twin groups "
              "once) | ReLU rank | build wall time (h) |"), "|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, t in tables.items():
        f = t.functions
        st = f["status"].astype(str)
        ranking = group_ranking(t)
        best = best_groups(ranking)
        relu = ranking[ranking["members"].map(lambda m: "relu(x)" in m)]
        rank = "–" if not len(relu) or not np.isfinite(relu["rank"].iloc[0]) else f"{int(relu['rank'].iloc[0]):,}"
        wall = (t.metadata.get("build") or {}).get("wall_time_s")
        lines.append(f"| `{name}` | {len(f):,} | {len(ranking):,} | {len(t.runs):,} | {int((st == 'ok').sum()):,} | "
                     f"{int((st == 'diverged').sum()):,} | {int((st == 'failed').sum()):,} | "
                     f"{int(np.asarray(f['fim_valid'], dtype=bool).sum()):,} | {best.describe(4)} | {rank} | "
                     f"{_f(None if wall is None else wall / 3600, '.2f')} |")
    lines += ["", ("Status: the paper's rule over seeds 0-2. Best: the twin group(s) with the highest median validation "
                   "accuracy of the paper seeds (`act_bench.tables.group_ranking`; ties shown). ReLU rank: competition "
                   "rank of ReLU's twin group. Build wall time from each table's `metadata.json` (all sessions, the "
                   "extension's included)."), "",
              ("| table | runs relabelled (eval-loss / non-finite logit) | their functions: paper value moved / "
               "status moved | contenders (10 runs) | runs added | extension wall time (h) |"),
              "|---|---|---|---|---|---|"]
    for name, t in tables.items():
        e = _extension(t)
        rel = e["relabelled"]
        mv = e.get("moved", {"functions": 0, "value": 0, "status": 0})
        lines.append(f"| `{name}` | {rel.get('eval-loss', 0):,} / {rel.get('nonfinite-logit', 0):,} | "
                     f"{mv['functions']:,}: {mv['value']:,} / {mv['status']:,} | "
                     f"{e['contenders']:,} | {e['added']:,} | {e['seconds'] / 3600:.2f} |")
    lines += ["", ("Relabelled: runs the old rule stored as `diverged` although training completed (eval-loss), and "
                   "runs whose curve met a non-finite validation loss, where a NaN largest logit counted as a correct "
                   "prediction (non-finite logit); each was retrained by the table's code and its record replaced "
                   "(`tests/test_shipped_table.py` checks that the replacement trained exactly as the old record). "
                   "Contenders: functions with any paper seed at or above the top-5 % threshold of the paper medians, "
                   "or whose paper seeds disagree on status; they carry seeds 3-9 too.")]
    old = json.loads(OLD_CNN.read_text()) if OLD_CNN.exists() else None
    cnn = tables.get(SUITE_TABLES[0])
    if old is not None and cnn is not None:
        lines += ["", status_changes_paragraph(cnn, old)]
    return "\n".join(lines)


def status_changes_paragraph(cnn, old: dict) -> str:
    """What moved the rebuilt CNN table's statuses: the measurement of ``docs/scripts/status_changes.py`` when it was
    made on this table (same name and shared functions), else the count alone."""
    if digest(cnn) == old["digest"]:
        return f"`{SUITE_TABLES[0]}` is still the table built before the operator-gradient fix."
    now = dict(zip(map(str, cnn.functions["function"]), cnn.functions["status"].astype(str)))
    shared = sum(f in now for f in old["status"])
    measured = DATA / "status_changes.json"
    if measured.exists():
        data = json.loads(measured.read_text())
        if data.get("table") == cnn.name and data.get("shared_functions") == shared:
            import runpy

            mod = runpy.run_path(str(Path(__file__).with_name("status_changes.py")), run_name="status_changes")
            return mod["render"](data)
    moved: dict[str, int] = {}
    for f, st in old["status"].items():
        if f in now and now[f] != st:
            moved[f"{st} → {now[f]}"] = moved.get(f"{st} → {now[f]}", 0) + 1
    detail = ", ".join(f"{k} {v:,}" for k, v in sorted(moved.items()))
    return (f"Rebuilt `{SUITE_TABLES[0]}` against the table built before the operator-gradient fix (statuses in "
            f"`{OLD_CNN.name}`): {sum(moved.values()):,} of {shared:,} shared functions changed status"
            + (f" ({detail})" if detail else "") + ". What moved them is not measured on this table "
            "(`docs/scripts/status_changes.py`).")


_NOISE: dict = {}


def _noise(name: str, t):
    """``noise_summary`` of a table, once per run of this script."""
    if name not in _NOISE:
        _NOISE[name] = noise_summary(t, goal=NOISE_GOALS.get(name, 0.6))
    return _NOISE[name]


def noise_block(tables: dict) -> str:
    """Each table's noise (``act_bench.tables.noise_summary``; its dataset card states the same figures)."""
    lines = [("| table | twin groups | seed-to-seed Spearman | SE (3 runs) | SE (10 runs) | split-half top-1 % "
              "Jaccard, 3 seeds | all runs | goal | runs per contender the goal needs |"),
             "|---|---|---|---|---|---|---|---|---|"]
    for name, t in tables.items():
        goal = NOISE_GOALS.get(name, 0.6)
        s = _noise(name, t)
        ci = lambda v: f"{v[0]:.2f} [{v[1]:.2f}, {v[2]:.2f}]"
        needed = "–" if s.groups_10 == 0 else (f"{s.seeds_needed}" if s.seeds_needed is not None else "> 80")
        lines.append(f"| `{name}` | {len(group_ranking(t)):,} | {s.seed_rank_correlation:.3f} | {s.se_median_3:.4f} | "
                     f"{_f(s.se_median_10 if s.groups_10 else None, '.4f')} ({s.groups_10:,} groups) | "
                     f"{ci(s.split_half_paper)} | {ci(s.split_half_all)} | {goal} | {needed} |")
    lines += ["", ("Units are twin groups (runs pooled). Seed-to-seed Spearman: mean over the pairs of seeds 0-2, groups "
                   "`ok` in both. SE: median standard error of a group's mean validation accuracy. Split-half: Jaccard "
                   "of the top 1 % chosen by two disjoint halves of each group's runs (one run each from the paper "
                   "seeds; five each for a contender), mean [95 % interval] over 200 random splits. Runs per contender "
                   "the goal needs: simulated from the measured means and per-group standard deviations (normal noise).")]
    return "\n".join(lines)


def study_block(tables: dict) -> str:
    corr = rank_correlations(tables)
    top = top_functions(tables, k=5)
    ov = top_overlap(tables, 0.01)
    lines = [(f"{corr['n_shared']:,} shared functions, {corr['n_ok_all']:,} of them `ok` in every table. Rank "
             "correlations of the median validation accuracies:"), "",
             "| tables | Spearman (all) | Kendall (all) | n | Spearman (ok in all) | Kendall (ok in all) | n |",
             "|---|---|---|---|---|---|---|"]
    for p in corr["pairs"]:
        a, o = p["all"], p["ok"]
        lines.append(f"| `{p['a']}` vs `{p['b']}` | {_f(a['spearman'])} | {_f(a['kendall'])} | {a['n']:,} | "
                     f"{_f(o['spearman'])} | {_f(o['kendall'])} | {o['n']:,} |")
    names = list(tables)
    lines += ["", ("Each table's 5 best twin groups (status `ok`; every group tied with the fifth too, marked =) and "
                   "their competition ranks in every table:"), "",
              "| best on | function | " + " | ".join(f"rank in `{n}`" for n in names) + " |",
              "|---|---|" + "---|" * len(names)]
    for t, rows in top.items():
        for r in rows:
            lines.append(f"| `{t}` | `{r['function']}`{' =' if r['tie'] else ''} | " + " | ".join(
                "–" if r["rank"][n] is None else f"{r['rank'][n]:,}" for n in names) + " |")
    sizes = ", ".join(f"`{n}` {s}" for n, s in ov["sizes"].items())
    common = ov["in_all_functions"]
    listed = f" ({', '.join(f'`{f}`' for f in common)})" if 0 < len(common) <= 10 else ""
    lines += ["", (f"Top 1 % (twin groups at or above each table's top-1 % threshold, ties included): {sizes}; in "
              f"every table: {ov['in_all']}{listed}. Beside each overlap, the within-table reference: how much two "
              "halves of one table's own runs agree on its top 1 % (split-half Jaccard, 3 seeds / all runs; see "
              "the noise block). A cross-table overlap below a table's own split-half agreement is no evidence "
              "that the architectures disagree."), "",
              "| tables | shared | Jaccard | split-half Jaccard of A (3 seeds / all runs) | of B |",
              "|---|---|---|---|---|"]
    for p in ov["pairs"]:
        na, nb = _noise(p["a"], tables[p["a"]]), _noise(p["b"], tables[p["b"]])
        lines.append(f"| `{p['a']}` vs `{p['b']}` | {p['shared']} | {_f(p['jaccard'], '.2f')} | "
                     f"{na.split_half_paper[0]:.2f} / {na.split_half_all[0]:.2f} | "
                     f"{nb.split_half_paper[0]:.2f} / {nb.split_half_all[0]:.2f} |")
    return "\n".join(lines)


# -- expensive parts -------------------------------------------------------------------------------------------------

def run_transfer(tables: dict, jobs: int) -> dict:
    out = {}
    for (a, ta), (b, tb) in itertools.permutations(tables.items(), 2):
        out[f"{a} -> {b}"] = surrogate_transfer(ta, tb, algorithm=TRANSFER_ALGORITHM, n_points=(25, 50, 100, 200),
                                                seeds=10, k=10)
        out[f"{a} -> {b}"].pop("per_seed")
        print(f"  transfer {a} -> {b}: done", file=sys.stderr)
    return out


def run_warm(tables: dict, jobs: int) -> dict:
    kw = {a: {"n_maps": 10} for a in WARM_ALGORITHMS if searcher_info(a).uses_map}
    out = {}
    for (a, ta), (b, tb) in itertools.permutations(tables.items(), 2):
        for frac in WARM_FRACTIONS:   # the source's top 1 % and top 10 %: twin groups, ties included
            top_n = len(top_groups(group_ranking(ta), frac))
            key = f"{a} -> {b} (top {top_n}, {frac:.0%})"
            out[key] = replay(tb, WARM_ALGORITHMS, budget=100, seeds=100, jobs=jobs, checkpoints=(),
                              warm_start=WarmStart(ta, top_n=top_n), searcher_kwargs=kw).warm_start_summary()
            for v in out[key]["algorithms"].values():
                v.pop("per_seed")
            print(f"  warm {key}: done", file=sys.stderr)
    return out


def _cli(args: list[str]) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-c", "import sys; from act_bench.cli import main; sys.exit(main())",
                           *args, "--json"], cwd=ROOT, env=env,
                          capture_output=True, text=True, check=False)
    if proc.returncode:
        raise SystemExit(f"act-bench {' '.join(args)} failed: {proc.stderr.strip()[-2000:]}")
    return json.loads(proc.stdout)


def run_replay(tables: dict, jobs: int) -> dict:
    """The suite replay under both observation models: ``median`` (the paper's protocol) and ``run``."""
    result = {}
    for observe in OBSERVE:
        out = _cli(["replay", "--table", ",".join(tables), "--algorithms", ",".join(suite_algorithms()),
                    "--budget", "100", "--seeds", "100", "--maps", "10", "--jobs", str(jobs), "--observe", observe])
        for block in out.get("tables", {}).values():   # the curves are in the CLI output; keep the JSON small
            for a in block["algorithms"].values():
                for key in ("mean_best", "ci95", "mean_regret"):
                    a.pop(key, None)
        result[observe] = out
    return result


def time_budget(table, workers: int = 4, evals: int = 100) -> float:
    """Equal simulated time per table: ``evals`` full trainings of the median runtime, spread over the workers."""
    rt = np.asarray(table.functions["runtime"], dtype=np.float64)
    return round(float(np.median(rt[np.isfinite(rt)])) * evals / workers, 1)


def run_multifidelity(tables: dict, jobs: int) -> dict:
    out = {}
    for name, t in tables.items():
        budget = time_budget(t, MF_WORKERS, MF_EVALS)
        out[name] = {"time_budget": budget, "workers": MF_WORKERS, "seeds": 100, "schedulers": {}}
        for sched in MF_SCHEDULERS:
            s = _cli(["replay", "--table", name, "--algorithms", ",".join(MF_ALGORITHMS), "--scheduler", sched,
                      "--time-budget", str(budget), "--workers", str(MF_WORKERS), "--seeds", "100", "--maps", "10"])
            # (the CLI runs time budgets in one process: --jobs applies to the full-fidelity replay only)
            block = s["tables"][name] if "tables" in s else s
            out[name]["schedulers"][sched] = {
                a: {"evals_to_top1pct": v["evals_to_top1pct"], "simulated_seconds": v["simulated_seconds"],
                    "completed": v["completed"], "proposals": v["proposals"]}
                for a, v in block["algorithms"].items()}
    return out


RUNNERS = {"transfer": run_transfer, "warm": run_warm, "replay": run_replay, "multifidelity": run_multifidelity}


def transfer_block(data: dict) -> str:
    first = next(iter(data.values()))
    seeds, k = first["seeds"], first["k"]
    lines = [(f"Surrogate `{TRANSFER_ALGORITHM}` on the target's map, told n functions' accuracies from the source "
             "(transfer) or from the target itself (same functions), ranking the target's other functions; "
             f"direct = the source's accuracies as the ranking. Median [95 % CI] over {seeds} seeds, k = {k}."), "",
             ("| source -> target | n | Spearman transfer | Spearman target | Spearman direct | "
             f"P@{k} transfer | P@{k} target | P@{k} direct |"), "|---|---|---|---|---|---|---|---|"]
    for key, r in data.items():
        for n, m in r["n_points"].items():
            lines.append(f"| {key} | {n} | " + " | ".join(_ci(m[w][q], ".2f") for q in ("spearman", "precision_at_k")
                                                          for w in ("transfer", "target", "direct")) + " |")
    return "\n".join(lines)


def warm_block(data: dict) -> str:
    first = next(iter(data.values()))
    lines = [(f"Evaluations to the target's top 1 %, median [95 % CI] over {first['seeds']} seeds x {first['evals']} "
              "evaluations, cold start vs "
             "warm start from the source's top 1 % or top 10 % results (told, not counted as evaluations)."), "",
             "| source -> target | algorithm | cold | warm | found (cold / warm) |", "|---|---|---|---|---|"]
    for key, r in data.items():
        for a, v in r["algorithms"].items():
            lines.append(f"| {key} | {a} | {_ci(v['cold'])} | {_ci(v['warm'])} | "
                         f"{v['cold']['found_fraction']:.2f} / {v['warm']['found_fraction']:.2f} |")
    return "\n".join(lines)


#: The observation models of the suite replay, in the order shown: the paper's protocol, then the realistic one.
OBSERVE = ("median", "run")
OBSERVE_TEXT = {"median": ("the paper's protocol: each evaluation tells the searcher the median validation accuracy "
                           "of the paper's seeds"),
                "run": ("the realistic protocol: each evaluation tells the searcher one run of the function, drawn "
                        "per replay seed from all its runs, contender seeds included")}


def replay_block(data: dict) -> str:
    parts = []
    for observe in OBSERVE:
        parts += [f"#### `--observe {observe}` ({OBSERVE_TEXT[observe]})", "", _replay_protocol(data[observe], observe),
                  ""]
    return "\n".join(parts[:-1])


def _replay_protocol(data: dict, observe: str) -> str:
    names = list(data["tables"])
    algos = list(data["ranks"]["algorithms"])
    one = data["tables"][names[0]]
    lines = [(f"Evaluations to each table's top 1 % (scored on the best estimate by twin group, whatever is "
              f"observed), median [95 % CI] over {one['seeds']} seeds x {one['evals']} evaluations, and the "
             "average rank across the tables (95 % bootstrap CI) from `act-bench replay --table "
             f"{','.join(names)} --observe {observe}`."), "",
             "| algorithm | " + " | ".join(f"`{n}`" for n in names) + " | average rank |",
             "|---|" + "---|" * (len(names) + 1)]
    for a in algos:
        r = data["ranks"]["algorithms"][a]
        lines.append(f"| {a} | " + " | ".join(_ci(data["tables"][n]["algorithms"][a]["evals_to_top1pct"])
                                               for n in names)
                     + f" | {r['mean_rank']:.2f} [{r['ci95'][0]:.2f}, {r['ci95'][1]:.2f}] |")
    over = data["ranks"].get("ci_over")
    if over:
        lines += ["", f"Average-rank CIs resample {over}."]
    return "\n".join(lines + _verdicts_by_table(data, observe))


def _verdicts_by_table(data: dict, observe: str) -> list[str]:
    import runpy

    mod = runpy.run_path(str(ROOT / "docs" / "scripts" / "replay_comparison.py"), run_name="replay_comparison")
    return ["", *[f"- {mod['verdict_text'](data['tables'][n]['algorithms'], f'`{n}` under `--observe {observe}`')}"
                  for n in data["tables"]]]


def multifidelity_block(data: dict) -> str:
    first = next(iter(data.values()))
    lines = [(f"Equal simulated time per table ({MF_EVALS} median trainings over {first['workers']} workers), "
              f"{first['seeds']} seeds: evaluations "
             "to the top 1 % (proposals in stopping order, runs stopped early included; a function counts only once it has "
             "trained all epochs), median [95 % CI], the fraction of seeds that reached the top 1 % within "
             "the budget, and simulated seconds used (median)."), "",
             "| table (budget s) | algorithm | none | sh | asha | found none / sh / asha | seconds none / sh / asha |",
             "|---|---|---|---|---|---|---|"]
    for name, r in data.items():
        s = r["schedulers"]
        for a in s["none"]:
            evals = [s[k][a]["evals_to_top1pct"] for k in MF_SCHEDULERS]
            found = " / ".join(f"{e['found_fraction']:.2f}" for e in evals)
            seconds = " / ".join(f"{s[k][a]['simulated_seconds']['median']:.0f}" for k in MF_SCHEDULERS)
            lines.append(f"| `{name}` ({r['time_budget']:g}) | {a} | " + " | ".join(map(_ci, evals))
                         + f" | {found} | {seconds} |")
    return "\n".join(lines)


RENDER = {"transfer": transfer_block, "warm": warm_block, "replay": replay_block,
          "multifidelity": multifidelity_block}


# -- docs ------------------------------------------------------------------------------------------------------------

def rewrite(text: str, part: str, block: str) -> str:
    b, e = begin(part), end(part)
    if b not in text or e not in text:
        raise SystemExit(f"{SUITE_DOC}: no {b} ... {e} block")
    head, rest = text.split(b, 1)
    _, tail = rest.split(e, 1)
    return f"{head}{b}\n{block}\n{e}{tail}"


def expected_blocks(tables: dict, missing: list[str]) -> tuple[dict[str, str], list[str]]:
    """The block of every part (cheap parts recomputed, expensive ones from their JSON) and the problems found."""
    if missing:  # the per-table block shows the tables that are built; the cross-table parts need all three
        blocks = {p: not_built(missing) for p in PARTS}
        if tables:
            blocks["tables"] = tables_block(tables) + "\n\n" + not_built(missing, rows=True)
        return blocks, []
    digests = {n: digest(t) for n, t in tables.items()}
    out = {"tables": tables_block(tables), "noise": noise_block(tables), "study": study_block(tables)}
    problems = []
    for part, file in EXPENSIVE.items():
        path = DATA / file
        if not path.exists():
            problems.append(f"{path} is missing; run docs/scripts/results.py --parts {part}")
            continue
        stored = json.loads(path.read_text())
        if stored.get("digests") != digests:
            problems.append(f"{path} was computed on other tables; run docs/scripts/results.py --parts {part}")
            continue
        out[part] = RENDER[part](stored["result"])
    return out, problems


def check() -> int:
    tables, missing = load_suite()
    blocks, problems = expected_blocks(tables, missing)
    text = SUITE_DOC.read_text(encoding="utf-8")
    for part, block in blocks.items():
        if rewrite(text, part, block) != text:
            problems.append(f"stale results:{part} block in {SUITE_DOC}; rerun docs/scripts/results.py")
    for p in problems:
        print(p)
    return 1 if problems else 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--jobs", type=int, default=1)
    p.add_argument("--parts", default=",".join((*PARTS, "comparison")))
    p.add_argument("--tables", default=",".join(SUITE_TABLES),
                   help="tables to compute on (default: the suite); others than the suite only print, for timing")
    p.add_argument("--check", action="store_true", help="fail if a docs block is stale (cheap parts recomputed)")
    p.add_argument("--snapshot-old-cnn", action="store_true",
                   help=f"record the statuses of the current {SUITE_TABLES[0]} (before its rebuild) and exit")
    args = p.parse_args(argv)
    if args.check:
        return check()
    if args.snapshot_old_cnn:
        t = load_table(SUITE_TABLES[0])
        DATA.mkdir(parents=True, exist_ok=True)
        OLD_CNN.write_text(json.dumps({"table": SUITE_TABLES[0], "digest": digest(t), "code_digest": (t.metadata.get("code") or {}).get("digest"),
            "built_by_commit": (t.metadata.get("code") or {}).get("commit"),
            "status": dict(zip(map(str, t.functions["function"]), t.functions["status"].astype(str)))},
            indent=0) + "\n")
        print(f"wrote {OLD_CNN}")
        return 0
    parts = [x.strip() for x in args.parts.split(",") if x.strip()]
    bad = [x for x in parts if x not in (*PARTS, "comparison")]
    if bad:
        raise SystemExit(f"--parts: unknown part(s) {', '.join(bad)}; valid: {', '.join((*PARTS, 'comparison'))}")
    names = tuple(x.strip() for x in args.tables.split(",") if x.strip())
    suite = names == SUITE_TABLES
    tables, missing = load_suite(names)
    if not suite:   # timing runs on other tables: print, write nothing
        if missing:
            raise SystemExit(f"missing tables: {', '.join(missing)}")
        pairwise = dict(tables)
        if len(tables) == 1:   # one table: the pairwise parts compare it with a copy of itself
            name, only = next(iter(tables.items()))
            pairwise[f"{name}-copy"] = only
        for part in parts:
            t0 = time.perf_counter()
            if part in RUNNERS:
                data = RUNNERS[part](pairwise if part in ("transfer", "warm") else tables, args.jobs)
                print(RENDER[part](data) if part != "replay" else json.dumps(data)[:500])
            elif part == "tables":
                print(tables_block(tables))
            elif part == "noise":
                print(noise_block(tables))
            elif part == "study":
                print(study_block(pairwise))
            print(f"[{part}: {time.perf_counter() - t0:.1f} s with --jobs {args.jobs}]", file=sys.stderr)
        return 0
    if "comparison" in parts:
        import runpy

        t0 = time.perf_counter()
        mod = runpy.run_path(str(ROOT / "docs" / "scripts" / "replay_comparison.py"), run_name="replay_comparison")
        mod["main"](["--jobs", str(args.jobs)])
        print(f"[comparison: {time.perf_counter() - t0:.1f} s]", file=sys.stderr)
    if not missing:
        digests = {n: digest(t) for n, t in tables.items()}
        for part in parts:
            if part in RUNNERS:
                t0 = time.perf_counter()
                result = RUNNERS[part](tables, args.jobs)
                DATA.mkdir(parents=True, exist_ok=True)
                (DATA / EXPENSIVE[part]).write_text(json.dumps({"digests": digests, "result": result,
                                                                "wall_seconds": round(time.perf_counter() - t0, 1),
                                                                "jobs": args.jobs}, indent=1, allow_nan=False))
                print(f"[{part}: {time.perf_counter() - t0:.1f} s]", file=sys.stderr)
    blocks, problems = expected_blocks(tables, missing)
    text = SUITE_DOC.read_text(encoding="utf-8")
    for part, block in blocks.items():
        text = rewrite(text, part, block)
    SUITE_DOC.write_text(text, encoding="utf-8")
    for pr in problems:
        print(pr, file=sys.stderr)
    if missing:
        print(f"suite blocks say 'not built yet': missing {', '.join(missing)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
