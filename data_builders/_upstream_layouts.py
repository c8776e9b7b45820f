"""Write ``act_bench/tables/data/upstream_layouts.json``: the FIM layer layouts of the three published models.

``act_bench.tables`` (a library floor) checks the CDF length of an upstream Act-Bench file against the layout of the
model that produced it; the layouts come from the models in ``data_builders.models`` (10 classes, as all three
published datasets), which the floor must not import, so they are shipped as data written by this script.

Usage: ``python -m data_builders._upstream_layouts`` (rewrites the file) or ``... --check`` (exit 1 if it is stale).
"""

from __future__ import annotations

import argparse
import json
import sys

from act_bench.features import fim_layout
from act_bench.tables import UPSTREAM_LAYOUTS_FILE, UPSTREAM_MODELS, normalize_layout
from data_builders.models import create_model

__all__ = ["render_upstream_layouts"]

_NUM_CLASSES = 10  # CIFAR-10 and Imagenette


def render_upstream_layouts() -> str:
    """The text of the layout file: one JSON document, one layer per line, deterministic."""
    description = ("FIM layers (module order) and their weight counts of the models of the published Act-Bench "
                   "datasets, 10 classes. Written by python -m data_builders._upstream_layouts")
    lines = ["{", f'"description": {json.dumps(description)},', '"models": {']
    for k, model in enumerate(UPSTREAM_MODELS):
        layers = normalize_layout(fim_layout(create_model(model, "relu(x)", num_classes=_NUM_CLASSES)))
        lines.append(f"{json.dumps(model)}: [")
        lines.extend(json.dumps(e) + ("," if i < len(layers) - 1 else "") for i, e in enumerate(layers))
        lines.append("]," if k < len(UPSTREAM_MODELS) - 1 else "]")
    lines.extend(["}", "}"])
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the shipped file differs from a rebuild")
    args = parser.parse_args(argv)
    text = render_upstream_layouts()
    if args.check:
        same = UPSTREAM_LAYOUTS_FILE.read_text(encoding="utf-8") == text
        print(f"{UPSTREAM_LAYOUTS_FILE}: {'up to date' if same else 'STALE'}")
        return 0 if same else 1
    UPSTREAM_LAYOUTS_FILE.parent.mkdir(exist_ok=True)
    UPSTREAM_LAYOUTS_FILE.write_text(text, encoding="utf-8")
    print(f"wrote {UPSTREAM_LAYOUTS_FILE} ({len(text):,} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
