"""Local HTTP servers that send a CSV body badly: cut off in each framing, or trickling byte by byte."""
from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def _handler(body: bytes, framing: str, cut: int | None, trickle: float | None):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self):  # noqa: N802 (http.server's naming)
            sent = body if cut is None else body[:cut]
            self.send_response(200)
            self.send_header("Content-Type", "text/csv; charset=utf-8")
            if framing == "length":
                self.send_header("Content-Length", str(len(body)))
            elif framing == "chunked":
                self.send_header("Transfer-Encoding", "chunked")
            else:  # "close": the end of the body is the end of the connection
                self.send_header("Connection", "close")
            self.end_headers()
            if trickle is not None:
                for index in range(len(sent)):
                    self._write(sent[index:index + 1])
                    time.sleep(trickle)
            else:
                self._write(sent)
            if framing == "chunked" and cut is None:
                self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
            self.close_connection = True

        def _write(self, data: bytes) -> None:
            if framing == "chunked":
                data = b"%x\r\n%s\r\n" % (len(data), data)
            self.wfile.write(data)
            self.wfile.flush()

        def log_message(self, *_args) -> None:
            pass

    return Handler


@contextmanager
def csv_server(body: bytes, framing: str = "length", cut: int | None = None, trickle: float | None = None):
    """Serve `body` at any path on 127.0.0.1; yields the URL.

    framing: "length" (Content-Length), "chunked" or "close" (neither). `cut` sends only
    that many bytes and then closes the connection; `trickle` waits that long between bytes.
    """
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(body, framing, cut, trickle))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/telefonbuch.csv"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
