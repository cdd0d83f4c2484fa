"""The llm hf commands: add, remove, spend, whoami."""

import errno
import json
import os

import llm
import pytest

import llm_hf_inference
from conftest import TEST_TOKEN
from fakeserver import Answer
from helpers import LOCAL, POSIX, QUESTION, SYSTEM, hf_models, in_threads, invoke

# -- llm hf add never takes over another model, never loses a file


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


@POSIX
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

    def fail(file, mode="r", **kwargs):  # every file made: refused
        if "x" in mode:
            raise OSError(code, words)
        return open(file, mode, **kwargs)

    monkeypatch.setattr(llm_hf_inference, "open", fail, raising=False)
    for command in (["add", "org/m", "--tools"], ["remove", "org/kept"]):
        result = invoke("hf", *command)
        assert (result.exit_code, result.output) == (1, f"Error: Cannot change {path}: {words}\n")
    assert path.read_bytes() == before


@POSIX
def test_an_added_models_file_kept_elsewhere_stays_a_link(tmp_path):
    kept = tmp_path / "dotfiles" / "added.json"
    kept.parent.mkdir()
    kept.write_text('{"org/m": {"tools": true}}')
    link = llm.user_dir() / "hf-inference-added.json"
    link.symlink_to(kept)
    assert invoke("hf", "add", "org/n").exit_code == 0
    assert link.is_symlink() and link.resolve() == kept.resolve()
    assert json.loads(kept.read_text()) == {"org/m": {"tools": True}, "org/n": {}}
    assert [p.name for p in kept.parent.iterdir()] == ["added.json"]  # no partial file left beside it


@POSIX
def test_our_files_follow_the_umask():
    old = os.umask(0o022)
    try:
        assert invoke("hf", "add", "org/m").exit_code == 0
        os.umask(0o077)
        assert invoke("hf", "add", "org/n", "--tools").exit_code == 0
        modes = [(llm.user_dir() / "hf-inference-added.json").stat().st_mode & 0o777]
        os.umask(0o022)
        assert invoke("hf", "remove", "org/n").exit_code == 0
    finally:
        os.umask(old)
    modes.append((llm.user_dir() / "hf-inference-added.json").stat().st_mode & 0o777)
    assert modes == [0o600, 0o644]
    assert [p.name for p in llm.user_dir().iterdir() if p.name.startswith(".")] == []


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
        llm_hf_inference.store_discovered(
            llm_hf_inference.EMBEDDINGS, [{"id": repo_id, "inferenceProviderMapping": mapping}]
        )
    (llm.user_dir() / "hf-inference-embeddings.jsonl").write_text(
        '{"version": 4, "models": {}}\n'
        + json.dumps([[repo_id, [["hf-inference", repo_id, "feature-extraction", "live"]]]])
    )
    assert llm_hf_inference.read_discovered(llm_hf_inference.EMBEDDINGS) is None  # the whole file refused
    assert llm_hf_inference.read_added() == {"org/ok": {}}  # and its alias with a space is left out
    assert not any(repo_id in m.model_id for m in llm.get_embedding_models())


def test_add_strips_the_prefix_and_keeps_an_earlier_alias():
    assert (
        invoke("hf", "add", "hf/org/m", "--alias", "mine").output
        == "Added hf/org/m (alias mine): the router, with the Hugging Face token.\n"
    )
    assert (
        invoke("hf", "add", "org/m", "--tools").output
        == "Updated hf/org/m (alias mine): the router, with the Hugging Face token.\n"
    )
    assert llm_hf_inference.read_added() == {"org/m": {"tools": True, "alias": "mine"}}
    assert llm.get_model("mine").model_id == "hf/org/m"


def test_adding_again_says_what_changed_and_never_drops_an_alias():
    assert (
        invoke("hf", "add", "evil/model", "--alias", "em", "--base-url", "http://a.example/v1").exit_code == 0
    )
    renamed = invoke("hf", "add", "evil/model", "--alias", "em2")
    assert (renamed.exit_code, renamed.stderr) == (
        1,
        "Error: hf/evil/model has the alias em already: to rename it, 'llm hf remove evil/model' first\n",
    )
    assert llm.get_model("em").model_id == "hf/evil/model"
    moved = invoke("hf", "add", "evil/model", "--base-url", "http://b.example/v1", "--key-name", "b")
    assert moved.output == (
        "Updated hf/evil/model (alias em): http://b.example/v1, with the key 'b'. "
        "It was http://a.example/v1, with no key.\n"
    )
    url = "https://my.endpoints.huggingface.cloud/v1"
    result = invoke("hf", "add", "meta-llama/Llama-3.1-8B-Instruct", "--base-url", url)
    assert result.exit_code == 0 and llm.get_model("hf-llama3.1").spec.base_url == url


# -- llm hf spend


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
    assert (
        by_alias == invoke("hf", "spend", "-m", "meta-llama/Llama-3.1-8B-Instruct").output
    )  # as llm logs -m
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


NO_HOST = "it needs http:// or https:// and a host"
NO_PARTS = "a base URL has no spaces, ? or # in it"


@pytest.mark.parametrize(
    "url, problem",
    [
        ("ftp://example.com/v1", NO_HOST),
        ("http:///v1", NO_HOST),
        ("http://[::1/v1", NO_HOST),  # Python's own words: "Invalid IPv6 URL", as a traceback
        ("http://localhost:99999/v1", NO_HOST),
        ("http://localhost:8080/v1?x=1", NO_PARTS),  # each request's path would land in the query
        ("http://localhost:8080/v1#top", NO_PARTS),
        ("http://local host/v1", NO_PARTS),
        ("http://user:secret@localhost:8080/v1", "a key goes with --key-name or LLM_HF_KEY, not in the URL"),
    ],
)
def test_a_base_url_that_cannot_be_sent_to_is_refused(url, problem):
    result = invoke("hf", "add", "org/m", "--base-url", url)
    assert (result.exit_code, result.output) == (1, f"Error: --base-url {url} cannot be used: {problem}\n")
    assert llm_hf_inference.read_added() == {}


@pytest.mark.parametrize("url", ["http://[::1/v1", "http://local host/v1", "http://localhost:8080/v1?x=1"])
def test_an_added_model_whose_url_cannot_be_used_is_left_out_and_llm_goes_on(url):
    llm.user_dir().mkdir(parents=True, exist_ok=True)
    added = {"mine/chat": {"base_url": url}, "mine/emb": {"base_url": url, "embedding": True}}
    (llm.user_dir() / "hf-inference-added.json").write_text(json.dumps(added))
    results = [invoke(*command) for command in (["models", "list"], ["embed-models", "list"])]
    assert [(r.exit_code, "hf/mine/" in r.stdout) for r in results] == [(0, False), (0, False)]
    for name in ("mine/chat", "mine/emb"):  # said once a process
        assert f"left out '{name}', whose base_url cannot be used: " in results[0].stderr


@LOCAL
def test_an_unusable_llm_hf_base_url_is_not_blamed_for_another_servers_error(fake, monkeypatch):
    hub = fake({"GET /api/whoami-v2": lambda seen: Answer.json({"error": "Invalid credentials"}, 401)})
    monkeypatch.setenv("HF_ENDPOINT", hub.url)
    monkeypatch.setenv("LLM_HF_BASE_URL", "http://[::1/v1")  # never asked for by whoami
    result = invoke("hf", "whoami", "--key", TEST_TOKEN)
    assert result.stderr.startswith("Error: 127.0.0.1 answered 401: Invalid credentials — Check your")


@pytest.mark.parametrize(
    "variable, uses",
    [
        ("LLM_HF_BASE_URL", [["-m", "hf-llama3.1", "hi"], ["hf", "models", "-q", "x"]]),
        ("HF_ENDPOINT", [["hf", "whoami"], ["hf", "models", "--speech"]]),
    ],
)
def test_a_server_url_in_the_environment_that_cannot_be_used_is_one_line(variable, uses, monkeypatch):
    monkeypatch.setenv(variable, "http://[::1/v1")
    assert invoke("models", "list").exit_code == 0  # registering never asks for it
    for args in uses:
        result = invoke(*args)
        assert (result.exit_code, result.stderr) == (
            1,
            f"Error: {variable}=http://[::1/v1 cannot be used: it needs http:// or https:// and a host\n",
        )


@pytest.mark.parametrize("route", ["/chat/completions", "/embeddings/"])
def test_a_base_url_with_its_route_is_refused(route):
    result = invoke("hf", "add", "org/m", "--base-url", "http://10.0.0.5:8000/v1" + route)
    assert (result.exit_code, result.output) == (
        1,
        "Error: --base-url is the server's /v1 URL: leave out /chat/completions or /embeddings\n",
    )
    assert llm_hf_inference.read_added() == {}


def test_add_and_remove_round_trip():
    invoke("hf", "add", "org/private-model", "--base-url", "http://10.0.0.5:8000/v1", "--tools", "--schemas")
    model = llm.get_model("hf/org/private-model")
    assert (model.supports_tools, model.supports_schema, model.attachment_types) == (True, True, frozenset())
    assert invoke("hf", "remove", "hf/org/private-model").output == "Removed hf/org/private-model.\n"
    assert "hf/org/private-model" not in hf_models()
    result = invoke("hf", "remove", "org/private-model")
    assert result.exit_code == 1 and "was not added" in result.output


@pytest.mark.parametrize("embedding", [[], ["--embedding"]])
def test_an_added_model_is_removed_by_its_alias(embedding):
    invoke("hf", "add", "org/m", "--base-url", "http://10.0.0.5:8000/v1", "--alias", "mine", *embedding)
    invoke("hf", "add", "org/other", "--base-url", "http://10.0.0.5:8000/v1")
    assert invoke("hf", "remove", "mine").output == "Removed hf/org/m.\n"
    assert list(llm_hf_inference.read_added()) == ["org/other"]
    assert invoke("hf", "remove", "mine").output == "Error: mine was not added with 'llm hf add'\n"


# -- whoami


@pytest.mark.vcr
@pytest.mark.cassette("whoami")
def test_whoami(monkeypatch, sent, played):
    monkeypatch.setenv("HF_BILL_TO", "acme")
    result = invoke("hf", "whoami")
    assert (
        result.output
        == "alice (Alice Example)\nOrganisations: acme, hf-fans\nToken: laptop (role: fineGrained)\n"
        "Inference Providers: allowed\n"
    )
    assert sent[0].headers["authorization"] == f"Bearer {TEST_TOKEN}"
    assert "x-hf-bill-to" not in sent[0].headers
    assert TEST_TOKEN not in result.output


@pytest.mark.vcr
@pytest.mark.cassette("whoami-401")
def test_whoami_with_a_bad_token(played):
    result = invoke("hf", "whoami")
    assert result.exit_code == 1
    assert result.output == (  # any token may ask whoami: no permission to name
        "Error: huggingface.co answered 401: Invalid credentials in Authorization header — Check your "
        "Hugging Face token: 'llm keys set huggingface', HF_TOKEN, or 'hf auth login'.\n"
    )
    assert TEST_TOKEN not in result.output


def test_models_that_nothing_matches_are_said_not_listed_and_one_kind_at_a_time():
    llm.user_dir().mkdir(parents=True, exist_ok=True)
    llm_hf_inference.store_discovered(
        llm_hf_inference.SPEECH,
        [
            {
                "id": "a/b",
                "inferenceProviderMapping": [
                    {
                        "provider": "fal-ai",
                        "providerId": "x",
                        "task": "automatic-speech-recognition",
                        "status": "live",
                    }
                ],
            }
        ],
    )
    result = invoke("hf", "models", "--speech", "-q", "zzz")
    assert (result.exit_code, result.stdout, result.stderr) == (1, "", "Error: No model matches zzz\n")
    assert (
        invoke("hf", "models", "--speech", "-q", "A/B").stdout
        == "model  providers  status\na/b    fal-ai     live\n"
    )
    both = invoke("hf", "models", "--images", "--speech")
    assert (
        both.exit_code == 2
        and "Choose one of --embeddings, --speech, --images, --tts, --videos, --audio and --ocr"
        in both.stderr
    )


def test_a_file_of_ours_that_cannot_be_written_leaves_nothing_partial(tmp_path, monkeypatch):
    def fail(source, target):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(llm_hf_inference.os, "replace", fail)
    (tmp_path / "ours").mkdir()
    with pytest.raises(OSError, match="No space left on device"):
        llm_hf_inference.write_file(tmp_path / "ours" / "file.json", "{}")
    assert list((tmp_path / "ours").iterdir()) == []


def test_a_file_of_ours_another_process_reads_is_replaced_when_it_is_let_go(tmp_path, monkeypatch):
    # Windows refuses os.replace while another process has the file open
    replace, waits = os.replace, []

    def busy(source, target):
        if len(waits) < 4:
            raise PermissionError(13, "Access is denied")
        replace(source, target)

    monkeypatch.setattr(llm_hf_inference.os, "replace", busy)
    ours = tmp_path / "ours"
    ours.mkdir()
    monkeypatch.setattr(llm_hf_inference.time, "sleep", waits.append)
    llm_hf_inference.write_file(ours / "file.json", "{}")
    assert ([p.name for p in ours.iterdir()], (ours / "file.json").read_text()) == (
        ["file.json"],
        "{}",
    )
    assert waits == [0.05, 0.1, 0.2, 0.4]


def test_a_file_of_ours_held_open_too_long_is_not_replaced_and_nothing_is_left(tmp_path, monkeypatch):
    tries = []

    def busy(source, target):
        tries.append(target)
        raise PermissionError(13, "Access is denied")

    monkeypatch.setattr(llm_hf_inference.os, "replace", busy)
    ours = tmp_path / "ours"
    ours.mkdir()
    monkeypatch.setattr(llm_hf_inference.time, "sleep", lambda seconds: None)
    (ours / "file.json").write_text("old")
    with pytest.raises(PermissionError):
        llm_hf_inference.write_file(ours / "file.json", "{}")
    assert (len(tries), [p.name for p in ours.iterdir()]) == (5, ["file.json"])
    assert (ours / "file.json").read_text() == "old"


def test_add_never_replaces_a_file_that_is_not_an_object():
    path = llm.user_dir() / "hf-inference-added.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('["org/kept"]')
    result = invoke("hf", "add", "org/m", "--tools")
    assert (result.exit_code, result.stderr.splitlines()[-1]) == (
        1,
        f"Error: Cannot change {path}: not an object",
    )
    assert path.read_text() == '["org/kept"]'


@pytest.mark.parametrize(
    "me, lines",
    [
        (
            {"name": "bob\x1b[2J", "orgs": [1, {"name": "a"}, {"x": 1}], "auth": {"accessToken": "nope"}},
            ["bob [2J", "Organisations: a", "Token: ? (role: ?)"],
        ),
        (
            {"fullname": "Bob", "orgs": {"name": "a"}, "auth": {"accessToken": {"role": "read"}}},
            ["? (Bob)", "Organisations: none", "Token: ? (role: read)"],
        ),
    ],
)
def test_whoami_of_any_shape_is_three_lines_without_control_characters(me, lines):
    assert llm_hf_inference.whoami_lines(me) == lines


# -- the media kinds listed as chat's are: filtered by provider, keyed JSON, their providers shown


@pytest.fixture
def voices():
    """The Hub's text-to-speech models as 'llm hf refresh' stored them (the catalog cassette's page)."""
    from fakeserver import SEARCH, recorded

    llm.user_dir().mkdir(parents=True, exist_ok=True)
    page = json.loads(recorded("catalog", uri=f"pipeline_tag=text-to-speech{SEARCH}").body)
    llm_hf_inference.store_discovered(llm_hf_inference.TTS, page)


def test_a_media_kind_listed_by_provider_only_lists_what_it_serves_live(voices):
    assert invoke("hf", "models", "--tts", "--provider", "together").stdout == (
        "model               providers                               status\n"
        "hexgrad/Kokoro-82M  fal-ai, replicate, deepinfra, together  live, live, live, live\n"
    )
    # OuteTTS is mapped at replicate, but only in staging
    assert invoke("hf", "models", "--tts", "--provider", "replicate", "-q", "oute").stderr == (
        "Error: No model matches oute served by replicate\n"
    )
    nothing = invoke("hf", "models", "--tts", "--provider", "nosuch")
    assert (nothing.exit_code, nothing.stderr) == (1, "Error: No model matches served by nosuch\n")


@pytest.mark.parametrize("flag", ["--tools", "--schemas", "--vision", "--free"])
def test_a_chat_only_filter_with_a_media_kind_is_refused(voices, flag):
    result = invoke("hf", "models", "--tts", flag)
    assert result.exit_code == 2
    assert f"Error: {flag} is about chat models; leave it out with --tts" in result.stderr


def test_a_media_kinds_json_is_keyed_as_chats_is(voices):
    listed = json.loads(invoke("hf", "models", "--tts", "--json", "-q", "dia").stdout)
    assert listed == [
        {
            "id": "nari-labs/Dia-1.6B",
            "providers": [
                {
                    "provider": "fal-ai",
                    "providerId": "fal-ai/dia-tts",
                    "task": "text-to-speech",
                    "status": "live",
                }
            ],
        }
    ]


def test_the_providers_of_a_media_model_are_its_mappings():
    result = invoke("hf", "providers", "hf-tts")
    assert (result.exit_code, result.stdout) == (
        0,
        "hexgrad/Kokoro-82M\n"
        "provider   provider id                                                                         task            adapter\n"
        "fal-ai     fal-ai/kokoro/american-english                                                      text-to-speech  -\n"
        "deepinfra  hexgrad/Kokoro-82M                                                                  text-to-speech  -\n"
        "together   hexgrad/Kokoro-82M                                                                  text-to-speech  -\n"
        "replicate  jaaari/kokoro-82m:dfdf537ba482b029e0a761699e6f55e9162cfd159270bfe0e44857caa5f275a6  text-to-speech  -\n",
    )


def test_the_providers_of_an_embedding_model_are_its_mappings():
    result = invoke("hf", "providers", "hf-minilm")
    assert (result.exit_code, result.stdout) == (
        0,
        "sentence-transformers/all-MiniLM-L6-v2\n"
        "provider      provider id                             task                adapter\n"
        "hf-inference  sentence-transformers/all-MiniLM-L6-v2  feature-extraction  -\n",
    )


@pytest.mark.parametrize("embedding", [[], ["--embedding"]])
def test_the_providers_of_an_added_model_are_its_server(embedding):
    invoke("hf", "add", "org/m", "--base-url", "http://10.0.0.5:8000/v1", "--alias", "mine", *embedding)
    result = invoke("hf", "providers", "mine")
    assert (result.exit_code, result.stdout) == (
        0,
        "hf/org/m is served by http://10.0.0.5:8000/v1 ('llm hf add'), not by providers\n",
    )


def test_every_option_description_is_ascii():
    # Windows writes a redirected stdout ('llm models --options > file') in its code page: no arrows there
    kinds = ("chat", "speech", "image", "tts", "video", "audio")
    options = [getattr(llm_hf_inference, f"{kind}_options")() for kind in kinds]
    described = [field.description for kind in options for field in kind.model_fields.values()]
    assert len(described) > 40 and all(text.isascii() for text in described)
