"""What event and scheduled functions receive."""

import json as _json
from dataclasses import dataclass, field
from typing import Any, List, Optional, Tuple


@dataclass
class Event:
    """One event. ``id`` is stable across redeliveries (``topic/partition/offset`` for Kafka):
    use it to stay idempotent. ``attempt`` is 1 on the first delivery."""

    id: str
    source: str
    topic: str
    key: Optional[bytes]
    payload: bytes
    headers: List[Tuple[str, bytes]] = field(default_factory=list)
    attempt: int = 1

    def text(self) -> str:
        return self.payload.decode()

    def json(self) -> Any:
        return _json.loads(self.payload)


@dataclass
class Tick:
    """One tick of a schedule. ``scheduled_time`` (RFC 3339) identifies it across retries."""

    schedule: str
    scheduled_time: str
    fire_time: str
    payload: Optional[str] = None

    def json(self) -> Any:
        return None if self.payload is None else _json.loads(self.payload)
