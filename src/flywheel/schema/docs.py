"""Render `docs/data-model.md` from the catalog, so the document cannot drift from the code."""

from __future__ import annotations

from flywheel.schema.catalog import SCHEMA_VERSION, TABLES

LEVELS = {
    1: "L1 public / aggregate",
    2: "L2 behaviour / pseudonymous",
    3: "L3 social relationship",
    4: "L4 direct contact identifier",
    5: "L5 core identity / sensitive",
}


def render() -> str:
    out = [
        "# Data model",
        "",
        "Generated from `src/flywheel/schema/catalog.py` by `make docs`; do not edit by hand.",
        f"Schema version {SCHEMA_VERSION}. Times are UTC instants (`timestamp('UTC')`); money is integer",
        "cents; personal identifiers are stored as a keyed HMAC-SHA256 plus a masked display value.",
        "",
        "Sensitivity levels (PRODUCT.md §5): " + "; ".join(LEVELS.values()) + ".",
        "",
    ]
    for t in TABLES:
        out += [f"## `{t.name}`", "", t.description, ""]
        if t.key:
            out += [f"Natural key: `({', '.join(t.key)})` — re-ingesting a row with a known key adds nothing.", ""]
        out += ["| field | type | level | meaning |", "|---|---|---|---|"]
        for f in t.fields:
            null = "" if f.nullable else " not null"
            meaning = f.description.replace("|", "\\|")
            out.append(f"| `{f.name}` | `{f.type}`{null} | L{f.level} | {meaning} |")
        out.append("")
    return "\n".join(out)


if __name__ == "__main__":
    print(render())
