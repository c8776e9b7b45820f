"""From a journal to a benchmark table: the runs, features and metadata a build (or a live search) records.

One place for what both drivers write into a table's metadata: the FIM layout (one spelling, ``layer``/``weights``/
``bins``), the effort (sessions, workers, seconds inside the jobs, machines) and the code version.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from act_bench.engine._journal import Journal
from act_bench.features import FeatureLayout
from act_bench.space import evaluate_many
from act_bench.tables import RUNS_COLUMNS, BenchmarkTable

__all__ = ["HISTOGRAM_FILE", "assemble_build", "code_metadata", "effort", "layout_metadata",
           "write_accuracy_histogram"]

HISTOGRAM_FILE = "accuracy_histogram.png"


def layout_metadata(layout: FeatureLayout) -> list[dict[str, Any]]:
    """The table metadata's ``fim_layout``: ``[{"layer", "weights", "bins"}, ...]`` in module order."""
    return layout.to_records()


def _seconds(value: Any) -> float:
    return float(value) if value is not None and math.isfinite(float(value)) else 0.0


def effort(journal: Journal) -> dict[str, Any]:
    """``{"wall_time_s", "sessions", "workers", "run_core_seconds"[, "hardware"]}``: wall time (per session, from its
    start to its last record), driver sessions, the largest worker count of a session, the seconds spent inside the
    journal's runs and FIM jobs (their own timings) and the machines that drove the sessions, where recorded."""
    sessions = journal.sessions()
    wall = sum(max(0.0, (s["last_seen"] or s["started"]) - s["started"]) for s in sessions)
    core = sum(_seconds(r.record.runtime) for r in journal.results())
    core += sum(_seconds(f["seconds"]) for f in journal.features().values())
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


def assemble_build(journal: Journal, *, functions: Sequence[str], equivalents: dict[str, list[str]],
                   seeds: Sequence[int], recipe, name: str, layout: FeatureLayout,
                   space: Sequence[str], journal_folder: str | None = None) -> BenchmarkTable:
    """The table of a build: every planned function whose FIM job and every seed are journaled (in plan order).

    ``journal_folder``: the name the metadata gives the build's journal folder (default: the folder of ``journal``;
    a snapshot of a JSON-lines journal reads a converted copy in a temporary folder)."""
    rows = journal.rows()
    runs = {(r.record.function, r.record.seed): r.record for r in journal.results()}
    feats = journal.features()
    complete = [f for f in functions if f in rows and rows[f] in feats and all((f, s) in runs for s in seeds)]
    extra: dict[str, list[int]] = {}  # seeds beyond the paper's (contender seeds), per function
    for f, s in runs:
        if s not in seeds:
            extra.setdefault(f, []).append(s)
    records = [runs[(f, s)] for f in complete for s in [*seeds, *sorted(extra.get(f, []))]]
    runs_df = pd.DataFrame([{c: getattr(r, c) for c in RUNS_COLUMNS} for r in records], columns=list(RUNS_COLUMNS))
    outputs = evaluate_many(complete) if complete else np.zeros((0, 1000), np.float32)
    features = {}
    for i, f in enumerate(complete):
        feat = feats[rows[f]]
        features[f] = {"equivalents": equivalents[f], "fim_valid": bool(feat["fim_valid"]),
                       "fim_reason": feat["fim_reason"], "fim_cdf": feat["fim_cdf"], "outputs": outputs[i]}
    folder = journal_folder or journal.path.parent.name
    failed = sum(1 for r in records if r.status == "failed")  # a build with failed runs is never complete
    meta = {
        "name": name, "task": recipe.task, "model": recipe.model, "recipe": recipe.to_dict(),
        "fim_layout": layout_metadata(layout), "fim_cdf_layout": "act-bench",
        "build": {**effort(journal), "complete": len(complete) == len(functions) and not failed,
                  "functions_planned": len(functions), "functions_complete": len(complete),
                  **({"failed_runs": failed} if failed else {}),
                  "seeds": list(seeds), "space": list(space), "journal": folder,
                  **({"extra_runs": {"functions": sum(1 for f in complete if f in extra),
                                     "runs": sum(len(extra.get(f, [])) for f in complete),
                                     "seeds": sorted({s for f in complete for s in extra.get(f, [])})}}
                     if any(f in extra for f in complete) else {})},
        "source": "act-bench build",
        **({"code": code} if (code := code_metadata(journal)) is not None else {}),
        "figures": [{"file": HISTOGRAM_FILE, "title": "Distribution of median test accuracy"}],
        "notes": (f"Built by `act-bench build --recipe {recipe.name}` with the act-bench package; the journal "
                  f"`{folder}/` next to this folder holds every run and lets the build resume. "
                  f"{len(complete)} of {len(functions)} planned functions are complete"
                  + ("." if len(complete) == len(functions) else
                     " (a partial build: the functions are a uniform sample of the space, baselines first).")
                  + (f" {failed} runs failed (rerun them with `act-bench build --resume --retry-failed`)."
                     if failed else "")),
    }
    return BenchmarkTable.from_runs(runs_df, features=features, metadata=meta, paper_seeds=seeds)


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
