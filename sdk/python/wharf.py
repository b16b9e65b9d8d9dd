"""Wharf helpers for Python services built with componentize-py.

`wharf build` puts this module on the path of every Python service. It wraps
the bindings componentize-py generates from Wharf's WIT (`wit_world`) where
they are awkward to use directly:

- `Request`, `Response` and `HttpHandler`: a request handler that gets the
  whole request body and returns a whole response, instead of streams and an
  out-parameter. HTTP stays standard `wasi:http`: an `IncomingHandler` class
  in your app module is the service's entry point.
- `publish` and `request`: `wasmcloud:messaging/consumer` with strings or
  bytes; `Message` and `MessageHandler` for a service with subscriptions.
- `Store` (`wasi:keyvalue/store` with `str` values) and `config`
  (`wasi:config/store`).

Everything raises `WharfError` with the host's message when the host says
no (a topic the manifest does not grant, an unknown store, ...).

The raw bindings stay available: `from wit_world.imports import consumer`.
"""

# componentize-py bundles the modules imported when the app is built, so
# every import is at the top: an import inside a function fails at run time.
import json
import sys
import traceback
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple, Union

from componentize_py_types import Err, Ok
from wit_world.imports import (
    consumer,
    message_context,
    wasi_config_store,
    wasi_keyvalue_store,
    wasmcloud_messaging_types,
)
from wit_world.imports import wasi_http_types as http
from wit_world.imports.streams import StreamError_Closed

# The most bytes `blocking_write_and_flush` accepts in one call.
_WRITE_CHUNK = 4096
_READ_CHUNK = 64 * 1024

Body = Union[bytes, str]


class WharfError(Exception):
    """The host refused a call; the message says why."""


def _bytes(body: Body) -> bytes:
    return body.encode() if isinstance(body, str) else body


def _error_text(error: object) -> str:
    value = getattr(error, "value", error)
    inner = getattr(value, "value", None)
    if isinstance(inner, str):
        return inner
    return str(value)


# ---------------------------------------------------------------- HTTP

_METHODS = {
    http.Method_Get: "GET",
    http.Method_Head: "HEAD",
    http.Method_Post: "POST",
    http.Method_Put: "PUT",
    http.Method_Delete: "DELETE",
    http.Method_Connect: "CONNECT",
    http.Method_Options: "OPTIONS",
    http.Method_Trace: "TRACE",
    http.Method_Patch: "PATCH",
}


@dataclass
class Request:
    """An incoming HTTP request with its whole body read."""

    method: str
    path: str
    query: str
    headers: List[Tuple[str, str]]
    body: bytes

    def header(self, name: str) -> Optional[str]:
        """The first value of header `name` (case-insensitive), if any."""
        name = name.lower()
        for key, value in self.headers:
            if key.lower() == name:
                return value
        return None

    def text(self) -> str:
        return self.body.decode()

    def json(self):
        return json.loads(self.body)


@dataclass
class Response:
    """A whole HTTP response."""

    status: int = 200
    body: Body = b""
    headers: Dict[str, str] = field(default_factory=dict)

    @staticmethod
    def json(value, status: int = 200) -> "Response":
        return Response(status, json.dumps(value), {"content-type": "application/json"})

    @staticmethod
    def text(text: str, status: int = 200) -> "Response":
        return Response(status, text, {"content-type": "text/plain; charset=utf-8"})


def _read_request(request: http.IncomingRequest) -> Request:
    method = request.method()
    name = _METHODS.get(type(method)) or getattr(method, "value", "GET")
    target = request.path_with_query() or "/"
    path, _, query = target.partition("?")
    headers = [(k, v.decode("latin-1")) for k, v in request.headers().entries()]
    chunks = []
    body = request.consume()
    with body.stream() as stream:
        while True:
            try:
                chunks.append(stream.blocking_read(_READ_CHUNK))
            except Err as error:
                if isinstance(error.value, StreamError_Closed):
                    break
                raise
    http.IncomingBody.finish(body)
    return Request(name, path, query, headers, b"".join(chunks))


def _write_response(response: Response, out: http.ResponseOutparam) -> None:
    body = _bytes(response.body)
    fields = http.Fields.from_list(
        [(k.lower(), v.encode()) for k, v in response.headers.items()]
    )
    outgoing = http.OutgoingResponse(fields)
    outgoing.set_status_code(response.status)
    outgoing_body = outgoing.body()
    http.ResponseOutparam.set(out, Ok(outgoing))
    with outgoing_body.write() as stream:
        for start in range(0, len(body), _WRITE_CHUNK):
            stream.blocking_write_and_flush(body[start : start + _WRITE_CHUNK])
    http.OutgoingBody.finish(outgoing_body, None)


class HttpHandler:
    """Base class for the app's `IncomingHandler`: override `on_request`.

    An exception in `on_request` becomes a `500` whose body is the exception
    text, and is printed to stderr (the host's log).
    """

    def on_request(self, request: Request) -> Response:
        return Response.text("not found\n", 404)

    def handle(self, request: http.IncomingRequest, response_out: http.ResponseOutparam) -> None:
        try:
            response = self.on_request(_read_request(request))
        except Exception as error:  # noqa: BLE001 - reported to the client
            traceback.print_exc(file=sys.stderr)
            response = Response.text(f"internal error: {error}\n", 500)
        _write_response(response, response_out)


# ---------------------------------------------------------------- messaging


@dataclass
class Message:
    """A message delivered to a `MessageHandler`, or a request's reply."""

    subject: str
    body: bytes
    reply_to: Optional[str] = None

    def text(self) -> str:
        return self.body.decode()

    def json(self):
        return json.loads(self.body)

    def metadata(self) -> List[Tuple[str, str]]:
        """The headers of the message being handled (trace context, ...)."""
        return message_context.metadata()


def publish(subject: str, body: Body, reply_to: Optional[str] = None) -> None:
    """Publishes a message; the manifest's `publish` must cover `subject`."""
    try:
        consumer.publish(wasmcloud_messaging_types.BrokerMessage(subject, _bytes(body), reply_to))
    except Err as error:
        raise WharfError(_error_text(error)) from None


def request(subject: str, body: Body, timeout_ms: int = 5000) -> Message:
    """Sends a request and waits for its reply."""
    try:
        reply = consumer.request(subject, _bytes(body), timeout_ms)
    except Err as error:
        raise WharfError(_error_text(error)) from None
    return Message(reply.subject, reply.body, reply.reply_to)


class MessageHandler:
    """Base class for the app's `Handler` (a service with subscriptions):
    override `on_message`. An exception is a failed delivery, which the host
    retries and then sends to the dead-letter topic."""

    def on_message(self, message: Message) -> None:
        pass

    def handle_message(self, msg: wasmcloud_messaging_types.BrokerMessage) -> None:
        try:
            self.on_message(Message(msg.subject, msg.body, msg.reply_to))
        except Exception as error:  # noqa: BLE001 - reported to the host
            raise Err(f"{type(error).__name__}: {error}") from None


# ---------------------------------------------------------------- key-value


class Store:
    """A key-value store the manifest grants (`key_value_stores`)."""

    def __init__(self, name: str = "default"):
        try:
            self._bucket = wasi_keyvalue_store.open(name)
        except Err as error:
            raise WharfError(_error_text(error)) from None

    def get_bytes(self, key: str) -> Optional[bytes]:
        try:
            return self._bucket.get(key)
        except Err as error:
            raise WharfError(_error_text(error)) from None

    def get(self, key: str) -> Optional[str]:
        value = self.get_bytes(key)
        return None if value is None else value.decode()

    def set(self, key: str, value: Body) -> None:
        try:
            self._bucket.set(key, _bytes(value))
        except Err as error:
            raise WharfError(_error_text(error)) from None

    def delete(self, key: str) -> None:
        try:
            self._bucket.delete(key)
        except Err as error:
            raise WharfError(_error_text(error)) from None

    def keys(self) -> List[str]:
        keys: List[str] = []
        cursor = None
        while True:
            try:
                page = self._bucket.list_keys(cursor)
            except Err as error:
                raise WharfError(_error_text(error)) from None
            keys.extend(page.keys)
            cursor = page.cursor
            if cursor is None:
                return keys


# ---------------------------------------------------------------- config


def config(key: str) -> Optional[str]:
    """A manifest variable (`[service.x.variables]`), or None."""
    try:
        return wasi_config_store.get(key)
    except Err as error:
        raise WharfError(_error_text(error)) from None
