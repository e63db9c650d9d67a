"""The function's configuration: its variables and secrets (``geyser config set``), read
through ``wasi:config``. Secrets are decrypted by the host only for the invocation."""

from typing import Dict, Optional

from componentize_py_types import Err
from wit_world.imports import store as _store

from .errors import ConfigError

def get(name: str) -> Optional[str]:
    """The variable or secret ``name``, or None when the function has none by that name."""
    try:
        return _store.get(name)
    except Err as err:
        raise ConfigError(str(err.value.value)) from None


def all() -> Dict[str, str]:  # noqa: A001
    try:
        return dict(_store.get_all())
    except Err as err:
        raise ConfigError(str(err.value.value)) from None
