"""The ``act-bench`` command line. Each area registers its subcommands from a private module ``_<area>.py``."""

from __future__ import annotations

from act_bench.cli._main import build_parser, main
from act_bench.cli._options import VOCABULARY

__all__ = ["VOCABULARY", "build_parser", "main"]
