"""From a journal to a benchmark table: the runs, features and metadata a build (or a live search) records.

One place for what both drivers write into a table's metadata: the FIM layout (one spelling, ``layer``/``weights``/
``bins``), the effort (sessions, workers, seconds inside the jobs, machines) and the code version.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from act_bench.engine import Journal
from act_bench.features import FeatureLayout
from act_bench.space import evaluate_many
from act_bench.tables import RUNS_COLUMNS, BenchmarkTable

__all__ = ["HISTOGRAM_FILE", "assemble_build", "code_metadata", "effort", "journal_to_table", "layout_metadata",
           "write_accuracy_histogram"]

HISTOGRAM_FILE = "accuracy_histogram.png"


def layout_metadata(layout: FeatureLayout) -> list[dict[str, Any]]:
    """The table metadata's ``fim_layout``: ``[{"layer", "weights", "bins"}, ...]`` in module order."""
    return layout.to_records()


def _seconds(value: Any) -> float:
    return float(value) if value is not None and math.isfinite(float(value)) else 0.0


def effort(journal: Journal, *, results: Sequence[Any] | None = None,
           features: dict[int, dict[str, Any]] | None = None) -> dict[str, Any]:
    """``{"wall_time_s", "sessions", "workers", "run_core_seconds"[, "hardware"]}``: wall time (per session, from its
    start to its last record), driver sessions, the largest worker count of a session, the seconds spent inside the
    journal's runs and FIM jobs (their own timings) and the machines that drove the sessions, where recorded.
    ``results``/``features``: the journal's, when the caller has read them already."""
    sessions = journal.sessions()
    wall = sum(max(0.0, (s["last_seen"] or s["started"]) - s["started"]) for s in sessions)
    core = sum(_seconds(r.record.runtime) for r in (journal.results() if results is None else results))
    core += sum(_seconds(f["seconds"]) for f in (journal.features() if features is None else features).values())
    workers = max((int(s["workers"] or 0) for s in sessions), default=0)
    out: dict[str, Any] = {"wall_time_s": round(wall, 1), "sessions": len(sessions), "workers": workers or None,
                           "run_core_seconds": round(core, 1)}
    machines = list(dict.fromkeys(s["hardware"] for s in sessions if s["hardware"]))
    if machines:  # the machines that drove the sessions (Ray workers may have run elsewhere)
        out["hardware"] = "; ".join(machines)
    return out


def code_metadata(journal: Journal) -> dict[str, Any] | None:
    """The code version the journal was started with, plus every accepted change of code (``overrides``)."""
    code = journal.config().get("code")
    if code is None:
        return None
    code = dict(code)
    overrides = [{k: e.get(k) for k in ("time", "from", "to", "changed", "version")}
                 for e in journal.events("code_change")]
    if overrides:
        code["overrides"] = overrides
    return code


def journal_to_table(journal: Journal, *, name: str, recipe: dict[str, Any], fim_layout: list[dict[str, Any]],
                     source: str, space: Sequence[str] | None, functions: Sequence[str] | None = None,
                     seeds: Sequence[int] | None = None, equivalents: dict[str, list[str]] | None = None,
                     task: str | None = None, model: str | None = None, journal_folder: str | None = None,
                     search: dict[str, Any] | None = None,
                     notes: Callable[[int, int, int], str] | None = None) -> BenchmarkTable:
    """The benchmark table of a journal: the one assembler of builds and live searches.

    Parameters
    ----------
    journal : Journal
        Read only.
    functions, seeds, equivalents : optional
        A build's plan: the table holds every planned function whose FIM job and every seed in ``seeds`` are
        journaled, in plan order, with all their runs (the plan's seeds first, then extra seeds such as contender
        seeds). Without a plan (a live search): every function with a result, in the journal's candidate order,
        its features where computed (else ``fim_valid=False``, reason "no FIM features") and its equivalents from
        the journal's candidates.
    name, recipe, fim_layout, source, space, task, model, journal_folder, search, notes
        Metadata (``task``/``model`` default to the recipe's; ``journal_folder`` to the journal's folder name for a
        build and its file name for a search; ``search`` is a live search's searcher settings and order;
        ``notes(complete, planned, failed)`` writes the metadata's notes from the counts).

    Both kinds record the same ``build`` block (:func:`effort`, the plan's completeness, seeds and space) and the
    code version the journal was written with (:func:`code_metadata`), so every table says which code made it. The
    outputs on the standard inputs are this code's (:func:`act_bench.space.evaluate_many`).
    """
    results = journal.results()
    feats = journal.features()
    if functions is not None:
        rows = journal.rows()
        runs = {(r.record.function, r.record.seed): r.record for r in results}
        seeds = list(seeds or ())
        complete = [f for f in functions if f in rows and rows[f] in feats and all((f, s) in runs for s in seeds)]
        extra: dict[str, list[int]] = {}  # seeds beyond the paper's (contender seeds), per function
        for f, s in runs:
            if s not in seeds:
                extra.setdefault(f, []).append(s)
        records = [runs[(f, s)] for f in complete for s in [*seeds, *sorted(extra.get(f, []))]]
        eqs = {f: (equivalents or {}).get(f, [f]) for f in complete}
        feature_of = {f: feats[rows[f]] for f in complete}
        planned = len(functions)
        folder = journal_folder or journal.path.parent.name
    else:
        ordered = sorted(results, key=lambda r: r.row)
        names, cand_eqs, _, _ = journal.candidates()
        records = [r.record for r in ordered]
        complete = list(dict.fromkeys(r.function for r in records))
        eqs = {r.record.function: list(cand_eqs[r.row]) for r in ordered}
        feature_of = {r.record.function: feats.get(r.row) for r in ordered}
        extra = {}
        planned = len(names)
        seeds = list(seeds) if seeds is not None else sorted({int(r.seed) for r in records})
        folder = journal_folder or journal.path.name
    cols = list(RUNS_COLUMNS)  # learning curves included
    runs_df = pd.DataFrame([{c: getattr(r, c) for c in cols} for r in records], columns=cols)
    if functions is None:  # a live search records no runtime for a run that failed before it started
        runs_df["runtime"] = runs_df["runtime"].fillna(0.0)
    outputs = evaluate_many(complete) if complete else np.zeros((0, 1000), np.float32)
    features = {}
    for i, f in enumerate(complete):
        feat = feature_of[f]
        features[f] = {"equivalents": eqs[f], "fim_valid": bool(feat and feat["fim_valid"]),
                       "fim_reason": feat["fim_reason"] if feat else "no FIM features",
                       "fim_cdf": None if not feat or feat["fim_cdf"] is None else feat["fim_cdf"],
                       "outputs": outputs[i]}
    failed = sum(1 for r in records if r.status == "failed")  # a build with failed runs is never complete
    is_build = functions is not None
    build = {**effort(journal, results=results, features=feats), "complete": is_build and len(complete) == planned and not failed,
             "functions_planned": planned, "functions_complete": len(complete),
             **({"failed_runs": failed} if failed and is_build else {}),
             "seeds": list(seeds), "space": list(space) if space is not None else None, "journal": folder,
             **({"extra_runs": {"functions": sum(1 for f in complete if f in extra),
                                "runs": sum(len(extra.get(f, [])) for f in complete),
                                "seeds": sorted({s for f in complete for s in extra.get(f, [])})}}
                if any(f in extra for f in complete) else {}),
             **({"search": search} if search is not None else {})}
    meta = {
        "name": name, "task": task if task is not None else recipe.get("task"),
        "model": model if model is not None else recipe.get("model"), "recipe": recipe,
        "fim_layout": list(fim_layout), "fim_cdf_layout": "act-bench", "build": build, "source": source,
        **({"code": code} if (code := code_metadata(journal)) is not None else {}),
    }
    if is_build:
        meta["figures"] = [{"file": HISTOGRAM_FILE, "title": "Distribution of median test accuracy"}]
    if notes is not None:
        meta["notes"] = notes(len(complete), planned, failed)
    return BenchmarkTable.from_runs(runs_df, features=features, metadata=meta,
                                    **({"paper_seeds": seeds} if is_build else {}))


def assemble_build(journal: Journal, *, functions: Sequence[str], equivalents: dict[str, list[str]],
                   seeds: Sequence[int], recipe, name: str, layout: FeatureLayout,
                   space: Sequence[str], journal_folder: str | None = None) -> BenchmarkTable:
    """The table of a build (:func:`journal_to_table` with the build's plan and its notes).

    ``journal_folder``: the name the metadata gives the build's journal folder (default: the folder of ``journal``;
    a snapshot of a JSON-lines journal reads a converted copy in a temporary folder)."""
    folder = journal_folder or journal.path.parent.name

    def notes(complete: int, planned: int, failed: int) -> str:
        return (f"Built by `act-bench build --recipe {recipe.name}` with the act-bench package; the journal "
                f"`{folder}/` next to this folder holds every run and lets the build resume. "
                f"{complete} of {planned} planned functions are complete"
                + ("." if complete == planned else
                   " (a partial build: the functions are a uniform sample of the space, baselines first).")
                + (f" {failed} runs failed (rerun them with `act-bench build --resume --retry-failed`)."
                   if failed else ""))

    return journal_to_table(journal, name=name, recipe=recipe.to_dict(), fim_layout=layout_metadata(layout),
                            source="act-bench build", space=space, functions=functions, seeds=seeds,
                            equivalents=equivalents, task=recipe.task, model=recipe.model,
                            journal_folder=folder, notes=notes)


def write_accuracy_histogram(table: BenchmarkTable, path: str | os.PathLike[str]) -> Path:
    """Histogram of the median test accuracy of every function (diverged ones at chance level included)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    df = table.to_pandas("functions")
    fig, ax = plt.subplots(figsize=(6, 3.6))
    acc = df["test_accuracy"].to_numpy(dtype=float)
    ax.hist(acc[np.isfinite(acc)], bins=50, color="#4477aa")
    for fn, colour, style in (("relu(x)", "#cc3311", "--"), ("swish(x)", "#009988", ":")):
        hit = df.index[df["function"] == fn]
        if len(hit):
            value = float(df.loc[hit[0], "test_accuracy"])
            ax.axvline(value, color=colour, ls=style, lw=1.8, label=f"{fn} {value:.3f}")
    ax.set_xlabel("median test accuracy")
    ax.set_ylabel("functions")
    ax.set_title(f"{table.name}: {len(df)} functions")
    if ax.get_legend_handles_labels()[0]:
        ax.legend()
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
