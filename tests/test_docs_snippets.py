"""Every Python snippet of the docs runs as written.

A page's ``python`` blocks run in order as one session (a later block may use an earlier block's names), in a fresh
folder holding a copy of ``tests/data/tiny-table`` at the path the docs use, with the act-bench cache in that folder.
A page whose code is a script (it has an ``if __name__ == "__main__":`` guard, as a live search with worker processes
needs) runs as a file, the way its reader runs it; the others run as ``python -c CODE``, like code typed into an
interactive session (the main module has no file, so a process pool's workers do not run it again and need no
guard).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BLOCK = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)
PAGES = sorted(p for p in (ROOT / "docs").glob("*.md") if BLOCK.search(p.read_text(encoding="utf-8")))


def test_the_pages_with_snippets_are_the_expected_ones():
    """A page that gains or loses Python snippets is noticed (and then run by the test below)."""
    assert [p.name for p in PAGES] == ["features.md", "live.md", "recipes.md", "searchers.md", "tables.md"]


@pytest.mark.parametrize("page", PAGES, ids=[p.stem for p in PAGES])
def test_every_snippet_of_the_page_runs(page, tmp_path):
    code = "\n".join(BLOCK.findall(page.read_text(encoding="utf-8")))
    shutil.copytree(ROOT / "tests" / "data" / "tiny-table", tmp_path / "tests" / "data" / "tiny-table")
    env = dict(os.environ, ACT_BENCH_CACHE=str(tmp_path / "cache"), MPLBACKEND="Agg")
    if 'if __name__ == "__main__":' in code:
        script = tmp_path / f"{page.stem}_snippet.py"
        script.write_text(code, encoding="utf-8")
        proc = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True,
                              timeout=900, check=False)
    else:
        proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
                              timeout=900, check=False)
    assert proc.returncode == 0, f"{page.name}:\n{proc.stderr[-4000:]}"
    if page.name == "live.md":   # the scripts did what they say: tables of the 10 and 12 functions they trained
        import act_bench

        first, first_rows, evaluated, best = proc.stdout.split()[:4]
        assert (first, first_rows) == ("10", "10"), proc.stdout
        table = act_bench.load_table(tmp_path / "my-table")
        assert evaluated == "12" and len(table.functions) == 12, proc.stdout
        assert best == table.info()["best"]["function"]   # the summary and the table name the same best
