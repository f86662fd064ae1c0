"""The REST API v1, through httpx's ASGI transport, on SQLite and on PostgreSQL."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from carmind.connect import protocol
from carmind.connect.cloud import admin, derive
from carmind.connect.cloud.ingest import Batch
from carmind.connect.cloud.service import CloudService
from tests.connect.test_cloud_kit import Owner, Phone, http, make_owner, settings_for, telemetry


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.services)])
async def service(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[CloudService]:
    """A started cloud without a broker, on each database."""
    db_url = request.getfixturevalue("postgres_url") if request.param == "postgresql" else ""
    cloud = CloudService(settings_for(tmp_path, db_url, drive_stop_s=120, price_per_kwh=0.25))
    await cloud.start()
    try:
        yield cloud
    finally:
        await cloud.stop()


@pytest.fixture
async def owner(service: CloudService) -> Owner:
    return await make_owner(service)


async def test_health_and_openapi(service: CloudService) -> None:
    async with http(service) as client:
        health = (await client.get("/api/v1/health")).json()
        schema = (await client.get("/openapi.json")).json()
    assert health["status"] == "ok" and health["database"] == "ok" and health["mqtt"] == "off"
    assert health["ingest"]["duplicates"] == 0
    assert "/api/v1/vehicles/{vin}/commands/{name}" in schema["paths"]
    flows = schema["components"]["securitySchemes"]["OAuth2AuthorizationCodeBearer"]["flows"]
    assert set(flows["authorizationCode"]["scopes"]) >= {"vehicle_cmds", "vehicle_location"}


async def test_vehicles_list_detail_and_strangers(service: CloudService, owner: Owner) -> None:
    other = await make_owner(service, "bob")
    async with http(service) as client:
        listed = (await client.get("/api/v1/vehicles", headers=owner.headers)).json()
        detail = await client.get(f"/api/v1/vehicles/{owner.vin}", headers=owner.headers)
        foreign = await client.get(f"/api/v1/vehicles/{other.vin}", headers=owner.headers)
        bad_vin = await client.get("/api/v1/vehicles/not-a-vin", headers=owner.headers)
    assert [v["vin"] for v in listed] == [owner.vin]
    assert detail.status_code == 200 and detail.json()["name"] == "Test car"
    assert foreign.status_code == 404 and other.vin in foreign.json()["detail"]
    assert bad_vin.status_code == 422


async def test_state_and_telemetry_with_and_without_location(
    service: CloudService, owner: Owner
) -> None:
    t0 = time.time() - 100
    await service.writer.write(
        Batch(
            telemetry=[
                telemetry(
                    owner.vin, 1, {derive.SOC: 80.5, derive.LATITUDE: 60.17, "X.Flag": True}, t0
                ),
                telemetry(owner.vin, 2, {derive.SOC: 79.0, "X.Name": "home", "X.Int": 7}, t0 + 10),
            ]
        )
    )
    no_location = service.tokens.issue(
        owner.user_id, owner.client_id, frozenset({"vehicle_device_data"})
    )
    async with http(service) as client:
        full = (
            await client.get(f"/api/v1/vehicles/{owner.vin}/state", headers=owner.headers)
        ).json()
        limited = (
            await client.get(
                f"/api/v1/vehicles/{owner.vin}/state",
                headers={"Authorization": f"Bearer {no_location}"},
            )
        ).json()
        series = (
            await client.get(
                f"/api/v1/vehicles/{owner.vin}/telemetry",
                params={"path": derive.SOC},
                headers=owner.headers,
            )
        ).json()
        since = (
            await client.get(
                f"/api/v1/vehicles/{owner.vin}/telemetry",
                params={"path": derive.SOC, "since": t0 + 5},
                headers=owner.headers,
            )
        ).json()
        forbidden = await client.get(
            f"/api/v1/vehicles/{owner.vin}/telemetry",
            params={"path": derive.LATITUDE},
            headers={"Authorization": f"Bearer {no_location}"},
        )
    assert full["signals"][derive.SOC]["value"] == 79.0
    assert full["signals"][derive.LATITUDE]["value"] == 60.17
    assert full["signals"]["X.Flag"]["value"] is True
    assert full["signals"]["X.Name"]["value"] == "home" and full["signals"]["X.Int"]["value"] == 7
    assert derive.LATITUDE not in limited["signals"] and limited["location_hidden"] is True
    assert [p["value"] for p in series["points"]] == [80.5, 79.0]
    assert [p["value"] for p in since["points"]] == [79.0]
    assert forbidden.status_code == 403


async def test_same_seq_twice_is_stored_once(service: CloudService, owner: Owner) -> None:
    batch = telemetry(owner.vin, 5, {derive.SPEED: 10.0})
    await service.writer.write(Batch(telemetry=[batch, batch]))
    await service.writer.write(Batch(telemetry=[batch]))
    async with http(service) as client:
        series = (
            await client.get(
                f"/api/v1/vehicles/{owner.vin}/telemetry",
                params={"path": derive.SPEED},
                headers=owner.headers,
            )
        ).json()
    assert len(series["points"]) == 1
    assert service.counters.duplicates == 2 and service.counters.telemetry_batches == 1


def _drive_and_charge(vin: str, t0: float) -> list[protocol.TelemetryBatch]:
    """A 10-minute drive of 10 km using 1.5 kWh, a stop, then a 20-minute charge adding 8 kWh."""
    batches = []
    seq = 0
    for i in range(11):  # one sample a minute while driving
        seq += 1
        batches.append(
            telemetry(
                vin,
                seq,
                {
                    derive.SPEED: 60.0 if i < 10 else 0.0,
                    derive.ODOMETER: 1000.0 + i,
                    derive.ENERGY: 50.0 - 0.15 * i,
                    derive.SOC: 70.0 - 0.2 * i,
                    derive.LATITUDE: 60.17 + 0.009 * i,
                    derive.LONGITUDE: 24.94,
                    derive.IS_CHARGING: False,
                },
                t0 + 60 * i,
            )
        )
    start = t0 + 60 * 10 + 300
    for j in range(21):
        seq += 1
        batches.append(
            telemetry(
                vin,
                seq,
                {
                    derive.SPEED: 0.0,
                    derive.IS_CHARGING: j < 20,
                    derive.CHARGED: 100.0 + 0.4 * j,
                    derive.POWER: 24000.0 if j < 20 else 0.0,
                    derive.SOC: 68.0 + 0.8 * j,
                },
                start + 60 * j,
            )
        )
    return batches


async def test_drives_and_charges_derived(service: CloudService, owner: Owner) -> None:
    t0 = time.time() - 7200
    await service.writer.write(Batch(telemetry=_drive_and_charge(owner.vin, t0)))
    async with http(service) as client:
        drives = (
            await client.get(f"/api/v1/vehicles/{owner.vin}/drives", headers=owner.headers)
        ).json()
        charges = (
            await client.get(f"/api/v1/vehicles/{owner.vin}/charges", headers=owner.headers)
        ).json()
        again = (
            await client.get(f"/api/v1/vehicles/{owner.vin}/drives", headers=owner.headers)
        ).json()
    assert len(drives) == 1 and again == drives
    drive = drives[0]
    assert drive["distance_km"] == pytest.approx(10.0)
    assert drive["energy_kwh"] == pytest.approx(1.5)
    assert drive["efficiency_wh_km"] == pytest.approx(150.0)
    assert drive["closed"] is True and len(drive["track"]) == 10
    assert len(charges) == 1
    charge = charges[0]
    assert charge["energy_added_kwh"] == pytest.approx(7.6)  # 19 minutes of 0.4 kWh
    assert charge["cost"] == pytest.approx(1.9)  # at 0.25 per kWh
    assert charge["max_power_kw"] == pytest.approx(24.0) and charge["currency"] == "EUR"


async def test_events_listed_newest_first(service: CloudService, owner: Owner) -> None:
    now = time.time()
    events = [
        protocol.Event(
            vin=owner.vin, seq=s, ts=now + s, kind=protocol.EventKind.GEOFENCE_LEAVE, data={"n": s}
        )
        for s in (1, 2, 2)
    ]
    await service.writer.write(Batch(events=events))
    async with http(service) as client:
        listed = (
            await client.get(f"/api/v1/vehicles/{owner.vin}/events", headers=owner.headers)
        ).json()
    assert [e["seq"] for e in listed] == [2, 1]
    assert service.counters.duplicates == 1


async def test_command_without_broker_fails_clearly(service: CloudService, owner: Owner) -> None:
    phone = Phone()
    command = phone.sign(owner.vin, protocol.CommandName.LOCK)
    async with http(service) as client:
        sent = await client.post(
            f"/api/v1/vehicles/{owner.vin}/commands/lock",
            json=command.model_dump(mode="json"),
            headers=owner.headers,
        )
        status = (
            await client.get(f"/api/v1/commands/{command.signed.id}", headers=owner.headers)
        ).json()
    assert sent.status_code == 503 and "no MQTT broker" in sent.json()["detail"]
    assert status["status"] == "failed" and "no MQTT broker" in status["reason"]


async def test_bad_commands_change_nothing(service: CloudService, owner: Owner) -> None:
    phone = Phone()
    other = await make_owner(service, "bob")
    url = f"/api/v1/vehicles/{owner.vin}/commands"
    wrong_name = phone.sign(owner.vin, protocol.CommandName.UNLOCK)
    expired = phone.sign(owner.vin, protocol.CommandName.LOCK, ttl_s=-1)
    foreign = phone.sign(other.vin, protocol.CommandName.LOCK)
    # registered with a different key: the signature cannot match
    await admin.add_device(service.sessions, owner.user_id, "phone", Phone().public_pem)
    async with http(service) as client:
        devices = (await client.get("/api/v1/devices", headers=owner.headers)).json()
        answers = {
            "name": await client.post(
                f"{url}/lock", json=wrong_name.model_dump(mode="json"), headers=owner.headers
            ),
            "expired": await client.post(
                f"{url}/lock", json=expired.model_dump(mode="json"), headers=owner.headers
            ),
            "vin": await client.post(
                f"{url}/lock", json=foreign.model_dump(mode="json"), headers=owner.headers
            ),
            "foreign": await client.post(
                f"/api/v1/vehicles/{other.vin}/commands/lock",
                json=foreign.model_dump(mode="json"),
                headers=owner.headers,
            ),
        }
        forged = Phone()
        forged.key_id = devices[0]["key_id"]
        bad_sig = forged.sign(owner.vin, protocol.CommandName.LOCK)
        answers["signature"] = await client.post(
            f"{url}/lock", json=bad_sig.model_dump(mode="json"), headers=owner.headers
        )
        listed = (
            await client.get(f"/api/v1/vehicles/{owner.vin}/commands", headers=owner.headers)
        ).json()
    assert answers["name"].status_code == 422 and "'unlock'" in answers["name"].json()["detail"]
    assert (
        answers["expired"].status_code == 422 and "expired" in answers["expired"].json()["detail"]
    )
    assert answers["vin"].status_code == 422 and other.vin in answers["vin"].json()["detail"]
    assert answers["foreign"].status_code == 404
    assert (
        answers["signature"].status_code == 422
        and "signature" in answers["signature"].json()["detail"]
    )
    assert listed == []
