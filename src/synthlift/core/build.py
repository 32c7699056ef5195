"""Components from config: `_target_` + `hydra.utils.instantiate`, with errors that name the config key.

Every component (dataset, embedder, generator, strategy, metric, model) checks its own arguments in its
constructor and raises `InvalidArgument` naming the argument; `build` adds where in the config the node
sits (`gan.lr_generator=...`), and turns an unknown key into a message listing the known ones. There are
no name registries: `_target_` is the only link from a yaml file to its class.
"""

from __future__ import annotations

import inspect
import re
from typing import Any

from hydra.errors import InstantiationException
from hydra.utils import get_class, get_method, instantiate
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import MissingMandatoryValue

from synthlift.core.errors import ConfigError, InvalidArgument

_FULL_KEY = re.compile(r"full_key: (\S+)")
_UNEXPECTED = re.compile(r"unexpected keyword argument '([^']+)'")


def build(node: Any, key: str, **runtime: Any) -> Any:
    """Instantiate `node` (the config at `key`), passing `runtime` arguments that exist only now."""
    if node is None:
        raise ConfigError(f"{key} is not set: choose one of the options in conf/{key.split('.')[0]}/")
    if not (OmegaConf.is_dict(node) or isinstance(node, dict)) or "_target_" not in node:
        raise ConfigError(f"{key} has no _target_: every component yaml names the class that builds it")
    try:
        return instantiate(node, **runtime)
    except InstantiationException as error:
        raise _config_error(error, node, key) from error
    except MissingMandatoryValue as error:  # a `???` the user must fill in, e.g. a dataset's file path
        missing = error.full_key if error.full_key.startswith(f"{key}.") else f"{key}.{error.full_key}"
        raise ConfigError(f"{missing} is not set: pass {missing}=...") from error


def _config_error(error: InstantiationException, node: Any, key: str) -> ConfigError:
    """The component's own message, or an unknown-key message, under the full config key."""
    found = _FULL_KEY.search(str(error))
    where = found.group(1) if found else key
    if not where.startswith(key):  # instantiate(node) counts keys from the node itself
        where = f"{key}.{where}" if found else key
    cause = error.__cause__
    while isinstance(cause, InstantiationException) and cause.__cause__ is not None:
        cause = cause.__cause__
    if isinstance(cause, InvalidArgument):
        return ConfigError(f"{where}.{cause.render()}")
    if isinstance(cause, ConfigError):
        return ConfigError(f"{where}: {cause}")
    unknown = _UNEXPECTED.search(str(cause if cause is not None else error))
    if unknown:
        target = OmegaConf.select(_as_config(node), f"{where[len(key) + 1 :]}._target_" if where != key else "_target_")
        known = ", ".join(sorted(accepted_arguments(target))) if target else "?"
        return ConfigError(f"{where}.{unknown.group(1)} is not a known key; the known keys of {where} are: {known}")
    return ConfigError(f"{where}: cannot build the component: {cause if cause is not None else error}")


def _as_config(node: Any) -> DictConfig:
    return node if OmegaConf.is_config(node) else OmegaConf.create(node)


def accepted_arguments(target: str) -> list[str]:
    """The keyword arguments `target` (a dotted class or function name) accepts."""
    try:
        obj = get_class(target)
        signature = inspect.signature(obj.__init__)
    except Exception:  # a function target
        signature = inspect.signature(get_method(target))
    return [name for name in signature.parameters if name != "self"]
