"""The text GAN: shapes, conditioning, and that each trick switch changes training as it claims."""

from __future__ import annotations

from dataclasses import replace
from unittest import mock

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from pytorch_lightning import Callback

from synthlift.core.errors import GANDivergedError, InvalidArgument
from synthlift.generators.text.cgan_module import ConditionalEmbeddingGAN
from synthlift.generators.text.gupta_tricks import GuptaTricks, TrickSettings
from synthlift.generators.text.objectives.cross_entropy import CrossEntropyObjective
from synthlift.generators.text.pretrain import fit_gan, load_pretrained, pretrained_checkpoint
from synthlift.generators.text.selection import GeneratorSelection

GAN_CFG = dict(
    objective=CrossEntropyObjective(),
    spectral_norm=False,
    pack=1,
    latent_dim=8,
    hidden_dim=16,
    num_layers=2,
    dropout=0.0,
    lr_generator=1e-3,
    lr_discriminator=1e-3,
    beta1=0.5,
    beta2=0.999,
)
TRAINER = dict(accelerator="cpu", devices=1)
DIM, CLASSES = 6, 2


@pytest.fixture
def real_data():
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1], 12)
    x = (rng.normal(size=(24, DIM)) + 2.0 * y[:, None]).astype(np.float32)
    return x, y


def teacher() -> torch.nn.Module:
    return torch.nn.Linear(DIM, CLASSES)


def build_gan(network, tricks, embedding_dim, num_classes, num_real, teacher=None) -> ConditionalEmbeddingGAN:
    return ConditionalEmbeddingGAN(embedding_dim, num_classes, num_real, tricks, teacher, **network)


def test_generator_and_discriminator_shapes_and_conditioning():
    gan = build_gan(GAN_CFG, TrickSettings(), DIM, CLASSES, num_real=24)
    noise = torch.randn(5, 8)
    zeros, ones = torch.zeros(5, dtype=torch.long), torch.ones(5, dtype=torch.long)
    fake_neg, fake_pos = gan.generator(noise, zeros), gan.generator(noise, ones)
    assert fake_neg.shape == (5, DIM)
    assert not torch.allclose(fake_neg, fake_pos), "the label must change the generated embedding"
    assert gan.discriminator(fake_neg, zeros).shape == (5,)
    sample = gan.sample(torch.tensor([0, 1, 1]), seed=3)
    assert sample.shape == (3, DIM)
    assert torch.equal(sample, gan.sample(torch.tensor([0, 1, 1]), seed=3)), "sampling is reproducible by seed"


def test_one_sided_label_smoothing_targets_real_at_0_9_and_fake_at_0():
    objective = CrossEntropyObjective()
    real_logits, fake_logits = torch.randn(7), torch.randn(7)
    expected = F.binary_cross_entropy_with_logits(
        real_logits, torch.full((7,), 0.9)
    ) + F.binary_cross_entropy_with_logits(fake_logits, torch.zeros(7))
    assert torch.allclose(objective.discriminator_loss(real_logits, fake_logits, 0.9), expected)
    assert not torch.allclose(objective.discriminator_loss(real_logits, fake_logits, 1.0), expected)
    smoothed = build_gan(GAN_CFG, TrickSettings(real_target=0.9), DIM, CLASSES, 24)
    real, fake, labels = torch.randn(4, DIM), torch.randn(4, DIM), torch.tensor([0, 1, 0, 1])
    scores = smoothed.discriminator(real, labels), smoothed.discriminator(fake, labels)
    assert torch.allclose(smoothed.discriminator_loss(real, fake, labels), objective.discriminator_loss(*scores, 0.9))


def test_training_uses_the_smoothed_discriminator_loss(real_data):
    gan = build_gan(GAN_CFG, TrickSettings(real_target=0.9), DIM, CLASSES, 24)
    with mock.patch.object(
        type(gan), "discriminator_loss", autospec=True, side_effect=type(gan).discriminator_loss
    ) as spy:
        fit_gan(gan, *real_data, batch_size=8, max_epochs=1, trainer_cfg=TRAINER, seed=0)
    assert spy.call_count == 3  # one per batch: 24 examples / 8


class NoiseRecorder(Callback):
    """Records, per epoch, the epoch's noise pattern, its minibatches and what the discriminator saw."""

    def __init__(self):
        self.records = []

    def on_train_batch_start(self, trainer, gan, epoch_batches, batch_idx):
        seen = []
        handle = gan.discriminator.register_forward_hook(lambda m, args, out: seen.append(args[0].detach()))
        self.records.append((trainer.current_epoch, gan.epoch_noise.clone(), epoch_batches, seen, handle))


def test_instance_noise_is_fresh_each_epoch_and_added_to_real_examples(real_data):
    tricks = TrickSettings(instance_noise_std=0.5, instance_noise_decay=0.5)
    gan = build_gan(GAN_CFG, tricks, DIM, CLASSES, 24)
    recorder = NoiseRecorder()
    fit_gan(gan, *real_data, batch_size=8, max_epochs=3, trainer_cfg=TRAINER, seed=0, callbacks=[recorder])
    patterns = {}
    for epoch, noise, epoch_batches, seen, handle in recorder.records:
        handle.remove()
        patterns[epoch] = noise
        assert len(epoch_batches) == 3  # 24 examples in whole minibatches of 8
        for step, (x, _, index) in enumerate(epoch_batches):
            # Each step calls D on the real batch (with this epoch's noise), the fake one, and the fake for G.
            assert torch.allclose(seen[3 * step], x + noise[index], atol=1e-6)
    assert sorted(patterns) == [0, 1, 2]
    assert not torch.allclose(patterns[0], patterns[1]), "a new pattern every epoch"
    stds = [patterns[e].std().item() for e in range(3)]
    assert stds[0] == pytest.approx(0.5, rel=0.3) and stds[2] == pytest.approx(0.125, rel=0.3), "std decays"


def test_each_epoch_visits_every_example_once_in_a_new_order(real_data):
    recorder = NoiseRecorder()
    gan = build_gan(GAN_CFG, TrickSettings(instance_noise_std=0.1), DIM, CLASSES, 24)
    fit_gan(gan, *real_data, batch_size=8, max_epochs=2, trainer_cfg=TRAINER, seed=0, callbacks=[recorder])
    orders = []
    for _, _, epoch_batches, _, handle in recorder.records:
        handle.remove()
        orders.append(torch.cat([index for _, _, index in epoch_batches]))
    assert all(sorted(order.tolist()) == list(range(24)) for order in orders)
    assert not torch.equal(orders[0], orders[1]), "reshuffled every epoch"


def test_no_instance_noise_when_off(real_data):
    gan = build_gan(GAN_CFG, TrickSettings(), DIM, CLASSES, 24)
    fit_gan(gan, *real_data, batch_size=8, max_epochs=1, trainer_cfg=TRAINER, seed=0)
    assert gan.epoch_noise is None


def test_consistency_term_only_when_on_and_teacher_stays_frozen(real_data):
    fake, labels = torch.randn(4, DIM), torch.tensor([0, 1, 0, 1])
    off = build_gan(GAN_CFG, TrickSettings(), DIM, CLASSES, 24, teacher())
    assert set(off.generator_losses(fake, labels)) == {"adversarial", "total"}

    judge = teacher()
    before = [p.clone() for p in judge.parameters()]
    on = build_gan(GAN_CFG, TrickSettings(consistency_weight=2.0), DIM, CLASSES, 24, judge)
    losses = on.generator_losses(fake, labels)
    assert torch.allclose(losses["consistency"], F.cross_entropy(judge(fake), labels))
    assert torch.allclose(losses["total"], losses["adversarial"] + 2.0 * losses["consistency"])
    fit_gan(on, *real_data, batch_size=8, max_epochs=2, trainer_cfg=TRAINER, seed=0)
    assert all(torch.equal(a, b) for a, b in zip(before, judge.parameters(), strict=True))
    with pytest.raises(ValueError, match="no teacher"):
        build_gan(GAN_CFG, TrickSettings(consistency_weight=1.0), DIM, CLASSES, 24)


def test_consistency_pulls_samples_towards_the_teacher_label(real_data):
    """With a strong consistency weight the teacher classifies generated samples as conditioned."""
    judge = torch.nn.Linear(DIM, CLASSES)
    with torch.no_grad():
        judge.weight.copy_(torch.tensor([[-1.0] * DIM, [1.0] * DIM]))
        judge.bias.zero_()
    gan = build_gan({**GAN_CFG, "lr_generator": 5e-3}, TrickSettings(consistency_weight=5.0), DIM, CLASSES, 24, judge)
    fit_gan(gan, *real_data, batch_size=8, max_epochs=15, trainer_cfg=TRAINER, seed=0)
    labels = torch.tensor([0, 1] * 50)
    agreement = (judge(gan.sample(labels, seed=1)).argmax(1) == labels).float().mean().item()
    assert agreement > 0.9


def test_divergence_raises_a_clear_error(real_data):
    gan = build_gan({**GAN_CFG, "lr_generator": 1e30, "lr_discriminator": 1e30}, TrickSettings(), DIM, CLASSES, 24)
    with pytest.raises(GANDivergedError, match="GAN diverged: the .* loss became"):
        fit_gan(gan, *real_data, batch_size=8, max_epochs=20, trainer_cfg=TRAINER, seed=0)


def test_a_finite_but_huge_loss_counts_as_divergence(real_data):
    """A blow-up need not be NaN: losses of 1e23 are finite numbers, and still garbage."""
    gan = build_gan(GAN_CFG, TrickSettings(), DIM, CLASSES, 24)
    real_loss = type(gan).discriminator_loss

    def huge(module, *args):  # still a loss with a graph to backpropagate through
        return real_loss(module, *args) * 0 + 1e23

    with (
        mock.patch.object(type(gan), "discriminator_loss", autospec=True, side_effect=huge),
        pytest.raises(GANDivergedError, match=r"discriminator loss became 1e\+23"),
    ):
        fit_gan(gan, *real_data, batch_size=8, max_epochs=1, trainer_cfg=TRAINER, seed=0)


def test_generator_selection_stops_on_patience_and_restores_the_best(real_data):
    scores = iter([0.5, 0.7, 0.6, 0.6, 0.9])
    snapshots = {}

    def score(gan):
        snapshots[len(snapshots)] = {k: v.clone() for k, v in gan.generator.state_dict().items()}
        return next(scores)

    gan = build_gan(GAN_CFG, TrickSettings(), DIM, CLASSES, 24)
    selection = GeneratorSelection(score, eval_every=2, patience=2)
    fit_gan(gan, *real_data, batch_size=8, max_epochs=50, trainer_cfg=TRAINER, seed=0, callbacks=[selection])
    assert selection.history == [(2, 0.5), (4, 0.7), (6, 0.6), (8, 0.6)], "stops after 2 stale evaluations"
    assert selection.best_epoch == 4
    restored = gan.generator.state_dict()
    assert all(torch.equal(restored[k], snapshots[1][k]) for k in restored), "best generator restored"


def test_pretrained_checkpoint_is_cached_and_loadable(tmp_path, real_data):
    calls = []

    def load_corpus():
        calls.append(1)
        return real_data

    tricks = TrickSettings(
        pretrain=True, pretrain_epochs=2, pretrain_batch_size=8, consistency_weight=1.0, early_stopping=True
    )
    kwargs = dict(
        cache_dir=tmp_path,
        key_parts={"corpus": "toy", "network": GAN_CFG},
        load_corpus=load_corpus,
        build=lambda dim, num_real, tricks: build_gan(GAN_CFG, tricks, dim, CLASSES, num_real),
        tricks=tricks,
        trainer_cfg=TRAINER,
    )
    path, created = pretrained_checkpoint(**kwargs)
    again, created_again = pretrained_checkpoint(**kwargs)
    assert created and not created_again and path == again and calls == [1]
    # Settings that act only on the target data do not invalidate the pretrained checkpoint...
    _, created_other = pretrained_checkpoint(**{**kwargs, "tricks": replace(tricks, consistency_weight=3.0)})
    assert not created_other
    # ...but ones that shape the pretrained weights do.
    _, created_smoothed = pretrained_checkpoint(**{**kwargs, "tricks": replace(tricks, real_target=0.9)})
    _, created_batched = pretrained_checkpoint(**{**kwargs, "tricks": replace(tricks, pretrain_batch_size=4)})
    assert created_smoothed and created_batched
    gan = build_gan(GAN_CFG, TrickSettings(), DIM, CLASSES, 24)
    load_pretrained(gan, path)
    state = torch.load(path, weights_only=True)
    assert all(torch.equal(gan.generator.state_dict()[k], v) for k, v in state["generator"].items())


def test_gupta_tricks_from_config():
    on = {"enabled": True}
    cfg = {
        "classifier_consistency": {**on, "weight": 0.5},
        "pretrain": {"enabled": False, "max_epochs": 3, "batch_size": 64, "lr": 1e-3, "seed": 1},
        "instance_noise": {**on, "std": 0.1, "decay": 0.9},
        "label_smoothing": {**on, "real_target": 0.9},
        "early_stopping": {"enabled": False, "eval_every": 4, "patience": 2},
    }
    tricks = GuptaTricks(**cfg).settings
    assert (tricks.consistency_weight, tricks.instance_noise_std, tricks.real_target) == (0.5, 0.1, 0.9)
    assert not tricks.pretrain and not tricks.early_stopping
    off = GuptaTricks(**{**cfg, "label_smoothing": {"enabled": False, "real_target": 0.9}}).settings
    assert off.real_target == 1.0
    with pytest.raises(
        InvalidArgument, match=r"label_smoothing.real_target=1.5 is invalid: expected a number in \(0, 1\]"
    ):
        GuptaTricks(**{**cfg, "label_smoothing": {"enabled": True, "real_target": 1.5}})
    with pytest.raises(InvalidArgument, match="pretrain.corpus=None is invalid"):
        GuptaTricks(**{**cfg, "pretrain": {"enabled": True, "max_epochs": 3, "batch_size": 64, "lr": 1e-3, "seed": 1}})
