"""Loyalty: the points ledger, growth value and member levels, tasks and assists, referral fission
(docs/loyalty.md).

    write(gate, "earn", person, at=now, points=10, key="k1")   # one audited manual write
    loyalty_run(gate, now)     # points follow the ingested orders and refunds; levels published
    referral_run(gate, now)    # bindings, fraud refusals, two-sided coupons

The ledger is a SQLite journal beside the warehouse (loyalty/journal.py says why); its invariants are
in loyalty/ledger.py and `verify()` checks them.
"""

from flywheel.lazy import lazy_exports

_EXPORTS = {
    "Ledger": "flywheel.loyalty.ledger", "Refused": "flywheel.loyalty.ledger", "verify": "flywheel.loyalty.invariants",
    "journal_path": "flywheel.loyalty.journal", "write": "flywheel.loyalty.points", "balance": "flywheel.loyalty.points",
    "loyalty_run": "flywheel.loyalty.run", "data_end": "flywheel.loyalty.run", "referral_run": "flywheel.loyalty.program",
    "apply_rules": "flywheel.loyalty.program", "loyalty_stats": "flywheel.loyalty.program",
    "loyalty_summary": "flywheel.loyalty.summary", "referral_stats": "flywheel.loyalty.referral",
    "forget_persons": "flywheel.loyalty.subject", "journal_copy": "flywheel.loyalty.subject",
    "JournalErasure": "flywheel.loyalty.subject",
    "LoyaltyRules": "flywheel.loyalty.rules", "load_rules_file": "flywheel.loyalty.rules",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
