"""WeCom community activity of the persons who are WeCom contacts, and when each was inactive.

Every contact has a habit: some open the brand community daily, some weekly, some drift away and go
quiet (their interest halves every few weeks, with a rare return), some never open it. The brand also
sends a mass message every Tuesday and Friday at 10:00; how likely a contact is to read one follows
the same habit. Both are written as Segment events of the brand's community tool (source
`community`): `Community Opened` and `Message Opened`. The event's `anonymousId` is the tool's
visitor id and `context.externalIds` carries the contact's `external_userid`, the identifier that
places these events on the person of the WeCom contact.

`truth/community.csv` has one row per contact; `truth/community_inactivity.csv` lists every episode
in which a contact had not opened the community for `INACTIVE_DAYS` days: it starts `INACTIVE_DAYS`
after the last open (or after joining, before the first open) and ends at the next open.
"""

import json
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta

import numpy as np

from flywheel.simulate.catalog import PERIOD_DAYS, PERIOD_START, UTC_OFFSET_HOURS
from flywheel.simulate.population import Person, scramble

SOURCE = "community"
INACTIVE_DAYS = 7
MESSAGE_WEEKDAYS = (1, 4)  # Tuesday and Friday (PERIOD_START is a Monday)
MESSAGE_HOUR = 10
READ_FLOOR = 0.03
"""Even a contact who never opens the community reads this share of mass messages."""


@dataclass(frozen=True)
class Habit:
    """How one kind of contact uses the community; chances are per day and per message."""

    name: str
    share: float
    open_p: float
    """Chance of opening the community on an ordinary day, at joining."""
    read_p: float
    """Chance of reading a mass message, at joining."""
    half_life_days: tuple[float, float] | None = None
    """Drifting contacts: interest halves every this many days (drawn uniformly per contact)."""
    floor_p: float = 0.0
    """Chance per day that never fades (a drifted contact's rare return)."""


HABITS = (
    Habit("daily", 0.06, 0.75, 0.55),
    Habit("weekly", 0.30, 0.15, 0.3),
    Habit("drifting", 0.36, 0.4, 0.45, (10.0, 45.0), 0.004),
    Habit("never", 0.28, 0.0, READ_FLOOR),
)
_HABIT_CUM = np.cumsum([h.share for h in HABITS])
#: Monday..Sunday: weekends are busier.
WEEKDAY_WEIGHT = np.array([0.85, 0.85, 0.85, 0.85, 0.9, 1.35, 1.35])
SECOND_OPEN_P = 0.2
_HOURS = np.array([0.3, 0.15, 0.1, 0.05, 0.05, 0.1, 0.4, 1.2, 2, 1.8, 1.5, 1.6, 3, 2.5, 1.5, 1.4,
                   1.5, 1.8, 2.2, 3, 3.8, 4.2, 3.5, 1.5])
_HOURS_CUM = np.cumsum(_HOURS / _HOURS.sum())
MESSAGE_READ_HOURS = 5.0
"""Mean delay from a mass message to its reading; unread after three days means never read."""
_GROUPS = tuple(f"山野会员{k}群" for k in range(1, 9))
_ENTRIES = ("group_chat", "workbench", "message_link")
_ENTRY_CUM = np.cumsum([0.6, 0.25, 0.15])
_TITLES = ("会员日福利", "护肤小课堂", "本周直播预告", "新品试用招募", "节气养生茶饮", "香氛搭配指南",
           "老客专享价", "晒单有礼")
_AGENT = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
          "Mobile/15E148 wxwork/4.1.22 MicroMessenger/7.0.1 Language/zh")
_APP = {"name": "山野社群", "version": "2.3.0"}


def messages() -> list[tuple[str, datetime, str]]:
    """The brand's mass messages of the period: (message_id, sent at local time, title)."""
    out = []
    for day in range(PERIOD_DAYS):
        at = PERIOD_START + timedelta(days=day, hours=MESSAGE_HOUR)
        if at.weekday() in MESSAGE_WEEKDAYS:
            out.append((f"msg_{at:%Y%m%d}", at, _TITLES[len(out) % len(_TITLES)]))
    return out


MESSAGES = messages()
_DAY_MS = 86_400_000
_HOUR_MS = 3_600_000
END_MS = PERIOD_DAYS * _DAY_MS
"""Times below are integer milliseconds since PERIOD_START (merchant-local), kept in numpy arrays:
the community tool writes several hundred thousand events at 20k persons."""
_MESSAGE_MS = np.array([int((at - PERIOD_START).total_seconds()) * 1000 for _, at, _ in MESSAGES], np.int64)
_UTC_START = np.datetime64(PERIOD_START - timedelta(hours=UTC_OFFSET_HOURS), "ms")
_NONE = np.iinfo(np.int64).max


def sent_after(joined: int) -> np.ndarray:
    """Which mass messages a contact who joined at `joined` received (0/1 per message)."""
    return (_MESSAGE_MS > joined).astype(np.int64)


def iso(ms: np.ndarray) -> list[str]:
    """Milliseconds since PERIOD_START → UTC ISO-8601 with milliseconds and `Z`, as events write it."""
    text = np.datetime_as_string(_UTC_START + np.asarray(ms, np.int64).astype("timedelta64[ms]"), unit="ms")
    return [f"{t}Z" for t in text.tolist()]


@dataclass
class CommunityLife:
    """One contact's community activity over the period (milliseconds since PERIOD_START)."""

    person: Person
    habit: Habit
    joined: int
    half_life: float | None
    opens: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    """Community opens, sorted."""
    message_at: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    message_k: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    """When a mass message was read, and which (index into MESSAGES)."""

    def interest(self, day: np.ndarray | float) -> np.ndarray:
        """How much of the joining-time interest is left `day` days into the period (1 = all)."""
        if self.half_life is None:
            return np.ones_like(np.asarray(day, float))
        age = np.maximum(np.asarray(day, float) - self.joined / _DAY_MS, 0.0)
        return 0.5 ** (age / self.half_life)

    def read_p(self, day: np.ndarray | float) -> np.ndarray:
        """Chance that a WeCom message sent on `day` (days into the period) is read."""
        return np.maximum(self.habit.read_p * self.interest(day), READ_FLOOR)

    def open_p(self, day: np.ndarray | float) -> np.ndarray:
        return np.maximum(self.habit.open_p * self.interest(day), self.habit.floor_p)

    def inactivity(self) -> tuple[np.ndarray, np.ndarray]:
        """Episodes of `INACTIVE_DAYS` without an open that start before the period ends:
        (start, end) arrays, end `_NONE` while still inactive at the period's end."""
        before = np.concatenate([[self.joined], self.opens])
        after = np.concatenate([self.opens, [_NONE]])
        start = before + INACTIVE_DAYS * _DAY_MS
        keep = (start < END_MS) & (after > start)
        return start[keep], after[keep]


def live(rng: np.random.Generator, person: Person, joined: int) -> CommunityLife:
    """Draw the community activity of one contact who joined `joined` ms into the period."""
    habit = HABITS[min(int(np.searchsorted(_HABIT_CUM, rng.random(), side="right")), len(HABITS) - 1)]
    half_life = float(rng.uniform(*habit.half_life_days)) if habit.half_life_days else None
    life = CommunityLife(person, habit, joined, half_life)
    days = np.arange(joined // _DAY_MS, PERIOD_DAYS)
    if habit.open_p > 0 and len(days):
        p = np.minimum(life.open_p(days) * WEEKDAY_WEIGHT[(days + PERIOD_START.weekday()) % 7], 0.95)
        chosen = days[rng.random(len(days)) < p]
        chosen = np.concatenate([chosen, chosen[rng.random(len(chosen)) < SECOND_OPEN_P]])
        hours = np.minimum(np.searchsorted(_HOURS_CUM, rng.random(len(chosen)), side="right"), 23)
        at = chosen * _DAY_MS + hours * _HOUR_MS + rng.integers(0, _HOUR_MS, len(chosen))
        life.opens = np.sort(at[(at > joined) & (at < END_MS)])
    sent = np.flatnonzero(_MESSAGE_MS > joined)
    if len(sent):
        opened = sent[rng.random(len(sent)) < life.read_p(_MESSAGE_MS[sent] / _DAY_MS)]
        delay = rng.exponential(MESSAGE_READ_HOURS * _HOUR_MS, len(opened)).astype(np.int64)
        at = _MESSAGE_MS[opened] + delay
        keep = (delay < 72 * _HOUR_MS) & (at < END_MS)
        order = np.argsort(at[keep], kind="stable")
        life.message_at, life.message_k = at[keep][order], opened[keep][order]
    return life


def visitor_id(person: Person, seed: int) -> str:
    """The community tool's anonymous visitor id of a contact: stable, unique per person."""
    return f"cm-{scramble(person.n, 10, seed * 7919 + 61):010d}"


def _json(value) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


_MESSAGE_PROPERTIES = [_json({"channel": "wecom", "message_id": mid, "title": title})
                       for mid, _, title in MESSAGES]


def _uuid4(raw: bytes) -> list[str]:
    """Version-4 UUID strings from 16 random bytes each (what `uuid.UUID(bytes=…, version=4)` gives)."""
    b = np.frombuffer(raw, np.uint8).reshape(-1, 16).copy()
    b[:, 6] = (b[:, 6] & 0x0F) | 0x40
    b[:, 8] = (b[:, 8] & 0x3F) | 0x80
    h = b.tobytes().hex()
    return [f"{h[i:i + 8]}-{h[i + 8:i + 12]}-{h[i + 12:i + 16]}-{h[i + 16:i + 20]}-{h[i + 20:i + 32]}"
            for i in range(0, len(h), 32)]


@dataclass
class Lines:
    """A contact's events: time (ms since PERIOD_START), messageId and JSON line of each."""

    at: np.ndarray
    message_ids: list[str]
    lines: list[str]


def event_lines(rng: np.random.Generator, life: CommunityLife, seed: int) -> Lines:
    """The contact's `Community Opened` and `Message Opened` events as Segment JSON lines, put
    together from pre-serialised parts (the context is the same for all of one contact's events)."""
    person = life.person
    visitor = visitor_id(person, seed)
    context = _json({"source": SOURCE, "app": _APP, "userAgent": _AGENT, "timezone": person.timezone,
                     "externalIds": [{"id": person.external_userid, "type": "wecom_external_userid",
                                      "collection": "users", "encoding": "none"}]})
    group = person.n % len(_GROUPS)
    opened = [_json({"community_id": f"wr{scramble(group, 8, 977):08d}",
                     "community_name": _GROUPS[group], "entry": entry}) for entry in _ENTRIES]
    n_open = len(life.opens)
    at = np.concatenate([life.opens, life.message_at])
    entries = np.minimum(np.searchsorted(_ENTRY_CUM, rng.random(n_open), side="right"), len(_ENTRIES) - 1)
    properties = [opened[e] for e in entries.tolist()] + [_MESSAGE_PROPERTIES[k] for k in life.message_k.tolist()]
    ids = _uuid4(rng.bytes(16 * len(at)))
    stamps, sent = iso(at), iso(at + rng.integers(5, 900, len(at)))
    head = f'","anonymousId":"{visitor}","properties":'
    tail = f',"context":{context},"timestamp":"'
    lines = [f'{{"type":"track","event":"{"Community Opened" if k < n_open else "Message Opened"}",'
             f'"messageId":"{mid}{head}{props}{tail}{stamp}","originalTimestamp":"{stamp}",'
             f'"sentAt":"{sent_at}"}}'
             for k, (mid, props, stamp, sent_at) in enumerate(zip(ids, properties, stamps, sent))]
    return Lines(at, ids, lines)


def truth_row(life: CommunityLife) -> list:
    """`truth/community.csv`: the contact's habit, activity and state at the end of the period."""
    starts, ends = life.inactivity()
    inactive = len(ends) > 0 and ends[-1] == _NONE
    first_last = iso(life.opens[[0, -1]]) if len(life.opens) else ["", ""]
    end_day = float(PERIOD_DAYS)
    return [life.person.person_id, life.habit.name, iso([life.joined])[0], len(life.opens), *first_last,
            len(life.message_at), int(inactive), iso(starts[-1:])[0] if inactive else "",
            f"{float(life.read_p(end_day)):.4f}", f"{float(life.open_p(end_day)):.4f}"]


def inactivity_rows(life: CommunityLife) -> list[list[str]]:
    """`truth/community_inactivity.csv`: one row per inactivity episode."""
    starts, ends = life.inactivity()
    until = iso(np.where(ends == _NONE, 0, ends))
    return [[life.person.person_id, start, "" if end == _NONE else text]
            for start, end, text in zip(iso(starts), ends.tolist(), until)]


def message_rows(recipients: list[int], opens: list[int]) -> list[list]:
    """`truth/wecom_messages.csv`: each mass message, the contacts it reached and who read it."""
    return [[mid, iso([_MESSAGE_MS[k]])[0], title, recipients[k], opens[k]]
            for k, (mid, _, title) in enumerate(MESSAGES)]


def params_record() -> dict:
    """The community part of `truth/params.json`."""
    return {"source": SOURCE, "inactive_days": INACTIVE_DAYS,
            "habits": [asdict(h) for h in HABITS], "weekday_weight": WEEKDAY_WEIGHT.tolist(),
            "second_open_p": SECOND_OPEN_P, "read_floor": READ_FLOOR,
            "message_weekdays": list(MESSAGE_WEEKDAYS), "message_hour_local": MESSAGE_HOUR,
            "message_read_hours_mean": MESSAGE_READ_HOURS}
