"""Write ``act_bench/interop/data/upstream_layouts.json``: the FIM layer layout (``layer``, ``weights``) of each model of
the upstream Act-Bench tables, measured on ``data_builders.models`` (10 classes, as all three published datasets).

The upstream import reads this file, so the tables layer never imports the model code (the layout is injected as
data). Run ``python docs/scripts/upstream_layouts.py`` after changing one of these models; ``--check`` exits 1 when
the file is stale (``tests/test_tables_upstream.py`` checks it too).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from act_bench.features import fim_layout
from act_bench.interop import UPSTREAM_MODELS
from data_builders.models import create_model

TARGET = REPO / "act_bench" / "interop" / "data" / "upstream_layouts.json"


def layouts() -> dict[str, list[dict[str, object]]]:
    out = {}
    for model in UPSTREAM_MODELS:
        layout = fim_layout(create_model(model, "relu(x)", num_classes=10))
        out[model] = [{"layer": r.layer, "weights": r.weights} for r in layout.rows]
    return out


def text() -> str:
    return json.dumps(layouts(), indent=1) + "\n"


if __name__ == "__main__":
    fresh = text()
    if "--check" in sys.argv[1:]:
        sys.exit(0 if TARGET.exists() and TARGET.read_text() == fresh else 1)
    TARGET.write_text(fresh)
    print(f"wrote {TARGET}")
