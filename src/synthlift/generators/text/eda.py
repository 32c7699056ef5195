"""`gan=text/eda`: EDA, Easy Data Augmentation (Wei & Zou, EMNLP 2019), on the raw training texts.

Each sample is a random training text of the requested class with one of EDA's four operations applied, chosen
uniformly among those whose rate `alpha_*` is above 0 (as in the paper, where every augmented sentence comes
from one operation), then embedded with the run's embedder:
synonym replacement (`alpha_sr`), random insertion of a synonym of a word of the text (`alpha_ri`), random swap
(`alpha_rs`) of `max(1, alpha * words)` words, and random deletion of each word with probability `alpha_rd`.

The paper draws synonyms from WordNet, which cannot be downloaded here; they come instead from the nearest
neighbours (cosine) in a static word-vector table: MiniLM's input token-embedding table, which ships offline, or a
GloVe file. Such neighbours are related words rather than strict synonyms (the table puts "bad" near "good"), a
known weakness of embedding-based EDA that `min_similarity` trades against coverage.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np
import torch

from synthlift.core.checks import positive_int, probability, unit_target
from synthlift.core.errors import ConfigError, DataError
from synthlift.embedders.avg_word import load_glove, load_minilm_token_table
from synthlift.generators.text.base import TextFitContext, TextGenerator, TextTrainData

# The English stop words of EDA's reference code (NLTK's list) with at least three letters, since shorter words
# never get synonyms here: they are neither replaced nor given synonyms, as in the paper.
# fmt: off
STOPWORDS = frozenset({
    "myself", "our", "ours", "ourselves", "you", "your", "yours", "yourself", "yourselves", "him", "his", "himself",
    "she", "her", "hers", "herself", "its", "itself", "they", "them", "their", "theirs", "themselves", "what",
    "which", "who", "whom", "this", "that", "these", "those", "are", "was", "were", "been", "being", "have", "has",
    "had", "having", "does", "did", "doing", "the", "and", "but", "because", "until", "while", "for", "with",
    "about", "against", "between", "into", "through", "during", "before", "after", "above", "below", "from", "down",
    "out", "off", "over", "under", "again", "further", "then", "once", "here", "there", "when", "where", "why",
    "how", "all", "any", "both", "each", "few", "more", "most", "other", "some", "such", "nor", "not", "only",
    "own", "same", "than", "too", "very", "can", "will", "just", "don", "should", "now",
})
# fmt: on
_MIN_WORD_LENGTH = 3
_TOKEN = re.compile(r"\w+|[^\w\s]+")
# Similarities are computed for this many (query, candidate) pairs at a time: ~64 MB, whatever the table's size.
_SIMILARITY_BLOCK = 2**24
_SHORTLIST = 4


def tokenize(text: str) -> list[str]:
    """Words and punctuation marks, so that "horrible." is looked up as "horrible"; the augmented text joins them
    with spaces, which the embedders' own tokenisers (MiniLM's, TF-IDF's, avg_word's) do not tell apart."""
    return _TOKEN.findall(text)


def _is_candidate(word: str) -> bool:
    """A whole alphabetic word: WordPiece continuations (`##ing`), punctuation and numbers fail `isalpha`."""
    return word.isalpha() and len(word) >= _MIN_WORD_LENGTH and word not in STOPWORDS


def nearest_words(
    queries: Iterable[str], vocabulary: Mapping[str, int], table: np.ndarray, count: int, min_similarity: float
) -> dict[str, list[str]]:
    """Each query word's (at most) `count` nearest candidate words by cosine, nearest first, with cosine at least
    `min_similarity`; queries outside the candidates get no entry.

    Neither the word itself nor a word that contains it or is contained in it counts: those are its inflections
    and negations ("movies", "unacceptable", "inability"), which the vector table ranks first but WordNet's
    synonyms, the paper's, are not. Each query's shortlist of `_SHORTLIST * count` neighbours leaves room for
    them. torch's `topk` is used because it is ~20x faster than `np.argpartition` on thousands of rows.
    """
    words = [word for word in vocabulary if _is_candidate(word)]
    position = {word: i for i, word in enumerate(words)}
    unit = torch.nn.functional.normalize(torch.as_tensor(table[[vocabulary[word] for word in words]]), dim=1)
    queries = sorted({query for query in queries if query in position})
    shortlist = min(_SHORTLIST * count, len(words))
    block = max(1, _SIMILARITY_BLOCK // len(words))
    neighbours: dict[str, list[str]] = {}
    for start in range(0, len(queries), block):
        chunk = queries[start : start + block]
        scores, top = (unit[[position[query] for query in chunk]] @ unit.T).topk(shortlist, dim=1)
        for query, candidates, similarities in zip(chunk, top.tolist(), scores.tolist(), strict=True):
            found = [
                words[i]
                for i, similarity in zip(candidates, similarities, strict=True)
                if similarity >= min_similarity and query not in words[i] and words[i] not in query
            ]
            if found:
                neighbours[query] = found[:count]
    return neighbours


def synonym_replacement(
    words: list[str], n: int, synonyms: Mapping[str, list[str]], rng: np.random.Generator
) -> list[str]:
    """Replace `n` distinct words that have synonyms (every occurrence of each, as EDA does) by a random one."""
    replaceable = sorted({word.lower() for word in words if word.lower() in synonyms})
    chosen = {
        word: synonyms[word][rng.integers(len(synonyms[word]))] for word in rng.permutation(replaceable)[:n].tolist()
    }
    return [chosen.get(word.lower(), word) for word in words]


def random_insertion(
    words: list[str], n: int, synonyms: Mapping[str, list[str]], rng: np.random.Generator
) -> list[str]:
    """`n` times, insert a random synonym of a random word of the text at a random position. (EDA tries ten
    random words to find one with synonyms; drawing among those that have some is the same without the retries.)"""
    sources = [word.lower() for word in words if word.lower() in synonyms]
    words = list(words)
    for _ in range(n if sources else 0):
        options = synonyms[sources[rng.integers(len(sources))]]
        words.insert(int(rng.integers(len(words) + 1)), options[rng.integers(len(options))])
    return words


def random_swap(words: list[str], n: int, rng: np.random.Generator) -> list[str]:
    """`n` times, swap two words at distinct random positions."""
    words = list(words)
    for _ in range(n if len(words) > 1 else 0):
        i, j = rng.choice(len(words), size=2, replace=False)
        words[i], words[j] = words[j], words[i]
    return words


def random_deletion(words: list[str], p: float, rng: np.random.Generator) -> list[str]:
    """Drop each word with probability `p`; a text never loses all of its words (one random word is kept)."""
    if len(words) <= 1:
        return list(words)
    kept = [word for word, draw in zip(words, rng.random(len(words)), strict=True) if draw >= p]
    return kept or [words[rng.integers(len(words))]]


class EasyDataAugmentation(TextGenerator):
    """EDA on the raw texts, embedded with the run's embedder (through the embedding cache)."""

    family = "cheap baseline"

    def __init__(
        self,
        alpha_sr: float = 0.1,
        alpha_ri: float = 0.1,
        alpha_rs: float = 0.1,
        alpha_rd: float = 0.1,
        num_synonyms: int = 5,
        min_similarity: float = 0.5,
        glove_path: str | os.PathLike | None = None,
    ):
        rates = {"alpha_sr": alpha_sr, "alpha_ri": alpha_ri, "alpha_rs": alpha_rs, "alpha_rd": alpha_rd}
        self.alphas = {name: probability(name, value) for name, value in rates.items()}
        if not any(self.alphas.values()):
            raise ConfigError("alpha_sr, alpha_ri, alpha_rs and alpha_rd are all 0: EDA would only copy training texts")
        self.num_synonyms = positive_int("num_synonyms", num_synonyms)
        self.min_similarity = unit_target("min_similarity", min_similarity)
        self.glove_path = None if glove_path is None else Path(glove_path).expanduser()
        if self.glove_path is not None and not self.glove_path.is_file():
            raise DataError(f"GloVe file not found: {self.glove_path} (glove_path)")
        self.operations = [name for name, alpha in self.alphas.items() if alpha > 0]

    def fit(self, train: TextTrainData, context: TextFitContext) -> dict[str, float]:
        """Store each class's texts and the synonyms of the words they contain. Returns `synonym_coverage`: the
        fraction of the training texts' distinct replaceable words (not stop words) that have a synonym."""
        labels = np.asarray(train.y)
        self.texts = [[train.texts[i] for i in np.flatnonzero(labels == c)] for c in range(train.num_classes)]
        self.class_names = list(train.class_names)
        self.embedder, self.embeddings = train.embedder, context.embeddings
        if self.glove_path is None:
            tokenizer, table = load_minilm_token_table()
            vocabulary = tokenizer.get_vocab()
        else:
            vocabulary, table = load_glove(self.glove_path)
        words = {word.lower() for text in train.texts for word in tokenize(text)}
        self.synonyms = nearest_words(words, vocabulary, table, self.num_synonyms, self.min_similarity)
        replaceable = [word for word in words if _is_candidate(word)]
        return {"synonym_coverage": len(self.synonyms) / max(len(replaceable), 1)}

    def augment(self, text: str, rng: np.random.Generator) -> str:
        """`text` after one EDA operation, chosen among those enabled."""
        words = tokenize(text)
        if not words:
            return text
        operation = self.operations[rng.integers(len(self.operations))]
        alpha = self.alphas[operation]
        n = max(1, int(alpha * len(words)))
        if operation == "alpha_sr":
            words = synonym_replacement(words, n, self.synonyms, rng)
        elif operation == "alpha_ri":
            words = random_insertion(words, n, self.synonyms, rng)
        elif operation == "alpha_rs":
            words = random_swap(words, n, rng)
        else:
            words = random_deletion(words, alpha, rng)
        return " ".join(words)

    def write(self, labels: np.ndarray, seed: int) -> list[str]:
        """The augmented texts `sample` embeds: per label, a random training text of that class, augmented."""
        if not hasattr(self, "texts"):
            raise RuntimeError("EasyDataAugmentation.sample before fit")
        labels = np.asarray(labels)
        for label in np.unique(labels):
            if not self.texts[label]:
                raise DataError(f"cannot sample class {self.class_names[label]!r}: it has no training texts")
        rng = np.random.default_rng(seed)
        written = []
        for label in labels:
            pool = self.texts[label]
            written.append(self.augment(pool[rng.integers(len(pool))], rng))
        return written

    def sample(self, labels: np.ndarray, seed: int) -> np.ndarray:
        return self.embeddings.encode(self.embedder, self.write(labels, seed))
