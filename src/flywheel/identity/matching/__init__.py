"""Probabilistic record matching (Fellegi–Sunter via Splink 5 on DuckDB), reusable by identity.

Public names: `match_records` (records → accepted pairs with evidence, and clusters), `Matches`,
`MatchModel`, `ROLES` (the documented role list), `DEFAULT_THRESHOLD`, and `cluster_command`
(the Typer function for `flywheel identity cluster`).
"""

from flywheel.identity.matching.matches import DEFAULT_THRESHOLD, Matches, match_records
from flywheel.identity.matching.model import LevelParameters, MatchModel
from flywheel.identity.matching.roles import ROLES, Role

__all__ = ["DEFAULT_THRESHOLD", "LevelParameters", "MatchModel", "Matches", "ROLES", "Role", "match_records"]
