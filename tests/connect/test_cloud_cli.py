"""`carmind cloud` admin commands, and the schema migrations matching the models."""

from __future__ import annotations

import json
from pathlib import Path

import jwt
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection
from typer.testing import CliRunner

from carmind.cli.cloud import app
from carmind.connect.cloud import db
from carmind.connect.cloud.admin import AdminError
from carmind.connect.cloud.settings import CloudError, CloudSettings, from_env
from tests.connect.test_cloud_kit import new_vin


def test_user_vehicle_client_and_token(tmp_path: Path) -> None:
    runner = CliRunner()
    data = ["--data-dir", str(tmp_path)]
    vin = new_vin()
    assert (
        runner.invoke(app, ["user", "add", "carol", "--password", "long enough", *data]).exit_code
        == 0
    )
    added = runner.invoke(app, ["vehicle", "add", vin, "--owner", "carol", "--json", *data])
    assert json.loads(added.stdout) == {"vin": vin, "owner": "carol", "name": ""}
    client = json.loads(runner.invoke(app, ["client", "--owner", "carol", "--json", *data]).stdout)
    assert client["client_id"].startswith("cm-") and len(client["client_secret"]) > 30
    token = runner.invoke(app, ["token", "--owner", "carol", "--scope", "vehicle_cmds", *data])
    claims = jwt.decode(token.stdout.strip(), options={"verify_signature": False})
    assert claims["scope"] == "vehicle_cmds" and claims["sub"] == "1"
    assert (tmp_path / "cloud.sqlite").exists() and (
        tmp_path / "cloud-jwt.key"
    ).stat().st_mode & 0o077 == 0


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["vehicle", "add", "BADVIN", "--owner", "carol"], "bad VIN 'BADVIN'"),
        (["vehicle", "add", "WVWZZZ1JZXW000001", "--owner", "nobody"], "no user 'nobody'"),
        (["user", "add", "dave", "--password", "short"], "password too short"),
    ],
)
def test_bad_input_is_a_clear_error(tmp_path: Path, argv: list[str], message: str) -> None:
    result = CliRunner().invoke(app, [*argv, "--data-dir", str(tmp_path)])
    assert isinstance(result.exception, AdminError) and message in str(result.exception)


def test_settings_errors_name_the_value(tmp_path: Path) -> None:
    with pytest.raises(CloudError, match="mysql://x"):
        CloudSettings(data_dir=tmp_path, db_url="mysql://x")
    with pytest.raises(CloudError, match="ftp://"):
        CloudSettings(data_dir=tmp_path, mqtt_url="ftp://broker")
    with pytest.raises(CloudError, match="CARMIND_CLOUD_PORT"):
        from_env({"CARMIND_CLOUD_PORT": "eighty"})
    env = from_env({"CARMIND_CLOUD_PRICE_PER_KWH": "0.5", "CARMIND_DATA_DIR": str(tmp_path)})
    assert env.price_per_kwh == 0.5 and env.database_url.endswith(f"{tmp_path}/cloud.sqlite")


def _diff(connection: Connection) -> list[object]:
    return list(compare_metadata(MigrationContext.configure(connection), db.Base.metadata))


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgresql", marks=pytest.mark.services)]
)
async def test_migrations_match_the_models(
    tmp_path: Path, backend: str, request: pytest.FixtureRequest
) -> None:
    url = (
        request.getfixturevalue("postgres_url")
        if backend == "postgresql"
        else f"sqlite+aiosqlite:///{tmp_path}/m.sqlite"
    )
    engine = db.make_engine(url)
    try:
        await db.migrate(engine)
        await db.migrate(engine)  # idempotent: a second start changes nothing
        async with engine.connect() as conn:
            assert await conn.run_sync(_diff) == []
    finally:
        await engine.dispose()
