"""Every request ends: deadlines, size caps, names that do not resolve, redirects, proxies, one refresh."""

import errno
import gzip
import json
import os
import socket
import subprocess
import sys
import threading
import time

import llm
import pytest

import llm_hf_inference
from conftest import ROOT, TEST_TOKEN
from fakeserver import Answer, catalog_answer, chat_answer
from helpers import LOCAL, POSIX, QUESTION, SYNC_ASYNC, invoke, run

MINILM = "POST /hf-inference/models/sentence-transformers/all-MiniLM-L6-v2/pipeline/feature-extraction"


def dribble(seconds: float = 0.05, forever: bytes = b" "):
    """A body that never ends: a byte at a time, ``seconds`` apart (a read never waits long)."""

    def pieces():
        for _ in range(2000):
            yield forever
            time.sleep(seconds)

    return pieces()


@pytest.fixture
def server(fake, monkeypatch):
    """``server(routes)``: a stand-in for the router (chat and embeddings) and the Hub (HF_ENDPOINT)."""

    def start(routes):
        running = fake(routes)
        monkeypatch.setattr(llm_hf_inference, "DEFAULT_BASE_URL", running.url + "/v1")
        monkeypatch.setenv("HF_ENDPOINT", running.url)
        monkeypatch.setenv("LLM_HF_KEY", TEST_TOKEN)
        return running

    return start


# -- a whole answer has a deadline: twice its timeout


@LOCAL
@SYNC_ASYNC
def test_a_no_stream_answer_that_never_ends_stops_at_twice_its_timeout(use_async, server):
    server(
        {
            "POST /v1/chat/completions": lambda seen: Answer(
                200, {"Content-Type": "application/json"}, dribble()
            )
        }
    )
    started = time.monotonic()
    with pytest.raises(llm.ModelError) as raised:
        run("hf-llama3.1", QUESTION, stream=False, timeout=0.2, use_async=use_async)
    assert str(raised.value) == (
        "127.0.0.1 did not send its whole answer within 0.4 seconds (twice the timeout); "
        "wait longer with -o timeout SECONDS"
    )
    assert 0.4 <= time.monotonic() - started < 1.2


@LOCAL
def test_a_cancelled_async_prompt_not_streamed_sends_nothing_more(server, capsys):
    """Its exchange runs in a pooled thread: cancelled, that thread retries no more, and says nothing."""
    import asyncio

    busy = server(
        {
            "POST /v1/chat/completions": lambda seen: Answer(
                503, {"Content-Type": "application/json", "Retry-After": "0.2"}, b'{"error": "busy"}'
            )
        }
    )

    async def cancelled():
        response = llm.get_async_model("hf-llama3.1").prompt(QUESTION, stream=False, retries=5)
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(response.text(), 0.3)

    asyncio.run(cancelled())
    time.sleep(0.1)  # an attempt under way when it was cancelled arrives
    sent = len(busy.seen)
    time.sleep(0.6)  # three more attempts' time
    assert len(busy.seen) == sent >= 1
    said = capsys.readouterr().err.splitlines()
    assert said == [
        f"llm-hf-inference: 127.0.0.1 is unavailable or loading the model, retrying in 0.2s (attempt {n}/6)"
        for n in range(2, len(said) + 2)
    ]
    assert len(said) <= sent


@LOCAL
def test_a_stream_is_timed_by_its_silences_only(server):
    """A stream shows its answer as it comes: one longer than twice its timeout finishes."""
    whole = chat_answer().body
    size = len(whole) // 6 + 1

    def slowly():
        for start in range(0, len(whole), size):
            yield whole[start : start + size]
            time.sleep(0.12)

    server(
        {
            "POST /v1/chat/completions": lambda seen: Answer(
                200, {"Content-Type": "text/event-stream"}, slowly()
            )
        }
    )
    started = time.monotonic()
    assert run("hf-llama3.1", QUESTION, timeout=0.25).text.startswith("Deep learning is")
    assert time.monotonic() - started > 0.5


@LOCAL
@pytest.mark.parametrize(
    "command, routes, hint",
    [
        (
            ["embed", "-m", "hf-minilm", "-c", "hi"],
            {MINILM: lambda seen: Answer(200, {"Content-Type": "application/json"}, dribble())},
            "127.0.0.1 did not send its whole answer within 0.4 seconds (twice the timeout); try again, "
            "or, through the router, another provider ('llm hf models --embeddings')",
        ),
        (
            ["hf", "refresh"],
            {"GET /v1/models": lambda seen: Answer(200, {"Content-Type": "application/json"}, dribble())},
            "127.0.0.1 did not send its whole answer within 0.4 seconds (twice the timeout); try again later",
        ),
        (
            ["hf", "whoami"],
            {"GET /api/whoami-v2": lambda seen: Answer(200, {"Content-Type": "application/json"}, dribble())},
            "127.0.0.1 did not send its whole answer within 0.4 seconds (twice the timeout); try again later",
        ),
    ],
)
def test_every_command_has_a_deadline_and_a_hint_it_can_follow(command, routes, hint, server, monkeypatch):
    server(routes)
    monkeypatch.setattr(llm_hf_inference, "READ_TIMEOUT", 0.2)
    monkeypatch.setattr(llm_hf_inference, "HUB_TIMEOUT", 0.2)
    result = invoke(*command)
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert result.stderr.splitlines()[0] == f"Error: {hint}"


# -- a whole answer has a size cap


def big_json(size: int) -> bytes:
    return b'{"error": null, "pad": "' + b"x" * size + b'"}'


@LOCAL
@pytest.mark.parametrize(
    "command, routes, kind, message",
    [
        (
            ["-m", "hf-llama3.1", "--no-stream", "hi"],
            {
                "POST /v1/chat/completions": lambda seen: Answer(
                    200, {"Content-Type": "application/json"}, [big_json(2**21)]
                )
            },
            "chat",
            "Error: 127.0.0.1 sent an answer of over 1 MiB; stopped reading it",
        ),
        (
            ["embed", "-m", "hf-minilm", "-c", "hi"],
            {MINILM: lambda seen: Answer(200, {"Content-Type": "application/json"}, [big_json(2**21)])},
            "embeddings",
            "Error: 127.0.0.1 sent an answer of over 1 MiB; stopped reading it",  # no size said: read to the cap
        ),
        (
            ["hf", "refresh"],
            {
                "GET /v1/models": lambda seen: Answer(
                    200, {"Content-Type": "application/json"}, big_json(2**21)
                )
            },
            "hub",
            "Error: 127.0.0.1 has an answer of 2.1 MB, over the 1 MiB it may be",  # its size said: nothing read
        ),
    ],
)
def test_an_answer_past_its_cap_is_one_line(command, routes, kind, message, server, monkeypatch):
    server(routes)
    monkeypatch.setitem(llm_hf_inference.TASKS, kind, llm_hf_inference.TASKS[kind]._replace(cap=2**20))
    result = invoke(*command)
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert result.stderr.splitlines()[0] == message


@LOCAL
def test_a_gzip_bomb_is_stopped_at_the_cap_decoded(server, monkeypatch):
    bomb = gzip.compress(b"[" + b" " * 20 * 2**20 + b"]", compresslevel=9)  # 20 MiB in ~20 kB
    headers = {"Content-Type": "application/json", "Content-Encoding": "gzip"}
    server({"POST /v1/chat/completions": lambda seen: Answer(200, headers, bomb)})
    monkeypatch.setitem(llm_hf_inference.TASKS, "chat", llm_hf_inference.TASKS["chat"]._replace(cap=2**20))
    with pytest.raises(llm.ModelError, match="sent an answer of over 1 MiB; stopped reading it"):
        run("hf-llama3.1", QUESTION, stream=False)


def test_the_caps_leave_room_for_real_answers():
    """Per-token vectors of a full batch: 32 texts of 1,024 tokens at 768 dimensions, as JSON."""
    one = json.dumps([[-0.123456789012345] * 768] * 1024)
    assert 32 * len(one) < llm_hf_inference.TASKS["embeddings"].cap
    assert llm_hf_inference.TASKS["chat"].cap >= 64 * 2**20 >= 2 * llm_hf_inference.MAX_EVENT


# -- what cannot change is not retried; a POST never turns into a GET


@SYNC_ASYNC
def test_a_name_that_does_not_resolve_is_said_at_once(use_async, monkeypatch, capsys):
    def no_such_name(*args, **kwargs):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_such_name)
    monkeypatch.setattr(llm_hf_inference, "sleep", lambda seconds: pytest.fail("retried"))
    with pytest.raises(llm.ModelError) as raised:
        run("hf-llama3.1", QUESTION, use_async=use_async)
    assert str(raised.value) == (
        "Could not find router.huggingface.co: its name does not resolve (Name or service not "
        "known); check it and your network"
    )
    assert capsys.readouterr().err == ""


@LOCAL
@pytest.mark.parametrize("status", [301, 302, 303])
@SYNC_ASYNC
def test_a_post_redirected_is_not_sent_again_as_a_get(status, use_async, server):
    running = server({"POST /v1/chat/completions": lambda seen: Answer(status, {"Location": "/moved/here"})})
    with pytest.raises(llm.ModelError) as raised:
        run("hf-llama3.1", QUESTION, use_async=use_async)
    assert str(raised.value) == (
        f"127.0.0.1 redirected the request to /moved/here ({status}); it is not sent again as a GET: "
        "check the server's URL"
    )
    assert running.paths() == ["/v1/chat/completions"]


@LOCAL
def test_a_post_redirected_keeping_its_method_is_followed(server):
    running = server(
        {
            "POST /v1/chat/completions": lambda seen: Answer(307, {"Location": "/v2/chat/completions"}),
            "POST /v2/chat/completions": chat_answer,
        }
    )
    assert run("hf-llama3.1", QUESTION).text.startswith("Deep learning is")
    assert running.paths("POST") == ["/v1/chat/completions", "/v2/chat/completions"]


@pytest.mark.parametrize(
    "command",
    [
        ["-m", "hf-llama3.1", "hi"],
        ["embed", "-m", "hf-minilm", "-c", "hi"],
        ["similar", "things", "-c", "hi"],
        ["hf", "refresh"],
        ["hf", "whoami"],
        ["hf", "models"],
    ],
)
def test_a_proxy_setting_with_a_typo_is_one_line_naming_it(command, monkeypatch):
    monkeypatch.setattr(llm_hf_inference, "_sync_client", None)
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example.com:port")
    if command[0] == "similar":
        invoke("embed", "things", "1", "-m", "hf-minilm", "-c", "hi")  # fails too; makes no collection
        llm.user_dir().mkdir(parents=True, exist_ok=True)
        db = __import__("sqlite_utils").Database(llm.user_dir() / "embeddings.db")
        llm.Collection("things", db, model_id="hf/sentence-transformers/all-MiniLM-L6-v2")
    result = invoke(*command)
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert result.stderr.splitlines()[-1] == (
        "Error: Cannot set up HTTP connections: Invalid port: 'port'; check HTTPS_PROXY"
    )


# -- a day-old catalog is downloaded once, however many llm processes find it stale


STALE_PROMPT = """
import os, sys, time, llm, llm_hf_inference
llm_hf_inference.DEFAULT_BASE_URL = sys.argv[1] + "/v1"
print(llm.get_model("hf-llama3.1").prompt("hi").text()[:4])
llm_hf_inference.wait_for_refresh(0)  # the requests are what counts, not the download
"""


@LOCAL
def test_many_processes_with_a_stale_catalog_download_it_once(fake, tmp_path):
    answered = threading.Event()

    def slow_catalog(seen):
        answered.wait(3)  # every process has asked, or not, by then
        return catalog_answer()

    running = fake({"POST /v1/chat/completions": chat_answer, "GET /v1/models": slow_catalog})
    user = tmp_path / "llm"
    user.mkdir(exist_ok=True)
    catalog = user / "hf-inference-catalog.json"
    catalog.write_bytes(catalog_answer().body)
    os.utime(catalog, (time.time() - 2 * 86400,) * 2)  # two days old
    env = {**os.environ, "LLM_USER_PATH": str(user), "LLM_HF_KEY": TEST_TOKEN, "PYTHONPATH": str(ROOT)}
    processes = [
        subprocess.Popen([sys.executable, "-c", STALE_PROMPT, running.url], env=env, stdout=subprocess.PIPE)
        for _ in range(6)
    ]
    outputs = [process.communicate(timeout=60)[0] for process in processes]
    answered.set()
    assert [output.replace(b"\r\n", b"\n") for output in outputs] == [b"Deep\n"] * 6  # CRLF on Windows
    assert running.paths("GET") == ["/v1/models"]
    assert running.paths("POST") == ["/v1/chat/completions"] * 6


def test_the_refresh_mark_is_claimed_once_and_again_after_a_while(monkeypatch):
    claims = []
    start = threading.Barrier(20, timeout=5)

    def claim():
        start.wait()
        claims.append(llm_hf_inference.claim_refresh())

    threads = [threading.Thread(target=claim) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(claims) == [False] * 19 + [True]
    assert llm_hf_inference.claim_refresh() is False
    monkeypatch.setattr(llm_hf_inference, "CATALOG_RETRY", 0.0)
    assert llm_hf_inference.claim_refresh() is True


@pytest.mark.parametrize(
    "value, said", [("1", True), ("true", True), (" Yes ", True), ("on", True), ("0", False), ("", False)]
)
def test_llm_hf_debug_is_on_as_huggingface_hub_reads_its_own_switches(value, said, monkeypatch, capsys):
    monkeypatch.setenv("LLM_HF_DEBUG", value)  # LLM_HF_DEBUG=0 turns it off, as HF_DEBUG=0 does
    llm_hf_inference.debug("why")
    assert capsys.readouterr().err == ("llm-hf-inference: why\n" if said else "")


def test_a_refresh_that_cannot_write_its_mark_says_why_under_llm_hf_debug(monkeypatch, capsys):
    def read_only(path, wait=True):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setenv("LLM_HF_DEBUG", "1")
    monkeypatch.setattr(llm_hf_inference, "locked", read_only)
    assert llm_hf_inference.claim_refresh() is False
    assert capsys.readouterr().err == (
        f"llm-hf-inference: the catalog refresh beside the prompt failed: Read-only file system ({llm.user_dir()})\n"
    )


def test_a_refresh_left_to_the_process_holding_the_mark_says_nothing(monkeypatch, capsys):
    monkeypatch.setenv("LLM_HF_DEBUG", "1")
    with llm_hf_inference.locked(llm.user_dir() / llm_hf_inference.REFRESH_MARK):
        claims = []
        thread = threading.Thread(target=lambda: claims.append(llm_hf_inference.claim_refresh()))
        thread.start()
        thread.join()
    assert claims == [False]
    assert capsys.readouterr().err == ""


@LOCAL
def test_a_failed_refresh_beside_a_prompt_says_why_under_llm_hf_debug(server, monkeypatch, capsys):
    server({"GET /v1/models": lambda seen: Answer.json({"error": "down"}, status=500)})
    monkeypatch.setenv("LLM_HF_DEBUG", "1")
    llm_hf_inference._refresh_quietly()
    assert capsys.readouterr().err == (
        "llm-hf-inference: the catalog refresh beside the prompt failed: 127.0.0.1 answered 500: down\n"
    )


# -- the Hub's search says when it stops early


@LOCAL
def test_a_hub_search_cut_short_says_so(server, monkeypatch, capsys):
    def page(seen):
        item = {
            "id": "org/emb",
            "inferenceProviderMapping": [
                {
                    "provider": "hf-inference",
                    "providerId": "org/emb",
                    "task": "feature-extraction",
                    "status": "live",
                }
            ],
        }
        return Answer.json([item], Link=f'<{running.url}/api/models?page=next>; rel="next"')

    running = server({"GET /api/models": page})
    monkeypatch.setattr(llm_hf_inference, "HUB_PAGES", 3)
    assert len(llm_hf_inference.hub_search("feature-extraction")) == 3
    assert capsys.readouterr().err == (
        "llm-hf-inference: the Hub's search for feature-extraction models has more than 3 pages; "
        "kept the first 3 models\n"
    )


@LOCAL
def test_a_next_page_that_is_no_url_is_one_line(server, monkeypatch):
    running = server({"GET /api/models": lambda seen: Answer.json([], Link='<http://[::1/x>; rel="next"')})
    monkeypatch.setenv("HF_ENDPOINT", running.url)
    with pytest.raises(llm.ModelError) as raised:
        llm_hf_inference.hub_search("text-to-image")
    assert str(raised.value) == "Cannot ask http://[::1/x: it is not a well-formed URL"
    assert len(running.seen) == 1


# -- JSON nested past Python's recursion limit, far under every cap: one line, never a traceback

NESTED = b"[" * 200_000 + b"]" * 200_000


def nested(status=200, content_type="application/json"):
    return lambda seen: Answer(status, {"Content-Type": content_type}, NESTED)


@LOCAL
@pytest.mark.parametrize(
    "command, routes, message",
    [
        (
            ["-m", "hf-llama3.1", "--no-stream", "hi"],
            {"POST /v1/chat/completions": nested()},
            "Error: 127.0.0.1 sent an answer that is not JSON: [[[[",
        ),
        (
            ["-m", "hf-llama3.1", "hi"],
            {
                "POST /v1/chat/completions": lambda seen: Answer(
                    200, {"Content-Type": "text/event-stream"}, b"data: " + NESTED + b"\n\n"
                )
            },
            "Error: 127.0.0.1 sent an event that is not JSON: [[[[",
        ),
        (
            ["embed", "-m", "hf-minilm", "-c", "hi"],
            {MINILM: nested()},
            "Error: 127.0.0.1 sent an answer that is not JSON: [[[[",
        ),
        (
            ["embed", "-m", "hf-minilm", "-c", "hi"],
            {MINILM: nested(400)},
            "Error: 127.0.0.1 answered 400: [[[[",
        ),
        (
            ["hf", "whoami"],
            {"GET /api/whoami-v2": nested()},
            "Error: The Hub answered whoami with something that is not an account",
        ),
        (["hf", "whoami"], {"GET /api/whoami-v2": nested(401)}, "Error: 127.0.0.1 answered 401: [[[["),
        (
            ["hf", "models", "--speech"],
            {"GET /api/models": nested()},
            "Error: 127.0.0.1 answered the model search with something that is not a list",
        ),
        (["hf", "refresh"], {"GET /v1/models": nested()}, "Error: 127.0.0.1 answered"),
    ],
)
def test_json_nested_too_deeply_is_one_line(command, routes, message, server):
    server(routes)
    result = invoke(*command)
    assert result.exit_code == 1 and "Traceback" not in result.output and "recursion" not in result.output
    assert result.stderr.splitlines()[0].startswith(message)


def test_our_own_files_nested_too_deeply_are_ignored_with_a_warning_and_llm_works():
    llm.user_dir().mkdir(parents=True, exist_ok=True)
    for name in ("hf-inference-added.json", "hf-inference-speech.jsonl", "hf-inference-images.jsonl"):
        (llm.user_dir() / name).write_bytes(NESTED)
    result = invoke("models")
    assert result.exit_code == 0 and "Traceback" not in result.output
    assert result.stderr.count("(not JSON)") == 3
    assert llm.get_model("hf-whisper").model_id == "hf/openai/whisper-large-v3"
    assert llm.get_model("gpt-4o-mini").model_id == "gpt-4o-mini"


# -- the deadline covers the whole exchange: headers sent a byte at a time, and redirects


@LOCAL
@pytest.mark.parametrize("path", ["/api/whoami-v2", "/hop"])
def test_headers_sent_a_byte_at_a_time_end_at_the_deadline(path, trickle, monkeypatch):
    monkeypatch.setattr(llm_hf_inference, "HUB_TIMEOUT", 0.25)  # half a second in all
    started = time.monotonic()
    with pytest.raises(llm.ModelError) as raised:
        llm_hf_inference.hub_get(trickle + path)
    assert (
        time.monotonic() - started < 1.5
    )  # each byte came within the read timeout: only the deadline ends it
    assert str(raised.value) == (
        "127.0.0.1 did not send its whole answer within 0.5 seconds (twice the timeout); try again later"
    )


@LOCAL
@SYNC_ASYNC
def test_a_chat_answer_not_streamed_ends_at_its_deadline_whatever_the_headers_do(
    use_async, trickle, monkeypatch
):
    monkeypatch.setenv("LLM_HF_BASE_URL", trickle + "/v1")
    monkeypatch.setenv("LLM_HF_KEY", TEST_TOKEN)
    started = time.monotonic()
    with pytest.raises(llm.ModelError) as raised:
        run("hf-llama3.1", QUESTION, stream=False, timeout=0.25, use_async=use_async)
    assert time.monotonic() - started < 1.5
    assert str(raised.value) == (
        "127.0.0.1 did not send its whole answer within 0.5 seconds (twice the timeout); "
        "wait longer with -o timeout SECONDS"
    )


@POSIX
@LOCAL
def test_ctrl_c_that_reaches_another_thread_stops_a_whole_exchange_at_once(
    trickle, monkeypatch, ctrl_c_raises
):
    import signal

    monkeypatch.setattr(llm_hf_inference, "HUB_TIMEOUT", 5.0)  # ten seconds in all
    threading.Thread(  # the system may hand a Ctrl-C to any thread of the process
        target=lambda: (time.sleep(0.3), signal.pthread_kill(threading.get_ident(), signal.SIGINT)),
        daemon=True,
    ).start()
    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        llm_hf_inference.hub_get(trickle + "/api/whoami-v2")
    assert time.monotonic() - started < 1.5


@LOCAL
def test_a_whole_exchange_given_up_frees_its_caller_at_once(trickle, monkeypatch):
    monkeypatch.setattr(llm_hf_inference, "HUB_TIMEOUT", 5.0)  # ten seconds in all
    request = llm_hf_inference.HFRequest(
        trickle + "/api/whoami-v2", "hub", method="GET", timeout=5.0, retries=0
    )
    request.stop = threading.Event()
    threading.Timer(0.3, request.stop.set).start()  # an async task cancelled
    started = time.monotonic()
    with pytest.raises(llm_hf_inference.Stopped):
        llm_hf_inference.ask(request)
    assert time.monotonic() - started < 1.5


@LOCAL
def test_an_error_answer_that_never_ends_gives_the_words_it_began_with(server, monkeypatch):
    monkeypatch.setattr(llm_hf_inference, "MAX_ERROR_BODY", 100)
    words = json.dumps({"error": "Bad request: too long"}).encode()
    server(
        {
            "POST /v1/chat/completions": lambda seen: Answer(
                400, {"Content-Type": "application/json"}, iter([words, *dribble(0.001)])
            )
        }
    )
    with pytest.raises(llm.ModelError) as raised:
        run("hf-llama3.1", QUESTION, stream=False)
    assert str(raised.value) == "127.0.0.1 answered 400: Bad request: too long"


@LOCAL
def test_an_error_answer_that_announces_a_size_over_the_cap_still_gives_its_words(server, monkeypatch):
    monkeypatch.setitem(llm_hf_inference.TASKS, "chat", llm_hf_inference.TASKS["chat"]._replace(cap=50))
    words = json.dumps({"error": "Bad request: " + "x" * 100}).encode()
    server(
        {"POST /v1/chat/completions": lambda seen: Answer(400, {"Content-Type": "application/json"}, words)}
    )
    with pytest.raises(llm.ModelError) as raised:
        run("hf-llama3.1", QUESTION, stream=False)
    assert str(raised.value) == "127.0.0.1 answered 400: Bad request: " + "x" * 100
    server(
        {"POST /v1/chat/completions": lambda seen: Answer(200, {"Content-Type": "application/json"}, words)}
    )
    with pytest.raises(llm.ModelError) as raised:
        run("hf-llama3.1", QUESTION, stream=False)
    assert str(raised.value) == "127.0.0.1 has an answer of 0.0 MB, over the 0 MiB it may be"
