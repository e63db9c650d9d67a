"""The decorators: each defines, in the decorated function's module, the class componentize-py
exports for the world (``IncomingHandler``, ``EventHandler``, ``ScheduleHandler``).

An exception escaping a handler is logged with its traceback (level error) and ends the
invocation as failed: an event is retried and dead-lettered, a tick follows its schedule's
retry policy, and an HTTP request is answered 500 (a 5xx answer is metered as an error).
"""

import sys
import traceback
from typing import Callable

from . import log
from .http import BadRequest, Request, Response
from .types import Event, Tick


def _export(fn: Callable, name: str, cls) -> Callable:
    setattr(sys.modules[fn.__module__], name, cls)
    return fn


def _failed(what: str) -> str:
    trace = traceback.format_exc()
    log.error(f"{what} raised:\n{trace}")
    return trace.strip().splitlines()[-1]


def on_http(fn: Callable[[Request], Response]) -> Callable[[Request], Response]:
    """``fn(request) -> Response`` answers every request to the function."""
    from .http import bind, read_request, write_response

    bind()

    class IncomingHandler:
        def handle(self, request, response_out) -> None:
            try:
                response = fn(read_request(request))
                if not isinstance(response, Response):
                    raise TypeError(f"the handler returned {type(response).__name__}, not a geyser.Response")
            except BadRequest as err:
                response = Response.error(400, str(err))
            except Exception:  # noqa: BLE001 - every failure becomes the invocation's
                _failed("the HTTP handler")
                # A 5xx answer is metered as a failed invocation.
                response = Response.error(500, "internal error")
            write_response(response_out, response)

    return _export(fn, "IncomingHandler", IncomingHandler)


def on_event(fn: Callable[[Event], None]) -> Callable[[Event], None]:
    """``fn(event)``: returning acknowledges the event; raising has it retried (``attempt``
    grows) and, after the binding's attempts, dead-lettered."""
    from componentize_py_types import Err

    class EventHandler:
        def handle(self, event) -> None:
            try:
                fn(
                    Event(
                        event.id,
                        event.source,
                        event.topic,
                        event.key,
                        event.payload,
                        list(event.headers),
                        event.attempt,
                    )
                )
            except Exception:  # noqa: BLE001
                raise Err(_failed(f"the event handler (event {event.id})"))

    return _export(fn, "EventHandler", EventHandler)


def on_schedule(fn: Callable[[Tick], None]) -> Callable[[Tick], None]:
    """``fn(tick)`` runs on each tick of the function's schedules; raising fails the tick."""
    from componentize_py_types import Err

    class ScheduleHandler:
        def on_tick(self, tick) -> None:
            try:
                fn(Tick(tick.schedule, tick.scheduled_time, tick.fire_time, tick.payload))
            except Exception:  # noqa: BLE001
                raise Err(_failed(f"the schedule handler (tick {tick.scheduled_time})"))

    return _export(fn, "ScheduleHandler", ScheduleHandler)
