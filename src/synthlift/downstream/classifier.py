"""`downstream=text/logreg|text/mlp`: a sentiment classifier on embeddings. The same code, seed and
training protocol (`protocol` group) train the real-only baseline and the augmented model, so their
difference is the lift.

The component holds the architecture and optimiser settings; `fit` trains a fresh network on a
`TrainingPlan` — its phases in order, each continuing from the weights the previous one left, with
per-example loss weights or a domain-adversarial head where a phase asks for them.

Training is a plain PyTorch loop, not a Lightning Trainer: a fit is a few hundred steps on a few hundred
examples (milliseconds of arithmetic), and the tuned protocol fits one model per candidate
hyper-parameter, so a Trainer's per-fit set-up (about a second) would dominate every run.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchmetrics.classification import MulticlassAccuracy, MulticlassF1Score

from synthlift.augment.base import TrainingPhase, TrainingPlan
from synthlift.core.checks import layer_sizes, non_negative, positive, positive_int, probability

NUM_DOMAINS = 2  # real, synthetic


class GradientReversal(torch.autograd.Function):
    """Identity forward; the backward pass multiplies the gradient by `-weight` (Ganin & Lempitsky 2015),
    so what the domain head learns to detect, the layers below it learn to hide."""

    @staticmethod
    def forward(ctx, x: Tensor, weight: float) -> Tensor:
        ctx.weight = weight
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor, None]:
        return -ctx.weight * grad, None


class ClassifierNet(nn.Module):
    """No hidden layer = logistic regression; hidden layers = MLP with ReLU and dropout.

    The network holds `copies` independent models side by side (every weight has a leading copy axis), all
    starting from the same initial weights: the tuned protocol trains one copy per candidate weight decay
    in a single loop, at about the cost of one, since a step on a few hundred examples is all overhead.
    `select(i)` takes copy i out as a one-copy network, which is what a fitted classifier is.

    The domain head (used only by domain-adversarial phases) reads the last hidden layer, or the class
    logits of a model without one: for logistic regression the logits are the only representation there
    is to make domain-invariant.
    """

    def __init__(self, input_dim: int, num_classes: int, hidden_sizes: Sequence[int], dropout: float, copies: int = 1):
        super().__init__()
        self.shape = (int(input_dim), int(num_classes), tuple(hidden_sizes), float(dropout))
        self.copies = copies
        widths = [input_dim, *hidden_sizes]
        self.hidden = nn.ParameterList()
        for fan_in, fan_out in zip(widths[:-1], widths[1:], strict=True):
            self.hidden.extend(_linear(fan_in, fan_out, copies))
        self.head = nn.ParameterList(_linear(widths[-1], num_classes, copies))
        self.domain_head = nn.ParameterList(_linear(widths[-1] if hidden_sizes else num_classes, NUM_DOMAINS, copies))

    def features_and_logits(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """(copies, n, width) last hidden features and (copies, n, classes) logits for x (n, input_dim)."""
        h = x.unsqueeze(0).expand(self.copies, -1, -1)
        for weight, bias in zip(self.hidden[0::2], self.hidden[1::2], strict=True):
            h = F.dropout(torch.relu(torch.baddbmm(bias.unsqueeze(1), h, weight)), self.shape[3], self.training)
        weight, bias = self.head
        return h, torch.baddbmm(bias.unsqueeze(1), h, weight)

    def forward(self, x: Tensor) -> Tensor:
        """(n, classes) logits of a one-copy network; (copies, n, classes) otherwise."""
        logits = self.features_and_logits(x)[1]
        return logits[0] if self.copies == 1 else logits

    def loss(
        self, x: Tensor, y: Tensor, weights: Tensor | None, domains: Tensor | None, reversal: float, decays: Tensor
    ) -> Tensor:
        """Sum over copies of: mean cross-entropy (per-example weighted if `weights`), the domain loss through
        gradient reversal if `domains`, and 0.5 * decay * |params|^2 — the L2 term whose gradient is exactly
        Adam's (coupled) `weight_decay`, here with one decay per copy."""
        features, logits = self.features_and_logits(x)
        per_example = F.cross_entropy(logits.transpose(1, 2), y.expand(self.copies, -1), reduction="none")
        loss = (per_example * weights).mean(1) if weights is not None else per_example.mean(1)
        if domains is not None:
            domain_input = features if len(self.hidden) else logits
            weight, bias = self.domain_head
            domain_logits = torch.baddbmm(bias.unsqueeze(1), GradientReversal.apply(domain_input, reversal), weight)
            loss = loss + F.cross_entropy(
                domain_logits.transpose(1, 2), domains.expand(self.copies, -1), reduction="none"
            ).mean(1)
        squared_norms = sum(p.pow(2).flatten(1).sum(1) for p in self.parameters())
        return (loss + 0.5 * decays * squared_norms).sum()

    def select(self, copy: int) -> ClassifierNet:
        """Copy `copy` as a one-copy network (a detached clone, in eval mode)."""
        single = ClassifierNet(*self.shape, copies=1)
        with torch.no_grad():
            for target, source in zip(single.parameters(), self.parameters(), strict=True):
                target.copy_(source[copy : copy + 1])
        return single.eval()


def _linear(fan_in: int, fan_out: int, copies: int) -> tuple[nn.Parameter, nn.Parameter]:
    """Weight (copies, fan_in, fan_out) and bias (copies, fan_out), initialised as `nn.Linear` does
    (uniform in +-1/sqrt(fan_in)) once and repeated, so every copy starts from the same weights."""
    bound = fan_in**-0.5
    weight = torch.empty(fan_in, fan_out).uniform_(-bound, bound)
    bias = torch.empty(fan_out).uniform_(-bound, bound)
    return nn.Parameter(weight.repeat(copies, 1, 1)), nn.Parameter(bias.repeat(copies, 1))


# Called as `monitor(model, step)` every `monitor_every` optimisation steps and after the last one.
Monitor = Callable[[ClassifierNet, int], None]


class EmbeddingClassifier:
    """Architecture and optimiser of the classifier (Adam, minibatches of `batch_size`).

    `weight_decay` and `max_epochs` are the fixed hyper-parameters of `protocol=paper`; `protocol=tuned`
    chooses the weight decay and the number of steps on the validation set instead.
    """

    def __init__(
        self,
        hidden_sizes: Sequence[int] = (),
        dropout: float = 0.0,
        lr: float = 1e-2,
        weight_decay: float = 1e-3,
        batch_size: int = 256,
        max_epochs: int = 100,
    ):
        self.hidden_sizes = layer_sizes("hidden_sizes", hidden_sizes, allow_empty=True)
        self.dropout = probability("dropout", dropout)
        self.lr = positive("lr", lr)
        self.weight_decay = non_negative("weight_decay", weight_decay)
        self.batch_size = positive_int("batch_size", batch_size)
        self.max_epochs = positive_int("max_epochs", max_epochs)

    def epoch_steps(self, phase: TrainingPhase) -> int:
        """Optimisation steps of `max_epochs` passes over a phase: the paper's budget, which grows with it."""
        return self.max_epochs * -(-len(phase.examples) // self.batch_size)

    def fit(
        self,
        plan: TrainingPlan,
        num_classes: int,
        seed: int,
        *,
        weight_decays: Sequence[float],
        phase_steps: Sequence[int],
        monitor: Monitor | None = None,
        monitor_every: int = 10,
    ) -> ClassifierNet:
        """Train one copy of the network per weight decay, all from the same seeded initialisation (same seed,
        same initial weights) and on the same minibatches, on the plan's phases in order: `phase_steps[i]`
        steps in phase i, with a fresh optimiser. The global RNG is left as it was."""
        if len(phase_steps) != len(plan.phases):
            raise ValueError(f"{len(phase_steps)} step counts for {len(plan.phases)} phases")
        with torch.random.fork_rng():  # initial weights and dropout masks come from `seed` alone
            torch.manual_seed(seed)
            input_dim = plan.phases[0].examples.x.shape[1]
            model = ClassifierNet(input_dim, num_classes, self.hidden_sizes, self.dropout, len(weight_decays))
            decays = torch.tensor(list(weight_decays), dtype=torch.float32)
            order = torch.Generator().manual_seed(seed)
            step = 0
            for phase, steps in zip(plan.phases, phase_steps, strict=True):
                tensors = _phase_tensors(phase)
                optimizer = torch.optim.Adam(model.parameters(), lr=self.lr)
                model.train()
                for batch in _minibatches(len(phase.examples), self.batch_size, steps, order):
                    x, y, weights, domains = (None if t is None else t[batch] for t in tensors)
                    loss = model.loss(x, y, weights, domains, phase.reversal_weight, decays)
                    optimizer.zero_grad(set_to_none=True)
                    loss.backward()
                    optimizer.step()
                    step += 1
                    if monitor is not None and step % monitor_every == 0:
                        model.eval()
                        monitor(model, step)
                        model.train()
        model.eval()
        if monitor is not None and step % monitor_every:
            monitor(model, step)
        return model

    @staticmethod
    @torch.no_grad()
    def evaluate(model: nn.Module, x: np.ndarray, y: np.ndarray, num_classes: int) -> dict[str, Any]:
        """Accuracy, macro-F1, balanced accuracy (mean per-class recall; torchmetrics) of `model` on `(x, y)`,
        and how many classes it predicts."""
        logits = model(torch.tensor(x, dtype=torch.float32))  # copies: data arrays may be read-only
        target = torch.tensor(y, dtype=torch.long)
        return {
            "acc": MulticlassAccuracy(num_classes, average="micro")(logits, target).item(),
            "f1": MulticlassF1Score(num_classes, average="macro")(logits, target).item(),
            "balanced_acc": MulticlassAccuracy(num_classes, average="macro")(logits, target).item(),
            "predicted_classes": int(logits.argmax(1).unique().numel()),
        }

    @staticmethod
    @torch.no_grad()
    def probabilities(model: nn.Module, x: np.ndarray) -> np.ndarray:
        """Class probabilities (n, classes): what `augment=filter` judges synthetic examples by."""
        return torch.softmax(model(torch.tensor(x, dtype=torch.float32)), dim=1).numpy()


def _phase_tensors(phase: TrainingPhase) -> tuple[Tensor, Tensor, Tensor | None, Tensor | None]:
    """Copies (`torch.tensor`), since cached embeddings may be read-only arrays."""
    examples = phase.examples
    return (
        torch.tensor(examples.x, dtype=torch.float32),
        torch.tensor(examples.y, dtype=torch.long),
        None if phase.weights is None else torch.tensor(phase.weights, dtype=torch.float32),
        None if phase.domains is None else torch.tensor(phase.domains, dtype=torch.long),
    )


def _minibatches(size: int, batch_size: int, steps: int, generator: torch.Generator):
    """`steps` index batches: shuffled passes over `size` examples, the last batch of a pass possibly short
    (none for an empty phase, e.g. a filter that kept no synthetic example)."""
    emitted = 0
    while emitted < steps and size > 0:
        for batch in torch.randperm(size, generator=generator).split(batch_size):
            if emitted == steps:
                return
            yield batch
            emitted += 1
