"""HTTP functions: a ``Request`` in, a ``Response`` out. ``path`` is below the function's
mount (``/fn/<tenant>/<function>``)."""

import json as _json
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple, Union
from urllib.parse import parse_qsl


@dataclass
class Request:
    method: str
    path: str
    query: str = ""
    headers: List[Tuple[str, str]] = field(default_factory=list)
    body: bytes = b""

    def header(self, name: str) -> Optional[str]:
        name = name.lower()
        for key, value in self.headers:
            if key.lower() == name:
                return value
        return None

    def query_param(self, name: str) -> Optional[str]:
        for key, value in parse_qsl(self.query, keep_blank_values=True):
            if key == name:
                return value
        return None

    def text(self) -> str:
        return self.body.decode()

    def json(self) -> Any:
        """The body as JSON; raises ``ValueError`` (answered 400 by ``on_http``) if it is not."""
        try:
            return _json.loads(self.body)
        except ValueError as err:
            raise BadRequest(f"invalid JSON body: {err}") from None

    def is_owner(self) -> bool:
        """True when the caller presented the tenant's API key (the host checked it)."""
        return self.header("x-geyser-owner") == "true"


@dataclass
class Response:
    status: int = 200
    body: Union[bytes, str] = b""
    headers: Dict[str, str] = field(default_factory=dict)

    @staticmethod
    def text(status: int, body: str) -> "Response":
        return Response(status, body, {"content-type": "text/plain; charset=utf-8"})

    @staticmethod
    def json(status: int, value: Any) -> "Response":
        return Response(status, _json.dumps(value, separators=(",", ":")), {"content-type": "application/json"})

    @staticmethod
    def error(status: int, message: str) -> "Response":
        return Response.json(status, {"error": message})


class BadRequest(ValueError):
    """Raised by ``Request.json`` on a malformed body; ``on_http`` answers 400."""


# wasi:http's generated modules, imported by ``bind`` when ``on_http`` runs — at build time: the
# component imports nothing at run time that the build did not (it has no files then).
_wasi = {}


def bind() -> None:
    from componentize_py_types import Err, Ok
    from wit_world.imports import streams, types

    _wasi.update(Err=Err, Ok=Ok, streams=streams, types=types)


_METHODS = ["GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"]


def _method(types, method) -> str:
    for name in _METHODS:
        if isinstance(method, getattr(types, "Method_" + name.capitalize())):
            return name
    return str(method.value)


def read_request(incoming) -> Request:
    Err, streams, types = _wasi["Err"], _wasi["streams"], _wasi["types"]

    path_with_query = incoming.path_with_query() or "/"
    path, _, query = path_with_query.partition("?")
    headers = [(k, v.decode("latin-1")) for k, v in incoming.headers().entries()]
    body = incoming.consume()
    stream = body.stream()
    chunks = []
    while True:
        try:
            chunks.append(stream.blocking_read(65536))
        except Err as err:
            if isinstance(err.value, streams.StreamError_Closed):
                break
            raise
    stream.__exit__(None, None, None)
    types.IncomingBody.finish(body)
    return Request(_method(types, incoming.method()), path, query, headers, b"".join(chunks))


def write_response(response_out, response: Response) -> None:
    Ok, types = _wasi["Ok"], _wasi["types"]

    body = response.body.encode() if isinstance(response.body, str) else bytes(response.body)
    fields = types.Fields.from_list([(k.lower(), str(v).encode()) for k, v in response.headers.items()])
    outgoing = types.OutgoingResponse(fields)
    outgoing.set_status_code(response.status)
    out_body = outgoing.body()
    types.ResponseOutparam.set(response_out, Ok(outgoing))
    stream = out_body.write()
    for start in range(0, len(body), 4096):
        stream.blocking_write_and_flush(body[start : start + 4096])
    stream.__exit__(None, None, None)
    types.OutgoingBody.finish(out_body, None)
