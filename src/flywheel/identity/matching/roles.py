"""Roles: what a column means, how it is cleaned, compared and blocked on.

A role is the only thing a caller says about a column (`--column last_name=surname`). Everything
the Fellegi–Sunter model needs follows from it, so data never seen before gets sensible defaults:
the SQL that normalises a raw value and the comparison levels (most to least similar; each gets
its own m and u). Which roles block is decided from the data (blocking.py), not here.

Every role's normalised value lives in a column named after the role, so comparison and blocking
SQL refer to `first_name_l`, `l.first_name`, … whatever the input file called it.
"""

from __future__ import annotations

from dataclasses import dataclass

from splink import comparison_level_library as cll
from splink.comparison_library import CustomComparison

# Raw → trimmed lower-case text with single spaces; empty strings become NULL.
_TEXT = "nullif(trim(regexp_replace(lower(CAST({c} AS VARCHAR)), '\\s+', ' ', 'g')), '')"
_DIGITS = "nullif(regexp_replace(CAST({c} AS VARCHAR), '[^0-9]', '', 'g'), '')"
# Digits only, without a Chinese country prefix on a mobile number (+86 / 0086 / 86 before 1xxxxxxxxxx).
_PHONE = ("regexp_replace(regexp_replace(CAST({c} AS VARCHAR), '[^0-9]', '', 'g'), "
          "'^(0086|86)(1[0-9]{10})$', '\\2')")
_CODE = "nullif(regexp_replace(upper(CAST({c} AS VARCHAR)), '[^0-9A-Z]', '', 'g'), '')"
_EMAIL = "nullif(replace(lower(CAST({c} AS VARCHAR)), ' ', ''), '')"
_HASH = "nullif(lower(trim(CAST({c} AS VARCHAR))), '')"
# 138****1234, 138-****-1234 or a full 13812341234 → '138****1234' (prefix + suffix evidence only).
_MASKED = (
    "CASE WHEN regexp_full_match({v}, '[0-9]{7,}') THEN substr({v}, 1, 3) || '****' || right({v}, 4) "
    "WHEN regexp_full_match({v}, '[0-9]{2,}[^0-9]+[0-9]{4,}') "
    "THEN regexp_extract({v}, '^[0-9]+') || '****' || right(regexp_extract({v}, '[0-9]+$'), 4) END"
)


@dataclass(frozen=True)
class Role:
    """One meaning a column can have, with its cleaning, comparison and blocking defaults."""

    name: str
    kind: str
    description: str
    normalise: str

    def normalise_sql(self, column_sql: str) -> str:
        """SQL expression giving the normalised value of `column_sql` (a quoted identifier)."""
        return self.normalise.replace("{c}", column_sql)

    def comparison(self) -> CustomComparison:
        """The Splink comparison for this role, levels ordered from most to least similar."""
        c = self.name
        levels = [cll.NullLevel(c), _exact(c)] + _KIND_LEVELS[self.kind](c) + [_different()]
        return CustomComparison(levels, output_column_name=c, comparison_description=self.description)


def _exact(c: str) -> cll.ExactMatchLevel:
    level = cll.ExactMatchLevel(c, term_frequency_adjustments=True)
    level.configure(label_for_charts="exact")
    return level


def _different() -> cll.ElseLevel:
    level = cll.ElseLevel()
    level.configure(label_for_charts="different")
    return level


def _level(sql: str, label: str) -> cll.CustomLevel:
    return cll.CustomLevel(sql, label_for_charts=label)


def _name_levels(c: str) -> list:
    # Typos in longer names; the length guard keeps 2-character Chinese names (王伟 / 王芳) apart.
    return [
        _level(f"damerau_levenshtein({c}_l, {c}_r) <= 1 AND least(length({c}_l), length({c}_r)) >= 4",
               "one typo"),
        _level(f"jaro_winkler_similarity({c}_l, {c}_r) >= 0.92", "jaro-winkler >= 0.92"),
        _level(f"jaro_winkler_similarity({c}_l, {c}_r) >= 0.80", "jaro-winkler >= 0.80"),
    ]


def _date_levels(c: str) -> list:
    swapped = (f"length({c}_l) = 8 AND length({c}_r) = 8 AND substr({c}_l, 1, 4) = substr({c}_r, 1, 4) "
               f"AND substr({c}_l, 5, 2) = substr({c}_r, 7, 2) AND substr({c}_l, 7, 2) = substr({c}_r, 5, 2)")
    return [
        _level(f"damerau_levenshtein({c}_l, {c}_r) <= 1", "one typo or transposition"),
        _level(swapped, "month and day swapped"),
        _level(f"levenshtein({c}_l, {c}_r) <= 2", "two edits"),
    ]


def _code_levels(c: str) -> list:
    return [_level(f"damerau_levenshtein({c}_l, {c}_r) <= 1 AND least(length({c}_l), length({c}_r)) >= 3",
                   "one typo or transposition")]


def _short_code_levels(c: str) -> list:
    return [_level(f"damerau_levenshtein({c}_l, {c}_r) <= 1", "one typo or transposition")]


def _email_levels(c: str) -> list:
    return [
        _level(f"damerau_levenshtein({c}_l, {c}_r) <= 1", "one typo"),
        _level(f"split_part({c}_l, '@', 1) = split_part({c}_r, '@', 1)", "same user name"),
        _level(f"jaro_winkler_similarity({c}_l, {c}_r) >= 0.88", "jaro-winkler >= 0.88"),
    ]


def _text_levels(c: str) -> list:
    return [
        _level(f"jaro_winkler_similarity({c}_l, {c}_r) >= 0.92", "jaro-winkler >= 0.92"),
        _level(f"jaro_winkler_similarity({c}_l, {c}_r) >= 0.80", "jaro-winkler >= 0.80"),
    ]


def _place_levels(c: str) -> list:
    return [_level(f"jaro_winkler_similarity({c}_l, {c}_r) >= 0.90", "jaro-winkler >= 0.90")]


def _masked_phone_levels(c: str) -> list:
    return [_level(f"right({c}_l, 4) = right({c}_r, 4)", "same last four digits")]


_KIND_LEVELS = {
    "name": _name_levels,
    "date": _date_levels,
    "code": _code_levels,
    "short_code": _short_code_levels,
    "email": _email_levels,
    "text": _text_levels,
    "place": _place_levels,
    "masked_phone": _masked_phone_levels,
    "hash": lambda c: [],
}

ROLES: dict[str, Role] = {r.name: r for r in [
    Role("first_name", "name", "Given name; Jaro-Winkler, typo and exact levels, common names count less.", _TEXT),
    Role("last_name", "name", "Surname; Jaro-Winkler, typo and exact levels, common surnames count less.", _TEXT),
    Role("full_name", "name", "Whole name (hanzi, pinyin or nickname) in one column; exact (common names count "
         "less), one typo (4+ characters), Jaro-Winkler.", _TEXT),
    Role("phone", "code", "Full phone number; digits only (+86 dropped), exact or one typo.",
         "nullif(" + _PHONE + ", '')"),
    Role("phone_masked", "masked_phone",
         "Marketplace phone like 138****1234: prefix+suffix, or the last four digits, as partial evidence.",
         _MASKED.replace("{v}", "regexp_replace(regexp_replace(CAST({c} AS VARCHAR), '[\\s()-]', '', 'g'), "
                         "'^(\\+86|0086|86)(1[0-9*]{10})$', '\\2')")),
    Role("email", "email", "E-mail address; exact, one typo or same user name.", _EMAIL),
    Role("birth_date", "date", "Date of birth in any one format (digits compared): exact, typo, "
         "transposition or month/day swap.", _DIGITS),
    Role("national_id", "code", "National / social-security id; exact or one typo.", _CODE),
    Role("street_number", "short_code", "House number; exact or one typo.", _CODE),
    Role("address", "text", "Street address line; Jaro-Winkler levels.", _TEXT),
    Role("address2", "text", "Second address line (building, estate); Jaro-Winkler levels.", _TEXT),
    Role("city", "place", "City or suburb; exact or near-exact.", _TEXT),
    Role("district", "place", "District or county; exact or near-exact.", _TEXT),
    Role("province", "place", "Province or state; exact or near-exact.", _TEXT),
    Role("postcode", "short_code", "Postal code; exact or one typo.", _CODE),
    Role("address_hash", "hash", "Hash of a normalised address; exact only.", _HASH),
]}


#: Finest to coarsest. Agreeing on an address implies agreeing on its district, city and province, so
#: counting each as independent evidence (the Fellegi–Sunter assumption) would multiply one fact
#: four times. When two or more of these are given they form one comparison, `location`, whose
#: levels are "same address", "same district", "same city", "same province", "other".
LOCATION_CHAIN = ("address_hash", "district", "city", "province")


@dataclass(frozen=True)
class ComparisonSpec:
    """A Splink comparison named `name`, built from the roles `members`."""

    name: str
    members: tuple[str, ...]
    comparison: CustomComparison


def comparisons_for(roles: list[str]) -> list[ComparisonSpec]:
    """One comparison per role, except that the location chain given is merged into `location`."""
    chain = [r for r in LOCATION_CHAIN if r in roles]
    specs = []
    for role in roles:
        if len(chain) >= 2 and role in chain:
            if role == chain[0]:
                specs.append(ComparisonSpec("location", tuple(chain), _location(chain)))
            continue
        specs.append(ComparisonSpec(role, (role,), ROLES[role].comparison()))
    return specs


def _location(chain: list[str]) -> CustomComparison:
    null = " AND ".join(f"({c}_l IS NULL OR {c}_r IS NULL)" for c in chain)
    levels: list = [cll.CustomLevel(null, label_for_charts="missing").configure(is_null_level=True)]
    for c in chain:
        level = cll.ExactMatchLevel(c, term_frequency_adjustments=True)
        level.configure(label_for_charts=f"same {c}")
        levels.append(level)
        if ROLES[c].kind == "place" and c == chain[0]:
            levels.append(_level(f"jaro_winkler_similarity({c}_l, {c}_r) >= 0.90", f"{c} jaro-winkler >= 0.90"))
    levels.append(_different())
    return CustomComparison(levels, output_column_name="location",
                            comparison_description="Where the records live: " + " > ".join(chain))


def role_named(name: str) -> Role:
    """The role called `name`, or an InputError listing the known roles."""
    from flywheel.errors import InputError

    try:
        return ROLES[name]
    except KeyError:
        raise InputError(f"unknown role {name!r}. Known roles: {', '.join(ROLES)}") from None


def roles_markdown() -> str:
    """The role list as a Markdown table, for the docs."""
    rows = ["| role | compared as |", "|---|---|"]
    rows += [f"| `{r.name}` | {r.description} |" for r in ROLES.values()]
    rows.append("| (`address_hash`, `district`, `city`, `province`: two or more given) | one `location` "
                "comparison: same address > same district > same city > same province > different |")
    return "\n".join(rows)

