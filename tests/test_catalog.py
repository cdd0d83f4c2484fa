"""The router's catalog and our files: refreshed beside prompts, never breaking llm."""

import asyncio
import json
import os
import sys
import threading
import time

import llm
import pytest

import llm_hf_inference
from conftest import TEST_TOKEN
from fakeserver import Answer, catalog_answer, chat_answer, hub_answer
from helpers import LOCAL, QUESTION, SYNC_ASYNC, SYSTEM, TOGETHER_TEXT, hf_models, in_threads, invoke, run

# -- the catalog never takes the models away; refresh beside the prompt


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
    before = sorted(hf_models())
    result = invoke("hf", "refresh")
    assert result.stdout.startswith("2 embedding models. Added: ")  # the other half of the refresh ran
    assert (result.exit_code, result.stderr) == (
        1,
        f"Error: 127.0.0.1 answered {server.url}/v1/models with {said}; the models you have are kept. "
        "(LLM_HF_BASE_URL points elsewhere than the router?)\n",
    )
    assert not (llm.user_dir() / "hf-inference-catalog.json").exists()
    assert sorted(hf_models()) == before


@pytest.mark.parametrize(
    "status, hint",
    [
        (502, " — The gateway gave up; try again shortly."),
        (404, ""),  # no provider to choose for the catalog
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
        f"Error: 127.0.0.1 answered {status}: 502 Bad Gateway{hint}\n",
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
    assert invoke("hf", "refresh").output.startswith("4 chat models. Added:")
    monkeypatch.setenv("LLM_HF_BASE_URL", server.url + "/loop")
    result = invoke("hf", "refresh")
    assert (result.exit_code, result.stderr) == (
        1,
        "Error: Too many redirects from 127.0.0.1 (Exceeded maximum allowed redirects.)\n",
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


@SYNC_ASYNC
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
def test_a_refresh_cut_short_at_exit_is_tried_again_soon_and_says_so(stale, monkeypatch, capsys):
    server, release = stale
    monkeypatch.setenv("LLM_HF_DEBUG", "1")
    assert run("hf-llama3.1", QUESTION).text.startswith(TOGETHER_TEXT)
    assert asked_for_the_catalog(server)
    llm_hf_inference.wait_for_refresh(0.05)  # as at exit: the refresh is not done
    assert capsys.readouterr().err.endswith(
        "llm-hf-inference: the catalog refresh beside the prompt had not finished when llm exited; "
        "a command in 30 seconds tries again\n"
    )
    assert llm_hf_inference.claim_refresh() is False  # commands started with it leave it to it
    now = time.time()
    monkeypatch.setattr(llm_hf_inference.time, "time", lambda: now + 31)
    assert llm_hf_inference.claim_refresh() is True  # not five minutes later
    release.set()
    llm_hf_inference.wait_for_refresh(5)


@LOCAL
def test_a_refresh_still_going_is_never_joined_by_a_second(stale, monkeypatch):
    server, release = stale
    monkeypatch.setattr(llm_hf_inference, "CATALOG_RETRY", 0.0)  # the catalog is stale again at once
    assert run("hf-llama3.1", QUESTION).text.startswith(TOGETHER_TEXT)
    assert asked_for_the_catalog(server)
    assert run("hf-llama3.1", QUESTION).text.startswith(TOGETHER_TEXT)
    release.set()
    llm_hf_inference.wait_for_refresh(5)
    assert server.paths("GET") == ["/v1/models"]


@LOCAL
def test_a_refresh_another_process_began_is_left_to_it(stale):
    server, release = stale
    release.set()
    llm_hf_inference.write_file(llm.user_dir() / llm_hf_inference.REFRESH_MARK, repr(time.time()))
    llm_hf_inference._refresh_quietly()
    assert server.paths() == []
    assert not (llm.user_dir() / "hf-inference-catalog.json").exists()


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


# -- our files, written by two at once


def test_concurrent_adds_lose_nothing_and_leave_no_temporary_files():
    names = [f"org/model-{n}" for n in range(16)]
    assert in_threads(lambda n: llm_hf_inference.add_model(names[n], {"tools": True}), 16) == []
    assert sorted(llm_hf_inference.read_added()) == sorted(names)
    # the lock's file stays where filelock leaves it (POSIX), or goes (Windows): nothing else is left
    left = sorted(p.name for p in llm.user_dir().iterdir() if p.name != "hf-inference-added.json.lock")
    assert left == ["hf-inference-added.json", "logs.db"]


def test_concurrent_catalog_writes_never_collide():
    raw = catalog_answer().body
    assert in_threads(lambda n: llm_hf_inference.store_catalog(raw), 12) == []
    assert sorted(p.name for p in llm.user_dir().iterdir()) == [
        "hf-inference-catalog.json",
        "hf-inference-registry.jsonl",
        "logs.db",
    ]


# -- values of the wrong type in our files never break llm


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
    assert invoke("models").exit_code == 0  # registration reads the registry alone
    assert llm.get_model("gpt-4o-mini").model_id == "gpt-4o-mini"
    listed = invoke("hf", "models")
    assert listed.exit_code == 0
    assert "values of the wrong type" in listed.stderr
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
        ('{"version": 1, "models": {"hf/a/b": "7"}}', None, False),  # another version: the built-in models
        ("[]", None, True),
        ("[" * 100_000, None, True),  # nested past Python's recursion limit
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
        for m in hf_models().values()
    }
    if models is None:
        assert sorted(registered) == sorted(f"hf/{spec.repo_id}" for spec in llm_hf_inference.BUILTIN_MODELS)
    else:
        assert registered == models
    assert ("llm-hf-inference: " in result.stderr) is warns


class ClosedStream:
    """A stderr whose reader is gone (``llm ... 2>&1 | head -1``): a write is buffered, its flush refused."""

    def write(self, text):
        return len(text)

    def flush(self):
        raise BrokenPipeError(32, "Broken pipe")


@pytest.mark.parametrize("stderr", [None, ClosedStream()])  # None: pythonw, or fd 2 closed at start
def test_a_warning_that_cannot_be_written_never_breaks_llm(stderr, monkeypatch):
    llm.user_dir().mkdir(parents=True, exist_ok=True)
    (llm.user_dir() / REGISTRY).write_text("not json\n{}\n")
    monkeypatch.setattr(sys, "stderr", stderr)
    assert llm.get_model("gpt-4o-mini").model_id == "gpt-4o-mini"
    assert "hf/meta-llama/Llama-3.1-8B-Instruct" in {model.model_id for model in llm.get_models()}


def test_registered_models_are_the_catalog_models_they_stand_for():
    llm_hf_inference.store_catalog(catalog_answer().body)
    expected = {
        f"hf/{spec.repo_id}": spec
        for spec in map(llm_hf_inference.spec_from_entry, llm_hf_inference.read_catalog())
        if spec
    }
    assert len(expected) == 4
    assert {m.model_id: m.spec for m in hf_models().values()} == expected
    chat = llm_hf_inference.AsyncHFChat
    assert {m.model_id: m.spec for m in llm.get_async_models() if isinstance(m, chat)} == expected


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


def test_prices_of_another_version_are_not_read_and_a_broken_line_is_said_once(capsys):
    llm.user_dir().mkdir(parents=True, exist_ok=True)
    path = llm.user_dir() / REGISTRY
    path.write_text('{"version": 1, "models": {}}\n{"a/b": {"novita": [0.1, 0.2]}}\n')
    assert llm_hf_inference.model_prices("a/b") == {}
    path.write_text('{"version": 2, "models": {}}\nnot json\n')
    assert llm_hf_inference.model_prices("a/b") == llm_hf_inference.model_prices("a/b") == {}
    assert capsys.readouterr().err == (
        f"llm-hf-inference: cannot read {path} (not JSON); prices are unknown until 'llm hf refresh'\n"
    )


def test_llm_looks_for_hooks_among_the_public_names_only():
    """llm's plugin manager inspects every name dir() lists, on every llm command: a short list."""
    assert dir(llm_hf_inference) == sorted(llm_hf_inference.__all__)
    assert all(hasattr(llm_hf_inference, name) for name in llm_hf_inference.__all__)
    llm.get_models()  # loads the plugins
    hooks = llm.plugins.pm.get_hookcallers(llm_hf_inference)
    assert sorted(hook.name for hook in hooks) == [
        "register_commands",
        "register_embedding_models",
        "register_fragment_loaders",
        "register_models",
        "register_tools",
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
        (  # a token that is not an access token (huggingface.js's AuthInfo): its type and expiry
            {"name": "wang", "auth": {"type": "app_token_as_user", "expiresAt": "2027-01-06T10:00:00.000Z"}},
            ["wang", "Organisations: none", "Token: app_token_as_user, expires 2027-01-06T10:00:00.000Z"],
        ),
        ({"name": "li", "auth": {"type": "oauth\x1b[2J"}}, ["li", "Organisations: none", "Token: oauth [2J"]),
        (  # a window title, a screen clear, a right-to-left override: shown, not obeyed
            {
                "name": "a\x1b]0;owned\x07",
                "fullname": "b\x1b[2J",
                "orgs": [{"name": "c\u202e"}],
                "auth": {"accessToken": {"displayName": "d\x9b", "role": "read"}},
            },
            ["a ]0;owned  (b [2J)", "Organisations: c ", "Token: d  (role: read)"],
        ),
        *(  # a fine-grained token: whether it may call Inference Providers, globally or for an entity
            (
                {"name": "bo", "auth": {"accessToken": {"role": "fineGrained", "fineGrained": granted}}},
                ["bo", "Organisations: none", "Token: ? (role: fineGrained)", f"Inference Providers: {said}"],
            )
            for granted, said in [
                ({"global": ["inference.serverless.write"], "scoped": []}, "allowed"),
                (
                    {"scoped": [{"permissions": ["repo.content.read", "inference.serverless.write"]}]},
                    "allowed",
                ),
                (
                    {"global": ["discussion.write"], "scoped": [{"permissions": "x"}, 3]},
                    "not allowed; give the token 'Make calls to Inference Providers' at "
                    "https://huggingface.co/settings/tokens",
                ),
                (
                    {"global": "inference.serverless.write", "scoped": "inference.serverless.write"},
                    "not allowed; give the token 'Make calls to Inference Providers' at "
                    "https://huggingface.co/settings/tokens",
                ),
            ]
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


@LOCAL
def test_whoami_piped_in_a_code_page_escapes_what_it_cannot_write(fake, monkeypatch):
    # Windows writes a pipe or a file in its code page (cp1252): a name in another script is no traceback
    from click.testing import CliRunner
    from llm.cli import cli

    me = {
        "name": "wang",
        "fullname": "王小明",
        "auth": {"accessToken": {"displayName": "ノート", "role": "read"}},
    }
    server = fake({"GET /api/whoami-v2": lambda seen: Answer.json(me)})
    monkeypatch.setenv("HF_ENDPOINT", server.url)
    monkeypatch.setenv("LLM_HF_KEY", TEST_TOKEN)
    result = CliRunner(charset="cp1252").invoke(cli, ["hf", "whoami"], catch_exceptions=False)
    assert (result.exit_code, result.output) == (
        0,
        "wang (\\u738b\\u5c0f\\u660e)\nOrganisations: none\nToken: \\u30ce\\u30fc\\u30c8 (role: read)\n",
    )


# -- catalog values of the wrong sign


def test_negative_catalog_prices_are_left_out():
    provider = {"provider": "together", "status": "live", "pricing": {"input": -0.1, "output": 0.2}}
    assert llm_hf_inference.clean_provider(provider) == ({"provider": "together", "status": "live"}, 1)
    assert llm_hf_inference.price_of({"provider": "together"}) is None


# -- the catalog, its registry, and the commands that list it


@pytest.fixture
def catalog(vcr):
    """The router's catalog, fetched once with 'llm hf refresh' from the ``catalog`` cassette."""
    result = invoke("hf", "refresh")
    assert result.exit_code == 0, result.output
    return result


@pytest.mark.vcr
@pytest.mark.cassette("catalog")
def test_refresh_caches_the_catalog_and_says_what_changed(sent, catalog):
    assert catalog.output == (
        "4 chat models. Added: Qwen/Qwen2.5-VL-7B-Instruct, deepseek-ai/DeepSeek-V4-Pro, "
        "meta-llama/Llama-3.1-8B-Instruct, someone/Minimal-Chat. Removed: none.\n"
        "4 embedding models. Added: BAAI/bge-m3, facebook/bart-base, intfloat/multilingual-e5-large-instruct, "
        "sentence-transformers/all-MiniLM-L6-v2. Removed: none.\n"
        "2 speech models. Added: openai/whisper-large-v3, openai/whisper-large-v3-turbo. Removed: none.\n"
        # FLUX.2-dev's replicate mapping left out: image-text-to-image goes to fal-ai and wavespeed alone
        "4 image models. Added: black-forest-labs/FLUX.1-Kontext-dev, black-forest-labs/FLUX.1-schnell, "
        "black-forest-labs/FLUX.2-dev, dx8152/Qwen-Edit-2509-Multiple-angles. Removed: none.\n"
        # OuteTTS only staging; the last on a provider of no known route
        "2 text-to-speech models. Added: hexgrad/Kokoro-82M, nari-labs/Dia-1.6B. Removed: none.\n"
        "4 video models. Added: Lightricks/LTX-2, Lightricks/LTX-Video, Wan-AI/Wan2.1-I2V-14B-720P, "
        "Wan-AI/Wan2.1-T2V-14B. Removed: none.\n"
        "2 text-to-audio models. Added: facebook/musicgen-small, stabilityai/stable-audio-open-1.0. "
        "Removed: none.\n"
        "2 image-to-text models. Added: nlpconnect/vit-gpt2-image-captioning, zai-org/GLM-OCR. "
        "Removed: none.\n"
    )
    assert sent[0].url == "https://router.huggingface.co/v1/models"
    assert "authorization" not in sent[0].headers and "x-hf-bill-to" not in sent[0].headers
    cached = json.loads((llm.user_dir() / "hf-inference-catalog.json").read_text())
    assert [e["id"] for e in cached["data"]] == [
        "deepseek-ai/DeepSeek-V4-Pro",
        "meta-llama/Llama-3.1-8B-Instruct",
        "Qwen/Qwen2.5-VL-7B-Instruct",
        "someone/All-Providers-Down",
        "someone/Minimal-Chat",
    ]


@pytest.mark.vcr
@pytest.mark.cassette("catalog")
def test_models_come_from_the_catalog_with_their_capabilities(catalog):
    models = hf_models()
    assert sorted(models) == [
        "hf/Qwen/Qwen2.5-VL-7B-Instruct",
        "hf/deepseek-ai/DeepSeek-V4-Pro",
        "hf/meta-llama/Llama-3.1-8B-Instruct",
        "hf/someone/Minimal-Chat",
    ]
    capabilities = {
        model_id: (m.supports_tools, m.supports_schema, bool(m.attachment_types))
        for model_id, m in models.items()
    }
    assert capabilities == {
        "hf/Qwen/Qwen2.5-VL-7B-Instruct": (False, False, True),
        "hf/deepseek-ai/DeepSeek-V4-Pro": (True, True, False),
        "hf/meta-llama/Llama-3.1-8B-Instruct": (True, True, False),
        "hf/someone/Minimal-Chat": (False, False, False),
    }
    assert llm.get_model("hf-llama3.1").model_id == "hf/meta-llama/Llama-3.1-8B-Instruct"


@pytest.mark.vcr(allow_playback_repeats=True)
def test_refresh_reports_added_and_removed_models(vcr_cassette_dir):
    import vcr

    with vcr.use_cassette(f"{vcr_cassette_dir}/catalog.yaml"):
        invoke("hf", "refresh")
    with vcr.use_cassette(f"{vcr_cassette_dir}/catalog-later.yaml"):
        result = invoke("hf", "refresh")
    assert result.output == (
        "3 chat models. Added: someone/Newer-Chat. Removed: deepseek-ai/DeepSeek-V4-Pro, someone/Minimal-Chat.\n"
        "3 embedding models. Added: none. Removed: facebook/bart-base.\n"
        "2 speech models. Added: none. Removed: none.\n"
        "4 image models. Added: none. Removed: none.\n"
        "2 text-to-speech models. Added: none. Removed: none.\n"
        "4 video models. Added: none. Removed: none.\n"
        "2 text-to-audio models. Added: none. Removed: none.\n"
        "2 image-to-text models. Added: none. Removed: none.\n"
    )


def test_without_a_cache_or_network_the_built_in_models_register(sent):
    assert not (llm.user_dir() / "hf-inference-catalog.json").exists()
    result = invoke("models")
    assert "Hugging Face: hf/meta-llama/Llama-3.1-8B-Instruct (aliases: hf-llama3.1)" in result.output
    assert len(hf_models()) == len(llm_hf_inference.BUILTIN_MODELS)
    assert sent == []


@pytest.mark.parametrize("content", ["{not json", '{"data": [{"no": "id"}]}', '["a list"]'])
def test_a_broken_cache_warns_once_and_falls_back(content, monkeypatch, capsys):
    monkeypatch.setattr(llm_hf_inference, "_warned", set())
    (llm.user_dir() / "hf-inference-catalog.json").write_text(content)
    result = invoke("models")  # registration reads the registry alone
    assert (result.exit_code, result.stderr) == (0, "")
    assert len(hf_models()) == len(llm_hf_inference.BUILTIN_MODELS)
    assert llm_hf_inference.read_catalog() is None
    llm_hf_inference.read_catalog()
    warnings = capsys.readouterr().err.splitlines()
    assert len(warnings) == 1
    assert warnings[0].startswith(
        f"llm-hf-inference: cannot read {llm.user_dir() / 'hf-inference-catalog.json'} ("
    )
    assert warnings[0].endswith("using the built-in models. Run 'llm hf refresh' to fetch the catalog again.")


def test_a_broken_added_models_file_never_stops_llm(monkeypatch):
    monkeypatch.setattr(llm_hf_inference, "_warned", set())
    (llm.user_dir() / "hf-inference-added.json").write_text("{broken")
    result = invoke("models")
    assert result.exit_code == 0
    assert len(hf_models()) == len(llm_hf_inference.BUILTIN_MODELS)
    assert "models added with 'llm hf add' are left out." in result.stderr


@pytest.mark.vcr
@pytest.mark.cassette("catalog")
def test_hf_models_table(catalog):
    result = invoke("hf", "models")
    assert result.output == (
        "model                             providers         context  $/1M in/out\n"
        "deepseek-ai/DeepSeek-V4-Pro       together,feathe…     512k  $2.10/$4.40\n"
        "meta-llama/Llama-3.1-8B-Instruct  cerebras,novita…     131k  $0.02/$0.05\n"
        "Qwen/Qwen2.5-VL-7B-Instruct       hyperbolic            32k         free\n"
        "someone/Minimal-Chat              featherless-ai          -            -\n"
    )
    assert max(len(line) for line in result.output.splitlines()) <= 80


@pytest.mark.parametrize(
    "args, ids",
    [
        (["-q", "llama"], ["meta-llama/Llama-3.1-8B-Instruct"]),
        (["--provider", "featherless-ai"], ["deepseek-ai/DeepSeek-V4-Pro", "someone/Minimal-Chat"]),
        (["--tools"], ["deepseek-ai/DeepSeek-V4-Pro", "meta-llama/Llama-3.1-8B-Instruct"]),
        (["--schemas", "-q", "deepseek"], ["deepseek-ai/DeepSeek-V4-Pro"]),
        (["--vision"], ["Qwen/Qwen2.5-VL-7B-Instruct"]),
        (["--free"], ["Qwen/Qwen2.5-VL-7B-Instruct"]),
    ],
)
@pytest.mark.vcr
@pytest.mark.cassette("catalog")
def test_hf_models_filters(args, ids, catalog):
    result = invoke("hf", "models", "--json", *args)
    assert [entry["id"] for entry in json.loads(result.output)] == ids


@pytest.mark.parametrize(
    "sort, order",
    [
        ("price", ["novita", "cerebras", "together", "hf-inference"]),
        ("latency", ["cerebras", "together", "novita", "hf-inference"]),
        ("throughput", ["cerebras", "together", "novita", "hf-inference"]),
    ],
)
@pytest.mark.vcr
@pytest.mark.cassette("catalog")
def test_hf_providers_table(sort, order, catalog):
    result = invoke("hf", "providers", "hf-llama3.1", "--sort", sort)  # an alias will do
    lines = result.output.splitlines()
    assert lines[:2] == [
        "meta-llama/Llama-3.1-8B-Instruct",
        "provider      status  context  $/1M in/out  1st tok  tok/s  tools  json",
    ]
    rows = {
        "cerebras": "cerebras      live        32k  $0.10/$0.10    180ms   2100  yes    no",
        "novita": "novita        live        16k  $0.02/$0.05    820ms     61  no     yes",
        "together": "together      live       131k  $0.18/$0.18    420ms    150  yes    yes",
        "hf-inference": "hf-inference  error         -            -        -      -  -      -",
    }
    assert lines[2:] == [rows[name] for name in order]


@pytest.mark.vcr
@pytest.mark.cassette("catalog")
def test_hf_providers_of_a_model_not_in_the_catalog_is_one_line(catalog):
    result = invoke("hf", "providers", "no/such-model")
    assert (result.exit_code, result.output) == (
        1,
        "Error: no/such-model is not in the catalog; 'llm hf models -q NAME' searches it\n",
    )


@pytest.mark.vcr
@pytest.mark.cassette("catalog")
def test_an_unknown_provider_fails_before_any_request(sent, catalog):
    result = invoke("-m", "hf-llama3.1", "-o", "provider", "groq", "hi")
    assert result.exit_code == 1
    assert result.output == (
        "Error: 'groq' does not serve meta-llama/Llama-3.1-8B-Instruct; its providers are: cerebras, novita, "
        "together (or a policy: fastest, cheapest, preferred)\n"
    )
    assert [s.body for s in sent] == [None] * 14  # the refresh alone (catalog, Hub searches): no prompt


@pytest.mark.vcr
@pytest.mark.cassette("prompt-then-catalog")
def test_a_missing_catalog_is_fetched_beside_a_prompt(monkeypatch, sent, played):
    monkeypatch.setattr(llm_hf_inference, "CATALOG_MAX_AGE", 24 * 3600.0)
    result = invoke(
        "-m", "hf-llama3.1", "-s", SYSTEM, "-o", "max_tokens", "20", "-o", "bill_to", "acme", QUESTION
    )
    assert result.exit_code == 0
    llm_hf_inference.wait_for_refresh(5)
    by_url = {r.url: r for r in sent}
    assert sorted(by_url) == [
        "https://router.huggingface.co/v1/chat/completions",
        "https://router.huggingface.co/v1/models",
    ]
    assert by_url["https://router.huggingface.co/v1/chat/completions"].headers["x-hf-bill-to"] == "acme"
    catalog_request = by_url["https://router.huggingface.co/v1/models"]
    assert "x-hf-bill-to" not in catalog_request.headers and "authorization" not in catalog_request.headers
    assert "hf/deepseek-ai/DeepSeek-V4-Pro" in hf_models()


@pytest.mark.vcr
@pytest.mark.cassette("prompt-then-catalog-error")
def test_a_failed_refresh_never_fails_the_prompt(monkeypatch, played):
    monkeypatch.setattr(llm_hf_inference, "CATALOG_MAX_AGE", 24 * 3600.0)
    result = invoke("-m", "hf-llama3.1", "-s", SYSTEM, "-o", "max_tokens", "20", QUESTION)
    llm_hf_inference.wait_for_refresh(5)
    assert result.exit_code == 0
    assert result.output.startswith("Deep learning is a subfield")
    assert not (llm.user_dir() / "hf-inference-catalog.json").exists()


@LOCAL
def test_a_kind_the_hub_has_none_of_is_a_note_and_the_refresh_succeeds(fake, monkeypatch):
    def search(seen):
        if "automatic-speech-recognition" in seen.path:
            return Answer.json([])  # a mirror without speech models
        return hub_answer(seen)

    server = fake({"GET /v1/models": catalog_answer, "GET /api/models": search})
    monkeypatch.setenv("LLM_HF_BASE_URL", server.url + "/v1")
    monkeypatch.setenv("HF_ENDPOINT", server.url)
    result = invoke("hf", "refresh")
    assert (result.exit_code, result.stderr) == (
        0,
        "Note: The Hub's model search gave no speech model that a provider serves; "
        "the speech models you have are kept\n",
    )
    assert "speech models" not in result.stdout.replace("text-to-speech models", "")


@LOCAL
def test_a_broken_network_is_said_once_and_the_refresh_fails(monkeypatch):
    monkeypatch.setenv("LLM_HF_BASE_URL", "http://127.0.0.1:9/v1")  # nothing listens there
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    monkeypatch.setattr(llm_hf_inference, "sleep", lambda seconds: None)
    result = invoke("hf", "refresh")
    assert result.exit_code == 1
    assert result.stderr.count("Error: ") == 1
    assert result.stderr.startswith("Error: Could not connect to 127.0.0.1")


def test_one_model_is_one_model():
    stored = llm_hf_inference.Stored(1, [], [])
    assert llm_hf_inference.changes(stored, "speech models") == "1 speech model. Added: none. Removed: none."
    assert llm_hf_inference.changes(stored._replace(count=2), "speech models").startswith("2 speech models.")


@LOCAL
def test_models_that_cannot_be_stored_are_one_line(fake, monkeypatch):
    server = fake({"GET /v1/models": catalog_answer, "GET /api/models": hub_answer})
    monkeypatch.setenv("LLM_HF_BASE_URL", server.url + "/v1")
    monkeypatch.setenv("HF_ENDPOINT", server.url)

    def full(path, text):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(llm_hf_inference, "write_file", full)
    result = invoke("hf", "refresh")
    assert result.exit_code == 1
    folder = llm.user_dir()
    assert result.stderr == f"Error: Cannot store models in {folder}: No space left on device\n"  # said once


@LOCAL
def test_a_hub_that_has_no_such_page_gets_no_provider_hint(fake, monkeypatch):
    server = fake({})  # every path: 404 "no such route"
    monkeypatch.setenv("HF_ENDPOINT", server.url)
    monkeypatch.setenv("LLM_HF_KEY", "hf_key0000000")
    result = invoke("hf", "whoami")
    assert result.stderr == "Error: 127.0.0.1 answered 404: no such route\n"


@LOCAL
def test_one_pipeline_tag_found_empty_keeps_its_models_as_a_whole_kind_does(fake, monkeypatch, found):
    def search(seen):
        if "image-to-video" in seen.path:
            return Answer.json([])  # the Hub's search said nothing of them this time
        return hub_answer(seen)

    server = fake({"GET /v1/models": catalog_answer, "GET /api/models": search})
    monkeypatch.setenv("LLM_HF_BASE_URL", server.url + "/v1")
    monkeypatch.setenv("HF_ENDPOINT", server.url)
    result = invoke("hf", "refresh")
    assert result.exit_code == 0
    assert result.stderr == (
        "Note: The Hub's search found no image-to-video model that a provider serves; those you have are kept\n"
    )
    assert "4 video models. Added: Lightricks/LTX-2. Removed: none." in result.stdout
    assert llm.get_model("hf/Wan-AI/Wan2.1-I2V-14B-720P").spec.providers == (
        ("fal-ai", "fal-ai/wan-i2v", "image-to-video"),
        ("wavespeed", "wavespeed-ai/wan-2.1/i2v-720p", "image-to-video"),
    )


def test_a_free_price_of_0_is_kept_in_the_catalog_and_the_registry():
    provider = {"provider": "together", "status": "live", "pricing": {"input": 0, "output": 0}}
    assert llm_hf_inference.clean_provider(provider) == (provider, 0)
    entry = {"id": "a/b", "providers": [provider]}
    llm.user_dir().mkdir(parents=True, exist_ok=True)
    llm_hf_inference.registry_path().write_text(llm_hf_inference.registry_text([entry]))
    assert llm_hf_inference.model_prices("a/b") == {"together": (0.0, 0.0)}


@pytest.mark.parametrize(
    "entry, kept, dropped",
    [
        ({"id": "a/b", "providers": None}, {"id": "a/b", "providers": []}, 0),
        ({"id": "a/b", "providers": [{"provider": "no such!"}]}, {"id": "a/b", "providers": []}, 1),
        ({"id": "a/b", "providers": [{"provider": 7}]}, {"id": "a/b", "providers": []}, 1),
        (
            {
                "id": "a/b",
                "providers": [
                    {"provider": "x", "context_length": 0},
                    {"provider": "y", "context_length": -5},
                ],
            },
            {"id": "a/b", "providers": [{"provider": "x"}, {"provider": "y"}]},
            2,
        ),
        (
            {"id": "a/b", "providers": [{"provider": "x", "context_length": 1}]},
            {"id": "a/b", "providers": [{"provider": "x", "context_length": 1}]},
            0,
        ),
        (  # a status 'llm hf providers' would print with what a terminal obeys
            {"id": "a/b", "providers": [{"provider": "x", "status": "live\x1b]0;owned\x07"}]},
            {"id": "a/b", "providers": [{"provider": "x"}]},
            1,
        ),
        (
            {"id": "a/b", "providers": [{"provider": "x", "status": "staging"}]},
            {"id": "a/b", "providers": [{"provider": "x", "status": "staging"}]},
            0,
        ),
    ],
)
def test_a_catalog_entry_keeps_only_values_of_the_right_shape(entry, kept, dropped):
    assert llm_hf_inference.clean_entry(entry) == (kept, dropped)


def test_the_shipped_catalog_refreshes_after_a_day(monkeypatch):
    from conftest import SHIPPED_CATALOG_MAX_AGE

    assert SHIPPED_CATALOG_MAX_AGE == 24 * 3600
    monkeypatch.setattr(llm_hf_inference, "CATALOG_MAX_AGE", SHIPPED_CATALOG_MAX_AGE)
    llm.user_dir().mkdir(parents=True, exist_ok=True)
    path = llm_hf_inference.catalog_path()
    path.write_text("{}")
    for hours, stale in ((23, False), (25, True)):
        monkeypatch.setattr(llm_hf_inference, "_catalog_fresh_until", 0.0)
        os.utime(path, (time.time() - hours * 3600, time.time() - hours * 3600))
        assert llm_hf_inference.catalog_is_stale() is stale


def test_an_added_model_also_in_the_catalog_is_registered_once():
    repo = "meta-llama/Llama-3.1-8B-Instruct"
    assert invoke("hf", "add", repo, "--base-url", "http://127.0.0.1:9/v1").exit_code == 0
    ids = [m.model_id for m in llm.get_models() if m.model_id == f"hf/{repo}"]
    assert ids == [f"hf/{repo}"]
    assert llm.get_model(f"hf/{repo}").spec.base_url == "http://127.0.0.1:9/v1"


@LOCAL
@pytest.mark.parametrize(
    "flags, route, said",
    [  # vLLM's (FastAPI's) answer to a route it lacks, and TEI's (an empty 404)
        ([], "POST /chat/completions", ("-m", "hf/org/m", "hi")),
        (["--embedding"], "POST /embeddings", ("embed", "-m", "hf/org/m", "-c", "hi")),
    ],
)
def test_a_server_url_without_v1_is_said_to_want_it(flags, route, said, fake):
    body = b'{"detail":"Not Found"}' if not flags else b""
    server = fake({route: lambda seen: Answer(404, {"Content-Type": "application/json"}, body)})
    assert invoke("hf", "add", "org/m", "--base-url", server.url, *flags).exit_code == 0
    result = invoke(*said)
    assert (result.exit_code, result.stderr) == (
        1,
        f"Error: 127.0.0.1 answered 404: {'Not Found' if not flags else '(no message)'} — The OpenAI API is "
        "served under /v1 (by the router, TGI, vLLM): end --base-url or LLM_HF_BASE_URL in /v1.\n",
    )
    assert [seen.path for seen in server.seen] == [route.split()[1]]


# -- the Hub's search, asked with the token: each model's providers in the user's order


@LOCAL
def test_the_search_carries_the_token_only_to_the_hub_and_never_a_bill_to(
    hub_as_huggingface, fake, monkeypatch
):
    elsewhere = fake({"GET /next": lambda seen: Answer.json([])})
    first = lambda seen: Answer.json([], Link=f'<{elsewhere.url}/next>; rel="next"')  # noqa: E731
    server = hub_as_huggingface({"GET /api/models": first})
    monkeypatch.setenv("HF_BILL_TO", "acme")
    assert llm_hf_inference.hub_search("text-to-speech") == []
    assert server.seen[0].headers["Authorization"] == f"Bearer {TEST_TOKEN}"
    assert "X-HF-Bill-To" not in server.seen[0].headers
    assert "Authorization" not in elsewhere.seen[0].headers  # a next page on another host


@pytest.mark.parametrize("how", ["HF_HUB_DISABLE_IMPLICIT_TOKEN", "no token", "a token that cannot be had"])
@LOCAL
def test_the_search_without_a_token_still_searches(how, hub_as_huggingface, monkeypatch):
    server = hub_as_huggingface({"GET /api/models": lambda seen: Answer.json([])})
    if how == "HF_HUB_DISABLE_IMPLICIT_TOKEN":
        monkeypatch.setenv(how, "1")
    else:
        monkeypatch.setenv("HF_TOKEN", "" if how == "no token" else "hf_with a space")
        monkeypatch.setenv("HF_HOME", "/nonexistent")
    assert llm_hf_inference.hub_search("text-to-speech") == []
    assert "Authorization" not in server.seen[0].headers
