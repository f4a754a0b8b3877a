"""The tamper-evident audit log: who did what to whose data, when and why.

Entries form a hash chain (each names the hash of the one before) and signed checkpoints fix the Merkle
root (RFC 6962) of the first `size` entries. Editing, inserting, deleting, reordering or truncating
entries breaks the chain or a root; rewriting everything consistently needs the signing key.

    with AuditLog.for_settings(settings) as audit:
        audit.append(actor="li.wei", role="analyst", action="read.unmasked", target="p3f9…", purpose="refund")
    verify_settings(settings).ok
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import re
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

from flywheel.errors import ConfigError, FlywheelError, InputError
from flywheel.privacy import signing

log = logging.getLogger(__name__)

ENTRIES, CHECKPOINTS, STATE, LOCK = "entries.jsonl", "checkpoints.jsonl", "merkle.state", "audit.lock"
GENESIS = "0" * 64
ENTRY_DOMAIN = b"flywheel.audit.entry.v1\n"
CHECKPOINT_DOMAIN = b"flywheel.audit.checkpoint.v1\n"
FIELDS = frozenset({"seq", "at", "actor", "role", "action", "target", "purpose", "subject", "detail", "prev", "hash"})
CHECKPOINT_FIELDS = frozenset({"size", "root", "at", "sig", "key_id"})
ACTION = re.compile(r"[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+")


class AuditLogBroken(FlywheelError):
    """The audit log fails verification, or its last line is damaged so nothing can be appended."""


def audit_dir(settings) -> Path:
    """`flywheel.duckdb` → `flywheel.duckdb.audit/`; a Spark warehouse directory → `<dir>/audit/`."""
    db = Path(settings.db_path)
    return db / "audit" if settings.engine == "spark" else db.with_name(db.name + ".audit")


def signing_key_file(settings) -> Path:
    """The signing key sits beside the identifier key, outside the warehouse and its audit directory."""
    return Path(settings.key_file).expanduser().parent / "audit-signing.key"


def canonical(value) -> bytes:
    """The one serialisation hashes and signatures cover: sorted keys, no spaces, UTF-8."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def entry_hash(entry: dict) -> str:
    """SHA-256 over a domain prefix, `prev` and the canonical entry without its `hash`."""
    body = {k: v for k, v in entry.items() if k != "hash"}
    return hashlib.sha256(ENTRY_DOMAIN + body["prev"].encode() + canonical(body)).hexdigest()


def checkpoint_message(size: int, root: str, at: str) -> bytes:
    return CHECKPOINT_DOMAIN + canonical({"at": at, "root": root, "size": size})


class MerkleRange:
    """RFC 6962 tree hash of a growing list, kept as its perfect subtrees' roots: O(log n) memory.

    The subtrees' sizes are the binary digits of `size`, largest first, so adding a leaf merges as many
    subtrees as `size` has trailing one bits, and the root folds them right to left, as RFC 6962 splits.
    """

    def __init__(self, size: int = 0, peaks: list[bytes] | None = None):
        self.size = size
        self.peaks = peaks or []

    def add(self, entry_hash_hex: str) -> None:
        node = hashlib.sha256(b"\x00" + bytes.fromhex(entry_hash_hex)).digest()
        n = self.size
        while n & 1:
            node = hashlib.sha256(b"\x01" + self.peaks.pop() + node).digest()
            n >>= 1
        self.peaks.append(node)
        self.size += 1

    def root(self) -> str:
        if not self.peaks:
            return hashlib.sha256(b"").hexdigest()
        node = self.peaks[-1]
        for left in reversed(self.peaks[:-1]):
            node = hashlib.sha256(b"\x01" + left + node).digest()
        return node.hex()


class AuditLog:
    """Append-only across processes: each append holds an exclusive lock and rereads only the tail."""

    def __init__(self, directory: Path, key, checkpoint_every: int):
        self.directory = directory
        self.checkpoint_every = checkpoint_every
        self._key = key
        self._key_id = signing.key_id(signing.public_bytes(key))
        self._unsigned = False

    @classmethod
    def open(cls, directory: Path, signing_key_file: Path, checkpoint_every: int = 100) -> "AuditLog":
        if checkpoint_every < 1:
            raise InputError(f"checkpoint_every must be ≥ 1. Got {checkpoint_every}.")
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        key = signing.load_or_create_signing_key(signing_key_file)
        signing.write_public_key(directory / "signing.pub", signing.public_bytes(key))
        return cls(directory, key, checkpoint_every)

    @classmethod
    def for_settings(cls, settings, checkpoint_every: int = 100) -> "AuditLog":
        return cls.open(audit_dir(settings), signing_key_file(settings), checkpoint_every)

    def append(self, *, actor: str, role: str, action: str, target: str, purpose: str | None = None,
               subject: str | None = None, detail: dict | None = None) -> dict:
        """Write one entry, durably (fsync), and return it; a checkpoint follows every `checkpoint_every`."""
        body = _checked(actor=actor, role=role, action=action, target=target, purpose=purpose, subject=subject,
                        detail=detail)
        with self._locked():
            seq, prev = self._tail()
            entry = {**body, "seq": seq + 1, "at": _now(), "prev": prev}
            entry["hash"] = entry_hash(entry)
            _append_line(self.directory / ENTRIES, canonical(entry))
            self._unsigned = True
            if (seq + 2) % self.checkpoint_every == 0:
                self._checkpoint_locked()
        return entry

    def entries(self, *, subject: str | None = None, action: str | None = None) -> Iterator[dict]:
        return read_entries(self.directory, subject=subject, action=action)

    def checkpoint(self) -> dict | None:
        """Sign the current size and root; None when the last checkpoint already covers every entry."""
        with self._locked():
            return self._checkpoint_locked()

    def close(self) -> None:
        if self._unsigned:
            self.checkpoint()

    def __enter__(self) -> "AuditLog":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @contextmanager
    def _locked(self):
        fd = os.open(self.directory / LOCK, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def _tail(self) -> tuple[int, str]:
        """(seq, hash) of the last entry, or (-1, GENESIS) for an empty log."""
        line = _last_line(self.directory / ENTRIES)
        if line is None:
            return -1, GENESIS
        try:
            last = json.loads(line)
            return int(last["seq"]), str(last["hash"])
        except (ValueError, KeyError, TypeError):
            raise AuditLogBroken(f"The last line of {self.directory / ENTRIES} is not an audit entry; "
                                 "run `flywheel audit verify`.") from None

    def _checkpoint_locked(self) -> dict | None:
        self._unsigned = False
        seq, last_hash = self._tail()
        size = seq + 1
        last = _last_line(self.directory / CHECKPOINTS)
        try:
            last = json.loads(last) if last else None
            covered = last["size"] if last else 0
        except (ValueError, KeyError, TypeError):
            raise AuditLogBroken(f"The last line of {self.directory / CHECKPOINTS} is not a checkpoint; "
                                 "run `flywheel audit verify`.") from None
        if covered > size:
            raise AuditLogBroken(f"The last checkpoint covers {covered} entries but {size} exist; "
                                 "run `flywheel audit verify`.")
        if covered == size:
            return None
        root, at = self._tree(size, last_hash, last).root(), _now()
        cp = {"size": size, "root": root, "at": at, "key_id": self._key_id,
              "sig": signing.sign(self._key, checkpoint_message(size, root, at))}
        _append_line(self.directory / CHECKPOINTS, canonical(cp))
        return cp

    def _tree(self, size: int, last_hash: str, last: dict | None) -> MerkleRange:
        """The Merkle range over all entries, resumed from `merkle.state` when that still fits the file.

        The state is a cache written with each checkpoint and never read by `verify`. It is used only when
        its root is the one our last checkpoint signed and the entries after it chain on; else start over.
        """
        try:
            state = json.loads((self.directory / STATE).read_text())
            tree = MerkleRange(state["size"], [bytes.fromhex(p) for p in state["peaks"]])
            if not (last and tree.size == last["size"] and tree.root() == last["root"] and signing.signature_valid(
                    signing.public_bytes(self._key), checkpoint_message(last["size"], last["root"], last["at"]),
                    last["sig"])):
                raise ValueError("merkle.state is not what the last checkpoint signed")
            tree, offset, prev = self._extend(tree, state["offset"], state["hash"])
        except (OSError, ValueError, KeyError, TypeError):
            tree, offset, prev = MerkleRange(), 0, None
        if tree.size != size or prev != last_hash:
            try:
                tree, offset, prev = self._extend(MerkleRange(), 0, GENESIS)
            except (ValueError, KeyError, TypeError):
                raise AuditLogBroken(f"{self.directory / ENTRIES} is not a consistent chain; "
                                     "run `flywheel audit verify`.") from None
        state = {"size": tree.size, "offset": offset, "hash": prev, "peaks": [p.hex() for p in tree.peaks]}
        tmp = self.directory / f".{STATE}.tmp"
        tmp.write_text(json.dumps(state))
        os.replace(tmp, self.directory / STATE)
        return tree

    def _extend(self, tree: MerkleRange, offset: int, prev: str) -> tuple[MerkleRange, int, str]:
        with open(self.directory / ENTRIES, "rb") as f:
            f.seek(offset)
            for raw in f:
                entry = json.loads(raw)
                if entry["seq"] != tree.size or entry["prev"] != prev:
                    raise ValueError("merkle.state does not fit entries.jsonl")
                tree.add(entry["hash"])
                prev, offset = entry["hash"], offset + len(raw)
        return tree, offset, prev


def read_entries(directory: Path, *, subject: str | None = None, action: str | None = None) -> Iterator[dict]:
    """Entries in order, only those about `subject` / of `action` when given. Streams; checks nothing."""
    path = Path(directory) / ENTRIES
    if not path.exists():
        return
    with open(path, "rb") as f:
        for n, raw in enumerate(f, 1):
            if not raw.endswith(b"\n"):
                return
            try:
                entry = json.loads(raw)
            except ValueError:
                raise AuditLogBroken(f"{path} line {n} is not JSON; run `flywheel audit verify`.") from None
            if (subject is None or entry.get("subject") == subject) and (action is None or entry.get("action") == action):
                yield entry


def _checked(**fields) -> dict:
    for name in ("actor", "role", "action", "target"):
        if not isinstance(fields[name], str) or not fields[name]:
            raise InputError(f"Audit entry needs a non-empty {name} string. Got {fields[name]!r}.")
    for name in ("purpose", "subject"):
        if fields[name] is not None and not isinstance(fields[name], str):
            raise InputError(f"Audit entry {name} must be a string or None. Got {fields[name]!r}.")
    if not ACTION.fullmatch(fields["action"]):
        raise InputError(f"Audit action {fields['action']!r} is not a dotted name like 'privacy.erase'.")
    detail = fields["detail"] or {}
    if not isinstance(detail, dict):
        raise InputError(f"Audit entry detail must be a dict. Got {type(detail).__name__}.")
    try:
        fields["detail"] = json.loads(canonical(detail))
    except (TypeError, ValueError) as e:
        raise InputError(f"Audit entry detail is not plain JSON: {e}.") from None
    return fields


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


def _append_line(path: Path, line: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        view = memoryview(line + b"\n")
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    finally:
        os.close(fd)


def _last_line(path: Path, block: int = 8192) -> bytes | None:
    """The last line of `path` without reading the rest; None for a missing or empty file."""
    try:
        f = open(path, "rb")
    except FileNotFoundError:
        return None
    with f:
        end = f.seek(0, os.SEEK_END)
        if end == 0:
            return None
        f.seek(end - 1)
        if f.read(1) != b"\n":
            raise AuditLogBroken(f"{path} ends in an incomplete line (an interrupted write?); "
                                 "run `flywheel audit verify`.")
        pos, tail = end - 1, b""
        while True:
            step = min(block, pos)
            pos -= step
            f.seek(pos)
            tail = f.read(step) + tail
            cut = tail.rfind(b"\n")
            if cut >= 0 or pos == 0:
                return tail[cut + 1:]


@dataclass
class VerifyReport:
    """The outcome of `verify`. `entries` counts entries checked good; `first_broken` is the 0-based seq
    (= line index) of the first entry that can no longer be trusted: the bad entry itself, or for a
    checkpoint problem the first entry no good checkpoint vouches for. `covered` is the size of the last
    good checkpoint and `unsigned_tail` the entries after it, which only the hash chain protects."""

    ok: bool
    entries: int
    checkpoints: int
    first_broken: int | None = None
    problem: str | None = None
    covered: int = 0
    unsigned_tail: int = 0

    def as_dict(self) -> dict:
        return asdict(self)


class _Problem(Exception):
    def __init__(self, first_broken: int, problem: str):
        self.first_broken, self.problem = first_broken, problem


def verify(directory: Path, public_key: bytes) -> VerifyReport:
    """Check every entry and checkpoint in one streaming pass: O(n) time, O(log n) memory.

    Holds a shared lock so no append lands mid-read; reports the first problem with its line and reason.
    """
    directory = Path(directory)
    tree, prev, good, covered = MerkleRange(), GENESIS, 0, 0
    with _shared_lock(directory):
        checkpoints = _signed_checkpoints(directory / CHECKPOINTS, public_key)
        try:
            pending = next(checkpoints, None)
            for n, raw in _lines(directory / ENTRIES):
                prev = _checked_entry(n, raw, tree.size, prev)
                tree.add(prev)
                if pending and pending[1]["size"] == tree.size:
                    if pending[1]["root"] != tree.root():
                        raise _Problem(covered, f"checkpoints.jsonl line {pending[0]}: the Merkle root of the first "
                                                f"{tree.size} entries differs from the signed one — entries it covers "
                                                "were rewritten after it was signed")
                    good, covered = good + 1, tree.size
                    pending = next(checkpoints, None)
            if pending:
                raise _Problem(tree.size, f"checkpoints.jsonl line {pending[0]} covers {pending[1]['size']} entries "
                                          f"but entries.jsonl has only {tree.size} — entries were removed from the end")
        except _Problem as p:
            return VerifyReport(False, tree.size, good, p.first_broken, p.problem, covered)
    return VerifyReport(True, tree.size, good, covered=covered, unsigned_tail=tree.size - covered)


def verify_settings(settings) -> VerifyReport:
    """`verify` of the settings' log against the trusted public key (see `signing.trusted_public_key`)."""
    directory, key_file = audit_dir(settings), signing_key_file(settings)
    public = signing.trusted_public_key(key_file)
    if public is not None:
        return verify(directory, public)
    if any((directory / name).exists() and (directory / name).stat().st_size for name in (ENTRIES, CHECKPOINTS)):
        raise ConfigError(f"Neither {key_file} nor {signing.public_key_file(key_file)} exists, so the audit "
                          "log's signatures cannot be checked. Restore one of them.")
    return VerifyReport(True, 0, 0)


@contextmanager
def _shared_lock(directory: Path):
    try:
        fd = os.open(directory / LOCK, os.O_RDONLY)
    except OSError:
        yield
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_SH)
        yield
    finally:
        os.close(fd)


def _lines(path: Path) -> Iterator[tuple[int, bytes]]:
    if not path.exists():
        return
    with open(path, "rb") as f:
        for n, raw in enumerate(f, 1):
            if not raw.endswith(b"\n"):
                raise _Problem(n - 1, f"{path.name} line {n} is incomplete — a write was interrupted or the file cut")
            yield n, raw


def _checked_entry(n: int, raw: bytes, seq: int, prev: str) -> str:
    """The hash of entry line `n`, which must be entry `seq` following `prev`; else a _Problem."""
    where = f"entries.jsonl line {n}"
    try:
        entry = json.loads(raw)
    except ValueError:
        raise _Problem(seq, f"{where}: not valid JSON") from None
    if not isinstance(entry, dict) or set(entry) != FIELDS:
        raise _Problem(seq, f"{where}: not an audit entry (its fields are not {', '.join(sorted(FIELDS))})")
    where += f" (seq {entry['seq']})"
    if entry["seq"] != seq or not _is_int(entry["seq"]):
        how = "missing before it, or entries were reordered" if _is_int(entry["seq"]) and entry["seq"] > seq \
            else "inserted, repeated or moved"
        raise _Problem(seq, f"{where}: expected seq {seq} — an entry was {how}")
    if entry["prev"] != prev:
        raise _Problem(seq, f"{where}: does not link to the entry before it — an entry was removed, inserted or changed")
    try:
        matches = entry_hash(entry) == entry["hash"]
    except (ValueError, TypeError):
        matches = False
    if not matches:
        raise _Problem(seq, f"{where}: hash does not match its contents — the entry was modified")
    return entry["hash"]


def _signed_checkpoints(path: Path, public_key: bytes) -> Iterator[tuple[int, dict]]:
    """Checkpoints in order, each checked for shape, growing size and a signature by `public_key`."""
    previous, trusted = 0, signing.key_id(public_key)
    for n, raw in _lines(path):
        where = f"checkpoints.jsonl line {n}"
        try:
            cp = json.loads(raw)
        except ValueError:
            raise _Problem(previous, f"{where}: not valid JSON") from None
        if (not isinstance(cp, dict) or set(cp) != CHECKPOINT_FIELDS or not _is_int(cp["size"])
                or not all(isinstance(cp[k], str) for k in ("root", "at", "sig", "key_id"))):
            raise _Problem(previous, f"{where}: not a checkpoint (fields {', '.join(sorted(CHECKPOINT_FIELDS))})")
        if cp["size"] <= previous:
            raise _Problem(previous, f"{where}: covers {cp['size']} entries, not more than the one before ({previous})")
        if not signing.signature_valid(public_key, checkpoint_message(cp["size"], cp["root"], cp["at"]), cp["sig"]):
            other = "" if cp["key_id"] == trusted else f"; it names key {cp['key_id']}, the trusted key is {trusted}"
            raise _Problem(previous, f"{where}: signature does not verify{other} — the checkpoint was forged or altered")
        yield n, cp
        previous = cp["size"]


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
