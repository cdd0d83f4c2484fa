import contextlib
import json
import os
import pathlib
import socket
import threading
import time

import httpx2
import pytest

import llm_hf_inference

ROOT = pathlib.Path(__file__).resolve().parent.parent
TEST_TOKEN = "hf_TESTtoken0000"
SHIPPED_CATALOG_MAX_AGE = llm_hf_inference.CATALOG_MAX_AGE  # as shipped: every test sets its own


@pytest.fixture(scope="module")
def vcr_config():
    return {
        "filter_headers": ["authorization"],
        "match_on": ["method", "scheme", "host", "port", "path", "query", "body"],
        "decode_compressed_response": True,
    }


@pytest.fixture(scope="module")
def vcr_cassette_dir():
    return str(ROOT / "cassettes")


@pytest.fixture(scope="session")
def migrated_logs(tmp_path_factory) -> bytes:
    """llm's logs database as llm migrates it on first use: made once, copied into each test's user dir.

    Migrating a fresh one is most of a CLI test's time (0.4 s of 0.43 s).
    """
    import sqlite_utils
    from llm.migrations import migrate

    path = tmp_path_factory.mktemp("template") / "logs.db"
    db = sqlite_utils.Database(path)
    migrate(db)
    db.close()
    return path.read_bytes()


@pytest.fixture(autouse=True)
def isolated(request, monkeypatch, tmp_path, migrated_logs):
    """A fresh llm user dir (with llm's logs database already migrated) and no Hugging Face settings
    but a known test token.

    When re-recording (--record-mode other than none) a real HF_TOKEN is kept.
    """
    (tmp_path / "llm").mkdir()
    (tmp_path / "llm" / "logs.db").write_bytes(migrated_logs)
    monkeypatch.setenv("LLM_USER_PATH", str(tmp_path / "llm"))
    for home in ("HOME", "USERPROFILE"):  # ~ on POSIX, and on Windows
        monkeypatch.setenv(home, str(tmp_path / "home"))
    for name in (
        "HUGGING_FACE_HUB_TOKEN",
        "HF_TOKEN_PATH",
        "HF_HOME",
        "XDG_CACHE_HOME",
        "LLM_HF_BASE_URL",
        "HF_BILL_TO",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(llm_hf_inference, "CATALOG_MAX_AGE", None)  # tests that want a refresh say so
    monkeypatch.setattr(llm_hf_inference, "_catalog_fresh_until", 0.0)
    monkeypatch.setattr(llm_hf_inference, "_told_no_token", set())
    monkeypatch.setattr(llm_hf_inference, "_warned", set())
    monkeypatch.setattr(llm_hf_inference, "_dimensions", {})
    monkeypatch.setattr(llm_hf_inference, "_mcp_prefixes", {})
    if request.config.getoption("--record-mode") == "none" or not os.environ.get("HF_TOKEN"):
        monkeypatch.setenv("HF_TOKEN", TEST_TOKEN)
    return tmp_path


class Sent:
    """One request as it left the client."""

    def __init__(self, request: httpx2.Request):
        self.url = str(request.url)
        self.headers = dict(request.headers)
        self.body = json.loads(request.content) if request.content else None
        self.timeout = request.extensions.get("timeout")


@pytest.fixture
def sent(monkeypatch):
    """Every request sent through httpx2 during the test, in order."""
    requests: list = []
    sync_send, async_send = httpx2.Client.send, httpx2.AsyncClient.send

    def send(self, request, **kwargs):
        requests.append(Sent(request))
        return sync_send(self, request, **kwargs)

    async def asend(self, request, **kwargs):
        requests.append(Sent(request))
        return await async_send(self, request, **kwargs)

    monkeypatch.setattr(httpx2.Client, "send", send)
    monkeypatch.setattr(httpx2.AsyncClient, "send", asend)
    return requests


@pytest.fixture
def default_cassette_name(request):
    """``@pytest.mark.cassette("stream-{case}")`` names a test's cassette from its parameters."""
    marker = request.node.get_closest_marker("cassette")
    if marker is None:
        return request.node.name
    params = getattr(request.node, "callspec", None)
    return marker.args[0].format(**(params.params if params else {}))


@pytest.fixture
def played(vcr):
    """Asserts, after the test, that every interaction in its cassette was used."""
    yield vcr
    assert vcr.all_played, "the cassette has interactions the test did not make"


@pytest.fixture
def fake():
    """``fake(routes)`` starts a local server (tests using it mark block_network allowed_hosts 127.0.0.1)."""
    from fakeserver import FakeServer

    servers = []

    def start(routes, tls=None):
        servers.append(FakeServer(routes, tls))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


@pytest.fixture
def router(fake, monkeypatch):
    """``router(routes)``: a stand-in router on 127.0.0.1 that the plugin takes for the real one (so it refreshes from it)."""

    def start(routes):
        server = fake(routes)
        monkeypatch.setattr(llm_hf_inference, "DEFAULT_BASE_URL", server.url + "/v1")
        monkeypatch.setenv("LLM_HF_KEY", TEST_TOKEN)  # 127.0.0.1 is no Hugging Face host
        return server

    return start


@pytest.fixture
def hub_as_huggingface(fake, monkeypatch):
    """``hub_as_huggingface(routes)``: a stand-in Hub at HF_ENDPOINT, taken for huggingface.co (so it may be
    sent the token)."""

    def start(routes):
        server = fake(routes)
        monkeypatch.setenv("HF_ENDPOINT", server.url)
        real = llm_hf_inference.is_hf_host
        monkeypatch.setattr(
            llm_hf_inference, "is_hf_host", lambda url: url.startswith(server.url) or real(url)
        )
        return server

    return start


@pytest.fixture
def ctrl_c_raises():
    """SIGINT raises KeyboardInterrupt during the test, even where the shell that started the suite left
    it ignored (a job started in the background)."""
    import signal

    old = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, old)


@pytest.fixture
def trickle():
    """A server on 127.0.0.1 that sends a redirect's headers, then any other answer's, a byte every 0.05 s."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    stop = threading.Event()

    def answer(connection):
        with connection:
            request = connection.recv(65536).decode("latin-1")
            path = request.split(" ")[1]
            if path.endswith("/hop"):  # at once: a redirect elsewhere on this server
                connection.sendall(b"HTTP/1.1 302 Found\r\nLocation: /end\r\nContent-Length: 0\r\n\r\n")
                request = connection.recv(65536)
            for byte in b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Padding: " + b"x" * 400:
                if stop.is_set():
                    return
                with contextlib.suppress(OSError):
                    connection.sendall(bytes([byte]))
                time.sleep(0.05)

    def serve():
        while not stop.is_set():
            with contextlib.suppress(OSError):
                connection, _ = server.accept()
                threading.Thread(target=answer, args=(connection,), daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}"
    stop.set()
    server.close()


@pytest.fixture
def found():
    """The Hub's video models as 'llm hf refresh' stored them (the catalog cassette's pages)."""
    from fakeserver import SEARCH, recorded

    pages = [
        recorded("catalog", uri=f"pipeline_tag={tag}{SEARCH}") for tag in ("text-to-video", "image-to-video")
    ]
    llm_hf_inference.store_discovered(
        llm_hf_inference.VIDEOS, [i for page in pages for i in json.loads(page.body)]
    )


@pytest.fixture
def here(tmp_path, monkeypatch):
    """The directory llm runs in (beside llm's own user directory), where results are saved."""
    (tmp_path / "work").mkdir()
    monkeypatch.chdir(tmp_path / "work")
    return tmp_path / "work"
