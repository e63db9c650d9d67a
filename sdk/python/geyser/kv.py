"""The tenant's key-value store: durable, shared by every node, seen only by this tenant.

Keys are 1 to 256 bytes of text, values up to 1 MiB. ``increment`` and ``compare_and_swap`` are
atomic across concurrent invocations on every node.
"""

import json as _json
from typing import Any, List, Optional, Union

from componentize_py_types import Err
from wit_world.imports import kv as _kv

from .errors import KvError

_KINDS = {
    "KvError_InvalidKey": "invalid-key",
    "KvError_ValueTooLarge": "value-too-large",
    "KvError_NotANumber": "not-a-number",
    "KvError_Unavailable": "unavailable",
    "KvError_QuotaExceeded": "quota-exceeded",
}


def _call(fn, *args):
    try:
        return fn(*args)
    except Err as err:
        value = err.value
        raise KvError(_KINDS.get(type(value).__name__, "unavailable"), str(value.value)) from None


def _bytes(value: Union[bytes, bytearray, str]) -> bytes:
    if isinstance(value, str):
        return value.encode()
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    raise TypeError(f"kv values are bytes or str, not {type(value).__name__}")


def get(key: str) -> Optional[bytes]:
    """The value at ``key``, or None."""
    return _call(_kv.get, key)


def get_text(key: str) -> Optional[str]:
    value = get(key)
    return None if value is None else value.decode()


def get_json(key: str) -> Any:
    """The JSON value at ``key``, or None when absent."""
    value = get(key)
    return None if value is None else _json.loads(value)


def set(key: str, value: Union[bytes, str]) -> None:  # noqa: A001 - the store's own verb
    _call(_kv.set, key, _bytes(value))


def set_json(key: str, value: Any) -> None:
    set(key, _json.dumps(value, separators=(",", ":")))


def delete(key: str) -> bool:
    """Removes ``key``; returns whether it existed."""
    return _call(_kv.delete, key)


def increment(key: str, delta: int = 1) -> int:
    """Atomically adds ``delta`` to the decimal integer at ``key`` (absent = 0); the new value."""
    return _call(_kv.increment, key, delta)


def compare_and_swap(key: str, expected: Optional[Union[bytes, str]], new: Union[bytes, str]) -> bool:
    """Sets ``key`` to ``new`` if it holds ``expected`` (None: absent); whether it did."""
    return _call(
        _kv.compare_and_swap,
        key,
        None if expected is None else _bytes(expected),
        _bytes(new),
    )


def list_keys(prefix: str = "", limit: int = 1000) -> List[str]:
    """Keys starting with ``prefix``, in byte order, at most ``limit``."""
    return _call(_kv.list_keys, prefix, limit)
