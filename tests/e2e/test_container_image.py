"""The container image (deploy/Dockerfile) built with podman and run: the sitewatch user
(uid and gid 10001), ffmpeg and the runtime libraries in it, the example edge config valid
there, exit 1 for a bad edge config and a bad console setting (compose's ``tini -e 1`` turns
it into 0, so ``restart: on-failure`` leaves the service stopped), the console serving.

Opt-in (``SITEWATCH_IMAGE_BASE``): no registry answers here (docker.io does not resolve), so
the base image must already be in podman's store, and the build downloads Debian packages and
wheels. deploy/README.md, "Testing the image", makes such a base with debootstrap. Podman on
these machines needs runc (crun: "cgroups in hybrid mode not supported") and lower ulimits
(its defaults need CAP_SYS_RESOURCE): the test finds flags that run a container.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import yaml

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
BASE_ENV = "SITEWATCH_IMAGE_BASE"
TAG = "localhost/sitewatch:e2e"
LIMITS = ("--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024")
FLAG_SETS = (((), ()), (("--runtime", "runc"), LIMITS))  # (podman's, run's and build's)
HOST_CA = Path("/etc/ssl/certs/ca-certificates.crt")  # trusted by pip in the build


@dataclass(frozen=True)
class Podman:
    """The podman command with the flags that run containers on this machine."""

    exe: str
    global_flags: tuple[str, ...]
    run_flags: tuple[str, ...]

    def __call__(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        verb, *rest = args
        flags = self.run_flags if verb in ("run", "build") else ()
        argv = [self.exe, *self.global_flags, verb, *flags, *rest]
        return subprocess.run(argv, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def podman() -> Podman:
    exe = shutil.which("podman")
    if exe is None:
        pytest.skip("podman is not installed (apt-get install podman runc)")
    base = os.environ.get(BASE_ENV)
    if not base:
        pytest.skip(
            f"{BASE_ENV} is unset: the build needs its base image in podman's store (no "
            "registry answers here: docker.io does not resolve) and downloads Debian packages "
            "and wheels; see deploy/README.md, 'Testing the image'"
        )
    tried = []
    for global_flags, run_flags in FLAG_SETS:
        candidate = Podman(exe, global_flags, run_flags)
        done = candidate("run", "--rm", base, "true")
        if done.returncode == 0:
            return candidate
        tried.append(f"{' '.join(global_flags + run_flags) or 'defaults'}: {done.stderr.strip()}")
    pytest.skip(f"podman cannot run a container here: {'; '.join(tried)}")


@pytest.fixture(scope="module")
def image(podman: Podman, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The image built from the working tree, on ``$SITEWATCH_IMAGE_BASE``."""
    mounts: list[str] = []
    if HOST_CA.is_file():  # a TLS-inspecting proxy's CA, as on these machines
        pip_conf = tmp_path_factory.mktemp("pip") / "pip.conf"
        pip_conf.write_text("[global]\ncert = /run/host-ca.crt\n")
        mounts = ["-v", f"{pip_conf}:/etc/pip.conf:ro", "-v", f"{HOST_CA}:/run/host-ca.crt:ro"]
    done = podman(
        "build",
        "--network",
        "host",
        *mounts,
        "--ignorefile",
        str(REPO / "deploy" / "Dockerfile.dockerignore"),
        "--build-arg",
        f"BASE={os.environ[BASE_ENV]}",
        "-f",
        str(REPO / "deploy" / "Dockerfile"),
        "-t",
        TAG,
        str(REPO),
        timeout=1800,
    )
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    return TAG


def readable_folder(path: Path, files: dict[str, str]) -> Path:
    """``path`` holding ``files``, readable by the image's user (bind mounts keep modes)."""
    path.mkdir(mode=0o755)
    path.chmod(0o755)
    for name, text in files.items():
        (path / name).write_text(text)
        (path / name).chmod(0o644)
    return path


def test_the_image_runs_as_sitewatch_with_ffmpeg_and_the_runtime_libraries(
    podman: Podman, image: str
) -> None:
    script = "id -u; id -g; ffmpeg -hide_banner -version | head -1; " + (
        "python -c 'import cv2, onnxruntime, av, psycopg; print(\"imports ok\")'"
    )
    done = podman("run", "--rm", "--entrypoint", "sh", image, "-c", script)
    assert done.returncode == 0, done.stderr
    uid, gid, ffmpeg, imports = done.stdout.splitlines()
    assert (uid, gid, imports) == ("10001", "10001", "imports ok")
    assert ffmpeg.startswith("ffmpeg version"), ffmpeg


def test_edge_exit_codes_match_the_restart_policy(
    podman: Podman, image: str, tmp_path: Path
) -> None:
    example = (REPO / "deploy" / "edge-cameras.yaml").read_text()
    good = readable_folder(tmp_path / "good", {"cameras.yaml": example})
    bad = readable_folder(
        tmp_path / "bad", {"cameras.yaml": example.replace("version: 1", "version: 0")}
    )
    at = "/etc/sitewatch/edge"
    checked = podman(
        "run", "--rm", "-v", f"{good}:{at}:ro", image, "validate-config", f"{at}/cameras.yaml"
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "detector.model" not in checked.stdout, "the model is in the image at that path"
    edge = ("-v", f"{bad}:{at}", image, "edge", "--config", f"{at}/cameras.yaml")
    refused = podman("run", "--rm", *edge)
    assert refused.returncode == 1, refused.stderr
    assert "refusing to start" in refused.stderr
    compose = yaml.safe_load((REPO / "deploy" / "compose.yaml").read_text())
    entrypoint = compose["services"]["edge"]["entrypoint"]
    remapped = podman(
        "run", "--rm", "--entrypoint", entrypoint[0], *edge[:2], image, *entrypoint[1:], *edge[3:]
    )
    assert remapped.returncode == 0, "tini -e 1: restart: on-failure must not restart it"


@pytest.fixture
def console(podman: Podman, image: str) -> Iterator[str]:
    """A console container on a free loopback port (no broker: ingest off); its base URL."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    name = f"sitewatch-e2e-{uuid.uuid4().hex[:8]}"
    env = [
        "-e",
        "SITEWATCH_MQTT_HOST=",
        "-e",
        "SITEWATCH_DATABASE_URL=sqlite:////var/lib/sitewatch/console/db/console.db",
    ]
    started = podman("run", "-d", "--name", name, "-p", f"127.0.0.1:{port}:8080", *env, image)
    assert started.returncode == 0, started.stderr
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        podman("rm", "-f", "-t", "5", name)


def test_the_console_serves_and_a_bad_setting_exits_1(
    podman: Podman, image: str, console: str
) -> None:
    deadline, answer = time.monotonic() + 90, None
    while time.monotonic() < deadline and answer is None:
        try:
            answer = httpx.get(f"{console}/api/health", timeout=3)
        except httpx.TransportError:
            time.sleep(1)
    assert answer is not None and answer.status_code == 200, f"no answer from {console}"
    assert answer.json()["status"] == "ok"
    refused = podman("run", "--rm", "-e", "SITEWATCH_MQTT_PORT=0", image)
    assert refused.returncode == 1 and "mqtt_port" in refused.stderr, refused.stderr[-2000:]
