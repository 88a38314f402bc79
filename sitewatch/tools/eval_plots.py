"""PNG charts of an ``EvalReport``: precision-recall curves and the confusion matrix.

matplotlib is imported inside the functions and draws on an Agg canvas (no pyplot, no display,
no global backend switch), so importing this module costs the rest of the edge nothing.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from sitewatch.tools.evaluate import EvalReport

if TYPE_CHECKING:
    from matplotlib.figure import Figure

PR_CURVE = "pr_curve.png"
CONFUSION_MATRIX = "confusion_matrix.png"
DPI = 150


def require_matplotlib() -> None:
    """Raise ``ImportError`` saying how to install matplotlib when it is missing."""
    try:
        import matplotlib  # noqa: F401
    except ImportError as exc:
        raise ImportError(
            f"plots need matplotlib, which cannot be imported ({exc}); "
            "install it with: pip install 'matplotlib>=3.8'"
        ) from exc


def write_plots(report: EvalReport, out: Path) -> list[Path]:
    """Write ``PR_CURVE`` and ``CONFUSION_MATRIX`` into ``out`` (created); return their paths."""
    out.mkdir(parents=True, exist_ok=True)
    return [
        write_pr_curve(report, out / PR_CURVE),
        write_confusion_matrix(report, out / CONFUSION_MATRIX),
    ]


def write_pr_curve(report: EvalReport, path: Path) -> Path:
    """Interpolated precision against recall per label with GT boxes, AP50 in the legend, and
    a dot at the operating point (precision and recall at ``report.conf``)."""
    fig = _figure((6.4, 6.0))
    ax = fig.add_subplot()
    for curve, score in zip(report.pr_curves, report.labels, strict=True):
        if score.gt_boxes == 0:
            continue
        (line,) = ax.plot(
            curve.recall,
            curve.precision,
            linewidth=1.8,
            label=f"{score.label}: AP50 {score.ap50:.3f} ({score.gt_boxes} GT)",
        )
        if not (math.isnan(score.recall) or math.isnan(score.precision)):
            ax.plot(
                [score.recall],
                [score.precision],
                marker="o",
                markersize=7,
                color=line.get_color(),
                markeredgecolor="black",
            )
    ax.plot(
        [],
        [],
        linestyle="none",
        marker="o",
        color="white",
        markeredgecolor="black",
        label=f"operating point, conf {report.conf:g}",
    )
    ax.set_xlim(0.0, 1.0)
    ax.set_ylim(0.0, 1.02)
    ax.set_xlabel("recall")
    ax.set_ylabel("precision (interpolated)")
    ax.set_title(f"{_title(report)}\nprecision-recall at IoU 0.5", fontsize=10)
    ax.grid(alpha=0.3)
    fig.legend(loc="outside lower center", ncols=2, fontsize=8)
    fig.savefig(path)
    return path


def write_confusion_matrix(report: EvalReport, path: Path) -> Path:
    """The confusion matrix: each cell its count and its share of the row, coloured by share.

    Rows are ground truth (labels, then background), columns the prediction (labels, then
    missed); the background/missed corner is always empty and left blank.
    """
    m = report.confusions
    counts = np.asarray(m.counts, dtype=np.int64)
    totals = counts.sum(axis=1)
    shares = counts / np.maximum(totals, 1)[:, None]
    corner = np.zeros(counts.shape, dtype=bool)
    corner[-1, -1] = True
    size = 2.2 + 1.1 * len(m.columns)
    fig = _figure((size + 1.2, size))
    ax = fig.add_subplot()
    image = ax.imshow(np.ma.masked_array(shares, corner), cmap="Blues", vmin=0.0, vmax=1.0)
    for r in range(counts.shape[0]):
        for c in range(counts.shape[1]):
            if corner[r, c]:
                continue
            ax.text(
                c,
                r,
                f"{counts[r, c]}\n{100 * shares[r, c]:.0f} %" if totals[r] else "0",
                ha="center",
                va="center",
                fontsize=8,
                color="white" if shares[r, c] > 0.55 else "black",
            )
    ax.set_xticks(range(len(m.columns)), m.columns, rotation=30, ha="right")
    ax.set_yticks(range(len(m.rows)), [f"{n} ({t})" for n, t in zip(m.rows, totals, strict=True)])
    ax.set_xlabel(f"predicted (score >= {m.conf:g}, IoU >= {m.iou:g})")
    ax.set_ylabel("ground truth (boxes)")
    ax.set_title(f"{_title(report)}\ncounts and share of each row", fontsize=10)
    fig.colorbar(image, ax=ax, shrink=0.8, label="share of the row")
    fig.savefig(path)
    return path


def _figure(size: tuple[float, float]) -> Figure:
    require_matplotlib()
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=size, dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _title(report: EvalReport) -> str:
    return f"{Path(report.dataset).name} {report.split}, {report.images} images"
