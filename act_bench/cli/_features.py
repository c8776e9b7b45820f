"""``act-bench models ...`` and ``act-bench fim``: layer tables of the architectures and FIM features of one function."""

from __future__ import annotations

import argparse
import time

from act_bench.cli._common import IntRange, emit, seed_int
from act_bench.cli._options import add_expr
from act_bench.errors import InvalidInputError

FISHER_CHOICES = ("empirical", "mc")


def register(sub: argparse._SubParsersAction) -> None:
    models = sub.add_parser("models", help="architectures: list them, describe their FIM layer table",
                            description="The registered architectures (data_builders.models).")
    msub = models.add_subparsers(dest="models_command", metavar="SUBCOMMAND")
    msub.required = True
    p = msub.add_parser("list", help="names, input shapes and default classes of the architectures",
                        description="List the registered architectures (data_builders.models) with their input "
                                    "shape, default number of classes and a one-line description.")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.set_defaults(func=_models_list)
    p = msub.add_parser("describe", help="parameters and FIM layer table (weights, bins) of one architecture",
                        description="Build NAME (with relu) and print its parameter count, the number of FIM CDF "
                                    "features (fim_dims) and the per-layer table; nothing is computed.")
    p.add_argument("name", metavar="NAME", help="architecture, see 'act-bench models list'")
    p.add_argument("--num-classes", type=IntRange(1, 100_000), default=None, metavar="K",
                   help="number of classes (default: the architecture's)")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.set_defaults(func=_models_describe)

    p = sub.add_parser("fim", help="K-FAC Fisher spectrum and CDF features of one activation function",
                       description="Build MODEL with activation EXPR (seeded initialisation), run one mini-batch "
                                   "(synthetic standard-normal inputs with uniform labels, or the first examples of "
                                   "a seeded permutation of a task's training split) and report validity, feature "
                                   "count, time and per-layer summary.")
    p.add_argument("--model", required=True, metavar="NAME", help="architecture, see 'act-bench models list'")
    add_expr(p, dest="fn", fn_alias=True, help="activation function, e.g. 'swish(x)'")
    p.add_argument("--batch", type=IntRange(1, 65_536), default=128, metavar="N", help="mini-batch size (default 128)")
    p.add_argument("--data", default="synthetic", metavar="synthetic|TASK",
                   help="'synthetic' (default) or a task name from data_builders.tasks")
    p.add_argument("--seed", type=seed_int, default=0, metavar="S", help="seed of initialisation and data (default 0)")
    p.add_argument("--num-classes", type=IntRange(1, 100_000), default=None, metavar="K",
                   help="number of classes (default: the task's, else the architecture's)")
    p.add_argument("--fisher", choices=FISHER_CHOICES, default="empirical",
                   help="empirical (true labels, default) or mc (labels sampled from the model)")
    p.add_argument("--train-mode", action="store_true", help="run the network in training mode (batch statistics)")
    p.add_argument("--features", action="store_true", help="include the CDF feature vector in the JSON output")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.set_defaults(func=_fim)


def _model_name(name: str, option: str) -> str:
    """``name`` if it is a registered architecture, else a one-line error naming the option the user typed."""
    from data_builders.models import list_models

    if name not in list_models():
        raise InvalidInputError(f"{option} {name!r} is not a registered architecture; valid: "
                                f"{', '.join(list_models())} (see 'act-bench models list')")
    return name


def _models_list(args: argparse.Namespace) -> int:
    from data_builders.models import get_model_spec, list_models

    rows = []
    for name in list_models():
        spec = get_model_spec(name)
        rows.append({"model": name, "input_shape": list(spec.input_shape),
                     "default_num_classes": spec.default_num_classes, "description": spec.description})
    human = "\n".join(f"{r['model']:<18} input {tuple(r['input_shape'])}, {r['default_num_classes']} classes: "
                      f"{r['description']}" for r in rows)
    emit({"models": rows}, args.json, human)
    return 0


def _models_describe(args: argparse.Namespace) -> int:
    from act_bench.features import fim_layout
    from data_builders.models import create_model

    model = create_model(_model_name(args.name, "NAME"), "relu(x)", num_classes=args.num_classes, seed=0)
    layout = fim_layout(model)
    result = {"model": args.name, "num_classes": model.num_classes, "input_shape": list(model.input_shape),
              "parameters": sum(p.numel() for p in model.parameters()), "fim_dims": layout.dims,
              "fim_layers": len(layout.rows), "layers": layout.to_records()}
    human = (f"model: {args.name} ({model.num_classes} classes, input {tuple(model.input_shape)})\n"
             f"parameters: {result['parameters']:,}\nFIM layers: {len(layout.rows)}\nfim_dims: {layout.dims:,}\n"
             + "\n".join(f"  {r.layer:<40} {r.weights:>10,} weights {r.bins:>6} bins" for r in layout.rows))
    emit(result, args.json, human)
    return 0


def _batch(args: argparse.Namespace, input_shape: tuple[int, ...], model_classes: int | None):
    import torch

    gen = torch.Generator().manual_seed(args.seed)
    if args.data == "synthetic":
        k = args.num_classes or model_classes
        x = torch.randn((args.batch, *input_shape), generator=gen)
        y = torch.randint(0, k, (args.batch,), generator=gen)
        return x, y, k
    try:
        from data_builders.tasks import create_task, list_tasks
    except ImportError:  # pragma: no cover - the tasks package ships with act-bench
        raise InvalidInputError(f"--data must be 'synthetic' (no task package is available); got {args.data!r}"
                                ) from None
    if args.data not in list_tasks():
        raise InvalidInputError(f"--data must be 'synthetic' or one of {', '.join(list_tasks())}; got {args.data!r}")
    task = create_task(args.data)
    data = task.load("train")
    if args.batch > len(data):
        raise InvalidInputError(f"--batch {args.batch} exceeds the {len(data)} training examples of {args.data!r}")
    idx = torch.randperm(len(data), generator=gen)[: args.batch]
    x, y = data.x[idx], data.y[idx]
    if x.dtype == torch.uint8:
        x = x.float() / 255.0
    x = x.float()
    mean = torch.tensor(data.mean, dtype=torch.float32).view(1, -1, *([1] * (x.ndim - 2)))
    std = torch.tensor(data.std, dtype=torch.float32).view(1, -1, *([1] * (x.ndim - 2)))
    x = (x - mean) / std
    if tuple(x.shape[1:]) != tuple(input_shape):
        if x.ndim == 4 and x.shape[1] == input_shape[0]:
            x = torch.nn.functional.interpolate(x, size=tuple(input_shape[1:]), mode="bilinear", antialias=True,
                                                align_corners=False)
        else:
            raise InvalidInputError(f"task {args.data!r} has inputs of shape {tuple(x.shape[1:])}, but the model "
                                    f"expects {tuple(input_shape)}")
    return x, y, args.num_classes or task.num_classes


def _fim(args: argparse.Namespace) -> int:
    import numpy as np

    from act_bench.features import compute_fim_features
    from act_bench.space import parse
    from data_builders.models import create_model, get_model_spec

    expr = parse(args.fn)
    spec = get_model_spec(_model_name(args.model, "--model"))
    start = time.perf_counter()
    x, y, k = _batch(args, spec.input_shape, args.num_classes or spec.default_num_classes)
    model = create_model(args.model, expr, num_classes=k, seed=args.seed)
    res = compute_fim_features(model, x, y, fisher=args.fisher, seed=args.seed, train_mode=args.train_mode)
    seconds = time.perf_counter() - start
    layers = []
    for row, s in zip(res.layout.rows, res.spectra):
        entry = {"layer": row.layer, "weights": row.weights, "bins": row.bins, "valid": s.valid}
        if s.valid:
            ev = s.log_eigenvalues
            fin = ev[np.isfinite(ev)]
            entry.update({"zero_eigenvalues": int(ev.size - fin.size),
                          "min_log_eig": float(fin.min()) if fin.size else None,
                          "median_log_eig": float(np.median(ev)) if ev.size else None,
                          "max_log_eig": float(fin.max()) if fin.size else None})
        else:
            entry["reason"] = s.reason
        layers.append(entry)
    result = {"model": args.model, "fn": str(expr), "data": args.data, "batch": args.batch, "seed": args.seed,
              "fisher": args.fisher, "valid": res.valid, "reason": res.reason, "fim_dims": res.fim_dims,
              "seconds": round(seconds, 3), "timings": {k: round(v, 3) for k, v in res.timings.items()},
              "layers": layers}
    if args.features:
        result["features"] = None if res.features is None else res.features.tolist()
    human = (f"{args.model} with {expr}: {'valid' if res.valid else 'INVALID (' + str(res.reason) + ')'}\n"
             f"fim_dims: {res.fim_dims:,}\nseconds: {seconds:.2f} "
             f"({', '.join(f'{k} {v:.2f}' for k, v in res.timings.items())})")
    emit(result, args.json, human)
    return 0
