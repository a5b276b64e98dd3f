"""``POST /rerank`` over HTTP, for apps that are not written in Python.

Request: ``{"user_id": "u42", "items": ["sku-1", "sku-2", ...], "surface"?: "search"}``
(``surface``: one of ``INTERESTS_SURFACES``, whose mix weight the user's blend
takes; absent: the default surface); response: what
:meth:`state.InterestReader.rerank` returns, as JSON. A stdlib WSGI server in a
daemon thread (as ``/metrics`` is served), on ``INTERESTS_RERANK_PORT`` at
``INTERESTS_METRICS_HOST``; 0 serves nothing. Reads go to Redis directly (two
round trips), so a request never waits on the worker's event loop.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import orjson

from state import InterestReader
from streams.read_side import open_reader
from streams.settings import Settings

log = logging.getLogger(__name__)

MAX_CANDIDATES = 1000
MAX_BODY_BYTES = 1 << 20
StartResponse = Callable[[str, list[tuple[str, str]]], Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


class _BadRequest(Exception):
    pass


def _parse(body: bytes) -> tuple[str, list[str], str | None]:
    try:
        request = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise _BadRequest(f"body is not JSON: {exc}") from None
    if not isinstance(request, dict):
        raise _BadRequest("body must be a JSON object")
    user_id, items = request.get("user_id"), request.get("items")
    if isinstance(user_id, bool) or not isinstance(user_id, str | int) or not str(user_id):
        raise _BadRequest("user_id must be a non-empty string or integer")
    if not isinstance(items, list) or not all(
        isinstance(i, str | int) and not isinstance(i, bool) for i in items
    ):
        raise _BadRequest("items must be a list of item ids (strings or integers)")
    if len(items) > MAX_CANDIDATES:
        raise _BadRequest(f"at most {MAX_CANDIDATES} items per request, got {len(items)}")
    surface = request.get("surface")
    if surface is not None and not isinstance(surface, str):
        raise _BadRequest("surface must be a string")
    return str(user_id).strip(), [str(i) for i in items], surface


def rerank_app(
    reader: InterestReader,
) -> Callable[[dict[str, Any], StartResponse], Iterable[bytes]]:
    """The WSGI application: ``POST /rerank``; 400 with a reason for a bad request."""

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        def reply(status: str, body: object) -> list[bytes]:
            data = orjson.dumps(body)
            start_response(
                status, [("Content-Type", "application/json"), ("Content-Length", str(len(data)))]
            )
            return [data]

        if environ.get("PATH_INFO") != "/rerank":
            return reply("404 Not Found", {"error": "only POST /rerank is served here"})
        if environ.get("REQUEST_METHOD") != "POST":
            return reply("405 Method Not Allowed", {"error": "use POST"})
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = -1
        if not 0 < length <= MAX_BODY_BYTES:
            return reply(
                "400 Bad Request", {"error": f"need a body of 1 to {MAX_BODY_BYTES} bytes"}
            )
        try:
            user_id, items, surface = _parse(environ["wsgi.input"].read(length))
            reader.surface(surface)  # a name the service does not know is the caller's error
        except (_BadRequest, ValueError) as exc:
            return reply("400 Bad Request", {"error": str(exc)})
        return reply("200 OK", reader.rerank(user_id, items, surface))

    return app


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        log.debug(format, *args)


def serve_rerank(settings: Settings) -> WSGIServer | None:
    """Start serving ``/rerank``; the server (``shutdown()`` stops it), or None when off."""
    if settings.rerank_port <= 0:
        return None
    reader = open_reader(settings)
    try:
        server = make_server(
            settings.metrics_host,
            settings.rerank_port,
            rerank_app(reader),
            server_class=_ThreadingServer,
            handler_class=_QuietHandler,
        )
    except OSError as exc:  # a taken port must not stop the stream
        log.error("cannot serve /rerank on port %d (%s)", settings.rerank_port, exc)
        reader.close()
        return None
    threading.Thread(target=server.serve_forever, name="rerank-http", daemon=True).start()
    log.info("rerank on http://%s:%d/rerank", settings.metrics_host, settings.rerank_port)
    return server
