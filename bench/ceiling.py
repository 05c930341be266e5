"""The ceiling: a bare ASGI app answering a fixed JSON body, served like Keyhouse is."""

from __future__ import annotations

from typing import Any

BODY = b'{"RequestId":"00000000-0000-0000-0000-000000000000","AccountId":"1234567890123456"}'
HEADERS = [
    (b"content-type", b"application/json;charset=utf-8"),
    (b"content-length", str(len(BODY)).encode()),
]


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    more = True
    while more:
        more = (await receive()).get("more_body", False)
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": BODY})
