"""Start-up checks of the composed config: an impossible value fails before any work, naming its key."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from omegaconf import DictConfig, OmegaConf

from synthlift.augment import STRATEGIES
from synthlift.errors import ConfigError

Rule = tuple[str, Callable[[Any], bool], str]


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def positive_int(value: Any) -> bool:
    return _is_int(value) and value > 0


def non_negative_int(value: Any) -> bool:
    return _is_int(value) and value >= 0


def positive(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value > 0


def fraction(value: Any) -> bool:
    return positive(value) and value < 1


def probability(value: Any) -> bool:
    """In [0, 1)."""
    return isinstance(value, int | float) and 0 <= value < 1


def smoothing_target(value: Any) -> bool:
    """In (0, 1]."""
    return positive(value) and value <= 1


TEXT_RULES: list[Rule] = [
    ("seed", non_negative_int, "an integer >= 0"),
    ("dataset.train_per_class", positive_int, "an integer > 0"),
    ("dataset.test_fraction", fraction, "a number in (0, 1)"),
    ("dataset.val_fraction", fraction, "a number in (0, 1)"),
    ("dataset.split_seed", non_negative_int, "an integer >= 0"),
    ("dataset.max_rows", lambda v: v is None or positive_int(v), "null or an integer > 0"),
    (
        "dataset.class_names",
        lambda v: isinstance(v, list) and len(v) >= 2 and len(set(v)) == len(v),
        "a list of at least two distinct class names",
    ),
    ("gan.latent_dim", positive_int, "an integer > 0"),
    ("gan.hidden_dim", positive_int, "an integer > 0"),
    ("gan.num_layers", positive_int, "an integer > 0"),
    ("gan.batch_size", positive_int, "an integer > 0"),
    ("gan.max_epochs", positive_int, "an integer > 0"),
    ("gan.dropout", probability, "a number in [0, 1)"),
    ("gan.lr_generator", positive, "a number > 0"),
    ("gan.lr_discriminator", positive, "a number > 0"),
    ("gan.beta1", probability, "a number in [0, 1)"),
    ("gan.beta2", probability, "a number in [0, 1)"),
    ("tricks.classifier_consistency.weight", positive, "a number > 0"),
    ("tricks.pretrain.max_epochs", positive_int, "an integer > 0"),
    ("tricks.pretrain.seed", non_negative_int, "an integer >= 0"),
    ("tricks.instance_noise.std", positive, "a number > 0"),
    ("tricks.instance_noise.decay", smoothing_target, "a number in (0, 1]"),
    ("tricks.label_smoothing.real_target", smoothing_target, "a number in (0, 1]"),
    ("tricks.early_stopping.eval_every", positive_int, "an integer > 0"),
    ("tricks.early_stopping.patience", positive_int, "an integer > 0"),
    ("augment.name", lambda v: v in STRATEGIES, f"one of {sorted(STRATEGIES)}"),
    ("augment.ratio", lambda v: isinstance(v, int | float) and v >= 0, "a number >= 0"),
    (
        "classifier.hidden_sizes",
        lambda v: isinstance(v, list) and all(positive_int(h) for h in v),
        "a list of integers > 0 ([] = logistic regression)",
    ),
    ("classifier.dropout", probability, "a number in [0, 1)"),
    ("classifier.lr", positive, "a number > 0"),
    ("classifier.weight_decay", lambda v: isinstance(v, int | float) and v >= 0, "a number >= 0"),
    ("classifier.batch_size", positive_int, "an integer > 0"),
    ("classifier.max_epochs", positive_int, "an integer > 0"),
]


IMAGE_RULES: list[Rule] = [
    ("seed", non_negative_int, "an integer >= 0"),
    ("num_synthetic", positive_int, "an integer > 0"),
    ("dataset.resolution", lambda v: v in (16, 32, 64, 128, 256), "one of 16, 32, 64, 128, 256"),
    ("dataset.num_labeled", positive_int, "an integer > 0"),
    ("dataset.test_size", positive_int, "an integer > 0"),
    ("dataset.split_seed", non_negative_int, "an integer >= 0"),
    ("gan.arch", lambda v: v in ("style", "dcgan"), "'style' or 'dcgan'"),
    ("gan.batch_size", positive_int, "an integer > 0"),
    ("gan.max_steps", positive_int, "an integer > 0"),
    ("gan.lr", positive, "a number > 0"),
    ("gan.ema_decay", probability, "a number in [0, 1)"),
    ("gan.r1_gamma", lambda v: isinstance(v, int | float) and v >= 0, "a number >= 0"),
    ("gan.seed", non_negative_int, "an integer >= 0"),
    (
        "tricks.perceptual",
        lambda v: v in ("efficientnet", "discriminator", "lpips"),
        "'efficientnet', 'discriminator' or 'lpips'",
    ),
    ("tricks.lpips_finetune_steps", non_negative_int, "an integer >= 0 (0 = no perceptual fine-tuning)"),
    ("tricks.optimize_latents.steps", non_negative_int, "an integer >= 0 (0 = off)"),
    ("tricks.uncertainty_filter", probability, "a fraction in [0, 1)"),
    ("inversion.pair_steps", positive_int, "an integer > 0"),
    ("labeler.num_members", positive_int, "an integer > 0"),
    ("labeler.epochs", positive_int, "an integer > 0"),
    ("labeler.cv_folds", lambda v: _is_int(v) and v >= 2, "an integer >= 2"),
    ("labeler.cv_members", positive_int, "an integer > 0"),
    ("downstream.batch_size", positive_int, "an integer > 0"),
    ("downstream.max_steps", positive_int, "an integer > 0"),
    ("downstream.lr", positive, "a number > 0"),
]


def check_rules(cfg: DictConfig, rules: list[Rule]) -> None:
    """Raise one ConfigError listing every key whose value breaks its rule."""
    problems = []
    for key, ok, expected in rules:
        if OmegaConf.select(cfg, key, default="<missing>") == "<missing>":
            problems.append(f"{key} is missing (expected {expected})")
            continue
        value = OmegaConf.to_object(node) if OmegaConf.is_config(node := OmegaConf.select(cfg, key)) else node
        if not ok(value):
            problems.append(f"{key}={value!r} is invalid: expected {expected}")
    if problems:
        raise ConfigError("Invalid config:\n  " + "\n  ".join(problems))


def _require_dataset_kind(cfg: DictConfig, kind: str, marker: str, root_config: str) -> None:
    """A text dataset in the image track (or the reverse) gets one clear message, not a list of missing keys."""
    if OmegaConf.select(cfg, f"dataset.{marker}", default=None) is None:
        article = "an" if kind[0] in "aeiou" else "a"
        raise ConfigError(
            f"dataset={cfg.dataset.get('name')} is not {article} {kind} dataset; the {cfg.track} track needs "
            f"one (the {kind} track's root config is `--config-name {root_config}`)"
        )


def validate_image_config(cfg: DictConfig) -> None:
    _require_dataset_kind(cfg, "image", "resolution", "handsoff")
    check_rules(cfg, IMAGE_RULES)
    if cfg.dataset.num_labeled < cfg.labeler.cv_folds:
        raise ConfigError(
            f"labeler.cv_folds={cfg.labeler.cv_folds} needs at least as many labeled images, "
            f"but dataset.num_labeled={cfg.dataset.num_labeled}"
        )


def validate_text_config(cfg: DictConfig) -> None:
    _require_dataset_kind(cfg, "text", "text_column", "config")
    check_rules(cfg, TEXT_RULES)
    data = cfg.dataset
    if data.test_fraction + data.val_fraction >= 1:
        raise ConfigError(
            f"dataset.test_fraction + dataset.val_fraction = {data.test_fraction + data.val_fraction} "
            "leaves nothing to train on: it must be < 1"
        )
    if data.label_map is not None:
        bad = {k: v for k, v in data.label_map.items() if not non_negative_int(v) or v >= len(data.class_names)}
        if bad:
            raise ConfigError(
                f"dataset.label_map maps to unknown classes {bad}: class indices are "
                f"0..{len(data.class_names) - 1} for dataset.class_names={list(data.class_names)}"
            )
    if cfg.augment.name != "none" and cfg.augment.ratio <= 0:
        raise ConfigError(
            f"augment.ratio={cfg.augment.ratio} with augment.name={cfg.augment.name}: "
            "use a ratio > 0, or augment=none for real data only"
        )
    if cfg.tricks.pretrain.enabled:
        corpus = list(cfg.tricks.pretrain.corpus.class_names)
        if corpus != list(data.class_names):
            raise ConfigError(
                f"tricks.pretrain.corpus.class_names={corpus} differ from "
                f"dataset.class_names={list(data.class_names)}: the GAN's label space must match"
            )
