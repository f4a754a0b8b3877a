"""Privacy: roles and masking, the consent ledger, data-subject access and erasure, the audit log.

Not a pipeline stage but a gate: every command that shows, exports or changes person-level data
passes a `Gate` for the acting role, and every feature that selects persons for a purpose calls
`only_allowed()`.
"""

from flywheel.privacy.consent import allowed, is_allowed, only_allowed, person_consents
from flywheel.privacy.gate import Gate
from flywheel.privacy.masking import Disclosure
from flywheel.privacy.roles import NotPermitted, actor_for, role_named, roles

__all__ = ["Disclosure", "Gate", "NotPermitted", "actor_for", "allowed", "is_allowed", "only_allowed",
           "person_consents", "role_named", "roles"]
