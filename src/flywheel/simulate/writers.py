"""Open export and truth files, each in its platform's encoding, appended to chunk by chunk.

Every file counts its data rows so malformed rows can be recorded by line number (the header is
line 1; no field contains a line break, so a record is a line).
"""

import csv
from pathlib import Path

from flywheel.simulate.ads import ADS_HEADER
from flywheel.simulate.exports import (
    DOUYIN_HEADER,
    JD_HEADER,
    SHOPIFY_HEADER,
    TAOBAO_HEADER,
    WECOM_HEADER,
)

#: relative path -> (encoding, header); header None means JSON lines.
EXPORT_FILES: dict[str, tuple[str, tuple[str, ...] | None]] = {
    "shopify/orders_export.csv": ("utf-8", SHOPIFY_HEADER),
    "taobao/taobao_orders.csv": ("gb18030", TAOBAO_HEADER),
    "taobao/taobao_orders_2.csv": ("gb18030", TAOBAO_HEADER),
    "tmall/tmall_orders.csv": ("utf-8-sig", TAOBAO_HEADER),
    "jd/jd_orders.csv": ("utf-8", JD_HEADER),
    "douyin/douyin_orders.csv": ("utf-8-sig", DOUYIN_HEADER),
    "wecom/wecom_contacts.csv": ("utf-8", WECOM_HEADER),
    "events/events.jsonl": ("utf-8", None),
    "community/events.jsonl": ("utf-8", None),
    "ads/ad_spend.csv": ("utf-8", ADS_HEADER),
}

TRUTH_FILES: dict[str, tuple[str, ...]] = {
    "truth/persons.csv": (
        "person_id", "name", "name_pinyin", "region", "birthday", "phone", "email", "province",
        "city", "purchase_rate", "dropout_p", "spend_p", "spend_nu", "first_purchase_day",
        "never_buyer", "alive_at_end", "baseline_orders", "is_koc", "referred_by", "timezone"),
    "truth/accounts.csv": ("source", "account_ref", "person_id"),
    "truth/orders.csv": ("source", "order_id", "person_id", "created_at", "status", "gross",
                         "refund", "items", "gift", "incremental_channel", "in_duplicate_export"),
    "truth/events.csv": ("message_id", "person_id", "source"),
    "truth/traps.csv": ("kind", "value", "person_ids", "note"),
    "truth/community.csv": (
        "person_id", "habit", "joined_at", "community_opens", "first_open_at", "last_open_at",
        "message_opens", "inactive_at_end", "inactive_since", "read_p_end", "open_p_end"),
    "truth/community_inactivity.csv": ("person_id", "inactive_from", "inactive_until"),
    "truth/wecom_messages.csv": ("message_id", "sent_at", "title", "recipients", "readers"),
}


class TableFiles:
    """A set of open files keyed by relative path, with data-row counts."""

    def __init__(self, out_dir: Path, specs: dict[str, tuple[str, tuple[str, ...] | None]]):
        self.rows: dict[str, int] = {}
        self._handles = {}
        self._writers = {}
        for rel, (encoding, header) in specs.items():
            path = out_dir / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            handle = open(path, "w", encoding=encoding, newline="")
            self._handles[rel] = handle
            self.rows[rel] = 0
            if header is not None:
                self._writers[rel] = csv.writer(handle, lineterminator="\r\n")
                self._writers[rel].writerow(header)

    def write(self, rel: str, row) -> int:
        """Append one record; returns its line number in the file."""
        if rel in self._writers:
            self._writers[rel].writerow(row)
        else:
            self._handles[rel].write(row + "\n")
        self.rows[rel] += 1
        return self.rows[rel] + (1 if rel in self._writers else 0)

    def write_many(self, rel: str, rows) -> None:
        for row in rows:
            self.write(rel, row)

    def write_rows(self, rel: str, rows: list) -> None:
        """Append CSV records in one call (no line numbers needed)."""
        self._writers[rel].writerows(rows)
        self.rows[rel] += len(rows)

    def write_lines(self, rel: str, lines: list[str]) -> None:
        """Append JSON lines in one call."""
        if lines:
            self._handles[rel].write("\n".join(lines) + "\n")
        self.rows[rel] += len(lines)

    def close(self) -> None:
        for handle in self._handles.values():
            handle.close()

    def __enter__(self) -> "TableFiles":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def export_files(out_dir: Path) -> TableFiles:
    return TableFiles(out_dir, EXPORT_FILES)


def truth_files(out_dir: Path) -> TableFiles:
    return TableFiles(out_dir, {rel: ("utf-8", header) for rel, header in TRUTH_FILES.items()})
