"""The offline sub-commands of ``sitewatch``: ``detect``, ``eval`` and ``validate-config``
(registered in :data:`sitewatch.cli.SUBCOMMANDS`).

Exit codes: 0 success, 1 some input failed (the rest was still processed), 2 the model or the
command line is unusable.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

import cv2

from sitewatch.edge.config.load import ConfigError, ConfigProblem, load_config_with_warnings
from sitewatch.edge.config.schema import SiteConfig
from sitewatch.edge.detect.detector import (
    DEFAULT_MODEL,
    LARGE_FRAME,
    OTHER_STATE_FACTOR,
    Detector,
    ModelError,
)
from sitewatch.edge.detect.tiles import TILE_MIN_GAIN, TILE_SCALE
from sitewatch.edge.detections import Detections
from sitewatch.edge.evidence.annotate import annotate
from sitewatch.tools.eval_plots import CONFUSION_MATRIX, PR_CURVE, require_matplotlib, write_plots
from sitewatch.tools.evaluate import AP_CONF, EvalReport, evaluate
from sitewatch.tools.media import MediaItem, iter_media

EXIT_OK, EXIT_INPUT_FAILED, EXIT_UNUSABLE = 0, 1, 2
MAX_CROPS = 32
"""Crops per image for ``detect`` and ``eval``: a crowded photo has more than the edge's 8
people, and here time matters less than finding each of them."""
LARGE_INPUT = 640
"""Model input for large images (a 1080p camera, a phone photo) in ``detect`` and ``eval``:
measured in models/README.md, "Head look"."""
FINE_SCALE = 1.5
"""``detect`` and ``eval`` look at each image's heads once more at its input times this (the
fine look: 416 -> 640, 640 -> 960; models/README.md, "Coarse and fine looks")."""


def _add_model_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL, help="ONNX model file")
    parser.add_argument("--conf", type=_unit_float, default=0.25, help="minimum score")
    parser.add_argument("--max-batch", type=_positive_int, default=8, help="frames per run")
    parser.add_argument("--threads", type=_positive_int, help="ONNX Runtime threads (all cores)")
    parser.add_argument(
        "--input-size", type=_positive_int, help="square model input in px (model's own size)"
    )
    parser.add_argument(
        "--second-look",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="re-run the model on head-and-shoulders crops to find cigarettes",
    )
    parser.add_argument(
        "--head-look",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="re-run the model on crops of people whose heads the whole image shows small, "
        "and let the crops decide hard hat or bare head (wide views, large photos)",
    )
    parser.add_argument(
        "--coarse-look",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="run each image once more at a small input and add the large heads found there "
        "(close-ups: a head filling a third of the image)",
    )
    parser.add_argument(
        "--fine-scale",
        type=float,
        default=FINE_SCALE,
        help="run each image once more at its input times this and add the small heads found "
        "there (0: off)",
    )
    parser.add_argument(
        "--tile-scale",
        type=float,
        default=TILE_SCALE,
        help="see images once more in overlapping tiles at this many times their own resolution "
        f"where the tiles show them at least {TILE_MIN_GAIN:g}x larger than the whole pass, and "
        "add the small heads found there (1080p views, large photos, images from about 832 px "
        "long; 0: off)",
    )
    parser.add_argument(
        "--tile-cue",
        type=_share,
        default=0.0,
        help="run only the tiles that a box scoring at least this overlaps (any label; found by "
        "the whole pass and the fine look, or without one a look at 960 px; the edge's "
        "detector.tile_cue; 0: every tile)",
    )
    parser.add_argument(
        "--other-state",
        type=_share,
        default=OTHER_STATE_FACTOR,
        help="score factor of the weaker state of a head seen both as hard hat and as bare head "
        "(0: dropped, 1: both kept as found)",
    )
    parser.add_argument(
        "--large-input",
        type=_positive_int,
        default=LARGE_INPUT,
        help=f"model input for images at least {LARGE_FRAME} px long (their people are small)",
    )
    parser.add_argument(
        "--max-crops",
        type=_positive_int,
        default=MAX_CROPS,
        help="most crops per image for the second looks",
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")


def _open_detector(args: argparse.Namespace, conf: float) -> Detector | None:
    try:
        return Detector(
            args.model,
            conf=conf,
            max_batch=args.max_batch,
            threads=args.threads,
            second_look=args.second_look,
            head_look=args.head_look,
            coarse_look=args.coarse_look,
            fine_scale=args.fine_scale or None,
            tile_scale=args.tile_scale or None,
            tile_cue=args.tile_cue or None,
            other_state=args.other_state,
            max_crops=args.max_crops,
            large_input=None if args.input_size else args.large_input,
            multi_label=getattr(args, "multi_label", False),
            input_size=args.input_size,
        )
    except (ModelError, ValueError) as exc:
        print(f"sitewatch: error: {exc}", file=sys.stderr)
        return None


# --- detect -------------------------------------------------------------------------------


def detect_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="+", metavar="PATH", help="image, folder or video")
    _add_model_arguments(parser)
    parser.add_argument("--out", type=Path, default=Path("detections"), help="annotated images")
    parser.add_argument(
        "--every-s", type=_positive_float, default=1.0, help="video sampling period, seconds"
    )


def run_detect(args: argparse.Namespace) -> int:
    """Detect on every image and sampled video frame; JSON lines or annotated images."""
    detector = _open_detector(args, args.conf)
    if detector is None:
        return EXIT_UNUSABLE
    if not args.json:
        try:
            args.out.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            print(
                f"sitewatch: error: cannot create output folder {args.out}: {exc}", file=sys.stderr
            )
            return EXIT_UNUSABLE
    try:
        failed = _detect_all(args, detector)
    except ModelError as exc:
        print(f"sitewatch: error: {exc}", file=sys.stderr)
        return EXIT_UNUSABLE
    return EXIT_INPUT_FAILED if failed else EXIT_OK


def _detect_all(args: argparse.Namespace, detector: Detector) -> int:
    """Print or write the results for every input; return how many inputs failed."""
    failed = 0
    totals: Counter[str] = Counter()
    images = 0
    names: Counter[str] = Counter()
    for batch in _batches(iter_media(args.paths, args.every_s), detector.max_batch):
        found = iter(detector.detect([item.frame for item in batch if item.frame is not None]))
        for item in batch:
            if item.frame is None:
                failed += 1
                print(f"sitewatch: {item.name}: {item.error}", file=sys.stderr)
                continue
            dets = next(found)
            images += 1
            counts = Counter(dets.label_names())
            totals.update(counts)
            if args.json:
                print(json.dumps(_detect_record(item.name, item.frame.shape[:2], dets)))
            else:
                target = _output_path(args.out, item.name, names)
                if not cv2.imwrite(str(target), annotate(item.frame, dets)):
                    failed += 1
                    print(f"sitewatch: {target}: cannot write annotated image", file=sys.stderr)
                print(f"{item.name}: {_count_text(counts)}")
    if not args.json:
        print(f"total: {images} images, {_count_text(totals)}; annotated images in {args.out}")
        if failed:
            print(f"{failed} input(s) failed, see above", file=sys.stderr)
    return failed


def _batches(items: Iterator[MediaItem], size: int) -> Iterator[list[MediaItem]]:
    batch: list[MediaItem] = []
    for item in items:
        batch.append(item)
        if sum(i.frame is not None for i in batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _detect_record(name: str, hw: tuple[int, ...], dets: Detections) -> dict[str, Any]:
    return {"image": name, "width": hw[1], "height": hw[0], "detections": dets.to_records()}


def _output_path(out: Path, name: str, used: Counter[str]) -> Path:
    path, _, frame = name.partition("#frame=")
    stem = Path(path).stem + (f"_frame{frame}" if frame else "")
    used[stem] += 1
    if used[stem] > 1:
        stem = f"{stem}_{used[stem]}"
    return out / f"{stem}.jpg"


def _count_text(counts: Counter[str]) -> str:
    if not counts:
        return "nothing found"
    return ", ".join(f"{n} {label}" for label, n in sorted(counts.items()))


# --- eval ---------------------------------------------------------------------------------


def eval_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("dataset", type=Path, metavar="DATASET_DIR", help="YOLO-format dataset")
    parser.add_argument("--split", default="val", help="images/<split> to evaluate")
    parser.add_argument(
        "--multi-label",
        action="store_true",
        help="let one box carry several labels, as Ultralytics val does (deployed: one label)",
    )
    parser.add_argument(
        "--plots",
        type=Path,
        metavar="DIR",
        help=f"write {PR_CURVE} and {CONFUSION_MATRIX} into DIR",
    )
    _add_model_arguments(parser)


def run_eval(args: argparse.Namespace) -> int:
    """AP50, precision and recall per label, confusions and throughput on a YOLO-format
    dataset: the table (or JSON) on stdout, progress on stderr, charts with ``--plots``."""
    if args.plots is not None:
        try:
            require_matplotlib()
            args.plots.mkdir(parents=True, exist_ok=True)
        except ImportError as exc:
            print(f"sitewatch: error: --plots {args.plots}: {exc}", file=sys.stderr)
            return EXIT_UNUSABLE
        except OSError as exc:
            print(
                f"sitewatch: error: --plots {args.plots}: expected a folder that can be created "
                f"and written, got {exc.strerror or exc}; give another folder",
                file=sys.stderr,
            )
            return EXIT_UNUSABLE
    detector = _open_detector(args, AP_CONF)
    if detector is None:
        return EXIT_UNUSABLE
    try:
        report = evaluate(
            detector, args.dataset, args.split, args.conf, progress=_EvalProgress(sys.stderr)
        )
    except ModelError as exc:
        print(f"sitewatch: error: {exc}", file=sys.stderr)
        return EXIT_UNUSABLE
    except ValueError as exc:
        print(f"sitewatch: error: {exc}", file=sys.stderr)
        return EXIT_INPUT_FAILED
    if args.json:
        print(json.dumps(_no_nan(report.to_dict())))
    else:
        print(_eval_table(report))
    if args.plots is not None:
        try:
            written = write_plots(report, args.plots)
        except OSError as exc:
            print(f"sitewatch: error: cannot write plots into {args.plots}: {exc}", file=sys.stderr)
            return EXIT_INPUT_FAILED
        print(f"eval: plots {', '.join(map(str, written))}", file=sys.stderr)
    return EXIT_OK


PROGRESS_EVERY_S = 2.0
"""Seconds between two progress lines of ``sitewatch eval`` on stderr."""


class _EvalProgress:
    """``evaluate``'s progress callback: ``eval: 320/602 images, 13.1 ms/image`` on ``stream``
    at most every ``every_s`` seconds, and always once when done (ms of ``detect`` calls)."""

    def __init__(self, stream: TextIO, every_s: float = PROGRESS_EVERY_S) -> None:
        self.stream, self.every_s = stream, every_s
        self.began = self.last = time.monotonic()

    def __call__(self, done: int, total: int, seconds: float) -> None:
        now = time.monotonic()
        if done < total and now - self.last < self.every_s:
            return
        self.last = now
        line = f"eval: {done}/{total} images, {1000 * seconds / max(done, 1):.1f} ms/image"
        if done >= total:
            line += f", done in {now - self.began:.1f} s"
        print(line, file=self.stream, flush=True)


STATE_NAMES = {"head": "bare heads", "helmet": "hard hats"}
"""How the text table names ground-truth boxes of each head state."""


def _eval_table(report: EvalReport) -> str:
    conf = f"@{report.conf:g}"
    rows = [f"{'label':<12}{'GT':>6}{'AP50':>8}{'P' + conf:>10}{'R' + conf:>10}"]
    for s in report.labels:
        rows.append(
            f"{s.label:<12}{s.gt_boxes:>6}{_num(s.ap50):>8}{_num(s.precision):>10}"
            f"{_num(s.recall):>10}"
        )
    aps = [s.ap50 for s in report.labels if not math.isnan(s.ap50)]
    if aps:
        rows.append(f"{'mean':<12}{'':>6}{_num(sum(aps) / len(aps)):>8}")
    for h in report.head_states:
        if not h.gt_boxes:
            continue
        rows.append(
            f"{STATE_NAMES.get(h.label, h.label)} called {h.other}: "
            f"{h.called_other} of {h.gt_boxes}{_percent(h.called_other_share)}, "
            f"missed entirely: {h.missed}{_percent(h.missed_share)} "
            f"(conf {report.conf:g}, IoU {report.confusions.iou:g})"
        )
    if report.not_in_model:
        rows.append(f"not in the model, not evaluated: {', '.join(report.not_in_model)}")
    look = "on" if report.second_look else "off"
    heads = "on" if report.head_look else "off"
    coarse = "on" if report.coarse_look else "off"
    fine = f"x{report.fine_scale:g}" if report.fine_scale else "off"
    tiles = f"x{report.tile_scale:g}" if report.tile_scale else "off"
    if report.tile_scale and report.tile_cue:
        tiles += f" where a box >= {report.tile_cue:g} is"
    if report.tile_scale:
        tiles += f", {report.tiles_per_image:.1f} tiles/image"
    rows.append(
        f"throughput: {report.ms_per_image:.1f} ms/image, {report.images_per_s:.2f} images/s "
        f"({report.images} {report.split} images, batch {report.batch}, "
        f"{report.threads} threads, second look {look}, head look {heads}, coarse look {coarse}, "
        f"fine look {fine}, tile look {tiles}, weaker head state x{report.other_state:g})"
    )
    rows.append(
        f"AP at conf {AP_CONF}, {'several labels' if report.multi_label else 'one label'} per box"
    )
    return "\n".join(rows)


def _percent(share: float) -> str:
    return "" if math.isnan(share) else f" ({100 * share:.1f} %)"


def _num(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.3f}"


def _no_nan(value: Any) -> Any:
    """JSON has no NaN: undefined numbers become null."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: _no_nan(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_no_nan(v) for v in value]
    return value


# --- validate-config ----------------------------------------------------------------------


def validate_config_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "file", type=Path, metavar="FILE", help="edge config, e.g. configs/cameras.yaml"
    )


def run_validate_config(args: argparse.Namespace) -> int:
    """Check a config file: a summary and its warnings on stdout (exit 0), or every problem as
    ``FILE:LINE: key.path: expected X, got Y. Hint`` on stderr (exit 1); exit 2 when the file
    cannot be read."""
    try:
        config, warnings = load_config_with_warnings(args.file)
    except OSError as exc:
        print(f"sitewatch: error: cannot read config {args.file}: {exc.strerror}", file=sys.stderr)
        return EXIT_UNUSABLE
    except ConfigError as exc:
        for problem in [*exc.problems, *exc.warnings]:
            print(problem, file=sys.stderr)
        print(f"{args.file}: invalid: {len(exc.problems)} error(s)", file=sys.stderr)
        return EXIT_INPUT_FAILED
    print(_config_summary(args.file, config, warnings))
    return EXIT_OK


def _config_summary(file: Path, config: SiteConfig, warnings: list[ConfigProblem]) -> str:
    kinds = Counter(zone.kind for cam in config.cameras for zone in cam.zones)
    enabled = sum(cam.enabled for cam in config.cameras)
    rows = [
        f"{file}: valid, version {config.version}",
        f"site: {config.site.id} ({config.site.name}), time zone {config.site.timezone}",
        f"cameras: {len(config.cameras)} ({enabled} enabled): "
        + ", ".join(f"{cam.id} ({len(cam.zones)} zones)" for cam in config.cameras),
        f"zones: {', '.join(f'{n} {kind}' for kind, n in sorted(kinds.items())) or 'none'}",
        f"warnings: {len(warnings)}",
    ]
    return "\n".join(rows + [str(w) for w in warnings])


# --- argument types -----------------------------------------------------------------------


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {text}")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a number above 0, got {text}")
    return value


def _share(text: str) -> float:
    value = float(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"expected a number from 0 to 1, got {text}")
    return value


def _unit_float(text: str) -> float:
    value = float(text)
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"expected a number in (0, 1], got {text}")
    return value
