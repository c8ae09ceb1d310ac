"""Convert a real dataset into the suite's dataset directory (COCO JSON + symlinked images).

    python -m benchmarks.data.convert voc   --src data/VOCdevkit  --out results/default/data/voc/clean
    python -m benchmarks.data.convert coco  --src data/coco       --out DIR
    python -m benchmarks.data.convert vindr --src data/vindr-cxr  --out DIR [--readers fuse --fuse-iou 0.5]
    python -m benchmarks.data.convert pets  --src data/oxford-iiit-pet --out DIR [--split trainval]

One module per format in ``benchmarks/data/converters/`` reads the source and returns the train
and val COCO dicts; this module owns the command line and the output contract (see
``benchmarks/data/converters/__init__.py``): the directory is built in a temporary sibling and
renamed into place only when everything has been read, validated and written, so a bad source
(missing file, malformed XML/CSV, box outside its image, unknown class) leaves no ``DIR`` and the
command exits with status 2 and an ``error:`` line naming the file and the line or record.
Every format option takes a value (no bare flags), so grid ``options`` map onto it one to one.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from benchmarks.data.converters import (
    check_src_out,
    coco,
    command_line,
    log,
    pets,
    setup_logging,
    staged_dir,
    vindr,
    voc,
    write_dataset,
)
from benchmarks.errors import run_cli

FORMATS = {"voc": voc, "coco": coco, "vindr": vindr, "pets": pets}


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Show defaults and keep the converters' docstrings (their conventions) laid out as written."""


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.data.convert",
        description=(
            "Convert a real dataset into DIR/{train,val}.json + DIR/images/ (symlinks to the source images) "
            "+ DIR/dataset.json. `python -m benchmarks.data.convert FORMAT --help` lists a format's options; "
            "the converters' module docstrings document every convention."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    sub = p.add_subparsers(dest="format", required=True, metavar="FORMAT", help="one of: " + ", ".join(FORMATS))
    for name, module in FORMATS.items():
        sp = sub.add_parser(
            name,
            help=module.HELP,
            description=module.__doc__,
            formatter_class=_HelpFormatter,
        )
        sp.add_argument("--src", type=Path, required=True, help="root of the source dataset (layout above)")
        sp.add_argument("--out", type=Path, required=True, help="dataset directory to create (must not exist)")
        sp.add_argument(
            "--force",
            action="store_true",
            help="replace an existing --out directory that this suite wrote (never the source, nor a directory "
            "without the suite's marker file)",
        )
        sp.add_argument("--name", default=None, help="dataset name recorded in dataset.json (None: the format's name)")
        module.add_arguments(sp)
    return p


def convert(fmt: str, args: argparse.Namespace, argv: Sequence[str]) -> dict:
    """Run one converter into ``args.out`` atomically; return the dataset.json contents.

    ``argv`` is the command line that parsed into ``args`` (recorded in dataset.json).
    """
    module = FORMATS[fmt]
    params = {k: (str(v) if isinstance(v, Path) else v) for k, v in sorted(vars(args).items()) if k != "format"}
    t0 = time.perf_counter()
    check_src_out(args.src, args.out)
    with staged_dir(args.out, force=args.force) as stage:
        log.info("converting %s from %s", fmt, args.src)
        train, val, extra = module.convert(Path(args.src), stage, args)
        meta = {
            "name": args.name or fmt,
            "source": fmt,
            "src": str(Path(args.src).resolve()),
            "command": command_line("benchmarks.data.convert", argv),
            "parameters": params,
            **extra,
        }
        meta = write_dataset(stage, train, val, meta)
    log.info("wrote %s in %.1f s", args.out, time.perf_counter() - t0)
    return meta


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = _parser().parse_args(argv)
    setup_logging()
    convert(args.format, args, argv)
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
