"""What every fake API shares: serving its `_serve(handler)` on 127.0.0.1 in a daemon thread."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self


class ThreadedFakeServer:
    """A fake API's HTTP side. Subclasses implement `_serve(handler)` for every method and name
    their thread (`thread_name`) and themselves (`display_name`, for the not-running error)."""

    thread_name = "fake-api"
    display_name = "The fake API"

    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None

    def start(self, port: int = 0) -> Self:
        """Serve on 127.0.0.1:`port` (0: any free port)."""
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                fake._serve(self)

            do_POST = do_PUT = do_DELETE = do_GET  # noqa: N815

            def log_message(self, *args: Any) -> None:  # quiet: paths and queries hold tokens
                pass

        server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        server.daemon_threads = True
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, name=self.thread_name, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError(f"{self.display_name} is not running; call start() first.")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def _serve(self, handler: BaseHTTPRequestHandler) -> None:
        raise NotImplementedError
