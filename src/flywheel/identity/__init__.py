"""Identity resolution (ID-mapping): one person per human across platforms, never a blob.

    report = resolve(wh)                 # identifiers, probabilistic matching (Splink), rare shared values
    report = resolve(wh, matcher=None)   # the same without the match model (`identity resolve --no-match`)
    explain(gate, "p3f9…")               # accounts, identifiers, links and refusals of a person
    identity_stats(gate)["cross_platform_match_rate"]

Entry points that show or change persons (`explain`, `export_mapping`, `identity_stats`,
`merge_persons`, `split_person`, `never_link`) take the acting `flywheel.privacy.Gate`: they check
the role, disclose what it may see and write the audit entry themselves. `match_accounts` (the
shipped matcher `resolve` runs by default) is importable from here; it loads Splink only when used.
"""

from flywheel.identity.explain import UnknownPerson, explain
from flywheel.identity.export import export_mapping
from flywheel.identity.overrides import merge_persons, never_link, split_person
from flywheel.identity.record import ResolveReport
from flywheel.identity.resolve import resolve
from flywheel.identity.rules import IdentityRules, load_rules
from flywheel.identity.stats import identity_measures, identity_stats

__all__ = ["IdentityRules", "ResolveReport", "UnknownPerson", "explain", "export_mapping", "identity_measures",
           "identity_stats", "load_rules", "match_accounts", "merge_persons", "never_link", "resolve", "split_person"]


def __getattr__(name: str):
    if name == "match_accounts":  # Splink is heavy: import it only for callers that name the matcher
        from flywheel.identity.probabilistic import match_accounts

        return match_accounts
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
