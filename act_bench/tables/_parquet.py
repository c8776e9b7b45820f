"""A table on disk: the two configs as Parquet files with explicit schemas (written and read), and the folder
reader (metadata, both configs, feature matrices)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from act_bench.errors import InvalidInputError, SchemaMismatchError
from act_bench.tables._estimates import fill_derived
from act_bench.tables._meta import check_metadata
from act_bench.tables._normalize import FLOAT_COLUMNS, STATUSES, list_column, string_column, strings
from act_bench.tables._schema import (
    CURVE_COLUMNS,
    ESTIMATE_COLUMNS,
    ESTIMATE_FLOATS,
    FILES,
    FUNCTIONS_COLUMNS,
    N_OUTPUTS,
    RUNS_COLUMNS,
    arrow_schema,
    check_arrow_schema,
    functions_features,
    runs_features,
)

__all__ = ["functions_to_arrow", "read_table_dir", "runs_to_arrow", "write_parquet"]

_ROW_GROUP = 256


# --- writing -----------------------------------------------------------------------------------------------------

def _schema_with_features(config: str) -> pa.Schema:
    feats = functions_features() if config == "functions" else runs_features()
    return arrow_schema(config).with_metadata(feats.arrow_schema.metadata)


def functions_to_arrow(df: pd.DataFrame, fim: np.ndarray, outputs: np.ndarray) -> pa.Table:
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
        *[pa.array(df[c].to_numpy(dtype=np.float64), pa.float64()) for c in FLOAT_COLUMNS],
        pa.array(list(df["status"]), pa.string()),
        pa.array(df["n_runs"].to_numpy(dtype=np.int32), pa.int32()),
        *[pa.array(df[c].to_numpy(dtype=np.int32), pa.int32()) for c in ESTIMATE_COLUMNS[:3]],
        *[pa.array(df[c].to_numpy(dtype=np.float64), pa.float64()) for c in ESTIMATE_FLOATS],
        pa.array(df["twin_group"].to_numpy(dtype=np.int32), pa.int32()),
        pa.array(df["fim_valid"].to_numpy(dtype=bool), pa.bool_()),
        pa.array(strings(df["fim_reason"]), pa.string()),
        pa.ListArray.from_arrays(pa.array(offsets), pa.array(values, pa.float32())),
        pa.FixedSizeListArray.from_arrays(pa.array(outputs.reshape(-1), pa.float32()), N_OUTPUTS),
    ]
    return pa.Table.from_arrays(arrays, schema=_schema_with_features("functions"))


def runs_to_arrow(df: pd.DataFrame) -> pa.Table:
    arrays = [
        pa.array(list(df["function"]), pa.string()),
        pa.array(df["seed"].to_numpy(dtype=np.int64), pa.int64()),
        *[pa.array(df[c].to_numpy(dtype=np.float64), pa.float64()) for c in FLOAT_COLUMNS],
        pa.array(list(df["status"]), pa.string()),
        pa.array(strings(df["error"]), pa.string()),
        *[pa.array([list(v) for v in df[c]], pa.list_(pa.float64())) for c in CURVE_COLUMNS],
        pa.array(df["eval_loss_nonfinite"].to_numpy(dtype=bool), pa.bool_()),
    ]
    return pa.Table.from_arrays(arrays, schema=_schema_with_features("runs"))


def write_parquet(table: pa.Table, path: Path) -> None:
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
    bad = [c for c in ("function", "equivalents", "status", "n_runs", "fim_valid", "fim_cdf", "outputs", "seed",
                       *ESTIMATE_COLUMNS[:3], "twin_group", "eval_loss_nonfinite")
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


def read_table_dir(path: Path) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any], np.ndarray, np.ndarray]:
    """``(functions, runs, metadata, fim, outputs)`` of a table folder; schemas and metadata checked, values not."""
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
        bad = set(tbl.column("status").unique().to_pylist()) - set(STATUSES)
        if bad:
            raise SchemaMismatchError(f"{path / FILES[config]}: column 'status' has value(s) "
                                      f"{', '.join(map(repr, sorted(bad)))}; valid: {', '.join(STATUSES)}")
    fim, lengths = _list_matrix(ft.column("fim_cdf"), where, names)
    outputs, _ = _list_matrix(ft.column("outputs"), where, names)
    fim = np.ascontiguousarray(fim, dtype=np.float32)
    outputs = np.ascontiguousarray(outputs, dtype=np.float32)
    empty = np.zeros(0, dtype=np.float32)
    cols: dict[str, Any] = {"function": names,
                            "equivalents": list_column(ft.column("equivalents").to_pylist())}
    for c in FLOAT_COLUMNS:
        cols[c] = ft.column(c).to_numpy()
    cols["status"] = ft.column("status").to_pylist()
    cols["n_runs"] = ft.column("n_runs").to_numpy()
    for c in (*ESTIMATE_COLUMNS, "twin_group"):  # absent in tables written before they existed: derived below
        if c in ft.column_names:
            cols[c] = ft.column(c).to_numpy()
    cols["fim_valid"] = ft.column("fim_valid").to_numpy()
    cols["fim_reason"] = string_column(ft.column("fim_reason").to_pylist())
    cols["fim_cdf"] = list_column([fim[i] if lengths[i] else empty for i in range(len(names))])
    cols["outputs"] = list_column(list(outputs))
    functions = pd.DataFrame(cols, columns=[c for c in FUNCTIONS_COLUMNS if c in cols])
    rcols: dict[str, Any] = {"function": rt.column("function").to_pylist(), "seed": rt.column("seed").to_numpy()}
    for c in FLOAT_COLUMNS:
        rcols[c] = rt.column(c).to_numpy()
    rcols["status"] = rt.column("status").to_pylist()
    rcols["error"] = string_column(rt.column("error").to_pylist())
    for c in CURVE_COLUMNS:  # absent in tables written before learning curves were recorded: empty curves
        values = rt.column(c).to_pylist() if c in rt.column_names else [[] for _ in range(rt.num_rows)]
        rcols[c] = list_column([v if v is not None else [] for v in values])
    rcols["eval_loss_nonfinite"] = (rt.column("eval_loss_nonfinite").to_numpy(zero_copy_only=False).astype(bool)
                                    if "eval_loss_nonfinite" in rt.column_names else np.zeros(rt.num_rows, bool))
    runs = pd.DataFrame(rcols, columns=list(RUNS_COLUMNS))
    if len(runs):
        runs["seed"] = runs["seed"].astype(np.int64)
    if len(functions.columns) != len(FUNCTIONS_COLUMNS):
        functions = fill_derived(functions, runs)[list(FUNCTIONS_COLUMNS)]
    return functions, runs, meta, fim, outputs
