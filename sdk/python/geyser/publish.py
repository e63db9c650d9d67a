"""Publishing to the tenant's topics (``<tenant>.<topic>``; the node needs Kafka)."""

from typing import Optional, Union

from componentize_py_types import Err
from wit_world.imports import publish as _host

from .errors import PublishError


def publish(topic: str, payload: Union[bytes, str], key: Optional[Union[bytes, str]] = None) -> None:
    def raw(v):
        return v.encode() if isinstance(v, str) else bytes(v)

    try:
        _host.publish(topic, None if key is None else raw(key), raw(payload))
    except Err as err:
        raise PublishError(str(err.value)) from None
