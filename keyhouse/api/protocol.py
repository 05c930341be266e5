"""The HTTP/1.1 connection protocol ``keyhouse serve`` runs: uvicorn's httptools protocol with
the bounds it lacks.

- A client has ``HEADER_TIMEOUT`` seconds from connecting (or from the first byte of its next
  request on a kept-alive connection) to finish its request line and headers; a slower one is
  cut off, so that slow clients cannot hold connections open for free.
- The request line and headers together may take ``MAX_HEADER_BYTES``; a larger request is
  answered 431 and the connection closed before anything reaches the application.
- Idle kept-alive connections (a response sent, the next request not begun) are bounded per
  process: at most ``MAX_IDLE_PER_SOURCE`` per client address and ``MAX_IDLE`` in all. A
  connection that goes idle beyond either bound closes the oldest idle one (of that address,
  or of all), so a client holding connections open crowds out only itself; ``keyhouse serve``
  also closes a connection idle for ``KEEP_ALIVE`` seconds.

Which address and scheme a request came from is never taken from its headers here (uvicorn's
proxy-header rewriting is off, see ``keyhouse serve``): ``keyhouse.origin.OriginResolver``
believes forwarded headers only from configured proxies.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict

import httptools
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

HEADER_TIMEOUT = 10.0
MAX_HEADER_BYTES = 64 * 1024
# Idle kept-alive connections. A proxy in front keeps a pool per upstream (the deployment's
# nginx: 64 per worker), which fits; KEEP_ALIVE is longer than the proxy's own idle timeout
# (deploy/nginx/keyhouse.conf: 15 s), so the server never closes one the proxy reuses.
MAX_IDLE_PER_SOURCE = 128
MAX_IDLE = 2048
KEEP_ALIVE = 20


class _IdleConnections:
    """This process's idle kept-alive connections, oldest first, overall and per address."""

    def __init__(self) -> None:
        self.all: OrderedDict[BoundedHttpToolsProtocol, str] = OrderedDict()
        self.by_source: dict[str, OrderedDict[BoundedHttpToolsProtocol, None]] = {}

    def add(self, connection: BoundedHttpToolsProtocol, source: str) -> None:
        self.all[connection] = source
        mine = self.by_source.setdefault(source, OrderedDict())
        mine[connection] = None
        if len(mine) > MAX_IDLE_PER_SOURCE:
            self._close(next(iter(mine)))
        if len(self.all) > MAX_IDLE:
            self._close(next(iter(self.all)))

    def remove(self, connection: BoundedHttpToolsProtocol) -> None:
        source = self.all.pop(connection, None)
        if source is None:
            return
        mine = self.by_source[source]
        mine.pop(connection, None)
        if not mine:
            del self.by_source[source]

    def _close(self, connection: BoundedHttpToolsProtocol) -> None:
        self.remove(connection)
        if not connection.transport.is_closing():
            connection.transport.close()


_idle = _IdleConnections()


class _HeadersTooLarge(Exception):
    pass


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    _header_timer: asyncio.TimerHandle | None = None
    _header_bytes = 0
    _in_headers = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        _idle.remove(self)
        super().connection_lost(exc)

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing() and self.timeout_keep_alive_task is not None:
            client = self.client
            _idle.add(self, client[0] if client else "")  # waiting for the next request

    def _arm(self) -> None:
        self._disarm()
        self._in_headers = True
        self._header_bytes = 0
        self._header_timer = self.loop.call_later(HEADER_TIMEOUT, self._too_slow)

    def _disarm(self) -> None:
        self._in_headers = False
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _too_slow(self) -> None:
        self._header_timer = None
        if self._in_headers and not self.transport.is_closing():
            self.logger.info("closing a connection that took too long to send its headers")
            self.transport.close()

    def data_received(self, data: bytes) -> None:
        _idle.remove(self)
        self._unset_keepalive_if_required()
        if not self._in_headers and (self.cycle is None or self.cycle.response_complete):
            self._arm()  # the first bytes of the next request on this connection
        try:
            self.parser.feed_data(data)
        except _HeadersTooLarge:
            self._reply_and_close(431, "Request Header Fields Too Large")
        except httptools.HttpParserCallbackError as exc:
            if isinstance(exc.__context__, _HeadersTooLarge):
                self._reply_and_close(431, "Request Header Fields Too Large")
            else:
                self._reply_and_close(400, "Invalid HTTP request received.")
        except httptools.HttpParserError:
            self._reply_and_close(400, "Invalid HTTP request received.")
        except httptools.HttpParserUpgrade:
            self._unsupported_upgrade_warning()  # served as a plain request, as uvicorn does

    def _reply_and_close(self, status: int, message: str) -> None:
        self._disarm()
        if self.transport.is_closing():
            return
        body = message.encode("ascii")
        self.transport.write(
            b"HTTP/1.1 %d %s\r\ncontent-type: text/plain; charset=utf-8\r\n"
            b"content-length: %d\r\nconnection: close\r\n\r\n%s"
            % (status, message.encode("ascii"), len(body), body)
        )
        self.transport.close()

    def _count(self, size: int) -> None:
        self._header_bytes += size
        if self._header_bytes > MAX_HEADER_BYTES:
            raise _HeadersTooLarge

    def on_message_begin(self) -> None:
        if not self._in_headers:
            self._arm()
        super().on_message_begin()

    def on_url(self, url: bytes) -> None:
        self._count(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count(len(name) + len(value) + 4)
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._disarm()
        super().on_headers_complete()
