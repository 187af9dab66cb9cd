"""
ASGI entry point (webstack:app:server asgi: gunicorn with uvicorn's workers
serves `demo.asgi:application`): Django for HTTP, and a WebSocket echo at
/ws/echo/ (every text or binary message sent back as it came), small enough
to need no Channels.
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "demo.settings")
django_app = get_asgi_application()

ECHO_PATH = "/ws/echo/"


async def echo(scope, receive, send):
    """Accept, then send every message back until the client (or the server, shutting down) closes."""
    while True:
        event = await receive()
        if event["type"] == "websocket.connect":
            await send({"type": "websocket.accept"})
        elif event["type"] == "websocket.receive":
            await send({"type": "websocket.send", "text": event.get("text"), "bytes": event.get("bytes")})
        elif event["type"] == "websocket.disconnect":
            return


async def application(scope, receive, send):
    if scope["type"] == "websocket":
        if scope["path"] == ECHO_PATH:
            return await echo(scope, receive, send)
        # Any other WebSocket path: refused at the handshake (403).
        await receive()
        return await send({"type": "websocket.close"})
    return await django_app(scope, receive, send)
