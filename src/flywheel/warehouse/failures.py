"""Engine errors as one line a user can act on."""

from __future__ import annotations


def duckdb_reason(exc: Exception) -> str:
    """DuckDB's message without its `IO Error:` prefix and multi-line hints, as one line."""
    text = " ".join(str(exc).split())
    for prefix in ("IO Error: ", "Serialization Error: ", "Invalid Input Error: "):
        text = text.removeprefix(prefix)
    return text
