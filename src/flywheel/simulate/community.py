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
import uuid
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta

import numpy as np

from flywheel.simulate.catalog import PERIOD_DAYS, PERIOD_END, PERIOD_START
from flywheel.simulate.dice import Dice
from flywheel.simulate.events import EventLine, _iso
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
_MESSAGE_DAYS = np.array([(at - PERIOD_START).total_seconds() / 86400 for _, at, _ in MESSAGES])


@dataclass
class CommunityLife:
    """One contact's community activity over the period (times are merchant-local, naive)."""

    person: Person
    habit: Habit
    joined: datetime
    half_life: float | None
    opens: list[datetime] = field(default_factory=list)
    message_opens: list[tuple[datetime, int]] = field(default_factory=list)
    """(read at, index into MESSAGES)."""

    def interest(self, day: float) -> float:
        """How much of the joining-time interest is left `day` days into the period (1 = all)."""
        if self.half_life is None:
            return 1.0
        age = max(0.0, day - (self.joined - PERIOD_START).total_seconds() / 86400)
        return 0.5 ** (age / self.half_life)

    def read_p(self, day: float) -> float:
        """Chance that a WeCom message sent on `day` (days into the period) is read."""
        return max(self.habit.read_p * self.interest(day), READ_FLOOR)

    def open_p(self, day: float) -> float:
        return max(self.habit.open_p * self.interest(day), self.habit.floor_p)

    def inactivity(self) -> list[tuple[datetime, datetime | None]]:
        """Episodes of `INACTIVE_DAYS` without an open that start before the period ends."""
        gap = timedelta(days=INACTIVE_DAYS)
        out, last = [], self.joined
        for at in [*self.opens, None]:
            start = last + gap
            if start < PERIOD_END and (at is None or at > start):
                out.append((start, at))
            last = at
        return out


def live(rng: np.random.Generator, person: Person, joined: datetime) -> CommunityLife:
    """Draw the community activity of one contact who joined at `joined` (local time)."""
    habit = HABITS[min(int(np.searchsorted(_HABIT_CUM, rng.random(), side="right")), len(HABITS) - 1)]
    half_life = float(rng.uniform(*habit.half_life_days)) if habit.half_life_days else None
    life = CommunityLife(person, habit, joined, half_life)
    join_day = (joined - PERIOD_START).total_seconds() / 86400
    days = np.arange(int(join_day), PERIOD_DAYS)
    if habit.open_p > 0 and len(days):
        age = np.maximum(days - join_day, 0)
        interest = 0.5 ** (age / half_life) if half_life else np.ones(len(days))
        p = np.maximum(habit.open_p * interest, habit.floor_p)
        p = np.minimum(p * WEEKDAY_WEIGHT[(days + PERIOD_START.weekday()) % 7], 0.95)
        chosen = days[rng.random(len(days)) < p]
        twice = chosen[rng.random(len(chosen)) < SECOND_OPEN_P]
        chosen = np.sort(np.concatenate([chosen, twice]))
        hours = np.minimum(np.searchsorted(_HOURS_CUM, rng.random(len(chosen)), side="right"), 23)
        millis = rng.integers(0, 3_600_000, len(chosen))
        for day, hour, ms in zip(chosen.tolist(), hours.tolist(), millis.tolist()):
            at = PERIOD_START + timedelta(days=day, hours=hour, milliseconds=ms)
            if joined < at < PERIOD_END:
                life.opens.append(at)
        life.opens.sort()
    sent = np.flatnonzero(_MESSAGE_DAYS > join_day)
    if len(sent):
        read = np.array([life.read_p(d) for d in _MESSAGE_DAYS[sent].tolist()])
        opened = sent[rng.random(len(sent)) < read]
        delays = rng.exponential(MESSAGE_READ_HOURS * 3_600_000, len(opened)).astype(np.int64)
        for k, delay in zip(opened.tolist(), delays.tolist()):
            at = MESSAGES[k][1] + timedelta(milliseconds=delay)
            if delay < 72 * 3_600_000 and at < PERIOD_END:
                life.message_opens.append((at, k))
    return life


def visitor_id(person: Person, seed: int) -> str:
    """The community tool's anonymous visitor id of a contact: stable, unique per person."""
    return f"cm-{scramble(person.n, 10, seed * 7919 + 61):010d}"


def _json(value) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


_MESSAGE_PROPERTIES = [_json({"channel": "wecom", "message_id": mid, "title": title})
                       for mid, _, title in MESSAGES]


def event_lines(dice: Dice, life: CommunityLife, seed: int) -> list[EventLine]:
    """The contact's `Community Opened` and `Message Opened` events as Segment JSON lines.

    Lines are put together from pre-serialised parts (the context is the same for all of one
    contact's events): the community tool writes several hundred thousand of them at 20k persons.
    """
    person = life.person
    visitor = visitor_id(person, seed)
    context = _json({"source": SOURCE, "app": _APP, "userAgent": _AGENT, "timezone": person.timezone,
                     "externalIds": [{"id": person.external_userid, "type": "wecom_external_userid",
                                      "collection": "users", "encoding": "none"}]})
    group = person.n % len(_GROUPS)
    opened = [_json({"community_id": f"wr{scramble(group, 8, 977):08d}",
                     "community_name": _GROUPS[group], "entry": entry}) for entry in _ENTRIES]
    calls = [(at, "Community Opened", opened[dice.weighted(_ENTRY_CUM)]) for at in life.opens]
    calls += [(at, "Message Opened", _MESSAGE_PROPERTIES[k]) for at, k in life.message_opens]
    head = f'","anonymousId":"{visitor}","properties":'
    tail = f',"context":{context},"timestamp":"'
    lines = []
    for at, name, properties in calls:
        message_id = str(uuid.UUID(bytes=dice.bytes16(), version=4))
        stamp = _iso(at)
        sent = _iso(at + timedelta(milliseconds=5 + dice.below(895)))
        line = (f'{{"type":"track","event":"{name}","messageId":"{message_id}{head}{properties}'
                f'{tail}{stamp}","originalTimestamp":"{stamp}","sentAt":"{sent}"}}')
        lines.append(EventLine(message_id, person, at, SOURCE, (visitor,), line))
    return lines


def truth_row(life: CommunityLife) -> list:
    """`truth/community.csv`: the contact's habit, activity and state at the end of the period."""
    episodes = life.inactivity()
    current = episodes[-1] if episodes and episodes[-1][1] is None else None
    end_day = float(PERIOD_DAYS)
    return [life.person.person_id, life.habit.name, _iso(life.joined), len(life.opens),
            _iso(life.opens[0]) if life.opens else "", _iso(life.opens[-1]) if life.opens else "",
            len(life.message_opens), int(current is not None), _iso(current[0]) if current else "",
            f"{life.read_p(end_day):.4f}", f"{life.open_p(end_day):.4f}"]


def inactivity_rows(life: CommunityLife) -> list[list[str]]:
    """`truth/community_inactivity.csv`: one row per inactivity episode."""
    return [[life.person.person_id, _iso(start), _iso(end) if end else ""]
            for start, end in life.inactivity()]


def message_rows(recipients: list[int], opens: list[int]) -> list[list]:
    """`truth/wecom_messages.csv`: each mass message, the contacts it reached and who read it."""
    return [[mid, _iso(at), title, recipients[k], opens[k]]
            for k, (mid, at, title) in enumerate(MESSAGES)]


def params_record() -> dict:
    """The community part of `truth/params.json`."""
    return {"source": SOURCE, "inactive_days": INACTIVE_DAYS,
            "habits": [asdict(h) for h in HABITS], "weekday_weight": WEEKDAY_WEIGHT.tolist(),
            "second_open_p": SECOND_OPEN_P, "read_floor": READ_FLOOR,
            "message_weekdays": list(MESSAGE_WEEKDAYS), "message_hour_local": MESSAGE_HOUR,
            "message_read_hours_mean": MESSAGE_READ_HOURS}
