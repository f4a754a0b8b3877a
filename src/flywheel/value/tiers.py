"""Rule-based tiers from a YAML file, evaluated in the warehouse over `person_traits`.

A tier file lists tiers in priority order; each has `name`, optional `description`, and either
`all: [conditions]` or `catch_all: true` (the last tier must be one). A condition reads
`<trait> <op> <value>`, e.g. `orders_30d >= 3`. The first tier whose conditions all hold wins, so
every person gets exactly one tier; a person whose trait is unknown (null) fails that condition.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import ibis
import yaml

from flywheel.errors import ConfigError
from flywheel.schema import table as catalog_table

OPS = (">=", "<=", "==", "!=", ">", "<")
_KINDS = {"int64": "number", "float64": "number", "boolean": "flag", "string": "text"}
_PYTHON = {"number": (int, float), "flag": bool, "text": str}
_CONDITION = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(>=|<=|==|!=|>|<)\s*(.+?)\s*$")


class TierFileError(ConfigError):
    """A tier file that cannot be used, with the file, tier and field named."""


@dataclass(frozen=True)
class Condition:
    trait: str
    op: str
    value: object

    def expression(self, traits: ibis.Table) -> ibis.Value:
        column = traits[self.trait]
        value = ibis.literal(self.value)
        test = {">=": column >= value, "<=": column <= value, "==": column == value, "!=": column != value,
                ">": column > value, "<": column < value}[self.op]
        return test.fill_null(False)

    def __str__(self) -> str:
        return f"{self.trait} {self.op} {self.value!r}"


@dataclass(frozen=True)
class Tier:
    name: str
    description: str
    conditions: tuple[Condition, ...]
    catch_all: bool = False


@dataclass(frozen=True)
class TierRules:
    tiers: tuple[Tier, ...]
    source: str
    sha256: str

    @property
    def names(self) -> list[str]:
        return [t.name for t in self.tiers]

    def expression(self, traits: ibis.Table) -> ibis.Value:
        """The tier of each row: the first tier whose conditions all hold."""
        cases = []
        for tier in self.tiers[:-1]:
            cases.append((ibis.and_(*[c.expression(traits) for c in tier.conditions]), tier.name))
        return ibis.cases(*cases, else_=self.tiers[-1].name) if cases else ibis.literal(self.tiers[-1].name)


def default_tier_file() -> Path:
    return Path(str(resources.files("flywheel.value") / "tiers.yaml"))


def load_tiers(path: Path | None = None) -> TierRules:
    """Read and check a tier file (the shipped default when `path` is None)."""
    path = Path(path) if path else default_tier_file()
    label = "default" if path == default_tier_file() else str(path)
    try:
        text = path.read_bytes()
    except OSError as exc:
        raise TierFileError(f"{path}: cannot read tier file ({exc.strerror or exc})") from None
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise TierFileError(f"{path}: not valid YAML ({exc})") from None
    tiers = parse_tiers(doc, str(path))
    return TierRules(tiers, label, hashlib.sha256(text).hexdigest())


def _value(raw: str):
    loaded = yaml.safe_load(raw)
    if isinstance(loaded, (bool, int, float, str)):
        return loaded
    raise ValueError(raw)


def _conditions(items, where: str, types: dict[str, str]) -> tuple[Condition, ...]:
    if not isinstance(items, list) or not items:
        raise TierFileError(f"{where}: field 'all' must be a non-empty list of conditions like 'orders_30d >= 3'")
    out = []
    for k, item in enumerate(items, 1):
        match = _CONDITION.match(item) if isinstance(item, str) else None
        if not match:
            raise TierFileError(f"{where}, condition {k} {item!r}: expected '<trait> <op> <value>' with op one of "
                                + " ".join(OPS))
        trait, op, raw = match.groups()
        if trait not in types:
            raise TierFileError(f"{where}, condition {k} {item!r}: unknown trait {trait!r} (see docs/traits.md)")
        try:
            value = _value(raw)
        except (ValueError, yaml.YAMLError):
            raise TierFileError(f"{where}, condition {k} {item!r}: value {raw!r} is not a number, "
                                "true/false or a quoted text") from None
        kind = _KINDS.get(types[trait], "time")
        if kind == "time":
            raise TierFileError(f"{where}, condition {k} {item!r}: trait {trait!r} is a time; compare a "
                                "days_since_… or …_days trait instead")
        if not isinstance(value, _PYTHON[kind]) or (kind == "number" and isinstance(value, bool)):
            raise TierFileError(f"{where}, condition {k} {item!r}: trait {trait!r} is a {kind}, "
                                f"value {value!r} does not compare with it")
        out.append(Condition(trait, op, value))
    return tuple(out)


def parse_tiers(doc, path: str = "<tiers>") -> tuple[Tier, ...]:
    """Tiers from a decoded YAML document; errors name the file, the tier and the field."""
    if not isinstance(doc, dict) or not isinstance(doc.get("tiers"), list) or not doc["tiers"]:
        raise TierFileError(f"{path}: expected a top-level 'tiers:' list with at least one tier")
    types = {f.name: f.type for f in catalog_table("person_traits").fields if f.name not in ("person_id", "run_id")}
    tiers, seen = [], set()
    for n, entry in enumerate(doc["tiers"], 1):
        where = f"{path}: tier {n}"
        if not isinstance(entry, dict):
            raise TierFileError(f"{where}: expected a mapping with 'name' and 'all' or 'catch_all'")
        name = entry.get("name")
        if not isinstance(name, str) or not name.strip():
            raise TierFileError(f"{where}: field 'name' is missing or empty")
        where = f"{path}: tier {n} ({name!r})"
        if name in seen:
            raise TierFileError(f"{where}: field 'name' repeats an earlier tier")
        seen.add(name)
        unknown = set(entry) - {"name", "description", "all", "catch_all"}
        if unknown:
            raise TierFileError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}; "
                                "expected name, description, all, catch_all")
        catch_all = entry.get("catch_all", False)
        if not isinstance(catch_all, bool):
            raise TierFileError(f"{where}: field 'catch_all' must be true or false")
        if catch_all == ("all" in entry):
            raise TierFileError(f"{where}: give exactly one of 'all' (conditions) or 'catch_all: true'")
        if catch_all and n != len(doc["tiers"]):
            raise TierFileError(f"{where}: field 'catch_all' is only allowed on the last tier")
        conditions = () if catch_all else _conditions(entry["all"], where, types)
        tiers.append(Tier(name, str(entry.get("description") or ""), conditions, catch_all))
    if not tiers[-1].catch_all:
        raise TierFileError(f"{path}: the last tier ({tiers[-1].name!r}) must be 'catch_all: true' "
                            "so every person gets a tier")
    return tuple(tiers)


def assign_tiers(traits: ibis.Table, rules: TierRules) -> ibis.Table:
    """`person_id, tier` for every row of `traits` (an Ibis table with the trait columns)."""
    return traits.select("person_id", tier=rules.expression(traits))
