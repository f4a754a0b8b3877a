"""Privacy: roles and masking, the consent ledger, data-subject access and erasure, the audit log.

Not a pipeline stage but a gate: every capability that shows, exports or changes person-level data
takes a `Gate` for the acting role and, through it, checks the role's right, discloses only what the
role may see and writes the audit entry itself — the entry points below, and those of identity,
value and server, do. Every feature that selects persons for a purpose calls `only_allowed()`.
Names load on first use (`flywheel.lazy`): checking a role needs no warehouse.
"""

from flywheel.lazy import lazy_exports

_EXPORTS = {
    "allowed": "flywheel.privacy.consent", "is_allowed": "flywheel.privacy.consent",
    "only_allowed": "flywheel.privacy.consent", "person_consents": "flywheel.privacy.consent",
    "consent_record": "flywheel.privacy.consent", "consent_withdraw": "flywheel.privacy.consent",
    "consent_show": "flywheel.privacy.consent", "consent_audience": "flywheel.privacy.consent",
    "person_show": "flywheel.privacy.dossier",
    "contact_points": "flywheel.privacy.contacts", "delivery_gate": "flywheel.privacy.contacts",
    "latest_contacts": "flywheel.privacy.contacts",
    "export_person": "flywheel.privacy.rights", "erase_person": "flywheel.privacy.rights",
    "audit_entries": "flywheel.privacy.trail", "audit_verify": "flywheel.privacy.trail",
    "find_subject": "flywheel.privacy.subjects", "UnknownSubject": "flywheel.privacy.subjects",
    "Gate": "flywheel.privacy.gate", "Disclosure": "flywheel.privacy.masking",
    "NotPermitted": "flywheel.privacy.roles", "actor_for": "flywheel.privacy.roles",
    "role_named": "flywheel.privacy.roles", "all_roles": "flywheel.privacy.roles",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
