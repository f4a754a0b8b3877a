"""Identity rules: the priority of identifier types, per-type limits, high-degree demotion, blocked values.

Rules are data (a YAML file, shipped default in `rules.yaml`) so a merchant can tighten them without
code, and `identity explain` can name the rule that linked or refused an identifier.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import yaml

from flywheel.errors import ConfigError
from flywheel.identifiers import InvalidIdentifier, normalize


@dataclass(frozen=True)
class TypeRule:
    id_type: str
    limit: int | None
    high_degree: int


@dataclass(frozen=True)
class RareValues:
    """The person-level pass on values exactly two persons hold (see `identity.rare`)."""

    names: bool = True
    masked_phones: bool = True
    max_chance_holders: float = 0.1
    common_name_holders: int = 10
    min_name_length: int = 3


@dataclass(frozen=True)
class IdentityRules:
    types: tuple[TypeRule, ...]
    blocked_values: tuple[tuple[str, str], ...] = ()
    probabilistic: bool = True
    match_threshold: float = 0.99
    match_sources: tuple[str, ...] = ()
    path: str = "default"
    rare: RareValues = RareValues()

    @property
    def limits(self) -> dict[str, int]:
        return {t.id_type: t.limit for t in self.types if t.limit is not None}

    @property
    def priority(self) -> list[str]:
        return [t.id_type for t in self.types]

    def blocked_hashes(self, hasher) -> list[tuple[str, str]]:
        """(id_type, hash) of the configured blocked values, hashed like ingested identifiers."""
        return [(t, hasher.hash(t, v)) for t, v in self.blocked_values]


def load_rules(path: Path | None = None) -> IdentityRules:
    """Read identity rules from `path`, or the shipped defaults."""
    if path is None:
        text = resources.files("flywheel.identity").joinpath("rules.yaml").read_text(encoding="utf-8")
        where = "default"
    else:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as e:
            raise ConfigError(f"{path}: cannot read identity rules ({e.strerror})") from None
        where = str(path)
    try:
        raw = yaml.safe_load(text) or {}
    except yaml.YAMLError as e:
        raise ConfigError(f"{where}: not valid YAML ({e})") from None
    return _parse(raw, where)


def _parse(raw: dict, where: str) -> IdentityRules:
    if not isinstance(raw, dict) or not isinstance(raw.get("types"), list) or not raw["types"]:
        raise ConfigError(f"{where}: `types` must be a non-empty list of identifier types in priority order")
    default_degree = _positive(raw.get("high_degree", 8), f"{where}: high_degree")
    types, seen = [], set()
    for i, entry in enumerate(raw["types"]):
        if not isinstance(entry, dict) or not entry.get("id_type"):
            raise ConfigError(f"{where}: types[{i}] needs an `id_type`")
        name = str(entry["id_type"])
        if name in seen:
            raise ConfigError(f"{where}: types[{i}]: {name} is listed twice")
        seen.add(name)
        unknown = set(entry) - {"id_type", "limit", "high_degree"}
        if unknown:
            raise ConfigError(f"{where}: types[{i}] ({name}): unknown key {sorted(unknown)[0]!r}")
        limit = entry.get("limit")
        types.append(TypeRule(
            name,
            None if limit is None else _positive(limit, f"{where}: types[{i}] ({name}) limit"),
            _positive(entry.get("high_degree", default_degree), f"{where}: types[{i}] ({name}) high_degree"),
        ))
    blocked = []
    for i, entry in enumerate(raw.get("blocked_values") or []):
        if not isinstance(entry, dict) or not {"id_type", "value"} <= set(entry):
            raise ConfigError(f"{where}: blocked_values[{i}] needs `id_type` and `value`")
        try:
            blocked.append((str(entry["id_type"]), normalize(str(entry["id_type"]), str(entry["value"]))))
        except InvalidIdentifier as e:
            raise ConfigError(f"{where}: blocked_values[{i}]: {e}") from None
    prob = raw.get("probabilistic") or {}
    threshold = float(prob.get("threshold", 0.99))
    if not 0.5 <= threshold < 1:
        raise ConfigError(f"{where}: probabilistic.threshold must be in [0.5, 1). Got {threshold}.")
    return IdentityRules(tuple(types), tuple(blocked), bool(prob.get("enabled", True)), threshold,
                         tuple(prob.get("sources") or ()), where, _rare(raw.get("rare_values"), where))


def _rare(raw, where: str) -> RareValues:
    if raw is None:
        return RareValues()
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: rare_values must be a mapping (names, masked_phones, …)")
    known = {"names", "masked_phones", "max_chance_holders", "common_name_holders", "min_name_length"}
    unknown = set(raw) - known
    if unknown:
        raise ConfigError(f"{where}: rare_values: unknown key {sorted(unknown)[0]!r}. Known: {', '.join(sorted(known))}")
    chance = raw.get("max_chance_holders", RareValues.max_chance_holders)
    if isinstance(chance, bool) or not isinstance(chance, (int, float)) or not 0 <= chance <= 1:
        raise ConfigError(f"{where}: rare_values.max_chance_holders must be a number in [0, 1]. Got {chance!r}.")
    for flag in ("names", "masked_phones"):
        if not isinstance(raw.get(flag, True), bool):
            raise ConfigError(f"{where}: rare_values.{flag} must be true or false. Got {raw[flag]!r}.")
    return RareValues(
        names=raw.get("names", True), masked_phones=raw.get("masked_phones", True),
        max_chance_holders=float(chance),
        common_name_holders=_positive(raw.get("common_name_holders", RareValues.common_name_holders),
                                      f"{where}: rare_values.common_name_holders"),
        min_name_length=_positive(raw.get("min_name_length", RareValues.min_name_length),
                                  f"{where}: rare_values.min_name_length"))


def _positive(value, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ConfigError(f"{what} must be a whole number ≥ 1. Got {value!r}.")
    return value


__all__ = ["IdentityRules", "RareValues", "TypeRule", "load_rules"]
