"""Settings from one cached loader: environment first, then defaults.

Nothing reads the environment at import time, so tests and the CLI can change settings and call
`load_settings.cache_clear()`.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass, replace
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flywheel.errors import ConfigError

ENGINES = ("duckdb", "spark")


@dataclass(frozen=True)
class Settings:
    db_path: Path = Path("flywheel.duckdb")
    engine: str = "duckdb"
    key_file: Path = Path.home() / ".config" / "flywheel" / "identifier.key"
    timezone: str = "Asia/Shanghai"
    currency: str = "CNY"
    role: str = "analyst"
    """The acting role (privacy roles decide what it may see and do); `--role` / FLYWHEEL_ROLE."""
    spark_master: str = "local[*]"
    """Where `--engine spark` runs: `local[*]` uses every core of this machine (FLYWHEEL_SPARK_MASTER)."""
    spark_partitions: int = 0
    """Shuffle partitions; 0 means twice the cores of a local master, else 200 (FLYWHEEL_SPARK_PARTITIONS)."""
    spark_conf: tuple[tuple[str, str], ...] = ()
    """Extra Spark settings, `key=value` pairs separated by `;` (FLYWHEEL_SPARK_CONF)."""

    def with_overrides(self, **changes) -> "Settings":
        """A copy with the non-None `changes` applied and checked."""
        settings = replace(self, **{k: v for k, v in changes.items() if v is not None})
        settings.validate()
        return settings

    def validate(self) -> None:
        if self.engine not in ENGINES:
            raise ConfigError(f"Unknown engine {self.engine!r}. Known: {', '.join(ENGINES)}.")
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ConfigError(f"Unknown time zone {self.timezone!r} (FLYWHEEL_TIMEZONE).") from None
        if not self.spark_master.strip():
            raise ConfigError("FLYWHEEL_SPARK_MASTER is empty: use e.g. local[*], local[2] or spark://host:7077.")
        if self.spark_partitions < 0:
            raise ConfigError(f"FLYWHEEL_SPARK_PARTITIONS must be 0 (automatic) or more, not {self.spark_partitions}.")

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


@functools.cache
def load_settings() -> Settings:
    """Settings from FLYWHEEL_* environment variables over the defaults."""
    env = os.environ
    defaults = Settings()
    settings = Settings(
        db_path=Path(env.get("FLYWHEEL_DB", defaults.db_path)),
        engine=env.get("FLYWHEEL_ENGINE", defaults.engine),
        key_file=Path(env.get("FLYWHEEL_KEY_FILE", defaults.key_file)).expanduser(),
        timezone=env.get("FLYWHEEL_TIMEZONE", defaults.timezone),
        currency=env.get("FLYWHEEL_CURRENCY", defaults.currency),
        role=env.get("FLYWHEEL_ROLE", defaults.role),
        spark_master=env.get("FLYWHEEL_SPARK_MASTER", defaults.spark_master),
        spark_partitions=_integer(env, "FLYWHEEL_SPARK_PARTITIONS", defaults.spark_partitions),
        spark_conf=_pairs(env, "FLYWHEEL_SPARK_CONF"),
    )
    settings.validate()
    return settings


def _integer(env, name: str, default: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r}: not a whole number.") from None


def _pairs(env, name: str) -> tuple[tuple[str, str], ...]:
    """`a=1;b=2` → `(("a", "1"), ("b", "2"))`; values may contain `=`."""
    pairs = []
    for item in env.get(name, "").split(";"):
        if not item.strip():
            continue
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"{name}: {item.strip()!r} is not key=value (pairs are separated by ';').")
        pairs.append((key.strip(), value.strip()))
    return tuple(pairs)
