"""The console's message ids, extracted with Babel from the templates and this package's Python,
plus the words pages translate by value (roles, statuses, navigation).

`python -m flywheel.console.messages` lists the ids the zh catalog lacks (a test keeps it empty).
"""

from __future__ import annotations

import sys
from importlib import resources

from babel.messages.extract import extract
from babel.messages.pofile import read_po

from flywheel.privacy.roles import all_roles

BY_VALUE = ("active", "paused", "full", "incremental", "Treatment", "Holdout", "Entered", "Sent", "Converted",
            "month", "week")


def used_ids() -> set[str]:
    from flywheel.console.app import NAV

    pkg = resources.files("flywheel.console")
    ids: set[str] = set(label for _, label in NAV) | set(all_roles()) | set(BY_VALUE)
    for entry in pkg.joinpath("templates").iterdir():
        if entry.name.endswith(".html"):
            with entry.open("rb") as handle:
                ids.update(m[1] for m in extract("jinja2.ext:babel_extract", handle,
                                                 options={"extensions": "jinja2.ext.i18n"}) if isinstance(m[1], str))
    for name in ("app.py",):
        with pkg.joinpath(name).open("rb") as handle:
            ids.update(m[1] for m in extract("python", handle) if isinstance(m[1], str))
    return ids


def missing() -> list[str]:
    from flywheel.console.i18n import catalog_path

    with catalog_path().open("rb") as handle:
        catalog = read_po(handle)
    have = {m.id for m in catalog if m.id and m.string}
    return sorted(used_ids() - have)


if __name__ == "__main__":
    gaps = missing()
    print("\n".join(gaps))
    sys.exit(1 if gaps else 0)
