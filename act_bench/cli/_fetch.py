"""``act-bench fetch NAME`` and ``act-bench cache info|clear``: the paper's published tables in the local cache."""

from __future__ import annotations

import argparse
import os
import sys

from act_bench.cli._common import IntRange, emit

# light constants only: the table machinery (pandas, pyarrow, torch for the import) loads when a command runs
_UPSTREAM_NAMES = ("act-bench-cnn", "act-bench-resnet", "act-bench-vit")
_CACHE_HELP = "cache folder (default: $ACT_BENCH_CACHE, else the user cache folder, e.g. ~/.cache/act-bench)"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("fetch", help="download one of the paper's tables (CNN, ResNet, ViT) into the cache",
                       description="Download the published Act-Bench JSON file NAME.json (default from "
                                   "https://act-bench.s3.us-west-2.amazonaws.com, the URLs of the upstream "
                                   "repository's download-datasets.sh), resuming an interrupted transfer, check its "
                                   "size and checksums, import it into the act-bench cache and record the source "
                                   "URL, size, SHA-256 and date in the table's metadata. Afterwards "
                                   "load_table(NAME) and 'act-bench table info --table NAME' find it. The files are under "
                                   "the Academic Public License (non-commercial use): the first fetch needs "
                                   "--accept-license or ACT_BENCH_ACCEPT_LICENSE=1.")
    p.add_argument("names", nargs="+", metavar="NAME", choices=_UPSTREAM_NAMES,
                   help=f"table to fetch: {', '.join(_UPSTREAM_NAMES)}")
    p.add_argument("--accept-license", action="store_true",
                   help="accept the Academic Public License of the files (recorded in the cache; needed once)")
    p.add_argument("--url", metavar="BASE", help="base URL holding the files under their published names "
                                                  "(default: $ACT_BENCH_UPSTREAM_URL, else the publisher's)")
    p.add_argument("--cache-dir", metavar="DIR", help=_CACHE_HELP)
    p.add_argument("--sha256", metavar="HEX", help="expected SHA-256 of the file (one NAME only; none is published)")
    p.add_argument("--force", action="store_true", help="download and import again even if the table is cached")
    p.add_argument("--keep-download", action="store_true",
                   help="keep the JSON file in <cache>/downloads after the import")
    p.add_argument("--retries", type=IntRange(0, 100), default=3, metavar="N",
                   help="resume attempts after a dropped connection (default: %(default)s)")
    p.add_argument("--json", action="store_true", help="print one JSON object per table on stdout")
    p.set_defaults(func=_fetch)

    cache = sub.add_parser("cache", help="the act-bench cache: info, clear",
                           description="The act-bench cache holds fetched tables, downloads and UMAP embeddings.")
    csub = cache.add_subparsers(dest="cache_command", metavar="SUBCOMMAND")
    csub.required = True
    p = csub.add_parser("info", help="list what the cache holds and its size",
                        description="List the fetched tables, downloads (partial ones included), UMAP embeddings "
                                    "and the licence record in the cache, with their sizes.")
    p.add_argument("--cache-dir", metavar="DIR", help=_CACHE_HELP)
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.set_defaults(func=_cache_info)
    p = csub.add_parser("clear", help="delete the cache's tables, downloads, embeddings and licence record",
                        description="Delete what 'cache info' lists (or only the UMAP embeddings), after listing it "
                                    "and asking y/N on a terminal (--yes: without asking; without a terminal --yes "
                                    "is needed). Only in a folder act-bench created (it holds act-bench's marker "
                                    "file .act-bench-cache; a folder without it is refused) and there only the "
                                    "entries act-bench writes: other files and symbolic links are left alone. "
                                    "Fetched tables must be fetched again afterwards.")
    p.add_argument("--cache-dir", metavar="DIR", help=_CACHE_HELP)
    p.add_argument("--embeddings", action="store_true",
                   help="delete only the UMAP embeddings (maps and their shared bases)")
    p.add_argument("--yes", action="store_true", help="delete without asking")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.set_defaults(func=_cache_clear)


def _fetch(args: argparse.Namespace) -> int:
    from act_bench.errors import InvalidInputError
    from act_bench.interop import ACCEPT_LICENSE_ENV, LICENSE_NOTICE, fetch_upstream, license_accepted

    names = list(dict.fromkeys(args.names))
    if args.sha256 and len(names) > 1:
        raise InvalidInputError(f"--sha256 pins one file; got {len(names)} names ({', '.join(names)})")
    accepting = args.accept_license or os.environ.get(ACCEPT_LICENSE_ENV, "").strip().lower() in ("1", "true", "yes")
    if accepting and not license_accepted(args.cache_dir):  # shown once, when it is accepted for this cache
        sys.stderr.write(LICENSE_NOTICE + "\n")
    for name in names:
        res = fetch_upstream(name, base_url=args.url, cache_dir=args.cache_dir, accept_license=args.accept_license,
                             sha256=args.sha256, force=args.force, keep_download=args.keep_download,
                             retries=args.retries)
        if res.already_cached:
            human = (f"{name}: already in the cache at {res.path} ({res.rows} functions, downloaded {res.date}); "
                     f"--force fetches it again")
        else:
            human = (f"{name}: {res.rows} functions imported into {res.path}\n  source: {res.url}\n"
                     f"  bytes: {res.bytes:,}  sha256: {res.sha256}\n  date: {res.date}"
                     + (f"\n  resumed at byte {res.resumed_from:,}" if res.resumed_from else ""))
        emit(res.to_dict(), args.json, human)
    return 0


def _entries_text(entries, verb: str, cache: str) -> str:
    if not entries:
        return f"{cache}: nothing {verb}"
    total = sum(e.bytes for e in entries)
    lines = [f"{verb} in {cache}:" if verb == "cached" else f"{verb} from {cache}:"]  # 'removed', 'to delete'
    lines += [f"  {e.kind:<16} {e.name:<28} {e.bytes:>15,} bytes  {e.path}" for e in entries]
    lines.append(f"  total {total:,} bytes")
    return "\n".join(lines)


def _cache_info(args: argparse.Namespace) -> int:
    from act_bench._cache import default_cache_dir
    from act_bench.interop import cache_info

    cache = str(args.cache_dir or default_cache_dir())
    entries = cache_info(cache)
    result = {"cache_dir": cache, "entries": [vars(e) for e in entries], "total_bytes": sum(e.bytes for e in entries)}
    emit(result, args.json, _entries_text(entries, "cached", cache))
    return 0


def _cache_clear(args: argparse.Namespace) -> int:
    from act_bench._cache import default_cache_dir
    from act_bench.errors import InvalidInputError
    from act_bench.interop import clear_cache

    cache = str(args.cache_dir or default_cache_dir())
    planned = clear_cache(cache, embeddings_only=args.embeddings, dry_run=True)   # refuses a folder not act-bench's
    if planned and not args.yes:
        total = sum(e.bytes for e in planned)
        if not (sys.stdin.isatty() and sys.stderr.isatty()):
            raise InvalidInputError(f"cache clear would delete {len(planned)} entr{'y' if len(planned) == 1 else 'ies'} "
                                    f"({total:,} bytes) from {cache!r}; there is no terminal to ask on: pass --yes "
                                    f"to delete them ('act-bench cache info' lists them)")
        sys.stderr.write(_entries_text(planned, "to delete", cache) + "\n")
        sys.stderr.write(f"Delete these {len(planned)} entr{'y' if len(planned) == 1 else 'ies'}? [y/N] ")
        sys.stderr.flush()
        if sys.stdin.readline().strip().lower() not in ("y", "yes"):
            sys.stderr.write("nothing deleted\n")
            return 1
    removed = clear_cache(cache, embeddings_only=args.embeddings) if planned else []
    result = {"cache_dir": cache, "removed": [vars(e) for e in removed], "total_bytes": sum(e.bytes for e in removed)}
    emit(result, args.json, _entries_text(removed, "removed", cache))
    return 0
