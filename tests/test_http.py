"""HTTP: clients, pools, waits, environments."""

import asyncio
import json
import socket
import ssl
import threading

import httpx2
import llm
import pytest
import trustme

import llm_hf_inference
from fakeserver import Answer, chat_answer
from helpers import LOCAL, POSIX, QUESTION, SYNC_ASYNC, TOGETHER_TEXT, in_threads, invoke, run

# -- waits a server asks for that are not numbers


@pytest.mark.parametrize(
    "headers, data",
    [
        ({"retry-after": "nan"}, {}),
        ({"retry-after": "inf"}, {}),
        ({}, {"estimated_time": float("inf")}),  # what 1e400 parses to
        ({}, {"estimated_time": float("nan")}),
        ({"retry-after": "Thu, 01 Jan 99999 00:00:00 GMT"}, {}),
    ],
)
def test_waits_that_are_not_finite_are_absent(headers, data):
    assert llm_hf_inference.server_wait(headers, data) is None


@pytest.mark.parametrize(
    "headers, wait",
    [
        # the Hub's (IETF draft 9, as huggingface_hub reads it): the reset only once the window is spent
        ({"ratelimit": '"api";r=0;t=55', "ratelimit-policy": '"fixed window";"api";q=500;w=300'}, 55.0),
        (
            {"ratelimit": '"api";r=99794;t=241', "ratelimit-policy": '"fixed window";"api";q=100000;w=300'},
            None,
        ),
        # replicate's through the router (draft 6: one header a field), as recorded
        ({"ratelimit-limit": "600", "ratelimit-remaining": "599", "ratelimit-reset": "1"}, None),
        ({"ratelimit-remaining": "0", "ratelimit-reset": "7"}, 7.0),
        ({"ratelimit-reset": "2.5"}, 2.5),
        ({"ratelimit": "limit=100, remaining=0, reset=3"}, 3.0),  # draft 7
        ({"ratelimit": "limit=100, remaining=4, reset=3"}, None),
    ],
)
def test_a_rate_limits_reset_is_waited_for_only_once_its_window_is_spent(headers, wait):
    assert llm_hf_inference.server_wait(headers, {}) == wait


def test_a_loading_hint_with_an_infinite_estimate_says_shortly():
    error = llm_hf_inference.http_error(
        "https://x.huggingface.co/v1", 503, {}, b'{"error": "loading", "estimated_time": 1e400}'
    )
    assert str(error) == (
        "x.huggingface.co answered 503: loading — The service is unavailable or the model is loading; try again shortly."
    )


@pytest.mark.parametrize("status", [401, 403])
def test_a_gated_model_says_to_accept_its_terms_not_to_check_the_token(status):
    from fakeserver import recorded

    gated = recorded("hub-files", uri="/config.json")  # the Hub's own answer for a gated repository
    url = "https://router.huggingface.co/hf-inference/models/meta-llama/Llama-3.1-8B-Instruct"
    error = llm_hf_inference.http_error(url, status, httpx2.Headers(gated.headers), gated.body)
    assert str(error) == (
        f"router.huggingface.co answered {status}: Access to model meta-llama/Llama-3.1-8B-Instruct is restricted. "
        "You must have access to it and be authenticated to access it. Please log in. — The model is gated: "
        "accept its terms on its page on the Hub, with this token's account."
    )


@pytest.mark.parametrize(
    "url, hint",
    [
        (
            "https://router.huggingface.co/v1/chat/completions",
            " — Choose another provider with -o provider NAME, or another model.",
        ),
        (  # a model added with --base-url: no providers there, whatever the task
            "http://10.0.0.5:8000/v1/chat/completions",
            " — Check the /v1 URL this model was added with, and that its server has the model.",
        ),
        (
            "https://router.huggingface.co/hf-inference/models/m/pipeline/feature-extraction",
            " — That provider does not embed with this model: 'llm hf models --embeddings' lists who does.",
        ),
        (
            "http://tei.example.com:8080/v1/embeddings",
            " — Check the /v1 URL this model was added with, and that its server has the model.",
        ),
    ],
)
def test_a_404_advises_another_provider_only_through_the_router(url, hint):
    purpose = "embeddings" if "embed" in url or "feature" in url else "chat"
    body = b'{"error": "The model `m` does not exist."}'
    error = llm_hf_inference.http_error(url, 404, {}, body, purpose=purpose)
    assert str(error) == f"{httpx2.URL(url).host} answered 404: The model `m` does not exist.{hint}"


def test_a_422_from_a_models_own_server_names_no_providers():
    url = "http://tei.example.com:8080/v1/embeddings"
    error = llm_hf_inference.http_error(url, 422, {}, b'{"error": "too long"}', purpose="embeddings")
    assert str(error) == "tei.example.com answered 422: too long"


OWN_KEY = "Check the key this server is sent: --key, or the model's 'llm hf add ... --key-name NAME'."
TOKEN = "Check your Hugging Face token"


@pytest.mark.parametrize(
    "url, purpose, hint",
    [
        ("https://router.huggingface.co/v1/chat/completions", "chat", TOKEN),
        ("https://huggingface.co/api/whoami-v2", "hub", TOKEN),
        ("https://hf-mirror.example.com/api/whoami-v2", "hub", TOKEN),  # HF_ENDPOINT elsewhere: LLM_HF_KEY
        ("http://10.0.0.5:8000/v1/chat/completions", "chat", OWN_KEY),  # a model added with --base-url
        ("https://x.endpoints.huggingface.cloud/v1/embeddings", "embeddings", OWN_KEY[:-1]),
    ],
)
def test_a_refused_key_is_said_to_be_the_hugging_face_token_only_where_that_token_goes(url, purpose, hint):
    error = llm_hf_inference.http_error(url, 401, {}, b'{"error": "unauthorized"}', purpose=purpose)
    assert str(error).startswith(f"{httpx2.URL(url).host} answered 401: unauthorized — {hint}")


@pytest.mark.parametrize(
    "url, hint",
    [
        ("http://10.0.0.5:8000/v1/chat/completions", OWN_KEY),
        ("https://alice-chat.hf.space/v1/chat/completions", OWN_KEY),
        (
            "https://x.us-east-1.aws.endpoints.huggingface.cloud/v1/chat/completions",
            OWN_KEY[:-1]
            + " (a protected Inference Endpoint takes your Hugging Face token: --key-name huggingface).",
        ),
    ],
)
def test_a_refused_key_at_an_inference_endpoint_says_it_takes_the_token_when_named(url, hint):
    error = llm_hf_inference.http_error(url, 403, {}, b"Invalid username or password.")
    assert str(error) == f"{httpx2.URL(url).host} answered 403: Invalid username or password. — {hint}"


def test_a_gone_endpoint_points_at_the_router():
    error = llm_hf_inference.http_error(
        "https://api-inference.huggingface.co/v1", 410, {}, b'{"error": "gone"}'
    )
    assert str(error) == (
        "api-inference.huggingface.co answered 410: gone — "
        "That endpoint is gone; point LLM_HF_BASE_URL at https://router.huggingface.co/v1"
    )


def test_texts_an_embedding_server_did_not_take_point_at_other_providers():
    error = llm_hf_inference.http_error(
        "https://router.huggingface.co/x", 422, {}, b"{}", purpose="embeddings"
    )
    assert str(error) == (
        "router.huggingface.co answered 422: {} — The server did not take the texts as sent; "
        "'llm hf models --embeddings' lists other providers."
    )


# -- the pool: big enough, made once, safe from threads


@LOCAL
def test_150_concurrent_prompts_are_all_under_way_at_once(router):
    """No pool limit holds prompts back in waves: all 150 reach the server before any is answered."""
    everyone = threading.Barrier(150, timeout=10)

    def chat(seen):
        everyone.wait()
        return chat_answer()

    router({"POST /v1/chat/completions": chat})

    async def prompts():
        model = llm.get_async_model("hf-llama3.1")
        return await asyncio.gather(*(model.prompt(QUESTION).text() for _ in range(150)))

    assert all(text.startswith(TOGETHER_TEXT) for text in asyncio.run(prompts()))
    assert not everyone.broken


def test_threads_share_one_client(monkeypatch):
    monkeypatch.setattr(llm_hf_inference, "_sync_client", None)
    made = []
    real = llm_hf_inference._new_client

    def slow_new_client(cls):
        made.append(cls)
        threading.Event().wait(0.05)
        return real(cls)

    monkeypatch.setattr(llm_hf_inference, "_new_client", slow_new_client)
    clients = []
    assert in_threads(lambda n: clients.append(llm_hf_inference.sync_client()), 8) == []
    assert len(made) == 1 and len({id(c) for c in clients}) == 1


def test_threads_each_with_their_own_event_loop(monkeypatch):
    """One client a loop, the same all through it; the clients of closed loops let go, not kept."""
    monkeypatch.setattr(llm_hf_inference, "_async_clients", {})
    seen = []

    async def use():
        first = llm_hf_inference.async_client()
        await asyncio.sleep(0)
        seen.append((first, llm_hf_inference.async_client()))

    def loop_after_loop(n):
        for _ in range(5):
            asyncio.run(use())

    assert in_threads(loop_after_loop, 4) == []
    assert all(first is again for first, again in seen)
    assert len({id(first) for first, _ in seen}) == len(seen) == 20
    assert len(llm_hf_inference._async_clients) <= 4  # at most the last loop of each thread


# -- bad environments


SOCKS = "a SOCKS proxy needs the socksio package (llm install socksio)"  # not httpx2's: pip install httpx


@pytest.mark.parametrize(
    "setting, value, words",
    [
        ("ALL_PROXY", "socks5://127.0.0.1:1080", SOCKS),
        # the system's words, without an errno
        pytest.param("SSL_CERT_FILE", "/missing/ca.pem", "No such file or directory", marks=POSIX),
    ],
)
def test_a_broken_environment_names_the_setting(setting, value, words, monkeypatch):
    monkeypatch.setenv(setting, value)
    monkeypatch.setattr(llm_hf_inference, "_sync_client", None)
    monkeypatch.setattr(llm_hf_inference, "_async_clients", {})
    for args in (["hf", "refresh"], ["hf", "whoami"], ["-m", "hf-llama3.1", "hi"]):
        result = invoke(*args)
        assert result.exit_code == 1
        assert result.output == f"Error: Cannot set up HTTP connections: {words}; check {setting}\n"
    with pytest.raises(llm.ModelError, match=f"check {setting}$"):
        run("hf-llama3.1", "hi", use_async=True)


def test_a_certificate_failure_is_not_retried_and_says_what_to_set(monkeypatch, capsys):
    attempts = []

    def fail(self, request):
        attempts.append(request)
        raise httpx2.ConnectError(
            "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: self-signed certificate in certificate "
            "chain (_ssl.c:1006)"
        )

    monkeypatch.setattr(httpx2.HTTPTransport, "handle_request", fail)
    with pytest.raises(llm.ModelError) as raised:
        run("hf-llama3.1", "hi")
    assert len(attempts) == 1 and capsys.readouterr().err == ""
    assert str(raised.value) == (
        "Could not verify the TLS certificate of router.huggingface.co ([SSL: CERTIFICATE_VERIFY_FAILED] "
        "certificate verify failed: self-signed certificate in certificate chain); if your "
        "network inspects TLS, point SSL_CERT_FILE or SSL_CERT_DIR at its certificate authority"
    )


@pytest.mark.parametrize(
    ("words", "verify_message"),
    [  # as truststore raises them for httpx2 on Windows and on macOS: the system's words, a tuple as text
        (
            "A certificate chain processed, but terminated in a root certificate which is not trusted by "
            "the trust provider.",
            True,
        ),
        ('"router.huggingface.co" certificate is not trusted', True),
        ("Peer sent no certificates to verify", False),  # its words its only argument
    ],
)
def test_a_certificate_the_systems_store_refuses_is_said_in_its_words_and_not_retried(
    words, verify_message, monkeypatch, capsys
):
    attempts = []

    def fail(self, request):
        attempts.append(request)
        refused = ssl.SSLCertVerificationError(words)
        if verify_message:
            refused.verify_message = words
        raise httpx2.ConnectError(str(refused)) from refused

    monkeypatch.setattr(httpx2.HTTPTransport, "handle_request", fail)
    with pytest.raises(llm.ModelError) as raised:
        run("hf-llama3.1", "hi")
    assert len(attempts) == 1 and capsys.readouterr().err == ""
    assert str(raised.value) == (
        f"Could not verify the TLS certificate of router.huggingface.co ({words}); if your network inspects "
        "TLS, point SSL_CERT_FILE or SSL_CERT_DIR at its certificate authority"
    )


def test_a_certificate_refused_without_words_is_still_a_certificate_refused():
    refused, other = httpx2.ConnectError(""), httpx2.ConnectError("[Errno 111] Connection refused")
    refused.__cause__ = ssl.SSLCertVerificationError()
    assert llm_hf_inference._certificate_failure(refused) == "not trusted"
    assert llm_hf_inference._certificate_failure(other) is None


@POSIX
@LOCAL
@pytest.mark.parametrize("proxy", ["http://127.0.0.1:9", "127.0.0.1:9"])  # no scheme: httpx2 takes http
def test_a_refused_proxy_is_named_as_the_proxy(proxy, monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", proxy)
    monkeypatch.setattr(llm_hf_inference, "_sync_client", None)
    monkeypatch.setattr(llm_hf_inference, "sleep", lambda seconds: None)
    with pytest.raises(llm.ModelError) as raised:
        run("hf-llama3.1", "hi")
    assert str(raised.value) == (
        "The proxy 127.0.0.1 (from HTTPS_PROXY) failed on the way to router.huggingface.co: "
        "Connection refused"
    )


@pytest.mark.parametrize(
    ("proxy", "named"), [("http://", "from HTTPS_PROXY"), (None, "from the environment")]
)
def test_a_proxy_without_a_host_is_named_by_where_it_came_from(proxy, named, monkeypatch):
    def refuse(self, request):
        raise httpx2.ProxyError("407 Proxy Authentication Required")

    for name in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    if proxy:
        monkeypatch.setenv("HTTPS_PROXY", proxy)
    monkeypatch.setattr(llm_hf_inference, "_sync_client", None)
    monkeypatch.setattr(httpx2.HTTPTransport, "handle_request", refuse)
    with pytest.raises(llm.ModelError) as raised:
        run("hf-llama3.1", "hi", retries=0)
    assert str(raised.value) == (
        f"The proxy {named} failed on the way to router.huggingface.co: 407 Proxy Authentication Required"
    )


@pytest.mark.parametrize(
    "text",
    [
        "[Errno 111] Connection refused",
        "[WinError 10061] No connection could be made because the target machine actively refused it",
    ],
)
def test_a_connection_error_is_said_without_pythons_tags(text, monkeypatch):
    def refuse(self, request):
        raise httpx2.ConnectError(text)

    monkeypatch.setattr(httpx2.HTTPTransport, "handle_request", refuse)
    with pytest.raises(llm.ModelError) as raised:
        run("hf-llama3.1", "hi", retries=0)
    assert str(raised.value) == f"Could not connect to router.huggingface.co: {text.split('] ')[1]}"


def test_a_host_the_proxy_is_bypassed_for_is_never_blamed_on_the_proxy(monkeypatch):
    def refuse(self, request):
        raise httpx2.ConnectError("[Errno 111] Connection refused")

    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example.com:3128")
    monkeypatch.setenv("NO_PROXY", "localhost,.huggingface.co")
    monkeypatch.setattr(llm_hf_inference, "_sync_client", None)
    monkeypatch.setattr(httpx2.HTTPTransport, "handle_request", refuse)
    with pytest.raises(llm.ModelError) as raised:
        run("hf-llama3.1", "hi", retries=0)
    assert str(raised.value) == "Could not connect to router.huggingface.co: Connection refused"


@LOCAL
def test_a_proxy_that_wants_credentials_is_named_as_the_proxy(fake, monkeypatch):
    proxy = fake({"CONNECT huggingface.co:443": lambda seen: Answer(407, {"Proxy-Authenticate": "Basic"})})
    monkeypatch.setenv("HTTPS_PROXY", proxy.url)
    monkeypatch.setattr(llm_hf_inference, "_sync_client", None)
    result = invoke("hf", "whoami")
    assert (result.exit_code, result.output) == (
        1,
        "Error: The proxy 127.0.0.1 (from HTTPS_PROXY) failed on the way to huggingface.co: "
        "407 Proxy Authentication Required\n",
    )


# -- TLS and silence


@LOCAL
@SYNC_ASYNC
def test_tls_is_verified(use_async, fake, monkeypatch, capsys):
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    trustme.CA().issue_cert("127.0.0.1").configure_cert(tls)  # a certificate no trusted authority signed
    server = fake({"POST /v1/chat/completions": chat_answer}, tls)
    monkeypatch.setenv("LLM_HF_BASE_URL", server.url + "/v1")
    with pytest.raises(
        llm.ModelError, match=r"^Could not verify the TLS certificate of 127\.0\.0\.1 \("
    ) as raised:
        run("hf-llama3.1", QUESTION, use_async=use_async)
    assert server.seen == []
    assert "retrying" not in capsys.readouterr().err  # on every system: said, not retried
    assert "CERTIFICATE_VERIFY_FAILED" not in str(raised.value) and "('" not in str(raised.value)


@LOCAL
def test_a_stalled_server_times_out_naming_the_host(monkeypatch):
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    accepted = []
    threading.Thread(target=lambda: accepted.append(server.accept()), daemon=True).start()
    monkeypatch.setenv("LLM_HF_BASE_URL", f"http://127.0.0.1:{server.getsockname()[1]}/v1")
    try:
        with pytest.raises(llm.ModelError) as raised:
            run("hf-llama3.1", "hi", timeout=0.2)
    finally:
        server.close()
    assert (
        str(raised.value)
        == "127.0.0.1 sent nothing for 0.2 seconds (timeout); wait longer with -o timeout SECONDS"
    )


@pytest.mark.parametrize(
    "estimate, said",
    [(0.2, "about 1 second."), (1.4, "about 1 second."), (577.37, "about 577 seconds."), (1e308, "shortly.")],
)
def test_a_loading_estimate_is_said_in_whole_seconds(estimate, said):
    error = llm_hf_inference.http_error(
        "https://x.example/v1", 503, {}, json.dumps({"estimated_time": estimate}).encode()
    )
    assert str(error).endswith(said)


def test_a_connection_that_is_not_made_in_time_names_the_host_and_the_wait():
    request = llm_hf_inference.HFRequest("https://router.huggingface.co/v1/chat/completions")
    error = llm_hf_inference.transport_error(request, httpx2.ConnectTimeout("timed out"))
    assert str(error) == "Could not connect to router.huggingface.co within 10 seconds"


@LOCAL
@SYNC_ASYNC
def test_a_stream_answered_with_an_error_is_retried_then_said(use_async, fake, monkeypatch):
    monkeypatch.setattr(llm_hf_inference, "sleep", lambda seconds: None)

    async def no_wait(seconds):
        return None

    monkeypatch.setattr(llm_hf_inference, "async_sleep", no_wait)
    answers = iter(
        [Answer.json({"error": "Rate limit reached."}, 429), Answer.json({"error": "Invalid token"}, 401)]
    )
    server = fake({"POST /v1/chat/completions": lambda seen: next(answers)})
    monkeypatch.setenv("LLM_HF_BASE_URL", server.url + "/v1")
    monkeypatch.setenv("LLM_HF_KEY", "hf_local")
    with pytest.raises(llm.ModelError) as raised:
        run("hf-llama3.1", QUESTION, use_async=use_async)  # a stream, as llm asks by default
    assert str(raised.value).startswith("127.0.0.1 answered 401: Invalid token — ")
    assert len(server.seen) == 2 and json.loads(server.seen[0].body)["stream"] is True


def test_a_request_takes_only_its_own_fields():
    request = llm_hf_inference.HFRequest("https://router.huggingface.co/x", "images", timeout=8.0, retries=0)
    assert (request.purpose, request.headers, request.body, request.timeout, request.retries) == (
        "images",
        {},
        None,
        8.0,
        0,
    )
    for kind, wrong in ((llm_hf_inference.HFRequest, "timeuot"), (llm_hf_inference.ChatRequest, "unpin")):
        with pytest.raises(TypeError, match=f"HFRequest has no field {wrong}"):
            kind("https://router.huggingface.co/x", **{wrong: 1})


# -- what a Hugging Face server warns of (X-HF-Warning), said once a topic


WARNING = {"X-HF-Warning": "deprecation; hf/old will be removed on 2027-01-01 \x1b[2J"}


@LOCAL
def test_a_servers_warnings_are_said_once_a_topic_on_streams_and_whole_answers(router, capsys):
    def warned(seen):
        answer = chat_answer()
        return Answer(answer.status, {**answer.headers, **WARNING}, answer.body)

    server = router({"POST /v1/chat/completions": warned, "GET /x": lambda seen: Answer.json({}, **WARNING)})
    run("hf-llama3.1", QUESTION)  # a stream
    said = [line for line in capsys.readouterr().err.splitlines() if "warns" in line]
    assert said == ["llm-hf-inference: 127.0.0.1 warns: hf/old will be removed on 2027-01-01  [2J"]
    run("hf-llama3.1", QUESTION, stream=False)  # the same topic: said once a process
    assert "warns" not in capsys.readouterr().err
    llm_hf_inference._warned.clear()  # a new process (conftest gives each test its own set)
    assert llm_hf_inference.hub_get(server.url + "/x").status == 200  # a whole answer, not chat's
    assert (
        capsys.readouterr().err
        == "llm-hf-inference: 127.0.0.1 warns: hf/old will be removed on 2027-01-01  [2J\n"
    )


@pytest.mark.parametrize(
    "warnings, said",
    [
        (["a; one", "b; two", "a; again"], ["h warns: one", "h warns: two"]),
        (["no topic at all", "also none"], ["h warns: no topic at all"]),  # one topic: the empty one
        (["t;", "t; ", "u; x; y"], ["h warns: x; y"]),  # nothing to say is not said
    ],
)
def test_warnings_are_split_at_their_first_semicolon(warnings, said, capsys):
    headers = httpx2.Headers([("X-HF-Warning", warning) for warning in warnings])
    llm_hf_inference.say_warnings(headers, "https://h/v1")
    assert capsys.readouterr().err.splitlines() == [f"llm-hf-inference: {line}" for line in said]
