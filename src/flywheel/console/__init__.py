"""The console: a web UI in Chinese and English and the read API (/api/v1) over the warehouse, behind
keys bound to roles and the same disclosure gate as the CLI (docs/dashboard.md).

    create_console(settings)          # the FastAPI app `flywheel serve` mounts at /
    create_key(gate, "analyst")       # (secret, ApiKey); only the hash is kept
"""

from flywheel.lazy import lazy_exports

_EXPORTS = {"create_console": "flywheel.console.app", "ApiKeys": "flywheel.console.keys",
            "keys_path": "flywheel.console.keys", "create_key": "flywheel.console.keys",
            "revoke_key": "flywheel.console.keys", "list_keys": "flywheel.console.keys"}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
