"""The dataset card (``README.md``) of a table folder: YAML ``configs`` + ``dataset_info``, citation, datasheet."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import numpy as np
import yaml

from act_bench.tables._noise import noise_summary
from act_bench.tables._ranking import TOP_FRACTION, best_groups, group_ranking, top_groups
from act_bench.tables._schema import CONFIGS, FILES, functions_features, runs_features

if TYPE_CHECKING:  # pragma: no cover
    from act_bench.tables._table import BenchmarkTable

__all__ = ["CITATION", "dataset_card"]

CITATION = """@inproceedings{bingham2023efficient,
  title     = {Efficient Activation Function Optimization through Surrogate Modeling},
  author    = {Bingham, Garrett and Miikkulainen, Risto},
  booktitle = {Advances in Neural Information Processing Systems (NeurIPS)},
  volume    = {36},
  year      = {2023}
}"""


def _card_yaml(table: BenchmarkTable) -> str:
    from datasets.info import DatasetInfo, DatasetInfosDict
    from datasets.splits import SplitDict, SplitInfo
    from huggingface_hub import DatasetCardData

    sizes = {"functions": len(table.functions), "runs": len(table.runs)}
    feats = {"functions": functions_features(), "runs": runs_features()}
    # `datasets` cannot load a split without rows ("corresponds to no data"): an empty config is left out of the card
    configs = [c for c in CONFIGS if sizes[c] or c == "functions"]
    infos = DatasetInfosDict({
        c: DatasetInfo(features=feats[c], config_name=c,
                       splits=SplitDict({"train": SplitInfo(name="train", num_examples=sizes[c])}))
        for c in configs})
    card = DatasetCardData(license=str(table.metadata.get("license") or "other"),
                           pretty_name=table.name, tags=["activation-functions", "neural-architecture-search",
                                                         "surrogate-modeling", "benchmark", "tabular"])
    infos.to_dataset_card_data(card)
    data = card.to_dict()
    data["configs"] = [{"config_name": c, "data_files": [{"split": "train", "path": FILES[c]}],
                        **({"default": True} if c == "functions" else {})} for c in configs]
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


def _effort(build: dict) -> str:
    """Sessions, workers and the compute actually spent, when the builder recorded them."""
    parts = []
    if build.get("sessions"):
        parts.append(f"summed over {build['sessions']} build session(s), each from its start to its last record")
    if build.get("workers"):
        parts.append(f"{build['workers']} worker process(es)")
    if build.get("run_core_seconds") is not None:
        parts.append(f"{build['run_core_seconds'] / 3600:.2f} core-hours inside the training runs and FIM jobs")
    return f" ({'; '.join(parts)})" if parts else ""


def _extra_sections(meta: dict) -> str:
    """Free-text notes (``metadata["notes"]``) and figures shipped in the folder (``metadata["figures"]``)."""
    parts = []
    if meta.get("notes"):
        parts.append(f"- **Notes.** {meta['notes']}\n")
    for fig in meta.get("figures") or []:
        parts.append(f"- **{fig.get('title', fig['file'])}.**\n\n![{fig.get('title', '')}]({fig['file']})\n\n")
    return "".join(parts)


def _accuracy_summary(table: BenchmarkTable) -> str:
    """Status counts, quantiles of the median test accuracy and the paper's baseline functions' rows."""
    from act_bench.space import BASELINE_FUNCTIONS  # loads torch: on first use only

    df = table.functions
    if not len(df):
        return ""
    counts = df["status"].value_counts()
    status = ", ".join(f"{k} {int(v)} ({v / len(df):.0%})" for k, v in counts.items())
    lines = [f"- **Accuracy summary.** Status of the median run: {status}."]
    qs = (0.1, 0.25, 0.5, 0.75, 0.9, 0.99)
    for label, mask in (("all", np.ones(len(df), bool)), ("`ok`", (df["status"] == "ok").to_numpy())):
        acc = df["test_accuracy"].to_numpy(dtype=float)[mask]
        acc = acc[np.isfinite(acc)]
        if acc.size:
            quant = ", ".join(f"{int(q * 100)}% {v:.3f}" for q, v in zip(qs, np.quantile(acc, qs)))
            lines.append(f"  Median test accuracy, {label} {acc.size} functions: quantiles {quant}; "
                         f"max {acc.max():.3f}.")
    base = []
    for f in BASELINE_FUNCTIONS:
        i = table.index_of(f)
        if i is not None:
            row = df.iloc[i]
            base.append(f"{f} {float(row['test_accuracy']):.3f}")
    if base:
        lines.append(f"  Baseline functions (median test accuracy): {', '.join(base)}.")
    return "\n".join(lines) + "\n"


def _pct(lo_mid_hi) -> str:
    mid, lo, hi = lo_mid_hi
    return f"{mid:.2f} [{lo:.2f}, {hi:.2f}]"


def _noise_section(table: BenchmarkTable) -> str:
    """The table's noise, measured (``act_bench.tables._noise``): what a benchmark scored at its top can trust."""
    if not len(table.runs) or table.runs["seed"].nunique() < 2:
        return ""
    ranking = group_ranking(table)
    groups = len(ranking)
    top = top_groups(ranking)
    s = noise_summary(table)
    s4 = noise_summary(table, goal=0.4, n_splits=2)  # only its seeds_needed is used
    contenders = int((table.runs["seed"] >= 3).groupby(table.runs["function"]).any().sum())
    extra = (f" {contenders} functions (contenders for the top 5 % and functions whose paper seeds disagree on "
             f"status) carry 10 runs (seeds 0-9); their median standard error is {s.se_median_10:.4f}."
             if contenders else "")
    need = lambda n: f"{n} runs per contender" if n is not None else "more than 80 runs per contender"
    needed = (f"{need(s4.seeds_needed)} (0.6: {need(s.seeds_needed)})" if contenders
              else "contender seeds to measure (none here)")
    est = group_ranking(table, by="estimate")
    top_est = best_groups(est)
    se = table.functions.set_index("function")["val_accuracy_se"]
    best_est = ("" if top_est is None else
                f" By the all-run mean (the best estimate), the best is {top_est.describe(4)} (standard error "
                f"{float(se.get(top_est.functions[0], float('nan'))):.4f}).")
    return f"""
## Noise

Measured on this table by `act_bench.tables.noise_summary` (units: twin groups, their runs pooled; validation
accuracy; a diverged run counts at chance level).

- **Twin groups.** {len(table)} rows (exact-output classes, the paper's rule) form {groups} twin groups (the same
  mathematical function up to float32 rounding, column `twin_group`); every ranking below counts a group once.
- **Seed-to-seed rank correlation** (Spearman, groups `ok` in both seeds, mean over the pairs of seeds 0-2):
  {s.seed_rank_correlation:.3f}. The coarse ranking is signal.
- **Per-function standard error** of the mean accuracy (groups `ok` in every run): median {s.se_median_3:.4f}
  over groups with the paper's 3 runs per row.{extra}
- **Top {TOP_FRACTION:.0%}** ({len(top)} groups by the paper's median, ties included). Split-half agreement
  (Jaccard of the top {TOP_FRACTION:.0%} chosen by two disjoint halves of each group's runs; mean [95 % interval]
  over {s.n_splits} random splits): paper seeds (halves of one run) {_pct(s.split_half_paper)}; all runs
  {_pct(s.split_half_all)}. By the measured noise (simulated), a split-half agreement of 0.4 needs {needed}. Read
  top-{TOP_FRACTION:.0%} membership as noisy: use `val_accuracy_mean` and its standard error
  `val_accuracy_se`.{best_est}
"""


def dataset_card(table: BenchmarkTable) -> str:
    """Markdown dataset card with YAML front matter that ``datasets.load_dataset(folder, config)`` understands."""
    meta = table.metadata
    info = table.info()
    build = meta.get("build") or {}
    layout = meta.get("fim_layout") or []
    best = best_groups(group_ranking(table)) if len(table) else None
    best_text = (f"{best.describe(4)} (median validation accuracy of the paper seeds, twin groups counted once)"
                 if best else "none (no function with status `ok`)")
    recipe = json.dumps(meta.get("recipe") or {}, indent=2, sort_keys=True)
    runs_note = ("" if len(table.runs) else "; this table has no per-run data (`runs.parquet` is empty and not "
                 "declared as a config, since `datasets` cannot load an empty split)")
    versions = ", ".join(f"{k} {v}" for k, v in (meta.get("versions") or {}).items())
    n_out = f"{table.outputs_matrix().shape[1]:,}"   # from the table, like every other figure of the card
    return f"""---
{_card_yaml(table)}---

# {table.name}

Activation-function benchmark table in the format of the `act-bench` Python package (an implementation of
*Efficient Activation Function Optimization through Surrogate Modeling*, Bingham & Miikkulainen, NeurIPS 2023).
Each row of the `functions` config is one unique activation function (all computation graphs with identical outputs
on the standard inputs are listed in `equivalents`, representative first) with the median train/validation/test
accuracy and loss over its runs of the paper's seeds (0-2; the paper's columns), all-run estimates over every run
(contenders carry seeds 3-9 too), its twin group, FIM eigenvalue CDF features and its outputs on {n_out} standard
inputs.
The `runs` config has one row per (function, seed){runs_note}.

- task: `{meta.get('task')}`; model: `{meta.get('model')}`
- functions: {info['rows']}; runs: {info['runs']}; seeds: {info['seeds']}; FIM feature dimensions: {info['fim_dims']}
- best function: {best_text}
- source: {meta.get('source')}

## Loading

```python
import datasets
functions = datasets.load_dataset("<this folder or hub id>", "functions", split="train")
runs = datasets.load_dataset("<this folder or hub id>", "runs", split="train")

import act_bench
table = act_bench.load_table("<this folder or hub id>")
table.query("max(x,zero(x))")   # any equivalent spelling of relu(x)
```

## Columns

`functions`: `function` (canonical string), `equivalents` (list of string), `train_accuracy`, `val_accuracy`,
`test_accuracy`, `train_loss`, `val_loss`, `test_loss`, `runtime` (seconds; float64 medians over the paper's seeds, the paper's columns), `status` (`ok`, `diverged` —
median over diverged runs with chance-level metrics — or `failed`; the paper's rule over the paper's seeds),
`n_runs` (int32, every run), the all-run estimates `n_ok`, `n_diverged`, `n_failed` (int32 status counts),
`val_accuracy_mean`, `val_accuracy_median`, `val_accuracy_se`, `test_accuracy_mean`, `test_accuracy_median`,
`test_accuracy_se` (float64 over every run that did not fail; `_se`: standard error of the mean), `twin_group`
(int32: the row of the first member of the function's twin group), `fim_valid` (bool), `fim_reason` (string, null when valid), `fim_cdf` (float32 list, empty without features),
`outputs` ({n_out} float32 outputs on the standard inputs).

`runs`: `function`, `seed` (int64), the six metrics, `runtime`, `status`, `error` (string, null) and the run's
learning curve, one float64 value per finished epoch (empty where none was recorded): `curve_val_accuracy`,
`curve_val_loss` (after each epoch), `curve_train_loss` (mean over the epoch's steps), `curve_seconds`
(training seconds since the run's start), and `eval_loss_nonfinite` (bool: the run completed training but a final
evaluation loss was not finite; that loss is NaN and its accuracies are real). A run is `diverged` only when
training stopped on a non-finite training loss.

`metadata.json` holds the task, model, training recipe, standard-input specification, FIM bin layout, package
versions, build information, the source of the data and, for built tables, the code version (`code`: package
version and digests of the source that determined the results).

## Datasheet

- **How it was built.** Source: {meta.get('source')}. Each function was trained with the recipe below
  (the median over seeds is reported); the FIM eigenvalues come from a K-FAC approximation of the empirical Fisher
  of the untrained network, log-scaled and binned per layer into equal bins over [-100, 100]; the CDFs of the
  per-layer histograms are concatenated in module order. FIM CDF layout: `{meta.get('fim_cdf_layout')}`
  (`act-bench`: floor(|θ_l|/100) values per layer; `upstream`: floor(|θ_l|/100) - 1, as in the published Act-Bench
  JSON files); {len(layout)} layers with features.
- **Standard inputs.** `{json.dumps(meta.get('standard_inputs'))}`
- **Build.** hardware: {build.get('hardware')}; wall time (s): {build.get('wall_time_s')}{_effort(build)}; date: {build.get('date')}.
- **Software.** {versions}.
- **Recipe.**

```json
{recipe}
```

{_accuracy_summary(table)}{_extra_sections(meta)}- **Intended use.** Benchmarking activation-function search algorithms by table lookup (replay) and training
  surrogate models. Metrics are medians over few seeds and carry seed noise.
- **License.** {meta.get('license') or 'other'}.

{_noise_section(table)}
## Citation

```bibtex
{CITATION}
```
"""
