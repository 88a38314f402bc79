"""Keep a label's classification loss off images whose dataset does not label it.

The hard-hat set does not label cigarettes; the cigarette set does not label hard hats or
bare heads (its smokers' heads are unlabelled). Unlabelled objects would otherwise be learnt
as background. Images are named ``<dataset>_<stem>`` by ``training.data.write_split``; the
weight of each class on an image comes from its dataset (1 = labelled, 0 = not labelled).
Mosaic tiles borrow the primary image's weights: the mix is an approximation, which the
pseudo-labels (people everywhere, heads on the cigarette images) narrow.

A class may also be *positive-only* on a dataset (``positives``): its labelled boxes teach it,
the rest of the image does not count against it. For pseudo-labels that are right where they
exist but miss some objects (the smokers' heads the model already finds).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from ultralytics.nn import tasks
from ultralytics.utils.loss import v8DetectionLoss


class PartialLabelLoss(v8DetectionLoss):  # type: ignore[misc]
    def __init__(
        self,
        model: Any,
        weights: dict[str, list[float]],
        positives: dict[str, list[float]] | None = None,
    ) -> None:
        super().__init__(model)
        self.weights = weights
        self.positives = positives or {}
        self.positive_only: torch.Tensor | None = None
        self._bce = self.bce
        self.bce = self._bce_positive_only

    def _row(self, table: dict[str, list[float]], im_file: str, default: float) -> list[float]:
        source = Path(im_file).name.split("_", 1)[0]
        return table.get(source, [default] * self.nc)

    def _bce_positive_only(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """The per-anchor BCE, zero where a positive-only class has no target."""
        loss: torch.Tensor = self._bce(pred, target)
        if self.positive_only is not None:
            loss = torch.where((self.positive_only > 0) & (target <= 0), 0.0, loss)
        return loss

    def loss(self, preds: Any, batch: dict[str, Any]) -> Any:
        files = batch["im_file"]
        rows = [self._row(self.weights, f, 1.0) for f in files]
        self.class_weights = torch.tensor(rows, device=self.device).view(len(rows), 1, self.nc)
        if self.positives:
            only = [self._row(self.positives, f, 0.0) for f in files]
            self.positive_only = torch.tensor(only, device=self.device).view(len(only), 1, self.nc)
        return super().loss(preds, batch)


def install(
    weights: dict[str, list[float]], positives: dict[str, list[float]] | None = None
) -> None:
    """Make every DetectionModel built from now on use ``PartialLabelLoss``."""

    def init_criterion(self: Any) -> PartialLabelLoss:
        return PartialLabelLoss(self, weights, positives)

    tasks.DetectionModel.init_criterion = init_criterion
