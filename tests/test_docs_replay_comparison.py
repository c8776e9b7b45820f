"""The replay-comparison blocks of docs/searchers.md and docs/fidelity.md are current.

Checked cheaply: the exact random-search order statistics are recomputed from the shipped table and compared with
the committed docs/data/replay_comparison.json, and both markdown blocks are re-rendered from that JSON and compared
with the docs. The simulated replays themselves (minutes of CPU) are not rerun here; they come from the JSON the
script wrote (rerun ``python docs/scripts/replay_comparison.py`` after changing a searcher or the table).
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _script():
    spec = importlib.util.spec_from_file_location("replay_comparison", ROOT / "docs" / "scripts" /
                                                  "replay_comparison.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_exact_values_match_the_shipped_table():
    script = _script()
    summary = json.loads(script.JSON_PATH.read_text())
    assert script.exact_block(summary) == summary["exact_random"]


def test_docs_blocks_are_rendered_from_the_committed_json():
    script = _script()
    block = script.markdown(json.loads(script.JSON_PATH.read_text()))
    for path in script.DOCS.values():
        assert script.rewrite(path, block) == path.read_text(encoding="utf-8"), f"{path} is stale"
    assert script.main(["--check"]) == 0
