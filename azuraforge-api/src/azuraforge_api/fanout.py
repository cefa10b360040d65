"""One event, one WebSocket frame, written to every watcher's connection by the hub itself.

Through ASGI every delivery is a task waking for its queue, a send passing each middleware's wrapper, and the
server framing the text again for each client: about 60 µs of the API's CPU per watcher per event, so an event
reached the 200th watcher of a run tens of milliseconds after the first while training held the cores. Server
frames are not masked, so the bytes are the same for every client: the hub frames an event once and writes
those bytes to each caught-up connection's transport (the write system call is most of what is left).

That needs the connection under the ASGI interface: uvicorn's websockets (sans-I/O) protocol, which is what
`azuraforge up`, the API image and the tests serve with. Under any other server, or with an extension such as
permessage-deflate negotiated (each client would need its own frame), `FrameWriter.of` returns None and the
connection stays on ordinary ASGI sends.
"""

from starlette.types import Send
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.frames import Frame, Opcode
from websockets.protocol import State

MAX_BUFFERED_BYTES = 2 * 1024 * 1024
"""Bytes a connection may have waiting in the API for a client that reads slower than events come; beyond it the
client is dropped (it reconnects with ?after= and loses nothing)."""


def text_frame(payload: bytes) -> bytes:
    """A final, unmasked text frame carrying `payload` (UTF-8 JSON), as a server sends it."""
    return Frame(Opcode.TEXT, payload).serialize(mask=False)


class FrameWriter:
    """Writes ready-made frames to one accepted connection, next to (never inside) uvicorn's own writes: each
    write is whole frames on the event loop's thread, so frames never interleave."""

    def __init__(self, protocol: WebSocketsSansIOProtocol) -> None:
        self._protocol = protocol

    @classmethod
    def of(cls, server_send: Send) -> "FrameWriter | None":
        """The writer for the connection whose server-side ASGI `send` this is, once accepted; None when the
        server is not uvicorn's sans-I/O protocol or an extension changes how frames are written."""
        protocol = getattr(server_send, "__self__", None)
        if not isinstance(protocol, WebSocketsSansIOProtocol) or protocol.conn.extensions:
            return None
        return cls(protocol)

    def write(self, frame: bytes) -> bool:
        """Writes `frame` unless the connection is closing or holds MAX_BUFFERED_BYTES unsent; returns whether
        it wrote."""
        protocol = self._protocol
        if protocol.close_sent or protocol.disconnected or protocol.conn.state is not State.OPEN:
            return False
        transport = protocol.transport
        if transport.is_closing() or transport.get_write_buffer_size() > MAX_BUFFERED_BYTES:
            return False
        transport.write(frame)
        return True
