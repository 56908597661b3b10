"""A real headless Chromium (Debian's, driven by Playwright): log in, see a due dose, open the lid on the
virtual dispenser, see the dose turn taken, raise and acknowledge an alert. Saves a screenshot."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import pytest
from playwright.sync_api import expect, sync_playwright

from device.accounts import Accounts
from device.config import parse_config
from device.service import build, start_web

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture
def served(tmp_path):
    now = dt.datetime.now(dt.UTC)
    times = json.dumps(sorted([now.strftime("%H:%M"), (now + dt.timedelta(hours=8)).strftime("%H:%M")]))
    config = parse_config(
        f'[device]\ntimezone = "UTC"\nstate_dir = "{tmp_path / "state"}"\nclock_sync_wait_minutes = 0\n'
        '[hardware]\nhelp_hold_seconds = 0.5\n[mqtt]\nenabled = false\n[web]\nhost = "127.0.0.1"\n'
        '[[medication]]\nname = "Baclofen"\nstrength_mg = 10\nstock = 30\n'
        "early_minutes = 30\nlate_after_minutes = 30\nmissed_after_minutes = 60\n"
        f'  [[medication.plan]]\n  start = "{(now - dt.timedelta(days=1)).date()}"\n  times = {times}\n'
        "  dose_mg = 10\n",
        "pillbox.toml",
    )
    daemon = build(config, mock=True, web=False)
    daemon.synchronised = lambda: True
    daemon.start()
    server = start_web(config, daemon, port=0)
    Accounts(daemon.store).add("carer", "correct horse battery")
    yield f"http://127.0.0.1:{server.effective_port}", now
    daemon.stop()


def test_caregiver_sees_a_dose_taken_and_acknowledges_an_alert(served):
    base, now = served
    dose_id = f"baclofen/{now.date()}T{now.strftime('%H:%M')}"
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        page = browser.new_page(viewport={"width": 420, "height": 1600})  # a phone-sized page
        page.goto(base + "/")
        expect(page).to_have_url(re.compile(r"/login"))
        page.fill("input[name=name]", "carer")
        page.fill("input[name=password]", "correct horse battery")
        page.click("button[type=submit]")
        row = page.locator(f'tr[data-dose="{dose_id}"]')
        expect(row.locator(".state")).to_contain_text("due")
        expect(page.locator("[data-led=due]")).to_have_text("pulse")

        page.click("button[data-mock=lid_open]")
        expect(row.locator(".state")).to_contain_text("taken", timeout=5000)
        page.click("button[data-mock=lid_close]")

        page.click("button[data-mock=hold]")
        alert = page.locator("article.alert[data-alert=help_requested]")
        expect(alert).to_be_visible(timeout=5000)
        expect(alert).to_contain_text("HIGH")
        page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)
        alert.locator("button.ack").click()
        expect(page.locator("article.alert[data-alert=help_requested]")).to_have_count(0, timeout=5000)
        expect(page.locator(".flash")).to_contain_text("acknowledged")
        browser.close()
    assert (ARTIFACTS / "dashboard.png").stat().st_size > 10_000
