"""Roles: the highest sensitivity level each may see unmasked and the privileged actions it may take.

The acting role comes from settings (`--role`, FLYWHEEL_ROLE; default `analyst`) or, for the HTTP API,
from the key used. On the CLI the role is a declaration the audit log holds the user to, not a
barrier against someone who can read the warehouse file directly; see docs/privacy.md.
"""

from __future__ import annotations

import functools
import getpass
from dataclasses import dataclass
from importlib import resources

import yaml

from flywheel.errors import ConfigError, FlywheelError

ACTIONS = ("read.persons", "consent.record", "consent.withdraw", "privacy.export", "privacy.erase",
           "identity.override", "audit.read", "keys.manage", "contacts.open", "contacts.deliver",
           "activate.apply", "activate.run", "delivery.apply", "points.write", "loyalty.apply")


class NotPermitted(FlywheelError, PermissionError):
    """The acting role may not take this action."""


@dataclass(frozen=True)
class Role:
    name: str
    level: int
    may: frozenset[str]
    description: str = ""


@dataclass(frozen=True)
class Actor:
    """Who is acting: the operating-system user (or API key name) and the role they act in."""
    name: str
    role: Role

    def require(self, action: str) -> None:
        if action not in ACTIONS:
            raise ValueError(f"unknown action {action!r}")
        if action not in self.role.may:
            allowed = ", ".join(r.name for r in all_roles().values() if action in r.may)
            raise NotPermitted(f"role {self.role.name!r} may not {action} (allowed: {allowed}); "
                               f"choose a role with --role or FLYWHEEL_ROLE")


@functools.cache
def all_roles() -> dict[str, Role]:
    """Every role of roles.yaml by name (not `roles()`: `flywheel.privacy.roles` is this module)."""
    spec = yaml.safe_load(resources.files("flywheel.privacy").joinpath("roles.yaml").read_text(encoding="utf-8"))
    found = {}
    for name, r in spec["roles"].items():
        unknown = set(r["may"]) - set(ACTIONS)
        if unknown:
            raise ConfigError(f"roles.yaml: role {name!r} names unknown action(s) {sorted(unknown)}")
        found[name] = Role(name, int(r["level"]), frozenset(r["may"]), r.get("description", ""))
    return found


def role_named(name: str) -> Role:
    try:
        return all_roles()[name]
    except KeyError:
        raise ConfigError(f"Unknown role {name!r}. Known: {', '.join(all_roles())}.") from None


def actor_for(settings, name: str | None = None) -> Actor:
    """The actor of a CLI call: the OS user in the role the settings name."""
    return Actor(name or _user(), role_named(settings.role))


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"
