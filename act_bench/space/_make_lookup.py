"""Write ``act_bench/space/data/default_space.json`` from the real enumeration (torch).

Usage: ``python -m act_bench.space._make_lookup`` (rewrites the file) or ``... --check`` (exit 1 if it is stale).
"""

from __future__ import annotations

import argparse
import json
import sys

from act_bench.space._enumerate import BASELINE_FUNCTIONS, equivalence_classes
from act_bench.space._lookup import DEFAULT_SPACE_FILE, DEFAULT_SPACE_SCHEMA, summarize_outputs

__all__ = ["render_default_space"]

_DESCRIPTION = ("equivalence classes of the default space (the schema plus the baselines) under both equality rules; "
                "summaries (finite, min, max of the float32 outputs on the standard inputs) per signed_zero=true "
                "class. Written by python -m act_bench.space._make_lookup")


def render_default_space() -> str:
    """The text of the lookup file: one JSON document, one class per line, deterministic."""
    classes = {sz: equivalence_classes(BASELINE_FUNCTIONS, schemas=[DEFAULT_SPACE_SCHEMA], signed_zero=sz)
               for sz in (False, True)}
    summaries = [summarize_outputs(row) for row in classes[True].outputs]
    lines = ["{", f'"description": {json.dumps(_DESCRIPTION)},',
             f'"schema": {json.dumps(DEFAULT_SPACE_SCHEMA)},',
             f'"baselines": {json.dumps(list(BASELINE_FUNCTIONS))},',
             '"classes": {']
    for k, sz in enumerate((False, True)):
        lines.append(f'"signed_zero={str(sz).lower()}": [')
        eq = classes[sz].equivalents
        lines.extend(json.dumps(m) + ("," if i < len(eq) - 1 else "") for i, m in enumerate(eq))
        lines.append("]," if k == 0 else "]")
    lines.append("},")
    lines.append('"summaries": [')
    lines.extend(json.dumps([s.finite, s.min, s.max]) + ("," if i < len(summaries) - 1 else "")
                 for i, s in enumerate(summaries))
    lines.extend(["]", "}"])
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the shipped file differs from a rebuild")
    args = parser.parse_args(argv)
    text = render_default_space()
    if args.check:
        same = DEFAULT_SPACE_FILE.read_text(encoding="utf-8") == text
        print(f"{DEFAULT_SPACE_FILE}: {'up to date' if same else 'STALE'}")
        return 0 if same else 1
    DEFAULT_SPACE_FILE.parent.mkdir(exist_ok=True)
    DEFAULT_SPACE_FILE.write_text(text, encoding="utf-8")
    print(f"wrote {DEFAULT_SPACE_FILE} ({len(text):,} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
