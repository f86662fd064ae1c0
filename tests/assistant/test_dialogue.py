"""The conversation: context across turns, the speaking seat, driver-only, confirmation, refusal."""

from __future__ import annotations

import pytest

from carmind.assistant.model import Seat, Source
from carmind.vehicle.session import CarSession
from tests.assistant.conftest import MakeAssistant, target, targets

HVAC = "Vehicle.Cabin.HVAC.Station."
DRIVER_T = HVAC + "Row1.Driver.Temperature"
PASSENGER_T = HVAC + "Row1.Passenger.Temperature"
AC = "Vehicle.Cabin.HVAC.IsAirConditioningActive"
VOLUME = "Vehicle.Cabin.Infotainment.Media.Volume"
TRUNK = "Vehicle.Body.Trunk.Rear.IsOpen"
LOCKS = [
    f"Vehicle.Cabin.Door.{d}.IsLocked"
    for d in ("Row1.DriverSide", "Row1.PassengerSide", "Row2.DriverSide", "Row2.PassengerSide")
]
WINDOWS = [p.replace("IsLocked", "Window.Position") for p in LOCKS]
AWAY = {"Vehicle.CurrentLocation.Latitude": 61.5, "Vehicle.CurrentLocation.Longitude": 23.8}


def test_context_temperature_then_warmer_then_passenger(
    make_assistant: MakeAssistant, session: CarSession
) -> None:
    assistant = make_assistant()
    assistant.handle("set the temperature to 21")
    warmer = assistant.handle("a bit warmer")
    assert target(session, DRIVER_T) == 22.0
    assert warmer.handled and "22" in warmer.reply
    also = assistant.handle("and for the passenger too")
    assert also.handled
    assert also.intents[0].source is Source.CONTEXT
    assert target(session, PASSENGER_T) == 22.0
    assert target(session, DRIVER_T) == 22.0


def test_adjustment_continues_the_zone_last_named(
    make_assistant: MakeAssistant, session: CarSession
) -> None:
    assistant = make_assistant()
    assistant.handle("set the temperature to 20 for the passenger")
    assistant.handle("a bit warmer")
    assert target(session, PASSENGER_T) == 21.0
    assert target(session, DRIVER_T) is None  # the driver's zone was never touched


def test_navigation_route_choice_uses_the_current_destination(
    make_assistant: MakeAssistant,
) -> None:
    assistant = make_assistant()
    first = assistant.handle("navigate to the airport")
    assert [r.as_dict() for r in first.requests] == [
        {"service": "navigation", "action": "navigate", "destination": "the airport"}
    ]
    choice = assistant.handle("the fastest one")
    assert [r.as_dict() for r in choice.requests] == [
        {
            "service": "navigation",
            "action": "select_route",
            "option": "fastest",
            "destination": "the airport",
        }
    ]


def test_route_choice_without_navigation_says_so(make_assistant: MakeAssistant) -> None:
    turn = make_assistant().handle("the fastest one")
    assert not turn.handled and not turn.requests
    assert "route" in turn.reply


def test_speaking_seat_sets_the_zone(make_assistant: MakeAssistant, session: CarSession) -> None:
    turn = make_assistant().handle("I'm cold", seat=Seat.PASSENGER)
    assert dict(turn.intents[0].slots)["zone"] == "passenger"
    assert target(session, PASSENGER_T) == 22.0
    assert target(session, DRIVER_T) is None


def test_a_new_speaker_is_about_their_own_zone(
    make_assistant: MakeAssistant, session: CarSession
) -> None:
    assistant = make_assistant()
    assistant.handle("set the temperature to 21")
    assistant.handle("a bit warmer")  # the driver's zone, continued
    assistant.handle("I'm cold", seat=Seat.PASSENGER)  # not the driver's zone again
    assert target(session, DRIVER_T) == 22.0
    assert target(session, PASSENGER_T) == 22.0


def test_driver_only_commands_are_refused_politely_to_passengers(
    make_assistant: MakeAssistant, session: CarSession
) -> None:
    assistant = make_assistant(**{"Vehicle.Speed": 90.0})
    before = targets(session)
    turn = assistant.handle("set cruise control to 100", seat=Seat.PASSENGER)
    assert not turn.handled and not turn.actions
    assert "only the driver" in turn.reply
    assert targets(session) == before
    driver = assistant.handle("set cruise control to 100", seat=Seat.DRIVER)
    assert driver.handled
    assert target(session, "Vehicle.ADAS.CruiseControl.SpeedSet") == 100.0


def test_unlocking_away_from_home_waits_for_yes(
    make_assistant: MakeAssistant, session: CarSession
) -> None:
    assistant = make_assistant()
    assistant.handle("lock the car")
    session.advance(2.0)
    session.prime(AWAY)
    ask = assistant.handle("unlock the doors")
    assert ask.handled and not ask.actions
    assert "yes or no" in ask.reply
    assert all(target(session, p) is True for p in LOCKS)
    done = assistant.handle("yes")
    assert done.handled
    assert all(target(session, p) is False for p in LOCKS)


def test_no_keeps_the_doors_locked(make_assistant: MakeAssistant, session: CarSession) -> None:
    assistant = make_assistant()
    assistant.handle("lock the car")
    session.prime(AWAY)
    assistant.handle("unlock the doors")
    turn = assistant.handle("no")
    assert not turn.actions
    assert all(target(session, p) is True for p in LOCKS)
    assert assistant.handle("yes").reply == "There's nothing to confirm."


def test_unlocking_at_home_needs_no_confirmation(
    make_assistant: MakeAssistant, session: CarSession
) -> None:
    assistant = make_assistant()
    assistant.handle("lock the car")
    turn = assistant.handle("unlock the car")
    assert len(turn.actions) == 4
    assert all(target(session, p) is False for p in LOCKS)


def test_another_command_drops_a_pending_confirmation(
    make_assistant: MakeAssistant, session: CarSession
) -> None:
    assistant = make_assistant(**AWAY)
    assistant.handle("lock the car")
    assistant.handle("unlock the doors")
    assistant.handle("turn on the AC")
    assert assistant.handle("yes").reply == "There's nothing to confirm."
    assert all(target(session, p) is True for p in LOCKS)


@pytest.mark.parametrize(
    ("lang", "command", "yes"),
    [
        ("en", "open all windows", "yes"),
        ("zh", "打开所有车窗", "好的"),
        ("nl", "open alle ramen", "ja"),
    ],
)
def test_opening_windows_fast_asks_first_in_each_language(
    make_assistant: MakeAssistant, session: CarSession, lang: str, command: str, yes: str
) -> None:
    assistant = make_assistant(lang, **{"Vehicle.Speed": 120.0})
    ask = assistant.handle(command)
    assert not ask.actions
    assert "120" in ask.reply
    done = assistant.handle(yes)
    assert done.handled
    assert [target(session, p) for p in WINDOWS] == [100, 100, 100, 100]


def test_a_crack_at_speed_needs_no_confirmation(
    make_assistant: MakeAssistant, session: CarSession
) -> None:
    turn = make_assistant(**{"Vehicle.Speed": 120.0}).handle("crack the windows")
    assert [target(session, p) for p in WINDOWS] == [10, 10, 10, 10]
    assert turn.handled


@pytest.mark.parametrize(
    ("lang", "command", "expected"),
    [
        ("en", "open the trunk", "80 km/h"),
        ("zh", "打开后备箱", "80公里/小时"),
        ("nl", "open de kofferbak", "80 km/u"),
    ],
)
def test_the_cars_refusal_comes_back_with_its_reason(
    make_assistant: MakeAssistant, session: CarSession, lang: str, command: str, expected: str
) -> None:
    assistant = make_assistant(lang, **{"Vehicle.Speed": 80.0})
    before = targets(session)
    turn = assistant.handle(command)
    assert not turn.handled and not turn.actions
    assert expected in turn.reply
    assert targets(session) == before


def test_refusal_of_one_command_leaves_the_others(
    make_assistant: MakeAssistant, session: CarSession
) -> None:
    assistant = make_assistant(**{"Vehicle.Speed": 80.0})
    turn = assistant.handle("open the trunk and turn on the AC")
    assert not turn.handled
    assert [a.path for a in turn.actions] == [AC]
    assert target(session, TRUNK) in (None, False)
    assert target(session, AC) is True


@pytest.mark.parametrize(
    ("lang", "text"),
    [
        ("en", "close all windows and turn on the AC"),
        ("zh", "关窗然后打开空调"),
        ("nl", "doe de ramen dicht en zet de airco aan"),
    ],
)
def test_several_commands_in_one_sentence(
    make_assistant: MakeAssistant, session: CarSession, lang: str, text: str
) -> None:
    turn = make_assistant(lang).handle(text)
    assert [i.name for i in turn.intents] == ["BodySetWindow", "ClimateSetAC"]
    assert target(session, AC) is True
    assert [target(session, p) for p in WINDOWS] == [0, 0, 0, 0]


@pytest.mark.parametrize(
    ("lang", "text", "reply"),
    [
        ("en", "turn on the AC", "Air conditioning on."),
        ("zh", "打开空调", "空调已打开。"),
        ("nl", "zet de airco aan", "Airco aan."),
        ("en", "set the temperature to 22", "Temperature set to 22 °C for the driver."),
        ("zh", "把温度调到二十二度", "主驾温度已设为22度。"),
        (
            "nl",
            "zet de temperatuur op tweeëntwintig graden",
            "Temperatuur voor de bestuurder op 22 °C gezet.",
        ),
        (
            "nl",
            "zet de temperatuur op 21,5 graden",
            "Temperatuur voor de bestuurder op 21,5 °C gezet.",
        ),
    ],
)
def test_replies_are_short_and_in_the_users_language(
    make_assistant: MakeAssistant, lang: str, text: str, reply: str
) -> None:
    assert make_assistant(lang).handle(text).reply == reply


def test_the_language_can_change_per_turn(make_assistant: MakeAssistant) -> None:
    assistant = make_assistant("en")
    assert assistant.handle("打开空调", lang="zh").reply == "空调已打开。"
    assert assistant.handle("turn off the AC").lang == "en"


def test_values_are_clamped_to_the_cars_range_and_said(
    make_assistant: MakeAssistant, session: CarSession
) -> None:
    turn = make_assistant().handle("set the temperature to 35")
    assert target(session, DRIVER_T) == 30.0
    assert "30" in turn.reply and "15 to 30" in turn.reply
    assert make_assistant().handle("set the volume to 100").handled
    loud = make_assistant().handle("louder")
    assert "maximum" in loud.reply and target(session, VOLUME) == 100


def test_follow_ups_switch_and_adjust_the_last_thing(
    make_assistant: MakeAssistant, session: CarSession
) -> None:
    assistant = make_assistant()
    assistant.handle("turn on the AC")
    assistant.handle("turn it off")
    assert target(session, AC) is False
    assistant.handle("set the volume to 50")
    assistant.handle("a bit more")
    assert target(session, VOLUME) == 60


def test_turn_it_up_without_context_means_the_music(
    make_assistant: MakeAssistant, session: CarSession
) -> None:
    make_assistant().handle("turn it up")
    assert target(session, VOLUME) == 40


def test_follow_up_without_context_asks_for_the_whole_command(
    make_assistant: MakeAssistant, session: CarSession
) -> None:
    before = targets(session)
    turn = make_assistant().handle("and for the passenger too")
    assert not turn.handled and "whole command" in turn.reply
    assert targets(session) == before


def test_repeat_and_reset(make_assistant: MakeAssistant) -> None:
    assistant = make_assistant()
    assert assistant.handle("repeat that").reply == "I haven't said anything yet."
    help_reply = assistant.handle("what can you do").reply
    assert assistant.handle("say that again").reply == help_reply
    assistant.handle("turn on the AC")
    assistant.reset()
    assert not assistant.handle("turn it off").handled


def test_status_questions_read_the_car(make_assistant: MakeAssistant) -> None:
    assistant = make_assistant(
        **{"Vehicle.Powertrain.TractionBattery.StateOfCharge.Displayed": 55.0}
    )
    turn = assistant.handle("what's my battery level")
    assert turn.reply == "The battery is at 55 %."
    assert not turn.actions and not turn.requests
    assert "km" in assistant.handle("what's my range").reply
    tyres = assistant.handle("check the tyre pressure").reply
    assert tyres.startswith("Tyre pressures: front left 2.")


def test_smart_home_commands_go_to_the_home_service(make_assistant: MakeAssistant) -> None:
    turn = make_assistant().handle("open the garage door")
    assert [r.as_dict() for r in turn.requests] == [
        {"service": "home", "action": "HassTurnOn", "entity_id": "cover.garage_door"}
    ]
    assert not turn.actions
    assert turn.reply == "Asking your home to open the garage door."
