"""Build hook: the tables built in ``data/`` travel in the wheel as package data, ``act_bench/data/<table>/``.

Everything else is configured in ``pyproject.toml``. ``data/`` sits next to the packages (builds write there, docs
and recipes name it), so ``build_py`` copies each table folder into the built package, where
:func:`act_bench.tables.data_dirs` finds it after ``pip install``. A table folder is any folder of ``data/`` that
holds a ``metadata.json`` (build journals and other files are left out); its files are taken as they are, so a
rebuilt or newly built table is picked up without a change here.
"""

from __future__ import annotations

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

DATA = Path(__file__).resolve().parent / "data"


def table_files(data: Path = DATA) -> list[Path]:
    """The files of every table folder in ``data`` (relative to it), hidden and temporary files left out."""
    if not data.is_dir():
        return []
    files = []
    for table in sorted(p for p in data.iterdir() if p.is_dir() and (p / "metadata.json").is_file()):
        files += [f.relative_to(data) for f in sorted(table.rglob("*"))
                  if f.is_file() and not any(part.startswith(".") for part in f.relative_to(data).parts)]
    return files


class BuildPyWithTables(build_py):
    """``build_py`` that also copies the tables of ``data/`` into ``<build>/act_bench/data/``."""

    def run(self) -> None:
        super().run()
        for rel in table_files():
            dest = Path(self.build_lib, "act_bench", "data", rel)
            self.mkpath(str(dest.parent))
            self.copy_file(str(DATA / rel), str(dest))


setup(cmdclass={"build_py": BuildPyWithTables})
