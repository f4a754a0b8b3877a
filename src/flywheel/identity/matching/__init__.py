"""Probabilistic record matching (Fellegi–Sunter via Splink 5 on DuckDB), reusable by identity.

Public names: `match_records` (records → accepted pairs with evidence, refused near-misses, and
clusters), `Matches`, `MatchModel` (trained parameters; save with `as_json(full=True)`, load with
`MatchModel.from_json`), `describe_pair` (evidence as text lines), `ROLES` (the documented role list), `DEFAULT_THRESHOLD`, and
`cluster_command` (the Typer function to register as `flywheel identity cluster`).
"""

from flywheel.identity.matching.cli import cluster_command
from flywheel.identity.matching.matches import DEFAULT_THRESHOLD, Matches, describe_pair, match_records
from flywheel.identity.matching.model import LevelParameters, MatchModel
from flywheel.identity.matching.roles import ROLES, Role

__all__ = ["DEFAULT_THRESHOLD", "LevelParameters", "MatchModel", "Matches", "ROLES", "Role", "cluster_command",
           "describe_pair", "match_records"]
