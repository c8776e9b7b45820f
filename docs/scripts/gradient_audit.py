"""Gradient audit of the three-node space: functions whose gradient is non-finite where their output is finite.

For every graph of ``binary(unary(x),unary(x))`` (5,103) the gradient ``f'(x)`` is taken on a wide float32 input
batch (``linspace(-1e4, 1e4, 4001)``, the overflow boundaries of float32 ``exp``/``expm1``/``sinh``/``cosh``, tiny
values, ±0 and the 1,000 standard inputs), and a function is counted when at some input its output is finite and its
gradient is not (NaN, or ±inf). "Before" is plain torch autograd through the operators as they were before the
gradient-safe operators (the frozen copy ``tests/_frozen_forward.py``); "after" is each of today's gradient paths.

Run ``python docs/scripts/gradient_audit.py`` to rewrite the block between ``<!-- gradient-audit:start -->`` and
``<!-- gradient-audit:end -->`` in ``docs/space.md``; ``--check`` exits 1 if the block is stale instead.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from act_bench.space import (
    PAPER_THREE_NODE_SCHEMA,
    ActivationFunction,
    BackwardMode,
    Expr,
    enumerate_schema,
    standard_inputs,
)

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "space.md"
START, END = "<!-- gradient-audit:start -->", "<!-- gradient-audit:end -->"
sys.path.insert(0, str(ROOT / "tests"))
import _frozen_forward as old
from _gradient_reference import F32_MAX, reference

#: Overflow boundaries of float32 exp (88.72), sinh/cosh (89.42), the subnormal end of exp (-103.97), softplus's
#: thresholds (±13.94, ±15.94), tiny values and signed zeros.
EDGES = [0.0, -0.0, 1e-45, -1e-45, 1e-38, -1e-38, 1e-30, -1e-30, 1e-7, -1e-7, 13.94, -13.94, 15.942385, -15.942385,
         88.7, -88.7, 88.72284, -88.72284, 89.41599, -89.41599, 100.0, -100.0, 103.0, -103.0, 103.97208, -103.97208]


def wide_inputs() -> tuple[torch.Tensor, torch.Tensor]:
    """The audit's float32 inputs (5,027 values) and a mask of the plain batch (linspace and standard inputs)."""
    lin = torch.linspace(-1e4, 1e4, 4001, dtype=torch.float32)
    std = torch.from_numpy(standard_inputs().copy())
    x = torch.cat([lin, std, torch.tensor(EDGES, dtype=torch.float32)])
    plain = torch.zeros(x.numel(), dtype=torch.bool)
    plain[:lin.numel() + std.numel()] = True
    return x, plain


def _old_evaluate(expr: Expr, x: torch.Tensor) -> torch.Tensor:
    if expr.is_input:
        return x
    return old.get_operator(expr.op).fn(*[_old_evaluate(a, x) for a in expr.args])


def gradient(expr: Expr, x: torch.Tensor, path: str) -> tuple[torch.Tensor, torch.Tensor]:
    """``(f(x), f'(x))`` by ``path``: "old" (autograd through the frozen old operators) or a :class:`BackwardMode`."""
    x = x.clone().requires_grad_(True)
    y = _old_evaluate(expr, x) if path == "old" else ActivationFunction(expr, backward=path)(x)
    if not y.requires_grad:  # e.g. add(zero(x),one(x)) under the old operators: a constant, gradient 0
        return y.detach(), torch.zeros_like(x)
    (g,) = torch.autograd.grad(y.sum(), x, allow_unused=True)
    return y.detach(), torch.zeros_like(x) if g is None else g


@dataclass
class PathCount:
    """Functions of the space with a finite output and a non-finite gradient at some input, on one input batch."""

    path: str
    batch: str
    nan: list[str] = field(default_factory=list)
    non_finite: list[str] = field(default_factory=list)
    defect: list[str] = field(default_factory=list)


def audit() -> tuple[int, int, int, list[PathCount]]:
    """(graphs, inputs of the plain batch, inputs with the edges, a :class:`PathCount` per path and batch).

    ``defect`` lists the functions with a non-finite gradient at an input where the float64 reference says every
    quantity of the chain rule is representable in float32 (``tests/_gradient_reference.py``); the others overflow
    only where no float32 computation can hold the derivative (``reciprocal`` at 1e-38: ``-1/x^2 = -1e76``).
    """
    x, plain = wide_inputs()
    exprs = list(enumerate_schema(PAPER_THREE_NODE_SCHEMA))
    counts = [PathCount(p, b) for p in ["old", *[m.value for m in BackwardMode]] for b in ("plain", "edges")]
    for e in exprs:
        for c in counts[::2]:
            y, g = gradient(e, x, c.path)
            bad = torch.isfinite(y) & ~torch.isfinite(g)
            if not bool(bad.any()):
                continue
            ref = reference(e, x[bad])
            defect = torch.zeros_like(bad)
            defect[bad] = torch.isfinite(ref.g64) & (ref.k <= F32_MAX)
            for count, where in ((c, plain), (counts[counts.index(c) + 1], torch.ones_like(plain))):
                if bool((bad & where).any()):
                    count.non_finite.append(str(e))
                    if bool((bad & where & torch.isnan(g)).any()):
                        count.nan.append(str(e))
                    if bool((defect & where).any()):
                        count.defect.append(str(e))
    return len(exprs), int(plain.sum()), int(x.numel()), counts


_LABEL = {"old": "before: torch autograd through the old operators",
          "fused": "after: `ActivationFunction` (default `backward=\"fused\"`)",
          "recompute": "after: `backward=\"recompute\"`",
          "autograd": "after: `backward=\"autograd\"` / `evaluate`"}


def render(n_graphs: int, n_plain: int, n_all: int, counts: list[PathCount]) -> str:
    lines = [START,
             (f"Written by `docs/scripts/gradient_audit.py`: the {n_graphs:,} graphs of `binary(unary(x),unary(x))`. "
              f"Plain batch: {n_plain:,} float32 inputs, `linspace(-1e4, 1e4, 4001)` and the standard inputs; with "
              f"edges: {n_all:,}, adding the float32 overflow boundaries of `exp`/`sinh`/`cosh` (±88.72, ±89.42), "
              "the end of `exp`'s subnormal range (±103.97), tiny values (±1e-45, ±1e-38, ±1e-30, ±1e-7) and ±0. A "
              "function counts when at some input its output is finite and its gradient is not; a *defect* is such "
              "an input where float32 can represent every quantity of the chain rule."),
             "",
             "| gradient path | batch | NaN gradient | NaN or ±inf gradient | defects |",
             "|---|---|---|---|---|"]
    for c in counts:
        lines.append(f"| {_LABEL[c.path]} | {c.batch} | {len(c.nan):,} | {len(c.non_finite):,} | "
                     f"{len(c.defect):,} |")
    old_defects = set(counts[1].defect)
    diverged = ["add(selu(x),square(x))", "sub(softplus(x),selu(x))"]
    lines += ["", "Examples, before → after (fused): " + "; ".join(
        f"`{d}` {'defect' if d in old_defects else 'ok'} → "
        f"{'defect' if d in counts[3].defect else 'ok'}" for d in diverged) + "."]
    lines.append(END)
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the block in docs/space.md is stale")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    block = render(*audit())
    text = DOC.read_text()
    if START not in text or END not in text:
        print(f"docs/space.md has no {START} ... {END} block", file=sys.stderr)
        return 2
    current = text[text.index(START):text.index(END) + len(END)]
    if args.check:
        if current != block:
            print("docs/space.md gradient-audit block is stale; run python docs/scripts/gradient_audit.py",
                  file=sys.stderr)
            return 1
        return 0
    DOC.write_text(text.replace(current, block))
    print(block)
    return 0


if __name__ == "__main__":
    np.seterr(all="ignore")
    raise SystemExit(main())
