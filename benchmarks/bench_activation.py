"""Time an activation function's forward + backward, alone and inside a train step of the act-bench-mnist1d CNN.

Modes, interleaved in one process so they see the same machine load (one thread):

* ``fused``: ``ActivationFunction(expr)`` (default ``backward="fused"``: one autograd node, f' kept from the forward);
* ``recompute``: ``backward="recompute"`` (keeps x, recomputes f' in the backward);
* ``autograd``: ``backward="autograd"`` (one autograd node per operator, gradient-safe formulas);
* ``old``: the operators before the gradient-safe change (frozen verbatim in ``tests/_frozen_forward.py``) under
  plain torch autograd, i.e. the old ``ActivationFunction``.

``--main PATH`` also runs the default ``ActivationFunction`` of another checkout (e.g. ``/work/main`` before the
change) in a subprocess with ``PYTHONPATH=PATH`` and reports it as ``main`` (measured after the others, so under
possibly different load).

"alone": input of shape (64, 32, 40) (the first layer's output at batch 64), ``y = act(x); y.backward(g)``.
"step": ``mnist1d-cnn`` (9.6k parameters) at batch 64: forward, cross-entropy, backward, SGD step (momentum 0.9).
Prints the median process CPU milliseconds per call (less sensitive than wall time to other jobs on shared cores;
one thread, so CPU time is the call's time on an idle machine) and the ratio of each mode to ``old``.

Usage: ``python benchmarks/bench_activation.py [--reps 60] [--main /work/main] [--json]``
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
import _frozen_forward as old  # the operators before the change (a test helper, not a package)

from act_bench.space import ActivationFunction, Expr, parse
from data_builders.models import create_model

FUNCTIONS = ["relu(x)", "elu(x)", "sub(softplus(x),selu(x))", "add(selu(x),square(x))"]
MODES = ["fused", "recompute", "autograd", "old"]


class OldActivation(nn.Module):
    """The old ``ActivationFunction.forward``: ``evaluate`` with the old operators, shared subtrees once."""

    def __init__(self, expr: str) -> None:
        super().__init__()
        self.expr = parse(expr)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        cache: dict[Expr, torch.Tensor] = {}

        def rec(node: Expr) -> torch.Tensor:
            if node.is_input:
                return x
            if node not in cache:
                cache[node] = old.get_operator(node.op).fn(*[rec(a) for a in node.args])
            return cache[node]

        return rec(self.expr)


def make_activation(expr: str, mode: str) -> nn.Module:
    if mode == "old":
        return OldActivation(expr)
    if mode == "default":
        return ActivationFunction(expr)
    return ActivationFunction(expr, backward=mode)


def _alone(act: nn.Module, x: torch.Tensor, g: torch.Tensor):
    def run() -> None:
        xx = x.detach().requires_grad_(True)
        act(xx).backward(g)
    return run


def _step(expr: str, mode: str):
    model = create_model("mnist1d-cnn", lambda: make_activation(expr, mode), seed=0)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    gen = torch.Generator().manual_seed(0)
    xb, yb = torch.randn(64, 1, 40, generator=gen), torch.randint(0, 10, (64,), generator=gen)
    loss_fn = nn.CrossEntropyLoss()

    def run() -> None:
        opt.zero_grad(set_to_none=True)
        loss_fn(model(xb), yb).backward()
        opt.step()
    return run


def measure(modes: list[str], reps: int) -> dict[str, dict[str, dict[str, float]]]:
    """{function: {"alone"/"step": {mode: median ms}}}; modes interleaved per repetition."""
    torch.set_num_threads(1)
    gen = torch.Generator().manual_seed(0)
    x, g = torch.randn(64, 32, 40, generator=gen) * 3, torch.randn(64, 32, 40, generator=gen)
    out: dict[str, dict[str, dict[str, float]]] = {}
    for f in FUNCTIONS:
        out[f] = {}
        for kind, n in (("alone", reps * 4), ("step", reps)):
            runs = {m: (_alone(make_activation(f, m), x, g) if kind == "alone" else _step(f, m)) for m in modes}
            times: dict[str, list[float]] = {m: [] for m in modes}
            for m in modes:  # warm-up
                for _ in range(3):
                    runs[m]()
            for _ in range(n):
                for m in modes:
                    t = time.process_time()
                    runs[m]()
                    times[m].append(time.process_time() - t)
            out[f][kind] = {m: 1e3 * statistics.median(v) for m, v in times.items()}
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=60, help="train steps per mode (activation alone: 4x)")
    parser.add_argument("--main", default=None, help="checkout whose default ActivationFunction runs as 'main'")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--write-docs", action="store_true",
                        help="also rewrite the bench-activation block of docs/space.md with this run's table")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:  # inside --main's subprocess: only the installed package's default activation
        print(json.dumps(measure(["default"], args.reps)))
        return 0
    res = measure(MODES, args.reps)
    if args.main:
        env = {**os.environ, "PYTHONPATH": args.main, "OMP_NUM_THREADS": "1"}
        cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", "--reps", str(args.reps)]
        other = json.loads(subprocess.run(cmd, env=env, check=True, capture_output=True, text=True,
                                          cwd=args.main).stdout)
        for f in FUNCTIONS:
            for kind in ("alone", "step"):
                res[f][kind]["main"] = other[f][kind]["default"]
    if args.json:
        print(json.dumps(res, indent=1))
        return 0
    modes = list(next(iter(res.values()))["alone"])
    print(f"median CPU ms per call, 1 thread, {args.reps} steps ({4 * args.reps} activation calls) per mode; "
          "ratio = mode / old")
    for kind in ("alone", "step"):
        print(f"\n{kind}: " + ("activation forward+backward, x of shape (64, 32, 40)" if kind == "alone"
                                else "mnist1d-cnn train step at batch 64"))
        print(f"{'function':28s}" + "".join(f"{m:>18s}" for m in modes))
        for f in FUNCTIONS:
            row = res[f][kind]
            print(f"{f:28s}" + "".join(f"{row[m]:9.3f} ({row[m] / row['old']:4.2f}x)" for m in modes))
    if args.write_docs:
        _write_docs(res, modes, args.reps)
    return 0


DOC = ROOT / "docs" / "space.md"
START, END = "<!-- bench-activation:start -->", "<!-- bench-activation:end -->"


def _write_docs(res: dict, modes: list[str], reps: int) -> None:
    lines = [START, (f"Written by `python benchmarks/bench_activation.py --reps {reps} --write-docs` (median process "
             f"CPU ms per call, one thread, {os.cpu_count()}-core machine shared with other jobs; ratio to `old`)."), ""]
    for kind, title in (("alone", "activation forward + backward, input (64, 32, 40)"),
                        ("step", "mnist1d-cnn train step, batch 64")):
        lines += [f"| {title} | " + " | ".join(modes) + " |", "|---|" + "---|" * len(modes)]
        for f in FUNCTIONS:
            row = res[f][kind]
            lines.append(f"| `{f}` | " + " | ".join(f"{row[m]:.3f} ({row[m] / row['old']:.2f}×)" for m in modes)
                         + " |")
        lines.append("")
    lines[-1] = END
    text = DOC.read_text()
    current = text[text.index(START):text.index(END) + len(END)]
    DOC.write_text(text.replace(current, "\n".join(lines)))


if __name__ == "__main__":
    raise SystemExit(main())
