"""Shared helpers for benchmarks: a results table, JSON output, machine facts."""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

RESULTS = Path(__file__).resolve().parent / "results"


def machine() -> dict[str, Any]:
    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "processor": platform.processor() or platform.machine(),
    }


def report(name: str, rows: list[dict[str, Any]], notes: str = "") -> Path:
    """Print rows as a table and write them, with the machine, to results/NAME.json.

    Each row: metric, value, unit, target (text or None), met (bool or None).
    """
    table = Table(title=f"benchmark: {name}", title_justify="left")
    for column in ("metric", "value", "unit", "target", "met"):
        table.add_column(column, justify="right" if column == "value" else "left")
    for row in rows:
        met = row.get("met")
        table.add_row(
            row["metric"],
            f"{row['value']:,.3f}" if isinstance(row["value"], float) else f"{row['value']:,}",
            row.get("unit", ""),
            row.get("target") or "",
            "" if met is None else ("[green]yes[/]" if met else "[red]NO[/]"),
        )
    console = Console()
    console.print(table)
    if notes:
        console.print(notes)
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"{name}.json"
    out.write_text(
        json.dumps(
            {
                "benchmark": name,
                "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "machine": machine(),
                "rows": rows,
                "notes": notes,
            },
            indent=2,
        )
        + "\n"
    )
    return out


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = (len(ordered) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)
