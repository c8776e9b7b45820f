"""``BenchmarkTable``: the two configs (``functions``, ``runs``) plus metadata, in memory and on disk."""

from __future__ import annotations

import json
import math
import numbers
import os
import re
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from act_bench._io import make_temp_dir, remove_stale_temps
from act_bench._validation import check_name
from act_bench.errors import InvalidInputError, SchemaMismatchError
from act_bench.tables._meta import check_metadata, default_metadata
from act_bench.tables._schema import (
    CONFIGS,
    CURVE_COLUMNS,
    FUNCTIONS_COLUMNS,
    METRICS,
    N_OUTPUTS,
    RUNS_COLUMNS,
    RunStatus,
    arrow_schema,
    check_arrow_schema,
    functions_features,
    runs_features,
)
from act_bench.tables._validate import validate_names, validate_table

__all__ = ["FILES", "BenchmarkTable", "FunctionNotInTableError"]

#: Files of a table directory (also the Hugging Face dataset folder).
FILES = {"functions": "functions.parquet", "runs": "runs.parquet", "metadata": "metadata.json",
         "card": "README.md"}
_STATUSES = tuple(s.value for s in RunStatus)
_FIGURE_NAME = re.compile(r"[\w.-]+\.(?:png|jpg|jpeg|svg|gif)")  # a plain file name next to the card
_FLOAT_COLUMNS = (*METRICS, "runtime")


class FunctionNotInTableError(InvalidInputError, KeyError):
    """The queried function (and no equivalent of it) is in the table."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


# --- small helpers ------------------------------------------------------------------------------------------------

def _canonical(name: Any, where: str) -> str:
    from act_bench.space import parse

    if not isinstance(name, str):
        raise InvalidInputError(f"{where}: a function must be a string; got {name!r}")
    try:
        return str(parse(name))
    except InvalidInputError as exc:
        raise InvalidInputError(f"{where}: {exc}") from None


def _is_null(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _float(value: Any, where: str) -> float:
    if _is_null(value):
        return math.nan
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InvalidInputError(f"{where} must be a number; got {value!r}")
    return float(value)


def _vector(value: Any, where: str, length: int | None = None) -> np.ndarray:
    if value is None:
        return np.zeros(0, dtype=np.float32)
    try:
        arr = np.asarray(value, dtype=np.float32)
    except (TypeError, ValueError):
        raise InvalidInputError(f"{where} must be a list of numbers") from None
    if arr.ndim != 1:
        raise InvalidInputError(f"{where} must be one-dimensional; got shape {arr.shape}")
    if length is not None and arr.shape[0] != length:
        raise InvalidInputError(f"{where} must have {length} values; got {arr.shape[0]}")
    return arr


def _curve(value: Any, where: str) -> list[float]:
    """A learning curve as a list of floats (None/NaN: no curve, an empty list)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return []
    if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
        raise InvalidInputError(f"{where} must be a list of numbers; got {value!r}")
    return [_float(v, where) for v in value]


def _nanmedian(values: np.ndarray) -> float:
    values = values[~np.isnan(values)]
    return float(np.median(values)) if values.size else math.nan


def _readonly(arr: np.ndarray) -> np.ndarray:
    arr.setflags(write=False)
    return arr


def _string_column(values: list[Any]) -> pd.Series:
    # object dtype keeps None for nulls (pandas >= 3 would otherwise infer a string dtype with NaN)
    return pd.Series(values, dtype=object)


def _strings(values: Any) -> list[Any]:
    return [None if _is_null(v) else v for v in values]


def _list_column(rows: list[np.ndarray]) -> np.ndarray:
    out = np.empty(len(rows), dtype=object)
    for i, row in enumerate(rows):
        out[i] = row
    return out


# --- the table -------------------------------------------------------------------------------------------------------

class BenchmarkTable:
    """A benchmark table: one row per unique activation function plus one row per training run.

    Parameters
    ----------
    functions : pandas.DataFrame
        The ``functions`` config, columns ``function, equivalents, train_accuracy, val_accuracy, test_accuracy,
        train_loss, val_loss, test_loss, runtime, status, n_runs, fim_valid, fim_reason, fim_cdf, outputs`` (see
        ``docs/tables.md``). Function strings are canonicalised; ``equivalents`` gets the representative first.
    runs : pandas.DataFrame, optional
        The ``runs`` config, columns ``function, seed, <six metrics>, runtime, status, error`` and optionally the
        learning curves ``curve_val_accuracy, curve_val_loss, curve_train_loss, curve_seconds`` (lists of
        numbers; missing or null: empty); empty if omitted.
    metadata : dict, optional
        Merged over :func:`default_metadata` (task, model, recipe, FIM layout, versions, build, source, ...).
    allow_duplicate_outputs : bool, default False
        Rows whose outputs are identical (NaN == NaN, -0 == 0) are an error unless this is set (upstream imports:
        the reference deduplicated differently); then their groups are listed in ``metadata["duplicate_outputs"]``.

    Most code builds tables with :meth:`from_runs` (medians computed from the runs) or reads them with
    :func:`act_bench.tables.load_table`. Treat the DataFrames as read-only: the feature matrices are cached.

    Examples
    --------
    >>> import pandas as pd
    >>> runs = pd.DataFrame({"function": ["relu(x)"] * 3, "seed": [0, 1, 2], "train_accuracy": [.9, .8, .85],
    ...     "val_accuracy": [.7, .75, .72], "test_accuracy": [.7, .7, .7], "train_loss": [.3, .4, .35],
    ...     "val_loss": [.9, .8, .85], "test_loss": [.9, .9, .9], "runtime": [10., 12., 11.],
    ...     "status": ["ok"] * 3})
    >>> table = BenchmarkTable.from_runs(runs, metadata={"name": "demo"})
    >>> float(table.query("max(x,zero(x))")["val_accuracy"])
    0.72
    """

    def __init__(self, functions: pd.DataFrame, runs: pd.DataFrame | None = None,
                 metadata: Mapping[str, Any] | None = None, *, allow_duplicate_outputs: bool = False) -> None:
        meta = default_metadata(**dict(metadata or {}))
        check_name(meta["name"], "metadata['name']", "BenchmarkTable")
        funcs, fim, outputs, duplicates = _normalize_functions(functions, allow_duplicate_outputs)
        if duplicates:
            meta["duplicate_outputs"] = duplicates
        runs_df = _normalize_runs(runs, set(funcs["function"]))
        _check_layout(meta, fim.shape[1])
        self._set(funcs, runs_df, meta, fim, outputs)
        validate_table(self, where="table")

    # construction without re-validation (used by the reader, which checked the Arrow schema)
    @classmethod
    def _from_parts(cls, functions: pd.DataFrame, runs: pd.DataFrame, metadata: dict[str, Any], fim: np.ndarray,
                    outputs: np.ndarray) -> BenchmarkTable:
        self = cls.__new__(cls)
        self._set(functions, runs, metadata, fim, outputs)
        return self

    def _set(self, functions, runs, metadata, fim, outputs) -> None:
        self._functions = functions
        self._runs = runs
        self._metadata = metadata
        self._fim = _readonly(fim)
        self._outputs = _readonly(outputs)
        self._name_index: dict[str, int] | None = None
        self._names_checked = False
        self._keys: tuple[np.ndarray, np.ndarray] | None = None
        self._source: Path | None = None  # folder it was read from: where the card's figures are

    # --- constructors -------------------------------------------------------------------------------------------

    @classmethod
    def from_runs(cls, runs: pd.DataFrame, *, features: pd.DataFrame | Mapping[str, Mapping[str, Any]] | None = None,
                  metadata: Mapping[str, Any] | None = None) -> BenchmarkTable:
        """Build a table whose ``functions`` rows are medians over ``runs``.

        Parameters
        ----------
        runs : pandas.DataFrame
            One row per (function, seed): ``function, seed, train_accuracy, val_accuracy, test_accuracy,
            train_loss, val_loss, test_loss, runtime, status`` and optionally ``error``. ``status`` is ``"ok"``,
            ``"diverged"`` (metrics kept, e.g. chance level) or ``"failed"`` (metrics NaN, ``error`` says why);
            optionally the per-epoch learning curves (``CURVE_COLUMNS``, lists of numbers).
        features : pandas.DataFrame or dict, optional
            Per function (column/key ``function``, any spelling): optional ``equivalents`` (list of str),
            ``fim_cdf`` (vector; all vectors of one length), ``fim_valid`` (bool; default: vector present and
            finite), ``fim_reason`` (str), ``outputs`` (1000 values; computed with ``evaluate_many`` if absent).
            Functions without features get ``fim_valid=False`` and ``fim_reason="no FIM features"``.
        metadata : dict, optional
            Table metadata (``name``, ``task``, ``model``, ``recipe``, ``fim_layout``, ``build``...).

        Returns
        -------
        BenchmarkTable

        Notes
        -----
        The six metrics of a function are the median over its non-failed runs (NaN values skipped, as
        ``pandas.DataFrame.median`` does); ``runtime`` is the median over all its runs; ``n_runs`` counts all its
        runs. ``status`` is ``"failed"`` if every run failed, ``"diverged"`` if at least as many runs diverged as
        trained normally (the median then lies on diverged, chance-level metrics), else ``"ok"``.
        """
        runs_df = _normalize_runs(runs, None)
        names = list(dict.fromkeys(runs_df["function"]))
        feats = _normalize_features(features, set(names))
        groups = runs_df.groupby("function", sort=False).indices
        rows: dict[str, list[Any]] = {c: [] for c in FUNCTIONS_COLUMNS}
        status_arr = runs_df["status"].to_numpy()
        values = {c: runs_df[c].to_numpy(dtype=np.float64) for c in _FLOAT_COLUMNS}
        for name in names:
            idx = groups[name]
            status = status_arr[idx]
            alive = idx[status != RunStatus.FAILED.value]
            n_ok = int((status == RunStatus.OK.value).sum())
            n_div = int((status == RunStatus.DIVERGED.value).sum())
            rows["function"].append(name)
            feat = feats.get(name, {})
            rows["equivalents"].append(feat.get("equivalents") or [name])
            for m in METRICS:
                rows[m].append(_nanmedian(values[m][alive]))
            rows["runtime"].append(_nanmedian(values["runtime"][idx]))
            rows["status"].append(RunStatus.FAILED.value if alive.size == 0
                                  else RunStatus.DIVERGED.value if n_div and n_div >= n_ok else RunStatus.OK.value)
            rows["n_runs"].append(len(idx))
            cdf = feat.get("fim_cdf")
            cdf = _vector(cdf, f"features[{name!r}].fim_cdf")
            valid = feat.get("fim_valid")
            if valid is None:
                valid = bool(cdf.size and np.isfinite(cdf).all())
            reason = feat.get("fim_reason")
            if not valid and reason is None:
                reason = "no FIM features" if cdf.size == 0 else "FIM CDF has non-finite values"
            rows["fim_valid"].append(bool(valid))
            rows["fim_reason"].append(None if valid else reason)
            rows["fim_cdf"].append(cdf)
            rows["outputs"].append(feat.get("outputs"))
        missing = [i for i, o in enumerate(rows["outputs"]) if o is None]
        if missing:
            from act_bench.space import evaluate_many

            computed = evaluate_many([names[i] for i in missing])
            for j, i in enumerate(missing):
                rows["outputs"][i] = computed[j]
        functions = pd.DataFrame({c: _list_column(rows[c]) if c in ("equivalents", "fim_cdf", "outputs")
                                  else rows[c] for c in FUNCTIONS_COLUMNS})
        return cls(functions, runs_df, metadata)

    # --- accessors ----------------------------------------------------------------------------------------------

    @property
    def functions(self) -> pd.DataFrame:
        """The ``functions`` config (one row per unique function; ``fim_cdf``/``outputs`` hold float32 arrays)."""
        return self._functions

    @property
    def runs(self) -> pd.DataFrame:
        """The ``runs`` config (one row per function and seed; empty for imported upstream tables)."""
        return self._runs

    @property
    def metadata(self) -> dict[str, Any]:
        """Table metadata (task, model, recipe, standard inputs, FIM layout, versions, build, source, ...)."""
        return self._metadata

    @property
    def name(self) -> str:
        """The table's name (``metadata["name"]``)."""
        return str(self._metadata.get("name"))

    def __len__(self) -> int:
        return len(self._functions)

    def __repr__(self) -> str:
        return (f"BenchmarkTable(name={self.name!r}, functions={len(self)}, runs={len(self._runs)}, "
                f"fim_dims={self._fim.shape[1]}, source={self._metadata.get('source')!r})")

    def to_pandas(self, config: str = "functions") -> pd.DataFrame:
        """The DataFrame of ``config`` (``"functions"`` or ``"runs"``)."""
        from act_bench._validation import check_choice

        check_choice(config, "config", "BenchmarkTable.to_pandas", CONFIGS)
        return self._functions if config == "functions" else self._runs

    def fim_matrix(self) -> np.ndarray:
        """FIM CDF features as a read-only float32 matrix (functions x dims); rows without features are NaN."""
        return self._fim

    def outputs_matrix(self) -> np.ndarray:
        """Function outputs on the standard inputs, read-only float32 matrix (functions x 1000)."""
        return self._outputs

    # --- query --------------------------------------------------------------------------------------------------

    def index_of(self, expr: Any) -> int | None:
        """Row index of ``expr`` (any equivalent spelling), or ``None`` if no row computes the same function.

        The string is parsed and canonicalised, looked up among all rows' ``equivalents``, and otherwise its
        outputs on the standard inputs are compared with the rows' outputs: bitwise (NaN == NaN) first, then with
        -0 == 0 (the project's equivalence); the first matching row wins.
        """
        from act_bench.space import as_expr, function_outputs, output_keys

        self._check_names()
        name = str(as_expr(expr))
        if self._name_index is None:
            index: dict[str, int] = {}
            for i, members in enumerate(self._functions["equivalents"]):
                for member in members:
                    index.setdefault(member, i)
            self._name_index = index
        hit = self._name_index.get(name)
        if hit is not None:
            return hit
        if self._keys is None:
            self._keys = (output_keys(self._outputs, signed_zero=True), output_keys(self._outputs))
        y = function_outputs(name)[None, :]
        for keys, signed in zip(self._keys, (True, False)):  # an exact (signed-zero) match first
            where = np.nonzero(keys == output_keys(y, signed_zero=signed)[0])[0]
            if where.size:
                return int(where[0])
        return None

    def query(self, expr: Any) -> pd.Series:
        """The ``functions`` row of ``expr``, accepting any equivalent spelling.

        Raises :class:`FunctionNotInTableError` (an ``InvalidInputError`` and ``KeyError``) if no row matches.

        Examples
        --------
        >>> table = load_table("tests/data/tiny-table")  # doctest: +SKIP
        >>> table.query("max(zero(x),x)")["function"]     # doctest: +SKIP
        'relu(x)'
        """
        i = self.index_of(expr)
        if i is None:
            from act_bench.space import as_expr

            raise FunctionNotInTableError(
                f"function {str(as_expr(expr))!r} is not in table {self.name!r}: no row lists it among its "
                f"equivalents and no row has the same outputs on the standard inputs ({len(self)} functions)")
        return self._functions.iloc[i]

    # --- summaries ----------------------------------------------------------------------------------------------

    def info(self) -> dict[str, Any]:
        """Summary: ``{"name", "rows", "runs", "seeds", "best": {"function", "val_accuracy"}, "fim_dims", "source",
        "runs_with_curves", "code"}``.

        ``seeds`` is the number of distinct seeds in ``runs``; ``best`` is the ``status == "ok"`` row with the highest
        median validation accuracy (``None`` if there is none); ``runs_with_curves`` counts runs with a learning
        curve; ``code`` is the code version that built the table (``version``, ``digest``, ``parts`` and the number
        of accepted code changes, ``overrides``) or ``None`` where the metadata does not record it.
        """
        f = self._functions
        ok = f[(f["status"] == RunStatus.OK.value) & f["val_accuracy"].notna()]
        best = None
        if len(ok):
            row = ok.loc[ok["val_accuracy"].idxmax()]
            best = {"function": str(row["function"]), "val_accuracy": float(row["val_accuracy"])}
        code = self._metadata.get("code")
        code_info = None
        if isinstance(code, Mapping):
            code_info = {"version": code.get("version"), "digest": code.get("digest"),
                         "parts": dict(code.get("parts") or {}), "overrides": len(code.get("overrides") or [])}
        curves = sum(1 for v in self._runs[CURVE_COLUMNS[0]] if len(v)) if len(self._runs) else 0
        return {"name": self.name, "rows": len(f), "runs": len(self._runs),
                "seeds": int(self._runs["seed"].nunique()) if len(self._runs) else 0, "best": best,
                "fim_dims": int(self._fim.shape[1]), "source": self._metadata.get("source"),
                "runs_with_curves": curves, "code": code_info}

    # --- Arrow / datasets / disk --------------------------------------------------------------------------------

    def to_arrow(self, config: str = "functions") -> pa.Table:
        """``config`` as a ``pyarrow.Table`` with the explicit schema (``datasets.Features`` in its metadata)."""
        from act_bench._validation import check_choice

        check_choice(config, "config", "BenchmarkTable.to_arrow", CONFIGS)
        if config == "runs":
            return _runs_to_arrow(self._runs)
        return _functions_to_arrow(self._functions, self._fim, self._outputs)

    def to_datasets(self):
        """A ``datasets.DatasetDict`` with one ``Dataset`` per config (``"functions"``, ``"runs"``)."""
        from datasets import Dataset, DatasetDict, DatasetInfo
        from datasets.table import InMemoryTable

        feats = {"functions": functions_features(), "runs": runs_features()}
        return DatasetDict({c: Dataset(InMemoryTable(self.to_arrow(c)),
                                       info=DatasetInfo(features=feats[c], config_name=c)) for c in CONFIGS})

    def save(self, path: str | os.PathLike[str], *, overwrite: bool = False) -> Path:
        """Write the table to directory ``path`` atomically (temporary folder + rename).

        The folder holds ``functions.parquet`` and ``runs.parquet`` (zstd), ``metadata.json`` and a dataset card
        ``README.md``; it is also a Hugging Face dataset folder (``datasets.load_dataset(path, "functions")``).
        ``path`` must not exist or be an empty directory unless ``overwrite``.
        """
        from act_bench.tables._card import dataset_card

        target = Path(path)
        self._check_names()
        if target.exists() and not target.is_dir():
            raise InvalidInputError(f"output path {str(target)!r} exists and is not a directory")
        nonempty = target.is_dir() and any(target.iterdir())
        if nonempty and not overwrite:
            raise InvalidInputError(f"output directory {str(target)!r} is not empty; choose a new path or pass "
                                    f"overwrite=True")
        target.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_temps(target)  # left by a save that was killed (SIGKILL) before it could clean up
        tmp = make_temp_dir(target)
        try:
            for config in CONFIGS:
                _write_parquet(self.to_arrow(config), tmp / FILES[config])
            # figures the card shows (metadata["figures"]) travel with a table read from a folder; one missing
            # there is left out of the card rather than shown as a broken image. (A table built in memory keeps
            # its list: its builder writes the files next to the card, as build_table does.)
            figures = list(self._metadata.get("figures") or [])
            if self._source is not None:
                figures = []
                for fig in self._metadata.get("figures") or []:
                    file = fig.get("file") if isinstance(fig, Mapping) else None
                    if isinstance(file, str) and _FIGURE_NAME.fullmatch(file) and (self._source / file).is_file():
                        shutil.copyfile(self._source / file, tmp / file)
                        os.chmod(tmp / file, 0o644)
                        figures.append(fig)
            view = self
            if figures != list(self._metadata.get("figures") or []):
                meta = {**self._metadata, "figures": figures}
                if not figures:
                    del meta["figures"]
                view = BenchmarkTable._from_parts(self._functions, self._runs, meta, self._fim, self._outputs)
            (tmp / FILES["metadata"]).write_text(
                json.dumps(_jsonable(view._metadata), indent=2, allow_nan=False) + "\n", encoding="utf-8")
            (tmp / FILES["card"]).write_text(dataset_card(view), encoding="utf-8")
            os.chmod(tmp, 0o755)
            if target.is_dir():
                if nonempty:
                    backup = make_temp_dir(target)
                    os.rename(target, backup / "old")
                    os.rename(tmp, target)
                    shutil.rmtree(backup, ignore_errors=True)
                else:
                    os.rmdir(target)
                    os.rename(tmp, target)
            else:
                os.rename(tmp, target)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return target

    @classmethod
    def load(cls, path: str | os.PathLike[str], *, verify: bool = False) -> BenchmarkTable:
        """Read a table directory written by :meth:`save`.

        The Parquet schemas, the metadata and the values are validated (:meth:`validate`); ``verify=True`` adds
        the deep check (outputs and equivalents recomputed).
        """
        table = _read_dir(Path(path))
        if verify:
            validate_table(table, where=repr(str(path)), deep=True)
        return table

    def _check_names(self) -> None:
        """Operator names and arities of every function (needs act_bench.space): once, before a name is used."""
        if not self._names_checked:
            validate_names(self, where=f"table {self.name!r}" if self._source is None else repr(str(self._source)))
            self._names_checked = True

    def validate(self, *, deep: bool = False) -> BenchmarkTable:
        """Check the values of the table; ``deep=True`` also recomputes outputs and equivalence; returns ``self``.

        Raises :class:`~act_bench.errors.SchemaMismatchError` naming the column and the first bad row: accuracies
        outside [0, 1], infinite losses, negative or infinite runtimes, names not in canonical form, runs without
        a function row or disagreeing with ``n_runs``, FIM vectors not matching the layout, zero rows, and (deep)
        outputs or equivalents that do not match their functions. Tables are validated (not deeply) on
        construction and on every load.
        """
        validate_table(self, where=f"table {self.name!r}", deep=deep)
        self._check_names()
        return self


# --- normalisation (validated construction) --------------------------------------------------------------------

def _check_columns(df: Any, expected: tuple[str, ...], optional: tuple[str, ...], what: str) -> None:
    if not isinstance(df, pd.DataFrame):
        raise InvalidInputError(f"{what} must be a pandas DataFrame; got {type(df).__name__}")
    missing = [c for c in expected if c not in df.columns and c not in optional]
    if missing:
        raise InvalidInputError(f"{what} is missing column(s) {', '.join(map(repr, missing))}; expected columns "
                                f"{', '.join(expected)}")
    extra = [c for c in df.columns if c not in expected]
    if extra:
        raise InvalidInputError(f"{what} has unexpected column(s) {', '.join(map(repr, extra))}; expected "
                                f"columns {', '.join(expected)}")


def _normalize_functions(df: pd.DataFrame, allow_duplicate_outputs: bool = False,
                         ) -> tuple[pd.DataFrame, np.ndarray, np.ndarray, list[list[str]]]:
    from act_bench.space import output_keys

    _check_columns(df, FUNCTIONS_COLUMNS, (), "functions")
    n = len(df)
    names, equivalents, seen = [], [], {}
    for i, (name, members) in enumerate(zip(df["function"], df["equivalents"])):
        name = _canonical(name, f"functions row {i} column 'function'")
        if name in seen:
            raise InvalidInputError(f"functions rows {seen[name]} and {i}: function {name!r} appears twice")
        seen[name] = i
        if members is None or isinstance(members, str) or not hasattr(members, "__iter__"):
            raise InvalidInputError(f"functions row {i} ({name!r}) column 'equivalents' must be a list of strings; "
                                    f"got {members!r}")
        canon = [name] + [_canonical(m, f"functions row {i} ({name!r}) column 'equivalents'") for m in members]
        equivalents.append(list(dict.fromkeys(canon)))
        names.append(name)
    owner: dict[str, int] = {}
    for i, members in enumerate(equivalents):
        for m in members:
            if owner.setdefault(m, i) != i:
                raise InvalidInputError(f"functions rows {owner[m]} and {i} both list {m!r} among their equivalents")
    cols: dict[str, Any] = {"function": names, "equivalents": _list_column(equivalents)}
    for c in _FLOAT_COLUMNS:
        cols[c] = np.array([_float(v, f"functions row {i} column {c!r}") for i, v in enumerate(df[c])],
                           dtype=np.float64)
    statuses = []
    for i, s in enumerate(df["status"]):
        s = s.value if isinstance(s, RunStatus) else s
        if s not in _STATUSES:
            raise InvalidInputError(f"functions row {i} column 'status' must be one of {', '.join(_STATUSES)}; "
                                    f"got {s!r}")
        statuses.append(s)
    cols["status"] = statuses
    n_runs = []
    for i, v in enumerate(df["n_runs"]):
        if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 0:
            raise InvalidInputError(f"functions row {i} column 'n_runs' must be an integer >= 0; got {v!r}")
        n_runs.append(int(v))
    cols["n_runs"] = np.array(n_runs, dtype=np.int32)
    valid = []
    for i, v in enumerate(df["fim_valid"]):
        if not isinstance(v, (bool, np.bool_)):
            raise InvalidInputError(f"functions row {i} column 'fim_valid' must be a bool; got {v!r}")
        valid.append(bool(v))
    reasons = []
    for i, (v, r) in enumerate(zip(valid, df["fim_reason"])):
        r = None if _is_null(r) else r
        if r is not None and not isinstance(r, str):
            raise InvalidInputError(f"functions row {i} column 'fim_reason' must be a string or null; got {r!r}")
        if v and r is not None:
            raise InvalidInputError(f"functions row {i} ({names[i]!r}): 'fim_reason' must be null when fim_valid "
                                    f"is true; got {r!r}")
        reasons.append(r)
    cols["fim_valid"] = np.array(valid, dtype=bool)
    cols["fim_reason"] = _string_column(reasons)
    cdfs = [_vector(v, f"functions row {i} ({names[i]!r}) column 'fim_cdf'") for i, v in enumerate(df["fim_cdf"])]
    dims = sorted({c.shape[0] for c in cdfs} - {0})
    if len(dims) > 1:
        first = next(i for i, c in enumerate(cdfs) if c.shape[0] == dims[0])
        other = next(i for i, c in enumerate(cdfs) if c.shape[0] == dims[1])
        raise InvalidInputError(f"column 'fim_cdf': rows must all have the same length (or be empty); row {first} "
                                f"({names[first]!r}) has {dims[0]} values, row {other} ({names[other]!r}) has "
                                f"{dims[1]}")
    d = dims[0] if dims else 0
    fim = np.full((n, d), np.nan, dtype=np.float32)
    for i, c in enumerate(cdfs):
        if c.shape[0]:
            fim[i] = c
        if valid[i] and not (c.shape[0] and np.isfinite(c).all()):
            raise InvalidInputError(f"functions row {i} ({names[i]!r}): fim_valid is true but 'fim_cdf' is empty or "
                                    f"not finite")
    outputs = np.empty((n, N_OUTPUTS), dtype=np.float32)
    for i, v in enumerate(df["outputs"]):
        outputs[i] = _vector(v, f"functions row {i} ({names[i]!r}) column 'outputs'", N_OUTPUTS)
    duplicates: list[list[str]] = []
    if n:
        keys = output_keys(outputs)
        _, inverse, counts = np.unique(keys, return_inverse=True, return_counts=True)
        for cls in np.nonzero(counts > 1)[0]:
            rows = np.nonzero(inverse.reshape(-1) == cls)[0]
            if not allow_duplicate_outputs:
                i, j = rows[:2]
                raise InvalidInputError(f"functions rows {i} ({names[i]!r}) and {j} ({names[j]!r}) have identical "
                                        f"outputs on the standard inputs; a table holds one row per unique function "
                                        f"(list one as an equivalent of the other)")
            duplicates.append([names[i] for i in rows])
    cols["fim_cdf"] = _list_column([fim[i] if cdfs[i].shape[0] else np.zeros(0, np.float32) for i in range(n)])
    cols["outputs"] = _list_column(list(outputs))
    return pd.DataFrame(cols, columns=list(FUNCTIONS_COLUMNS)), fim, outputs, sorted(duplicates)


def _normalize_runs(df: pd.DataFrame | None, known: set[str] | None) -> pd.DataFrame:
    if df is None:
        df = pd.DataFrame({c: [] for c in RUNS_COLUMNS})
    _check_columns(df, RUNS_COLUMNS, ("error", *CURVE_COLUMNS), "runs")
    names = []
    cache: dict[Any, str] = {}
    for i, name in enumerate(df["function"]):
        canon = cache.get(name) if isinstance(name, str) else None
        if canon is None:
            canon = _canonical(name, f"runs row {i} column 'function'")
            cache[name] = canon
        if known is not None and canon not in known:
            raise InvalidInputError(f"runs row {i}: function {canon!r} has no row in the functions config")
        names.append(canon)
    seeds = []
    for i, s in enumerate(df["seed"]):
        if isinstance(s, bool) or not isinstance(s, numbers.Integral):
            raise InvalidInputError(f"runs row {i} column 'seed' must be an integer; got {s!r}")
        seeds.append(int(s))
    cols: dict[str, Any] = {"function": names, "seed": np.array(seeds, dtype=np.int64)}
    for c in _FLOAT_COLUMNS:
        cols[c] = np.array([_float(v, f"runs row {i} column {c!r}") for i, v in enumerate(df[c])], dtype=np.float64)
    statuses = []
    for i, s in enumerate(df["status"]):
        s = s.value if isinstance(s, RunStatus) else s
        if s not in _STATUSES:
            raise InvalidInputError(f"runs row {i} column 'status' must be one of {', '.join(_STATUSES)}; got {s!r}")
        if s == RunStatus.OK.value:
            bad = [m for m in METRICS if math.isnan(cols[m][i]) and m.endswith("accuracy")]
            if bad:
                raise InvalidInputError(f"runs row {i} ({names[i]!r}, seed {seeds[i]}): status is 'ok' but "
                                        f"{bad[0]} is NaN; use status 'failed' or 'diverged'")
        statuses.append(s)
    cols["status"] = statuses
    errors = list(df["error"]) if "error" in df.columns else [None] * len(df)
    for i, e in enumerate(errors):
        if _is_null(e):
            errors[i] = None
        elif not isinstance(e, str):
            raise InvalidInputError(f"runs row {i} column 'error' must be a string or null; got {e!r}")
    cols["error"] = _string_column(errors)
    for c in CURVE_COLUMNS:
        values = list(df[c]) if c in df.columns else [None] * len(df)
        cols[c] = _list_column([_curve(v, f"runs row {i} column {c!r}") for i, v in enumerate(values)])
    out = pd.DataFrame(cols, columns=list(RUNS_COLUMNS))
    dup = out.duplicated(["function", "seed"])
    if dup.any():
        i = int(np.argmax(dup.to_numpy()))
        raise InvalidInputError(f"runs row {i}: function {names[i]!r} with seed {seeds[i]} appears twice")
    return out


def _normalize_features(features: Any, names: set[str]) -> dict[str, dict[str, Any]]:
    if features is None:
        return {}
    allowed = {"equivalents", "fim_cdf", "fim_valid", "fim_reason", "outputs"}
    if isinstance(features, pd.DataFrame):
        if "function" not in features.columns:
            raise InvalidInputError("features must have a 'function' column")
        records = {row["function"]: {k: v for k, v in row.items() if k != "function"}
                   for row in features.to_dict("records")}
    elif isinstance(features, Mapping):
        records = dict(features)
    else:
        raise InvalidInputError(f"features must be a pandas DataFrame or a dict keyed by function; "
                                f"got {type(features).__name__}")
    out: dict[str, dict[str, Any]] = {}
    for key, rec in records.items():
        name = _canonical(key, "features")
        if name not in names:
            raise InvalidInputError(f"features given for {name!r}, which has no runs")
        if not isinstance(rec, Mapping):
            raise InvalidInputError(f"features[{name!r}] must be a mapping of column -> value")
        extra = set(rec) - allowed
        if extra:
            raise InvalidInputError(f"features[{name!r}] has unexpected key(s) {sorted(extra)}; allowed: "
                                    f"{sorted(allowed)}")
        rec = {k: (None if isinstance(v, float) and _is_null(v) else v) for k, v in rec.items()}  # NaN = absent
        if rec.get("equivalents") is not None:
            rec["equivalents"] = [name] + list(rec["equivalents"])
        out[name] = rec
    return out


def _check_layout(meta: dict[str, Any], dims: int) -> None:
    from act_bench.tables._layout import normalize_layout

    layout = meta.get("fim_layout") or []
    if meta.get("fim_cdf_layout") not in ("act-bench", "upstream"):
        raise InvalidInputError(f"metadata 'fim_cdf_layout' must be 'act-bench' or 'upstream'; "
                                f"got {meta.get('fim_cdf_layout')!r}")
    if not layout:
        meta["fim_layout"] = []
        return
    if hasattr(layout, "rows") and not isinstance(layout, Mapping):  # act_bench.features.FeatureLayout
        layout = list(layout.rows)
    layers = normalize_layout(layout, where="metadata 'fim_layout'")
    from act_bench.tables._schema import CdfLayout

    cdf_layout = CdfLayout(meta["fim_cdf_layout"])
    entries = []
    for e, raw in zip(layers, layout):
        bins = raw.get("bins") if isinstance(raw, Mapping) else getattr(raw, "bins", None)
        bins = cdf_layout.bins(e["weights"]) if bins is None else int(bins)
        entries.append({**e, "bins": bins})
    total = sum(e["bins"] for e in entries)
    if dims and total != dims:
        raise InvalidInputError(f"metadata 'fim_layout' has {total} bins in all but the fim_cdf vectors have {dims} "
                                f"values")
    meta["fim_layout"] = entries


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, Mapping):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


# --- Arrow conversion --------------------------------------------------------------------------------------------

def _schema_with_features(config: str) -> pa.Schema:
    feats = functions_features() if config == "functions" else runs_features()
    return arrow_schema(config).with_metadata(feats.arrow_schema.metadata)


def _functions_to_arrow(df: pd.DataFrame, fim: np.ndarray, outputs: np.ndarray) -> pa.Table:
    n, d = fim.shape
    lengths = np.array([len(c) for c in df["fim_cdf"]], dtype=np.int64) if n else np.zeros(0, np.int64)
    offsets = np.zeros(n + 1, dtype=np.int32)
    np.cumsum(lengths, out=offsets[1:])
    values = fim[lengths > 0].reshape(-1) if d else np.zeros(0, np.float32)
    flat_eq = [m for members in df["equivalents"] for m in members]
    eq_offsets = np.zeros(n + 1, dtype=np.int32)
    np.cumsum([len(m) for m in df["equivalents"]], out=eq_offsets[1:])
    arrays = [
        pa.array(list(df["function"]), pa.string()),
        pa.ListArray.from_arrays(pa.array(eq_offsets), pa.array(flat_eq, pa.string())),
        *[pa.array(df[c].to_numpy(dtype=np.float64), pa.float64()) for c in _FLOAT_COLUMNS],
        pa.array(list(df["status"]), pa.string()),
        pa.array(df["n_runs"].to_numpy(dtype=np.int32), pa.int32()),
        pa.array(df["fim_valid"].to_numpy(dtype=bool), pa.bool_()),
        pa.array(_strings(df["fim_reason"]), pa.string()),
        pa.ListArray.from_arrays(pa.array(offsets), pa.array(values, pa.float32())),
        pa.FixedSizeListArray.from_arrays(pa.array(outputs.reshape(-1), pa.float32()), N_OUTPUTS),
    ]
    return pa.Table.from_arrays(arrays, schema=_schema_with_features("functions"))


def _runs_to_arrow(df: pd.DataFrame) -> pa.Table:
    arrays = [
        pa.array(list(df["function"]), pa.string()),
        pa.array(df["seed"].to_numpy(dtype=np.int64), pa.int64()),
        *[pa.array(df[c].to_numpy(dtype=np.float64), pa.float64()) for c in _FLOAT_COLUMNS],
        pa.array(list(df["status"]), pa.string()),
        pa.array(_strings(df["error"]), pa.string()),
        *[pa.array([list(v) for v in df[c]], pa.list_(pa.float64())) for c in CURVE_COLUMNS],
    ]
    return pa.Table.from_arrays(arrays, schema=_schema_with_features("runs"))


def _write_parquet(table: pa.Table, path: Path) -> None:
    # zstd; floats in lists byte-stream-split (smaller and faster to decode than dictionary/plain); row groups of
    # 256 rows so that readers decode in parallel and no single page becomes huge (measured: benchmarks/).
    floats = [f"{c}.list.element" for c in ("fim_cdf", "outputs", *CURVE_COLUMNS) if c in table.column_names]
    strings = [c for c in ("function", "status", "fim_reason", "error") if c in table.column_names]
    if "equivalents" in table.column_names:
        strings.append("equivalents.list.element")
    # page checksums (CRC32): a corrupted page is an error on read, also in pages zstd stores uncompressed
    options = {"compression": "zstd", "use_dictionary": strings, "write_page_checksum": True,
               "column_encoding": {c: "BYTE_STREAM_SPLIT" for c in floats} or None}
    if table.num_rows == 0:
        # no row group at all: a 0-row row group makes `datasets` (parquet builder) ask for batches of size 0
        pq.ParquetWriter(path, table.schema, **options).close()
        return
    pq.write_table(table, path, row_group_size=_ROW_GROUP, **options)


_ROW_GROUP = 256


# --- reading -----------------------------------------------------------------------------------------------------

def _read_parquet(path: Path, config: str) -> pa.Table:
    if not path.is_file():
        raise SchemaMismatchError(f"{str(path.parent)!r} is not an act-bench table: {path.name} is missing")
    try:
        schema = pq.read_schema(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise SchemaMismatchError(f"{str(path)!r} is not a readable Parquet file: {exc}") from None
    check_arrow_schema(schema, config, str(path))
    present = set(schema.names)
    try:  # the data pages are only decoded here: a corrupted page fails now, not when the schema was read
        table = pq.read_table(path, columns=[c for c in arrow_schema(config).names if c in present],
                              page_checksum_verification=True)
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise SchemaMismatchError(f"{str(path)!r} has unreadable (corrupted) data: {exc}") from None
    bad = [c for c in ("function", "equivalents", "status", "n_runs", "fim_valid", "fim_cdf", "outputs", "seed")
           if c in table.column_names and table.column(c).null_count]
    if bad:
        raise SchemaMismatchError(f"{str(path)!r}: column {bad[0]!r} has null values")
    return table


def _list_matrix(col: pa.ChunkedArray, where: str, names: list[str]) -> tuple[np.ndarray, np.ndarray]:
    arr = col.combine_chunks() if col.num_chunks != 1 else col.chunk(0)
    n = len(arr)
    if pa.types.is_fixed_size_list(arr.type):
        size = arr.type.list_size
        values = arr.flatten().to_numpy(zero_copy_only=False)
        return values.reshape(n, size), np.full(n, size, dtype=np.int64)
    offsets = arr.offsets.to_numpy()
    lengths = np.diff(offsets)
    values = arr.flatten().to_numpy(zero_copy_only=False)
    dims = np.unique(lengths[lengths > 0])
    if dims.size > 1:
        i = int(np.nonzero(lengths == dims[1])[0][0])
        raise SchemaMismatchError(f"{where}: column 'fim_cdf' rows must all have the same length or be empty; row {i} "
                                  f"({names[i]!r}) has {dims[1]} values, others {dims[0]}")
    d = int(dims[0]) if dims.size else 0
    mask = lengths > 0
    if mask.all():
        return values.reshape(n, d), lengths
    out = np.full((n, d), np.nan, dtype=np.float32)
    if d:
        out[mask] = values.reshape(-1, d)
    return out, lengths


def _read_dir(path: Path) -> BenchmarkTable:
    if not path.is_dir():
        raise InvalidInputError(f"table directory {str(path)!r} does not exist")
    meta_path = path / FILES["metadata"]
    if not meta_path.is_file():
        raise SchemaMismatchError(f"{str(path)!r} is not an act-bench table: {FILES['metadata']} is missing")
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError) as exc:  # ValueError: UnicodeDecodeError, JSONDecodeError, digits
        raise SchemaMismatchError(f"{str(meta_path)!r} is not valid JSON: "
                                  f"{'nested too deeply' if isinstance(exc, RecursionError) else exc}") from None
    check_metadata(meta, str(meta_path))
    ft = _read_parquet(path / FILES["functions"], "functions")
    rt = _read_parquet(path / FILES["runs"], "runs")
    where = str(path / FILES["functions"])
    names = ft.column("function").to_pylist()
    if len(set(names)) != len(names):
        dup = next(n for i, n in enumerate(names) if n in names[:i])
        raise SchemaMismatchError(f"{where}: function {dup!r} appears in more than one row")
    for config, tbl in (("functions", ft), ("runs", rt)):
        bad = set(tbl.column("status").unique().to_pylist()) - set(_STATUSES)
        if bad:
            raise SchemaMismatchError(f"{path / FILES[config]}: column 'status' has value(s) "
                                      f"{', '.join(map(repr, sorted(bad)))}; valid: {', '.join(_STATUSES)}")
    fim, lengths = _list_matrix(ft.column("fim_cdf"), where, names)
    outputs, _ = _list_matrix(ft.column("outputs"), where, names)
    fim = np.ascontiguousarray(fim, dtype=np.float32)
    outputs = np.ascontiguousarray(outputs, dtype=np.float32)
    empty = np.zeros(0, dtype=np.float32)
    cols: dict[str, Any] = {"function": names,
                            "equivalents": _list_column(ft.column("equivalents").to_pylist())}
    for c in _FLOAT_COLUMNS:
        cols[c] = ft.column(c).to_numpy()
    cols["status"] = ft.column("status").to_pylist()
    cols["n_runs"] = ft.column("n_runs").to_numpy()
    cols["fim_valid"] = ft.column("fim_valid").to_numpy()
    cols["fim_reason"] = _string_column(ft.column("fim_reason").to_pylist())
    cols["fim_cdf"] = _list_column([fim[i] if lengths[i] else empty for i in range(len(names))])
    cols["outputs"] = _list_column(list(outputs))
    functions = pd.DataFrame(cols, columns=list(FUNCTIONS_COLUMNS))
    rcols: dict[str, Any] = {"function": rt.column("function").to_pylist(), "seed": rt.column("seed").to_numpy()}
    for c in _FLOAT_COLUMNS:
        rcols[c] = rt.column(c).to_numpy()
    rcols["status"] = rt.column("status").to_pylist()
    rcols["error"] = _string_column(rt.column("error").to_pylist())
    for c in CURVE_COLUMNS:  # absent in tables written before learning curves were recorded: empty curves
        values = rt.column(c).to_pylist() if c in rt.column_names else [[] for _ in range(rt.num_rows)]
        rcols[c] = _list_column([v if v is not None else [] for v in values])
    runs = pd.DataFrame(rcols, columns=list(RUNS_COLUMNS))
    if len(runs):
        runs["seed"] = runs["seed"].astype(np.int64)
    table = BenchmarkTable._from_parts(functions, runs, meta, fim, outputs)
    table._source = path
    validate_table(table, where=repr(str(path)))
    return table
