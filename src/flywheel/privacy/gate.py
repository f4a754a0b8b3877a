"""The gate a capability passes: who acts in which role, what they may do, what they may see, and the
audit entry every privileged step leaves behind.

Capabilities that show, export or change person-level data take the acting `Gate` and do all three
themselves (check the action, disclose, audit), so every edge that calls them — the CLI, the scheduler,
an HTTP route — gets the same checks and leaves the same trail. The edge only opens the gate and
closes it (closing records the unmasked reads of L4+ values the command made):

    with Gate.open(settings, wh, "privacy export") as gate:
        summary = export_person(gate, "p3f9…", Path("copy.json"))   # checks, writes, audits

Entries about a person are sealed with that person's data key (see vault.py), so the append-only log
forgets them when the person is erased. Importing this module stays light (no Ibis, no Arrow): the
audit commands start fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from flywheel.privacy.audit import AuditLog
from flywheel.privacy.roles import Actor, actor_for

if TYPE_CHECKING:
    from flywheel.privacy.masking import Disclosure
    from flywheel.privacy.vault import Vault
    from flywheel.warehouse import Warehouse


class Gate:
    def __init__(self, settings, wh: "Warehouse | None", actor: Actor, command: str = ""):
        self.settings = settings
        self.wh = wh
        self.actor = actor
        self.command = command
        self._disclosure: "Disclosure | None" = None
        self._vault: "Vault | None" = None
        self._log: AuditLog | None = None
        self._revealed_about: list[str] = []

    @classmethod
    def open(cls, settings, wh: "Warehouse | None" = None, command: str = "", actor: Actor | None = None) -> "Gate":
        """The gate of one call: the actor is the OS user in the settings' role unless given (an API key's)."""
        return cls(settings, wh, actor or actor_for(settings), command)

    def require(self, action: str) -> None:
        self.actor.require(action)

    @property
    def warehouse(self) -> "Warehouse":
        if self.wh is None:
            raise RuntimeError(f"{self.command or 'this call'}: the gate was opened without a warehouse")
        return self.wh

    @property
    def disclosure(self) -> "Disclosure":
        """What the acting role may see of catalog fields; remembers what it masked, withheld and revealed."""
        if self._disclosure is None:
            from flywheel.privacy.masking import Disclosure

            self._disclosure = Disclosure(self.actor.role)
        return self._disclosure

    def disclosed(self, payload: dict) -> dict:
        """A person-level payload with the summary of what this gate hid (users see that a field was
        masked, not that it is empty)."""
        return payload | {"disclosure": self.disclosure.summary()}

    @property
    def vault(self) -> "Vault":
        if self._vault is None:
            from flywheel.privacy.vault import Vault

            self._vault = Vault(self.warehouse)
        return self._vault

    @property
    def log(self) -> AuditLog:
        if self._log is None:
            self._log = AuditLog.for_settings(self.settings)
        return self._log

    def audit(self, action: str, target: str = "", *, person: str | None = None, purpose: str | None = None,
              detail: dict | None = None) -> dict:
        """Append an entry; with `person`, the target is sealed and the entry findable by the person's token."""
        subject = None
        if person is not None:
            subject = self.vault.token(person)
            target = self.vault.seal(person, target or person)
        return self.log.append(actor=self.actor.name, role=self.actor.role.name, action=action,
                               target=target or self.command, purpose=purpose, subject=subject,
                               detail=detail or {})

    def about(self, person: str) -> None:
        """Note that the output concerns this person (for the unmasked-read entry)."""
        self._revealed_about.append(person)

    def close(self) -> None:
        """Unmasked L4+ values shown through this gate are privileged reads: record them, once."""
        if self._disclosure is not None and self._disclosure.revealed:
            detail = {"command": self.command, "fields": sorted(self._disclosure.revealed)}
            if len(self._revealed_about) == 1:
                self.audit("read.unmasked", self.command, person=self._revealed_about[0], detail=detail)
            else:
                self.audit("read.unmasked", self.command, detail=detail | {"persons": len(self._revealed_about)})
            self._disclosure.revealed.clear()
        self._revealed_about.clear()
        if self._log is not None:
            self._log.close()

    def __enter__(self) -> "Gate":
        return self

    def __exit__(self, exc_type, *exc) -> None:
        if exc_type is None:
            self.close()
        elif self._log is not None:
            self._log.close()
