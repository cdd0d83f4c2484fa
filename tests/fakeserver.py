"""A local HTTP server for tests that cassettes cannot express: slow, endless, redirecting, concurrent."""

import contextlib
import http.server
import json
import pathlib
import threading
from dataclasses import dataclass, field


@dataclass
class Seen:
    """One request as the server received it."""

    method: str
    path: str
    headers: dict
    body: bytes


@dataclass
class Answer:
    """What a route answers: a body in one piece, or pieces sent as they come (then closed)."""

    status: int = 200
    headers: dict = field(default_factory=dict)
    body: bytes | list = b""

    @classmethod
    def json(cls, data, status: int = 200, **headers):
        return cls(status, {"Content-Type": "application/json", **headers}, json.dumps(data).encode())


class FakeServer:
    """Serves ``routes`` ("METHOD /path" → function(Seen) → Answer) on 127.0.0.1, one thread a request."""

    def __init__(self, routes: dict):
        self.routes = routes
        self.seen: list = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def handle_one(self):
                length = int(self.headers.get("Content-Length") or 0)
                seen = Seen(self.command, self.path, dict(self.headers), self.rfile.read(length))
                server.seen.append(seen)
                route = server.routes.get(f"{self.command} {self.path.split('?')[0]}")
                server.answer(self, route(seen) if route else Answer(404, {}, b"no such route"))

            do_GET = do_POST = do_CONNECT = handle_one

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.handle_error = lambda request, address: (
            None
        )  # a client that hung up: not the test's output
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, args=(0.02,), daemon=True).start()

    @staticmethod
    def answer(handler, answer: Answer) -> None:
        handler.send_response(answer.status)
        for name, value in answer.headers.items():
            handler.send_header(name, value)
        if isinstance(answer.body, bytes):
            handler.send_header("Content-Length", str(len(answer.body)))
            handler.end_headers()
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # a client that stopped reading
                handler.wfile.write(answer.body)
            return
        handler.send_header("Connection", "close")
        handler.end_headers()
        handler.close_connection = True
        try:
            for piece in answer.body:
                handler.wfile.write(piece)
                handler.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass

    def paths(self, method: str = "") -> list:
        return [s.path for s in self.seen if not method or s.method == method]

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def recorded(cassette: str, index: int = 0) -> Answer:
    """The response of a cassette's interaction, as the fake server's answer (bodies from real recordings)."""
    import yaml

    path = pathlib.Path(__file__).resolve().parent.parent / "cassettes" / f"{cassette}.yaml"
    response = yaml.safe_load(path.read_text())["interactions"][index]["response"]
    framing = ("content-length", "transfer-encoding", "content-encoding")  # the stand-in frames its own
    headers = {name: values[0] for name, values in response["headers"].items() if name.lower() not in framing}
    return Answer(response["status"]["code"], headers, response["body"]["string"].encode())


def chat_answer(_seen=None) -> Answer:
    """together's recorded streamed answer, as the router passes it on."""
    return recorded("stream-2025-together")


def catalog_answer(_seen=None) -> Answer:
    return recorded("catalog")


HUB_PAGES = {
    "automatic-speech-recognition": 4,
    "=text-to-image": 5,
    "image-to-image": 6,
}  # in the catalog cassette


def hub_answer(seen=None) -> Answer:
    """A last page of the Hub's model search (no next page): speech or image models, else sentence-similarity."""
    found = [index for tag, index in HUB_PAGES.items() if seen and tag in seen.path]
    return recorded("catalog", found[0] if found else 3)
