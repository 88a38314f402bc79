"""Keep a label's classification loss off images whose dataset does not label it.

The hard-hat set does not label cigarettes; the cigarette set does not label hard hats or
bare heads (its smokers' heads are unlabelled). Unlabelled objects would otherwise be learnt
as background. Images are named ``<dataset>_<stem>`` by ``training.data.write_split``; the
weight of each class on an image comes from its dataset (1 = labelled, 0 = not labelled).
Mosaic tiles borrow the primary image's weights: the mix is an approximation, which the
pseudo-labels (people everywhere, heads on the cigarette images) narrow.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from ultralytics.nn import tasks
from ultralytics.utils.loss import v8DetectionLoss


class PartialLabelLoss(v8DetectionLoss):  # type: ignore[misc]
    def __init__(self, model: Any, weights: dict[str, list[float]]) -> None:
        super().__init__(model)
        self.weights = weights

    def _weight(self, im_file: str) -> list[float]:
        source = Path(im_file).name.split("_", 1)[0]
        return self.weights.get(source, [1.0] * self.nc)

    def loss(self, preds: Any, batch: dict[str, Any]) -> Any:
        rows = [self._weight(f) for f in batch["im_file"]]
        self.class_weights = torch.tensor(rows, device=self.device).view(len(rows), 1, self.nc)
        return super().loss(preds, batch)


def install(weights: dict[str, list[float]]) -> None:
    """Make every DetectionModel built from now on use ``PartialLabelLoss``."""

    def init_criterion(self: Any) -> PartialLabelLoss:
        return PartialLabelLoss(self, weights)

    tasks.DetectionModel.init_criterion = init_criterion
