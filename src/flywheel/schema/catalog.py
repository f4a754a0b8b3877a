"""The field catalog: every stored field declared once, with type, meaning and sensitivity.

Masking, erasure, export and the data-model docs all read this catalog; there is no second list.
Sensitivity levels follow PRODUCT.md §5: L5 core identity, L4 direct contact identifiers, L3 social
relationship chain, L2 behaviour and preference, L1 public or aggregate.
"""

from __future__ import annotations

from dataclasses import dataclass

import ibis
import ibis.expr.datatypes as dt

SCHEMA_VERSION = 2

TS = "timestamp('UTC')"


@dataclass(frozen=True)
class Field:
    name: str
    type: str
    description: str
    level: int = 2
    nullable: bool = True

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


def F(name: str, type_: str, description: str, level: int = 2, nullable: bool = True) -> Field:
    return Field(name, type_, description, level, nullable)


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
            F("name", "string", "customer or contact name, NFKC-normalised", 4),
            F("name_masked", "string", "name with all but the first character masked", 2),
            F("province", "string", "province or state of the latest address", 2),
            F("city", "string", "city of the latest address", 2),
            F("country", "string", "ISO country code when known", 2),
            F("tags", "string", "platform tags, `|`-separated (WeCom tags)", 2),
            F("owner", "string", "employee who owns the contact (WeCom follow_userid)", 2),
            F("channel", "string", "acquisition channel code (WeCom `state`, Shopify `Source`)", 2),
            F("first_seen_at", TS, "earliest time the account appears in the file that introduced it", 2),
            _RUN,
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
            F("shipping_cents", "int64", "shipping charged, in cents", 2),
            F("refund_cents", "int64", "amount refunded, in cents", 2),
            F("receiver_name", "string", "receiver name, NFKC-normalised", 4),
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
        ),
        ("resolution_id",),
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

_BY_NAME = {t.name: t for t in TABLES}


def table(name: str) -> Table:
    try:
        return _BY_NAME[name]
    except KeyError:
        raise KeyError(f"No table {name!r}. Known: {', '.join(_BY_NAME)}") from None
