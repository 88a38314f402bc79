"""The edge worker: all the wiring in one place. ``sitewatch edge --config configs/cameras.yaml``.

Threads: a reader per camera, a segment recorder per stream; one detector thread per detector
session (each collects a batch from the shared batcher and detects on it; ONNX Runtime releases
the GIL); the main loop (pipelines → alert delivery, and config commands, so pipelines and the
camera set are touched by one thread only); housekeeping; the outbox publisher; paho's network
thread; the clip cutter. A config command may add, restart (new streams) or stop cameras while
the others run on. SIGTERM or SIGINT: open alerts end, clips in progress finish, the outbox is
flushed, the edge's and every camera's retained status go offline, and it exits.

Detector sessions: one single-threaded session per core by default (``detector.sessions``/
``threads``; bench/RESULTS.md, "Edge throughput"). The worker builds every collaborator once,
here, and hands each what it uses (the :class:`Housekeeper` too); nothing it builds imports it.
"""

from __future__ import annotations

import logging
import os
import queue
import signal
import threading
import time
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Literal

import numpy as np

from sitewatch.contract import messages as m
from sitewatch.contract.signing import Signer
from sitewatch.edge.analysis.alerts import AlertTransition
from sitewatch.edge.analysis.pipeline import CameraPipeline
from sitewatch.edge.command_desk import CommandDesk
from sitewatch.edge.command_gate import CommandGate
from sitewatch.edge.commands import Outcome, obey
from sitewatch.edge.config.load import load_config
from sitewatch.edge.config.schema import CameraSettings, SiteConfig, armed_rules
from sitewatch.edge.detect.batcher import Batcher
from sitewatch.edge.detect.detector import Detector
from sitewatch.edge.detect.looks import Looks
from sitewatch.edge.detect.model import ModelError, default_threads, open_model
from sitewatch.edge.detect.tiles import TILE_SCALE
from sitewatch.edge.detections import AnalysedFrame
from sitewatch.edge.evidence.files import DiskManager
from sitewatch.edge.evidence.index import EvidenceIndex
from sitewatch.edge.housekeeping import Housekeeper
from sitewatch.edge.identity import edge_key
from sitewatch.edge.publish.console_feed import SnapshotPacer, camera_config_message, snapshot_jpeg
from sitewatch.edge.publish.delivery import AlertDelivery, utc
from sitewatch.edge.publish.evidence_upload import evidence_lane
from sitewatch.edge.publish.outbox import Outbox, Publisher
from sitewatch.edge.publish.transport import MqttTransport, Tls, Will
from sitewatch.edge.video.budget import check_ring_budget
from sitewatch.edge.video.capture import CameraReader
from sitewatch.edge.video.motion import MotionGate
from sitewatch.edge.video.recorder import Segment, SegmentRing
from sitewatch.edge.video.recording import CameraRecording
from sitewatch.edge.video_desk import VideoDesk

log = logging.getLogger(__name__)


class DetectorStalled(RuntimeError):
    """A detector session spent longer than ``detector.stall_s`` on one batch."""


DETECTOR_CONF = 0.1
"""Scores kept by the detector: the tracker keeps tracks alive on weak boxes; rules apply
their own ``min_score``."""
TICK_AFTER_S = 1.0
STREAM_FIELDS = ("detect", "record", "detect_fps", "stall_s", "input_size", "keep_hours")
"""A camera's settings whose change restarts its reader and recorder (others reconfigure)."""
RESULTS_WAIT_S = 0.2
"""How long the main loop waits for detector results before it runs its timers and commands."""


def software_version() -> str:
    try:
        return version("sitewatch")
    except PackageNotFoundError:
        return "0+unknown"


@dataclass
class CameraRuntime:
    config: CameraSettings
    reader: CameraReader
    recording: CameraRecording  # a recorder and ring per stream
    pipeline: CameraPipeline
    last_analysed: float = 0.0
    last_ts: float = 0.0  # stream time of the newest frame the pipeline processed
    size_checked: bool = False  # its frames' size checked against its looks (_check_size)

    @property
    def ring(self) -> SegmentRing:
        """The ring alert clips are cut from (record when the camera has one, else detect)."""
        return self.recording.clip_ring


class EdgeWorker:
    def __init__(self, config_path: Path) -> None:
        self.path = config_path
        self.config = c = load_config(config_path)  # ConfigError: refuse to start
        key = edge_key(config_path, c)
        self.signer = Signer(key)
        self.gate = CommandGate(config_path, c.trust.console_public_key, c.trust.command_max_age_s)
        if self.gate.key_fingerprint is None:
            log.warning(
                "config commands from the console are refused: trust.console_public_key is "
                "not set in %s (paste the output of 'sitewatch server public-key' there)",
                config_path,
            )
        self.started_at = time.time()
        self.stop_event = threading.Event()
        self._ready = threading.Event()  # set by start(): the MQTT hook may run before that
        self.desk = CommandDesk(self.gate, self._post_result, software_version())
        self.video = VideoDesk(
            c, key, self._video_segments, c.evidence.dir / "video-cuts", hold=self._video_hold
        )
        self._snapshots = SnapshotPacer(c.video.snapshot_every_s)
        sessions = c.detector.sessions or default_threads()
        label_conf = _label_conf(c)
        self.detectors = [
            Detector(
                c.detector.model,
                conf=DETECTOR_CONF,
                label_conf=label_conf,
                max_batch=c.detector.max_batch,
                threads=c.detector.threads or max(1, default_threads() // sessions),
                second_look=c.detector.second_look,
                head_look=c.detector.head_look,
                coarse_look=c.detector.coarse_look,
                tile_scale=TILE_SCALE,
                tile_cue=c.detector.tile_cue,
                head_crop_size=c.detector.head_crop_size,
                input_size=c.detector.input_size,
                rect=c.detector.rect,
            )
            for _ in range(sessions)
        ]
        self.detector = self.detectors[0]
        # bounded: if the pipelines fall behind, detectors wait and frames go stale (counted)
        self._results: queue.Queue[list[AnalysedFrame]] = queue.Queue(maxsize=4 * sessions)
        self._failure: BaseException | None = None
        self._busy_since: list[float | None] = [None] * len(self.detectors)
        """Per detector session: when its running batch began (monotonic), None when idle."""
        self._housekeeping: threading.Thread | None = None
        self.batcher = Batcher(
            self.detector.detect_looks,
            max_batch=c.detector.max_batch,
            deadline_s=c.detector.batch_deadline_ms / 1000,
            max_age_s=c.detector.max_frame_age_ms / 1000,
        )
        self.cameras = {cam.id: self._camera(cam) for cam in c.cameras if cam.enabled}
        self._rings = {k: cam.ring for k, cam in self.cameras.items()}
        """Each camera's clip ring, removed cameras' too (their clips go on)."""
        self._all_rings = {
            r.directory: r for cam in self.cameras.values() for r in cam.recording.rings.values()
        }
        """Every ring this run made, of every stream, removed cameras' too (pruning goes on)."""
        self.transport = self._transport(c)
        self.outbox = Outbox(
            c.outbox.path, max_evidence_bytes=round(c.outbox.max_evidence_mb * 1e6)
        )
        lane = evidence_lane(c, self.outbox, key)  # evidence over HTTP, when configured
        if lane is not None:
            self.video.on_upload_url = lane.heard
        self.publisher = Publisher(self.outbox, self.transport, evidence=lane)
        self.store = EvidenceIndex(c.evidence.dir / "evidence_index.db")
        self.delivery = AlertDelivery(
            site_id=c.site.id,
            prefix=c.mqtt.topic_prefix,
            outbox=self.outbox,
            store=self.store,
            evidence_dir=c.evidence.dir,
            tz=c.site.timezone,
            pre_roll_s=c.evidence.pre_roll_s,
            post_roll_s=c.evidence.post_roll_s,
            rings=self._rings,  # shared: the main loop adds the rings of added cameras
            config_version=lambda: str(self.config.version),
            signer=self.signer,
        )
        self.disk = DiskManager(
            c.evidence.dir,
            list(self._all_rings.values()),
            self.store,
            c.evidence.min_free_hours,
            c.evidence.retention_days,
        )
        self.housekeeper = Housekeeper(
            site_id=c.site.id,  # a config command changes cameras only, never these two
            topic_prefix=c.mqtt.topic_prefix,
            readers={k: cam.reader for k, cam in self.cameras.items()},
            rings=list(self._all_rings.values()),
            disk=self.disk,
            batch_stats=self.batcher.stats,
            transport=self.transport,
            signer=self.signer,
            outbox=self.outbox,
            evidence_dropped=self.delivery.evidence_dropped,
            recordings={k: cam.recording for k, cam in self.cameras.items()},
            max_ring_bytes=int(c.evidence.max_ring_gb * 1e9),
        )

    # -- construction -------------------------------------------------------------------
    def _camera(
        self,
        cam: CameraSettings,
        recording: CameraRecording | None = None,
        pipeline: CameraPipeline | None = None,
    ) -> CameraRuntime:
        """A camera's parts, its reader in the batcher; not started. The rings of
        ``recording`` and ``pipeline`` are kept when given (a restart for new streams: its
        segments, holds and open alerts stay)."""
        ev = self.config.evidence
        recording = CameraRecording(
            cam.id,
            cam.detect,
            cam.record,
            ev.dir / "ring" / cam.id,
            segment_s=ev.segment_s,
            keep_s=ev.keep_s(cam),
            max_bytes=int(ev.max_ring_gb * 1e9),  # all rings together: the housekeeper's
            rings=recording.rings if recording is not None else None,
            detect_from_reader=True,  # no second connection to the camera, no ffmpeg
        )
        reader = CameraReader(
            cam.id,
            cam.detect,
            need_fps=cam.detect_fps,
            stall_s=cam.stall_s,
            packets=recording.packet_sink,
        )
        if pipeline is None:
            pipeline = CameraPipeline(cam, self.config.site.timezone)
        else:
            pipeline.reconfigure(cam)
        try:
            self.detector.square(cam.input_size)
        except ValueError as exc:
            raise ModelError(f"camera {cam.id}: {exc}; remove its input_size") from exc
        self.batcher.add(reader, cam.detect_fps, MotionGate(), looks_of(self.config, cam))
        return CameraRuntime(cam, reader, recording, pipeline)

    def _transport(self, c: SiteConfig) -> MqttTransport:
        q = c.mqtt
        tls = None
        if q.tls.enabled:
            tls = Tls(
                _opt(q.tls.ca_file), _opt(q.tls.certfile), _opt(q.tls.keyfile), q.tls.insecure
            )
        offline = self.signer.encode(self._status("offline"))
        will = Will(m.edge_status(q.topic_prefix, c.site.id), offline)
        return MqttTransport(
            q.host,
            q.port,
            client_id=q.client_id,
            tls=tls,
            username=os.environ.get(q.username_env) if q.username_env else None,
            password=os.environ.get(q.password_env) if q.password_env else None,
            keepalive=q.keepalive_s,
            will=will,
            on_connect=self._on_connect,
            # in place before the first connect: commands queued while the edge was away
            subscriptions={
                m.config_command(q.topic_prefix, c.site.id): self.desk.receive,
                m.video_command(q.topic_prefix, c.site.id): self.video.receive,
            },
        )

    # -- running ------------------------------------------------------------------------
    def run(self) -> None:
        """Run until SIGTERM/SIGINT (or ``stop_event``), then shut down cleanly."""
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: self.stop_event.set())
        self.start()
        try:
            self.main_loop()
        finally:
            self.shutdown()

    def start(self) -> None:
        self.publisher.start()
        self.delivery.start()
        for cam in self.cameras.values():
            cam.reader.start()
            cam.recording.start()
        self._housekeeping = threading.Thread(
            target=self.housekeeper.run, args=(self.stop_event,), name="housekeeping", daemon=True
        )
        self._housekeeping.start()
        self._ready.set()
        if self.transport.connected:  # connected before start(): the hook skipped its work
            self._on_connect()
        log.info("edge %s started: %d cameras", self.config.site.id, len(self.cameras))
        self._check_ring_budget()

    def main_loop(self) -> None:
        """Run the detector threads and process their results until ``stop_event``."""
        detectors = [
            threading.Thread(
                target=self._detect_loop, args=(i, d), name=f"detector-{i}", daemon=True
            )
            for i, d in enumerate(self.detectors)
        ]
        for thread in detectors:
            thread.start()
        try:
            while not self.stop_event.is_set():
                try:
                    results = self._results.get(timeout=RESULTS_WAIT_S)
                except queue.Empty:
                    results = []
                self._process(results)
                now = time.time()
                for cam in self.cameras.values():
                    if now - cam.last_analysed > TICK_AFTER_S:
                        for t in cam.pipeline.tick(now):
                            self._deliver(cam, t)
                self.desk.serve(self.config, self._apply)
                self._watch_detectors()
        finally:
            self.stop_event.set()
            for i, thread in enumerate(detectors):
                if not isinstance(self._failure, DetectorStalled) or self._busy_since[i] is None:
                    thread.join()  # a hung session never returns: its daemon thread is left
            while not self._results.empty():  # detected before the stop: still processed
                self._process(self._results.get())
        if isinstance(self._failure, DetectorStalled):
            raise self._failure
        if self._failure is not None:
            raise RuntimeError("a detector thread failed; see the log") from self._failure

    def _watch_detectors(self) -> None:
        """Stop the worker when a detector session has hung on one batch (``stall_s``)."""
        limit, now = self.config.detector.stall_s, time.monotonic()
        for i, since in enumerate(self._busy_since):
            if since is not None and now - since > limit and self._failure is None:
                self._failure = DetectorStalled(
                    f"detector-{i} has been running one batch for {now - since:.0f} s "
                    f"(detector.stall_s is {limit:g} s): its session is hung. The worker stops "
                    "so that its supervisor (systemd, Docker) restarts it; if this repeats, "
                    "check the model file and the machine's load, or raise detector.stall_s"
                )
                log.error("%s", self._failure)
                self.stop_event.set()

    def _detect_loop(self, index: int, detector: Detector) -> None:
        """One detector session: collect a batch, detect, hand the results to the main loop."""
        try:
            while not self.stop_event.is_set():
                frames = self.batcher.collect(self.stop_event, max_wait_s=TICK_AFTER_S)
                if not frames:
                    continue
                self._busy_since[index] = time.monotonic()
                results = self.batcher.run(frames, detector.detect_looks)
                self._busy_since[index] = None
                while True:
                    try:
                        self._results.put(results, timeout=RESULTS_WAIT_S)
                        break
                    except queue.Full:
                        if self.stop_event.is_set():
                            return
        except Exception as exc:  # the worker must not go on without its detectors
            log.exception("detector thread failed; stopping the worker")
            self._failure = exc
            self.stop_event.set()

    def _process(self, results: list[AnalysedFrame]) -> None:
        for frame in results:
            cam = self.cameras.get(frame.camera)
            if cam is None:
                continue
            if frame.ts <= cam.last_ts:  # a later frame of this camera was processed first
                self.batcher.stats.dropped(frame.camera)
                continue
            cam.last_analysed, cam.last_ts = time.time(), frame.ts
            if not cam.size_checked:
                cam.size_checked = True
                self._check_size(cam, frame.image.shape[:2])
            if self._snapshots.due(cam.config.id):
                self._publish_snapshot(cam.config.id, frame.image)
            for t in cam.pipeline.process(frame):
                self._deliver(cam, t)

    def _check_size(self, cam: CameraRuntime, hw: tuple[int, int]) -> None:
        """Warn, in the log and in the camera's status (the console shows it), when its tile
        look can never run: its frames are too small for tiles, or the model cannot take them;
        clear that warning when it no longer holds."""
        problem = None
        if wants_tile_look(self.config, cam.config):
            square = self.detector.square(cam.config.input_size)
            problem = self.detector.tile_problem(hw, square)
        if problem is not None:
            log.warning("camera %s: %s", cam.config.id, problem.text)
        warnings = {k: v for k, v in self.housekeeper.warnings.items() if k != cam.config.id}
        if problem is not None:
            warnings[cam.config.id] = (problem,)
        self.housekeeper.warnings = warnings  # a new mapping: its thread reads the old one

    def _deliver(self, cam: CameraRuntime, t: AlertTransition) -> None:
        zone = next((z for z in cam.pipeline.zones if z.id == t.zone_id), None)
        self.delivery.handle(t, cam.pipeline.frame_at(t.best_ts), zone)

    def shutdown(self) -> None:
        self.video.stop()  # live uploads end; a range being cut finishes first
        now = time.time()
        for cam in self.cameras.values():
            for t in cam.pipeline.close_all(now):
                self._deliver(cam, t)
            cam.reader.stop()
        self.delivery.stop(timeout_s=self.config.evidence.post_roll_s + 30.0)
        for cam in self.cameras.values():
            cam.recording.stop()
        self.stop_event.set()
        if self._housekeeping is not None:
            self._housekeeping.join(5.0)  # its next status must not undo the offline below
        self.housekeeper.publish_offline()
        flushed = self.publisher.flush(10.0)
        if not flushed:
            log.warning(
                "outbox not empty at exit: %d messages wait for the next start", self.outbox.depth()
            )
        self.publisher.stop()
        self.transport.close()  # publishes the offline will itself
        self.outbox.close()

    # -- MQTT callbacks and commands --------------------------------------------------------
    def _on_connect(self) -> None:
        if not self._ready.is_set():
            return  # paho connected during __init__; start() calls this again
        q = self.config.mqtt
        topic = m.edge_status(q.topic_prefix, self.config.site.id)
        self.transport.publish(topic, self.signer.encode(self._status("online")), retain=True)
        for cam in self.config.cameras:  # what the console's zone editor starts from
            topic = m.camera_config(q.topic_prefix, self.config.site.id, cam.id)
            msg = camera_config_message(self.config, cam)
            self.transport.publish(topic, self.signer.encode(msg), retain=True)
        self.publisher.wake()

    def _publish_snapshot(self, camera_id: str, image: np.ndarray) -> None:
        """The camera's latest analysed frame, retained: the zone editor's backdrop."""
        q = self.config.mqtt
        topic = m.camera_snapshot(q.topic_prefix, self.config.site.id, camera_id)
        try:
            self.transport.publish(topic, snapshot_jpeg(image), qos=0, retain=True)
        except ValueError as exc:
            log.warning("no snapshot of %s: %s", camera_id, exc)

    def _apply(self, cmd: m.Command) -> Outcome:
        """A command the gate let through: applied (the cameras follow) or refused."""
        out = obey(self.gate, self.config, self.path, cmd, self._model_takes)
        if out.applied:
            before, self.config = self.config, out.config
            self._reconcile(before, out.config)
            self.video.configure(out.config)
            self._snapshots.every_s = out.config.video.snapshot_every_s
            self._check_ring_budget()
            q = self.config.mqtt
            offline = self.signer.encode(self._status("offline"))
            self.transport.set_will(
                Will(m.edge_status(q.topic_prefix, self.config.site.id), offline)
            )
            self._on_connect()  # the retained edge status carries the new version
        return out

    # -- cameras that come, change and go ----------------------------------------------------
    def _model_takes(self, config: SiteConfig) -> str | None:
        """Why the detector cannot run ``config``'s cameras (an input size its model does not
        take), or None: checked before a command's file is written."""
        for cam in config.cameras:
            if cam.enabled:
                try:
                    self.detector.square(cam.input_size)
                except ValueError as exc:
                    return f"camera {cam.id}: {exc}; leave its input size empty"
        return None

    def _reconcile(self, before: SiteConfig, after: SiteConfig) -> None:
        """Make the running cameras those ``after`` enables: stop the ones gone, start the new,
        restart the reader and recorder of one whose streams changed, reconfigure the rest.
        A camera whose settings did not change is not touched."""
        want = {cam.id: cam for cam in after.cameras if cam.enabled}
        for cam_id in [k for k in self.cameras if k not in want]:
            gone = "disabled" if any(c.id == cam_id for c in after.cameras) else "removed"
            self._stop_camera(cam_id, f"{gone} in the edge's config (version {after.version})")
        for cam_id, cam in want.items():
            run = self.cameras.get(cam_id)
            try:
                if run is None:
                    self._start_camera(self._camera(cam))
                elif any(getattr(run.config, f) != getattr(cam, f) for f in STREAM_FIELDS):
                    self._restart_camera(run, cam)
                elif run.config != cam:
                    run.config = cam
                    run.pipeline.reconfigure(cam)
                if run is not None:  # the looks follow the detector's defaults too
                    run.size_checked = False
                    self.batcher.set_looks(cam.id, looks_of(after, cam))
            except (OSError, ValueError, ModelError) as exc:  # written: the others run on
                log.error(
                    "camera %s could not start with config version %d: %s; it stays stopped "
                    "until the next change or restart",
                    cam_id,
                    after.version,
                    exc,
                )
        self._share()

    def _start_camera(self, run: CameraRuntime) -> None:
        self.cameras[run.config.id] = run
        self._rings[run.config.id] = run.ring
        self._all_rings.update((r.directory, r) for r in run.recording.rings.values())
        self._share()
        run.reader.start()
        run.recording.start()
        log.info("camera %s started", run.config.id)

    def _restart_camera(self, run: CameraRuntime, cam: CameraSettings) -> None:
        """New streams for a running camera: its reader and recorder are replaced (the main
        loop waits for the old ones to stop); its ring, pipeline and open alerts stay."""
        run.reader.stop()
        run.recording.stop()
        self._start_camera(self._camera(cam, recording=run.recording, pipeline=run.pipeline))
        log.info("camera %s restarted with its new settings", cam.id)

    def _stop_camera(self, cam_id: str, reason: str) -> None:
        """A camera removed (or disabled): its open alerts end, it stops, and its retained
        status says so. Its ring stays with the delivery, disk manager and pruning."""
        run = self.cameras.pop(cam_id)
        self._share()
        for t in run.pipeline.close_all(time.time()):
            self._deliver(run, t)
        self.batcher.remove(cam_id)
        run.reader.stop()
        run.recording.stop()
        self.housekeeper.publish_gone(cam_id, run.reader, reason)
        log.info("camera %s stopped: %s", cam_id, reason)

    def _share(self) -> None:
        """Hand the housekeeper and the disk manager the camera set as new containers: they
        read them on their own thread and never see one change under them."""
        self.housekeeper.readers = {k: run.reader for k, run in self.cameras.items()}
        warned = self.housekeeper.warnings
        self.housekeeper.warnings = {k: v for k, v in warned.items() if k in self.cameras}
        self.housekeeper.recordings = {k: run.recording for k, run in self.cameras.items()}
        self.housekeeper.rings = list(self._all_rings.values())
        self.disk.rings = list(self._all_rings.values())

    def _video_segments(self, camera_id: str, stream: m.VideoStream) -> list[Segment]:
        """The recorded segments of a camera's stream, for the video desk's range cuts (on its
        thread); ``record`` is the ``detect`` ring on a camera without a main stream;
        ``KeyError`` for a camera not running or a stream not recorded."""
        run = self.cameras.get(camera_id)
        if run is None:
            raise KeyError(f"camera {camera_id} is not running at this edge")
        return run.recording.ring(stream).refresh()

    def _video_hold(self, camera_id: str, hold_id: str, start: float, end: float, why: str) -> None:
        """A legal hold on every recorded stream of a running camera (the video desk's job
        thread); ``KeyError`` for a camera not running."""
        run = self.cameras.get(camera_id)
        if run is None:
            raise KeyError(f"camera {camera_id} is not running at this edge")
        run.recording.hold(hold_id, start, end, why)

    def _check_ring_budget(self) -> None:
        """Warn when the running cameras' retention does not fit in ``evidence.max_ring_gb``."""
        budget = int(self.config.evidence.max_ring_gb * 1e9)
        check_ring_budget({k: run.recording for k, run in self.cameras.items()}, budget)

    def _post_result(self, result: m.ConfigResult) -> None:
        """A command's answer, signed, through the outbox."""
        topic = m.config_result(self.config.mqtt.topic_prefix, self.config.site.id)
        self.outbox.put(topic, self.signer.encode(result))
        self.publisher.wake()

    def _status(self, state: Literal["online", "offline"]) -> m.EdgeStatus:
        return m.EdgeStatus(
            site_id=self.config.site.id,
            state=state,
            software_version=software_version(),
            config_version=str(self.config.version),
            started_at=utc(self.started_at),
            cameras=len(self.config.cameras),
            at=utc(time.time()),
            timezone=self.config.site.timezone,
            warnings=list(self.detector.info.warnings),
        )


def _label_conf(c: SiteConfig) -> dict[str, float]:
    """The configured per-label scores for the labels the model has. The config lists all four
    labels (absent ones at their default), and ``Detector`` refuses a label its model lacks: a
    model without ``cigarette`` would otherwise stop the worker from starting at all."""
    labels = open_model(c.detector.model, threads=1, optimization="disable")[1].labels
    missing = [str(k) for k in c.detector.label_conf if k not in labels]
    if missing:
        log.warning(
            "model %s has no %s label(s): rules that need them never fire",
            c.detector.model,
            missing,
        )
    return {str(k): v for k, v in c.detector.label_conf.items() if k in labels}


def needs_second_look(cam: CameraSettings) -> bool:
    """Only cameras with a rule that can fire on cigarettes pay for the cigarette crops."""
    return any(spec.evidence == "cigarette" for spec in armed_rules(cam))


def looks_of(config: SiteConfig, cam: CameraSettings) -> Looks:
    """The camera's looks: its own settings, else the detector's."""
    return Looks(
        second_look=needs_second_look(cam),
        input_size=cam.input_size,
        head_look=wants_head_look(config, cam),
        coarse_look=wants_coarse_look(config, cam),
        tile_look=wants_tile_look(config, cam),
    )


def wants_head_look(config: SiteConfig, cam: CameraSettings) -> bool:
    """The camera's own head look setting, else the detector's."""
    return config.detector.head_look if cam.head_look is None else cam.head_look


def wants_coarse_look(config: SiteConfig, cam: CameraSettings) -> bool:
    """The camera's own coarse look setting, else the detector's."""
    return config.detector.coarse_look if cam.coarse_look is None else cam.coarse_look


def wants_tile_look(config: SiteConfig, cam: CameraSettings) -> bool:
    """The camera's own tile look setting, else the detector's."""
    return config.detector.tile_look if cam.tile_look is None else cam.tile_look


def _opt(path: Path | None) -> str | None:
    return str(path) if path is not None else None
