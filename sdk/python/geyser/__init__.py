"""Write Geyser functions in Python.

One decorator makes a module a function: ``@geyser.on_http`` (a ``Request`` in, a ``Response``
out), ``@geyser.on_event`` (an ``Event`` in; raise to have it retried) or ``@geyser.on_schedule``
(a ``Tick`` in). ``geyser.kv`` is the tenant's key-value store, ``geyser.log`` its logs,
``geyser.publish`` its topics and ``geyser.config`` the function's variables and secrets.

Build with ``geyser-py-build`` (see sdk/python/README.md): componentize-py generates the
bindings of the world at build time; this package is the only code that touches them.
"""

from ._handlers import on_event, on_http, on_schedule
from .errors import ConfigError, GeyserError, KvError, PublishError
from .http import Request, Response
from .types import Event, Tick
from . import config, kv, log
from .publish import publish

__all__ = [
    "on_http",
    "on_event",
    "on_schedule",
    "Request",
    "Response",
    "Event",
    "Tick",
    "kv",
    "log",
    "config",
    "publish",
    "GeyserError",
    "KvError",
    "PublishError",
    "ConfigError",
]
