"""The field catalog: every stored field declared once, with type, meaning and sensitivity.

Masking, erasure, export and the data-model docs all read this catalog; there is no second list.
Sensitivity levels follow PRODUCT.md §5: L5 core identity, L4 direct contact identifiers, L3 social
relationship chain, L2 behaviour and preference, L1 public or aggregate.
"""

from __future__ import annotations

from dataclasses import dataclass

import ibis
import ibis.expr.datatypes as dt

from flywheel.schema.version import SCHEMA_VERSION

TS = "timestamp('UTC')"


@dataclass(frozen=True)
class Field:
    name: str
    type: str
    description: str
    level: int = 2
    nullable: bool = True
    sealed: bool = False
    """Stored encrypted with the account's data key (warehouse/sealing.py), beside a `<name>_key` hash when
    the table declares one."""

    @property
    def dtype(self) -> dt.DataType:
        return dt.dtype(self.type).copy(nullable=self.nullable)


@dataclass(frozen=True)
class Table:
    name: str
    description: str
    fields: tuple[Field, ...]
    key: tuple[str, ...] = ()

    @property
    def schema(self) -> ibis.Schema:
        return ibis.schema({f.name: f.dtype for f in self.fields})

    @property
    def names(self) -> list[str]:
        return [f.name for f in self.fields]

    def field(self, name: str) -> Field:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(f"{self.name} has no field {name!r}")


def F(name: str, type_: str, description: str, level: int = 2, nullable: bool = True,
      sealed: bool = False) -> Field:
    return Field(name, type_, description, level, nullable, sealed)


_RUN = F("run_id", "string", "ingest run that first wrote this row", 1)
_SOURCE = F("source", "string", "where the data came from: taobao, tmall, jd, douyin, wecom, shopify, web, …", 1, False)
_ACCOUNT = F("account_key", "string", "the platform's own key of the customer account (buyer nick, pin, external_userid; `h:`+hash when the platform keys customers by e-mail or phone)", 4, False)


TABLES: tuple[Table, ...] = (
    Table(
        "accounts",
        "One customer record on one platform.",
        (
            _SOURCE,
            _ACCOUNT,
            F("account_key_type", "string", "identifier type of the account key (taobao_nick, jd_pin, email, …)", 1),
            F("display_key", "string", "the account key masked for display", 2),
            F("name", "string", "customer or contact name, NFKC-normalised; sealed (AES-GCM, the account's data key)", 4,
              sealed=True),
            F("name_masked", "string", "name with all but the first character masked", 2),
            F("province", "string", "province or state of the latest address", 2),
            F("city", "string", "city of the latest address", 2),
            F("country", "string", "ISO country code when known", 2),
            F("tags", "string", "platform tags, `|`-separated (WeCom tags)", 2),
            F("owner", "string", "employee who owns the contact (WeCom follow_userid)", 2),
            F("channel", "string", "acquisition channel code (WeCom `state`, Shopify `Source`)", 2),
            F("first_seen_at", TS, "earliest time the account appears in the file that introduced it", 2),
            _RUN,
            # last: a v2 warehouse gains it by migration
            F("name_key", "string", "keyed hash of the name's comparison form (lower case, no spaces): "
              "equal names match without opening them", 4),
        ),
        ("source", "account_key"),
    ),
    Table(
        "identifiers",
        "Typed keys seen on an account: keyed hash plus masked display, never the raw value.",
        (
            _SOURCE,
            _ACCOUNT,
            F("id_type", "string", "identifier type: phone, phone_masked, email, wechat_unionid, taobao_nick, …", 1, False),
            F("id_hash", "string", "HMAC-SHA256 of the normalised value under the merchant's key (hex)", 4, False),
            F("id_masked", "string", "masked display value (138****1234, z***@example.com)", 2),
            F("is_partial", "boolean", "true for partial evidence such as a marketplace-masked phone", 1),
            F("first_seen_at", TS, "earliest observation in the file that introduced it", 2),
            _RUN,
        ),
        ("source", "account_key", "id_type", "id_hash"),
    ),
    Table(
        "contact_points",
        "Addresses a channel can reach (e-mail, phone, WeCom external contact, WeChat openid) seen on an "
        "account: the value sealed beside the keyed hash `identifiers` holds. A person's address on a "
        "channel is the one seen last on any of their accounts (flywheel.privacy.contact_points).",
        (
            _SOURCE,
            _ACCOUNT,
            F("id_type", "string", "email, phone, wecom_external_userid or wechat_openid (schema/contacts.py)", 1, False),
            F("id_hash", "string", "keyed hash of the normalised value, the same as the identifier's", 4, False),
            F("value", "string", "the normalised address (phones in E.164, e-mails in lower case); sealed "
              "(AES-GCM, the account's data key)", 4, sealed=True),
            F("value_masked", "string", "the address masked for display (138****1234, z***@example.com)", 2),
            F("first_seen_at", TS, "earliest time an export showed it on the account (order, event or contact time)", 2),
            F("last_seen_at", TS, "latest such time; files may arrive in any order", 2),
            F("run_id", "string", "ingest run that last wrote the row", 1),
        ),
        ("source", "account_key", "id_type", "id_hash"),
    ),
    Table(
        "orders",
        "A purchase. GMV is the paid amount; net is paid minus refunds.",
        (
            _SOURCE,
            F("order_id", "string", "order number as it appears in the source export", 2, False),
            _ACCOUNT,
            F("status", "string", "pending, paid, shipped, completed, cancelled, refunded, partially_refunded", 2, False),
            F("status_raw", "string", "the platform's own status text", 2),
            F("created_at", TS, "order time", 2, False),
            F("paid_at", TS, "payment time", 2),
            F("currency", "string", "ISO currency code", 1),
            F("paid_cents", "int64", "order total payable, in cents; GMV counts it for paid, shipped, completed and (partially) refunded orders", 2, False),
            F("discount_cents", "int64", "discounts granted, in cents", 2),
            F("discount_code", "string", "discount code the buyer entered (Shopify's Discount Code); a coupon a "
              "journey issued is redeemed by the order carrying its code", 2),
            F("shipping_cents", "int64", "shipping charged, in cents", 2),
            F("refund_cents", "int64", "amount refunded, in cents", 2),
            F("receiver_name", "string", "receiver name, NFKC-normalised; sealed (AES-GCM, the account's data key)", 4,
              sealed=True),
            F("receiver_phone_hash", "string", "keyed hash of the receiver phone (full or masked form)", 4),
            F("receiver_phone_masked", "string", "receiver phone masked (138****1234)", 2),
            F("receiver_address_hash", "string", "keyed hash of the normalised full address", 5),
            F("province", "string", "receiver province", 2),
            F("city", "string", "receiver city", 2),
            F("district", "string", "receiver district", 2),
            F("channel", "string", "traffic source of the order (直播, 搜索, web, pos, …)", 2),
            F("influencer_id", "string", "influencer (达人) who sold the order", 3),
            F("store", "string", "store or shop name", 1),
            _RUN,
            F("receiver_name_key", "string", "keyed hash of the receiver name's comparison form", 4),
        ),
        ("source", "order_id"),
    ),
    Table(
        "order_items",
        "A line of an order.",
        (
            _SOURCE,
            F("order_id", "string", "order number as in the export", 2, False),
            F("item_id", "string", "line id (sub-order number, or the line's position)", 2, False),
            F("product_id", "string", "product id or SKU", 1),
            F("title", "string", "product title as sold", 1),
            F("quantity", "int64", "units", 2),
            F("unit_price_cents", "int64", "list unit price, in cents", 1),
            F("paid_cents", "int64", "amount paid for the line, in cents", 2),
            F("refunded", "boolean", "the line was refunded", 2),
            _RUN,
        ),
        ("source", "order_id", "item_id"),
    ),
    Table(
        "products",
        "The catalogue as seen in orders.",
        (
            F("product_id", "string", "product id, SKU, or title when neither exists", 1, False),
            F("title", "string", "product title", 1),
            F("category", "string", "category when known", 1),
            F("first_seen_at", TS, "first time sold", 1),
            _RUN,
        ),
        ("product_id",),
    ),
    Table(
        "events",
        "Behaviour records in Segment spec form.",
        (
            F("message_id", "string", "Segment messageId, unique across sources", 2, False),
            F("type", "string", "track, identify, page, screen, group or alias", 2, False),
            F("event", "string", "track event name", 2),
            F("name", "string", "page or screen name", 2),
            F("user_id", "string", "Segment userId", 4),
            F("anonymous_id", "string", "Segment anonymousId (cookie or device)", 4),
            F("group_id", "string", "group call groupId", 2),
            F("previous_id", "string", "alias call previousId", 4),
            F("source", "string", "collecting source (web, miniprogram, app)", 1),
            F("timestamp", TS, "when it happened, corrected for client clock skew", 2),
            F("original_timestamp", TS, "client-side time as sent", 2),
            F("sent_at", TS, "when the client sent it", 2),
            F("received_at", TS, "when Flywheel received it", 2),
            F("properties", "string", "track/page properties as JSON", 2),
            F("traits", "string", "identify/group traits as JSON, contact fields removed", 2),
            F("context", "string", "context object as JSON, contact fields removed", 2),
            _RUN,
            # last: a v1 warehouse gains it by migration (ADD COLUMN appends), same column order
            F("extra", "string", "other top-level fields as sent (integrations, category, …) as JSON, "
              "contact fields removed", 2),
        ),
        ("message_id",),
    ),
    Table(
        "touchpoints",
        "A marketing contact on a path to purchase.",
        (
            F("touchpoint_id", "string", "the event's messageId or the source's own id", 2, False),
            F("user_id", "string", "userId of the person touched", 4),
            F("anonymous_id", "string", "anonymousId of the person touched", 4),
            F("channel", "string", "utm source / medium, e.g. douyin_ads / cpc", 2),
            F("campaign_id", "string", "campaign name or id", 2),
            F("medium", "string", "utm medium", 2),
            F("occurred_at", TS, "time of the contact", 2, False),
            _RUN,
        ),
        ("touchpoint_id",),
    ),
    Table(
        "campaigns",
        "A marketing campaign on a channel.",
        (
            F("campaign_id", "string", "campaign id as on the ad platform", 1, False),
            F("channel", "string", "channel", 1),
            F("name", "string", "campaign name", 1),
            F("first_day", "date", "first day with spend", 1),
            _RUN,
        ),
        ("campaign_id",),
    ),
    Table(
        "campaign_spend",
        "Daily spend per campaign.",
        (
            F("campaign_id", "string", "campaign id", 1, False),
            F("day", "date", "day (merchant time zone)", 1, False),
            F("channel", "string", "channel", 1),
            F("spend_cents", "int64", "spend, in cents", 1, False),
            F("impressions", "int64", "impressions", 1),
            F("clicks", "int64", "clicks", 1),
            _RUN,
        ),
        ("campaign_id", "day"),
    ),
    Table(
        "referrals",
        "Referral shares and the invites they brought (fission).",
        (
            F("share_id", "string", "share link id", 3, False),
            F("sharer_user_id", "string", "userId of the person who shared", 3),
            F("invitee_user_id", "string", "userId or anonymousId of the invitee (null for a share with no acceptance yet)", 3),
            F("channel", "string", "where it was shared (wechat_moments, wechat_group, …)", 2),
            F("shared_at", TS, "time of the share", 2),
            F("accepted_at", TS, "time of acceptance", 2),
            F("message_id", "string", "event that recorded it", 2, False),
            _RUN,
        ),
        ("message_id",),
    ),
    Table(
        "reviews",
        "UGC reviews.",
        (
            F("message_id", "string", "event that recorded it", 2, False),
            F("user_id", "string", "userId of the reviewer", 4),
            F("anonymous_id", "string", "anonymousId of the reviewer", 4),
            F("order_id", "string", "reviewed order", 2),
            F("rating", "int64", "stars 1–5", 2),
            F("has_media", "boolean", "photos or video attached", 2),
            F("length", "int64", "characters of text", 2),
            F("created_at", TS, "time written", 2),
            _RUN,
        ),
        ("message_id",),
    ),
    Table(
        "consents",
        "Consent records per account and purpose, as evidenced by a source.",
        (
            _SOURCE,
            _ACCOUNT,
            F("purpose", "string", "marketing_sms, marketing_email, wecom_outreach, personalization, …", 1, False),
            F("status", "string", "granted, denied or withdrawn", 2, False),
            F("legal_basis", "string", "consent, contract, legitimate_interest, …", 1),
            F("notice_version", "string", "privacy notice version shown", 1),
            F("recorded_at", TS, "when the choice was made", 2, False),
            F("evidence", "string", "where it was seen: file and line, or event id", 2),
            _RUN,
        ),
        ("source", "account_key", "purpose", "recorded_at"),
    ),
    Table(
        "person_accounts",
        "Which person each account belongs to: the one mapping every capability reads (written by identity resolution).",
        (
            _SOURCE,
            _ACCOUNT,
            F("person_id", "string", "stable person id; kept by the older person when two merge", 2, False),
            F("linked_by", "string", "what put the account in the person: deterministic, probabilistic, override or singleton", 1),
            F("linked_at", TS, "when the account joined this person", 1),
        ),
        ("source", "account_key"),
    ),
    Table(
        "persons",
        "One human across platforms, as identity resolution sees them.",
        (
            F("person_id", "string", "stable person id", 2, False),
            F("created_at", TS, "when the person was first resolved", 1, False),
            F("status", "string", "active, or merged when a later link folded it into another person", 1, False),
            F("merged_into", "string", "the person that absorbed this one", 2),
            F("updated_at", TS, "last status change", 1),
        ),
        ("person_id",),
    ),
    Table(
        "identity_links",
        "Evidence that joined accounts: one row per identifier (or match) that linked two or more accounts.",
        (
            F("resolution_id", "string", "identity run that decided it", 1, False),
            F("person_id", "string", "person the link belongs to", 2),
            F("rule", "string", "deterministic rule (shared identifier type), probabilistic or override", 1, False),
            F("id_type", "string", "identifier type shared, or match / override", 1),
            F("id_hash", "string", "keyed hash of the shared identifier (the pair's key for matches)", 4),
            F("id_masked", "string", "masked display of the shared identifier", 2),
            F("accounts", "int64", "accounts that carry the identifier", 1),
            F("match_weight", "float64", "Fellegi–Sunter match weight (log2 Bayes factor) for probabilistic links", 1),
            F("evidence", "string", "JSON: sources, first seen, comparison levels for matches", 2),
            F("decided_at", TS, "when it was decided", 1),
        ),
        (),
    ),
    Table(
        "identity_refusals",
        "Identifiers that would have joined accounts and were refused, with the reason.",
        (
            F("resolution_id", "string", "identity run that refused it", 1, False),
            F("id_type", "string", "identifier type", 1, False),
            F("id_hash", "string", "keyed hash of the identifier", 4, False),
            F("id_masked", "string", "masked display", 2),
            F("reason", "string", "high_degree, limit, never_link, blocked or transitive_limit", 1, False),
            F("detail", "string", "human-readable explanation (which limit, how many persons)", 1),
            F("persons", "int64", "separate persons the identifier touched", 1),
            F("accounts", "int64", "accounts carrying the identifier", 1),
            F("decided_at", TS, "when it was refused", 1),
        ),
        (),
    ),
    Table(
        "identity_overrides",
        "Manual decisions that win over the rules: merge two accounts' persons, or never link them.",
        (
            F("override_id", "string", "id of the decision", 1, False),
            F("kind", "string", "merge or never_link", 1, False),
            F("left_source", "string", "source of the first account", 1, False),
            F("left_account_key", "string", "account key of the first account", 4, False),
            F("right_source", "string", "source of the second account", 1, False),
            F("right_account_key", "string", "account key of the second account", 4, False),
            F("actor", "string", "who decided", 2),
            F("note", "string", "why", 2),
            F("created_at", TS, "when", 1, False),
        ),
        ("override_id",),
    ),
    Table(
        "identity_events",
        "History of persons: merges of two persons, splits and manual overrides.",
        (
            F("event_id", "string", "event id", 1, False),
            F("kind", "string", "merge, split, override_merge, override_never_link", 1, False),
            F("person_id", "string", "the person kept (merge) or split", 2, False),
            F("other_person_id", "string", "the person absorbed (merge) or created (split)", 2),
            F("resolution_id", "string", "identity run, for automatic events", 1),
            F("actor", "string", "who, for manual events", 2),
            F("detail", "string", "what happened, in words", 2),
            F("occurred_at", TS, "when", 1, False),
        ),
        ("event_id",),
    ),
    Table(
        "identity_runs",
        "One record per identity resolution run.",
        (
            F("resolution_id", "string", "run id", 1, False),
            F("mode", "string", "full or incremental", 1, False),
            F("started_at", TS, "start", 1, False),
            F("finished_at", TS, "end", 1),
            F("accounts", "int64", "accounts placed", 1),
            F("persons", "int64", "active persons after the run", 1),
            F("new_persons", "int64", "persons created", 1),
            F("merges", "int64", "persons folded into older ones", 1),
            F("links", "int64", "identifiers that linked accounts", 1),
            F("refusals", "int64", "identifiers refused", 1),
            F("probabilistic_links", "int64", "account pairs linked by the match model", 1),
            # last: a v3 warehouse gains it by migration
            F("notes", "string", "what the run skipped or gave up on, as a JSON list of sentences "
              "(an EM session that degenerated, a rule left unused)", 1),
        ),
        ("resolution_id",),
    ),
    Table(
        "account_keys",
        "Per-account salts from which, with the master key, each account's data key is derived. "
        "Deleting an account's salt makes every sealed value of it unreadable.",
        (
            _SOURCE,
            _ACCOUNT,
            F("salt", "string", "random 16 bytes (hex)", 5, False),
            F("created_at", TS, "when", 1, False),
        ),
        ("source", "account_key"),
    ),
    Table(
        "subject_keys",
        "Per-person data keys, wrapped (AES-GCM) by the merchant's master key. Records about a person in "
        "append-only stores (the audit log) are sealed with the person's key; erasure destroys it.",
        (
            F("person_id", "string", "person the key belongs to", 2, False),
            F("wrapped_key", "string", "the data key encrypted under the master key (hex nonce + ciphertext)", 5, False),
            F("created_at", TS, "when the key was made", 1, False),
        ),
        ("person_id",),
    ),
    Table(
        "suppressions",
        "Keyed hashes of an erased person's accounts and identifiers, so new data carrying them is not "
        "silently loaded and re-linked. The hashes use their own key derivation: they match none of "
        "the identifier hashes stored elsewhere.",
        (
            F("token", "string", "HMAC of kind and value under the suppression key (hex)", 4, False),
            F("kind", "string", "account, user_id, anonymous_id or identifier", 1, False),
            F("erasure_id", "string", "erasure that wrote it", 1, False),
            F("created_at", TS, "when", 1, False),
        ),
        ("token",),
    ),
    Table(
        "erasures",
        "One record per data-subject erasure: what was removed, in counts only.",
        (
            F("erasure_id", "string", "erasure id (the audit log refers to it)", 1, False),
            F("erased_at", TS, "when", 1, False),
            F("actor", "string", "who erased", 2),
            F("role", "string", "role they acted in", 1),
            F("accounts", "int64", "accounts removed", 1),
            F("rows_removed", "int64", "rows deleted across all tables", 1),
            F("rows_anonymised", "int64", "rows kept with the person's ids removed (another person's events)", 1),
            F("detail", "string", "JSON: rows removed and anonymised per table", 1),
        ),
        ("erasure_id",),
    ),
    Table(
        "quarantine",
        "Rejected rows and dropped values, with the reason; nothing is silently dropped.",
        (
            F("run_id", "string", "ingest run", 1, False),
            F("file", "string", "file path", 1, False),
            F("line", "int64", "line number in the file (1 = header)", 1),
            F("field", "string", "offending column or field", 1),
            F("value", "string", "offending value, masked when the field is personal", 2),
            F("reason", "string", "why it was rejected", 1, False),
            F("action", "string", "row_rejected (the row did not land) or value_dropped (the row landed without it)", 1, False),
        ),
        (),
    ),
    Table(
        "contact_refills",
        "Files applied before contact points were kept (schema v5). Their raw contacts are gone from the "
        "warehouse; ingesting such a file again reads it once more for its contact points only.",
        (
            F("run_id", "string", "the ingest run that applied the file", 1, False),
            F("file_sha256", "string", "checksum of the file bytes", 1, False),
            F("adapter", "string", "how the file was read (as in ingest_runs)", 1),
            F("noted_at", TS, "when the migration noted the file", 1),
            F("refilled_at", TS, "when a re-ingest filled its contact points (null: not yet)", 1),
            F("contact_points", "int64", "contact points the refill wrote or moved forward", 1),
        ),
        ("run_id",),
    ),
    Table(
        "ingest_runs",
        "Lineage: one record per file applied.",
        (
            F("run_id", "string", "run id", 1, False),
            F("path", "string", "file path", 1, False),
            F("file_sha256", "string", "checksum of the file bytes", 1, False),
            F("source", "string", "source the rows were attributed to", 1),
            F("adapter", "string", "adapter that read it, with the source override and a hash of the --mapping used", 1),
            F("started_at", TS, "start", 1),
            F("finished_at", TS, "end", 1),
            F("rows", "int64", "input rows", 1),
            F("loaded", "int64", "rows that added new records", 1),
            F("updated", "int64", "rows that moved a known order forward (shipped, refunded, …)", 1),
            F("duplicates", "int64", "rows already present", 1),
            F("quarantined", "int64", "rows rejected", 1),
        ),
        ("run_id",),
    ),
)


def _trait(name: str, type_: str, description: str, level: int = 2) -> Field:
    return Field(name, type_, description, level)


_D, _M, _N, _S, _B, _R = "float64", "float64", "int64", "string", "boolean", "float64"
"""Trait types: days, money (yuan), counts, text, flags, ratios (0–1)."""

PERSON_TRAITS: tuple[Field, ...] = (
    # purchases (GMV orders: paid, shipped, completed, refunded, partially refunded; up to the as-of time)
    _trait("orders_placed", _N, "orders of any status, including pending and cancelled"),
    _trait("orders", _N, "GMV orders (paid, shipped, completed, refunded or partially refunded)"),
    _trait("orders_cancelled", _N, "orders cancelled before payment or fulfilment"),
    _trait("orders_refunded", _N, "GMV orders refunded in full or in part"),
    _trait("purchase_days", _N, "distinct calendar days (merchant time zone) with a GMV order"),
    _trait("repeat_purchase_days", _N, "purchase days after the first: the BTYD frequency"),
    _trait("is_repeat_buyer", _B, "bought on two or more calendar days"),
    _trait("gmv", _M, "paid amount of GMV orders, gross of refunds (monetary value)"),
    _trait("refunds", _M, "amount refunded on GMV orders"),
    _trait("net_value", _M, "GMV minus refunds (monetary value net of refunds)"),
    _trait("aov", _M, "average order value: GMV / GMV orders"),
    _trait("aov_net", _M, "average order value net of refunds"),
    _trait("max_order_value", _M, "largest paid amount of one GMV order"),
    _trait("min_order_value", _M, "smallest paid amount of one GMV order"),
    _trait("order_value_stddev", _M, "sample standard deviation of order values (null below two orders)"),
    _trait("first_order_at", TS, "time of the first GMV order"),
    _trait("last_order_at", TS, "time of the latest GMV order"),
    _trait("days_since_first_order", _D, "days from the first GMV order to the as-of time"),
    _trait("recency_days", _D, "days from the latest GMV order to the as-of time (R of RFM)"),
    _trait("first_order_source", _S, "source of the first GMV order"),
    _trait("last_order_source", _S, "source of the latest GMV order"),
    _trait("orders_30d", _N, "GMV orders in the 30 days up to the as-of time"),
    _trait("orders_60d", _N, "GMV orders in the 60 days up to the as-of time"),
    _trait("orders_90d", _N, "GMV orders in the 90 days up to the as-of time"),
    _trait("orders_180d", _N, "GMV orders in the 180 days up to the as-of time"),
    _trait("orders_365d", _N, "GMV orders in the 365 days up to the as-of time"),
    _trait("gmv_30d", _M, "GMV of orders in the last 30 days"),
    _trait("gmv_60d", _M, "GMV of orders in the last 60 days"),
    _trait("gmv_90d", _M, "GMV of orders in the last 90 days"),
    _trait("gmv_180d", _M, "GMV of orders in the last 180 days"),
    _trait("gmv_365d", _M, "GMV of orders in the last 365 days"),
    _trait("net_value_365d", _M, "GMV minus refunds of orders in the last 365 days"),
    _trait("aov_30d", _M, "average order value of the last 30 days"),
    _trait("aov_90d", _M, "average order value of the last 90 days"),
    _trait("aov_365d", _M, "average order value of the last 365 days"),
    _trait("discount_total", _M, "discounts granted on GMV orders"),
    _trait("discounted_orders", _N, "GMV orders that carried a discount or coupon"),
    _trait("discounted_order_share", _R, "share of GMV orders with a discount or coupon (price sensitivity)"),
    _trait("discount_rate", _R, "discount / (GMV + discount): how much of list value was given away"),
    _trait("shipping_total", _M, "shipping charged on GMV orders"),
    _trait("free_shipping_share", _R, "share of GMV orders with known shipping that shipped free"),
    _trait("refund_rate", _R, "refunded orders / GMV orders"),
    _trait("refund_value_rate", _R, "refunds / GMV"),
    _trait("preferred_source", _S, "source with the most GMV orders (ties: alphabetical)"),
    _trait("preferred_source_share", _R, "share of GMV orders on the preferred source"),
    _trait("sources_bought", _N, "distinct sources with a GMV order"),
    _trait("orders_taobao", _N, "GMV orders on Taobao"),
    _trait("orders_tmall", _N, "GMV orders on Tmall"),
    _trait("orders_jd", _N, "GMV orders on JD"),
    _trait("orders_douyin", _N, "GMV orders on Douyin"),
    _trait("orders_shopify", _N, "GMV orders in the own web shop (Shopify)"),
    _trait("marketplace_order_share", _R, "share of GMV orders on marketplaces (Taobao, Tmall, JD, Douyin)"),
    _trait("preferred_channel", _S, "traffic channel of the most GMV orders (直播, 短视频, web, …)"),
    _trait("livestream_order_share", _R, "share of GMV orders sold in a live stream (直播)"),
    _trait("influencer_orders", _N, "GMV orders sold by an influencer (达人)"),
    _trait("preferred_weekday", _N, "weekday of the most GMV orders, merchant time (0 = Monday … 6 = Sunday)"),
    _trait("weekend_order_share", _R, "share of GMV orders placed on Saturday or Sunday"),
    _trait("preferred_hour", _N, "hour of day of the most GMV orders, merchant time (0–23)"),
    _trait("preferred_daypart", _S, "night (0–6), morning (6–12), afternoon (12–18) or evening (18–24) of the most orders"),
    _trait("night_order_share", _R, "share of GMV orders placed between midnight and 6 am"),
    _trait("mean_interpurchase_days", _D, "mean days between consecutive purchase days"),
    _trait("min_interpurchase_days", _D, "shortest gap between consecutive purchase days"),
    _trait("max_interpurchase_days", _D, "longest gap between consecutive purchase days"),
    _trait("stddev_interpurchase_days", _D, "sample standard deviation of the gaps between purchase days"),
    _trait("last_interpurchase_days", _D, "gap before the latest purchase day"),
    _trait("days_overdue", _D, "recency minus the mean gap: positive when the next purchase is late"),
    # order lines and products
    _trait("items_bought", _N, "units bought on GMV orders"),
    _trait("order_lines", _N, "order lines of GMV orders"),
    _trait("items_per_order", _R, "units per GMV order"),
    _trait("distinct_products", _N, "distinct products bought"),
    _trait("avg_item_price", _M, "paid amount per unit"),
    _trait("refunded_lines", _N, "order lines refunded"),
    _trait("top_product_id", _S, "product bought on the most order lines (ties: smallest id)", 1),
    _trait("top_product_title", _S, "title of the top product", 1),
    _trait("top_product_share", _R, "share of order lines that are the top product"),
    _trait("top_category", _S, "category bought on the most order lines (null when the catalogue has no categories)"),
    _trait("distinct_categories", _N, "distinct product categories bought"),
    # behaviour events and campaign touchpoints
    _trait("events", _N, "behaviour events (track, page, identify, …)"),
    _trait("page_views", _N, "page and screen events"),
    _trait("product_views", _N, "Product Viewed events"),
    _trait("cart_adds", _N, "Product Added events"),
    _trait("checkouts", _N, "Order Completed events"),
    _trait("event_days", _N, "distinct calendar days with an event"),
    _trait("events_30d", _N, "events in the last 30 days"),
    _trait("events_90d", _N, "events in the last 90 days"),
    _trait("first_event_at", TS, "time of the first event"),
    _trait("last_event_at", TS, "time of the latest event"),
    _trait("days_since_last_event", _D, "days from the latest event to the as-of time"),
    _trait("devices", _N, "distinct anonymous ids (cookies, devices) seen"),
    _trait("miniprogram_event_share", _R, "share of events from the WeChat mini-program"),
    _trait("logged_in_event_share", _R, "share of events sent while logged in (with a userId)"),
    _trait("view_to_cart_rate", _R, "cart adds / product views"),
    _trait("campaign_touches", _N, "marketing touchpoints (paid or referral landings)"),
    _trait("campaign_touches_90d", _N, "marketing touchpoints in the last 90 days"),
    _trait("touch_channels", _N, "distinct channels that touched the person"),
    _trait("first_touch_channel", _S, "channel of the first touchpoint"),
    _trait("last_touch_channel", _S, "channel of the latest touchpoint"),
    # fission (referrals) and content (reviews)
    _trait("shares_sent", _N, "referral links shared"),
    _trait("share_channels", _N, "distinct channels shared to"),
    _trait("last_share_at", TS, "time of the latest share"),
    _trait("invites_accepted", _N, "acceptances of the person's shares"),
    _trait("invitees", _N, "distinct persons who accepted the person's shares (reach)"),
    _trait("invites_converted", _N, "invitees who made a GMV order"),
    _trait("invited_gmv", _M, "GMV of the person's converted invitees"),
    _trait("share_acceptance_rate", _R, "invites accepted per share sent"),
    _trait("was_invited", _B, "accepted someone else's share"),
    _trait("reviews_written", _N, "reviews written"),
    _trait("reviews_with_media", _N, "reviews with photos or video"),
    _trait("avg_review_rating", _R, "mean stars of the person's reviews (1–5)"),
    _trait("low_rating_reviews", _N, "reviews of one or two stars"),
    _trait("review_chars", _N, "characters of review text written"),
    _trait("review_rate", _R, "reviews written per GMV order"),
    _trait("last_review_at", TS, "time of the latest review"),
    # profile: accounts, identifiers, WeCom, consent
    _trait("accounts", _N, "accounts that belong to the person"),
    _trait("account_sources", _N, "distinct sources the person has accounts on"),
    _trait("first_seen_at", TS, "earliest appearance: account first seen, first order or first event"),
    _trait("tenure_days", _D, "days from first seen to the as-of time"),
    _trait("wecom_member", _B, "has a WeCom contact (private-traffic member)"),
    _trait("wecom_joined_at", TS, "when the WeCom contact was first seen"),
    _trait("wecom_owner", _S, "employee who owns the WeCom contact"),
    _trait("wecom_channel", _S, "acquisition channel code of the WeCom contact"),
    _trait("wecom_tags", _N, "WeCom tags on the contact"),
    _trait("has_phone", _B, "a full phone number is known (hashed)"),
    _trait("has_email", _B, "an e-mail address is known (hashed)"),
    _trait("has_wechat", _B, "a WeChat unionid or openid is known (hashed)"),
    _trait("identifier_types", _N, "distinct identifier types known"),
    _trait("country", _S, "country of the most recently seen account that names one"),
    _trait("province", _S, "province of the most recently seen account that names one"),
    _trait("city", _S, "city of the most recently seen account that names one"),
    _trait("consent_marketing_sms", _S, "latest marketing SMS consent: granted, denied or withdrawn"),
    _trait("consent_marketing_email", _S, "latest marketing e-mail consent"),
    _trait("consent_wecom_outreach", _S, "latest WeCom outreach consent"),
    _trait("consent_personalization", _S, "latest personalisation consent"),
    _trait("consents_granted", _N, "purposes whose latest consent is granted"),
    # activity and lifecycle
    _trait("last_activity_at", TS, "latest order, event, share or review"),
    _trait("days_since_last_activity", _D, "days from the latest activity to the as-of time"),
    _trait("lifecycle_stage", _S, "prospect, new, active, at-risk, lapsed or won-back (see docs/traits.md)"),
)
"""Per-person traits (标签): the columns of `person_traits` after its key; expressions in flywheel.value.traits."""

TABLES += (
    Table(
        "person_traits",
        "Per-person traits of the latest scoring run, one row per person (see docs/traits.md).",
        (
            F("person_id", "string", "person (or, for an account identity resolution has not placed, `a` + a keyed hash of the account)", 2, False),
            F("as_of", TS, "the time the traits describe; windows and recency count back from it", 1, False),
            F("run_id", "string", "scoring run that wrote the row", 1, False),
        ) + PERSON_TRAITS,
        ("person_id",),
    ),
    Table(
        "value_runs",
        "One record per `flywheel value score` run: what it read, the models fitted, when.",
        (
            F("run_id", "string", "scoring run id", 1, False),
            F("as_of", TS, "as-of time of the run", 1, False),
            F("started_at", TS, "start", 1),
            F("finished_at", TS, "end", 1),
            F("engine", "string", "warehouse engine", 1),
            F("persons", "int64", "persons scored", 1),
            F("buyers", "int64", "persons with a GMV order", 1),
            F("tiers_file", "string", "tier rules used (path, or `default`) and their SHA-256", 1),
            F("settings", "string", "weights, horizon, k and other options as JSON", 1),
            F("models", "string", "fitted CLV model parameters and log-likelihoods as JSON", 1),
            F("summary", "string", "tier sizes, segment sizes, clusters and concentration as JSON", 1),
        ),
        ("run_id",),
    ),
    Table(
        "person_scores",
        "Scores of every person in every run; kept so changes between runs can raise alerts.",
        (
            F("run_id", "string", "scoring run", 1, False),
            F("person_id", "string", "person", 2, False),
            F("as_of", TS, "as-of time of the run", 1),
            F("rfm_r", "int64", "recency quintile 1–5 among buyers (5 = most recent; 0 = never bought)", 2),
            F("rfm_f", "int64", "frequency quintile 1–5 among buyers", 2),
            F("rfm_m", "int64", "net monetary quintile 1–5 among buyers", 2),
            F("rfm_segment", "string", "named RFM segment (champions, loyal, at_risk, …)", 2),
            F("tier", "string", "rule-based tier (first matching rule of the tier file)", 2),
            F("cluster", "int64", "k-means cluster number", 2),
            F("cluster_label", "string", "plain-words description of the cluster", 2),
            F("p_alive", "float64", "probability the person is still an active buyer (purchase model; MBG/NBD by default)", 2),
            F("churn_probability", "float64", "1 − p_alive", 2),
            F("expected_orders", "float64", "expected purchase days over the CLV horizon", 2),
            F("current_value", "float64", "net value of the last 365 days, yuan", 2),
            F("potential_value", "float64", "discounted CLV over the horizon (purchase model × Gamma-Gamma), yuan", 2),
            F("social_value", "float64", "GMV brought by converted invitees, yuan", 2),
            F("content_value", "float64", "review points: 1 per review, 2 more with media", 2),
            F("value_score", "float64", "weighted percentile score of the four values, 0–100", 2),
            F("high_potential_low_activity", "boolean", "top-fifth potential value but quiet for 60+ days", 2),
            F("is_koc", "boolean", "key opinion consumer: shares and reviews that bring others", 2),
        ),
        ("run_id", "person_id"),
    ),
    Table(
        "value_alerts",
        "Risk alerts: a person's CLV fell more than the threshold since the previous run.",
        (
            F("run_id", "string", "run that raised the alert", 1, False),
            F("person_id", "string", "person", 2, False),
            F("previous_run_id", "string", "run compared against", 1),
            F("previous_value", "float64", "potential value in the previous run, yuan", 2),
            F("potential_value", "float64", "potential value in this run, yuan", 2),
            F("drop_share", "float64", "fall as a share of the previous value (0.25 = 25%)", 2),
            F("churn_probability", "float64", "churn probability in this run", 2),
            F("tier", "string", "tier in this run", 2),
        ),
        ("run_id", "person_id"),
    ),
)

TABLES += (
    Table(
        "delivery_settings",
        "Every application of the delivery settings (`flywheel delivery apply`); the latest is in force.",
        (
            F("settings_id", "string", "id of this application", 1, False),
            F("applied_at", TS, "when it was applied", 1, False),
            F("applied_by", "string", "who applied it", 2),
            F("file", "string", "file it was applied from", 1),
            F("definition", "string", "the settings as JSON, without their secrets (docs/activation.md)", 1, False),
            F("secrets", "string", "webhook secrets and SMTP password as JSON, sealed (AES-GCM under a key derived "
              "from the master key, bound to the settings id); never stored or shown in clear", 4),
        ),
        ("settings_id",),
    ),
    Table(
        "delivery_endpoint_states",
        "Endpoints disabled since a settings application: a webhook that answered 410 Gone gets nothing "
        "more until the settings are applied again.",
        (
            F("settings_id", "string", "the settings application the state belongs to", 1, False),
            F("channel", "string", "the channel whose endpoint it is", 1, False),
            F("status", "string", "`disabled`", 1, False),
            F("reason", "string", "reason code (`gone`)", 1),
            F("detail", "string", "what the endpoint answered", 1),
            F("at", TS, "when", 1, False),
        ),
        ("settings_id", "channel", "at"),
    ),
)

TABLES += (
    Table(
        "pipeline_runs",
        "One row per stage of every pipeline run (`flywheel demo`, `flywheel run`): what ran, how long, "
        "how much memory, and how it ended.",
        (
            F("run_id", "string", "pipeline run id", 1, False),
            F("pipeline", "string", "which pipeline (demo, run, …)", 1, False),
            F("seq", "int64", "position of the stage in the run, from 1", 1, False),
            F("stage", "string", "stage name (simulate, ingest, identity, value, report, …)", 1, False),
            F("started_at", TS, "stage start", 1),
            F("seconds", "float64", "stage wall-clock time", 1),
            F("peak_rss_bytes", "int64", "peak resident memory of the Flywheel process during the stage", 1),
            F("status", "string", "`ok`, or `failed: <error>`", 1),
            F("engine", "string", "warehouse engine", 1),
            F("summary", "string", "the stage's summary as JSON (counts, run ids of the stage's own records)", 1),
        ),
        ("run_id", "seq"),
    ),
)

TABLES += (
    Table(
        "segments",
        "Segment definitions (`flywheel segment apply`): a named rule whose members are kept current.",
        (
            F("name", "string", "segment name", 1, False),
            F("description", "string", "what the segment is for", 1),
            F("rule", "string", "the rule as JSON (docs/activation.md)", 1, False),
            F("definition", "string", "the whole definition as JSON", 1, False),
            F("file", "string", "file it was applied from", 1),
            F("sha256", "string", "hash of the definition; a new one makes the next refresh full", 1, False),
            F("applied_at", TS, "when it was applied", 1),
            F("applied_by", "string", "who applied it", 2),
        ),
        ("name",),
    ),
    Table(
        "segment_members",
        "Current members of each segment as of its last refresh.",
        (
            F("segment", "string", "segment name", 1, False),
            F("person_id", "string", "member", 2, False),
            F("entered_at", TS, "refresh clock (`--now`) at which the person entered", 1, False),
            F("refresh_id", "string", "refresh that added the person", 1),
        ),
        ("segment", "person_id"),
    ),
    Table(
        "segment_changes",
        "Append-only history of segment membership: every entry and exit with its reason.",
        (
            F("segment", "string", "segment name", 1, False),
            F("person_id", "string", "person", 2, False),
            F("change", "string", "entered or exited", 1, False),
            F("reason", "string", "matches, no longer matches, person gone (merged or erased)", 1),
            F("at", TS, "refresh clock (`--now`) of the change", 1, False),
            F("refresh_id", "string", "refresh that recorded it", 1, False),
        ),
        ("segment", "person_id", "at"),
    ),
    Table(
        "segment_refreshes",
        "One record per segment per refresh: full or incremental, sizes, what it had seen.",
        (
            F("refresh_id", "string", "refresh id", 1, False),
            F("segment", "string", "segment name", 1, False),
            F("now", TS, "the refresh clock (`--now`, default the wall clock)", 1, False),
            F("started_at", TS, "wall-clock start", 1, False),
            F("mode", "string", "full or incremental", 1, False),
            F("why_full", "string", "why the refresh could not be incremental", 1),
            F("candidates", "int64", "persons evaluated again (incremental)", 1),
            F("members", "int64", "members after the refresh", 1),
            F("entered", "int64", "persons who entered", 1),
            F("exited", "int64", "persons who left", 1),
            F("seconds", "float64", "time taken", 1),
            F("data_mark", TS, "latest ingest run finished when the refresh started", 1),
            F("value_run", "string", "latest scoring run when the refresh started", 1),
            F("loyalty_as_of", TS, "clock of the latest `loyalty run` snapshot when the refresh started (v7)", 1),
            F("sha256", "string", "definition hash refreshed", 1, False),
        ),
        ("refresh_id", "segment"),
    ),
)

TABLES += (
    Table(
        "journeys",
        "Journey definitions (`flywheel journey apply`): trigger, audience, holdout, re-entry, exit rules, steps.",
        (
            F("name", "string", "journey name", 1, False),
            F("description", "string", "what the journey is for", 1),
            F("definition", "string", "the journey file as JSON", 1, False),
            F("templates", "string", "message templates by step path, as JSON", 1),
            F("file", "string", "file it was applied from", 1),
            F("sha256", "string", "hash of definition and templates", 1, False),
            F("status", "string", "active or paused", 1, False),
            F("applied_at", TS, "when it was applied", 1),
            F("applied_by", "string", "who applied it", 2),
        ),
        ("name",),
    ),
    Table(
        "journey_episodes",
        "One entry of a person into a journey, and where they are in it.",
        (
            F("journey", "string", "journey name", 1, False),
            F("person_id", "string", "person", 2, False),
            F("episode", "int64", "1 for the first entry, then 2, 3, … (re-entry)", 1, False),
            F("grp", "string", "treatment, holdout (this journey's) or control (the global control group)", 1, False),
            F("entered_at", TS, "tick clock at entry", 1, False),
            F("state", "string", "active, completed or exited", 1, False),
            F("position", "string", "path of the next step to run (null when done)", 1),
            F("due_at", TS, "when the current wait ends (null: run at the next tick)", 1),
            F("wait_started_at", TS, "when the current wait began", 1),
            F("coupon_code", "string", "the coupon issued in this episode", 2),
            F("ended_at", TS, "tick clock at completion or exit", 1),
            F("end_reason", "string", "completed, exit_when, exit step, person gone", 1),
            F("updated_at", TS, "tick clock of the last change", 1),
        ),
        ("journey", "person_id", "episode"),
    ),
    Table(
        "journey_actions",
        "The outbox: every action a journey decided, keyed by (journey, person, episode, step), and its fate.",
        (
            F("action_key", "string", "idempotency key: journey/person/episode/step (also the webhook-id)", 2, False),
            F("journey", "string", "journey name", 1, False),
            F("person_id", "string", "person", 2, False),
            F("episode", "int64", "episode", 1, False),
            F("step", "string", "step path", 1, False),
            F("channel", "string", "email, sms, wecom or webhook", 1, False),
            F("purpose", "string", "consent purpose it is sent under", 1, False),
            F("marketing", "boolean", "marketing (quiet hours, caps) or transactional", 1),
            F("subject", "string", "rendered subject", 2),
            F("text", "string", "rendered text (the person's allowed fields only)", 2),
            F("coupon_code", "string", "coupon carried", 2),
            F("scheduled_at", TS, "when it is due (moved by quiet hours and deferred caps)", 1, False),
            F("status", "string", "planned, sending, sent, skipped or failed", 1, False),
            F("reason", "string", "why skipped, deferred or failed (reason code)", 1),
            F("attempts", "int64", "delivery attempts", 1),
            F("created_at", TS, "tick clock at which it was decided", 1, False),
            F("sent_at", TS, "tick clock at which it was delivered", 1),
            F("deferrals", "int64", "times it was deferred", 1),
        ),
        ("action_key",),
    ),
    Table(
        "journey_state",
        "Per journey: the clock and scoring run its last live tick saw (what is new to its trigger).",
        (
            F("journey", "string", "journey name", 1, False),
            F("last_now", TS, "clock of the last live tick", 1),
            F("value_run", "string", "latest scoring run at that tick", 1),
        ),
        ("journey",),
    ),
    Table(
        "journey_ticks",
        "One record per `flywheel journey run` tick (dry runs included).",
        (
            F("tick_id", "string", "tick id", 1, False),
            F("now", TS, "the tick clock", 1, False),
            F("started_at", TS, "wall-clock start", 1, False),
            F("finished_at", TS, "wall-clock end", 1),
            F("dry_run", "boolean", "planned only", 1, False),
            F("actor", "string", "who ran it", 2),
            F("summary", "string", "per journey: entered, holdout, sent, skipped, deferred, exited, completed (JSON)", 1),
        ),
        ("tick_id",),
    ),
    Table(
        "coupons",
        "Unique coupon codes issued to one person each; redemption is matched from ingested orders' `discount_code`.",
        (
            F("code", "string", "the unique code", 2, False),
            F("person_id", "string", "the person it was issued to", 2, False),
            F("journey", "string", "journey that issued it", 1),
            F("episode", "int64", "episode", 1),
            F("step", "string", "step path", 1),
            F("value_cents", "int64", "discount value in cents", 2, False),
            F("min_order_cents", "int64", "minimum order amount in cents", 2),
            F("valid_from", TS, "start of validity", 2, False),
            F("valid_until", TS, "end of validity", 2, False),
            F("issued_at", TS, "tick clock at issue", 1, False),
        ),
        ("code",),
    ),
)

TABLES += (
    Table(
        "attribution_runs",
        "One record per model of every `flywheel attribution run`: the options, the totals, the credits by channel.",
        (
            F("run_id", "string", "attribution run id (shared by the models of one invocation)", 1, False),
            F("model", "string", "first, last, last_non_direct, linear, time_decay, position, markov, shapley, …", 1,
              False),
            F("started_at", TS, "wall-clock start", 1, False),
            F("as_of", TS, "conversions and touches up to this instant", 1, False),
            F("window_days", "float64", "conversion window: a touch counts for a conversion this many days after it", 1),
            F("lookback_days", "float64", "only conversions in this many days before the as-of time (null: all)", 1),
            F("conversions_basis", "string", "every (every GMV order) or first (a person's first)", 1),
            F("value_basis", "string", "paid (the order's paid amount) or clv (the buyer's predicted value)", 1),
            F("conversions", "float64", "conversions in the period, with or without a touch", 1),
            F("attributed", "float64", "conversions with at least one touch in their window (what the model shares)", 1),
            F("null_paths", "int64", "paths of touches that led to no conversion within the window", 1),
            F("engine", "string", "warehouse engine", 1),
            F("settings", "string", "every option as JSON", 1),
            F("summary", "string", "credits, value credits and removal effects per channel as JSON", 1),
        ),
        ("run_id", "model"),
    ),
    Table(
        "attribution_credits",
        "Credits of one attribution run and model per channel, campaign and conversion day.",
        (
            F("run_id", "string", "attribution run", 1, False),
            F("model", "string", "model", 1, False),
            F("channel", "string", "channel (utm source, or the journey channel: wecom, sms, email)", 1, False),
            F("campaign_id", "string", "campaign id, or the journey's name for its messages ('' when none)", 1, False),
            F("day", "date", "day of the conversion (merchant time zone)", 1, False),
            F("conversions", "float64", "conversions credited (fractions of conversions)", 1),
            F("value_cents", "int64", "conversion value credited, in cents; a model's rows add up to its total "
              "exactly (largest remainder)", 1),
            F("new_customers", "float64", "first orders credited: customers acquired", 1),
            F("acquired_clv_cents", "int64", "predicted value (CLV) of the customers acquired, credit-weighted, in cents", 1),
            F("acquired_scored", "float64", "new customers whose CLV the latest scoring run knew (the CLV average's "
              "denominator: a customer first seen after it has no CLV yet)", 1),
        ),
        ("run_id", "model", "channel", "campaign_id", "day"),
    ),
    Table(
        "experiments",
        "Experiments (`flywheel experiment create`): variations, weights and the salt of their hashed assignment.",
        (
            F("name", "string", "experiment name", 1, False),
            F("description", "string", "what it tests", 1),
            F("unit", "string", "assignment and analysis unit (person)", 1, False),
            F("variations", "string", "variation names as JSON; the first is the control", 1, False),
            F("weights", "string", "variation weights as JSON (summing to 1)", 1, False),
            F("salt", "string", "salt of the assignment hash", 1, False),
            F("metric", "string", "metric analysed: conversion (a GMV order) or revenue, within `window_days`", 1),
            F("window_days", "float64", "days after assignment a conversion counts", 1),
            F("created_at", TS, "when it was created", 1, False),
            F("created_by", "string", "who created it", 2),
        ),
        ("name",),
    ),
    Table(
        "experiment_exposures",
        "First exposure of a unit to an experiment (`flywheel experiment assign --record`): when its window starts.",
        (
            F("experiment", "string", "experiment name", 1, False),
            F("person_id", "string", "unit assigned", 2, False),
            F("variation", "string", "variation assigned", 1, False),
            F("exposed_at", TS, "first exposure", 1, False),
        ),
        ("experiment", "person_id"),
    ),
)

TABLES += (
    Table(
        "metric_person_days",
        "The console's sales and activity rollup (`flywheel insight build`): one row per person, day of the "
        "merchant's calendar and source with a GMV order or an event.",
        (
            F("person_id", "string", "person", 2, False),
            F("day", "int64", "days since 1970-01-01 on the merchant's calendar", 1, False),
            F("source", "string", "source of the orders and events", 1, False),
            F("orders", "int64", "GMV orders placed that day", 2, False),
            F("gmv_cents", "int64", "paid amount of those orders, in cents", 2, False),
            F("refund_cents", "int64", "refunded amount of those orders, in cents", 2, False),
            F("events", "int64", "events that day", 2, False),
        ),
        ("person_id", "day", "source"),
    ),
    Table(
        "metric_persons",
        "One row per person for the console: when they first bought and were first seen, on how many "
        "sources, their latest predicted value.",
        (
            F("person_id", "string", "person", 2, False),
            F("sources", "int64", "distinct sources of the person's accounts (≥ 2: linked across platforms)", 2, False),
            F("first_order_day", "int64", "merchant-calendar day of the first GMV order (null: never bought)", 2),
            F("first_active_day", "int64", "day of the first order or event (null: neither)", 2),
            F("orders", "int64", "GMV orders in all", 2, False),
            F("clv_cents", "int64", "potential value of the latest scoring run, in cents (null: not scored)", 2),
        ),
        ("person_id",),
    ),
    Table(
        "metric_funnel_events",
        "Track events resolved to persons, narrowed to what a funnel reads (name and time).",
        (
            F("person_id", "string", "person", 2, False),
            F("event", "string", "track event name", 2, False),
            F("at", "int64", "event time, whole seconds since 1970 (UTC)", 2, False),
            F("day", "int64", "merchant-calendar day of the event", 1, False),
        ),
        ("person_id", "event", "at"),
    ),
    Table(
        "metric_events",
        "Track events by name with their counts (the funnel's step picker).",
        (
            F("event", "string", "track event name", 1, False),
            F("events", "int64", "events", 1, False),
            F("persons", "int64", "distinct persons who did it", 1, False),
        ),
        ("event",),
    ),
    Table(
        "metric_value_cells",
        "The value page's distributions from the latest scoring run: CLV bands of buyers and P(alive) by "
        "recency × purchase days.",
        (
            F("run_id", "string", "scoring run", 1, False),
            F("kind", "string", "clv_band or alive", 1, False),
            F("x", "string", "CLV band, or days since the last purchase", 1, False),
            F("y", "string", "purchase days (alive); empty for clv_band", 1, False),
            F("persons", "int64", "persons in the cell", 1, False),
            F("total", "float64", "sum of CLV (yuan) or of P(alive) over the cell's persons", 1),
        ),
        ("run_id", "kind", "x", "y"),
    ),
    Table(
        "metric_consents",
        "Consent coverage for the data page: persons per purpose by their deciding status (the most "
        "restrictive over their accounts, as `privacy.person_consents` decides).",
        (
            F("purpose", "string", "purpose", 1, False),
            F("status", "string", "granted, denied or withdrawn", 1, False),
            F("persons", "int64", "persons", 1, False),
        ),
        ("purpose", "status"),
    ),
    Table(
        "metric_builds",
        "One row per rollup build: when, up to which data, how many rows, how long.",
        (
            F("build_id", "string", "build id", 1, False),
            F("built_at", TS, "wall-clock time of the build", 1, False),
            F("data_mark", TS, "latest order or event time the build saw", 1),
            F("timezone", "string", "merchant time zone the days are counted in", 1, False),
            F("person_days", "int64", "rows of metric_person_days", 1),
            F("persons", "int64", "rows of metric_persons", 1),
            F("funnel_events", "int64", "rows of metric_funnel_events", 1),
            F("seconds", "float64", "time taken", 1),
        ),
        ("build_id",),
    ),
)

TABLES += (
    Table(
        "loyalty_members",
        "Per person, the loyalty ledger's standing as of the last `flywheel loyalty run`: points and level "
        "(the ledger itself is the SQLite journal beside the warehouse; docs/loyalty.md).",
        (
            F("person_id", "string", "person", 2, False),
            F("as_of", TS, "clock of the loyalty run", 1, False),
            F("level", "string", "member level (Member, Silver, Gold, … from the rules)", 2, False),
            F("growth_value", "int64", "growth value (成长值) in the window", 2),
            F("level_since", TS, "start of the current level period", 2),
            F("review_at", TS, "next level review (a downgrade waits for it)", 2),
            F("demotion_due", "boolean", "the review is within the warning days and would lower the level", 2),
            F("points_available", "int64", "spendable points", 2),
            F("points_pending", "int64", "points inside a return window", 2),
            F("points_debt", "int64", "points owed after clawbacks", 2),
            F("points_expiring_30d", "int64", "available points whose lots expire within 30 days", 2),
        ),
        ("person_id",),
    ),
    Table(
        "referral_bindings",
        "Who referred whom, as the last `flywheel referral run` decided: every accepted invite with its "
        "verdict (bound, or the fraud or rule reason it was refused), conversion and reward.",
        (
            F("invitee", "string", "person who accepted the invite", 3, False),
            F("inviter", "string", "person whose invite it was", 3, False),
            F("share_id", "string", "share (invite link) it came through", 3),
            F("channel", "string", "where it was shared", 2),
            F("shared_at", TS, "time of the share", 2),
            F("accepted_at", TS, "time of acceptance (the click that binds)", 2, False),
            F("status", "string", "bound, or refused (the first valid binding of an invitee wins and stays)", 1, False),
            F("reason", "string", "why refused: same_person, existing_customer, window_expired, already_bound, "
              "shared_device, shared_phone, shared_address, ring, disposable_email", 1),
            F("converted_at", TS, "the invitee's first paid order after binding", 2),
            F("reward", "string", "pending, issued, cancelled (full refund in the review period) or capped_*", 1),
            F("reward_at", TS, "when the rewards were issued (end of the review period)", 2),
            F("inviter_coupon", "string", "the inviter's coupon code", 2),
            F("invitee_coupon", "string", "the invitee's coupon code", 2),
            F("decided_at", TS, "clock of the referral run that decided it", 1, False),
        ),
        ("invitee", "accepted_at", "inviter"),
    ),
)

_BY_NAME = {t.name: t for t in TABLES}


def table(name: str) -> Table:
    try:
        return _BY_NAME[name]
    except KeyError:
        raise KeyError(f"No table {name!r}. Known: {', '.join(_BY_NAME)}") from None
