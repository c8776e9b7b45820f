"""Import the published Act-Bench JSON files (a dict keyed by function name) into a :class:`BenchmarkTable`.

The files are read incrementally, one top-level record at a time (``_jsonstream.iter_json_object``), so a 100+ MB
file never has to be held as one string or one Python object.
"""

from __future__ import annotations

import json
import math
import numbers
import os
import re
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from act_bench._validation import check_choice, check_name
from act_bench.errors import InvalidInputError
from act_bench.interop._jsonstream import iter_json_object
from act_bench.space import parse
from act_bench.tables import (
    FUNCTIONS_COLUMNS,
    OPTIONAL_COLUMNS,
    BenchmarkTable,
    CdfLayout,
    RunStatus,
    default_metadata,
    layout_entries,
    normalize_layout,
)

__all__ = [
    "UPSTREAM_KEYS",
    "UPSTREAM_MODELS",
    "UpstreamModel",
    "import_upstream",
    "model_layout",
]

#: Keys every record of an upstream file has, mapped to our column names.
UPSTREAM_KEYS = {
    "Train Accuracy": "train_accuracy",
    "Validation Accuracy": "val_accuracy",
    "Test Accuracy": "test_accuracy",
    "Train Loss": "train_loss",
    "Validation Loss": "val_loss",
    "Test Loss": "test_loss",
    "Runtime (s)": "runtime",
    "Equivalent Activation Functions": "equivalents",
    "Fisher log eigenvalue CDF": "fim_cdf",
}
_CDF_KEY = "Fisher log eigenvalue CDF"
_EQ_KEY = "Equivalent Activation Functions"


@dataclass(frozen=True)
class UpstreamModel:
    """What the paper says about one published Act-Bench dataset."""

    model: str
    task: str
    dataset: str
    n_runs: int


#: The three published datasets (paper Sec. 4/Appendix B: medians of three runs for CNN/ResNet, one run for ViT).
UPSTREAM_MODELS = {
    "all-cnn-c": UpstreamModel("all-cnn-c", "cifar10", "Act-Bench-CNN", 3),
    "resnet-56": UpstreamModel("resnet-56", "cifar10", "Act-Bench-ResNet", 3),
    "mobilevitv2-0.5": UpstreamModel("mobilevitv2-0.5", "imagenette", "Act-Bench-ViT", 1),
}


# --- record conversion -------------------------------------------------------------------------------------------

def _number(value: Any, what: str) -> float:
    if value is None:
        return math.nan
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InvalidInputError(f"{what} must be a number; got {value!r}")
    return float(value)


def _cdf(value: Any, what: str) -> tuple[np.ndarray, bool]:
    """(vector as float32, all finite). ``null`` or ``[]`` means no features; ``null`` entries count as NaN."""
    if value is None:
        return np.zeros(0, np.float32), False
    if not isinstance(value, list):
        raise InvalidInputError(f"{what} must be a list of numbers (or null); got {type(value).__name__}")
    kinds = set(map(type, value))
    if not kinds <= {float, int}:
        for v in value:
            if v is not None and (isinstance(v, bool) or not isinstance(v, numbers.Real)):
                raise InvalidInputError(f"{what} must hold numbers; found {v!r}")
        value = [math.nan if v is None else v for v in value]
    arr = np.array(value, dtype=np.float64)
    return arr.astype(np.float32), bool(arr.size and np.isfinite(arr).all())


#: The FIM layer layouts of the upstream tables' models (``layer``, ``weights``), as data: written by
#: ``docs/scripts/upstream_layouts.py`` from ``data_builders.models`` and checked against them by the tests, so this
#: layer never imports the model code.
LAYOUTS_FILE = Path(__file__).with_name("data") / "upstream_layouts.json"


def model_layout(model: str) -> list[dict[str, Any]]:
    """Per-layer weight counts of upstream model ``model`` (the layers that enter the FIM, in module order).

    With the act-bench layout these give the paper's dimensionalities: 13,692 (All-CNN-C), 16,500 (ResNet-56),
    11,013 (MobileViTv2-0.5).

    Examples
    --------
    >>> sum(e["weights"] // 100 for e in model_layout("all-cnn-c"))
    13692
    """
    layouts = json.loads(LAYOUTS_FILE.read_text(encoding="utf-8"))
    if model not in layouts:
        raise InvalidInputError(f"no recorded FIM layout for model {model!r}; known: {', '.join(layouts)}; pass the "
                                f"layout explicitly (--layout FILE.json: a list of {{\"layer\", \"weights\"}})")
    return normalize_layout(layouts[model], where=f"FIM layout of model {model!r}")


def _check_equivalents(functions: list[str], equivalents: list[list[str]], outputs: np.ndarray, path: Path,
                       accept: bool) -> list[dict[str, str]]:
    """Members whose outputs differ from their record's (-0 == 0, NaN == NaN): an error, or (``accept``) removed
    from ``equivalents`` in place and returned as ``[{"function", "listed"}]`` with a warning."""
    from act_bench.space import evaluate_many, output_keys  # loads torch: on first use only

    pairs = [(i, m) for i, members in enumerate(equivalents) for m in members[1:]]
    if not pairs:
        return []
    keys = output_keys(evaluate_many([m for _, m in pairs]))
    own = output_keys(outputs)[np.fromiter((i for i, _ in pairs), dtype=np.int64, count=len(pairs))]
    bad = np.flatnonzero(keys != own)
    if not bad.size:
        return []
    first, m = pairs[int(bad[0])]
    if not accept:
        raise InvalidInputError(f"{str(path)!r}: record {first} ({functions[first]!r}) lists {m!r} among its equivalent "
                                f"functions, but their outputs on the standard inputs differ ({bad.size} such "
                                f"member(s) in the file); pass accept_inequivalent=True (--accept-inequivalent) to "
                                f"import without them")
    dropped = [{"function": functions[pairs[int(k)][0]], "listed": pairs[int(k)][1]} for k in bad]
    drop = {(pairs[int(k)][0], pairs[int(k)][1]) for k in bad}
    for i, members in enumerate(equivalents):
        if any((i, m) in drop for m in members):
            equivalents[i] = [m for m in members if (i, m) not in drop]
    warnings.warn(f"{str(path)!r}: {len(dropped)} listed equivalent function(s) have outputs that differ from their "
                  f"record's and were left out (metadata 'inequivalent_equivalents'); first: {m!r} under record "
                  f"{first} ({functions[first]!r})", UserWarning, stacklevel=3)
    return dropped


def _name_from_stem(stem: str) -> str:
    """A safe table name from a file name: characters outside ``[A-Za-z0-9_.-]`` become ``-``, no ``..``."""
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", stem)
    name = re.sub(r"\.{2,}", ".", name).lstrip("._-")[:96]
    return name or "upstream-table"


def import_upstream(path: str | os.PathLike[str], *, model: str | None = None,
                    layout: Sequence[Any] | None = None, cdf_layout: str = "auto", name: str | None = None,
                    n_runs: int | None = None, license: str = "other", accept_inequivalent: bool = False,
                    chunk_size: int = 8 << 20) -> BenchmarkTable:
    """Read an upstream Act-Bench JSON file into a table (``runs`` empty, outputs computed, source recorded).

    Parameters
    ----------
    path : str or path
        The JSON file: ``{function: {"Train Accuracy", "Validation Accuracy", "Test Accuracy", "Train Loss",
        "Validation Loss", "Test Loss", "Runtime (s)", "Equivalent Activation Functions",
        "Fisher log eigenvalue CDF", ...}}`` (values are medians over seeds). Other keys are ignored.
    model : {"all-cnn-c", "resnet-56", "mobilevitv2-0.5"}, optional
        Sets task, ``n_runs`` and (unless ``layout`` is given) the FIM layout via ``act_bench.features``.
    layout : list, optional
        Per-layer weight counts (``[{"layer": name, "weights": w}, ...]``, module order) used to check the CDF
        lengths and to record ``fim_layout``.
    cdf_layout : {"auto", "act-bench", "upstream"}
        ``act-bench``: floor(w/100) values per layer; ``upstream``: floor(w/100) - 1 (what the reference code wrote).
        ``auto`` detects it from the vector length (needs a layout).
    name : str, optional
        Table name (default: the file name without extension).
    n_runs : int, optional
        Runs per median (default: 3 for all-cnn-c and resnet-56, 1 for mobilevitv2-0.5, else 0 = unknown).
    license : str
        License recorded in the dataset card.
    accept_inequivalent : bool, default False
        Each record's ``Equivalent Activation Functions`` must have the record's outputs on the standard inputs
        (float32, NaN == NaN, -0 == 0); a member that does not is an error, unless this is set: then such members
        are left out of ``equivalents``, listed in ``metadata["inequivalent_equivalents"]`` and counted in a
        ``UserWarning``.

    Returns
    -------
    BenchmarkTable

    Notes
    -----
    A CDF that is ``null``, empty or has non-finite values (the reference code divides by the last value, giving NaN
    for invalid spectra) gives ``fim_valid=False``. A record whose train or validation loss is not finite gets
    status ``"diverged"``; accuracies must be finite numbers in [0, 1].
    """
    from act_bench.space import evaluate_many  # loads torch: on first use only

    started = time.perf_counter()
    cdf_layout = check_choice(cdf_layout, "cdf_layout", "import_upstream", ("auto", "act-bench", "upstream"))
    if model is not None:
        check_choice(model, "model", "import_upstream", tuple(UPSTREAM_MODELS))
    info = UPSTREAM_MODELS.get(model) if model else None
    layers = normalize_layout(layout) if layout is not None else (model_layout(model) if model else None)
    expected: dict[CdfLayout, int] = {}
    if layers is not None:
        expected = {c: sum(c.bins(e["weights"]) for e in layers) for c in CdfLayout}
    fixed = None if cdf_layout == "auto" else CdfLayout(cdf_layout)
    if fixed is None and layers is None:
        raise InvalidInputError("cannot tell the CDF layout without a model layout: pass --model, --layout "
                                "FILE.json, or --cdf-layout act-bench|upstream")
    path = Path(path)
    name = check_name(name, "name", "import_upstream") if name is not None else _name_from_stem(path.stem)
    # the paper's columns (the all-run estimates and twin groups are derived by the table)
    columns = [c for c in FUNCTIONS_COLUMNS if c != "outputs" and c not in OPTIONAL_COLUMNS["functions"]]
    rows: dict[str, list[Any]] = {c: [] for c in columns}
    owner: dict[str, tuple[int, str]] = {}
    detected: CdfLayout | None = fixed
    length_seen: tuple[int, int, str] | None = None  # (length, record, key) of the first vector
    for index, key, value in iter_json_object(path, chunk_size=chunk_size):
        rec = f"{str(path)!r} record {index} ({key!r})"
        try:
            func = str(parse(key))
        except InvalidInputError as exc:
            raise InvalidInputError(f"{rec}: {exc}") from None
        if not isinstance(value, dict):
            raise InvalidInputError(f"{rec}: value must be an object with keys {', '.join(UPSTREAM_KEYS)}; got "
                                    f"{type(value).__name__}")
        missing = [k for k in UPSTREAM_KEYS if k not in value]
        if missing:
            raise InvalidInputError(f"{rec}: missing key(s) {', '.join(map(repr, missing))}")
        for k, col in UPSTREAM_KEYS.items():
            if col in ("equivalents", "fim_cdf"):
                continue
            x = _number(value[k], f"{rec} key {k!r}")
            if col.endswith("accuracy") and not (math.isfinite(x) and 0.0 <= x <= 1.0):
                raise InvalidInputError(f"{rec} key {k!r}: accuracy must be a finite number in [0, 1]; got {x}")
            if col == "runtime" and not (math.isfinite(x) and x >= 0):
                raise InvalidInputError(f"{rec} key {k!r}: runtime must be a finite number >= 0; got {x}")
            if col.endswith("loss") and math.isinf(x):
                x = math.nan  # an infinite loss is a diverged run: stored as missing (the status says diverged)
            rows[col].append(x)
        eqs = value[_EQ_KEY]
        if not isinstance(eqs, list) or not all(isinstance(e, str) for e in eqs):
            raise InvalidInputError(f"{rec} key {_EQ_KEY!r} must be a list of strings; got {eqs!r}")
        members = [func]
        for e in eqs:
            try:
                members.append(str(parse(e)))
            except InvalidInputError as exc:
                raise InvalidInputError(f"{rec} key {_EQ_KEY!r} entry {e!r}: {exc}") from None
        members = list(dict.fromkeys(members))
        for m in members:
            prev = owner.setdefault(m, (index, key))
            if prev[0] != index:
                raise InvalidInputError(f"{rec}: {m!r} is also listed under record {prev[0]} ({prev[1]!r}); each "
                                        f"function may belong to one record only")
        vec, finite = _cdf(value[_CDF_KEY], f"{rec} key {_CDF_KEY!r}")
        if vec.size:
            n = int(vec.size)
            if expected:
                if detected is None:
                    detected = next((c for c, v in expected.items() if v == n), None)
                if detected is None or expected[detected] != n:
                    wanted = " or ".join(f"{v} ({c.value} layout)" for c, v in expected.items()
                                         if detected is None or c is detected)
                    raise InvalidInputError(f"{rec} key {_CDF_KEY!r}: wrong vector length {n}; expected {wanted} "
                                            f"for the given model layout")
            elif length_seen is not None and length_seen[0] != n:
                raise InvalidInputError(f"{rec} key {_CDF_KEY!r}: wrong vector length {n}; record {length_seen[1]} "
                                        f"({length_seen[2]!r}) has {length_seen[0]}")
            if length_seen is None:
                length_seen = (n, index, key)
        rows["function"].append(func)
        rows["equivalents"].append(members)
        losses_finite = math.isfinite(rows["train_loss"][-1]) and math.isfinite(rows["val_loss"][-1])
        rows["status"].append(RunStatus.OK.value if losses_finite else RunStatus.DIVERGED.value)
        rows["fim_valid"].append(finite)
        rows["fim_reason"].append(None if finite else (
            "no FIM features in the upstream data" if vec.size == 0
            else "non-finite values in the upstream FIM CDF (invalid spectrum)"))
        rows["fim_cdf"].append(vec)  # kept as written, NaN included (fim_valid tells)
    if not rows["function"]:
        raise InvalidInputError(f"{str(path)!r} holds no records (an empty JSON object)")
    if info is not None and n_runs is None:
        n_runs = info.n_runs
    rows["n_runs"] = [int(n_runs or 0)] * len(rows["function"])
    detected = detected or CdfLayout.ACT_BENCH
    outputs = evaluate_many(rows["function"])
    dropped = _check_equivalents(rows["function"], rows["equivalents"], outputs, path, accept_inequivalent)
    functions = pd.DataFrame({c: pd.Series(rows[c], dtype=object) if c in ("equivalents", "fim_cdf", "fim_reason") else rows[c]
                              for c in rows}, columns=columns)
    functions["outputs"] = pd.Series(list(outputs), dtype=object)
    metadata = default_metadata(
        name=name,
        task=info.task if info else None,
        model=model,
        recipe={"dataset": info.dataset, "reference": "Bingham & Miikkulainen (NeurIPS 2023), Table 4"} if info
        else {},
        fim_layout=layout_entries(layers, detected) if layers is not None else [],
        fim_cdf_layout=detected.value,
        source=f"upstream import of {path.name}",
        license=license,
        build={"wall_time_s": None},
        **({"inequivalent_equivalents": dropped} if dropped else {}),
    )
    try:
        # the reference deduplicated by comparing printed outputs, so a file may hold records that are one function
        # for us (e.g. differing only in the sign of zero outputs): keep them all, listed in the metadata
        table = BenchmarkTable(functions, None, metadata, allow_duplicate_outputs=True)
    except InvalidInputError as exc:  # e.g. two records with identical outputs
        raise InvalidInputError(f"{str(path)!r}: {exc}") from None
    table.metadata["build"]["wall_time_s"] = round(time.perf_counter() - started, 3)
    return table
