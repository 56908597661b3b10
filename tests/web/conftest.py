"""The Flask app on a daemon with mock pins and a moved clock; a real SQLite; flaskr-style fixtures."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from device.accounts import Accounts
from web import create_app

from ..daemon.conftest import Rig, daemon_rig  # noqa: F401
from ..engine.conftest import config_toml, local, med_toml

PASSWORD = "correct horse battery"


def web_config(tmp_path: Path, med: str | None = None) -> str:
    extra = 'interactions = ["alcohol"]\nstorage = "Dry, dark place."\nnotes = "Do not drive until you know."'
    return config_toml(med or med_toml(extra=extra), device=f'state_dir = "{tmp_path / "state"}"')


@pytest.fixture
def rig(tmp_path: Path, daemon_rig: Callable[..., Rig]) -> Rig:  # noqa: F811
    return daemon_rig(web_config(tmp_path), local("2026-11-02T08:05"))


@pytest.fixture
def app(rig: Rig) -> Flask:
    application = create_app(rig.daemon.config, rig.daemon, testing=True)
    Accounts(rig.daemon.store).add("carer", PASSWORD)
    return application


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf-token" content="([^"]+)"', html)
    assert found, "no CSRF token on the page"
    return found.group(1)


class Caregiver:
    """A logged-in browser session: remembers the CSRF token."""

    def __init__(self, client: FlaskClient, password: str = PASSWORD) -> None:
        self.client = client
        page = client.get("/login")
        token = csrf_of(page.get_data(as_text=True))
        response = client.post("/login", data={"name": "carer", "password": password, "csrf_token": token})
        assert response.status_code == 302, response.get_data(as_text=True)
        self.csrf = csrf_of(client.get("/").get_data(as_text=True))

    def post(self, path: str, **kw: Any) -> Any:
        headers = {"X-CSRFToken": self.csrf, **kw.pop("headers", {})}
        return self.client.post(path, headers=headers, **kw)

    def delete(self, path: str, **kw: Any) -> Any:
        return self.client.delete(path, headers={"X-CSRFToken": self.csrf}, **kw)

    def form(self, path: str, data: dict[str, Any]) -> Any:
        return self.client.post(path, data={**data, "csrf_token": self.csrf})

    def cookie(self) -> str:
        """The session cookie as it is now, to replay later from another browser."""
        found = self.client.get_cookie("pillbox_session")
        assert found is not None, "no session cookie"
        return found.value


@pytest.fixture
def carer(client: FlaskClient) -> Caregiver:
    return Caregiver(client)


@pytest.fixture
def token(rig: Rig, app: Flask) -> Iterator[str]:
    yield Accounts(rig.daemon.store).create_token("home-assistant")
