"""Alembic migrations of the cloud's schema (run by `carmind.connect.cloud.db.migrate`)."""
