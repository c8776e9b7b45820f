"""Print the code version (``data_builders.build.code_version``) of a recipe for the source tree of a git commit.

The part definitions are this checkout's; the file contents are the commit's (read with ``git show``), so the result
is the digest the current digest function gives to the code of that commit. Used to record the code that built a
table before code versions were recorded (``data/act-bench-mnist1d``: commit 881f6f3).

Usage: python docs/scripts/code_digest_at_commit.py REF [--recipe act-bench-mnist1d] [--repo .]
"""

from __future__ import annotations

import argparse
import json
import subprocess

from data_builders.build import code_version
from data_builders.recipes import get_recipe


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("ref")
    parser.add_argument("--recipe", default="act-bench-mnist1d")
    parser.add_argument("--repo", default=".")
    args = parser.parse_args()

    def git(*cmd: str) -> bytes:
        return subprocess.run(["git", "-C", args.repo, *cmd], check=True, capture_output=True).stdout

    listing = git("ls-tree", "-r", "--name-only", args.ref).decode().splitlines()
    py = [p for p in listing if p.endswith(".py") and p.split("/", 1)[0] in ("act_bench", "data_builders")]
    pyproject = git("show", f"{args.ref}:pyproject.toml").decode()
    version = next(line.split("=", 1)[1].strip().strip('"') for line in pyproject.splitlines()
                   if line.startswith("version"))
    cv = code_version(get_recipe(args.recipe), read=lambda rel: git("show", f"{args.ref}:{rel}"), available=py,
                      version=version)
    commit = git("rev-parse", args.ref).decode().strip()
    print(json.dumps({"commit": commit, **cv.to_dict()}, indent=2))


if __name__ == "__main__":
    main()
