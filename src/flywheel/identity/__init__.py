"""Identity resolution (ID-mapping): one person per human across platforms, never a blob.

    report = resolve(wh)                 # deterministic graph, then probabilistic matches
    explain(wh, "p3f9…")                 # accounts, identifiers, links and refusals of a person
"""

from flywheel.identity.explain import UnknownPerson, explain
from flywheel.identity.export import export_mapping
from flywheel.identity.overrides import merge_persons, never_link, split_person
from flywheel.identity.record import ResolveReport
from flywheel.identity.resolve import resolve
from flywheel.identity.rules import IdentityRules, load_rules
from flywheel.identity.stats import identity_stats

__all__ = ["IdentityRules", "ResolveReport", "UnknownPerson", "explain", "export_mapping", "identity_stats",
           "load_rules", "merge_persons", "never_link", "resolve", "split_person"]
