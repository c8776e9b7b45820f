"""``act-bench import-upstream | export-hf | publish | table info | table query``: benchmark tables."""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import warnings
from pathlib import Path

from act_bench.cli._common import IntRange, check_output, count, emit
from act_bench.cli._options import add_expr, add_table
from act_bench.errors import InvalidInputError

_MODELS = ("all-cnn-c", "resnet-56", "mobilevitv2-0.5")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("import-upstream", help="import a published Act-Bench JSON file as a table",
                       description="Stream an upstream Act-Bench JSON file (a dict keyed by activation function "
                                   "with median metrics, equivalents and FIM CDF) into a table folder: outputs are "
                                   "computed, runs are empty, the source and CDF layout are recorded. Nothing is "
                                   "written unless the whole file is valid.")
    p.add_argument("file", metavar="FILE.json", help="upstream JSON file (e.g. act-bench-cnn.json)")
    p.add_argument("--out", required=True, metavar="DIR", help="output table folder (must not exist or be empty)")
    p.add_argument("--model", choices=_MODELS, help="model of the file: sets task, runs per median and the FIM layout")
    p.add_argument("--layout", metavar="LAYOUT.json",
                   help="per-layer weight counts, a JSON list of {\"layer\", \"weights\"} (overrides --model's)")
    p.add_argument("--cdf-layout", choices=("auto", "act-bench", "upstream"), default="auto",
                   help="values per layer: act-bench = floor(w/100), upstream = floor(w/100)-1; auto detects it "
                        "from the vector length (needs --model or --layout). Default: auto")
    p.add_argument("--name", help="table name: 1-96 letters, digits, '_', '.', '-' (default: the file name without "
                                  ".json, other characters replaced by '-')")
    p.add_argument("--n-runs", type=IntRange(0, 1000), metavar="N", help="runs per median (default: 3 for CNN/ResNet, 1 for ViT)")
    p.add_argument("--license", default="other", help="license for the dataset card (default: other)")
    p.add_argument("--accept-inequivalent", action="store_true",
                   help="import a record whose listed equivalents have different outputs (they are left out of "
                        "'equivalents' and counted in a warning); default: an error")
    p.add_argument("--json", action="store_true", help="print a JSON summary on stdout")
    p.set_defaults(func=_import_upstream)

    p = sub.add_parser("export-hf", help="write a table as a Hugging Face dataset folder",
                       description="Write the table of --table (name, folder or Hub id) to DIR as Parquet files plus a dataset card "
                                   "README.md, loadable with datasets.load_dataset(DIR, 'functions' | 'runs').")
    add_table(p, positional_alias=True)
    p.add_argument("--out", required=True, metavar="DIR", help="output folder (must not exist or be empty)")
    p.add_argument("--verify", action="store_true",
                   help="deep check: recompute every function's and equivalent's outputs and compare them with the "
                        "table's (the fast checks always run)")
    p.add_argument("--json", action="store_true", help="print a JSON summary on stdout")
    p.set_defaults(func=_export_hf)

    p = sub.add_parser("export-synetune", help="write a table as a Syne Tune tabular blackbox",
                       description="Write the table of --table (name, folder or Hub id) to DIR in the layout of Syne Tune's blackbox "
                                   "repository (hyperparameters.parquet, configspace.json, fidelityspace.json, "
                                   "objectives_evaluations.npy, fidelities_values.npy, metadata.json): the "
                                   "hyperparameter is the activation function (categorical), the objectives have a "
                                   "seed axis (the table's runs) and an epoch fidelity axis (from the runs' "
                                   "learning curves; the final epoch alone for a table without curves). Load it with "
                                   "syne_tune.blackbox_repository.blackbox_tabular.deserialize(DIR).")
    add_table(p, positional_alias=True)
    p.add_argument("--out", required=True, metavar="DIR", help="output folder (must not exist or be empty)")
    p.add_argument("--json", action="store_true", help="print a JSON summary on stdout")
    p.set_defaults(func=_export_synetune)

    p = sub.add_parser("publish", help="upload a table to the Hugging Face Hub",
                       description="Export the table of --table and upload it as the Hub dataset ID (created if needed; token from "
                                   "HF_TOKEN or `hf auth login`). --dry-run lists the files without network.")
    add_table(p, positional_alias=True)
    p.add_argument("--repo-id", required=True, metavar="ID", help="Hub dataset id, e.g. user/act-bench-mnist1d")
    p.add_argument("--private", action="store_true", help="create the dataset repository as private")
    p.add_argument("--dry-run", action="store_true", help="list what would be uploaded; no network")
    p.add_argument("--verify", action="store_true",
                   help="deep check: recompute every function's and equivalent's outputs and compare them with the "
                        "table's (the fast checks always run)")
    p.add_argument("--json", action="store_true", help="print a JSON summary on stdout")
    p.set_defaults(func=_publish)

    t = sub.add_parser("table", help="inspect a benchmark table: info, query",
                       description="Inspect a benchmark table given by name, folder or Hub id.")
    tsub = t.add_subparsers(dest="table_command", metavar="SUBCOMMAND")
    tsub.required = True
    p = tsub.add_parser("info", help="rows, runs, seeds, best function, FIM dimensions, source, code version",
                        description="Load the table of --table (a shipped or fetched name, a folder or a Hub id) and print its "
                                    "number of functions, runs and seeds, the best function by validation accuracy, "
                                    "the FIM feature dimensions, where the table came from, how many runs have learning "
                                    "curves and the code version that built it.")
    add_table(p, positional_alias=True)
    p.add_argument("--revision", help="Hub revision (Hub ids only)")
    p.add_argument("--verify", action="store_true",
                   help="deep check: recompute every function's and equivalent's outputs and compare them with the "
                        "table's (the fast checks always run)")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.set_defaults(func=_info)
    p = tsub.add_parser("query", help="metrics of one function (any equivalent spelling)",
                        description="Print the median metrics, runtime, status, number of runs and FIM validity of "
                                    "EXPR in the table of --table; any equivalent spelling finds the row (listed equivalents, or "
                                    "identical outputs on the standard inputs).")
    add_table(p, positional_alias=True)
    add_expr(p, help="activation function, e.g. 'max(x,zero(x))'")
    p.add_argument("--revision", help="Hub revision (Hub ids only)")
    p.add_argument("--verify", action="store_true",
                   help="deep check: recompute every function's and equivalent's outputs and compare them with the "
                        "table's (the fast checks always run)")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.set_defaults(func=_query)


def _check_out(out: str) -> Path:
    path = check_output(out, "--out", folder=True)  # first: a link is named as one, not as a non-empty folder
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise InvalidInputError(f"--out {out!r} exists and is not an empty directory; choose a new path")
    return path


def _import_upstream(args: argparse.Namespace) -> int:
    from act_bench.interop import import_upstream
    from act_bench.tables import read_layout_file

    out = _check_out(args.out)
    layout = read_layout_file(args.layout) if args.layout else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # reported below as one line
        table = import_upstream(args.file, model=args.model, layout=layout, cdf_layout=args.cdf_layout,
                                name=args.name, n_runs=args.n_runs, license=args.license,
                                accept_inequivalent=args.accept_inequivalent)
    dropped = table.metadata.get("inequivalent_equivalents") or []
    if dropped:
        sys.stderr.write(f"act-bench import-upstream: warning: {len(dropped)} listed equivalent function(s) have "
                         f"outputs that differ from their record's and were left out (first: "
                         f"{dropped[0]['listed']!r} under {dropped[0]['function']!r})\n")
    table.save(out)
    info = table.info()
    result = {**info, "out": str(out), "fim_cdf_layout": table.metadata["fim_cdf_layout"],
              "inequivalent_equivalents": len(dropped),
              "fim_valid": int(table.functions["fim_valid"].sum()),
              "wall_time_s": table.metadata["build"]["wall_time_s"]}
    human = (f"imported {info['rows']} functions from {args.file} into {out} "
             f"(CDF layout {result['fim_cdf_layout']}, {result['fim_valid']} with valid FIM features, "
             f"{info['fim_dims']} dims, {result['wall_time_s']} s)")
    emit(result, args.json, human)
    return 0


def _export_hf(args: argparse.Namespace) -> int:
    from act_bench.interop import list_upload_files, load_table

    out = _check_out(args.out)
    table = load_table(args.table, verify=args.verify)
    table.save(out)
    files = list_upload_files(out)
    result = {"out": str(out), "name": table.name, "rows": len(table), "runs": len(table.runs),
              "files": [{"path": p, "bytes": b} for p, b in files]}
    human = f"wrote {out}:\n" + "\n".join(f"  {p}  {b:,} bytes" for p, b in files)
    emit(result, args.json, human)
    return 0


def _export_synetune(args: argparse.Namespace) -> int:
    import json

    import numpy as np

    from act_bench.interop import SYNETUNE_FILES, export_synetune, load_table

    out = _check_out(args.out)
    table = load_table(args.table)
    export_synetune(table, out)
    shape = tuple(int(n) for n in np.load(out / "objectives_evaluations.npy", mmap_mode="r").shape)
    meta = json.loads((out / "metadata.json").read_text(encoding="utf-8"))
    result = {"out": str(out), "task": table.name, "configurations": shape[1], "seeds": meta["seeds"],
              "fidelities": shape[3], "objectives": meta["objectives_names"], "files": list(SYNETUNE_FILES)}
    human = (f"wrote the Syne Tune blackbox {table.name!r} to {out}: {count(shape[1], 'activation function')} x "
             f"{count(shape[2], 'seed')} x {count(shape[3], 'fidelity', 'fidelities')} x "
             f"{count(shape[4], 'objective')} ({', '.join(meta['objectives_names'])})")
    emit(result, args.json, human)
    return 0


def _publish(args: argparse.Namespace) -> int:
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    from act_bench.interop import list_upload_files, load_table, publish_folder

    try:
        validate_repo_id(args.repo_id)
        if "/" not in args.repo_id:
            raise HFValidationError("it must have the form 'namespace/name'")
    except HFValidationError as exc:
        raise InvalidInputError(f"--repo-id {args.repo_id!r} is not a valid Hub repo id "
                                f"('user-or-org/dataset-name'): {str(exc).splitlines()[0]}") from None
    table = load_table(args.table, verify=args.verify)
    if table.metadata.get("license_name"):  # e.g. a fetched upstream table (Academic Public License)
        sys.stderr.write(f"act-bench publish: warning: {table.name} is under the {table.metadata['license_name']} "
                         f"({table.metadata.get('license_url', '')}); redistribution needs the licensor's terms\n")
    tmp = Path(tempfile.mkdtemp(prefix="act-bench-publish-"))
    try:
        folder = table.save(tmp / "table")  # a fixed name: table.name never becomes a path
        files = list_upload_files(folder)
        listing = [{"path": p, "bytes": b} for p, b in files]
        total = sum(b for _, b in files)
        if args.dry_run:
            result = {"repo_id": args.repo_id, "private": args.private, "dry_run": True, "files": listing,
                      "total_bytes": total}
            human = (f"would upload to dataset {args.repo_id} ({'private' if args.private else 'public'}):\n"
                     + "\n".join(f"  {p}  {b:,} bytes" for p, b in files) + f"\ntotal: {total:,} bytes")
            emit(result, args.json, human)
            return 0
        res = publish_folder(folder, args.repo_id, private=args.private,
                             commit_message=f"Upload act-bench table {table.name}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    result = {"repo_id": res.repo_id, "revision": res.revision, "commit_url": res.commit_url, "files": listing,
              "total_bytes": total}
    emit(result, args.json, f"uploaded {len(files)} files ({total:,} bytes) to {res.repo_id}\n"
                            f"revision: {res.revision}\ncommit: {res.commit_url}")
    return 0


def _best_text(best) -> str:
    """``f (val_accuracy 0.9600)`` or ``one of 17 at val_accuracy 0.9800: f, g, h, ...`` (twin groups once)."""
    if not best:
        return "-"
    if best["ties"] == 1:
        return f"{best['function']} (val_accuracy {best['val_accuracy']:.4f})"
    shown = ", ".join(best["tied"][:3]) + (", ..." if best["ties"] > 3 else "")
    return f"one of {best['ties']} at val_accuracy {best['val_accuracy']:.4f}: {shown}"


def _info(args: argparse.Namespace) -> int:
    from act_bench.interop import load_table

    info = load_table(args.table, revision=args.revision, verify=args.verify).info()
    best = info["best"]
    human = (f"name: {info['name']}\nfunctions: {info['rows']}\nruns: {info['runs']} ({count(info['seeds'], 'seed')})\n"
             f"best: {_best_text(best)}"
             f"\nFIM dims: {info['fim_dims']}\nsource: {info['source']}\nruns with learning curves: "
             f"{info['runs_with_curves']}")
    code = info["code"]
    if code is None:
        human += "\ncode: not recorded"
    else:
        human += (f"\ncode: act-bench {code['version']}, digest {code['digest']}"
                  + (f" ({code['overrides']} accepted code change(s) while building)" if code["overrides"] else "")
                  + "".join(f"\n  {part}: {digest}" for part, digest in code["parts"].items()))
    emit(info, args.json, human)
    return 0


def _query(args: argparse.Namespace) -> int:
    from act_bench.interop import load_table
    from act_bench.tables import METRICS

    table = load_table(args.table, revision=args.revision, verify=args.verify)
    row = table.query(args.expr)
    result = {"query": args.expr, "function": row["function"], "equivalents": list(row["equivalents"]),
              **{m: float(row[m]) for m in (*METRICS, "runtime")}, "status": row["status"],
              "n_runs": int(row["n_runs"]), "fim_valid": bool(row["fim_valid"]), "fim_reason": row["fim_reason"]}
    human = "\n".join(f"{k}: {v}" for k, v in result.items())
    emit(result, args.json, human)
    return 0
