"""Invariants of every job, checked on configurations drawn at random rather than on chosen examples.

The fault catalogues test inputs someone thought of. These tests draw configurations: an option of every
group of both roots (the cheap ones: no download, no optional package), and then a boundary value (zero,
negative, the smallest allowed, a string where a number goes, null, and for counts of things to make an
absurdly large one) for one numeric argument of the chosen components, found by walking their composed
nodes, in every other draw. Whatever the draw, each job must:

- leave a `results.json` (strict JSON) with status ok or failed;
- be ok only with finite lifts measured with synthetic data where its strategy uses some;
- when failed, say why without a traceback (a traceback is a bug) and name a key, file or row;
- leave nothing beside a failed record but its lock (partial artefacts go to `unfinished-*/`);
- exit with a status that matches its record (CLI: 0 when ok, 1 when failed).

(A command Hydra refuses to compose launches no job; its message must still name the key.)

Each draw has its own seeded stream (`drawn(seed, index)`), so a failure is reproducible from its test id.
The default suite runs a bounded budget;
`pytest -m long tests/core/test_invariants.py` runs a longer one.
"""

from __future__ import annotations

import functools
import math
import random
import re
from pathlib import Path

import pytest
from hydra.errors import ConfigCompositionException
from omegaconf import OmegaConf

from synthlift.core.results import JOB_LOCK, RESULTS_FILE, UNFINISHED_PREFIX
from synthlift.run import execute
from tests.core.test_configs import TINY_IMAGE, compose_root
from tests.core.test_configs import group_options as composed_group_options
from tests.core.test_fault_catalogue import group_choices
from tests.core.test_run_records import strict_json
from tests.text.test_run_text import run_cli

BASE = {"text": ["experiment=text/smoke", "logger=none", "plots=false"], "image": list(TINY_IMAGE)}
# Options left out of the draw: they need a download, a model folder or an optional package, or take minutes.
SKIPPED_OPTIONS = {
    "dataset": {"text/mr", "text/cr", "text/sentiment140", "text/sentiment140_random", "text/file", "text/hf"}
    | {"text/amazon_books", "text/amazon_dvd", "text/amazon_electronics", "text/amazon_kitchen"}
    | {"text/dvd_to_electronics", "image/celebamask", "image/horse", "image/folder"},
    "gan": {"text/llm", "text/smollm2", "text/smollm2_paraphrase"},
    "embedder": {"minilm"},
    "perceptual": {"lpips", "efficientnet"},
    "downstream": {"image/unet_efficientnet"},
    "metrics": {"text/default", "image/default"},
    "trainer": {"gpu"},
    "logger": {"default"},
}
DRAWN_GROUPS = ("dataset", "gan", "augment", "downstream", "protocol", "metrics", "embedder", "tricks")
# Counts of things a job makes or allocates: only these get an absurdly large value, which must be refused
# before the work (other keys, such as epochs, would just take long).
COUNT_KEYS = {
    "ratio",
    "synthetic_per_real",
    "validation_size",
    "num_synthetic",
    "num_unlabeled",
    "test_size",
    "max_rows",
    "pool_per_class",
}
ROOT_NUMBERS = ("num_synthetic", "synthetic_per_real")  # the roots' own numeric settings that size a run
USES_NO_SYNTHETIC = {"augment=none"}
# A failed job's message names what to change: a config key (`gan.lr=`, `augment=filter`), a file or a row.
NAMES_WHAT = re.compile(r"[a-z_]+(\.[a-z_0-9]+)+|[a-z_]+=\S|/\S+\.\w+|\brow\b", re.IGNORECASE)


def numeric_leaves(cfg, prefix: str) -> list[str]:
    """The dotted keys of the numeric settings under `prefix`, as a user would override them: a node that
    is an interpolation of another group (`gan.tricks: ${tricks}`) is that group's, not this one's."""
    node, keys = OmegaConf.select(cfg, prefix), []
    for key in node if OmegaConf.is_dict(node) else ():
        path = f"{prefix}.{key}"
        if OmegaConf.is_dict(node[key]):
            keys += [] if OmegaConf.is_interpolation(node, key) else numeric_leaves(cfg, path)
        elif isinstance(value := OmegaConf.select(cfg, path), int | float) and not isinstance(value, bool):
            keys.append(path)
    return keys


def boundary_values(key: str, value: int | float) -> list[str]:
    values = ["0", "-1", "null", "abc"]
    values.append("1" if isinstance(value, int) else "1e-9")
    if key.rsplit(".", 1)[-1] in COUNT_KEYS:
        values.append("1000000000000")
    return values


group_options = functools.cache(composed_group_options)  # composing the root's defaults costs 0.1 s a call


def drawable_keys(root: str, group: str) -> list[str]:
    """The numeric keys of `group` in `root`'s default composition (a check that the walk finds keys)."""
    return numeric_leaves(compose_root(root), group) if group in compose_root(root) else []


def draw_configuration(rng: random.Random, root: str) -> list[str]:
    """One random job of `root`: an option for some groups, then (every other draw) one boundary value for a
    numeric key."""
    overrides = list(BASE[root])
    for group, option in rng.sample(group_options(root), k=len(group_options(root))):
        chosen = any(override.startswith(f"{group}=") for override in overrides)
        if group in DRAWN_GROUPS and option not in SKIPPED_OPTIONS.get(group, ()) and not chosen and rng.random() < 0.5:
            overrides.append(f"{group}={option}")
    cfg = compose_root(root, *overrides)
    keys = [key for group in DRAWN_GROUPS if group in cfg for key in numeric_leaves(cfg, group)]
    keys += [key for key in ROOT_NUMBERS if key in cfg]
    if rng.random() < 0.5:  # half the draws stay within the options' own values, and mostly run to the end
        key = rng.choice(keys)
        overrides.append(f"{key}={rng.choice(boundary_values(key, OmegaConf.select(cfg, key)))}")
    return overrides


@functools.cache
def drawn(seed: int, index: int) -> list[str]:
    """Draw `index` of the budget seeded by `seed`: each draw has its own random stream, so a test draws only
    its own configuration, when it runs (drawing the long budget's 200 at collection took 90 s)."""
    rng = random.Random(f"{seed}/{index}")
    return draw_configuration(rng, "image" if rng.random() < 0.2 else "text")


def run_drawn(seed: int, index: int, tmp_path: Path, cache_dir: Path, compose_config, record_property) -> None:
    overrides = drawn(seed, index)
    record_property("overrides", " ".join(overrides))
    try:
        record_property("ended", run_in_process(overrides, tmp_path, cache_dir, compose_config))
    except AssertionError as failure:
        raise AssertionError(f"draw {seed}/{index}: {' '.join(overrides)}\n{failure}") from failure


def check_record(record: dict, run_dir: Path, overrides: list[str]) -> None:
    """The invariants of one finished job's folder and record."""
    assert record["status"] in ("ok", "failed"), record["status"]
    if record["status"] == "ok":
        primary = next(iter(record["lift_pairs"]))
        assert record["metrics"][primary] is not None and math.isfinite(record["metrics"][primary])
        if not USES_NO_SYNTHETIC & set(overrides):
            used = record["sizes"].get("synthetic", record["sizes"].get("synthetic_used"))
            assert used, f"ok with no synthetic example: {record['sizes']}"
        return
    error = record["error"]
    assert "traceback" not in error, f"a bug, not a clear refusal:\n{error.get('traceback')}"
    assert NAMES_WHAT.search(error["message"]), f"names no key, file or row: {error['message']}"
    left = {path.name for path in run_dir.iterdir() if not path.name.startswith(UNFINISHED_PREFIX)}
    assert left <= {RESULTS_FILE, JOB_LOCK}, f"partial artefacts beside a failed record: {left}"


def run_in_process(overrides: list[str], tmp_path: Path, cache_dir: Path, compose_config) -> str:
    """Run one drawn job and check its invariants; returns how it ended (`refused by hydra`, ok, failed),
    kept in the JUnit report (`--junitxml`) so a long run can be tallied."""
    root = "image" if overrides[: len(BASE["image"])] == BASE["image"] else "text"
    run_dir = tmp_path / "job"
    paths = [f"paths.cache_dir={cache_dir}", f"paths.run_dir={run_dir}"]
    try:
        cfg = compose_config(root, *overrides, *paths)
    except ConfigCompositionException as err:  # Hydra refuses the command before it launches any job
        assert NAMES_WHAT.search(str(err)), str(err)
        return "refused by hydra"
    execute(cfg, run_dir, overrides, group_choices(overrides))
    record = strict_json(run_dir / RESULTS_FILE)
    check_record(record, run_dir, overrides)
    return record["status"] if record["status"] == "ok" else f"failed: {record['error']['type']}"


BOUNDED, LONG = (22, 10), (2022, 200)  # (seed, number of draws): the default suite's budget, and `-m long`'s


def test_the_draw_reaches_every_kind_of_input():
    """A guard on the generator itself, so the tests below cannot silently test little."""
    draws = [drawn(*BOUNDED[:1], index) for index in range(BOUNDED[1])]
    overrides = [override for draw in draws for override in draw]
    assert any(override.startswith("gan=") for override in overrides)
    assert any(override.startswith("augment=") for override in overrides)
    assert any(draw[: len(BASE["image"])] == BASE["image"] for draw in draws)
    assert any(draw[-1].split("=", 1)[1] in ("0", "-1", "null", "abc", "1", "1e-9", "1000000000000") for draw in draws)
    keys = {key for root in ("text", "image") for group in DRAWN_GROUPS for key in drawable_keys(root, group)}
    assert {"augment.ratio", "dataset.train_per_class", "gan.lr_generator", "gan.max_steps", "downstream.lr"} <= keys


@pytest.mark.parametrize("index", range(BOUNDED[1]))
def test_every_job_leaves_a_record_that_tells_the_truth(
    index, tmp_path, shared_cache_dir, compose_config, record_property
):
    run_drawn(BOUNDED[0], index, tmp_path, shared_cache_dir, compose_config, record_property)


@pytest.mark.long
@pytest.mark.parametrize("index", range(LONG[1]))
def test_every_job_leaves_a_record_that_tells_the_truth_long(
    index, tmp_path, shared_cache_dir, compose_config, record_property
):
    run_drawn(LONG[0], index, tmp_path, shared_cache_dir, compose_config, record_property)


@pytest.mark.slow
def test_the_exit_status_matches_the_record(tmp_path, shared_cache_dir, compose_config):
    """Through the CLI, for the first drawn text job that ends ok and the first that fails (found in-process,
    which is quick): exit status 0 when ok, 1 when failed."""
    statuses = {}
    text_draws = (drawn(BOUNDED[0], index) for index in range(BOUNDED[1]))
    for index, overrides in enumerate(draw for draw in text_draws if draw[: len(BASE["text"])] == BASE["text"]):
        ended = run_in_process(overrides, tmp_path / f"probe{index}", shared_cache_dir, compose_config)
        status = "ok" if ended == "ok" else "failed"
        if ended == "refused by hydra" or status in statuses:
            continue
        proc = run_cli(*overrides, f"hydra.run.dir=job{index}", workdir=tmp_path, cache_dir=shared_cache_dir)
        assert strict_json(tmp_path / f"job{index}" / RESULTS_FILE)["status"] == status
        statuses[status] = proc.returncode
        if len(statuses) == 2:
            break
    assert statuses == {"ok": 0, "failed": 1}
