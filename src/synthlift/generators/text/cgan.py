"""`gan=text/cgan`: the conditional GAN of Gupta (ICASSP 2019) over sentence embeddings, as a text generator.

G(noise, one-hot label) -> embedding and D(embedding, one-hot label) -> real/fake, trained with the tricks
of `conf/tricks/text/*.yaml`. The tricks, generator selection on the validation set and tweet pretraining
are internals of this class: the pipeline only calls `fit` and `sample`.
"""

from __future__ import annotations

import logging

import numpy as np
import torch

from synthlift.core.cache import fingerprint
from synthlift.core.checks import positive, positive_int, probability
from synthlift.core.errors import ConfigError, InvalidArgument
from synthlift.data.text.table import normalised_text
from synthlift.generators.divergence import check_sample_scale
from synthlift.generators.text.base import TextFitContext, TextGenerator, TextTrainData, activation_bytes_per_example
from synthlift.generators.text.cgan_module import DIVERGENCE_ADVICE, ConditionalEmbeddingGAN
from synthlift.generators.text.gupta_tricks import GuptaTricks, TrickSettings
from synthlift.generators.text.numeric import seeded
from synthlift.generators.text.objectives.base import GANObjective
from synthlift.generators.text.objectives.cross_entropy import CrossEntropyObjective
from synthlift.generators.text.pretrain import fit_gan, load_pretrained, pretrained_checkpoint
from synthlift.generators.text.selection import GeneratorSelection

log = logging.getLogger(__name__)


class ConditionalGAN(TextGenerator):
    """The GAN family of the zoo: `objective` (a component), `spectral_norm` and `pack` (PacGAN) choose the
    variant — `gan=text/cgan`, `text/wgan_gp`, `text/hinge_sn`, `text/pacgan` are this class with other values."""

    family = "GAN"

    def __init__(
        self,
        tricks: GuptaTricks,
        objective: GANObjective | None = None,
        spectral_norm: bool = False,
        pack: int = 1,
        latent_dim: int = 64,
        hidden_dim: int = 256,
        num_layers: int = 2,
        dropout: float = 0.2,
        lr_generator: float = 2e-4,
        lr_discriminator: float = 2e-4,
        beta1: float = 0.5,
        beta2: float = 0.999,
        batch_size: int = 32,
        max_epochs: int = 300,
    ):
        objective = CrossEntropyObjective() if objective is None else objective
        if not isinstance(objective, GANObjective):
            raise InvalidArgument("objective", objective, "a GAN objective (generators/text/objectives/*)")
        if tricks.settings.real_target < 1 and not objective.smooths_labels:
            raise ConfigError(
                f"tricks.label_smoothing is on, but {type(objective).__name__} has no real/fake target to smooth: "
                "set tricks.label_smoothing.enabled=false (or tricks=text/no_smoothing) with this objective"
            )
        if not isinstance(spectral_norm, bool):
            raise InvalidArgument("spectral_norm", spectral_norm, "true or false")
        self.pack = positive_int("pack", pack)
        self.batch_size = positive_int("batch_size", batch_size)  # an integer before it is divided into packs
        if batch_size % self.pack:
            raise InvalidArgument("batch_size", batch_size, f"a multiple of pack={pack} (packs are cut from batches)")
        self.objective = objective
        self.network = {
            "spectral_norm": spectral_norm,
            "pack": self.pack,
            "latent_dim": positive_int("latent_dim", latent_dim),
            "hidden_dim": positive_int("hidden_dim", hidden_dim),
            "num_layers": positive_int("num_layers", num_layers),
            "dropout": probability("dropout", dropout),
            "lr_generator": positive("lr_generator", lr_generator),
            "lr_discriminator": positive("lr_discriminator", lr_discriminator),
            "beta1": probability("beta1", beta1),
            "beta2": probability("beta2", beta2),
        }
        self.max_epochs = positive_int("max_epochs", max_epochs)
        self.tricks: TrickSettings = tricks.settings
        self.corpus = tricks.corpus
        self.module: ConditionalEmbeddingGAN | None = None

    def _build(self, embedding_dim: int, num_classes: int, num_real: int, tricks: TrickSettings, teacher=None):
        return ConditionalEmbeddingGAN(
            embedding_dim, num_classes, num_real, tricks, teacher, objective=self.objective, **self.network
        )

    def check_labels(self, class_names: list[str]) -> None:
        if self.corpus is not None and self.corpus.class_names != class_names:
            raise ConfigError(
                f"tricks.pretrain.corpus.class_names={self.corpus.class_names} differ from "
                f"dataset.class_names={class_names}: the GAN's label space must match"
            )

    def fit(self, train: TextTrainData, context: TextFitContext) -> dict[str, float]:
        """(Load the tweet-pretrained weights,) fine-tune on the scarce data, keep the best generator by
        validation score; then check the samples are data, not a blow-up."""
        pretrained = self._pretrained(train, context) if self.tricks.pretrain else None
        tricks = self.tricks
        with seeded(context.seed):  # initial weights set by the run's seed: a rerun is the same run
            self.module = self._build(train.x.shape[1], train.num_classes, len(train.y), tricks, context.teacher)
        if pretrained is not None:
            load_pretrained(self.module, pretrained)
        selection = GeneratorSelection(lambda _: context.validation_score(self), tricks.eval_every, tricks.patience)
        fit_gan(
            self.module,
            train.x,
            train.y,
            batch_size=self.batch_size,
            max_epochs=self.max_epochs,
            trainer_cfg=context.trainer,
            seed=context.seed,
            loggers=context.loggers,
            callbacks=[selection] if tricks.early_stopping else [],
        )
        check_sample_scale(self.sample(train.y, context.seed), train.x, DIVERGENCE_ADVICE)
        if not tricks.early_stopping:
            return {}
        return {"selected_epoch": float(selection.best_epoch), "val_acc_selected": selection.best_score}

    def sampling_bytes_per_example(self, dim: int) -> int:
        """The generator's activations, plus its input: the noise and its concatenation with the one-hot label."""
        generator = self.module.generator
        return activation_bytes_per_example(generator) + 2 * 4 * (generator.latent_dim + generator.num_classes)

    def sample(self, labels: np.ndarray, seed: int) -> np.ndarray:
        if self.module is None:
            raise RuntimeError("ConditionalGAN.sample before fit")
        return self.module.sample(torch.tensor(labels), seed=seed).numpy()

    def _pretrained(self, train: TextTrainData, context: TextFitContext):
        """Path of the GAN pretrained on the tweet corpus (trained once, then cached).

        Corpus texts that are in the run's validation or test set (compared as `normalised_text` reads them)
        are dropped first: when the corpus and the target data overlap (e.g. `dataset=text/sentiment140_random
        tricks=text/paper`), pretraining must not see them.
        """
        corpus = self.corpus.load()
        held_out = [normalised_text(text) in context.held_out_texts for text in corpus.texts]
        dropped = sorted(text for text, out in zip(corpus.texts, held_out, strict=True) if out)
        if dropped:
            log.info("Pretraining corpus: dropped %d texts of the validation/test set", len(dropped))
            corpus = corpus.subset([i for i, out in enumerate(held_out) if not out])

        def load_corpus() -> tuple[np.ndarray, np.ndarray]:
            return context.embeddings.encode(train.embedder, corpus.texts), corpus.labels

        def build(embedding_dim: int, num_real: int, tricks: TrickSettings) -> ConditionalEmbeddingGAN:
            return self._build(embedding_dim, train.num_classes, num_real, tricks)

        path, created = pretrained_checkpoint(
            cache_dir=context.cache_dir,
            key_parts={
                "corpus": self.corpus.params,
                "embedder": train.embedder.fingerprint(),
                # The texts pretraining actually leaves out, not every held-out text of the run: a target
                # dataset that shares no text with the corpus reuses the one checkpoint of every other.
                "dropped": fingerprint(dropped),
                "network": self.network,
                "objective": self.objective.params,
                "num_classes": train.num_classes,
            },
            load_corpus=load_corpus,
            build=build,
            tricks=self.tricks,
            trainer_cfg=context.trainer,
        )
        log.info("%s pretrained GAN %s", "Trained" if created else "Reusing cached", path.name)
        return path
