"""``BenchmarkTable``: the two configs (``functions``, ``runs``) plus metadata, in memory and on disk."""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from act_bench._io import make_temp_dir, refuse_symlink, remove_stale_temps, to_jsonable
from act_bench._validation import check_choice, check_name
from act_bench.errors import InvalidInputError
from act_bench.tables._card import dataset_card
from act_bench.tables._meta import default_metadata
from act_bench.tables._normalize import (
    check_layout,
    complete_functions,
    medians_from_runs,
    normalize_functions,
    normalize_runs,
)
from act_bench.tables._parquet import functions_to_arrow, read_table_dir, runs_to_arrow, write_parquet
from act_bench.tables._ranking import best_groups, group_ranking
from act_bench.tables._schema import (
    CONFIGS,
    CURVE_COLUMNS,
    FILES,
    functions_features,
    runs_features,
)
from act_bench.tables._validate import validate_names, validate_table

__all__ = ["FILES", "BenchmarkTable", "FunctionNotInTableError"]

_FIGURE_NAME = re.compile(r"[\w.-]+\.(?:png|jpg|jpeg|svg|gif)")  # a plain file name next to the card


def _readonly(arr: np.ndarray) -> np.ndarray:
    arr.setflags(write=False)
    return arr


class FunctionNotInTableError(InvalidInputError, KeyError):
    """The queried function (and no equivalent of it) is in the table."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


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
        funcs, fim, outputs, duplicates = normalize_functions(functions, allow_duplicate_outputs)
        if duplicates:
            meta["duplicate_outputs"] = duplicates
        runs_df = normalize_runs(runs, set(funcs["function"]))
        funcs = complete_functions(funcs, runs_df)
        check_layout(meta, fim.shape[1])
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
                  metadata: Mapping[str, Any] | None = None, paper_seeds: Any = None) -> BenchmarkTable:
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
        paper_seeds : sequence of int, optional
            The seeds of the paper's columns (default: every seed in ``runs``); runs of other seeds (contender
            seeds) enter only the all-run estimates.

        Returns
        -------
        BenchmarkTable

        Notes
        -----
        The six metrics of a function (the paper's columns) are the median over its non-failed runs of the paper
        seeds (NaN values skipped, as ``pandas.DataFrame.median`` does); ``runtime`` is the median over those runs.
        ``status`` is ``"failed"`` if every such run failed, ``"diverged"`` if at least as many diverged as trained
        normally (the median then lies on diverged, chance-level metrics), else ``"ok"``. ``n_runs`` and the
        all-run estimates (:data:`~act_bench.tables.ESTIMATE_COLUMNS`: status counts, mean, median and standard
        error of the validation and test accuracy) use every run; ``twin_group`` joins rows that are one
        mathematical function up to rounding (:func:`act_bench.space.twin_groups`).
        """
        functions, runs_df = medians_from_runs(runs, features, paper_seeds)
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
        from act_bench.space import as_expr, function_outputs, output_keys  # loads torch: on first use only

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
            from act_bench.space import as_expr  # loads torch: on first use only

            raise FunctionNotInTableError(
                f"function {str(as_expr(expr))!r} is not in table {self.name!r}: no row lists it among its "
                f"equivalents and no row has the same outputs on the standard inputs ({len(self)} functions)")
        return self._functions.iloc[i]

    # --- summaries ----------------------------------------------------------------------------------------------

    def info(self) -> dict[str, Any]:
        """Summary: ``{"name", "rows", "runs", "seeds", "best": {"function", "val_accuracy"}, "fim_dims", "source",
        "runs_with_curves", "code"}``.

        ``seeds`` is the number of distinct seeds in ``runs``; ``best`` is the ``status == "ok"`` twin group with the
        highest median validation accuracy of the paper seeds (:func:`~act_bench.tables.group_ranking`): its first
        row's ``function``, ``val_accuracy``, the number of groups tied at that value (``ties``) and their first rows
        (``tied``), or ``None`` if there is none; ``runs_with_curves`` counts runs with a learning
        curve; ``code`` is the code version that built the table (``version``, ``digest``, ``parts`` and the number
        of accepted code changes, ``overrides``) or ``None`` where the metadata does not record it.
        """
        f = self._functions
        top = best_groups(group_ranking(self)) if len(f) else None
        best = None
        if top is not None:  # twin groups counted once; ties named, the first in table order first
            best = {"function": top.functions[0], "val_accuracy": top.value, "ties": top.ties,
                    "tied": list(top.functions)}
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
        check_choice(config, "config", "BenchmarkTable.to_arrow", CONFIGS)
        if config == "runs":
            return runs_to_arrow(self._runs)
        return functions_to_arrow(self._functions, self._fim, self._outputs)

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
        ``path`` must not exist or be an empty directory unless ``overwrite``; it must not be a symbolic link, and a
        card figure that is a link is refused rather than copied with its target's content.
        """
        target = refuse_symlink(path, "output folder")
        self._check_names()
        figure_files = self._figure_files()
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
                write_parquet(self.to_arrow(config), tmp / FILES[config])
            # figures the card shows (metadata["figures"]) travel with a table read from a folder; one missing
            # there is left out of the card rather than shown as a broken image. (A table built in memory keeps
            # its list: its builder writes the files next to the card, as build_table does.)
            figures = list(self._metadata.get("figures") or [])
            if self._source is not None:
                figures = []
                for fig, file in figure_files:
                    shutil.copyfile(self._source / file, tmp / file, follow_symlinks=False)
                    os.chmod(tmp / file, 0o644)
                    figures.append(fig)
            view = self
            if figures != list(self._metadata.get("figures") or []):
                meta = {**self._metadata, "figures": figures}
                if not figures:
                    del meta["figures"]
                view = BenchmarkTable._from_parts(self._functions, self._runs, meta, self._fim, self._outputs)
            (tmp / FILES["metadata"]).write_text(
                json.dumps(to_jsonable(view._metadata), indent=2, allow_nan=False) + "\n", encoding="utf-8")
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

    def _figure_files(self) -> list[tuple[Any, str]]:
        """``(entry, file)`` of the card figures that travel with a table read from a folder (regular files named
        plainly next to the card); a figure that is a symbolic link is refused (its target is not the table's)."""
        found: list[tuple[Any, str]] = []
        if self._source is None:
            return found
        for fig in self._metadata.get("figures") or []:
            file = fig.get("file") if isinstance(fig, Mapping) else None
            if isinstance(file, str) and _FIGURE_NAME.fullmatch(file):
                refuse_symlink(self._source / file, "card figure")
                if (self._source / file).is_file():
                    found.append((fig, file))
        return found

    @classmethod
    def load(cls, path: str | os.PathLike[str], *, verify: bool = False) -> BenchmarkTable:
        """Read a table directory written by :meth:`save`.

        The Parquet schemas, the metadata and the values are validated (:meth:`validate`); ``verify=True`` adds
        the deep check (outputs and equivalents recomputed).
        """
        path = Path(path)
        table = cls._from_parts(*read_table_dir(path))
        table._source = path
        validate_table(table, where=repr(str(path)))
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
