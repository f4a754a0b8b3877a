"""Identity resolution (ID-mapping): one person per human across platforms, never a blob.

    report = resolve(wh)                 # deterministic graph, then probabilistic matches
    explain(gate, "p3f9…")               # accounts, identifiers, links and refusals of a person

Entry points that show or change persons (`explain`, `export_mapping`, `identity_stats`,
`merge_persons`, `split_person`, `never_link`) take the acting `flywheel.privacy.Gate`: they check
the role, disclose what it may see and write the audit entry themselves.
"""

from flywheel.identity.explain import UnknownPerson, explain
from flywheel.identity.export import export_mapping
from flywheel.identity.overrides import merge_persons, never_link, split_person
from flywheel.identity.record import ResolveReport
from flywheel.identity.resolve import resolve
from flywheel.identity.rules import IdentityRules, load_rules
from flywheel.identity.stats import identity_measures, identity_stats

__all__ = ["IdentityRules", "ResolveReport", "UnknownPerson", "explain", "export_mapping", "identity_measures",
           "identity_stats", "load_rules", "merge_persons", "never_link", "resolve", "split_person"]
