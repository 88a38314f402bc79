"""The wheel: built from the package alone and installed in a fresh virtualenv, it carries the
console's web files and migrations, answers ``sitewatch --version``, checks the sample config
and serves the console's page.

The wheel carries no model: an edge config names its own (``detector.model``) and the offline
tools take ``--model`` or ``$SITEWATCH_MODEL``; without one they say so (tested here too).
The fresh virtualenv gets the wheel from pip without its dependencies, then sees the project
virtualenv's ``site-packages`` through a path line in a ``.pth`` file: a path line runs none of
the ``.pth`` files there (the editable install of this checkout among them), so nothing comes
from the network and ``sitewatch`` is imported from the wheel, which the test checks.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import sysconfig
import time
import tomllib
import zipfile
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import pytest

REPO = next(p for p in Path(__file__).resolve().parents if (p / "pyproject.toml").is_file())
PACKAGE = REPO / "sitewatch"
SAMPLE_CONFIG = REPO / "configs" / "cameras.yaml"
VERSION = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
HOST = "127.0.0.1"
JUNK = shutil.ignore_patterns("__pycache__", "*.pyc")


@dataclass(frozen=True)
class Installed:
    """The copy of the package the wheel was built from, the wheel, the virtualenv it is
    installed in, and an empty folder to run from."""

    package: Path
    wheel: Path
    venv: Path
    cwd: Path

    def run(
        self, *args: str, env: dict[str, str] | None = None, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        """Run the virtualenv's ``sitewatch`` script from ``cwd``."""
        return _call([str(self.venv / "bin" / "sitewatch"), *args], self.cwd, timeout, env)


def _env(**extra: str) -> dict[str, str]:
    """This process's environment without SiteWatch's variables or a Python path, plus
    ``extra``."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("SITEWATCH_") and k not in ("PYTHONPATH", "VIRTUAL_ENV")
    }
    return env | extra


def _ok(done: subprocess.CompletedProcess[str], what: str) -> subprocess.CompletedProcess[str]:
    """``done``, which must have exited 0 (else the failure shows its output)."""
    assert done.returncode == 0, (
        f"{what}: expected exit 0, got {done.returncode}\nstdout:\n{done.stdout}\n"
        f"stderr:\n{done.stderr}"
    )
    return done


@pytest.fixture(name="installed", scope="module")
def installed_fixture(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    """The wheel built from a copy of the package's files (the build writes nothing into the
    checkout), installed in a new virtualenv."""
    root = tmp_path_factory.mktemp("wheel")
    src = root / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy2(REPO / name, src / name)
    shutil.copytree(PACKAGE, src / "sitewatch", ignore=JUNK)
    pip = [sys.executable, "-m", "pip"]
    build = [*pip, "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-w"]
    _ok(_call([*build, str(root / "dist"), str(src)], timeout=300), "pip wheel")
    (wheel,) = (root / "dist").glob("sitewatch-*.whl")
    venv = root / "venv"
    _ok(_call([sys.executable, "-m", "venv", "--without-pip", str(venv)]), "python -m venv")
    python = str(venv / "bin" / "python")
    install = [*pip, "--python", python, "install", "--no-deps", "--no-index", str(wheel)]
    _ok(_call(install, timeout=300), "pip install the wheel")
    where = [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]
    site = Path(_ok(_call(where), "the virtualenv's site-packages").stdout.strip())
    ours = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    (site / "sitewatch-test-dependencies.pth").write_text("\n".join(sorted(ours)) + "\n")
    cwd = root / "run"
    cwd.mkdir()
    return Installed(src / "sitewatch", wheel, venv, cwd)


def _call(
    command: list[str],
    cwd: Path = Path("/"),
    timeout: float = 120,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``command`` from ``cwd`` (not the checkout), its output captured as text."""
    return subprocess.run(
        command, cwd=cwd, env=env or _env(), capture_output=True, text=True, timeout=timeout
    )


@pytest.mark.slow
def test_the_wheel_carries_every_file_of_the_package(installed: Installed) -> None:
    in_wheel = {
        name
        for name in zipfile.ZipFile(installed.wheel).namelist()
        if name.startswith("sitewatch/")
    }
    in_package = {  # the copy built, without caches
        path.relative_to(installed.package.parent).as_posix()
        for path in installed.package.rglob("*")
        if path.is_file()
    }
    assert sorted(in_package - in_wheel) == [], "files of sitewatch/ missing from the wheel"
    for end in (
        "static/index.html",
        "static/favicon.svg",
        "js/generated/enums.js",
        "lang/zh-CN.json",
        "migrations/env.py",
        "migrations/script.py.mako",
    ):
        assert any(name.endswith(end) for name in in_wheel), f"no {end} in the wheel"
    assert any("/migrations/versions/0001_" in name for name in in_wheel), "no first migration"


@pytest.mark.slow
def test_the_installed_package_is_the_wheels_and_knows_its_version(installed: Installed) -> None:
    code = (
        "import importlib.metadata as m, sitewatch; "
        "print(sitewatch.__file__); print(m.version('sitewatch'))"
    )
    python = str(installed.venv / "bin" / "python")
    done = _ok(_call([python, "-c", code], installed.cwd), "import sitewatch")
    where, version = done.stdout.split()
    assert Path(where).is_relative_to(installed.venv), f"sitewatch imported from {where}"
    assert version == VERSION
    said = _ok(installed.run("--version"), "sitewatch --version").stdout
    assert said.strip() == f"sitewatch {VERSION}", said
    # the wheel's dependencies are all met by what the virtualenv sees
    _ok(_call([sys.executable, "-m", "pip", "--python", python, "check"]), "pip check")


@pytest.mark.slow
def test_the_installed_command_checks_the_sample_config(installed: Installed) -> None:
    (installed.cwd / "configs").mkdir(exist_ok=True)
    shutil.copy2(SAMPLE_CONFIG, installed.cwd / "configs" / "cameras.yaml")
    done = installed.run("validate-config", "configs/cameras.yaml")
    _ok(done, "sitewatch validate-config")
    assert done.stdout.startswith("configs/cameras.yaml: valid, version 1"), done.stdout
    # the model it names (../models/) is not beside the copy: a warning that says what to do
    assert "detector.model: expected an existing file" in done.stdout, done.stdout
    assert "Fix the path" in done.stdout


@pytest.mark.slow
def test_without_a_model_the_installed_command_says_how_to_name_one(
    installed: Installed,
) -> None:
    import cv2

    image = installed.cwd / "grey.png"
    assert cv2.imwrite(str(image), np.full((96, 128, 3), 127, np.uint8))
    done = installed.run("detect", image.name)
    assert done.returncode == 2, done.stdout + done.stderr
    for words in (
        "no model was named",
        "an installed sitewatch carries no model",
        "--model",
        "detector.model",
        "SITEWATCH_MODEL=",
    ):
        assert words in done.stderr, done.stderr
    wrong = installed.run("detect", image.name, env=_env(SITEWATCH_MODEL="nowhere.onnx"))
    assert wrong.returncode == 2, wrong.stdout + wrong.stderr
    assert "$SITEWATCH_MODEL names nowhere.onnx, which does not exist" in wrong.stderr
    named = installed.run(
        "detect", image.name, env=_env(SITEWATCH_MODEL=str(REPO / "models" / "sitewatch.onnx"))
    )
    _ok(named, "sitewatch detect with $SITEWATCH_MODEL")
    assert "grey.png" in named.stdout, named.stdout


@pytest.mark.slow
def test_the_installed_console_serves_its_page_and_migrates(installed: Installed) -> None:
    data = installed.cwd / "console"
    port = _free_port()
    env = _env(
        SITEWATCH_DATABASE_URL=f"sqlite:///{data / 'console.db'}",
        SITEWATCH_EVIDENCE_DIR=str(data / "evidence"),
        SITEWATCH_SIGNING_KEY_FILE=str(data / "console.key"),
        SITEWATCH_MQTT_HOST="",
    )
    data.mkdir()
    log = (data / "console.log").open("w")
    server = subprocess.Popen(
        [str(installed.venv / "bin" / "sitewatch"), "server", "--host", HOST, "--port", str(port)],
        cwd=installed.cwd,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        url = f"http://{HOST}:{port}"
        _wait_for(url + "/api/health", server, data / "console.log")
        with httpx.Client(base_url=url, timeout=10) as client:
            page = client.get("/")
            assert page.status_code == 200, page.text
            assert "<script" in page.text, page.text
            script = page.text.split('src="', 1)[1].split('"', 1)[0]
            js = client.get("/" + script.lstrip("/"))
            assert js.status_code == 200, f"GET {script}: {js.status_code}"
            assert "javascript" in js.headers["content-type"]
            for path in ("/favicon.svg", "/lang/zh-CN.json", "/js/generated/enums.js"):
                assert client.get(path).status_code == 200, f"GET {path}"
            # the users table exists (migrated): a wrong password is 401, not a server error
            login = client.post("/api/auth/login", json={"username": "x", "password": "wrong"})
            assert login.status_code == 401, login.text
    finally:
        server.terminate()
        try:
            server.wait(20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(10)
        log.close()
    with contextlib.closing(sqlite3.connect(data / "console.db")) as db:
        (revision,) = db.execute("SELECT version_num FROM alembic_version").fetchone()
    newest = sorted(p.name for p in PACKAGE.rglob("migrations/versions/0*.py"))[-1]
    assert newest.startswith(revision.split("_")[0]), f"database at {revision}, newest {newest}"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _wait_for(url: str, server: subprocess.Popen[bytes], log: Path) -> None:
    """Return once ``url`` answers 200; fail with the console's log if it exits or takes
    over 60 s."""
    deadline = time.monotonic() + 60
    while True:
        if server.poll() is not None:
            pytest.fail(f"the console exited with {server.returncode}:\n{log.read_text()}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            pytest.fail(f"the console did not answer {url} within 60 s:\n{log.read_text()}")
        time.sleep(0.2)
