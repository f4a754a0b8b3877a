"""The gate a command passes: who acts in which role, what they may do, what they may see, and the
audit entry every privileged step leaves behind.

    with Gate.open(settings, wh) as gate:
        gate.require("privacy.export")
        ...
        gate.audit("privacy.export", person=subject.person_id, detail={"file": str(out)})

Entries about a person are sealed with that person's data key (see vault.py), so the append-only log
forgets them when the person is erased.
"""

from __future__ import annotations

from flywheel.privacy.audit import AuditLog
from flywheel.privacy.masking import Disclosure
from flywheel.privacy.roles import Actor, actor_for
from flywheel.privacy.vault import Vault
from flywheel.warehouse import Warehouse


class Gate:
    def __init__(self, settings, wh: Warehouse | None, actor: Actor, command: str = ""):
        self.settings = settings
        self.wh = wh
        self.actor = actor
        self.command = command
        self.disclosure = Disclosure(actor.role)
        self._vault: Vault | None = None
        self._log: AuditLog | None = None
        self._revealed_about: list[str] = []

    @classmethod
    def open(cls, settings, wh: Warehouse | None = None, command: str = "") -> "Gate":
        return cls(settings, wh, actor_for(settings), command)

    def require(self, action: str) -> None:
        self.actor.require(action)

    @property
    def vault(self) -> Vault:
        if self._vault is None:
            if self.wh is None:
                raise RuntimeError("the vault needs a warehouse")
            self._vault = Vault(self.wh)
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
        """Unmasked L4+ values shown by this command are privileged reads: record them."""
        if self.disclosure.revealed:
            detail = {"command": self.command, "fields": sorted(self.disclosure.revealed)}
            if len(self._revealed_about) == 1:
                self.audit("read.unmasked", self.command, person=self._revealed_about[0], detail=detail)
            else:
                self.audit("read.unmasked", self.command, detail=detail | {"persons": len(self._revealed_about)})
        if self._log is not None:
            self._log.close()

    def __enter__(self) -> "Gate":
        return self

    def __exit__(self, exc_type, *exc) -> None:
        if exc_type is None:
            self.close()
        elif self._log is not None:
            self._log.close()
