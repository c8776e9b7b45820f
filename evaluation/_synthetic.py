"""A synthetic benchmark table over real functions of the search space, with a known optimum.

Used by the tests and by ``benchmarks/bench_replay.py`` until a trained table is available. The functions and their
outputs and equivalence classes are real (``act_bench.space``); the accuracies are a smooth function of the outputs
(closeness to a target activation on the central inputs), and the FIM CDF features are drawn from per-layer normal
log-eigenvalue distributions whose location depends on the accuracy plus noise, so both feature sets carry signal.
"""

from __future__ import annotations

import functools

import numpy as np

from act_bench.tables import BenchmarkTable
from act_bench.utils import check_int

__all__ = ["SYNTHETIC_LAYOUT", "synthetic_benchmark_table", "synthetic_table"]

#: Per-layer layout of the synthetic FIM CDF features.
SYNTHETIC_LAYOUT = [{"layer": "fc1", "weights": 1200, "bins": 12}, {"layer": "fc2", "weights": 800, "bins": 8}]


@functools.lru_cache(maxsize=4)
def _classes(schema: str):
    from act_bench.space import BASELINE_FUNCTIONS, equivalence_classes

    return equivalence_classes(BASELINE_FUNCTIONS, schemas=schema)


def synthetic_table(n_functions: int | None = None, *, seed: int = 0, target: str = "add(elu(x),arctan(x))",
                    schema: str = "binary(unary(x),unary(x))", invalid_fim_fraction: float = 0.05,
                    noise: float = 0.02, epochs: int | None = None):
    """A ``functions`` DataFrame (columns as a ``BenchmarkTable``) with ``attrs["fim_layout"]``.

    Parameters
    ----------
    n_functions : int, optional
        Keep a random subset of this many unique functions (always keeping the 8 baselines); default all.
    seed : int
        Seed of the subset, the noise and the synthetic features.
    target : str
        The function whose outputs define the optimum: accuracy is highest for outputs closest to it.
    epochs : int, optional
        Also add per-epoch learning curves (``curve_val_accuracy``, cumulative ``curve_seconds``; the names of
        ``evaluation.CURVE_COLUMNS``): saturating curves from chance (0.1) to the function's accuracy
        with a per-function rate, so rankings after the first epochs differ from the final ranking; the last point is
        the table's value and runtime.

    Examples
    --------
    >>> df = synthetic_table(50, seed=0)
    >>> len(df), sorted(df.attrs)
    (50, ['fim_layout'])
    """
    import pandas as pd
    from scipy.special import ndtr

    from act_bench.space import BASELINE_FUNCTIONS, evaluate_many, output_keys, standard_inputs

    rng = np.random.default_rng(seed)
    classes = _classes(schema)
    n_all = len(classes)
    keep = np.arange(n_all)
    if n_functions is not None:
        n_functions = check_int(n_functions, "n_functions", "synthetic_table", min_value=8, max_value=n_all)
        keys = output_keys(classes.outputs)
        base_keys = output_keys(evaluate_many(BASELINE_FUNCTIONS))
        base_rows = np.flatnonzero(np.isin(keys, base_keys))
        others = np.setdiff1d(keep, base_rows)
        keep = np.sort(np.concatenate([base_rows, rng.choice(others, n_functions - base_rows.size, replace=False)]))
    out = classes.outputs[keep].astype(np.float32)
    finite = np.isfinite(out).all(axis=1)
    x = standard_inputs()
    central = np.abs(x) <= 3
    tgt = evaluate_many([target])[0]
    with np.errstate(over="ignore", invalid="ignore"):
        err = np.sqrt(np.mean((np.clip(out[:, central], -50, 50) - tgt[central]) ** 2, axis=1))
    quality = np.exp(-err / 0.75)                      # 1 at the target, smooth in the outputs
    acc = 0.1 + 0.85 * quality + noise * rng.normal(size=keep.size)
    acc = np.where(finite, np.clip(acc, 0.0, 1.0), np.nan)
    test_acc = np.where(finite, np.clip(acc + 0.01 * rng.normal(size=keep.size), 0, 1), np.nan)
    status = np.where(finite, "ok", "failed")
    fim_valid = rng.random(keep.size) >= invalid_fim_fraction
    edges_cdf = []
    loc = -20 + 30 * np.nan_to_num(quality) + 6 * rng.normal(size=keep.size)
    for layer_i, layer in enumerate(SYNTHETIC_LAYOUT):
        edges = np.linspace(-100, 100, layer["bins"] + 1)[1:]
        scale = 15 + 5 * layer_i
        edges_cdf.append(ndtr((edges[None, :] - loc[:, None]) / scale))
    cdf = np.concatenate(edges_cdf, axis=1).astype(np.float32)
    runtime = rng.lognormal(mean=np.log(60.0), sigma=0.3, size=keep.size)
    df = pd.DataFrame({
        "function": [classes.representatives[i] for i in keep],
        "equivalents": [list(classes.equivalents[i]) for i in keep],
        "train_accuracy": acc, "val_accuracy": acc, "test_accuracy": test_acc,
        "train_loss": 1 - np.nan_to_num(acc), "val_loss": 1 - np.nan_to_num(acc), "test_loss": 1 - np.nan_to_num(acc),
        "runtime": runtime, "status": status, "n_runs": np.full(keep.size, 3, dtype=np.int32),
        "fim_valid": fim_valid, "fim_reason": [None if v else "synthetic: marked invalid" for v in fim_valid],
        "fim_cdf": [row if v else np.zeros(0, np.float32) for row, v in zip(cdf, fim_valid)],
        "outputs": list(out),
    })
    if epochs is not None:
        epochs = check_int(epochs, "epochs", "synthetic_table", min_value=1)
        e = np.arange(1, epochs + 1)
        rate = rng.lognormal(mean=np.log(0.6), sigma=0.6, size=keep.size)
        shape = (1 - np.exp(-rate[:, None] * e)) / (1 - np.exp(-rate[:, None] * epochs))
        curves = 0.1 + (acc[:, None] - 0.1) * shape
        curves[:, -1] = acc
        steps = runtime[:, None] / epochs * rng.uniform(0.8, 1.2, size=(keep.size, epochs))
        cum = np.cumsum(steps, axis=1)
        cum = cum * (runtime / cum[:, -1])[:, None]
        cum[:, -1] = runtime
        df["curve_val_accuracy"] = list(curves)
        df["curve_seconds"] = list(cum)
    df.attrs["fim_layout"] = [dict(layer) for layer in SYNTHETIC_LAYOUT]
    return df


def synthetic_benchmark_table(n_functions: int | None = None, *, seed: int = 0, name: str = "synthetic", **kw):
    """:func:`synthetic_table` wrapped in an ``act_bench.tables.BenchmarkTable`` (so it can be saved and loaded).

    Examples
    --------
    >>> synthetic_benchmark_table(20, seed=1).name
    'synthetic'
    """
    df = synthetic_table(n_functions, seed=seed, **kw)
    layout = df.attrs.pop("fim_layout")
    return BenchmarkTable(df, metadata={"name": name, "fim_layout": layout, "task": "synthetic",
                                        "model": "none (accuracies are a smooth function of the outputs)"})
