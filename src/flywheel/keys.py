"""The merchant's identifier key: created on first use, kept outside the repository.

Every identifier is stored as HMAC-SHA256 under this key, so hashes match across files and runs of
one merchant but cannot be reversed by dictionary attack without the key.
"""

from __future__ import annotations

import logging
import os
import secrets
from pathlib import Path

from flywheel.errors import ConfigError

log = logging.getLogger(__name__)

KEY_BYTES = 32


def load_or_create_key(path: Path) -> bytes:
    """Read the hex key at `path`, creating it (mode 0600) if it does not exist."""
    path = Path(path).expanduser()
    if path.exists():
        try:
            key = bytes.fromhex(path.read_text(encoding="ascii").strip())
        except ValueError:
            raise ConfigError(f"Key file {path} is not hex; refusing to guess.") from None
        if len(key) < 16:
            raise ConfigError(f"Key in {path} is shorter than 16 bytes.")
        return key
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_bytes(KEY_BYTES)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(key.hex() + "\n")
    log.info("created key file %s", path)
    return key


def master_key_file(settings) -> Path:
    """The master key (beside the identifier key): it wraps or derives every data key of persons and accounts."""
    return Path(settings.key_file).expanduser().parent / "master.key"
