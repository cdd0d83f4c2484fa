"""Behaviours a mutation test found nothing checking: each test here fails when its behaviour breaks."""

import json
import os
import threading
import time

import httpx2
import llm
import pytest

import llm_hf_inference
from conftest import TEST_TOKEN
from fakeserver import Answer, catalog_answer, recorded
from helpers import invoke, run

LOCAL = pytest.mark.block_network(allowed_hosts=["127.0.0.1"])
LLAMA = "meta-llama/Llama-3.1-8B-Instruct"
QUESTION = "What is deep learning?"


@pytest.fixture
def router(fake, monkeypatch):
    """A stand-in router: chat answers (streamed or not, as asked) and the catalog."""

    def start(chat=None):
        def answer(seen):
            stream = json.loads(seen.body).get("stream")
            return recorded("stream-2025-together" if stream else "no-stream-2025-together")

        server = fake({"POST /v1/chat/completions": chat or answer, "GET /v1/models": catalog_answer})
        monkeypatch.setattr(llm_hf_inference, "DEFAULT_BASE_URL", server.url + "/v1")
        monkeypatch.setenv("LLM_HF_KEY", TEST_TOKEN)
        return server

    return start


def bodies(server):
    return [json.loads(seen.body) for seen in server.seen if seen.method == "POST"]


# -- embeddings: who serves a model, what is registered where, how many at once


@pytest.mark.parametrize(
    "row, served",
    [
        (["hf-inference", "a/b", "feature-extraction", "live"], True),
        (["hf-inference", "a/b", "sentence-similarity", "live"], True),  # hf-inference embeds both
        (["together", "a/b", "feature-extraction", "live"], True),
        (["together", "a/b", "sentence-similarity", "live"], False),  # elsewhere, only feature-extraction
        (["together", "a/b", "feature-extraction", "staging"], False),
        (["featherless-ai", "a/b", "feature-extraction", "live"], False),  # no known route
    ],
)
def test_which_mappings_can_embed(row, served):
    assert llm_hf_inference.servable([row]) == ([(row[0], row[1])] if served else [])


def test_added_chat_models_are_no_embedding_models_and_the_other_way_round():
    assert invoke("hf", "add", "org/chat", "--base-url", "http://localhost:8080/v1").exit_code == 0
    assert (
        invoke("hf", "add", "org/emb", "--embedding", "--base-url", "http://localhost:8081/v1").exit_code == 0
    )
    chat = {model.model_id for model in llm.get_models()}
    embedding = {model.model_id for model in llm.get_embedding_models()}
    assert ("hf/org/chat" in chat, "hf/org/chat" in embedding) == (True, False)
    assert ("hf/org/emb" in chat, "hf/org/emb" in embedding) == (False, True)


@LOCAL
def test_at_most_four_embedding_requests_are_in_flight(fake, monkeypatch):
    lock, now, most = threading.Lock(), [0], [0]

    def feature(seen):
        with lock:
            now[0] += 1
            most[0] = max(most[0], now[0])
        time.sleep(0.05)
        with lock:
            now[0] -= 1
        return Answer.json([[0.5, 0.5] for _ in json.loads(seen.body)["inputs"]])

    server = fake({"POST /hf-inference/models/org/emb/pipeline/feature-extraction": feature})
    monkeypatch.setenv("LLM_HF_BASE_URL", server.url + "/v1")
    spec = llm_hf_inference.EmbedSpec("org/emb", "hf-inference", "org/emb", "hf/org/emb")
    assert len(llm_hf_inference.HFEmbedding(spec).embed_batch([f"t{n}" for n in range(320)])) == 320
    assert (len(server.seen), most[0]) == (10, 4)


@pytest.mark.vcr
@pytest.mark.cassette("emb-minilm")
def test_an_embedding_request_has_the_read_timeout(sent, played):
    llm.get_embedding_model("hf-minilm").embed("Hi, who are you?")
    assert sent[0].timeout == {"connect": 10.0, "read": 120.0, "write": 120.0, "pool": None}


def test_an_embedding_request_that_cannot_connect_is_retried(monkeypatch, capsys):
    calls = []
    real = llm_hf_inference.exchange

    def flaky(request, method="POST"):
        calls.append(request.url)
        if len(calls) == 1:
            raise httpx2.ConnectError("connection refused")
        return 200, httpx2.Headers({"content-type": "application/json"}), b"[[0.5, 0.25]]"

    monkeypatch.setattr(llm_hf_inference, "exchange", flaky)
    monkeypatch.setattr(llm_hf_inference, "sleep", lambda seconds: None)
    monkeypatch.setattr(llm_hf_inference.random, "uniform", lambda low, high: high)
    assert real is not flaky
    assert llm.get_embedding_model("hf-minilm").embed("hi") == [0.5, 0.25]
    assert len(calls) == 2
    assert capsys.readouterr().err == (
        "Could not reach router.huggingface.co (ConnectError), retrying in 1.0s (attempt 2/3)\n"
    )


@pytest.mark.parametrize(
    "status, message, size, limit",
    [
        (422, "batch size 40 > maximum allowed batch size 8", 40, 8),
        (413, "batch size 40 > maximum allowed batch size 8", 40, 8),
        (413, "Payload Too Large", 40, 20),  # too big to send: half
        (422, "Input validation error: inputs must have less than 512 tokens", 40, None),  # not the batch
        (400, "batch size 40 > maximum allowed batch size 8", 40, None),
    ],
)
def test_when_a_refused_batch_is_split(status, message, size, limit):
    error = llm_hf_inference.HTTPStatusError(f"x answered {status}: {message}", status, {})
    assert llm_hf_inference.batch_limit(error, size) == limit


# -- chat: timeouts, pins, history


@pytest.mark.vcr
@pytest.mark.cassette("stream-2025-together")
def test_the_async_path_has_the_timeout_asked_for(sent, played):
    run(
        "hf-llama3.1",
        QUESTION,
        system="You are a helpful assistant.",
        max_tokens=20,
        timeout=7,
        use_async=True,
    )
    assert sent[0].timeout == {"connect": 10.0, "read": 7.0, "write": 7.0, "pool": None}


def test_a_pin_is_dropped_once_and_the_router_then_gets_the_whole_retry_budget(monkeypatch, capsys):
    monkeypatch.setattr(llm_hf_inference.random, "uniform", lambda low, high: high)
    request = llm_hf_inference.HFRequest(
        "https://router.huggingface.co/v1/chat/completions",
        {},
        {"model": f"{LLAMA}:together"},
        1,
        None,
        pinned="together",
    )
    attempts = llm_hf_inference.Attempts(request)
    assert attempts.after_status(404, {}, b'{"error": "gone"}') == 0.0
    assert (request.pinned, request.body["model"]) == (None, LLAMA)
    assert [attempts.after_status(503, {}, b"{}") for _ in range(2)] == [1.0, 2.0]
    with pytest.raises(llm.ModelError, match="answered 503"):
        attempts.after_status(503, {}, b"{}")
    with pytest.raises(llm.ModelError, match="answered 404"):  # not unpinned twice
        attempts.after_status(404, {}, b'{"error": "gone"}')
    assert capsys.readouterr().err.count("did not answer") == 1


@LOCAL
def test_a_no_stream_turn_pins_the_next_too(router):
    server = router()
    assert invoke("-m", "hf-llama3.1", "--no-stream", "hi").exit_code == 0
    assert invoke("-c", "more").exit_code == 0
    assert [body["model"] for body in bodies(server)] == [LLAMA, f"{LLAMA}:together"]


def test_an_unchanged_system_prompt_is_sent_once_and_a_changed_one_again():
    from llm.parts import Message, TextPart

    def said(role, text):
        return Message(role=role, parts=[TextPart(text=text)])

    model = llm.get_model("hf-llama3.1")
    history = [said("system", "Be brief."), said("user", "hi"), said("assistant", "Hello.")]
    for system, expected in (("Be brief.", ["Be brief."]), ("Be long.", ["Be brief.", "Be long."])):
        messages = [*history, said("system", system), said("user", "more")]
        body = llm_hf_inference.request_body(
            model.spec, llm.Prompt(None, model, messages=messages), True, None
        )
        assert [m["content"] for m in body["messages"] if m["role"] == "system"] == expected


@LOCAL
@pytest.mark.parametrize("age, refreshed", [(2 * 86400, True), (60, False)])
def test_a_day_old_catalog_is_refreshed_and_a_fresh_one_is_not(age, refreshed, router, monkeypatch):
    server = router()
    path = llm.user_dir() / "hf-inference-catalog.json"
    path.write_bytes(catalog_answer().body)
    os.utime(path, (time.time() - age,) * 2)
    monkeypatch.setattr(llm_hf_inference, "CATALOG_MAX_AGE", 24 * 3600.0)
    run("hf-llama3.1", QUESTION)
    llm_hf_inference.wait_for_refresh(5)
    assert server.paths("GET") == (["/v1/models"] if refreshed else [])


@pytest.mark.vcr
@pytest.mark.cassette("proxy-base-url")
def test_key_goes_to_a_server_that_is_not_hugging_face(monkeypatch, sent, played):
    monkeypatch.setenv("LLM_HF_BASE_URL", "https://hf-proxy.example.com/v1")
    run("hf-llama3.1", QUESTION, stream=False, key="sk-proxy")
    assert sent[0].headers["authorization"] == "Bearer sk-proxy"


# -- what comes from outside


def test_negative_catalog_prices_are_left_out():
    provider = {"provider": "together", "status": "live", "pricing": {"input": -0.1, "output": 0.2}}
    assert llm_hf_inference.clean_provider(provider) == ({"provider": "together", "status": "live"}, 1)
    assert llm_hf_inference.price_of({"provider": "together"}) is None


def test_a_base_url_that_is_not_http_is_refused():
    result = invoke("hf", "add", "org/m", "--base-url", "ftp://example.com/v1")
    assert (result.exit_code, result.output) == (1, "Error: --base-url must be an http:// or https:// URL\n")
    assert llm_hf_inference.read_added() == {}
