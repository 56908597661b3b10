"""Authentication, sessions, tokens and CSRF (SPEC section 10)."""

from __future__ import annotations

import datetime as dt
import io
import os
from dataclasses import replace

import pytest

from device.accounts import Accounts
from device.admin import user_command
from device.service import database_path

from .conftest import PASSWORD, Caregiver, csrf_of

PROTECTED_GET = ["/", "/fragment", "/history", "/history.csv"]
API_GET = ["/api/v1/status", "/api/v1/doses", "/api/v1/events", "/api/v1/alerts", "/api/v1/openapi.json"]
API_POST = [
    "/api/v1/alerts/x/ack",
    "/api/v1/refills",
    "/api/v1/refill-mode",
    "/api/v1/away",
    "/api/v1/doses/baclofen/2026-11-02T14:00/skip",
    "/api/v1/doses/baclofen/2026-11-02T14:00/taken",
    "/api/v1/mock/press",
]


@pytest.mark.parametrize("path", PROTECTED_GET)
def test_pages_redirect_to_login(client, path):
    response = client.get(path)
    assert response.status_code == 302 and "/login" in response.headers["Location"]


@pytest.mark.parametrize("path", API_GET)
def test_api_reads_answer_401_json(client, path):
    response = client.get(path)
    assert response.status_code == 401 and "error" in response.get_json()


@pytest.mark.parametrize("path", API_POST)
def test_api_writes_answer_401_json(client, path):
    response = client.post(path, json={})
    assert response.status_code == 401 and "error" in response.get_json()
    assert client.delete("/api/v1/away").status_code == 401


def test_healthz_is_public_and_impersonal(client):
    response = client.get("/healthz")
    assert response.status_code == 200 and response.get_json() == {"status": "ok"}
    assert "Baclofen" not in response.get_data(as_text=True)


def test_healthz_503_when_the_database_is_gone(client, rig):
    rig.daemon.store.close()
    assert client.get("/healthz").status_code == 503


def test_login_wrong_password_then_right(client):
    page = client.get("/login")
    token = csrf_of(page.get_data(as_text=True))
    bad = client.post("/login", data={"name": "carer", "password": "nope", "csrf_token": token})
    assert bad.status_code == 401 and "Wrong name or password" in bad.get_data(as_text=True)
    good = client.post("/login", data={"name": "carer", "password": PASSWORD, "csrf_token": token})
    assert good.status_code == 302
    assert client.get("/").status_code == 200


def test_login_form_needs_its_csrf_token(client):
    response = client.post("/login", data={"name": "carer", "password": PASSWORD})
    assert response.status_code == 400
    assert client.get("/").status_code == 302


def test_session_cookie_is_httponly_and_samesite(client):
    page = client.get("/login")
    token = csrf_of(page.get_data(as_text=True))
    response = client.post("/login", data={"name": "carer", "password": PASSWORD, "csrf_token": token})
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Expires=" in cookie


def test_failed_logins_slow_down_per_account(rig, app):
    accounts = Accounts(rig.daemon.store)
    now = dt.datetime(2026, 11, 2, 9, 0, tzinfo=dt.UTC)
    waits = []
    for _ in range(6):  # each try after the lock of the one before has passed
        waits.append(accounts.login("carer", "wrong", now)[1])
        now += dt.timedelta(seconds=waits[-1] + 0.1)
    assert waits[:3] == [0, 0, 0] and 0 < waits[3] < waits[4] < waits[5]
    now -= dt.timedelta(seconds=waits[-1])
    assert accounts.login("carer", PASSWORD, now)[0] is False  # locked: even the right password waits
    later = now + dt.timedelta(seconds=waits[-1] + 1)
    assert accounts.login("carer", PASSWORD, later) == (True, 0.0)
    assert accounts.login("nobody", "x", now) == (False, 0.0)


def test_locked_account_says_when_to_try_again(client, rig, app):
    for _ in range(5):
        Accounts(rig.daemon.store).login("carer", "wrong")
    token = csrf_of(client.get("/login").get_data(as_text=True))
    response = client.post("/login", data={"name": "carer", "password": PASSWORD, "csrf_token": token})
    assert response.status_code == 401 and "try again in" in response.get_data(as_text=True)


def test_logout_ends_the_session(client):
    carer = Caregiver(client)
    assert carer.form("/logout", {}).status_code == 302
    assert client.get("/").status_code == 302


def test_session_json_requests_need_csrf(carer):
    without = carer.client.post("/api/v1/refill-mode")
    assert without.status_code == 400 and without.get_json()["field"] == "csrf_token"
    assert carer.post("/api/v1/refill-mode").status_code == 200
    form = carer.client.post("/actions/refill-mode", data={})
    assert form.status_code == 400


def test_tokens_need_no_csrf_and_bad_tokens_are_refused(client, token):
    ok = client.post("/api/v1/refill-mode", headers={"Authorization": f"Bearer {token}"})
    assert ok.status_code == 200
    bad = client.get("/api/v1/status", headers={"Authorization": "Bearer pbx_not-a-token"})
    assert bad.status_code == 401
    assert client.get("/", headers={"Authorization": f"Bearer {token}"}).status_code == 200


def test_revoked_token_stops_working(client, token, rig):
    Accounts(rig.daemon.store).revoke_token("home-assistant")
    assert client.get("/api/v1/status", headers={"Authorization": f"Bearer {token}"}).status_code == 401


def test_tokens_and_passwords_are_stored_hashed(rig, token):
    db = rig.daemon.store.db
    assert token not in str(list(db.execute("SELECT * FROM tokens")))
    assert PASSWORD not in str(list(db.execute("SELECT * FROM users")))


def test_login_never_redirects_off_the_device(client):
    # Found in review: "/\t/evil.example" passed a startswith("/") check and left the device.
    for target in ["/%09/evil.example", "//evil.example", "https://evil.example/", "/\\evil.example",
                   "/%0d%0a/x", "javascript:alert(1)"]:  # fmt: skip
        token = csrf_of(client.get("/login").get_data(as_text=True))
        response = client.post(
            f"/login?next={target}", data={"name": "carer", "password": PASSWORD, "csrf_token": token}
        )
        assert response.status_code == 302, target
        assert response.headers["Location"] in ("/", "http://localhost/"), (target, response.headers["Location"])
        client.post("/logout", data={"csrf_token": csrf_of(client.get("/").get_data(as_text=True))})
    token = csrf_of(client.get("/login").get_data(as_text=True))
    ok = client.post("/login?next=/history", data={"name": "carer", "password": PASSWORD, "csrf_token": token})
    assert ok.headers["Location"].endswith("/history")


def test_bearer_scheme_is_case_insensitive_and_logout_without_session_goes_to_login(client, token):
    assert client.get("/api/v1/status", headers={"Authorization": f"bearer {token}"}).status_code == 200
    response = client.post("/logout")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


# ------------------------------------------------------------------ server-side sessions


def replay(app, cookie: str):
    """Another browser that presents a copied session cookie."""
    other = app.test_client()
    other.set_cookie("pillbox_session", cookie)
    return other


def assert_refused(browser) -> None:
    api = browser.get("/api/v1/status")
    assert api.status_code == 401 and "error" in api.get_json()
    page = browser.get("/")
    assert page.status_code == 302 and "/login" in page.headers["Location"]


def user_cli(rig, action: str, name: str, stdin: str = "") -> int:
    """`pillbox user ACTION NAME` on the running daemon's database file (its own connection, as the CLI)."""
    config = rig.daemon.config
    cli_config = replace(config, device=replace(config.device, state_dir=os.path.dirname(rig.daemon.store.path)))
    assert database_path(cli_config) == rig.daemon.store.path
    return user_command(cli_config, action, name, io.StringIO(stdin))


def test_a_logged_out_cookie_is_refused(app, client):
    carer = Caregiver(client)
    copied = carer.cookie()
    assert replay(app, copied).get("/api/v1/status").status_code == 200
    assert carer.form("/logout", {}).status_code == 302
    assert_refused(replay(app, copied))


def test_a_cookie_from_before_a_password_change_is_refused(app, client, rig):
    carer = Caregiver(client)
    copied = carer.cookie()
    assert user_cli(rig, "passwd", "carer", "a brand new password\n") == 0
    assert_refused(replay(app, copied))
    assert_refused(client)  # the same browser, too
    fresh = Caregiver(app.test_client(), password="a brand new password")
    assert fresh.client.get("/api/v1/status").status_code == 200


def test_a_cookie_of_a_removed_caregiver_is_refused_even_if_the_name_comes_back(app, client, rig):
    copied = Caregiver(client).cookie()
    assert user_cli(rig, "remove", "carer") == 0
    assert_refused(replay(app, copied))
    assert user_cli(rig, "add", "carer", f"{PASSWORD}\n") == 0
    assert_refused(replay(app, copied))
    assert Caregiver(app.test_client()).client.get("/api/v1/status").status_code == 200


def test_a_password_change_ends_only_that_caregivers_sessions(app, client, rig):
    Accounts(rig.daemon.store).add("second", PASSWORD)
    carer = Caregiver(client).cookie()
    other = app.test_client()
    token = csrf_of(other.get("/login").get_data(as_text=True))
    other.post("/login", data={"name": "second", "password": PASSWORD, "csrf_token": token})
    assert user_cli(rig, "passwd", "carer", "a brand new password\n") == 0
    assert_refused(replay(app, carer))
    assert other.get("/api/v1/status").status_code == 200


def test_sessions_expire_on_the_server_and_expired_rows_go_at_login(rig, app):
    accounts = Accounts(rig.daemon.store)
    start = dt.datetime(2026, 11, 2, 9, 0, tzinfo=dt.UTC)
    sid = accounts.open_session("carer", start)
    assert accounts.session_user(sid, start + dt.timedelta(hours=11, minutes=59)) == "carer"
    assert accounts.session_user(sid, start + dt.timedelta(hours=12)) is None
    accounts.open_session("carer", start + dt.timedelta(hours=13))
    assert rig.daemon.store.db.execute("SELECT COUNT(*) FROM sessions").fetchone()[0] == 1
    assert accounts.session_user("not-a-session") is None


def test_authenticated_requests_write_nothing(carer, rig):
    # The SD card: checking a session is one read, never a write.
    db = rig.daemon.store.db
    before = db.total_changes
    for path in ["/api/v1/status", "/", "/fragment", "/history", "/api/v1/alerts"]:
        assert carer.client.get(path).status_code == 200, path
    assert db.total_changes == before


def test_session_ids_are_stored_hashed(rig, app):
    sid = Accounts(rig.daemon.store).open_session("carer")
    assert sid not in str(list(rig.daemon.store.db.execute("SELECT * FROM sessions")))
