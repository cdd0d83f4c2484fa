"""Retries before any output only, waits the server asks for, broken connections, secrets kept."""

import asyncio
import re
import socket
import threading

import llm
import pytest

import llm_hf_inference
from helpers import QUESTION, SYNC_ASYNC, invoke, run

SYSTEM = "You are a helpful assistant."
TOGETHER_START = (
    "Deep learning is a subfield of machine learning that involves the use of artificial neural networks"
)


@pytest.fixture
def waits(monkeypatch):
    """The waits between attempts, recorded instead of slept."""
    waited = []

    async def async_sleep(seconds):
        waited.append(seconds)

    monkeypatch.setattr(llm_hf_inference, "sleep", waited.append)
    monkeypatch.setattr(llm_hf_inference, "async_sleep", async_sleep)
    monkeypatch.setattr(llm_hf_inference.random, "uniform", lambda low, high: high)
    return waited


RETRIED = {
    "retry-429-retry-after": (
        [2.0],
        ["llm-hf-inference: Rate limited by together, retrying in 2.0s (attempt 2/3)"],
    ),
    "retry-429-retry-after-date": (
        [60.0],
        ["llm-hf-inference: Rate limited by together, retrying in 60.0s (attempt 2/3)"],
    ),
    "retry-429-ratelimit-reset": (
        [3.0],
        ["llm-hf-inference: Rate limited by together, retrying in 3.0s (attempt 2/3)"],
    ),
    "retry-503-loading": (
        [60.0, 20.5],
        [
            "llm-hf-inference: router.huggingface.co is unavailable or loading the model, retrying in 60.0s (attempt 2/3)",
            "llm-hf-inference: router.huggingface.co is unavailable or loading the model, retrying in 20.5s (attempt 3/3)",
        ],
    ),
    "retry-502-504": (
        [1.0, 2.0],
        [
            "llm-hf-inference: router.huggingface.co answered 502, retrying in 1.0s (attempt 2/3)",
            "llm-hf-inference: router.huggingface.co answered 504, retrying in 2.0s (attempt 3/3)",
        ],
    ),
}


@SYNC_ASYNC
@pytest.mark.parametrize("cassette", list(RETRIED))
@pytest.mark.vcr
@pytest.mark.cassette("{cassette}")
def test_retried_until_an_answer(cassette, use_async, waits, sent, played, capsys):
    out = run("hf-llama3.1", QUESTION, system=SYSTEM, stream=False, use_async=use_async)
    assert out.text.startswith(TOGETHER_START)
    expected_waits, lines = RETRIED[cassette]
    assert waits == expected_waits
    assert len(sent) == len(expected_waits) + 1
    assert capsys.readouterr().err.splitlines() == lines


@pytest.mark.vcr
@pytest.mark.cassette("retry-429-exhausted")
def test_gives_up_after_three_attempts(waits, sent, played):
    result = invoke("-m", "hf-llama3.1", "--no-stream", "-s", SYSTEM, QUESTION)
    assert result.exit_code == 1
    assert result.stderr == (
        "llm-hf-inference: Rate limited by together, retrying in 1.0s (attempt 2/3)\n"
        "llm-hf-inference: Rate limited by together, retrying in 1.0s (attempt 3/3)\n"
        "Error: together answered 429: Rate limit reached. Please wait or upgrade to PRO. — "
        "Rate limited: wait a little and try again.\n"
    )
    assert len(sent) == 3 and waits == [1.0, 1.0]


@pytest.mark.vcr
@pytest.mark.cassette("retry-429-retry-after")
def test_retries_zero_disables_retrying(waits, sent):
    with pytest.raises(llm.ModelError, match="^together answered 429"):
        run("hf-llama3.1", QUESTION, system=SYSTEM, stream=False, retries=0)
    assert len(sent) == 1 and waits == []


@pytest.mark.parametrize("cassette", ["error-401", "error-402", "error-422-tgi", "error-400-not-supported"])
@pytest.mark.vcr
@pytest.mark.cassette("{cassette}")
def test_other_4xx_are_never_retried(cassette, waits, sent):
    provider = {"provider": "cerebras"} if cassette == "error-400-not-supported" else {}
    with pytest.raises(llm.ModelError):
        run("hf-llama3.1", QUESTION, system=SYSTEM, stream=False, **provider)
    assert len(sent) == 1 and waits == []


class FlakyServer:
    """A loopback server that plays one script step per connection.

    ``drop``: close without answering. ``cut``: start a stream, send one text
    event, then close mid-body. ``ok``: a whole stream.
    """

    def __init__(self, *steps):
        self.steps = list(steps)
        self.connections = 0
        self.socket = socket.socket()
        self.socket.bind(("127.0.0.1", 0))
        self.socket.listen()
        threading.Thread(target=self.serve, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.socket.getsockname()[1]}/v1"

    def serve(self):
        while self.steps:
            connection, _ = self.socket.accept()
            step = self.steps.pop(0)
            self.connections += 1
            request = b""
            while b"\r\n\r\n" not in request:
                request += connection.recv(65536)
            head, _, body = request.partition(b"\r\n\r\n")
            length = int(re.search(rb"content-length: (\d+)", head, re.I).group(1))
            while len(body) < length:
                body += connection.recv(65536)
            event = b'data: {"choices": [{"delta": {"content": "Deep learning"}}]}\n\n'
            end = b'data: {"choices": [{"delta": {}, "finish_reason": "stop"}]}\n\ndata: [DONE]\n\n'
            if step != "drop":
                payload = event + (end if step == "ok" else b"")
                size = len(payload) if step == "ok" else 10_000
                connection.sendall(
                    b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                    b"Content-Length: " + str(size).encode() + b"\r\n\r\n" + payload
                )
            connection.close()


@pytest.mark.block_network(allowed_hosts=["127.0.0.1"])
@SYNC_ASYNC
def test_a_dropped_connection_before_output_is_retried(use_async, monkeypatch, waits, capsys):
    server = FlakyServer("drop", "ok")
    monkeypatch.setenv("LLM_HF_BASE_URL", server.url)
    assert run("hf-llama3.1", "hi", use_async=use_async).text == "Deep learning"
    assert server.connections == 2 and waits == [1.0]
    assert (
        capsys.readouterr().err
        == "llm-hf-inference: 127.0.0.1 is not huggingface.co over HTTPS, so the Hugging Face token is not "
        "sent to it (set LLM_HF_KEY to send a key)\n"
        "llm-hf-inference: The answer from 127.0.0.1 was cut off, retrying in 1.0s (attempt 2/3)\n"
    )


@pytest.mark.block_network(allowed_hosts=["127.0.0.1"])
@SYNC_ASYNC
def test_nothing_is_retried_once_output_was_shown(use_async, monkeypatch, waits):
    server = FlakyServer("cut", "ok")
    monkeypatch.setenv("LLM_HF_BASE_URL", server.url)
    shown = []

    async def consume_async():
        async for chunk in llm.get_async_model("hf-llama3.1").prompt("hi"):
            shown.append(chunk)

    with pytest.raises(llm.ModelError, match=r"^The answer from 127\.0\.0\.1 was cut off \(peer closed"):
        if use_async:
            asyncio.run(consume_async())
        else:
            shown.extend(llm.get_model("hf-llama3.1").prompt("hi"))
    assert shown == ["Deep learning"]
    assert server.connections == 1 and waits == []


@pytest.mark.block_network(allowed_hosts=["127.0.0.1"])
def test_refused_connections_are_retried_then_named(monkeypatch, waits):
    monkeypatch.setenv("LLM_HF_BASE_URL", "http://127.0.0.1:9/v1")
    with pytest.raises(llm.ModelError, match=r"^Could not connect to 127\.0\.0\.1: "):
        run("hf-llama3.1", "hi")
    assert waits == [1.0, 2.0]


def test_polls_and_downloads_are_asked_again_until_their_jobs_deadline():
    retries = llm_hf_inference.retries_within
    assert [retries(0.5), retries(1), retries(7), retries(10), retries(63), retries(600)] == [
        0,
        1,
        3,
        3,
        6,
        14,
    ]


@pytest.mark.block_network(allowed_hosts=["127.0.0.1"])
def test_a_request_the_server_stopped_waiting_for_is_sent_again(router, waits, capsys):
    from fakeserver import Answer, chat_answer

    answers = [Answer(408, {"Content-Type": "text/plain"}, b"Request Timeout")]
    server = router({"POST /v1/chat/completions": lambda seen: answers.pop(0) if answers else chat_answer()})
    assert run("hf-llama3.1", QUESTION).text.startswith("Deep learning is a subfield")
    assert (len(server.seen), waits) == (2, [1.0])
    assert capsys.readouterr().err.splitlines()[0] == (
        "llm-hf-inference: 127.0.0.1 stopped waiting for the request, retrying in 1.0s (attempt 2/3)"
    )
