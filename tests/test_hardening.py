"""What a hostile new-user test found: never a traceback, never the token, never llm broken."""

import asyncio
import errno
import json
import threading
import time

import httpx2
import llm
import pytest

import llm_hf_inference
from conftest import TEST_TOKEN
from fakeserver import Answer, catalog_answer, chat_answer, hub_answer
from helpers import invoke, run

QUESTION = "What is deep learning?"
SYSTEM = "You are a helpful assistant."
TOGETHER_TEXT = (
    "Deep learning is a subfield of machine learning that involves the use of artificial neural networks"
)
LOCAL = pytest.mark.block_network(allowed_hosts=["127.0.0.1"])


@pytest.fixture
def router(fake, monkeypatch):
    """A stand-in router on 127.0.0.1 that the plugin takes for the real one (so it refreshes from it)."""

    def start(routes):
        server = fake(routes)
        monkeypatch.setattr(llm_hf_inference, "DEFAULT_BASE_URL", server.url + "/v1")
        monkeypatch.setenv("LLM_HF_KEY", TEST_TOKEN)  # 127.0.0.1 is no Hugging Face host
        return server

    return start


# -- 1. the token


@pytest.mark.parametrize("token", [f" {TEST_TOKEN}\n", f"\t{TEST_TOKEN}  "])
@pytest.mark.vcr
@pytest.mark.cassette("no-stream-2025-together")
def test_a_token_with_whitespace_is_stripped(token, monkeypatch, sent, played):
    monkeypatch.setenv("HF_TOKEN", token)
    run("hf-llama3.1", QUESTION, system=SYSTEM, stream=False)
    assert sent[0].headers["authorization"] == f"Bearer {TEST_TOKEN}"


@pytest.mark.vcr
@pytest.mark.cassette("no-stream-2025-together")
def test_a_stored_key_with_whitespace_is_stripped(monkeypatch, sent, played):
    monkeypatch.delenv("HF_TOKEN")
    invoke("keys", "set", "huggingface", "--value", f" {TEST_TOKEN} ")
    run("hf-llama3.1", QUESTION, system=SYSTEM, stream=False)
    assert sent[0].headers["authorization"] == f"Bearer {TEST_TOKEN}"


@pytest.mark.parametrize("token", ["hf_SECRETé1234567890", "hf_SECRET 1234567890", "hf_SECRET\x011234567890"])
def test_a_token_that_cannot_be_a_header_is_refused_without_showing_it(token, monkeypatch, sent):
    monkeypatch.setenv("HF_TOKEN", token)
    result = invoke("-m", "hf-llama3.1", "hi")
    assert (result.exit_code, result.output) == (
        1,
        "Error: The token from --key, 'llm keys' or HF_TOKEN has characters a token cannot have; set it again\n",
    )
    whoami = invoke("hf", "whoami")
    assert whoami.exit_code == 1 and "SECRET" not in whoami.output
    assert sent == []


def test_errors_never_show_a_bearer_credential():
    request = llm_hf_inference.HFRequest(
        "https://router.huggingface.co/v1/chat/completions", {}, {}, 1.0, None
    )
    error = httpx2.LocalProtocolError("Illegal header value b'Bearer hf_SECRETsecret1234567890'")
    assert str(llm_hf_inference.transport_error(request, error)) == (
        "The connection to router.huggingface.co failed: LocalProtocolError: Illegal header value b'Bearer ***'"
    )
    assert llm_hf_inference.redact("authorization: bearer sk-other.secret") == "authorization: bearer ***"


# -- 3, 4, 5. the catalog never takes the models away; refresh beside the prompt


@pytest.mark.parametrize(
    "answer, said",
    [
        (
            Answer.json({"object": "list", "data": [{"id": "tgi", "object": "model"}]}),
            "a model list without providers, which is not the Inference Providers catalog",
        ),
        (Answer.json({"data": []}), "an empty model list"),
        (Answer.json({"data": "x"}), "not a model catalog"),
        (Answer(200, {"Content-Type": "text/html"}, b"<html><title>Login</title></html>"), "not JSON"),
    ],
)
@LOCAL
def test_refresh_from_something_else_keeps_the_models(answer, said, fake, monkeypatch):
    server = fake({"GET /v1/models": lambda seen: answer, "GET /api/models": hub_answer})
    monkeypatch.setenv("LLM_HF_BASE_URL", server.url + "/v1")
    monkeypatch.setenv("HF_ENDPOINT", server.url)
    before = sorted(m.model_id for m in llm.get_models() if m.model_id.startswith("hf/"))
    result = invoke("hf", "refresh")
    assert result.stdout.startswith("2 embedding models. Added: ")  # the other half of the refresh ran
    assert (result.exit_code, result.stderr) == (
        1,
        f"Error: 127.0.0.1 answered {server.url}/v1/models with {said}; the models you have are kept. "
        "(LLM_HF_BASE_URL points elsewhere than the router?)\n",
    )
    assert not (llm.user_dir() / "hf-inference-catalog.json").exists()
    assert sorted(m.model_id for m in llm.get_models() if m.model_id.startswith("hf/")) == before


@pytest.mark.parametrize(
    "status, hint",
    [
        (502, "The gateway gave up waiting for the model; try again, or choose another provider."),
        (404, "Choose another provider with -o provider NAME, or another model."),
    ],
)
@LOCAL
def test_hf_models_with_a_failing_catalog_is_one_line(status, hint, fake, monkeypatch):
    page = b"<html><head><title>502 Bad Gateway</title></head></html>"
    server = fake({"GET /v1/models": lambda seen: Answer(status, {"Content-Type": "text/html"}, page)})
    monkeypatch.setenv("LLM_HF_BASE_URL", server.url + "/v1")
    result = invoke("hf", "models")
    assert (result.exit_code, result.output) == (
        1,
        f"Error: 127.0.0.1 answered {status}: 502 Bad Gateway — {hint}\n",
    )


@LOCAL
def test_refresh_follows_redirects_and_a_loop_is_one_line(fake, monkeypatch):
    server = fake(
        {
            "GET /v1/models": lambda seen: Answer(308, {"Location": "/v2/models"}),
            "GET /v2/models": catalog_answer,
            "GET /loop/models": lambda seen: Answer(307, {"Location": "/loop/models"}),
            "GET /api/models": hub_answer,
        }
    )
    monkeypatch.setenv("LLM_HF_BASE_URL", server.url + "/v1")
    monkeypatch.setenv("HF_ENDPOINT", server.url)
    assert invoke("hf", "refresh").output.startswith("4 models. Added:")
    monkeypatch.setenv("LLM_HF_BASE_URL", server.url + "/loop")
    result = invoke("hf", "refresh")
    assert (result.exit_code, result.stderr) == (
        1,
        "Error: The connection to 127.0.0.1 failed: TooManyRedirects: Exceeded maximum allowed redirects.\n",
    )


@LOCAL
def test_a_base_url_server_is_never_refreshed_after_a_prompt(fake, monkeypatch):
    server = fake({"POST /v1/chat/completions": chat_answer})
    monkeypatch.setenv("LLM_HF_BASE_URL", server.url + "/v1")
    monkeypatch.setattr(llm_hf_inference, "CATALOG_MAX_AGE", 24 * 3600.0)
    assert run("hf-llama3.1", QUESTION).text.startswith(TOGETHER_TEXT)
    llm_hf_inference.wait_for_refresh(5)
    assert server.paths() == ["/v1/chat/completions"]
    assert llm.get_model("hf-llama3.1")


@LOCAL
def test_only_router_models_are_priced_at_the_catalogs_prices(fake, monkeypatch):
    """A server of your own that serves a router model's repo is not priced as the router."""
    llm_hf_inference.store_catalog(catalog_answer().body)
    server = fake({"POST /v1/chat/completions": chat_answer})
    monkeypatch.setenv("LLM_HF_BASE_URL", server.url + "/v1")  # a stand-in for the router
    # together's answer: 26 + 20 tokens at the catalog's $0.18 per 1M
    assert run("hf-llama3.1", QUESTION).usage.details == {"provider": "together", "cost_usd": 0.00000828}
    added = invoke("hf", "add", "meta-llama/Llama-3.1-8B-Instruct", "--base-url", server.url + "/v1")
    assert added.exit_code == 0
    assert run("hf-llama3.1", QUESTION).usage.details == {"provider": "together"}


@pytest.fixture
def stale(router, monkeypatch):
    """A stand-in router whose catalog answers only once released; the cached catalog is stale."""
    release = threading.Event()

    def slow_catalog(seen):
        release.wait(10)
        return catalog_answer()

    server = router({"POST /v1/chat/completions": chat_answer, "GET /v1/models": slow_catalog})
    monkeypatch.setattr(llm_hf_inference, "CATALOG_MAX_AGE", 24 * 3600.0)
    return server, release


def asked_for_the_catalog(server) -> bool:
    """Whether the refresh's request reached the server (it runs beside the prompt: give it time)."""
    deadline = time.monotonic() + 5
    while "/v1/models" not in server.paths() and time.monotonic() < deadline:
        time.sleep(0.01)
    return "/v1/models" in server.paths()


@pytest.mark.parametrize("use_async", [False, True], ids=["sync", "async"])
@LOCAL
def test_a_slow_refresh_never_holds_the_prompt(use_async, stale):
    server, release = stale
    result = run("hf-llama3.1", QUESTION, use_async=use_async)
    assert result.text.startswith(TOGETHER_TEXT)
    assert asked_for_the_catalog(server) and not release.is_set()
    assert not (llm.user_dir() / "hf-inference-catalog.json").exists()  # the prompt is done, the catalog not
    release.set()
    llm_hf_inference.wait_for_refresh(5)
    assert "hf/deepseek-ai/DeepSeek-V4-Pro" in [m.model_id for m in llm.get_models()]


@LOCAL
def test_many_prompts_with_a_stale_catalog_refresh_once(stale):
    server, release = stale

    async def prompts():
        model = llm.get_async_model("hf-llama3.1")
        return await asyncio.gather(*(model.prompt(QUESTION).text() for _ in range(30)))

    assert all(text.startswith(TOGETHER_TEXT) for text in asyncio.run(prompts()))
    release.set()
    llm_hf_inference.wait_for_refresh(5)
    assert server.paths("GET") == ["/v1/models"]
    assert "hf/deepseek-ai/DeepSeek-V4-Pro" in [m.model_id for m in llm.get_models()]  # and it was stored
    assert server.paths("POST") == ["/v1/chat/completions"] * 30


# -- 6. files written by two at once


def in_threads(work, count: int) -> list:
    """``work(n)`` for n in range(count), each in a thread of its own, all at once; what they raised."""
    errors = []

    def run(n):
        try:
            work(n)
        except Exception as ex:  # noqa: BLE001 - the caller asserts there was none
            errors.append(ex)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors


def test_concurrent_adds_lose_nothing_and_leave_no_temporary_files():
    names = [f"org/model-{n}" for n in range(16)]
    assert in_threads(lambda n: llm_hf_inference.add_model(names[n], {"tools": True}), 16) == []
    assert sorted(llm_hf_inference.read_added()) == sorted(names)
    assert sorted(p.name for p in llm.user_dir().iterdir()) == [
        "hf-inference-added.json",
        "hf-inference-added.json.lock",
        "logs.db",
    ]


def test_concurrent_catalog_writes_never_collide():
    raw = catalog_answer().body
    assert in_threads(lambda n: llm_hf_inference.store_catalog(raw), 12) == []
    assert sorted(p.name for p in llm.user_dir().iterdir()) == [
        "hf-inference-catalog.json",
        "hf-inference-registry.jsonl",
        "logs.db",
    ]


# -- 7. values of the wrong type in our files never break llm

BAD_PROVIDER = {"provider": "together", "status": "live", "context_length": "big", "pricing": {"input": "x"}}
BAD_CATALOGS = [
    {"data": [{"id": "a/b", "architecture": {"input_modalities": 5}, "providers": [BAD_PROVIDER]}]},
    {"data": [{"id": "a/b", "architecture": "x", "providers": [BAD_PROVIDER, 7, {"provider": 3}]}]},
    {"data": [{"id": "a/b", "providers": "x"}, {"id": 5}, "x", {"id": "a/c", "providers": [BAD_PROVIDER]}]},
]


@pytest.mark.parametrize("catalog", BAD_CATALOGS)
def test_a_catalog_with_values_of_the_wrong_type_never_breaks_llm(catalog):
    (llm.user_dir()).mkdir(parents=True, exist_ok=True)
    (llm.user_dir() / "hf-inference-catalog.json").write_text(json.dumps(catalog))
    result = invoke("models")
    assert result.exit_code == 0
    assert "values of the wrong type" in result.stderr
    assert llm.get_model("gpt-4o-mini").model_id == "gpt-4o-mini"
    assert invoke("hf", "models").exit_code == 0
    providers = invoke("hf", "providers", catalog["data"][-1]["id"])
    assert (
        providers.output.splitlines()[2] == "together  live          -            -        -      -  -      -"
    )


REGISTRY = "hf-inference-registry.jsonl"


@pytest.mark.parametrize(
    "first_line, models, warns",
    [
        (
            '{"version": 2, "models": {"hf/a/b": "7,together"}}',
            {"hf/a/b": (True, True, True, ("together",))},
            False,
        ),
        # rows that do not parse make a model with the defaults when it is used, never an error
        (
            '{"version": 2, "models": {"hf/a/b": "x,together", "hf/c/d": ""}}',
            {"hf/a/b": (True, True, False, ("together",)), "hf/c/d": (True, True, False, ())},
            False,
        ),
        ('{"version": 2, "models": {"hf/a/b": 7}}', None, True),
        ('{"version": 2, "models": [["a/b", 7, "together"]]}', None, True),
        ('{"version": 1, "models": {}}', None, False),  # another version: the catalog (none here)
        ("[]", None, True),
        ("not json", None, True),
        ("", None, True),
    ],
)
def test_a_registry_of_the_wrong_shape_never_breaks_llm(first_line, models, warns):
    llm.user_dir().mkdir(parents=True, exist_ok=True)
    (llm.user_dir() / REGISTRY).write_text(first_line + "\n{}\n")
    result = invoke("models")
    assert result.exit_code == 0
    assert llm.get_model("gpt-4o-mini").model_id == "gpt-4o-mini"
    registered = {
        m.model_id: (m.supports_tools, m.supports_schema, bool(m.attachment_types), m.spec.providers)
        for m in llm.get_models()
        if m.model_id.startswith("hf/")
    }
    if models is None:
        assert sorted(registered) == sorted(f"hf/{spec.repo_id}" for spec in llm_hf_inference.BUILTIN_MODELS)
    else:
        assert registered == models
    assert ("llm-hf-inference: " in result.stderr) is warns


def test_registered_models_are_the_catalog_models_they_stand_for():
    llm_hf_inference.store_catalog(catalog_answer().body)
    expected = {
        f"hf/{spec.repo_id}": spec
        for spec in map(llm_hf_inference.spec_from_entry, llm_hf_inference.read_catalog())
        if spec
    }
    assert len(expected) == 4
    assert {m.model_id: m.spec for m in llm.get_models() if m.model_id.startswith("hf/")} == expected
    assert {m.model_id: m.spec for m in llm.get_async_models() if m.model_id.startswith("hf/")} == expected


@pytest.mark.parametrize(
    "prices, expected",
    [
        (
            '{"a/b": {"together": ["x", 1], "novita": [0.1, 0.2], "groq": [1, -1], "nebius": [1], "x": [NaN, 1]}}',
            {"novita": (0.1, 0.2)},
        ),
        ('{"a/b": [1, 2]}', {}),
        ("[1, 2]", {}),
        ("not json", {}),
        ("", {}),
    ],
)
def test_prices_of_the_wrong_shape_are_no_prices(prices, expected):
    llm.user_dir().mkdir(parents=True, exist_ok=True)
    (llm.user_dir() / REGISTRY).write_text(
        '{"version": 2, "models": {"hf/a/b": "2,together,novita"}}\n' + prices
    )
    assert llm_hf_inference.model_prices("a/b") == expected


def test_llm_looks_for_hooks_among_the_public_names_only():
    """llm's plugin manager inspects every name dir() lists, on every llm command: a short list."""
    assert dir(llm_hf_inference) == sorted(llm_hf_inference.__all__)
    assert all(hasattr(llm_hf_inference, name) for name in llm_hf_inference.__all__)
    llm.get_models()  # loads the plugins
    hooks = llm.plugins.pm.get_hookcallers(llm_hf_inference)
    assert sorted(hook.name for hook in hooks) == [
        "register_commands",
        "register_embedding_models",
        "register_models",
    ]


@pytest.mark.parametrize(
    "added",
    [
        {"x": {"base_url": 7}},
        {"x": {"alias": ["a"], "tools": "yes"}},
        {"x": "not settings", "bad id!": {}},
        ["a", "list"],
    ],
)
def test_an_added_file_with_values_of_the_wrong_type_never_breaks_llm(added):
    llm.user_dir().mkdir(parents=True, exist_ok=True)
    (llm.user_dir() / "hf-inference-added.json").write_text(json.dumps(added))
    result = invoke("models")
    assert result.exit_code == 0
    assert llm.get_model("gpt-4o-mini").model_id == "gpt-4o-mini"
    assert "llm-hf-inference: " in result.stderr


@pytest.mark.parametrize(
    "answer, lines",
    [
        ([1, 2], None),
        ({"name": None, "auth": "x", "orgs": "y"}, ["?", "Organisations: none", "Token: ? (role: ?)"]),
        (
            {"name": "alice", "fullname": 5, "orgs": [{"name": None}, "x", {"name": "acme"}]},
            ["alice", "Organisations: acme", "Token: ? (role: ?)"],
        ),
    ],
)
def test_whoami_of_any_shape(answer, lines):
    if lines is None:
        with pytest.raises(Exception, match="not an account"):
            llm_hf_inference.whoami_lines(answer)
    else:
        assert llm_hf_inference.whoami_lines(answer) == lines


@LOCAL
def test_whoami_answered_with_html_is_one_line(fake, monkeypatch):
    server = fake({"GET /api/whoami-v2": lambda seen: Answer(200, {"Content-Type": "text/html"}, b"<html>")})
    monkeypatch.setenv("HF_ENDPOINT", server.url)  # the Hub's own override: whoami follows it too
    monkeypatch.setenv("LLM_HF_KEY", TEST_TOKEN)  # 127.0.0.1 is not huggingface.co: the key says so
    result = invoke("hf", "whoami")
    assert (result.exit_code, result.output) == (
        1,
        "Error: The Hub answered whoami with something that is not an account\n",
    )
    assert server.seen[0].headers["Authorization"] == f"Bearer {TEST_TOKEN}"


@LOCAL
def test_whoami_sends_the_hf_token_to_no_hf_endpoint_that_is_not_huggingface_co(fake, monkeypatch):
    server = fake({})
    monkeypatch.setenv("HF_ENDPOINT", server.url)
    result = invoke("hf", "whoami")
    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr.splitlines()[-1] == "Error: No key for 127.0.0.1: give one with --key"
    assert server.seen == []


# -- 8. waits that are not numbers


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


def test_a_loading_hint_with_an_infinite_estimate_says_shortly():
    error = llm_hf_inference.http_error(
        "https://x.huggingface.co/v1", 503, {}, b'{"error": "loading", "estimated_time": 1e400}'
    )
    assert str(error) == (
        "x.huggingface.co answered 503: loading — The service is unavailable or the model is loading; try again shortly."
    )


# -- 9. llm hf add never takes over another model


@pytest.mark.parametrize(
    "args, message",
    [
        (
            ["org/m", "--alias", "hf-llama3.1"],
            "'hf-llama3.1' already names hf/meta-llama/Llama-3.1-8B-Instruct",
        ),
        (["org/m", "--alias", "4o"], "'4o' already names gpt-4o"),
        (
            ["meta-llama/Llama-3.1-8B-Instruct", "--alias", "l8"],
            "hf/meta-llama/Llama-3.1-8B-Instruct is a router model already; add it only with --base-url, "
            "to send it elsewhere",
        ),
        (["not a model id!"], "'not a model id!' is not a model id: use the Hub's ORG/NAME or a plain name"),
        (
            ["..", "--base-url", "http://x/v1"],
            "'..' is not a model id: use the Hub's ORG/NAME or a plain name",
        ),
        (
            ["../..", "--base-url", "http://x/v1"],
            "'../..' is not a model id: use the Hub's ORG/NAME or a plain name",
        ),
        (["org/a..b"], "'org/a..b' is not a model id: use the Hub's ORG/NAME or a plain name"),
        (["org/m", "--alias", " 4o"], "' 4o' is not an alias: no spaces, nothing unprintable"),
        (["org/m", "--alias", "4o "], "'4o ' is not an alias: no spaces, nothing unprintable"),
        (
            ["org/m", "--alias", "my\x1bmodel"],
            "'my\\x1bmodel' is not an alias: no spaces, nothing unprintable",
        ),
        (["org/m", "--alias", ""], "'' is not an alias: no spaces, nothing unprintable"),
    ],
)
def test_add_refuses_to_take_over(args, message):
    result = invoke("hf", "add", *args)
    assert (result.exit_code, result.output) == (
        1,
        f"Error: {message}; choose another alias\n" if "already names" in message else f"Error: {message}\n",
    )
    assert llm_hf_inference.read_added() == {}


def test_concurrent_adds_of_one_alias_give_it_to_one_model():
    url = "http://localhost:8080/v1"
    errors = in_threads(
        lambda n: llm_hf_inference.add_model(f"org/m{n}", {"alias": "dup", "base_url": url}), 10
    )
    assert len(errors) == 9
    added = llm_hf_inference.read_added()
    [owner] = [repo for repo, settings in added.items() if settings.get("alias") == "dup"]
    assert {str(ex) for ex in errors} == {f"'dup' already names hf/{owner}; choose another alias"}
    assert sorted(added) == [owner]


@pytest.mark.parametrize("command", [["add", "org/m", "--tools"], ["remove", "org/m"]])
def test_add_and_remove_with_the_file_a_directory_is_one_line(command):
    path = llm.user_dir() / "hf-inference-added.json"
    path.mkdir(parents=True)
    result = invoke("hf", *command)
    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr.splitlines()[-1] == f"Error: Cannot change {path}: Is a directory"


@pytest.mark.parametrize(
    "code, words", [(errno.EROFS, "Read-only file system"), (errno.ENOSPC, "No space left on device")]
)
def test_add_on_a_read_only_or_full_disk_is_one_line_and_loses_nothing(code, words, monkeypatch):
    assert invoke("hf", "add", "org/kept", "--tools").exit_code == 0
    path = llm.user_dir() / "hf-inference-added.json"
    before = path.read_bytes()

    def fail(*args, **kwargs):
        raise OSError(code, words)

    monkeypatch.setattr(llm_hf_inference.tempfile, "mkstemp", fail)
    for command in (["add", "org/m", "--tools"], ["remove", "org/kept"]):
        result = invoke("hf", *command)
        assert (result.exit_code, result.output) == (1, f"Error: Cannot change {path}: {words}\n")
    assert path.read_bytes() == before


def test_add_never_replaces_a_file_it_cannot_read():
    path = llm.user_dir() / "hf-inference-added.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('{"org/kept": {"tools": true},')  # a hand edit half done
    result = invoke("hf", "add", "org/m", "--tools")
    assert result.exit_code == 1
    assert result.stderr.splitlines()[-1].startswith(f"Error: Cannot change {path}: Expecting property name")
    assert path.read_text() == '{"org/kept": {"tools": true},'


@pytest.mark.parametrize("repo_id", ["..", "../..", "org/..", "a..b/c"])
def test_ids_that_leave_their_url_are_refused_wherever_they_enter(repo_id):
    llm.user_dir().mkdir(parents=True, exist_ok=True)
    (llm.user_dir() / "hf-inference-added.json").write_text(
        json.dumps({repo_id: {"embedding": True, "base_url": "http://x/v1"}, "org/ok": {"alias": " 4o"}})
    )
    entries = [{"id": repo_id, "providers": [{"provider": "together", "status": "live"}]}]
    assert llm_hf_inference.clean_catalog({"data": entries + [{"id": "org/ok", "providers": []}]})[0] == [
        {"id": "org/ok", "providers": []}
    ]
    mapping = [
        {"provider": "hf-inference", "providerId": repo_id, "task": "feature-extraction", "status": "live"}
    ]
    with pytest.raises(ValueError, match="no embedding model"):
        llm_hf_inference.store_embeddings([{"id": repo_id, "inferenceProviderMapping": mapping}])
    (llm.user_dir() / "hf-inference-embeddings.json").write_text(
        json.dumps(
            {"version": 1, "models": [[repo_id, [["hf-inference", repo_id, "feature-extraction", "live"]]]]}
        )
    )
    assert llm_hf_inference.read_embeddings() == []
    assert llm_hf_inference.read_added() == {"org/ok": {}}  # and its alias with a space is left out
    assert not any(repo_id in m.model_id for m in llm.get_embedding_models())


def test_add_strips_the_prefix_and_keeps_an_earlier_alias():
    assert (
        invoke("hf", "add", "hf/org/m", "--alias", "mine").output
        == "Added hf/org/m (alias mine): the router, with the Hugging Face token.\n"
    )
    assert (
        invoke("hf", "add", "org/m", "--tools").output
        == "Added hf/org/m (alias mine): the router, with the Hugging Face token.\n"
    )
    assert llm_hf_inference.read_added() == {"org/m": {"tools": True, "alias": "mine"}}
    assert llm.get_model("mine").model_id == "hf/org/m"
    url = "https://my.endpoints.huggingface.cloud/v1"
    result = invoke("hf", "add", "meta-llama/Llama-3.1-8B-Instruct", "--base-url", url)
    assert result.exit_code == 0 and llm.get_model("hf-llama3.1").spec.base_url == url


# -- 11. llm hf spend


def test_spend_since_too_far_back_is_one_line():
    llm.user_dir().mkdir(parents=True, exist_ok=True)
    (llm.user_dir() / "logs.db").write_bytes(b"")
    result = invoke("hf", "spend", "--since", "1000000d")
    assert result.exit_code == 2 and result.output.endswith(
        "Error: Invalid value for --since: too far back\n"
    )


@pytest.mark.vcr
@pytest.mark.cassette("catalog-then-prompts")
def test_spend_by_alias_and_long_ids_uncut():
    invoke("hf", "refresh")
    invoke("-m", "hf-llama3.1", "-o", "max_tokens", "20", "-s", SYSTEM, QUESTION)
    by_alias = invoke("hf", "spend", "--model", "hf-llama3.1").output
    assert by_alias == invoke("hf", "spend", "--model", "meta-llama/Llama-3.1-8B-Instruct").output
    assert by_alias.splitlines()[1].startswith("hf/meta-llama/Llama-3.1-8B-Instruct  novita")
    db = llm.user_dir() / "logs.db"
    import sqlite_utils

    long_id = "hf/organisation-with-a-long-name/a-model-with-a-long-name-"
    for suffix in ("one", "two"):
        row = dict(next(sqlite_utils.Database(db).query("select * from turns limit 1")))
        sqlite_utils.Database(db)["turns"].insert(
            {**row, "id": row["id"] + suffix, "model": long_id + suffix}
        )
    lines = invoke("hf", "spend").output.splitlines()
    assert [line.split()[0] for line in lines[1:-1]] == [
        "hf/meta-llama/Llama-3.1-8B-Instruct",
        long_id + "one",
        long_id + "two",
    ]


# -- 12. the wire, as tolerant as llm's OpenAI client


def reader(content_type="text/event-stream", **body):
    request = llm_hf_inference.HFRequest(
        "https://router.huggingface.co/v1/chat/completions", {}, body, 1.0, None
    )

    class Response:
        def add_tool_call(self, call):
            pass

        def set_usage(self, **usage):
            self.usage = usage

        def set_resolved_model(self, model):
            pass

    answer = llm_hf_inference.AnswerReader(Response(), request)
    answer.start({"content-type": content_type} if content_type else {})
    return answer


def read(answer, *reads):
    events = [e for data in reads for e in answer.feed(data)]
    return events + answer.finish()


def test_a_null_error_and_null_logprobs_are_no_error():
    answer = reader(logprobs=True)
    events = read(
        answer,
        b'data: {"error": null, "choices": [{"delta": {"content": "Hi"}, "logprobs": {"content": null}}]}\n\n'
        b'data: {"choices": [{"delta": {}, "finish_reason": "stop"}]}\n\n',
    )
    assert events == ["Hi"]
    assert answer.response.response_json["logprobs"] == []


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/octet-stream"])
def test_a_stream_without_its_content_type_is_still_a_stream(content_type):
    answer = reader(content_type)
    events = read(
        answer,
        b"\nda",
        b'ta: {"choices": [{"delta": {"content": "Hi"}}]}\n\n',
        b'data: {"choices": [{"delta": {"content": " there"}, "finish_reason": "stop"}]}\n\n',
    )
    assert events == ["Hi", " there"]


def test_a_json_answer_without_its_content_type_is_still_json():
    answer = reader(None)
    assert read(answer, b'{"choices": [{"message": {"content": "Hi"}, "finish_reason": "stop"}]}') == ["Hi"]


def test_invalid_utf8_in_a_json_answer_is_replaced_as_in_a_stream():
    answer = reader("application/json")
    body = b'{"choices": [{"message": {"content": "caf\xe9 ok"}, "finish_reason": "stop"}]}'
    assert read(answer, body) == ["caf\ufffd ok"]


@pytest.mark.parametrize("status", [307, 308])
@LOCAL
def test_chat_requests_follow_redirects(status, fake, monkeypatch):
    server = fake(
        {
            "POST /v1/chat/completions": lambda seen: Answer(status, {"Location": "/v2/chat/completions"}),
            "POST /v2/chat/completions": chat_answer,
        }
    )
    monkeypatch.setenv("LLM_HF_BASE_URL", server.url + "/v1")
    assert run("hf-llama3.1", QUESTION).text.startswith(TOGETHER_TEXT)
    assert server.seen[0].body == server.seen[1].body


# -- 13. FastAPI validation errors in words


def test_fastapi_validation_errors_read_as_words():
    body = json.dumps(
        {
            "detail": [
                {"type": "missing", "loc": ["body", "messages"], "msg": "Field required", "input": None},
                {
                    "type": "float_type",
                    "loc": ["body", "temperature"],
                    "msg": "Input should be a valid number",
                },
            ]
        }
    ).encode()
    error = llm_hf_inference.http_error("http://localhost:8000/v1/chat/completions", 422, {}, body)
    assert str(error) == (
        "localhost answered 422: body.messages: Field required; body.temperature: Input should be a valid number"
    )


@pytest.mark.parametrize(
    "body, said",
    [
        ({"detail": [{"loc": "body", "msg": "Field required"}]}, "body: Field required"),
        ({"detail": [{"loc": ["body", 0, "content"], "msg": "bad"}]}, "body.0.content: bad"),
        ({"detail": {"error": "Not Found", "code": 404}}, '{"error": "Not Found", "code": 404}'),
        ({"detail": "Not Found"}, "Not Found"),
        ({"message": "Model is overloaded"}, "Model is overloaded"),
        ({"error": ["bad", "worse"]}, '["bad", "worse"]'),
        ({"error": {"code": 7}}, '{"code": 7}'),
        ({"error": "Invalid\x1b]0;pwned\x07 \x1b[2Jtoken"}, "Invalid ]0;pwned   [2Jtoken"),
        ({"error": "Right\u202eto left"}, "Right to left"),
    ],
)
def test_error_bodies_of_every_shape_read_as_text_without_control_characters(body, said):
    error = llm_hf_inference.http_error(
        "http://localhost:8000/v1/chat/completions", 400, {}, json.dumps(body).encode()
    )
    assert str(error) == f"localhost answered 400: {said}"


@pytest.mark.parametrize("use_async", [False, True], ids=["sync", "async"])
@LOCAL
def test_a_stream_error_event_and_a_broken_answer_reach_the_terminal_without_control_characters(
    use_async, fake, monkeypatch
):
    event = b'data: {"error": "CUDA\\u001b[2J out of memory"}\n\n'
    server = fake(
        {"POST /v1/chat/completions": lambda seen: Answer(200, {"Content-Type": "text/event-stream"}, event)}
    )
    monkeypatch.setenv("LLM_HF_BASE_URL", server.url + "/v1")
    with pytest.raises(llm.ModelError) as raised:
        run("hf-llama3.1", QUESTION, use_async=use_async)
    assert str(raised.value) == "127.0.0.1 reported an error: CUDA [2J out of memory"
    server.routes["POST /v1/chat/completions"] = lambda seen: Answer(
        200, {"Content-Type": "application/json"}, b"\x1b]2;title\x07<not json>"
    )
    with pytest.raises(llm.ModelError) as raised:
        run("hf-llama3.1", QUESTION, stream=False, use_async=use_async)
    assert str(raised.value) == "127.0.0.1 sent an answer that is not JSON:  ]2;title <not json>"


# -- 14, 20. the SSE decoder: bounded and linear


def test_a_never_ending_line_ends_in_a_clear_error(monkeypatch):
    monkeypatch.setattr(llm_hf_inference, "MAX_EVENT", 64 * 1024)
    answer = reader()
    shown = list(answer.feed(b'data: {"choices": [{"delta": {"content": "Hi"}}]}\n\n'))
    with pytest.raises(llm.ModelError) as raised:
        for _ in range(100):
            list(answer.feed(b'data: {"choices": [{"delta": {"content": "' + b"x" * 1460))
    assert shown == ["Hi"]
    assert (
        str(raised.value)
        == "router.huggingface.co sent an event of over 0 MiB; stopped reading a broken stream"
    )


def test_an_event_of_endless_data_lines_is_capped_too():
    decoder = llm_hf_inference.SSEDecoder(cap=10_000)
    with pytest.raises(llm_hf_inference.EventTooLarge):
        for _ in range(1000):
            decoder.feed(b"data: " + b"x" * 100 + b"\n")


def test_a_long_line_is_kept_in_pieces_and_joined_once():
    decoder = llm_hf_inference.SSEDecoder()
    piece = b"x" * 1460
    assert decoder.feed(b"data: " + piece) == []
    for _ in range(999):
        assert decoder.feed(piece) == []
    assert len(decoder._open) == 1000  # nothing re-joined or re-split while the line is open
    assert decoder.feed(b"\n\n") == [piece * 1000]


# -- 15, 16. usage and logprobs


def test_usage_details_of_both_sides_stay_apart():
    answer = reader()
    read(
        answer,
        b'data: {"choices": [{"delta": {"content": "Hi"}, "finish_reason": "stop"}], "usage": {"prompt_tokens": 5,'
        b' "completion_tokens": 2, "prompt_tokens_details": {"audio_tokens": 3, "cached_tokens": 0},'
        b' "completion_tokens_details": {"audio_tokens": 1, "reasoning_tokens": null}}}\n\n',
    )
    assert answer.response.usage == {
        "input": 5,
        "output": 2,
        "details": {
            "prompt_tokens_details": {"audio_tokens": 3},
            "completion_tokens_details": {"audio_tokens": 1},
        },
    }


@pytest.mark.vcr
@pytest.mark.cassette("stream-2025-hf-inference")
def test_usage_without_token_counts_says_so(played):
    result = invoke("-m", "hf-llama3.1", "-s", SYSTEM, "-o", "max_tokens", "20", "-u", QUESTION)
    assert result.stderr == 'Token usage: {"provider": "hf-inference", "tokens": "not reported"}\n'


def test_logprobs_asked_for_and_not_sent_are_an_empty_list():
    answer = reader(logprobs=True)
    read(answer, b'data: {"choices": [{"delta": {"content": "Hi"}, "finish_reason": "stop"}]}\n\n')
    assert answer.response.response_json["logprobs"] == []
    answer = reader()
    read(answer, b'data: {"choices": [{"delta": {"content": "Hi"}, "finish_reason": "stop"}]}\n\n')
    assert "logprobs" not in answer.response.response_json


# -- 17, 18. the pool: big enough, made once, safe from threads


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


# -- 21. bad environments


@pytest.mark.parametrize(
    "setting, value",
    [("ALL_PROXY", "socks5://127.0.0.1:1080"), ("SSL_CERT_FILE", "/missing/ca.pem")],
)
def test_a_broken_environment_names_the_setting(setting, value, monkeypatch):
    monkeypatch.setenv(setting, value)
    monkeypatch.setattr(llm_hf_inference, "_sync_client", None)
    monkeypatch.setattr(llm_hf_inference, "_async_clients", {})
    for args in (["hf", "refresh"], ["hf", "whoami"], ["-m", "hf-llama3.1", "hi"]):
        result = invoke(*args)
        assert result.exit_code == 1
        assert result.output.startswith("Error: Cannot set up HTTP connections: ")
        assert result.output.endswith(f"; check {setting}\n")
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
        "certificate verify failed: self-signed certificate in certificate chain (_ssl.c:1006)); if your "
        "network inspects TLS, point SSL_CERT_FILE or SSL_CERT_DIR at its certificate authority"
    )


@LOCAL
def test_a_refused_proxy_is_named_as_the_proxy(monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")
    monkeypatch.setattr(llm_hf_inference, "_sync_client", None)
    monkeypatch.setattr(llm_hf_inference, "sleep", lambda seconds: None)
    with pytest.raises(llm.ModelError) as raised:
        run("hf-llama3.1", "hi")
    assert str(raised.value) == (
        "The proxy 127.0.0.1 (from HTTPS_PROXY) failed on the way to router.huggingface.co: "
        "[Errno 111] Connection refused"
    )


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
