"""Probabilistic record matching (Fellegi–Sunter via Splink 5 on DuckDB), reusable by identity.

Public names: `match_records` (records → accepted pairs with evidence, refused near-misses, and
clusters), `Matches`, `MatchModel` (trained parameters; save with `as_json(full=True)`, load with
`MatchModel.from_json`), `describe_pair` (evidence as text lines), `ROLES` (the documented role list), `DEFAULT_THRESHOLD`; `files`
reads and writes the CSV and JSON files of `flywheel identity cluster`.
"""

from flywheel.identity.matching.matches import DEFAULT_THRESHOLD, Matches, describe_pair, match_records
from flywheel.identity.matching.model import LevelParameters, MatchModel
from flywheel.identity.matching.roles import ROLES, Role

__all__ = ["DEFAULT_THRESHOLD", "LevelParameters", "MatchModel", "Matches", "ROLES", "Role",
           "describe_pair", "match_records"]
