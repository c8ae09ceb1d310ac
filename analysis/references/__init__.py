"""Published numbers of the five papers, as data: one long-format CSV per paper plus hyper-parameters.

Why CSV and a checking loader: the notebooks put every reproduced number next to the paper's, so the
paper's numbers must be machine-readable, typed, and free of silent typos. Every row of
``<paper>.csv`` is one printed number::

    paper, table, dataset, detector, method, noise, rate, metric, value,
    teacher, student_backbone, teacher_backbone, schedule, epochs, setting, note

Conventions (README.md in this folder has the table-by-table account):

* ``value`` is the number exactly as printed (a delta such as ``(+1.9)`` after it is dropped, and
  thousands separators are removed). COCO-style metrics (AP, AP50, AP75, APs, APm, APl) are in AP
  points as printed (42.3, not 0.423); the one exception, ELDET's Oxford Pets table, prints
  fractions and says so in ``note``.
* ``noise`` is one of clean/cls/loc/combined/missing or empty (paper does not study label noise, or
  does not say); ``rate`` is a fraction (0.4, not 40 %) or empty.
* ``dataset``, ``detector``, ``method`` use the suite's ids where one exists (voc, coco, vindr, pets;
  retinanet, fcos, faster_rcnn, gfl, deformable_detr, dino; baseline, orsod, adele, eldet, bckd,
  sssd, dn_detr, od_detr); ``method = teacher`` marks a row reporting a distillation teacher itself.
  ``student_backbone`` is the backbone of the model whose number the row reports.
* Every column except ``value`` and ``note`` is part of the row's key; a key appears once.

``hyperparameters.csv`` (paper, method, name, value, source) records stated hyper-parameters as
text, with ``not stated`` where a paper names a parameter without its value.
"""

from __future__ import annotations

import csv
import math
import re
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from benchmarks.errors import InputError

REFERENCES_DIR = Path(__file__).resolve().parent

PAPERS = ("eldet", "bckd", "od_detr", "sssd", "dn_detr")

COLUMNS = (
    "paper",
    "table",
    "dataset",
    "detector",
    "method",
    "noise",
    "rate",
    "metric",
    "value",
    "teacher",
    "student_backbone",
    "teacher_backbone",
    "schedule",
    "epochs",
    "setting",
    "note",
)
KEY_COLUMNS = tuple(c for c in COLUMNS if c not in ("value", "note"))
TEXT_COLUMNS = tuple(c for c in COLUMNS if c not in ("rate", "value", "epochs"))
HYPERPARAMETER_COLUMNS = ("paper", "method", "name", "value", "source")

NOISE_TYPES = frozenset({"clean", "cls", "loc", "combined", "missing", ""})
DATASETS = frozenset({"voc", "coco", "vindr", "pets", ""})

#: Metric vocabulary. AP-style metrics are in AP points; the rest carry their unit in the name.
METRICS = frozenset(
    {
        # COCO box AP family, in AP points as printed
        "AP",
        "AP50",
        "AP75",
        "APs",
        "APm",
        "APl",
        "AP_cond",  # DN-DETR: AP on unknown classes evaluated with the known objects given
        # differences and counts stated in text (AP points / cases)
        "AP_gain",  # method minus baseline
        "AP_gain_vs_clean",  # same method, noisy minus clean
        "AP_drop",  # clean minus noisy
        "positive_cases",
        # TIDE error contributions (AP points)
        "dAP_Cls",
        "dAP_Loc",
        "dAP_Both",
        "dAP_Dupe",
        "dAP_Bkg",
        "dAP_Miss",
        # training dynamics and cost
        "epoch",
        "epochs_to_40AP",
        "hours",
        "train_minutes",
        "minutes_per_epoch",
        "memory_gb",
        "memory_mb",
        "params_m",
        "gflops",
        "train_gflops",
        "fps",
    }
)

_ID = re.compile(r"^[a-z0-9_+.]*$")
_ID_COLUMNS = ("dataset", "detector", "method", "teacher", "student_backbone", "teacher_backbone", "schedule")
_REQUIRED = ("paper", "table", "metric", "value")


def _rows(path: Path, header: tuple[str, ...]) -> Iterable[tuple[int, dict[str, str]]]:
    """Yield (line number, row dict) for a CSV whose header must equal ``header`` exactly."""
    if not path.is_file():
        raise InputError("reference file not found", path=path)
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh)
        try:
            found = next(reader)
        except StopIteration:
            raise InputError("empty file (expected a header line)", path=path) from None
        if tuple(found) != header:
            raise InputError(f"header is {found}, expected {list(header)}", path=path, where="line 1")
        for cells in reader:
            line = reader.line_num
            if not cells:
                continue
            if len(cells) != len(header):
                raise InputError(f"{len(cells)} fields, expected {len(header)}", path=path, where=f"line {line}")
            yield line, dict(zip(header, cells, strict=True))


def _check_row(path: Path, line: int, row: dict[str, str]) -> dict[str, object]:
    """Type-check one reference row and return it with rate/value/epochs parsed."""
    where = f"line {line}"
    for col in _REQUIRED:
        if not row[col].strip():
            raise InputError(f"empty '{col}'", path=path, where=where)
    if row["paper"] != path.stem:
        raise InputError(f"paper '{row['paper']}' does not match the file name '{path.stem}'", path=path, where=where)
    for col in _ID_COLUMNS:
        if not _ID.match(row[col]):
            raise InputError(f"{col} '{row[col]}' is not an id (lower case, digits, _ + .)", path=path, where=where)
    if row["noise"] not in NOISE_TYPES:
        raise InputError(f"noise '{row['noise']}' not in {sorted(NOISE_TYPES)}", path=path, where=where)
    if row["dataset"] not in DATASETS:
        raise InputError(f"dataset '{row['dataset']}' not in {sorted(DATASETS)}", path=path, where=where)
    if row["metric"] not in METRICS:
        raise InputError(f"unknown metric '{row['metric']}'", path=path, where=where)
    out: dict[str, object] = {c: row[c] for c in TEXT_COLUMNS}
    try:
        value = float(row["value"])
    except ValueError:
        raise InputError(f"value '{row['value']}' is not a number", path=path, where=where) from None
    if not math.isfinite(value):
        raise InputError(f"value '{row['value']}' is not finite", path=path, where=where)
    out["value"] = value
    rate = math.nan
    if row["rate"].strip():
        try:
            rate = float(row["rate"])
        except ValueError:
            raise InputError(f"rate '{row['rate']}' is not a number", path=path, where=where) from None
        if not 0.0 <= rate <= 1.0:
            raise InputError(f"rate {rate} is not a fraction in [0, 1] (write 0.4, not 40)", path=path, where=where)
    if row["noise"] == "clean" and not (math.isnan(rate) or rate == 0.0):
        raise InputError(f"clean rows have rate 0 or empty, got {rate}", path=path, where=where)
    out["rate"] = rate
    epochs = pd.NA
    if row["epochs"].strip():
        if not re.fullmatch(r"\d+", row["epochs"].strip()):
            raise InputError(f"epochs '{row['epochs']}' is not a whole number", path=path, where=where)
        epochs = int(row["epochs"])
    out["epochs"] = epochs
    return out


def _read_paper(path: Path) -> pd.DataFrame:
    records: list[dict[str, object]] = []
    seen: dict[tuple, int] = {}
    for line, row in _rows(path, COLUMNS):
        rec = _check_row(path, line, row)
        key = tuple(row[c] for c in KEY_COLUMNS)
        if key in seen:
            raise InputError(
                f"duplicate key (same as line {seen[key]}): {dict(zip(KEY_COLUMNS, key, strict=True))}",
                path=path,
                where=f"line {line}",
            )
        seen[key] = line
        records.append(rec)
    return pd.DataFrame.from_records(records, columns=list(COLUMNS))


def _typed(df: pd.DataFrame) -> pd.DataFrame:
    df = df.astype({c: "string" for c in TEXT_COLUMNS})
    df["rate"] = df["rate"].astype("float64")
    df["value"] = df["value"].astype("float64")
    df["epochs"] = df["epochs"].astype("Int64")
    return df.reset_index(drop=True)


def _papers(paper: str | Iterable[str] | None) -> list[str]:
    if paper is None:
        return list(PAPERS)
    names = [paper] if isinstance(paper, str) else list(paper)
    for name in names:
        if name not in PAPERS:
            raise InputError(f"unknown paper '{name}'; known: {', '.join(PAPERS)}")
    return names


def load_references(paper: str | Iterable[str] | None = None, *, root: str | Path | None = None) -> pd.DataFrame:
    """Published numbers of one paper (or several, or all) as a typed long-format DataFrame.

    Text columns are pandas ``string`` (empty string where not applicable), ``rate`` and ``value``
    are float64 (``rate`` NaN where not applicable), ``epochs`` is nullable Int64. A malformed row
    raises :class:`~benchmarks.errors.InputError` naming the file and line.
    """
    base = Path(root) if root is not None else REFERENCES_DIR
    frames = [_read_paper(base / f"{name}.csv") for name in _papers(paper)]
    return _typed(pd.concat(frames, ignore_index=True))


def load_hyperparameters(paper: str | Iterable[str] | None = None, *, root: str | Path | None = None) -> pd.DataFrame:
    """Stated hyper-parameters (paper, method, name, value, source), all text; ``value`` as printed."""
    base = Path(root) if root is not None else REFERENCES_DIR
    path = base / "hyperparameters.csv"
    wanted = set(_papers(paper))
    records, seen = [], {}
    for line, row in _rows(path, HYPERPARAMETER_COLUMNS):
        where = f"line {line}"
        for col in ("paper", "name", "value", "source"):
            if not row[col].strip():
                raise InputError(f"empty '{col}'", path=path, where=where)
        if row["paper"] not in PAPERS:
            raise InputError(f"unknown paper '{row['paper']}'", path=path, where=where)
        key = (row["paper"], row["method"], row["name"])
        if key in seen:
            raise InputError(f"duplicate hyper-parameter {key} (same as line {seen[key]})", path=path, where=where)
        seen[key] = line
        if row["paper"] in wanted:
            records.append(row)
    return pd.DataFrame.from_records(records, columns=list(HYPERPARAMETER_COLUMNS)).astype("string")


def lookup(df: pd.DataFrame, **criteria: object) -> float:
    """The single ``value`` matching ``criteria`` (column=value; unspecified text columns are free).

    Raises ``KeyError`` when nothing or more than one row matches, so a comparison never silently
    picks the wrong published number.
    """
    return float(lookup_row(df, **criteria)["value"])


def lookup_row(df: pd.DataFrame, **criteria: object) -> dict:
    """The single reference row matching ``criteria`` as a dict (the rules of :func:`lookup`)."""
    mask = pd.Series(True, index=df.index)
    for col, want in criteria.items():
        if col not in df.columns:
            raise KeyError(f"no column '{col}'")
        if col in ("rate", "epochs") and want is None:
            mask &= df[col].isna()
        elif col == "rate":
            mask &= (df[col] - float(want)).abs() < 1e-9
        elif col == "epochs":
            mask &= df[col] == int(want)
        else:
            mask &= df[col] == ("" if want is None else want)
    hits = df[mask.fillna(False)]
    if len(hits) != 1:
        raise KeyError(f"{len(hits)} rows match {criteria}")
    return hits.iloc[0].to_dict()


__all__ = [
    "COLUMNS",
    "HYPERPARAMETER_COLUMNS",
    "KEY_COLUMNS",
    "METRICS",
    "NOISE_TYPES",
    "PAPERS",
    "REFERENCES_DIR",
    "load_hyperparameters",
    "load_references",
    "lookup",
    "lookup_row",
]
