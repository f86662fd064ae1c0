"""Fleet telemetry stored by the cloud, exported as probes the traffic learner reads."""

from __future__ import annotations

import asyncio
import csv
from pathlib import Path

import pytest

from carmind.cli.main import main
from carmind.connect.cloud.ingest import Batch
from carmind.connect.cloud.probes import LATITUDE, LONGITUDE, SPEED
from carmind.connect.cloud.service import CloudService
from carmind.navigation.traffic.probes import read_probes

from .test_cloud_kit import new_vin, settings_for, telemetry


def test_fleet_positions_become_probes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    settings = settings_for(tmp_path)
    a, b = new_vin(), new_vin()
    t0 = 1_795_000_000.0
    batches = []
    for i in range(10):  # car a drives north, sending position and speed
        batches.append(
            telemetry(
                a, i, {LATITUDE: 60.17 + i * 0.0005, LONGITUDE: 24.94, SPEED: 30.0 + i}, t0 + i
            )
        )
    batches.append(telemetry(a, 10, {SPEED: 0.0}, t0 + 10))  # stopped: no new probe
    for i in range(3):  # car b stands still after its first fix: one probe
        batches.append(telemetry(b, i, {LATITUDE: 60.16, LONGITUDE: 24.93, SPEED: 0.0}, t0 + i))

    async def store() -> None:
        service = CloudService(settings)
        await service.start()
        try:
            await service.writer.write(Batch(telemetry=batches))
        finally:
            await service.stop()

    asyncio.run(store())

    out = tmp_path / "fleet.csv"
    status = main(["cloud", "export-probes", str(out), "--data-dir", str(settings.data_dir)])
    printed = capsys.readouterr().out
    assert status == 0, printed
    assert "11 probes from 2 vehicles" in printed
    rows = list(csv.DictReader(out.open()))
    mine = [r for r in rows if r["vehicle_id"] == a]
    assert len(mine) == 10 and [float(r["speed_kmh"]) for r in mine] == [
        30.0 + i for i in range(10)
    ]
    assert next(r for r in rows if r["vehicle_id"] == b)["lat"] == "60.1600000"
    # the traffic learner's own reader takes the file as it is
    read = read_probes(out, tmp_path / "probes.parquet")
    assert read.accepted == 11 and read.rejected == 0

    # a time range keeps only what falls in it; an empty range is refused
    status = main(
        [
            "cloud", "export-probes", str(out), "--data-dir", str(settings.data_dir),
            "--vin", a, "--since", "2026-11-18T11:06:45+00:00",
        ]
    )  # fmt: skip
    assert status == 0
    assert len(list(csv.DictReader(out.open()))) == 5
    status = main(
        [
            "cloud", "export-probes", str(out), "--data-dir", str(settings.data_dir),
            "--since", "2026-11-20T00:00", "--until", "2026-11-19T00:00",
        ]
    )  # fmt: skip
    assert status == 2 and "empty" in capsys.readouterr().err
