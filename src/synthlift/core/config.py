"""Config checks that no single component can make: keys added with `+` that nothing would read.

Each component checks its own arguments (and Hydra refuses overrides of keys that do not exist), but
`+gan.lr_generatr=1` *adds* a key: without this check a typo would run silently with the default.
"""

from __future__ import annotations

from omegaconf import DictConfig, OmegaConf

from synthlift.core.build import accepted_arguments
from synthlift.core.errors import ConfigError
from synthlift.core.paths import CONF_DIR


def added_keys(overrides: list[str]) -> list[str]:
    """Keys that `+key=value` overrides add (`++key=value` forces a value and is left alone)."""
    return [o[1:].split("=", 1)[0] for o in overrides if o.startswith("+") and not o.startswith("++")]


def check_added_keys(cfg: DictConfig, overrides: list[str]) -> None:
    """Refuse an added key that no component takes as an argument, listing the keys that are known there."""
    problems = []
    for key in added_keys(overrides):
        if "@" in key or (CONF_DIR / key.replace(".", "/")).is_dir():  # `+experiment=...`: a group, not a value
            continue
        parts = key.split(".")
        owner = None  # (path, target) of the deepest component at or above the new key's parent
        for depth in range(len(parts) - 1, 0, -1):
            target = OmegaConf.select(cfg, ".".join(parts[:depth]) + "._target_", default=None)
            if target is not None:
                owner = (".".join(parts[:depth]), target, parts[depth])
                break
        if owner is not None:
            path, target, argument = owner
            known = accepted_arguments(target)
            if argument not in known and "kwargs" not in known:
                problems.append(f"{key} is not a known key: {path} ({target}) takes {', '.join(sorted(known))}")
        elif len(parts) == 1:
            known = sorted(k for k in cfg if k != parts[0])
            problems.append(f"{key} is not a known key at the top level; the known keys are {', '.join(known)}")
    if problems:
        raise ConfigError("Unknown config keys (added with +):\n  " + "\n  ".join(problems))
