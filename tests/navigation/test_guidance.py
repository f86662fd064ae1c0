"""Guidance on the hub: a destination set through VSS is routed, driven and arrived at."""

from __future__ import annotations

import itertools
import json

import pytest

from carmind.assistant.service import AssistantService
from carmind.assistant.suggestions import SuggestionStore
from carmind.config import load_config
from carmind.navigation.api import Navigation
from carmind.navigation.guidance import DEST_LAT, DEST_LON, NAV, SIM_ROUTE, GuidanceService
from carmind.navigation.maps import MapInfo
from carmind.signals.errors import SignalError
from carmind.vehicle.route_driver import RouteDriver, RouteError
from carmind.vehicle.session import CarSession

DESTINATION = (60.1770, 24.9500)  # Hakaniemenranta


@pytest.fixture(scope="module")
def nav(helsinki_map: MapInfo) -> Navigation:
    return Navigation(helsinki_map.paths.root)


@pytest.fixture
def setup(nav: Navigation) -> tuple[CarSession, GuidanceService]:
    session = CarSession.create(load_config(environ={}))
    guidance = GuidanceService(
        session.broker.client("navigation", "read actuate provide"),
        nav,
        clock=session.car.clock,
    )
    guidance.attach()
    return session, guidance


def value(session: CarSession, path: str) -> object:
    dp = session.client.get(path)
    return None if dp is None else dp.value


def test_a_destination_set_on_the_hub_is_driven_to(
    setup: tuple[CarSession, GuidanceService],
) -> None:
    session, guidance = setup
    user = session.broker.client("driver", "read actuate")
    user.actuate_many({DEST_LAT: DESTINATION[0], DEST_LON: DESTINATION[1]})
    guidance.tick()
    assert value(session, NAV + "State") == "GUIDING"
    assert "OpenStreetMap" in str(value(session, NAV + "Attribution"))
    first_left = value(session, NAV + "DistanceRemaining")
    assert isinstance(first_left, float) and first_left > 500
    assert str(value(session, NAV + "NextInstruction")).startswith("in ")
    assert str(value(session, NAV + "ArrivalTime")).startswith("20")
    lefts = []
    for _ in range(240):
        session.car.advance(2.0)
        guidance.tick()
        if guidance.state == "ARRIVED":
            break
        left = value(session, NAV + "DistanceRemaining")
        assert isinstance(left, float)
        lefts.append(left)
    assert guidance.state == "ARRIVED", lefts[-5:]
    assert value(session, NAV + "State") == "ARRIVED"
    # it drove there: the distance left only ever shrank, and the car stands at the destination
    assert all(b <= a + 1.0 for a, b in itertools.pairwise(lefts))
    lat = value(session, "Vehicle.CurrentLocation.Latitude")
    lon = value(session, "Vehicle.CurrentLocation.Longitude")
    assert lat == pytest.approx(DESTINATION[0], abs=0.0006)
    assert lon == pytest.approx(DESTINATION[1], abs=0.0012)
    assert value(session, "Vehicle.Speed") == pytest.approx(0.0, abs=0.5)
    odo = value(session, "Vehicle.TraveledDistance")
    assert isinstance(odo, float) and odo * 1000 == pytest.approx(first_left, rel=0.1)


def test_unreachable_or_off_map_destinations_report_an_error(
    setup: tuple[CarSession, GuidanceService],
) -> None:
    session, guidance = setup
    user = session.broker.client("driver", "read actuate")
    user.actuate_many({DEST_LAT: 59.437, DEST_LON: 24.745})  # Tallinn
    guidance.tick()
    assert value(session, NAV + "State") == "ERROR"
    assert "off the map" in str(value(session, NAV + "Message"))
    with pytest.raises(SignalError, match="no faster route"):
        user.actuate(NAV + "AcceptReroute", True)


def test_the_assistant_navigates_by_place_name(
    setup: tuple[CarSession, GuidanceService],
) -> None:
    session, guidance = setup
    assistant = AssistantService(
        session.broker.client("assistant", "read actuate"),
        store=SuggestionStore(":memory:"),
        services={"navigation": guidance.handle_request},
    )
    turn = assistant.handle("navigate to Hakaniemi")
    assert turn.requests and turn.requests[0].service == "navigation"
    assert "Hakaniemi" in turn.reply and "min" in turn.reply, turn.reply
    assert value(session, NAV + "State") == "GUIDING"
    target = session.client.get_target(DEST_LAT)
    assert target is not None and target.value == pytest.approx(60.1787, abs=0.002)
    eta = assistant.handle("when will we arrive")
    assert "arrive" in eta.reply, eta.reply
    assistant.handle("cancel navigation")
    assert value(session, NAV + "State") == "IDLE"
    zh = assistant.handle("导航到Hakaniemi", lang="zh")
    assert "导航" in zh.reply, zh.reply


def test_the_car_refuses_a_malformed_route() -> None:
    session = CarSession.create(load_config(environ={}))
    user = session.broker.client("driver", "read actuate")
    for bad, match in [
        ("not json", "JSON"),
        (json.dumps({"points": [[60.17, 24.94]], "speeds": []}), "two points"),
        (json.dumps({"points": [[60.17, 24.94], [60.18, 24.95]], "speeds": [400]}), "250"),
        (json.dumps({"points": [[95, 24.94], [60.18, 24.95]], "speeds": [30]}), "coordinate"),
    ]:
        with pytest.raises(SignalError, match=match):
            user.actuate(SIM_ROUTE, bad)
    with pytest.raises(RouteError, match="one speed per segment"):
        RouteDriver([(60.17, 24.94), (60.18, 24.95)], [30.0, 40.0])


def test_the_route_driver_brakes_for_the_end() -> None:
    driver = RouteDriver([(60.17, 24.94), (60.171, 24.94), (60.172, 24.94)], [50.0, 30.0])
    assert driver.length_m == pytest.approx(222.6, rel=0.01)
    assert driver.target_speed_mps() == pytest.approx(50 / 3.6)  # far from the slower stretch
    driver.advance(100.0)  # 11 m before it: braking towards 30 km/h has begun
    assert 30 / 3.6 < driver.target_speed_mps() < 50 / 3.6
    driver.advance(driver.length_m - 105.0)
    assert driver.target_speed_mps() < 4.0
    pose = driver.pose()
    assert pose.heading == pytest.approx(0.0, abs=0.5)
    driver.advance(10.0)
    assert driver.finished and driver.target_speed_mps() == 0.0


def test_a_jam_on_the_route_brings_a_reroute_offer(map_copy: MapInfo) -> None:
    """Live speeds written into the map's traffic file (in place, the router already open)."""
    from datetime import UTC, datetime

    from carmind.navigation.engine import LatLon
    from carmind.navigation.traffic.valhalla_io import LiveTrafficFile

    nav = Navigation(map_copy.paths.root)
    now = datetime.now(UTC)
    route = nav.route(LatLon(60.1704, 24.9414), LatLon(60.1787, 24.9515), depart=now)
    assert nav.reroute_offer(route, 0, depart=now) is None
    walked = nav.router.call(
        "trace_attributes",
        {
            "encoded_polyline": route.raw["legs"][0]["shape"],
            "shape_match": "edge_walk",
            "costing": "auto",
            "filters": {"attributes": ["edge.id"], "action": "include"},
        },
    )
    edges = [int(e["id"]) for e in walked["edges"]]
    middle = edges[len(edges) // 3 : 2 * len(edges) // 3]  # a jam on the middle third
    with LiveTrafficFile(map_copy.paths.live_traffic) as live:
        assert live.replace_all({edge: 4.0 for edge in middle}) == len(set(middle))
    jammed = nav.retime(route, 0, depart=now)
    assert jammed.duration_s > route.duration_s + 60
    offer = nav.reroute_offer(route, 0, depart=now, margin_s=30, margin_pct=5)
    assert offer is not None
    assert offer.saving_s >= 30 and offer.route.duration_s < jammed.duration_s
    assert "saves" in offer.text("en") and "分钟" in offer.text("zh")


def test_the_assistant_asks_about_a_faster_route() -> None:
    from carmind.assistant.suggestions import RuleContext, Snapshot
    from carmind.assistant.suggestions.navigation_rules import faster_route

    offer = Snapshot.of(
        {
            NAV + "RerouteSaving": 240.0,
            NAV + "RerouteOffer": "Faster route found via Unioninkatu: saves 4 min.",
        }
    )
    suggestion = faster_route(offer, RuleContext(now=0.0))
    assert suggestion is not None
    assert "4 min" in suggestion.text["en"] and "4 分钟" in suggestion.text["zh"]
    assert "Unioninkatu" in suggestion.reason["en"]
    assert [(a.path, a.value) for a in suggestion.actions] == [(NAV + "AcceptReroute", True)]
    assert faster_route(Snapshot.of({NAV + "RerouteSaving": 0.0}), RuleContext(now=0.0)) is None
