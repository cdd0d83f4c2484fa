"""A conversation stays with the provider that answered it: -c, --cid, llm chat, Python, sync and async."""

import asyncio
import json
import os
import time

import httpx2
import llm
import pytest

import llm_hf_inference
from conftest import TEST_TOKEN
from fakeserver import catalog_answer, recorded
from helpers import LOCAL, QUESTION, SYNC_ASYNC, cut, invoke, run

LLAMA = "meta-llama/Llama-3.1-8B-Instruct"
TOGETHER = {"hf_inference": {"provider": "together", "model": LLAMA}}  # what a turn together answered carries
ANSWERS = {  # provider → its recorded streamed answer (who answered is in its x-inference-provider)
    "together": "stream-2025-together",
    "novita": "stream-2025-novita",
    "cerebras": "stream-2025-cerebras",
}
TEXT = {
    "together": "Deep learning is a subfield of machine learning that involves the use of artificial neural networks to model and",
    "novita": "Deep learning is a subfield of machine learning that focuses on the development of artificial neural networks with multiple",
}


@pytest.fixture
def providers_router(fake, monkeypatch):
    """A stand-in router: ``model:provider`` is answered by that provider, a bare model by ``first``.

    A provider listed in ``down`` answers 400 model_not_supported, as the router does.
    """

    def start(first="together", down=()):
        def chat(seen):
            model = json.loads(seen.body)["model"]
            provider = model.split(":")[1] if ":" in model else first
            provider = first if provider in ("fastest", "cheapest", "preferred") else provider
            if provider in down:
                return recorded("error-400-not-supported")
            return recorded(ANSWERS[provider])

        server = fake({"POST /v1/chat/completions": chat, "GET /v1/models": catalog_answer})
        monkeypatch.setattr(llm_hf_inference, "DEFAULT_BASE_URL", server.url + "/v1")
        monkeypatch.setenv("LLM_HF_KEY", TEST_TOKEN)
        return server

    return start


def models_sent(server):
    return [json.loads(seen.body)["model"] for seen in server.seen if seen.method == "POST"]


@LOCAL
def test_cli_c_continues_with_the_provider_from_the_log(providers_router):
    server = providers_router(first="together")
    assert invoke("-m", "hf-llama3.1", "hi").output == TEXT["together"] + cut("together") + "\n"
    assert invoke("-c", "and then?").output == TEXT["together"] + cut("together") + "\n"
    conversation_id = json.loads(invoke("logs", "--json", "-n", "1").output)[0]["conversation_id"]
    assert invoke("--cid", conversation_id, "and after that?").exit_code == 0
    assert models_sent(server) == [LLAMA, f"{LLAMA}:together", f"{LLAMA}:together"]


@LOCAL
def test_llm_chat_stays_with_its_provider(providers_router):
    server = providers_router(first="together")
    result = invoke("chat", "-m", "hf-llama3.1", input="hi\nand then?\nquit\n")
    assert result.exit_code == 0, result.output
    assert models_sent(server) == [LLAMA, f"{LLAMA}:together"]


@SYNC_ASYNC
@LOCAL
def test_python_conversations_stay_with_their_provider(use_async, providers_router):
    server = providers_router(first="together")
    if use_async:

        async def talk():
            conversation = llm.get_async_model("hf-llama3.1").conversation()
            for text in ("hi", "and then?"):
                await conversation.prompt(text).text()

        asyncio.run(talk())
    else:
        conversation = llm.get_model("hf-llama3.1").conversation()
        for text in ("hi", "and then?"):
            conversation.prompt(text).text()
    assert models_sent(server) == [LLAMA, f"{LLAMA}:together"]


@LOCAL
def test_a_provider_option_switches_and_pins_again(providers_router):
    server = providers_router(first="together")
    invoke("-m", "hf-llama3.1", "hi")
    assert (
        invoke("-c", "-o", "provider", "novita", "and then?").output == TEXT["novita"] + cut("novita") + "\n"
    )
    invoke("-c", "and after that?")
    invoke("-c", "-o", "provider", "fastest", "and now?")  # a policy: the router chooses (together here)
    invoke("-c", "last one")
    assert models_sent(server) == [
        LLAMA,
        f"{LLAMA}:novita",
        f"{LLAMA}:novita",
        f"{LLAMA}:fastest",
        f"{LLAMA}:together",
    ]


@LOCAL
def test_a_pinned_provider_that_fails_is_given_up_once(providers_router, monkeypatch):
    server = providers_router(first="together")
    invoke("-m", "hf-llama3.1", "hi")
    server.routes["POST /v1/chat/completions"] = lambda seen: (
        recorded("error-400-not-supported")
        if ":together" in seen.body.decode()
        else recorded(ANSWERS["novita"])
    )
    result = invoke("-c", "and then?")
    assert result.exit_code == 0
    assert result.stdout == TEXT["novita"] + "\n"
    assert (
        result.stderr
        == "llm-hf-inference: together did not answer (400); asking the router for another provider\n"
        + cut("novita")
    )
    assert models_sent(server) == [LLAMA, f"{LLAMA}:together", LLAMA]
    invoke("-c", "and after that?")
    assert models_sent(server)[-1] == f"{LLAMA}:novita"  # the answer re-pinned the conversation


@LOCAL
def test_a_pin_is_never_given_up_after_output_or_for_a_bad_token(providers_router):
    server = providers_router(first="together")
    invoke("-m", "hf-llama3.1", "hi")
    server.routes["POST /v1/chat/completions"] = lambda seen: recorded("error-401")
    result = invoke("-c", "and then?")
    assert result.exit_code == 1 and "answered 401" in result.output
    assert models_sent(server) == [LLAMA, f"{LLAMA}:together"]


@LOCAL
def test_no_pin_for_a_provider_no_longer_live(providers_router):
    server = providers_router(first="cerebras")
    invoke("-m", "hf-llama3.1", "hi")
    catalog = json.loads(catalog_answer().body)
    for entry in catalog["data"]:
        for provider in entry.get("providers", ()):
            if provider["provider"] == "cerebras":
                provider["status"] = "error"
    llm_hf_inference.store_catalog(json.dumps(catalog).encode())
    invoke("-c", "and then?")
    assert models_sent(server) == [LLAMA, LLAMA]


def test_no_pin_for_base_url_models():
    from llm.parts import Message, TextPart

    model = llm.get_model("hf-llama3.1")
    turn = Message(role="assistant", parts=[TextPart(text="hi", provider_metadata=TOGETHER)])
    user = Message(role="user", parts=[TextPart(text="q")])
    prompt = llm.Prompt(None, model, messages=[user, turn, user])
    assert llm_hf_inference.route(model.spec, prompt) == ("together", True)
    elsewhere = model.spec._replace(base_url="http://localhost:8080/v1")
    assert llm_hf_inference.route(elsewhere, prompt) == (None, False)


def test_a_turn_without_a_provider_leaves_the_next_unpinned():
    from llm.parts import Message, TextPart

    provider = llm_hf_inference.conversation_provider
    turn = Message(role="assistant", parts=[TextPart(text="hi", provider_metadata=TOGETHER)])
    bare = Message(role="assistant", parts=[TextPart(text="hi")])
    user = Message(role="user", parts=[TextPart(text="q")])
    assert provider([user, turn, user], LLAMA) == "together"
    assert provider([user, turn, user, bare, user], LLAMA) is None
    assert provider([user], LLAMA) is None


def test_a_turn_of_another_model_leaves_the_next_unpinned():
    from llm.parts import Message, TextPart

    provider = llm_hf_inference.conversation_provider
    user = Message(role="user", parts=[TextPart(text="q")])
    for metadata in (TOGETHER, {"hf_inference": {"provider": "together"}}):  # another's, or not said
        turn = Message(role="assistant", parts=[TextPart(text="hi", provider_metadata=metadata)])
        assert provider([user, turn, user], "openai/gpt-oss-120b") is None
    assert provider([user, turn, user], LLAMA) is None


@LOCAL
def test_continuing_with_another_model_does_not_pin_it_to_the_old_models_provider(providers_router):
    server = providers_router()
    assert invoke("-m", "hf-llama3.1", "hi").exit_code == 0
    assert invoke("-c", "-m", "hf-gpt-oss", "more").exit_code == 0  # no catalog cached: no check there
    assert models_sent(server) == [LLAMA, "openai/gpt-oss-120b"]


@pytest.fixture
def answering_router(fake, monkeypatch):
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
    request = llm_hf_inference.ChatRequest(
        "https://router.huggingface.co/v1/chat/completions",
        body={"model": f"{LLAMA}:together"},
        pinned="together",
    )
    attempts = llm_hf_inference.Attempts(request)
    assert attempts.after_status(404, {}, b'{"error": "gone"}') == 0.0
    assert (request.pinned, request.body["model"]) == (None, LLAMA)
    assert [attempts.after_status(503, {}, b"{}") for _ in range(2)] == [1.0, 2.0]
    with pytest.raises(llm.ModelError, match="answered 503"):
        attempts.after_status(503, {}, b"{}")
    with pytest.raises(llm.ModelError) as raised:  # not unpinned twice
        attempts.after_status(404, {}, b'{"error": "gone"}')
    assert str(raised.value) == (
        "router.huggingface.co answered 404: gone — Choose another provider with -o provider NAME, or another model."
    )
    assert capsys.readouterr().err.count("did not answer") == 1


@LOCAL
def test_a_no_stream_turn_pins_the_next_too(answering_router):
    server = answering_router()
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
def test_a_day_old_catalog_is_refreshed_and_a_fresh_one_is_not(age, refreshed, answering_router, monkeypatch):
    server = answering_router()
    path = llm.user_dir() / "hf-inference-catalog.json"
    path.write_bytes(catalog_answer().body)
    os.utime(path, (time.time() - age,) * 2)
    monkeypatch.setattr(llm_hf_inference, "CATALOG_MAX_AGE", 24 * 3600.0)
    run("hf-llama3.1", QUESTION)
    llm_hf_inference.wait_for_refresh(5)
    assert server.paths("GET") == (["/v1/models"] if refreshed else [])


def test_a_pin_that_cannot_be_reached_is_dropped_once_its_retries_are_spent(capsys):
    request = llm_hf_inference.ChatRequest(
        "https://router.huggingface.co/v1/chat/completions",
        body={"model": f"{LLAMA}:together"},
        pinned="together",
        retries=0,
    )
    attempts = llm_hf_inference.Attempts(request)
    assert attempts.after_error(httpx2.ConnectError("refused"), False) == 0.0
    assert (request.pinned, request.body["model"]) == (None, LLAMA)
    assert capsys.readouterr().err == (
        "llm-hf-inference: together did not answer (Could not reach router.huggingface.co); "
        "asking the router for another provider\n"
    )
    with pytest.raises(llm.ModelError, match="^Could not connect to router.huggingface.co: refused$"):
        attempts.after_error(httpx2.ConnectError("refused"), False)  # the router: no second unpin
