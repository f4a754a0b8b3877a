"""Any CSV with a YAML mapping (`flywheel ingest FILE --mapping crm.yaml`).

The mapping names the canonical table, the `source`, the header feeding each catalog field and the
headers holding identifiers. Values are parsed by what the catalog says the field is: `*_cents`
money, timestamps date-times, `int64` whole numbers, booleans yes/no, dates merchant-local days.
A mapping that cannot fill the table's key, or that names headers the file lacks, is refused before
any row is read, so a typo never lands as a column of nulls.

```yaml
table: orders
source: crm
columns: {order_id: 单号, account_key: 会员卡号, created_at: 下单时间, paid_cents: 实付金额, status: 状态}
defaults: {currency: CNY}      # optional: constants for unmapped fields or empty cells
identifiers: {phone: 手机}
statuses: {已完成: completed}   # optional: the file's order-status words → the canonical statuses
```

An order status must be one of the canonical statuses (`flywheel.schema.orders`), as written or
through `statuses:`; any other rejects its row, so GMV never silently leaves an order out.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from flywheel.collect.adapters.base import (
    Adapter,
    Batch,
    Columns,
    ReadContext,
    identifier_rows,
    lines_array,
)
from flywheel.collect.adapters.orders import landed, local_day, yes_no
from flywheel.collect.reading import RawTable, clean_header
from flywheel.collect.values import Problems, parse_int, parse_money, parse_time
from flywheel.errors import InputError
from flywheel.schema.catalog import TS, Field, Table
from flywheel.schema.catalog import table as catalog_table
from flywheel.schema.orders import ORDER_STATUSES

SUPPORTED = ("orders", "order_items", "accounts", "consents", "reviews", "referrals", "campaign_spend", "touchpoints")
SEEN_AT = ("created_at", "first_seen_at", "recorded_at", "occurred_at", "shared_at", "accepted_at", "paid_at")
"""Time fields, in order of preference, used as `first_seen_at` of identifiers and accounts."""
CONSENT_STATUS = ("granted", "denied", "withdrawn")


class GenericMapped(Adapter):
    name = "generic"
    source = "generic"
    description = "Any CSV with a YAML mapping (--mapping FILE)"

    def read(self, raw: RawTable, ctx: ReadContext) -> Batch:
        target, fields, identifiers, defaults = plan(ctx.mapping, raw.columns)
        source = str(ctx.source or ctx.mapping.get("source"))
        c = Columns(raw, {f: (h,) for f, h in (fields | identifiers).items()})
        lines = lines_array(raw)
        p = Problems(raw.num_rows)
        required = required_fields(target)
        values: dict[str, pa.Array] = {}
        for f in target.fields:
            if f.name not in fields and f.name not in defaults:
                continue
            text = c[f.name]
            if f.name in defaults:
                text = pc.coalesce(text, pa.scalar(str(defaults[f.name]), pa.string()))
            label = fields.get(f.name, f.name)
            parsed, bad, reason = parse_field(target, f, text, ctx.timezone, ctx.mapping.get("statuses"))
            if f.name in required:
                p.require(text, label, f"{f.name} is missing")
                p.reject(bad, label, text, reason)
            else:
                p.drop(bad, label, text, reason)
            values[f.name] = parsed
        if "source" in target.names:
            values["source"] = source
        if target.name == "consents" and "evidence" not in values:
            values["evidence"] = pc.binary_join_element_wise(
                pa.scalar(f"{raw.path}:line "), pc.cast(lines, pa.string()), "")
        seen_at = next((values[t] for t in SEEN_AT if t in values), pa.nulls(raw.num_rows, pa.timestamp("us", tz="UTC")))
        batch = Batch(problems=p, source=source)
        batch.add(target.name, landed(values, p, lines))
        if "account_key" in values and target.name != "accounts":
            batch.add("accounts", landed({"source": source, "account_key": values["account_key"],
                                          "first_seen_at": seen_at}, p, lines))
        for id_type, header in identifiers.items():
            batch.add("identifiers", identifier_rows(
                ctx, p, source=source, account_key=values["account_key"], id_type=id_type, values=c[id_type],
                seen_at=seen_at, lines=lines, field_name=header))
        return batch


def required_fields(target: Table) -> set[str]:
    """Key fields and fields the catalog declares non-null; `source` comes from the mapping itself."""
    return ({f.name for f in target.fields if not f.nullable} | set(target.key)) - {"source", "run_id"}


def plan(mapping: dict | None, present: dict) -> tuple[Table, dict[str, str], dict[str, str], dict]:
    """The target table and field → header maps, or an InputError saying what the mapping lacks."""
    if not mapping:
        raise InputError("the generic adapter needs a mapping: --mapping FILE (see docs/connectors.md)")
    name = mapping.get("table")
    if name not in SUPPORTED:
        raise InputError(f"mapping table {name!r} is not supported. Supported: {', '.join(SUPPORTED)}.")
    target = catalog_table(name)
    fields = _string_map(mapping.get("columns"), "columns")
    identifiers = _string_map(mapping.get("identifiers"), "identifiers")
    defaults = mapping.get("defaults") or {}
    unknown = sorted((set(fields) | set(defaults)) - set(target.names) | ({"run_id"} & set(fields)))
    if unknown:
        raise InputError(f"mapping: {name} has no field(s) {', '.join(unknown)}. Fields: {', '.join(target.names)}.")
    if "source" in target.names and not mapping.get("source"):
        raise InputError(f"mapping for {name} needs `source:` (crm, pos, …)")
    fields.pop("source", None)
    missing = sorted(required_fields(target) - set(fields) - set(defaults))
    if missing:
        raise InputError(f"mapping for {name} does not map required field(s): {', '.join(missing)}")
    statuses = _string_map(mapping.get("statuses"), "statuses")
    if statuses and name != "orders":
        raise InputError(f"mapping: `statuses:` maps order statuses; {name} has none")
    wrong = sorted(set(statuses.values()) - set(ORDER_STATUSES))
    if wrong:
        raise InputError(f"mapping: statuses {', '.join(wrong)} are not order statuses. "
                         f"Use: {', '.join(ORDER_STATUSES)}.")
    if identifiers and "account_key" not in target.names:
        raise InputError(f"mapping: identifiers need a table with account_key; {name} has none")
    absent = [h for h in list(fields.values()) + list(identifiers.values()) if clean_header(h) not in present]
    if absent:
        raise InputError(f"mapped column(s) not in the file: {', '.join(absent)}")
    return target, fields, identifiers, defaults


def _string_map(section, label: str) -> dict[str, str]:
    if section is None:
        return {}
    if not isinstance(section, dict):
        raise InputError(f"mapping: `{label}:` must map names to headers")
    return {str(k): str(v) for k, v in section.items()}


def parse_field(target: Table, f: Field, text: pa.Array, tz: str,
                statuses: dict | None = None) -> tuple[pa.Array, np.ndarray, str]:
    """The values of one catalog field from text, the mask of unparseable ones and the reason."""
    if f.name.endswith("_cents"):
        return (*parse_money(text), "not an amount of money")
    if f.type == TS:
        return (*parse_time(text, tz), "unparseable date-time")
    if f.type == "date":
        at, bad = parse_time(text, tz)
        return local_day(at, tz), bad, "unparseable date"
    if f.type == "int64":
        return (*parse_int(text), "not a whole number")
    if f.type == "boolean":
        answer = yes_no(text)
        return pc.equal(answer, "granted"), np.asarray(pc.and_(pc.is_valid(text), pc.is_null(answer))), "not yes or no"
    if target.name == "consents" and f.name == "status":
        lowered = pc.utf8_lower(text)
        status = pc.if_else(pc.is_in(lowered, value_set=pa.array(CONSENT_STATUS)), lowered, yes_no(text))
        return status, np.asarray(pc.and_(pc.is_valid(text), pc.is_null(status))), "not granted, denied or withdrawn"
    if target.name == "orders" and f.name == "status":
        words = {str(k): v for k, v in (statuses or {}).items()} | {s: s for s in ORDER_STATUSES}
        known = pa.array(list(words), pa.string())
        lowered = pc.utf8_lower(pc.utf8_trim_whitespace(text))
        index = pc.coalesce(pc.index_in(pc.utf8_trim_whitespace(text), value_set=known),
                            pc.index_in(lowered, value_set=known))
        status = pc.take(pa.array(list(words.values()), pa.string()), index)
        return status, np.asarray(pc.and_(pc.is_valid(text), pc.is_null(status))), \
            f"not an order status ({', '.join(ORDER_STATUSES)}; map other words with `statuses:`)"
    return text, np.zeros(len(text), bool), ""
