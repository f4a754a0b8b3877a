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
    )
    settings.validate()
    return settings
