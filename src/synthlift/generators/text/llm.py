"""`gan=text/llm`: a causal language model prompted per label writes texts, which the run's embedder embeds.

Two modes. `write` (the default): for each class, `pool_per_class` prompts are filled in (`{label}`: the class's
word, `{examples}`: `num_examples` random training texts of the class, one per "- " line) and continued by the
model. `paraphrase`: each prompt holds one training text of the class (`{text}`) to be reworded keeping its label,
the LLM augmentation the literature compares most. Either way the first line of each continuation is a synthetic
text of that class (decoding stops at the end of that line); an empty line, or a preamble ending in ':' ("Here is
a new review:"), is dropped and quotes around a text are removed. Sampling draws embedded texts from the class's
pool, so a run asks the model for a fixed number of texts however many samples it takes.

Instruct models are prompted through their chat template (`chat: null` uses it where the tokenizer has one).
`model` is a hub name, a local folder, or the name of a model shipped in a Python package
(`synthlift.generators.text.offline_models`, e.g. `smollm2-135m-instruct`, the `gan=text/smollm2` option).
How faithful the texts are to their label is measured on the whole pool: `llm_label_faithfulness` is the share
the real-only classifier assigns to the label they were written for.

Generation is by far the slowest step of any generator here (minutes on a CPU for a small model), so the pool is
cached in `<cache_dir>/llm/` by everything it depends on: the model, the prompts as filled in, the generation
settings and the seed. Every job of a sweep that asks the same (e.g. the same seed with another augment strategy
or classifier) reuses it, and a cache hit never loads the model. `prompt_texts` makes a label-budget curve
affordable: prompts read only a class's first `prompt_texts` training texts, which are the same at every budget
of a seed (training sets are nested, in draw order: `data/text/splits.py`), so every budget above it asks the
same prompts and shares one pool.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from string import Formatter
from typing import Any

import numpy as np
import torch

from synthlift.core.cache import fingerprint, get_or_create
from synthlift.core.checks import non_negative_int, one_of, positive, positive_int, unit_target
from synthlift.core.errors import ConfigError, DataError, InvalidArgument
from synthlift.core.progress import stage_progress
from synthlift.core.resources import check_count
from synthlift.generators.text.base import TextFitContext, TextTrainData
from synthlift.generators.text.numeric import ClassResampler, seeded
from synthlift.generators.text.offline_models import OFFLINE_MODELS, offline_model_folder, quiet_transformers

DEFAULT_PROMPT = "Here are some texts with {label} sentiment:\n{examples}\n-"
MODES = ("write", "paraphrase")
PROMPT_FIELDS = {"write": ({"label"}, {"label", "examples"}), "paraphrase": ({"text"}, {"label", "text"})}
# The most texts a class's pool may have: each is one language-model generation (about a second on a CPU for a
# small model), so 10,000 per class is hours already, and a draw beyond the pool reuses its texts: a larger pool
# mostly adds waiting.
MAX_POOL_PER_CLASS = 10_000


def one_line(text: str, max_words: int | None = None) -> str:
    """`text` as one line of at most `max_words` words: a training text's line breaks would end a few-shot list
    item early, and comparing generated with training texts must ignore spacing."""
    return " ".join(text.split()[:max_words])


class PromptedLanguageModel(ClassResampler):
    """Label-conditioned few-shot prompts to a Hugging Face causal LM; its `rows` are the embedded texts it wrote."""

    family = "language model"

    def __init__(
        self,
        model: str,
        prompt: str = DEFAULT_PROMPT,
        mode: str = "write",
        chat: bool | None = None,
        threads: int = 1,
        num_examples: int = 3,
        prompt_texts: int | None = None,
        answer_start: str = "",
        max_example_words: int = 64,
        label_names: Mapping[str, str] | None = None,
        pool_per_class: int = 64,
        max_new_tokens: int = 48,
        do_sample: bool = True,
        temperature: float = 1.0,
        top_p: float = 0.95,
        batch_size: int = 16,
        device: str = "cpu",
    ):
        if not isinstance(model, str) or not model.strip():
            raise InvalidArgument("model", model, "a Hugging Face hub name or a local model directory")
        self.model = model
        self.mode = one_of("mode", mode, MODES)
        self.prompt = _checked_prompt(prompt, self.mode)
        if chat is not None and not isinstance(chat, bool):
            raise InvalidArgument("chat", chat, "true, false or null (the tokenizer's chat template where it has one)")
        self.chat = chat
        # One thread per job: on a busy 2-core machine two threads each were about 10x slower than one.
        self.threads = positive_int("threads", threads)
        self.label_names = dict(label_names or {})
        if not all(isinstance(word, str) and word.strip() for word in self.label_names.values()):
            raise InvalidArgument("label_names", self.label_names, "a mapping from class name to a non-empty word")
        if not isinstance(do_sample, bool):
            raise InvalidArgument("do_sample", do_sample, "true or false")
        self.num_examples = non_negative_int("num_examples", num_examples)
        self.prompt_texts = None if prompt_texts is None else positive_int("prompt_texts", prompt_texts)
        if not isinstance(answer_start, str) or "\n" in answer_start:
            raise InvalidArgument("answer_start", answer_start, "a string without a line break ('' for none)")
        self.answer_start = answer_start
        self.max_example_words = positive_int("max_example_words", max_example_words)
        self.pool_per_class = check_count(
            "pool_per_class",
            positive_int("pool_per_class", pool_per_class),
            cap=MAX_POOL_PER_CLASS,
            item="language-model generations per class",
            why="each is one generation, about a second on a CPU: hours of generating before any training",
        )
        sampling = {"temperature": positive("temperature", temperature), "top_p": unit_target("top_p", top_p)}
        # generate()'s settings; temperature and top_p only where they act, so greedy pools share a cache entry.
        self.generation: dict[str, Any] = {
            "max_new_tokens": positive_int("max_new_tokens", max_new_tokens),
            "do_sample": do_sample,
            **(sampling if do_sample else {}),
        }
        self.batch_size = positive_int("batch_size", batch_size)
        try:
            self.device = str(torch.device(device))
        except (RuntimeError, TypeError):
            raise InvalidArgument("device", device, "a torch device: cpu, cuda, cuda:1, mps") from None

    def check_labels(self, class_names: list[str]) -> None:
        unknown = sorted(set(self.label_names) - set(class_names))
        if unknown:
            raise ConfigError(f"label_names has keys {unknown} that are not classes of the dataset: {class_names}")

    def fit(self, train: TextTrainData, context: TextFitContext) -> dict[str, float]:
        """Write (or reuse) the pool and embed it. Returns what the texts are like: `llm_usable_fraction` of
        continuations with a non-empty first line, their `llm_mean_words`, the `llm_distinct_fraction` of distinct
        texts and the `llm_copy_fraction` that repeat a training text verbatim."""
        self.class_names = list(train.class_names)
        model = self._model_location(context.cache_dir)
        prompts, owners = self._prompts(train, context.seed)
        # The pool depends on the prompts as filled in (not on training texts no prompt shows), and on what
        # changes the model's answers: batch_size and device change the random stream of sampling; the stop
        # at a line's end, the chat template and the answer's start change what the model is asked; how lines
        # are kept changes what is kept.
        settings = [self.generation, self.batch_size, self.device, {"chat": self.chat, "start": self.answer_start}]
        settings += [{"stop": "line", "kept": "no preamble, unquoted"}]
        key = fingerprint(_model_identity(model), settings, context.seed, prompts, owners)

        def create(tmp: Path) -> None:
            pools = self._write_pools(model, prompts, owners, context.seed)
            tmp.write_text(json.dumps(pools, ensure_ascii=False), encoding="utf-8")

        path, _ = get_or_create(context.cache_dir / "llm" / f"{key}.json", create)
        pools = json.loads(path.read_text(encoding="utf-8"))
        empty = [name for name in self.class_names if not pools[name]]
        if empty:
            raise DataError(
                f"model={self.model!r} wrote no usable text for class(es) {empty} (every continuation's first line "
                f"was empty): raise pool_per_class or max_new_tokens, or end the prompt where a text should start "
                f"(e.g. after '-'); the pool is in {path}"
            )
        texts = [text for name in self.class_names for text in pools[name]]
        x = context.embeddings.encode(train.embedder, texts)
        self.rows = np.split(x, np.cumsum([len(pools[name]) for name in self.class_names])[:-1])
        training = {one_line(text) for text in train.texts}
        described = {
            "llm_usable_fraction": len(texts) / (self.pool_per_class * len(self.class_names)),
            "llm_mean_words": float(np.mean([len(text.split()) for text in texts])),
            "llm_distinct_fraction": len(set(texts)) / len(texts),
            "llm_copy_fraction": float(np.mean([text in training for text in texts])),
        }
        if context.teacher is not None:
            labels = np.repeat(np.arange(len(self.class_names)), [len(pools[name]) for name in self.class_names])
            with torch.no_grad():
                assigned = context.teacher(torch.as_tensor(x, dtype=torch.float32)).argmax(1).numpy()
            described["llm_label_faithfulness"] = float(np.mean(assigned == labels))
        return described

    def _draw(self, label: int, count: int, rng: np.random.Generator) -> np.ndarray:
        """Distinct texts of the pool while it lasts, with replacement beyond its size."""
        rows = self.rows[label]
        return rows[rng.choice(len(rows), size=count, replace=count > len(rows))]

    def _model_location(self, cache_dir: Path) -> str:
        """What `from_pretrained` is given: a packaged model's converted folder (made once), else `model`."""
        if self.model in OFFLINE_MODELS:
            return str(offline_model_folder(self.model, cache_dir))
        return self.model

    def _prompts(self, train: TextTrainData, seed: int) -> tuple[list[str], list[str]]:
        """`pool_per_class` prompts per class and the class name of each, reading only the class's first
        `prompt_texts` training texts. `write`: each with its own random examples among them; `paraphrase`: each
        with one of them, in training order and again from the start when there are fewer than prompts."""
        rng = np.random.default_rng(seed)
        prompts, owners = [], []
        for label, name in enumerate(self.class_names):
            shown_at_most = np.flatnonzero(train.y == label)[: self.prompt_texts]
            members = [one_line(train.texts[i], self.max_example_words) for i in shown_at_most]
            for index in range(self.pool_per_class):
                if self.mode == "paraphrase":
                    fields = {"text": members[index % len(members)]}
                else:
                    shown = rng.permutation(len(members))[: self.num_examples]
                    fields = {"examples": "\n".join(f"- {members[i]}" for i in shown)}
                prompts.append(self.prompt.format(label=self.label_names.get(name, name), **fields))
                owners.append(name)
        return prompts, owners

    def _write_pools(self, model: str, prompts: list[str], owners: list[str], seed: int) -> dict[str, list[str]]:
        """Class name -> the texts (`kept_line`) of the model's continuations of that class's prompts."""
        pools: dict[str, list[str]] = {name: [] for name in self.class_names}
        for name, continuation in zip(owners, self._generate(model, prompts, seed), strict=True):
            line = kept_line(continuation)
            if line:
                pools[name].append(line)
        return pools

    def _generate(self, model_location: str, prompts: list[str], seed: int) -> list[str]:
        """The model's continuation of each prompt, in batches left-padded so that every continuation starts right
        after its prompt, each stopped at the end of its first line (only that line is kept: decoding further
        wasted most of the time). Offline (HF_HUB_OFFLINE), only local files are read: nothing is downloaded."""
        from huggingface_hub import is_offline_mode
        from transformers import AutoModelForCausalLM, AutoTokenizer

        quiet_transformers()
        offline = is_offline_mode()
        folder = Path(model_location).expanduser()
        if folder.is_dir() and not any(_is_tokenizer_file(path.name) for path in folder.iterdir()):
            raise ConfigError(
                f"gan.model={self.model!r} is a folder without tokenizer files (tokenizer.json, "
                f"tokenizer_config.json, vocab.*, merges.txt, *.model): save the tokenizer beside the weights "
                f"(tokenizer.save_pretrained(folder))"
            )
        try:
            tokenizer = AutoTokenizer.from_pretrained(model_location, padding_side="left", local_files_only=offline)
            model = AutoModelForCausalLM.from_pretrained(model_location, local_files_only=offline)
        except (OSError, ValueError) as error:  # a folder without tokenizer files fails with a ValueError
            raise ConfigError(
                f"gan.model={self.model!r} cannot be loaded: give a local model directory holding both the weights "
                f"and the tokenizer files (tokenizer.json or tokenizer_config.json with its vocabulary), or a hub "
                f"name that is in the local Hugging Face cache when offline ({type(error).__name__}: {error})"
            ) from error
        model = model.to(self.device).eval()
        if tokenizer.pad_token is None:  # GPT-2-style tokenizers have none; padded positions are masked anyway
            tokenizer.pad_token = tokenizer.eos_token
        chat = self.chat if self.chat is not None else bool(getattr(tokenizer, "chat_template", None))
        if chat:
            prompts = [_as_chat(tokenizer, prompt) for prompt in prompts]
        prompts = [prompt + self.answer_start for prompt in prompts]
        # A tokenizer that cannot write a line break (WordPiece drops whitespace) needs no stop; transformers
        # refuses a stop string that no token can spell.
        writes_newline = "\n" in tokenizer.decode(tokenizer("\n", add_special_tokens=False)["input_ids"])
        stop_at_line_end = {"stop_strings": ["\n"], "tokenizer": tokenizer} if writes_newline else {}
        continuations = []
        threads = torch.get_num_threads()
        torch.set_num_threads(self.threads)
        try:
            with seeded(seed), torch.no_grad(), stage_progress("language model writing", len(prompts)) as advance:
                for start in range(0, len(prompts), self.batch_size):
                    batch = tokenizer(
                        prompts[start : start + self.batch_size],
                        return_tensors="pt",
                        padding=True,
                        add_special_tokens=not chat,  # the chat template already holds its special tokens
                    )
                    input_ids = batch["input_ids"].to(self.device)
                    generated = model.generate(
                        input_ids=input_ids,
                        attention_mask=batch["attention_mask"].to(self.device),
                        pad_token_id=tokenizer.pad_token_id,
                        **stop_at_line_end,
                        **self.generation,
                    )
                    new_tokens = generated[:, input_ids.shape[1] :]
                    continuations += tokenizer.batch_decode(new_tokens, skip_special_tokens=True)
                    advance(len(new_tokens))
        finally:
            torch.set_num_threads(threads)
        return continuations


def kept_line(continuation: str) -> str:
    """The text in a continuation: its first line without surrounding quotes, or "" where that line is empty or
    a preamble ending in ':' (small instruct models often announce their answer: "Here's a new review:")."""
    line = continuation.split("\n", 1)[0].strip()
    if line.endswith(":"):
        return ""
    return line.strip('"').strip()


def _checked_prompt(prompt: Any, mode: str) -> str:
    """A template with the fields of `mode`, literal braces doubled as in `str.format`. `write`: `{label}`
    (required: the prompt is what makes the texts class-conditional) and optionally `{examples}`; `paraphrase`:
    `{text}` (required: the training text to reword, whose label the paraphrase keeps) and optionally `{label}`."""
    required, allowed = PROMPT_FIELDS[mode]
    expected = (
        f"for mode={mode}, a str.format template with the field(s) {sorted(required)}, optionally "
        f"{sorted(allowed - required)}, and no other field"
    )
    try:
        fields = {field for _, field, _, _ in Formatter().parse(prompt) if field is not None}
    except (TypeError, ValueError, AttributeError):
        raise InvalidArgument("prompt", prompt, expected) from None
    if not required <= fields <= allowed:
        raise InvalidArgument("prompt", prompt, expected)
    return prompt


def _as_chat(tokenizer: Any, prompt: str) -> str:
    """`prompt` as the user's turn of the tokenizer's chat template, ending where the assistant's answer starts:
    how an instruct model is meant to be asked (a bare completion prompt gets chat-formatted noise back)."""
    return tokenizer.apply_chat_template(
        [{"role": "user", "content": prompt}], tokenize=False, add_generation_prompt=True
    )


def _model_identity(model: str) -> Any:
    """The cache key's model part: a hub name as given; a local directory by its path and its files' sizes and
    modification times, so that weights saved over it invalidate the pool."""
    folder = Path(model).expanduser()
    if not folder.is_dir():
        return model
    files = sorted((f.name, f.stat().st_size, f.stat().st_mtime_ns) for f in folder.iterdir() if f.is_file())
    return [str(folder.resolve()), files]


def _is_tokenizer_file(name: str) -> bool:
    """A file from which transformers can build a tokenizer (without one, it builds an empty tokenizer or asks
    for sentencepiece, and generation fails far from the cause)."""
    return (
        name.startswith("tokenizer")
        or name in ("vocab.json", "vocab.txt", "merges.txt", "spiece.model")
        or (name.endswith((".model", ".gguf")))
    )
