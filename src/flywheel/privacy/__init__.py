"""Privacy: roles and masking, the consent ledger, data-subject access and erasure, the audit log.

Not a pipeline stage but a gate: every command that shows, exports or changes person-level data
passes a `Gate` for the acting role, and every feature that selects persons for a purpose calls
`only_allowed()`. Names load on first use (`flywheel.lazy`): checking a role needs no warehouse.
"""

from flywheel.lazy import lazy_exports

_EXPORTS = {
    "allowed": "flywheel.privacy.consent", "is_allowed": "flywheel.privacy.consent",
    "only_allowed": "flywheel.privacy.consent", "person_consents": "flywheel.privacy.consent",
    "Gate": "flywheel.privacy.gate", "Disclosure": "flywheel.privacy.masking",
    "NotPermitted": "flywheel.privacy.roles", "actor_for": "flywheel.privacy.roles",
    "role_named": "flywheel.privacy.roles", "roles": "flywheel.privacy.roles",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
