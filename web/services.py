"""What the web layer is given: the daemon (engine, store, hardware) and the accounts."""

from __future__ import annotations

import functools
from dataclasses import dataclass

from flask import current_app

from device.accounts import Accounts
from device.app import Pillbox
from device.daemon import Daemon
from device.engine.model import Config


@dataclass
class Services:
    config: Config
    daemon: Daemon
    accounts: Accounts

    @functools.cached_property
    def app(self) -> Pillbox:
        """The façade: every command and query of the page and the API."""
        return Pillbox(self.daemon)

    @property
    def mock(self) -> bool:
        return self.app.hardware_is_mock


def services() -> Services:
    found: Services = current_app.extensions["pillbox"]
    return found
