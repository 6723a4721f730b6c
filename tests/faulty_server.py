"""A real HTTP server on 127.0.0.1 that misbehaves on purpose, one way per path
prefix, for testing downloads. Every handler is bounded in time."""

import gzip
import http.server
import threading
import time


class FaultyMirror:
    """Serves `files` ({name: bytes}) under /good/ and faulty variants under
    /404/, /flaky/ (500 once per file, then fine), /truncated/, /wrong/,
    /stall/ (headers, then silence for `stall_seconds`), /redirect/ (302 to
    /good/), /redirect-ftp/ (302 to an ftp:// URL), /huge/ (a body larger than
    declared caps), /badlength/ and /negativelength/ (a malformed Content-Length
    header, then the body)."""

    def __init__(self, files, stall_seconds=3.0):
        self.files = {name + ".gz": gzip.compress(content, mtime=0) for name, content in files.items()}
        self.stall_seconds = stall_seconds
        self.requests = []
        self._served_once = set()
        mirror = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                mirror.requests.append(self.path)
                _, mode, name = self.path.split("/", 2)
                body = mirror.files.get(name)
                if body is None or mode == "404":
                    return self.send_error(404)
                if mode == "flaky" and self.path not in mirror._served_once:
                    mirror._served_once.add(self.path)
                    return self.send_error(500)
                if mode.startswith("redirect"):
                    self.send_response(302)
                    self.send_header(
                        "Location", f"ftp://127.0.0.1:1/{name}" if mode == "redirect-ftp" else f"/good/{name}"
                    )
                    self.send_header("Content-Length", "0")
                    return self.end_headers()
                if mode == "wrong":
                    body = gzip.compress(b"not the file you asked for", mtime=0)
                if mode == "huge":
                    body = body * 50
                self.send_response(200)
                lengths = {"badlength": "12abc", "negativelength": "-5"}
                self.send_header("Content-Length", lengths.get(mode, str(len(body))))
                self.end_headers()
                if mode == "stall":
                    time.sleep(mirror.stall_seconds)
                    return
                if mode == "truncated":
                    self.wfile.write(body[: len(body) // 2])
                    self.close_connection = True
                    return
                self.wfile.write(body)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}"

    def __enter__(self):
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
