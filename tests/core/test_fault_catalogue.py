"""The fault catalogue: bad inputs a hostile user could give, one row each, and what synthlift must do with them.

Every row is a `Fault`: a data file, image folder, config value or sweep folder that is wrong in one way. A job
given it must stop with a message that names the file, row, column or config key at fault (a regex per row);
leave a `results.json` in its folder with `"status": "failed"` and that message (a bad input, so no
traceback); and leave nothing else there but its `.job.lock`: no synthetic set, plot, curve or half-written
`*.tmp`. What was already in the folder (a resumed sweep) is rerun over, or, when it is another config's
finished result, archived into `stale-*/` with its artefacts, never overwritten. The report must count a
record it cannot read as a failed run, and exit non-zero, naming the folder, when it finds nothing to report.

Four families, about evenly: text data files, image data, configs, sweep folders and their records. Jobs run
in-process (`synthlift.run.execute` on a composed config, in well under a second each); only the report's
exit status goes through its CLI.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from synthlift.core.results import JOB_LOCK, RESULTS_FILE, STALE_PREFIX, STALE_RESULTS
from synthlift.run import execute
from tests.core.test_configs import TINY_IMAGE
from tests.core.test_run_records import strict_json
from tests.text.test_run_text import run_cli

# What every job of a root runs with: a seconds-long run, were its input good.
BASE_OVERRIDES = {"text": ("experiment=text/smoke", "logger=none", "plots=false"), "image": tuple(TINY_IMAGE)}
REPORT_OUTPUTS = ("report.md", "report.csv", "forest.png")  # what the report itself writes in the sweep folder


@dataclass(frozen=True)
class Fault:
    """One bad input. `root` "text" or "image" runs a job of that track with `overrides` on top of its tiny
    base; "report" runs `python -m synthlift.report` with `overrides` as its arguments. In both, `{data}` is
    the folder `files` are written to (relative path -> content) before the run."""

    id: str
    root: str
    overrides: tuple[str, ...]
    message: str  # a regex the error message must match (for the report: its stderr and report.md)
    files: Mapping[str, bytes] = field(default_factory=dict)
    run_dir_files: Mapping[str, bytes] = field(default_factory=dict)  # in the job's folder when it starts
    archived: tuple[str, ...] = ()  # of `run_dir_files`, those a rerun must move into one stale-*/ folder
    exit_code: int = 1  # the report's exit status


def csv(*rows: str) -> bytes:
    return "".join(f"{row}\n" for row in rows).encode()


def png(pixels: np.ndarray) -> bytes:
    """A PNG of a (H, W, 3) RGB or (H, W) single-channel uint8 array."""
    buffer = io.BytesIO()
    Image.fromarray(pixels.astype(np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def npz(**arrays: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def parquet(frame: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.to_parquet(buffer)
    return buffer.getvalue()


def image_folder(count: int, **replaced: bytes | None) -> dict[str, bytes]:
    """`count` valid 8x8 image/mask pairs (`images/<i>.png`, `masks/<i>.png`), with the files named in
    `replaced` swapped for its content, or removed where it is None (keys as `masks_1` for masks/1.png)."""
    rng = np.random.default_rng(0)
    files = {}
    for i in range(count):
        files[f"images/{i}.png"] = png(rng.integers(0, 256, (8, 8, 3)))
        files[f"masks/{i}.png"] = png(rng.integers(0, 2, (8, 8)))
    for key, content in replaced.items():
        path = key.replace("_", "/", 1) + ".png"
        if content is None:
            del files[path]
        else:
            files[path] = content
    return files


def labeled_arrays(count: int, **replaced: np.ndarray) -> dict[str, np.ndarray]:
    """The arrays of a valid image-folder .npz of `count` 8x8 images, with those in `replaced` swapped."""
    arrays = {"images": np.zeros((count, 8, 8, 3), np.uint8), "masks": np.zeros((count, 8, 8), np.int64)}
    return {**arrays, **replaced}


# --- 1. Text data files: `dataset=text/file dataset.source=<file>` --------------------------------------------

REVIEWS = ("dataset=text/file", "dataset.source={data}/reviews.csv")
TEXT_DATA_FAULTS = [
    Fault("missing-file", "text", REVIEWS, r"Data file not found: \S*/data/reviews\.csv"),
    Fault(
        "empty-file", "text", REVIEWS, r"reviews\.csv: cannot read as csv: No columns to parse", {"reviews.csv": b""}
    ),
    Fault(
        "header-only",
        "text",
        REVIEWS,
        r"reviews\.csv: no usable rows \(labels found in column 'label': \[\]\)",
        {"reviews.csv": csv("text,label")},
    ),
    Fault(
        "no-text-column",
        "text",
        REVIEWS,
        r"reviews\.csv: no column 'text'; the columns are \['review', 'label'\]\. Set dataset\.text_column",
        {"reviews.csv": csv("review,label", "great,1", "awful,0")},
    ),
    Fault(
        "no-label-column",
        "text",
        REVIEWS,
        r"reviews\.csv: no column 'label'; the columns are \['text', 'stars'\]\. Set dataset\.label_column",
        {"reviews.csv": csv("text,stars", "great,5", "awful,1")},
    ),
    Fault(
        "a-single-class",
        "text",
        REVIEWS,
        r"reviews\.csv: only one class \('positive'\) is present",
        {"reviews.csv": csv("text,label", "great,1", "lovely,1", "superb,1")},
    ),
    Fault(
        "blank-texts",
        "text",
        REVIEWS,
        r"reviews\.csv: 2 row\(s\) have an empty or missing text in column 'text' \(data rows 2, 4;",
        {"reviews.csv": csv("text,label", "great,1", "   ,0", "awful,0", ",1")},
    ),
    Fault(
        "labels-outside-label-map",
        "text",
        (*REVIEWS, "dataset.label_map={neg:0,pos:1}"),
        r"reviews\.csv: no usable rows \(labels found in column 'label': \['bad', 'good'\]\); check dataset\.label_map",
        {"reviews.csv": csv("text,label", "great,good", "awful,bad")},
    ),
    Fault(
        "string-labels-without-label-map",
        "text",
        REVIEWS,
        r"reviews\.csv: data row 2 \(1-based, header not counted\) has label 'pos' in column 'label'.*"
        r"Set dataset\.label_map",
        {"reviews.csv": csv("text,label", "awful,0", "great,pos")},
    ),
    Fault(
        "nan-labels",
        "text",
        ("dataset=text/file", "dataset.source={data}/reviews.parquet"),
        r"reviews\.parquet: data row 2 \(1-based, header not counted\) has label nan in column 'label'",
        {"reviews.parquet": parquet(pd.DataFrame({"text": ["great", "meh", "awful"], "label": [1.0, np.nan, 0.0]}))},
    ),
    Fault(
        "too-few-for-train-per-class",
        "text",
        REVIEWS,
        r"class 'negative' has only 7 examples left for training .* fewer than dataset\.train_per_class=12",
        {"reviews.csv": csv("text,label", *(f"review number {i},{i % 2}" for i in range(20)))},
    ),
    Fault(
        "not-utf-8",
        "text",
        REVIEWS,
        r"reviews\.csv: cannot decode as utf-8 .*; set dataset\.encoding",
        {"reviews.csv": b"text,label\ncaf\xe9 au lait,1\nawful,0\n"},
    ),
    Fault(
        "malformed-csv",
        "text",
        REVIEWS,
        r"reviews\.csv: cannot read as csv: .*Expected 2 fields in line 3, saw 3",
        {"reviews.csv": csv("text,label", "great,1", "awful,0,extra")},
    ),
    Fault(
        "bad-jsonl-line",
        "text",
        ("dataset=text/file", "dataset.source={data}/reviews.jsonl"),
        r"reviews\.jsonl: cannot read as jsonl: line 2 is not valid JSON",
        {"reviews.jsonl": b'{"text": "great", "label": 1}\n{"text": "awful", label: 0}\n'},
    ),
    Fault(
        "parquet-that-is-not-parquet",
        "text",
        ("dataset=text/file", "dataset.source={data}/reviews.parquet"),
        r"reviews\.parquet: cannot read as parquet",
        {"reviews.parquet": b"text,label\ngreat,1\n"},
    ),
    Fault(
        "a-directory-as-the-file",
        "text",
        REVIEWS,
        r"reviews\.csv: cannot read as csv: .*Is a directory",
        {"reviews.csv/part-0.csv": csv("text,label", "great,1")},
    ),
]

# --- 2. Image data: `dataset=image/folder dataset.root=<folder or .npz>` --------------------------------------

FOLDER = ("dataset=image/folder", "dataset.root={data}", "dataset.class_names=[background,shape]")
NPZ = ("dataset=image/folder", "dataset.root={data}/set.npz", "dataset.class_names=[background,shape]")
IMAGE_DATA_FAULTS = [
    Fault("missing-root", "image", FOLDER, r"Data file not found: \S*/data\."),
    Fault("no-images-folder", "image", FOLDER, r"Data file not found: \S*/data/images\.", {"masks/0.png": b""}),
    Fault(
        "no-images",
        "image",
        FOLDER,
        r"\S*/data/images: no images \(\.png, \.jpg, \.jpeg\)",
        {"images/notes.txt": b"", "masks/0.png": png(np.zeros((8, 8)))},
    ),
    Fault(
        "corrupt-png",
        "image",
        FOLDER,
        r"\S*/data/images/1\.png: cannot read the image",
        image_folder(2, images_1=b"\x89PNG\r\n\x1a\n truncated"),
    ),
    Fault(
        "a-mask-missing",
        "image",
        FOLDER,
        r"\S*/data/images/1\.png has no partner \S*/data/masks/1\.png",
        image_folder(2, masks_1=None),
    ),
    Fault(
        "mask-size-differs",
        "image",
        FOLDER,
        r"\S*/data/masks/1\.png: mask size 6x6 \(HxW\) differs from the image size 8x8",
        image_folder(2, masks_1=png(np.zeros((6, 6)))),
    ),
    Fault(
        "mask-id-beyond-class-names",
        "image",
        FOLDER,
        r"\S*/data/masks/0\.png: mask label id 5 is outside 0\.\.1: there are 2 classes",
        image_folder(2, masks_0=png(np.full((8, 8), 5))),
    ),
    Fault(
        "rgb-mask",
        "image",
        FOLDER,
        r"\S*/data/masks/0\.png: mask has mode RGB; save masks as single-channel PNGs",
        image_folder(2, masks_0=png(np.zeros((8, 8, 3)))),
    ),
    Fault(
        "png-masks-without-class-names",
        "image",
        FOLDER[:2],
        r"dataset\.class_names is not set: the PNG masks in \S*/data carry no class names",
        image_folder(2),
    ),
    Fault(
        "num-labeled-beyond-available",
        "image",
        NPZ,
        r"set\.npz: only 2 labeled images are available .* fewer than dataset\.num_labeled=4",
        {"set.npz": npz(**labeled_arrays(22))},
    ),
    Fault(
        "test-size-leaves-none",
        "image",
        NPZ,
        r"set\.npz: only 12 labeled images, so dataset\.test_size=20 .* leave none to train on",
        {"set.npz": npz(**labeled_arrays(12))},
    ),
    Fault(
        "npz-without-masks",
        "image",
        NPZ,
        r"set\.npz: no key 'masks' in the archive; its keys are \['images'\]",
        {"set.npz": npz(images=np.zeros((2, 8, 8, 3), np.uint8))},
    ),
    Fault("npz-that-is-not-npz", "image", NPZ, r"set\.npz: cannot read as a NumPy \.npz archive", {"set.npz": b"PK"}),
    Fault(
        "npz-masks-of-other-images",
        "image",
        NPZ,
        r"set\.npz: images are 2 x 8x8 \(N x HxW\) but masks are 3 x 8x8",
        {"set.npz": npz(**labeled_arrays(2, masks=np.zeros((3, 8, 8), np.int64)))},
    ),
]

# --- 3. Configs: impossible values, typos, the other track's options --------------------------------------------

CONFIG_FAULTS = [
    Fault(
        "train-per-class-zero",
        "text",
        ("dataset.train_per_class=0",),
        r"dataset\.train_per_class=0 is invalid: expected an integer > 0",
    ),
    Fault(
        "negative-learning-rate",
        "text",
        ("gan.lr_generator=-1",),
        r"gan\.lr_generator=-1 is invalid: expected a number > 0",
    ),
    Fault(
        "dropout-above-one",
        "text",
        ("downstream.dropout=1.5",),
        r"downstream\.dropout=1\.5 is invalid: expected a number in \[0, 1\)",
    ),
    Fault(
        "real-target-above-one",
        "text",
        ("tricks.label_smoothing.real_target=1.5",),
        r"tricks\.label_smoothing\.real_target=1\.5 is invalid: expected a number in \(0, 1\]",
    ),
    Fault("max-epochs-zero", "text", ("gan.max_epochs=0",), r"gan\.max_epochs=0 is invalid: expected an integer > 0"),
    Fault(
        "batch-not-a-multiple-of-pack",
        "text",
        ("gan=text/pacgan", "gan.batch_size=33"),
        r"gan\.batch_size=33 is invalid: expected a multiple of pack=2",
    ),
    Fault(
        "negative-augment-ratio", "text", ("augment.ratio=-1",), r"augment\.ratio=-1 is invalid: expected a number > 0"
    ),
    Fault(
        "typo-in-an-added-key",
        "text",
        ("+gan.lr_generatr=1",),
        r"gan\.lr_generatr is not a known key: gan \(\S+\.ConditionalGAN\) takes .*lr_generator",
    ),
    Fault(
        "image-option-on-the-text-track",
        "text",
        ("dataset=image/shapes",),
        r"dataset=image/shapes is an option of the image track.*--config-name image",
    ),
    Fault(
        "text-option-on-the-image-track",
        "image",
        ("metrics=text/default",),
        r"metrics=text/default is an option of the text track.*--config-name text",
    ),
    Fault(
        "interpolation-to-a-missing-key",
        "text",
        ("dataset.train_per_class=${dataset.per_class}",),
        r"the config does not resolve: .*dataset\.per_class",
    ),
    Fault(
        "label-smoothing-with-wasserstein",
        "text",
        ("gan=text/wgan_gp", "tricks=text/paper"),
        r"tricks\.label_smoothing is on, but WassersteinGP has no real/fake target to smooth.*tricks=text/no_smoothing",
    ),
    Fault(
        "pretraining-corpus-of-other-classes",
        "text",
        ("tricks=text/paper", "tricks.pretrain.corpus.class_names=[sad,happy]"),
        r"tricks\.pretrain\.corpus\.class_names=\['sad', 'happy'\] differ from dataset\.class_names",
    ),
    Fault(
        "image-resolution-not-offered",
        "image",
        ("dataset.resolution=48",),
        r"dataset\.resolution=48 is invalid: expected one of 16, 32, 64",
    ),
]

# --- 4. Sweep folders and their records: what a resumed sweep finds, what the report reads ---------------------

GONE = ("dataset=text/file", "dataset.source={data}/gone.csv")  # the rerun's own failure, so it is fast
FINISHED_ELSEWHERE = json.dumps(
    {"status": "ok", "config_fingerprint": "another config", "finished_at": "2026-01-01T00:00:00+00:00"}
).encode()
SWEEP_FAULTS = [
    Fault(
        "truncated-results-are-rerun",
        "text",
        GONE,
        r"Data file not found",
        run_dir_files={RESULTS_FILE: b'{"status": "ok", "config_fingerprint": "'},
    ),
    Fault(
        "results-as-a-json-list-are-rerun", "text", GONE, r"Data file not found", run_dir_files={RESULTS_FILE: b"[]"}
    ),
    Fault(
        "results-not-utf-8-are-rerun",
        "text",
        GONE,
        r"Data file not found",
        run_dir_files={RESULTS_FILE: b'{"status": "ok\xff"}'},
    ),
    Fault(
        "stale-lock-of-a-dead-process",
        "text",
        GONE,
        r"Data file not found",
        run_dir_files={JOB_LOCK: b"pid 4194303 on a-crashed-node since 2026-01-01T00:00:00+00:00\n"},
    ),
    Fault(
        "finished-results-of-another-config-are-archived",
        "text",
        GONE,
        r"Data file not found",
        run_dir_files={RESULTS_FILE: FINISHED_ELSEWHERE, "synthetic.npz": b"kept", "tsne.png": b"kept"},
        archived=(STALE_RESULTS, "synthetic.npz", "tsne.png"),
    ),
    Fault(
        "report-on-a-missing-folder",
        "report",
        ("{data}/no_such_sweep",),
        r"synthlift-report: sweep directory \S*/no_such_sweep does not exist",
        exit_code=2,
    ),
    Fault(
        "report-on-a-folder-without-results",
        "report",
        ("{data}",),
        r"synthlift-report: no results\.json found below \S*/data",
        {"job/run.log": b"started\n"},
        exit_code=2,
    ),
    Fault(
        "report-on-truncated-results",
        "report",
        ("{data}",),
        r"no finished run below \S*/data, 1 failed(?s:.*)Failed runs \(1\)(?s:.*)unreadable results\.json",
        {f"seed=0/{RESULTS_FILE}": b'{"status": "ok", "metr'},
    ),
    Fault(
        "report-on-results-as-a-json-list",
        "report",
        ("{data}",),
        r"Failed runs \(1\)(?s:.*)corrupt results\.json: not a JSON object",
        {f"seed=0/{RESULTS_FILE}": b"[]"},
    ),
    Fault(
        "report-on-results-with-a-metrics-list",
        "report",
        ("{data}",),
        r"Failed runs \(1\)(?s:.*)corrupt results\.json: metrics is not a JSON object",
        {f"seed=0/{RESULTS_FILE}": json.dumps({"status": "ok", "metrics": [0.5], "lift_pairs": {}}).encode()},
    ),
    Fault(
        "report-on-results-with-a-lift-pair-as-a-string",
        "report",
        ("{data}",),
        r"Failed runs \(1\)(?s:.*)corrupt results\.json: lift_pairs must map each lift to \[treated metric, baseline",
        {
            f"seed=0/{RESULTS_FILE}": json.dumps(
                {"status": "ok", "metrics": {"a": 1, "b": 0}, "lift_pairs": {"lift": "ab"}}
            ).encode()
        },
    ),
    Fault(  # a finished run that measured nothing is no measurement (issue 22, class 5)
        "report-on-ok-results-without-metrics",
        "report",
        ("{data}",),
        r"no finished run below \S*/data, 2 failed(?s:.*)corrupt results\.json: status \"ok\" but no finite metric",
        {
            f"seed=0/{RESULTS_FILE}": json.dumps({"status": "ok", "metrics": {}, "lift_pairs": {}}).encode(),
            f"seed=1/{RESULTS_FILE}": json.dumps({"status": "ok", "metrics": {"lift": None}}).encode(),
        },
        exit_code=1,
    ),
]

CATALOGUE = TEXT_DATA_FAULTS + IMAGE_DATA_FAULTS + CONFIG_FAULTS + SWEEP_FAULTS


def write_files(folder: Path, files: Mapping[str, bytes]) -> None:
    for relative, content in files.items():
        path = folder / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)


def group_choices(overrides: list[str]) -> dict[str, str]:
    """The config-group options chosen on the command line (`dataset=text/mr`), as the CLI hands Hydra's
    `runtime.choices` to `execute`, so an option of the other track is named as such."""
    pairs = (override.split("=", 1) for override in overrides if "=" in override)
    return {group: option for group, option in pairs if "." not in group and not group.startswith(("+", "~"))}


def run_job(fault: Fault, data: Path, run_dir: Path, cache_dir: Path, compose_config) -> dict:
    """Compose the fault's config as the CLI would and run its job in-process; returns results.json as stored."""
    overrides = [
        *BASE_OVERRIDES[fault.root],
        *(override.format(data=data) if "{data}" in override else override for override in fault.overrides),
        f"paths.cache_dir={cache_dir}",
        f"paths.run_dir={run_dir}",
    ]
    execute(compose_config(fault.root, *overrides), run_dir, overrides, group_choices(overrides))
    return strict_json(run_dir / RESULTS_FILE)


def assert_report_fault(fault: Fault, data: Path, tmp_path: Path, cache_dir: Path) -> None:
    """The report's exit status and message, and nothing written but its own outputs (or, for a folder that
    does not exist, nothing at all)."""
    args = [arg.format(data=data) for arg in fault.overrides]
    sweep_dir = Path(args[0])
    before = set(data.rglob("*"))
    allowed = {sweep_dir / name for name in REPORT_OUTPUTS} if sweep_dir.is_dir() else set()
    proc = run_cli(*args, workdir=tmp_path, cache_dir=cache_dir, module="synthlift.report")
    report_md = sweep_dir / "report.md"
    said = proc.stderr + (report_md.read_text() if report_md.exists() else "")
    assert proc.returncode == fault.exit_code, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    assert re.search(fault.message, said), said
    assert set(data.rglob("*")) - before <= allowed


@pytest.mark.parametrize("fault", CATALOGUE, ids=lambda fault: fault.id)
def test_a_bad_input_fails_with_a_clear_message_and_leaves_only_its_record(
    fault, tmp_path, shared_cache_dir, compose_config
):
    data, run_dir = tmp_path / "data", tmp_path / "job"
    write_files(data, fault.files)
    if fault.root == "report":
        assert_report_fault(fault, data, tmp_path, shared_cache_dir)
        return
    write_files(run_dir, fault.run_dir_files)

    record = run_job(fault, data, run_dir, shared_cache_dir, compose_config)

    assert record["status"] == "failed", record
    assert record["error"]["type"] in ("ConfigError", "DataError") and "traceback" not in record["error"], record
    assert re.search(fault.message, record["error"]["message"]), record["error"]["message"]
    archives = sorted(run_dir.glob(f"{STALE_PREFIX}*"))
    left = {path.name for path in run_dir.iterdir()} - {path.name for path in archives}
    assert left <= {RESULTS_FILE, JOB_LOCK}, f"partial artefacts left in the run folder: {left}"
    assert not list(run_dir.rglob("*.tmp"))
    if fault.archived:
        [archive] = archives
        assert sorted(path.name for path in archive.iterdir()) == sorted(fault.archived)
        assert strict_json(archive / STALE_RESULTS) == json.loads(fault.run_dir_files[RESULTS_FILE])
    else:
        assert not archives
