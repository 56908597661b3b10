"""Clock steps (SPEC section 5, Clock): forward steps are downtime, backward steps repeat nothing."""

from __future__ import annotations

from .conftest import config_toml, local, of_type


def test_forward_step_reports_closed_windows_like_downtime(rig):
    r = rig(config_toml())
    r.start(local("2026-11-02T07:00"))
    r.advance(local("2026-11-02T07:30"))
    # The wall clock jumps from 07:30 to 11:00 (the daemon's heartbeat sees it against the monotonic clock).
    events = r._keep(r.engine.clock_jump(local("2026-11-02T11:00"), 12600))
    assert [e["event_type"] for e in events][:2] == ["clock_jump", "dose_missed"]
    assert events[0]["seconds"] == 12600 and events[0]["priority"] == "low"
    assert events[1]["during_downtime"] is True and events[1]["dose_id"] == "baclofen/2026-11-02T08:00"
    assert of_type(events, "dose_due") == []


def test_backward_step_prompts_takes_and_misses_nothing_twice(rig):
    r = rig(config_toml())
    r.start(local("2026-11-02T07:00"))
    r.advance(local("2026-11-02T08:05"))
    r.do(local("2026-11-02T08:05"), lambda e, t: e.lid_opened(t))
    r.do(local("2026-11-02T08:06"), lambda e, t: e.lid_closed(t))
    r._keep(r.engine.clock_jump(local("2026-11-02T07:06"), -3600))
    r.do(local("2026-11-02T07:30"), lambda e, t: e.lid_opened(t))
    r.do(local("2026-11-02T07:31"), lambda e, t: e.lid_closed(t))
    r.advance(local("2026-11-02T12:00"))
    assert len(of_type(r.events, "dose_due")) == 1
    assert len(of_type(r.events, "dose_taken")) == 1
    assert of_type(r.events, "dose_missed", "extra_access", "dose_overdue") == []
    times = [e["time"] for e in r.events]
    assert times == sorted(times)  # recorded times never go back, even when the clock does
    assert [e["seq"] for e in r.events] == list(range(1, len(r.events) + 1))


def test_clock_unsynced_alert_resolves_on_sync(rig):
    r = rig(config_toml())
    r.start(local("2026-11-02T07:00"))
    raised = r._keep(r.engine.clock_unsynced(local("2026-11-02T07:01")))
    assert [(e["event_type"], e["priority"]) for e in raised] == [("clock_unsynced", "medium")]
    assert r._keep(r.engine.clock_unsynced(local("2026-11-02T07:02"))) == []
    resolved = r._keep(r.engine.clock_synced(local("2026-11-02T07:03")))
    assert [(e["event_type"], e["alert_id"]) for e in resolved] == [("alert_resolved", raised[0]["id"])]
