"""Shared pieces of the order-export adapters: order and item rows, receivers, regions, consents.

Marketplace exports differ in headers and status words but agree on the shape: an order id, a
buyer account, a receiver, money, times and lines. These helpers build the canonical rows from
role columns so each adapter only states its own vocabulary.
"""

from __future__ import annotations

import re
import unicodedata

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from flywheel.collect.adapters.base import (
    Batch,
    Columns,
    ReadContext,
    contiguous,
    fill_within,
    identifier_rows,
)
from flywheel.collect.values import Problems, map_values
from flywheel.identifiers import (
    InvalidIdentifier,
    map_distinct,
    mask_value,
    normalize_address,
    normalize_name,
    normalize_phone,
)
from flywheel.warehouse import LINE

_MUNICIPALITIES = ("北京", "天津", "上海", "重庆")
_PROVINCE = re.compile(r"^(?P<province>.+?(?:省|自治区|特别行政区))(?P<city>.+?(?:市|自治州|地区|盟))?(?P<district>.+?(?:区|县|市|旗))?")
_CITY_DISTRICT = re.compile(r"^(?P<district>.+?(?:区|县))")


def positions_within(keys: pa.Array) -> pa.Array:
    """1-based position of each row among the rows with the same key, in file order."""
    codes = np.asarray(pc.dictionary_encode(keys).indices.fill_null(-1))
    order = np.argsort(codes, kind="stable")
    sorted_codes = codes[order]
    starts = np.flatnonzero(np.r_[True, sorted_codes[1:] != sorted_codes[:-1]])
    run_start = np.repeat(starts, np.diff(np.r_[starts, len(codes)]))
    pos = np.empty(len(codes), dtype=np.int64)
    pos[order] = np.arange(len(codes)) - run_start + 1
    return pc.cast(pa.array(pos), pa.string())


def sum_within(keys: pa.Array, values: pa.Array) -> pa.Array:
    """Sum of `values` over rows sharing a key, spread back to every row."""
    t = pa.table({"k": keys, "v": values})
    sums = t.group_by("k", use_threads=False).aggregate([("v", "sum")])
    return contiguous(pc.take(sums.column("v_sum"), pc.index_in(keys, value_set=sums.column("k"))))


def split_region(address: pa.Array) -> tuple[pa.Array, pa.Array, pa.Array]:
    """Province, city and district from a Chinese address (`浙江省 杭州市 西湖区 …`)."""
    def parts(text: str) -> tuple[str | None, str | None, str | None]:
        pieces = text.split()
        if len(pieces) >= 3 and (_PROVINCE.match(pieces[0]) or pieces[0].rstrip("市") in _MUNICIPALITIES):
            province = pieces[0] + ("市" if pieces[0] in _MUNICIPALITIES else "")
            return province, pieces[1], pieces[2]
        compact = text.replace(" ", "")
        for city in _MUNICIPALITIES:
            if compact.startswith(city):
                rest = compact[len(city):].lstrip("市")
                if rest.startswith(city):
                    rest = rest[len(city):].lstrip("市")
                district = _CITY_DISTRICT.match(rest)
                return city + "市", city + "市", district.group("district") if district else None
        m = _PROVINCE.match(compact)
        if not m:
            return None, None, None
        return m.group("province"), m.group("city"), m.group("district")

    encoded = pc.dictionary_encode(contiguous(address))
    found = [parts(unicodedata.normalize("NFKC", v)) for v in encoded.dictionary.to_pylist()]
    return tuple(pa.array([f[i] for f in found], pa.string()).take(encoded.indices) for i in range(3))


def receiver_columns(ctx: ReadContext, problems: Problems, name: pa.Array, phone: pa.Array,
                     address: pa.Array, phone_field: str) -> dict[str, pa.Array]:
    """Receiver name (normalised), phone hash + mask (full or marketplace-masked) and address hash."""
    encoded = pc.dictionary_encode(contiguous(phone))
    hashes, masks, reasons = [], [], []
    for v in encoded.dictionary.to_pylist():
        try:
            p = normalize_phone(v)
            hashes.append(ctx.hasher.hash(p.id_type, p.value))
            masks.append(mask_value(p.value, p.id_type))
            reasons.append(None)
        except InvalidIdentifier as e:
            hashes.append(None), masks.append(None), reasons.append(str(e))
    reason = pa.array(reasons, pa.string()).take(encoded.indices)
    for why in {r for r in reasons if r}:
        problems.drop(np.asarray(pc.equal(reason, why).fill_null(False)), phone_field, phone, why, personal="phone")
    return {
        "receiver_name": map_distinct(name, normalize_name),
        "receiver_phone_hash": pa.array(hashes, pa.string()).take(encoded.indices),
        "receiver_phone_masked": pa.array(masks, pa.string()).take(encoded.indices),
        "receiver_address_hash": map_distinct(address, lambda a: ctx.hasher.hash("address", normalize_address(a))),
    }


def landed(table: dict[str, pa.Array], problems: Problems, lines: pa.Array, extra_mask: np.ndarray | None = None) -> pa.Table:
    """The rows of `table` whose input row was not rejected (and `extra_mask`, if given)."""
    ok = ~problems.rejected
    if extra_mask is not None:
        ok &= extra_mask
    everything = bool(ok.all())
    idx = None if everything else pa.array(np.flatnonzero(ok), pa.int64())
    n = len(ok) if everything else len(idx)

    def pick(v):
        if not isinstance(v, (pa.Array, pa.ChunkedArray)):
            return pa.array([v] * n)
        return v if everything else v.take(idx)

    cols = {k: pick(v) for k, v in table.items()}
    cols[LINE] = pick(lines)
    return pa.table(cols)


def consent_rows(account_key: pa.Array, source: str, purpose: str, status: pa.Array, recorded_at: pa.Array,
                 lines: pa.Array, file: str, problems: Problems, legal_basis: str = "consent") -> pa.Table:
    present = np.asarray(pc.is_valid(status)) & np.asarray(pc.is_valid(recorded_at))
    evidence = pc.binary_join_element_wise(pa.scalar(f"{file}:line "), pc.cast(lines, pa.string()), "")
    return landed({
        "source": source, "account_key": account_key, "purpose": purpose, "status": status,
        "legal_basis": legal_basis, "recorded_at": recorded_at, "evidence": evidence,
    }, problems, lines, present)


def yes_no(values: pa.Array) -> pa.Array:
    lowered = pc.utf8_lower(values)
    yes = pc.is_in(lowered, value_set=pa.array(["yes", "true", "1", "y", "是", "subscribed"]))
    no = pc.is_in(lowered, value_set=pa.array(["no", "false", "0", "n", "否", "unsubscribed", "not_subscribed"]))
    return pc.if_else(yes, pa.scalar("granted"), pc.if_else(no, pa.scalar("denied"), pa.scalar(None, pa.string())))


_MULTI_SEPARATORS = re.compile(r"[,;|，；｜、]")


def split_values(values: pa.Array) -> list[pa.Array]:
    """A multi-valued cell (`138…,139…|137…`) as one column per position, null where a row has fewer.

    Positional columns keep one value per input row, so `identifier_rows` and quarantine still name
    the row's line for every value.
    """
    encoded = pc.dictionary_encode(contiguous(values))
    parts = [[p.strip() for p in _MULTI_SEPARATORS.split(v) if p.strip()] for v in encoded.dictionary.to_pylist()]
    width = max((len(p) for p in parts), default=0)
    return [pa.array([p[k] if k < len(p) else None for p in parts], pa.string()).take(encoded.indices)
            for k in range(width)]


def join_values(values: pa.Array, separator: str = "|") -> pa.Array:
    """A multi-valued cell re-joined with one separator (`老客户,宝妈` → `老客户|宝妈`)."""
    return map_distinct(values, lambda v: separator.join(p.strip() for p in _MULTI_SEPARATORS.split(v) if p.strip()) or None)


def local_day(instants: pa.Array, timezone: str) -> pa.Array:
    """The calendar day of each UTC instant in the merchant's time zone."""
    local = pc.local_timestamp(pc.cast(instants, pa.timestamp("us", tz=timezone)))
    return pc.cast(local, pa.date32())


def by_vocabulary(values: pa.Array, mapping: dict[str, str]) -> tuple[pa.Array, np.ndarray]:
    """`map_values` after NFKC on both sides: exports alternate full- and half-width punctuation
    (`卖家已发货，等待买家确认` / `卖家已发货,等待买家确认`)."""
    folded = {unicodedata.normalize("NFKC", k): v for k, v in mapping.items()}
    return map_values(pc.utf8_normalize(contiguous(values), form="NFKC"), folded)


def landing_only(values: pa.Array, problems: Problems) -> pa.Array:
    """`values` with the rows that will not land set to null, so per-order sums count landing lines only."""
    return contiguous(pc.if_else(pa.array(~problems.rejected), values, pa.scalar(None, values.type)))


def unmasked(values: pa.Array) -> pa.Array:
    """Values the platform masked (any `*`) become null: `浦东新区 ****` is no evidence of an address."""
    masked = pc.match_substring(contiguous(values), "*").fill_null(False)
    return contiguous(pc.if_else(masked, pa.scalar(None, pa.string()), values))


def refund_status(status: pa.Array, paid_cents: pa.Array, refund_cents: pa.Array) -> pa.Array:
    """Paid, shipped, completed or closed orders with money given back: `refunded` when the refund
    covers the paid amount, `partially_refunded` when it covers part of it; others unchanged."""
    refundable = pc.is_in(status, value_set=pa.array(["paid", "shipped", "completed", "cancelled"]))
    has_refund = pc.and_(refundable, pc.greater(refund_cents, 0)).fill_null(False)
    whole = pc.greater_equal(refund_cents, paid_cents).fill_null(True)
    upgraded = pc.if_else(whole, pa.scalar("refunded"), pa.scalar("partially_refunded"))
    return contiguous(pc.if_else(has_refund, upgraded, status))


def count_within(keys: pa.Array) -> pa.Array:
    """Number of rows sharing each row's key (1 for a single-line order)."""
    return sum_within(keys, pa.array(np.ones(len(keys), dtype=np.int64)))


def order_header(c: Columns, field: dict[str, str], p: Problems, ctx: ReadContext, order_level: tuple[str, ...],
                 status_map: dict[str, str]) -> tuple[pa.Array, dict[str, pa.Array], pa.Array, pa.Array]:
    """Order id, order-level columns filled over continuation rows, our status and the order time:
    checked the same way for every marketplace export, with the file's own header names in reasons."""
    order_id = c["order_id"]
    p.require(order_id, field["order_id"], f"order number ({field['order_id']}) is missing")
    col = {role: fill_within(order_id, c[role]) for role in order_level}
    status, bad_status = by_vocabulary(col["status"], status_map)
    p.require(col["status"], field["status"])
    p.reject(bad_status, field["status"], col["status"], f"unknown {field['status']}")
    created = p.time(col["created_at"], field["created_at"], ctx.timezone, required=True)
    return order_id, col, status, created


def buyer_rows(batch: Batch, ctx: ReadContext, p: Problems, lines: pa.Array, *, source: str | pa.Array,
               account_key: pa.Array, key_type: str | pa.Array, receiver_name: pa.Array, province: pa.Array,
               city: pa.Array, created: pa.Array, product_id: pa.Array, title: pa.Array,
               identifiers: list[tuple[str, pa.Array, str]], channel: pa.Array | None = None) -> None:
    """The rows every marketplace order export adds besides orders and lines: products, the buyer's
    account (named by the receiver, the only name these exports show) and its identifiers."""
    batch.add("products", landed({"product_id": product_id, "title": title, "first_seen_at": created},
                                 p, lines, extra_mask=np.asarray(pc.is_valid(product_id))))
    batch.add("accounts", landed({
        "source": source, "account_key": account_key, "account_key_type": key_type,
        "display_key": map_distinct(account_key, mask_value),
        "name": map_distinct(receiver_name, normalize_name),
        "name_masked": map_distinct(receiver_name, lambda v: mask_value(normalize_name(v), "name")),
        "province": province, "city": city, "channel": channel, "first_seen_at": created,
    }, p, lines))
    for id_type, values, field_name in identifiers:
        batch.add("identifiers", identifier_rows(ctx, p, source=source, account_key=account_key, id_type=id_type,
                                                 values=values, seen_at=created, lines=lines,
                                                 field_name=field_name))
