"""The benchmark-table schema: column names, ``datasets.Features``, Arrow schemas, run statuses, validation."""

from __future__ import annotations

from enum import Enum

import pyarrow as pa

from act_bench.errors import SchemaMismatchError

__all__ = [
    "CONFIGS",
    "CURVE_COLUMNS",
    "ESTIMATE_COLUMNS",
    "ESTIMATE_FLOATS",
    "FILES",
    "FUNCTIONS_COLUMNS",
    "METRICS",
    "N_OUTPUTS",
    "OPTIONAL_COLUMNS",
    "RUNS_COLUMNS",
    "SCHEMA_VERSION",
    "CdfLayout",
    "RunStatus",
    "arrow_schema",
    "check_arrow_schema",
    "functions_features",
    "runs_features",
]

#: Version of the on-disk layout (metadata.json ``schema_version``); bumped on incompatible changes.
SCHEMA_VERSION = 1

#: Number of standard inputs (length of ``outputs``).
N_OUTPUTS = 1000

#: The six per-run metrics, in column order.
METRICS = ("train_accuracy", "val_accuracy", "test_accuracy", "train_loss", "val_loss", "test_loss")

#: All-run estimates of a function (beside the paper's columns, which use the paper's seeds only): status counts
#: over every run, then the mean, median and standard error of the mean of the validation and test accuracy over
#: every run that did not fail (diverged runs count at their chance-level accuracy). See ``BenchmarkTable.from_runs``.
ESTIMATE_COLUMNS = ("n_ok", "n_diverged", "n_failed", "val_accuracy_mean", "val_accuracy_median", "val_accuracy_se",
                    "test_accuracy_mean", "test_accuracy_median", "test_accuracy_se")

#: Float columns among :data:`ESTIMATE_COLUMNS` (the others are int32 counts).
ESTIMATE_FLOATS = ESTIMATE_COLUMNS[3:]

#: Column order of the ``functions`` config. ``twin_group`` is the row index of the first member of the function's
#: twin group (rows that are the same mathematical function up to float32 rounding, ``act_bench.space.twin_groups``).
FUNCTIONS_COLUMNS = ("function", "equivalents", *METRICS, "runtime", "status", "n_runs", *ESTIMATE_COLUMNS,
                     "twin_group", "fim_valid", "fim_reason", "fim_cdf", "outputs")

#: Per-epoch learning curves of a run (float64 lists, one value per finished epoch): validation accuracy and
#: loss after each epoch, mean training loss over the epoch's steps, training seconds since the run's start.
CURVE_COLUMNS = ("curve_val_accuracy", "curve_val_loss", "curve_train_loss", "curve_seconds")

#: Column order of the ``runs`` config.
#: ``eval_loss_nonfinite``: the run completed training but a final evaluation loss was not finite (stored as NaN).
RUNS_COLUMNS = ("function", "seed", *METRICS, "runtime", "status", "error", *CURVE_COLUMNS, "eval_loss_nonfinite")

#: Columns a stored table may lack (tables written before they existed, upstream imports): curves read as empty
#: lists, ``eval_loss_nonfinite`` as false, the all-run estimates and twin groups are derived on read.
OPTIONAL_COLUMNS = {"functions": (*ESTIMATE_COLUMNS, "twin_group"), "runs": (*CURVE_COLUMNS, "eval_loss_nonfinite")}

#: The two configs of a table.
CONFIGS = ("functions", "runs")

#: Files of a table directory (also the Hugging Face dataset folder).
FILES = {"functions": "functions.parquet", "runs": "runs.parquet", "metadata": "metadata.json",
         "card": "README.md"}


class RunStatus(str, Enum):
    """Outcome of a training run (and, aggregated, of a function).

    ``ok``: training completed (its accuracies are real, even where an evaluation loss was not finite).
    ``diverged``: training stopped on a non-finite training loss; the run keeps its chance-level metrics.
    ``failed``: no metrics (an exception; see the run's ``error``).
    """

    OK = "ok"
    DIVERGED = "diverged"
    FAILED = "failed"


class CdfLayout(str, Enum):
    """How many CDF values a layer with ``w`` weights contributes to ``fim_cdf``.

    ``act-bench``: ``floor(w / 100)`` (the paper's description). ``upstream``: ``max(floor(w / 100) - 1, 0)``, what
    the reference code wrote into the published Act-Bench JSON files (``numpy.histogram`` over
    ``linspace(-100, 100, floor(w / 100))`` edges).
    """

    ACT_BENCH = "act-bench"
    UPSTREAM = "upstream"

    def bins(self, weights: int) -> int:
        """Values a layer with ``weights`` weights contributes in this layout."""
        base = int(weights) // 100
        return base if self is CdfLayout.ACT_BENCH else max(base - 1, 0)


def functions_features():
    """The ``datasets.Features`` of the ``functions`` config."""
    from datasets import Features, List, Value

    f64 = Value("float64")
    return Features({
        "function": Value("string"),
        "equivalents": List(Value("string")),
        **{m: f64 for m in METRICS},
        "runtime": f64,
        "status": Value("string"),
        "n_runs": Value("int32"),
        **{c: Value("int32") for c in ESTIMATE_COLUMNS[:3]},
        **{c: f64 for c in ESTIMATE_FLOATS},
        "twin_group": Value("int32"),
        "fim_valid": Value("bool"),
        "fim_reason": Value("string"),
        "fim_cdf": List(Value("float32")),
        "outputs": List(Value("float32"), length=N_OUTPUTS),
    })


def runs_features():
    """The ``datasets.Features`` of the ``runs`` config (the curves are ``List(float64)``, i.e. ``Sequence``)."""
    from datasets import Features, List, Value

    f64 = Value("float64")
    return Features({
        "function": Value("string"),
        "seed": Value("int64"),
        **{m: f64 for m in METRICS},
        "runtime": f64,
        "status": Value("string"),
        "error": Value("string"),
        **{c: List(f64) for c in CURVE_COLUMNS},
        "eval_loss_nonfinite": Value("bool"),
    })


# Plain Arrow schemas (no `datasets` import needed for reading); must match the Features above.
_F64 = pa.float64()
_ARROW = {
    "functions": pa.schema([
        ("function", pa.string()), ("equivalents", pa.list_(pa.string())),
        *[(m, _F64) for m in METRICS], ("runtime", _F64), ("status", pa.string()), ("n_runs", pa.int32()),
        *[(c, pa.int32()) for c in ESTIMATE_COLUMNS[:3]], *[(c, _F64) for c in ESTIMATE_FLOATS],
        ("twin_group", pa.int32()), ("fim_valid", pa.bool_()), ("fim_reason", pa.string()), ("fim_cdf", pa.list_(pa.float32())),
        ("outputs", pa.list_(pa.float32(), N_OUTPUTS)),
    ]),
    "runs": pa.schema([
        ("function", pa.string()), ("seed", pa.int64()), *[(m, _F64) for m in METRICS], ("runtime", _F64),
        ("status", pa.string()), ("error", pa.string()), *[(c, pa.list_(_F64)) for c in CURVE_COLUMNS],
        ("eval_loss_nonfinite", pa.bool_()),
    ]),
}


def arrow_schema(config: str) -> pa.Schema:
    """Arrow schema of ``config`` (``"functions"`` or ``"runs"``), without metadata."""
    return _ARROW[config]


def _same_type(a: pa.DataType, b: pa.DataType) -> bool:
    # Field names of list items ("item" vs "element") differ between writers; compare structure only.
    if pa.types.is_list(a) or pa.types.is_large_list(a) or pa.types.is_fixed_size_list(a):
        if type(a) is not type(b):
            return False
        if pa.types.is_fixed_size_list(a) and a.list_size != b.list_size:
            return False
        return _same_type(a.value_type, b.value_type)
    if pa.types.is_large_string(a) or pa.types.is_string(a):
        return pa.types.is_string(b) or pa.types.is_large_string(b)
    return a.equals(b)


def check_arrow_schema(schema: pa.Schema, config: str, where: str) -> None:
    """Raise :class:`SchemaMismatchError` naming the first column of ``schema`` that differs from ``config``'s.

    Columns of :data:`OPTIONAL_COLUMNS` may be absent (older tables); present, they must have the right type.
    """
    expected = _ARROW[config]
    got_names = list(schema.names)
    for field in expected:
        if field.name not in got_names and field.name in OPTIONAL_COLUMNS[config]:
            continue
        if field.name not in got_names:
            raise SchemaMismatchError(f"{where}: column {field.name!r} is missing; a {config!r} table has columns "
                                      f"{', '.join(expected.names)}")
        got = schema.field(field.name).type
        if not _same_type(got, field.type):
            raise SchemaMismatchError(f"{where}: column {field.name!r} has type {got}; expected {field.type}")
    extra = [n for n in got_names if n not in expected.names]
    if extra:
        raise SchemaMismatchError(f"{where}: unexpected column(s) {', '.join(map(repr, extra))}; a {config!r} "
                                  f"table has columns {', '.join(expected.names)}")
