"""Fixtures for console tests: a real database (SQLite file, or PostgreSQL), the app, users.

    from console_support import console_fixture, login  # noqa: F401
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from server.app import create_app
from server.settings import Settings
from server.users import create_user

PASSWORD = "correct-horse-battery"


@dataclass
class Console:
    settings: Settings
    client: TestClient

    def add_user(self, username: str, role: str, sites: list[str], language: str = "en") -> None:
        state = self.client.app.state.sitewatch  # type: ignore[attr-defined]
        with state.db.session() as s:
            create_user(s, username, PASSWORD, role, sites, language)

    def login(self, username: str, password: str = PASSWORD) -> TestClient:
        """A new client logged in as ``username``, sending the CSRF header by itself."""
        c = TestClient(self.client.app)
        r = c.post("/api/auth/login", json={"username": username, "password": password})
        assert r.status_code == 200, r.text
        c.headers["X-CSRF-Token"] = c.cookies["sw_csrf"]
        return c


def make_settings(tmp_path: Path, database_url: str | None = None, **extra: object) -> Settings:
    return Settings(
        database_url=database_url or f"sqlite:///{tmp_path / 'console.db'}",
        evidence_dir=tmp_path / "evidence",
        mqtt_host=None,
        **extra,  # type: ignore[arg-type]
    )


@pytest.fixture(name="console")
def console_fixture(tmp_path: Path) -> Iterator[Console]:
    """The console on a fresh SQLite file, no MQTT ingest."""
    settings = make_settings(tmp_path)
    with TestClient(create_app(settings)) as client:
        yield Console(settings, client)
