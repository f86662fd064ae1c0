"""Driver monitoring: the attention and hands-on-wheel timers, recovery and lockout."""

from __future__ import annotations

import pytest

from carmind.drive.limits import InvalidDriveInput
from carmind.drive.monitor import (
    DISTRACTED_TIME_S,
    HANDS_OFF_TIME_S,
    MAX_TERMINAL_ALERTS,
    Alert,
    DriverMonitor,
    MonitorSettings,
)

DT = 0.2


def run(monitor: DriverMonitor, seconds: float, *, eyes: bool, hands: bool) -> list[Alert]:
    """Alerts after each step of `seconds` of driving."""
    return [monitor.update(DT, eyes, hands).alert for _ in range(round(seconds / DT))]


def alert_of(monitor: DriverMonitor) -> Alert:
    """The current alert (a call, so that mypy does not narrow it between updates)."""
    return monitor.state.alert


def first_time(alerts: list[Alert], alert: Alert) -> float:
    return (alerts.index(alert) + 1) * DT


def test_eyes_off_the_road_escalates_pre_prompt_terminal_at_3_5_11_s() -> None:
    monitor = DriverMonitor()
    alerts = run(monitor, 12.0, eyes=False, hands=True)
    assert first_time(alerts, "pre") == pytest.approx(3.0)
    assert first_time(alerts, "prompt") == pytest.approx(5.0)
    assert first_time(alerts, "terminal") == pytest.approx(DISTRACTED_TIME_S)
    assert monitor.state.cause == "eyes"
    assert "take over" in monitor.state.text.lower()
    assert monitor.terminal_alerts == 1


def test_hands_off_the_wheel_escalates_pre_prompt_terminal_at_15_24_30_s() -> None:
    monitor = DriverMonitor()
    alerts = run(monitor, 31.0, eyes=True, hands=False)
    assert first_time(alerts, "pre") == pytest.approx(15.0)
    assert first_time(alerts, "prompt") == pytest.approx(24.0)
    assert first_time(alerts, "terminal") == pytest.approx(HANDS_OFF_TIME_S)
    assert monitor.state.cause == "hands"
    assert monitor.state.text == "Hands off the wheel: take over now"


def test_looking_back_recovers_faster_than_looking_away_spends() -> None:
    monitor = DriverMonitor()
    run(monitor, 4.0, eyes=False, hands=True)
    assert alert_of(monitor) == "pre"
    # 0.4 s of attention wins back 2 s of the budget (recovery factor 5).
    run(monitor, 0.4, eyes=True, hands=True)
    assert monitor.state.distracted_s == pytest.approx(2.0)
    assert alert_of(monitor) == "none"
    run(monitor, 1.0, eyes=True, hands=True)
    assert monitor.state.distracted_s == 0.0


def test_grabbing_the_wheel_clears_the_hands_alert() -> None:
    monitor = DriverMonitor()
    run(monitor, 25.0, eyes=True, hands=False)
    assert alert_of(monitor) == "prompt"
    run(monitor, 5.0, eyes=True, hands=True)
    assert alert_of(monitor) == "none"
    assert monitor.state.hands_off_s == 0.0


def test_terminal_alert_holds_until_the_driver_takes_over() -> None:
    monitor = DriverMonitor()
    run(monitor, DISTRACTED_TIME_S, eyes=False, hands=True)
    assert alert_of(monitor) == "terminal"
    run(monitor, 3.0, eyes=True, hands=True)
    assert alert_of(monitor) == "terminal"
    monitor.reset_awareness()
    assert alert_of(monitor) == "none"
    assert monitor.terminal_alerts == 1


def test_lockout_after_three_terminal_alerts_until_a_new_drive() -> None:
    monitor = DriverMonitor()
    for n in range(1, MAX_TERMINAL_ALERTS + 1):
        assert not monitor.locked_out
        run(monitor, DISTRACTED_TIME_S, eyes=False, hands=True)
        assert monitor.terminal_alerts == n
        monitor.reset_awareness()
    assert monitor.locked_out
    assert monitor.state.locked_out
    monitor.new_drive()
    assert not monitor.locked_out
    assert monitor.terminal_alerts == 0


def test_timers_rest_while_the_system_is_not_active() -> None:
    monitor = DriverMonitor()
    for _ in range(100):
        state = monitor.update(DT, False, False, active=False)
    assert state.alert == "none"
    assert state.distracted_s == 0.0
    assert state.hands_off_s == 0.0


def test_bad_settings_and_time_steps_are_refused() -> None:
    with pytest.raises(InvalidDriveInput, match="distracted"):
        MonitorSettings(distracted_time=5.0, distracted_pre=8.0)
    with pytest.raises(InvalidDriveInput, match="max_terminal_alerts"):
        MonitorSettings(max_terminal_alerts=0)
    monitor = DriverMonitor()
    with pytest.raises(InvalidDriveInput, match="dt"):
        monitor.update(-1.0, True, True)
    assert monitor.state.distracted_s == 0.0
