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

    def __init__(self, routes: dict, tls=None):
        self.routes = routes
        self.seen: list = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body go as they are written, not 40 ms apart

            def log_message(self, *args):
                pass

            def handle_one(self):
                length = int(self.headers.get("Content-Length") or 0)
                seen = Seen(self.command, self.path, dict(self.headers), self.rfile.read(length))
                server.seen.append(seen)
                route = server.routes.get(f"{self.command} {self.path.split('?')[0]}")
                server.answer(self, route(seen) if route else Answer(404, {}, b"no such route"))

            do_GET = do_POST = do_PUT = do_CONNECT = handle_one

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.handle_error = lambda request, address: (
            None
        )  # a client that hung up: not the test's output
        self.httpd.daemon_threads = True
        if tls is not None:  # an ssl.SSLContext with the server's certificate
            self.httpd.socket = tls.wrap_socket(self.httpd.socket, server_side=True)
        self.url = f"{'https' if tls else 'http'}://127.0.0.1:{self.httpd.server_address[1]}"
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


FRAMING = ("content-length", "transfer-encoding", "content-encoding")  # the stand-in frames its own


def recorded(cassette: str, index: int = 0, uri: str | None = None) -> Answer:
    """A cassette's recorded response (bodies from real recordings) as the stand-in's answer: its ``index``th
    interaction, or the one whose request URI ends with ``uri``."""
    import yaml

    interactions = yaml.safe_load(cassette_path(cassette).read_text())["interactions"]
    if uri is not None:
        index = next(n for n, i in enumerate(interactions) if i["request"]["uri"].endswith(uri))
    response = interactions[index]["response"]
    headers = {name: values[0] for name, values in response["headers"].items() if name.lower() not in FRAMING}
    return Answer(response["status"]["code"], headers, response["body"]["string"].encode())


def cassette_path(cassette: str) -> pathlib.Path:
    return pathlib.Path(__file__).resolve().parent.parent / "cassettes" / f"{cassette}.yaml"


def recorded_headers(case: str) -> dict:
    """The headers of a recording in tests/recordings, less the framing ones."""
    pairs = json.loads(
        (pathlib.Path(__file__).resolve().parent / "recordings" / f"{case}.headers.json").read_text()
    )
    return {name: value for name, value in pairs if name.lower() not in FRAMING}


def chat_answer(_seen=None) -> Answer:
    """together's recorded streamed answer, as the router passes it on."""
    return recorded("stream-2025-together")


def catalog_answer(_seen=None) -> Answer:
    return recorded("catalog")


SEARCH = "&inference_provider=all&expand[]=inferenceProviderMapping&expand[]=tags"  # the Hub's model search, as sent


def hub_answer(seen=None) -> Answer:
    """A last page of the Hub's model search (no next page), from the catalog cassette: the page of the
    pipeline tag asked for (speech, images, text to speech, video, text to audio, image to text); else
    sentence-similarity's."""
    tags = ("automatic-speech-recognition", "text-to-image", "image-to-image", "image-text-to-image")
    tags = (*tags, "text-to-speech", "text-to-video", "image-to-video", "image-text-to-video")
    tags = (*tags, "text-to-audio", "image-to-text")
    tag = next((tag for tag in tags if seen and f"pipeline_tag={tag}&" in seen.path), "sentence-similarity")
    return recorded("catalog", uri=f"pipeline_tag={tag}{SEARCH}")
