"""A real HTTP server on 127.0.0.1 for the scraper tests, and the images it serves.

Every route answers from a list of :class:`Reply` objects (the n-th request gets the n-th reply,
the last one repeats), so "503 then 200" is one route; a reply can stall before its headers
(``delay``) or drip its body a byte at a time (``drip`` seconds apart). The server counts
requests per path and keeps the request headers, which lets tests prove that a rerun sends
nothing.
"""

from __future__ import annotations

import io
import struct
import threading
import time
import zlib
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
from PIL import Image


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    content_type: str = "application/octet-stream"
    headers: dict = field(default_factory=dict)
    delay: float = 0.0
    send_length: bool = True
    drip: float = 0.0


class FixtureServer:
    def __init__(self) -> None:
        self.routes: dict[str, list[Reply]] = {}
        self.counts: Counter[str] = Counter()
        self.request_headers: dict[str, list[dict]] = {}
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                with server._lock:
                    n = server.counts[self.path]
                    server.counts[self.path] += 1
                    server.request_headers.setdefault(self.path, []).append(dict(self.headers))
                    replies = server.routes.get(self.path)
                reply = replies[min(n, len(replies) - 1)] if replies else Reply(404, b"not found")
                if reply.delay:
                    time.sleep(reply.delay)
                try:
                    self.send_response(reply.status)
                    self.send_header("Content-Type", reply.content_type)
                    if reply.send_length:
                        self.send_header("Content-Length", str(len(reply.body)))
                    for key, value in reply.headers.items():
                        self.send_header(key, value)
                    self.end_headers()
                    if not reply.drip:
                        self.wfile.write(reply.body)
                    for i in range(len(reply.body) if reply.drip else 0):
                        self.wfile.write(reply.body[i : i + 1])
                        self.wfile.flush()
                        time.sleep(reply.drip)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def log_message(self, *args) -> None:
                pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request, client_address) -> None:
                pass

        self.httpd = Server(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self._thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def __enter__(self) -> FixtureServer:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def add(self, path: str, *replies: Reply) -> str:
        self.routes[path] = list(replies)
        return self.url(path)

    def image(self, path: str, body: bytes, content_type: str = "image/png") -> str:
        return self.add(path, Reply(200, body, content_type))

    def html(self, path: str, text: str) -> str:
        return self.add(path, Reply(200, text.encode("utf-8"), "text/html; charset=utf-8"))

    def redirect(self, path: str, location: str, status: int = 302) -> str:
        return self.add(path, Reply(status, b"", "text/html", {"Location": location}))

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def png_bytes(seed: int, size: tuple[int, int] = (64, 48), mode: str = "RGB") -> bytes:
    """A distinct, deterministic noise image per seed (so every seed has its own sha256)."""
    rng = np.random.default_rng(seed)
    channels = {"RGB": 3, "RGBA": 4}.get(mode, 1)
    shape = (size[1], size[0], channels) if channels > 1 else (size[1], size[0])
    arr = rng.integers(0, 256, size=shape, dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr, mode).save(buf, "PNG")
    return buf.getvalue()


def jpeg_bytes(seed: int, size: tuple[int, int] = (80, 60), exif=None) -> bytes:
    rng = np.random.default_rng(seed)
    arr = rng.integers(0, 256, size=(size[1], size[0], 3), dtype=np.uint8)
    buf = io.BytesIO()
    kwargs = {"exif": exif} if exif is not None else {}
    Image.fromarray(arr, "RGB").save(buf, "JPEG", quality=90, **kwargs)
    return buf.getvalue()


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_bomb(side: int) -> bytes:
    """A valid 1-bit PNG of side x side pixels: tiny on the wire, huge once decoded."""
    row = b"\x00" + b"\x00" * ((side + 7) // 8)
    compressor = zlib.compressobj(9)
    data = b"".join(compressor.compress(row) for _ in range(side)) + compressor.flush()
    header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", data)
        + _chunk(b"IEND", b"")
    )
