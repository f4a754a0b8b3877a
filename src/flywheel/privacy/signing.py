"""The audit signing key: an Ed25519 key created on first use, kept next to the identifier key.

Checkpoints of the audit log are signed with it, so someone who can rewrite the log files but cannot
read this key cannot forge a consistent history. The private key is 32 hex-encoded bytes (mode 0600);
its public half is written beside it as `<name>.pub`, which is all a verifier needs.
"""

from __future__ import annotations

import hashlib
import logging
import os
import secrets
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from flywheel.errors import ConfigError

log = logging.getLogger(__name__)

SEED_BYTES = 32


def public_key_file(signing_key_file: Path) -> Path:
    """`audit-signing.key` → `audit-signing.pub`, in the same directory."""
    return Path(signing_key_file).expanduser().with_suffix(".pub")


def load_or_create_signing_key(path: Path) -> Ed25519PrivateKey:
    """Read the hex Ed25519 seed at `path`, creating it (mode 0600) and its `.pub` if missing.

    Creation writes a temporary file and hard-links it into place, so two processes starting at once
    agree on one key and neither ever reads a half-written file.
    """
    path = Path(path).expanduser()
    if not path.exists():
        _create(path)
    key = _read_private(path)
    public = public_key_file(path)
    if not public.exists():
        _write_atomic(public, public_bytes(key).hex() + "\n", 0o644)
    return key


def _create(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_bytes(SEED_BYTES).hex() + "\n")
            f.flush()
            os.fsync(f.fileno())
        try:
            os.link(tmp, path)
            log.info("created audit signing key %s", path)
        except FileExistsError:
            pass
    finally:
        tmp.unlink(missing_ok=True)


def _read_private(path: Path) -> Ed25519PrivateKey:
    try:
        seed = bytes.fromhex(path.read_text().strip())
    except ValueError:
        raise ConfigError(f"Audit signing key file {path} is not hex; refusing to guess.") from None
    if len(seed) != SEED_BYTES:
        raise ConfigError(f"Audit signing key in {path} is {len(seed)} bytes; an Ed25519 seed is {SEED_BYTES}.")
    return Ed25519PrivateKey.from_private_bytes(seed)


def _write_atomic(path: Path, text: str, mode: int) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def write_public_key(path: Path, public: bytes) -> None:
    """Write `public` as hex to `path` unless it already holds exactly that."""
    path = Path(path)
    text = public.hex() + "\n"
    if not path.exists() or path.read_text() != text:
        _write_atomic(path, text, 0o644)


def public_bytes(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def key_id(public: bytes) -> str:
    """A short name for a public key, stored in each checkpoint so a key change is visible."""
    return hashlib.sha256(public).hexdigest()[:16]


def trusted_public_key(signing_key_file: Path) -> bytes | None:
    """The public key a verifier may trust: derived from the private key, else the `.pub` beside it.

    Never the `signing.pub` inside the audit directory: whoever can rewrite the log can rewrite that
    file too, and would then vouch for their own forgery. None when neither file exists.
    """
    path = Path(signing_key_file).expanduser()
    if path.exists():
        return public_bytes(_read_private(path))
    public = public_key_file(path)
    if not public.exists():
        return None
    try:
        raw = bytes.fromhex(public.read_text().strip())
    except ValueError:
        raise ConfigError(f"Audit public key file {public} is not hex.") from None
    if len(raw) != 32:
        raise ConfigError(f"Audit public key in {public} is {len(raw)} bytes; an Ed25519 key is 32.")
    return raw


def sign(key: Ed25519PrivateKey, message: bytes) -> str:
    return key.sign(message).hex()


def signature_valid(public: bytes, message: bytes, signature_hex: str) -> bool:
    """True when `signature_hex` is `public`'s Ed25519 signature of `message`; False for any malformed input."""
    try:
        Ed25519PublicKey.from_public_bytes(public).verify(bytes.fromhex(signature_hex), message)
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True
