"""Tests that follow the configs, not hand-kept lists: every option of every group of both roots composes
and builds, and every experiment runs as a tiny sweep (lightning-hydra-template's `experiment=glob(*)`)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from synthlift.core.build import build
from synthlift.core.paths import PROJECT_ROOT, register_resolvers
from tests.run_if import RunIf
from tests.text.test_run_text import run_cli

CONF = PROJECT_ROOT / "conf"
ROOTS = ("text", "image")
# Options that build only where an optional package is installed (named in the option's yaml).
OPTIONAL_PACKAGES = {("perceptual", "lpips"): "lpips"}


def compose_root(root: str, *overrides: str, hydra: bool = False):
    register_resolvers()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose(root, overrides=list(overrides), return_hydra_config=hydra)


def group_options(root: str) -> list[tuple[str, str]]:
    """(group, option) for every option a root can choose: the root's own groups, read off its composed
    defaults, and in a group with track folders (`dataset/text/...`) only that track's folder."""
    choices = compose_root(root, hydra=True).hydra.runtime.choices
    options = []
    for group, default in choices.items():
        if group.startswith("hydra") or default is None or group == "experiment":
            continue
        folder = CONF / group / (default.split("/")[0] if "/" in default else "")
        prefix = f"{default.split('/')[0]}/" if "/" in default else ""
        options += [(group, prefix + p.stem) for p in sorted(folder.glob("[!_]*.yaml"))]
    return options


def built_nodes(cfg) -> dict[str, object]:
    """Every component of a composed run config: top-level `_target_` nodes and the metrics list."""
    nodes = {key: cfg[key] for key in cfg if OmegaConf.is_dict(cfg[key]) and "_target_" in cfg[key]}
    for name, node in (cfg.get("metrics") or {}).items():
        nodes[f"metrics.{name}"] = node
    return nodes


ALL_OPTIONS = [(root, group, option) for root in ROOTS for group, option in group_options(root)]


def test_the_option_list_is_read_off_the_config_folders():
    """A guard on the discovery itself, so the parametrised test below cannot silently test nothing."""
    found = {(root, group) for root, group, _ in ALL_OPTIONS}
    assert {("text", "dataset"), ("text", "gan"), ("text", "tricks"), ("text", "augment"), ("text", "metrics")} <= found
    assert {("image", "dataset"), ("image", "gan"), ("image", "inversion"), ("image", "labeler")} <= found
    assert ("text", "dataset", "text/mr") in ALL_OPTIONS and ("image", "dataset", "image/horse") in ALL_OPTIONS
    assert not any(option.startswith("image/") for root, _, option in ALL_OPTIONS if root == "text")


@pytest.mark.parametrize(("root", "group", "option"), ALL_OPTIONS, ids=lambda v: str(v))
def test_every_option_of_every_group_composes_and_builds(root, group, option):
    package = OPTIONAL_PACKAGES.get((group, option))
    if package and importlib.util.find_spec(package) is None:
        pytest.skip(f"{group}={option} needs the optional package {package}")
    cfg = compose_option(root, group, option)
    assert OmegaConf.select(cfg, "track") == root
    for key in built_nodes(cfg):
        assert build_filled(cfg, key) is not None, f"{key} of {group}={option}"


def compose_option(root: str, group: str, option: str, *overrides: str):
    """The root with `group=option`; a GAN objective that refuses one-sided label smoothing (Wasserstein,
    hinge) gets tricks without it, as the root's default tricks have it on."""
    cfg = compose_root(root, *overrides, f"{group}={option}")
    objective = OmegaConf.select(cfg, "gan.objective")
    if group == "gan" and objective is not None and not build(objective, "gan.objective").smooths_labels:
        cfg = compose_root(root, *overrides, f"{group}={option}", "tricks=text/no_smoothing")
    return cfg


def build_filled(cfg, key: str):
    """Build `cfg[key]`, with a placeholder for each key a user must fill in (a file path)."""
    for name in OmegaConf.missing_keys(OmegaConf.select(cfg, key)):
        OmegaConf.update(cfg, name if name.startswith(f"{key}.") else f"{key}.{name}", "placeholder")
    return build(OmegaConf.select(cfg, key), key)


def experiment_keys_on_other_options() -> list[tuple[str, str, str, str]]:
    """(root, experiment, group, option) for each experiment that sets keys of a component group whose option
    it leaves to the user (`gan.max_epochs` without choosing `gan`), and each option of that group."""
    cases = []
    for root in ROOTS:
        options = group_options(root)
        for path in sorted((CONF / "experiment" / root).glob("*.yaml")):
            experiment = OmegaConf.load(path)
            chosen = {
                next(iter(entry)).split("/")[-1].split("@")[0]
                for entry in experiment.get("defaults", [])
                if OmegaConf.is_dict(entry)
            }
            for group in experiment:
                if group != "defaults" and group not in chosen:
                    cases += [(root, path.stem, group, option) for g, option in options if g == group]
    return cases


@pytest.mark.parametrize(("root", "experiment", "group", "option"), experiment_keys_on_other_options(), ids=str)
def test_an_experiments_settings_build_with_every_option_it_does_not_choose(root, experiment, group, option):
    """`experiment=text/smoke gan=text/cvae` must not fail on `gan.max_epochs`, a key the user never typed
    and CVAE does not take: an experiment may only set what every option of that group accepts."""
    cfg = compose_option(root, group, option, f"experiment={root}/{experiment}")
    if "_target_" in cfg[group]:
        assert build_filled(cfg, group) is not None


def test_some_experiment_sets_keys_of_a_group_it_leaves_open():
    """A guard on the discovery above: the smoke experiment shrinks whichever text dataset is chosen."""
    assert ("text", "smoke", "dataset", "text/books_to_kitchen") in experiment_keys_on_other_options()


# Groups of plain settings, read by components through interpolation (`${tricks.diffaugment}`) or by the
# framework itself; every other option file is a component and names its class.
SETTINGS_FOLDERS = {"experiment", "logger", "trainer", "paths", "tricks/image"}


def test_every_component_yaml_names_its_class():
    """One yaml per component: each option file (not `_base` fragments) of a component group has a `_target_`."""
    without = []
    for path in sorted(CONF.rglob("[!_]*.yaml")):
        relative = path.relative_to(CONF)
        folder = str(relative.parent)
        if folder == "." or folder in SETTINGS_FOLDERS or folder.split("/")[0] in SETTINGS_FOLDERS:
            continue
        content = [line for line in path.read_text().splitlines() if line.strip() and not line.startswith("#")]
        if content != ["{}"] and not any("_target_:" in line or line.startswith("defaults:") for line in content):
            without.append(str(relative))
    assert not without, f"component yamls without _target_: {without}"


TINY_TEXT = [
    "dataset.max_rows=400",
    "dataset.train_per_class={negative: 6, positive: 10}",  # imbalanced, so augment=rebalance has a class to fill
    "gan.max_epochs=4",
    "tricks.early_stopping.eval_every=2",
    "tricks.early_stopping.patience=1",
    "tricks.pretrain.max_epochs=1",
    "tricks.pretrain.corpus.max_rows=200",
    "downstream.max_epochs=5",
    "embedder=tfidf_svd",
    "plots=false",
    "logger=none",
]
TINY_IMAGE = [
    "num_synthetic=16",
    "dataset.num_labeled=4",
    "dataset.resolution=16",
    "gan.max_steps=4",
    "gan.batch_size=8",
    "inversion.pair_steps=2",
    "tricks.lpips_finetune_steps=1",
    "labeler.num_members=2",
    "labeler.epochs=1",
    "labeler.cv_folds=2",
    "downstream.max_steps=2",
    "plots=false",
    "logger=none",
]


@RunIf(data=True)
@pytest.mark.slow
@pytest.mark.parametrize(("root", "tiny"), [("text", TINY_TEXT), ("image", TINY_IMAGE)])
def test_every_experiment_runs_as_a_tiny_sweep(tmp_path, shared_cache_dir, root, tiny):
    experiments = sorted(p.stem for p in (CONF / "experiment" / root).glob("*.yaml"))
    sweep = ",".join(f"{root}/{name}" for name in experiments)  # Hydra's glob() does not reach into subfolders
    parallel = ["hydra/launcher=joblib", "hydra.launcher.n_jobs=2"]  # dozens of independent jobs: both cores
    proc = run_cli(
        "-m", f"--config-name={root}", f"experiment={sweep}", "name=every_experiment", *tiny, *parallel,
        workdir=tmp_path, cache_dir=shared_cache_dir,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    records = [json.loads(p.read_text()) for p in Path(tmp_path, "outputs").rglob("results.json")]
    ran = sorted(o.split("/")[-1] for r in records for o in r["overrides"] if o.startswith("experiment="))
    assert ran == experiments
    assert all(r["status"] == "ok" for r in records), [r["error"] for r in records if r["status"] != "ok"]
