"""The Hugging Face token: where it comes from, where it goes, and that it is never shown."""

import pathlib
import re

import httpx2
import llm
import pytest

import llm_hf_inference
from conftest import ROOT, TEST_TOKEN
from helpers import QUESTION, SYSTEM, invoke, run

# -- the token: stripped, refused when it cannot be a header, never shown


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


def test_a_key_set_on_the_model_is_sent_stripped(monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "hf_theEnvironmentsToken")
    model = llm.get_model("hf-llama3.1")
    model.key = f" {TEST_TOKEN}\n"
    assert model.get_key() == TEST_TOKEN


@pytest.mark.parametrize("token", ["hf_SECRETé1234567890", "hf_SECRET 1234567890", "hf_SECRET\x011234567890"])
def test_a_token_that_cannot_be_a_header_is_refused_without_showing_it(token, monkeypatch, sent):
    monkeypatch.setenv("HF_TOKEN", token)
    result = invoke("-m", "hf-llama3.1", "hi")
    assert (result.exit_code, result.output) == (
        1,
        "Error: The token from HF_TOKEN has characters a token cannot have; set it again\n",
    )
    whoami = invoke("hf", "whoami")
    assert whoami.exit_code == 1 and "SECRET" not in whoami.output
    assert sent == []


def test_errors_never_show_a_bearer_credential():
    request = llm_hf_inference.HFRequest("https://router.huggingface.co/v1/chat/completions")
    error = httpx2.LocalProtocolError("Illegal header value b'Bearer hf_SECRETsecret1234567890'")
    assert str(llm_hf_inference.transport_error(request, error)) == (
        "The request could not be sent to router.huggingface.co (Illegal header value b'Bearer ***')"
    )
    assert llm_hf_inference.redact("authorization: bearer sk-other.secret") == "authorization: bearer ***"


@pytest.mark.vcr
@pytest.mark.cassette("proxy-base-url")
def test_key_goes_to_a_server_that_is_not_hugging_face(monkeypatch, sent, played):
    monkeypatch.setenv("LLM_HF_BASE_URL", "https://hf-proxy.example.com/v1")
    run("hf-llama3.1", QUESTION, stream=False, key="sk-proxy")
    assert sent[0].headers["authorization"] == "Bearer sk-proxy"


# -- every source of the token


@pytest.mark.vcr(allow_playback_repeats=True)
@pytest.mark.cassette("no-stream-2025-together")
@pytest.mark.parametrize(
    "source",
    [
        "keys.json",
        "HF_TOKEN",
        "HUGGING_FACE_HUB_TOKEN",
        "HF_TOKEN_PATH",
        "HF_HOME",
        "$HF_TOKEN_PATH",
        "~HF_HOME",
        "XDG_CACHE_HOME",
        "home",
        "--key",
    ],
)
def test_each_token_source_alone(source, monkeypatch, tmp_path, sent):
    monkeypatch.delenv("HF_TOKEN")
    token = f"hf_from_{source}"
    args = []
    if source == "keys.json":
        assert invoke("keys", "set", "huggingface", "--value", token).exit_code == 0
    elif source in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"):
        monkeypatch.setenv(source, token)
    elif source == "HF_TOKEN_PATH":
        (tmp_path / "tok").write_text(f"  {token}\n")
        monkeypatch.setenv("HF_TOKEN_PATH", str(tmp_path / "tok"))
    elif source == "HF_HOME":
        (tmp_path / "hfhome").mkdir()
        (tmp_path / "hfhome" / "token").write_text(token + "\n")
        monkeypatch.setenv("HF_HOME", str(tmp_path / "hfhome"))
    elif source == "$HF_TOKEN_PATH":  # a variable in it, as a shell leaves it in quotes
        (tmp_path / "tok").write_text(token)
        monkeypatch.setenv("MY_TOKENS", str(tmp_path))
        monkeypatch.setenv("HF_TOKEN_PATH", "$MY_TOKENS/tok")
    elif source == "~HF_HOME":  # as a shell leaves it in quotes
        (tmp_path / "home" / "hf").mkdir(parents=True)
        (tmp_path / "home" / "hf" / "token").write_text(token)
        monkeypatch.setenv("HF_HOME", str(pathlib.Path("~", "hf")))
    elif source == "XDG_CACHE_HOME":
        (tmp_path / "xdg" / "huggingface").mkdir(parents=True)
        (tmp_path / "xdg" / "huggingface" / "token").write_text(token)
        monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    elif source == "home":
        (tmp_path / "home" / ".cache" / "huggingface").mkdir(parents=True)
        (tmp_path / "home" / ".cache" / "huggingface" / "token").write_text(token)
    else:
        args = ["--key", token]
    result = invoke("-m", "hf-llama3.1", "--no-stream", "-s", SYSTEM, QUESTION, *args)
    assert result.exit_code == 0, result.output
    assert sent[0].headers["authorization"] == f"Bearer {token}"
    assert token not in (llm.user_dir() / "logs.db").read_text(errors="replace")


def test_a_token_file_saved_with_a_byte_order_mark_is_read(monkeypatch, tmp_path):
    monkeypatch.delenv("HF_TOKEN")
    (tmp_path / "tok").write_bytes(b"\xef\xbb\xbfhf_from_notepad\r\n")  # as Windows Notepad saved UTF-8
    monkeypatch.setenv("HF_TOKEN_PATH", str(tmp_path / "tok"))
    assert llm.get_model("hf-llama3.1").get_key() == "hf_from_notepad"


def test_stored_key_wins_over_the_environment(monkeypatch):
    invoke("keys", "set", "huggingface", "--value", "hf_stored")
    monkeypatch.setenv("HUGGING_FACE_HUB_TOKEN", "hf_hub")
    assert llm.get_model("hf-llama3.1").get_key() == "hf_stored"
    monkeypatch.setenv("HF_TOKEN", "hf_env")
    assert llm.get_model("hf-llama3.1").get_key() == "hf_stored"


def test_hf_token_wins_over_the_hub_token(monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "hf_env")
    monkeypatch.setenv("HUGGING_FACE_HUB_TOKEN", "hf_hub")
    assert llm.get_model("hf-llama3.1").get_key() == "hf_env"


def test_no_token_anywhere_names_all_three_ways(monkeypatch, sent):
    monkeypatch.delenv("HF_TOKEN")
    result = invoke("-m", "hf-llama3.1", "hi")
    assert result.exit_code == 1
    assert result.output == (
        "Error: No Hugging Face token found. Give one in any of these ways: 'llm keys set huggingface', "
        "the HF_TOKEN environment variable, or 'hf auth login'.\n"
    )
    assert sent == []


# -- never shown


def test_no_cassette_holds_a_token_or_an_authorization_header():
    for path in pathlib.Path(ROOT, "cassettes").iterdir():
        text = path.read_text()
        assert not re.search(r"hf_[A-Za-z0-9]{6,}", text), path
        assert not re.search(r"(?im)^\s*['\"]?authorization['\"]?\s*:", text), path


@pytest.mark.vcr
@pytest.mark.cassette("error-401")
def test_a_failing_request_never_shows_the_token(sent, played, monkeypatch):
    token = "hf_SECRETsecret1234567890"
    monkeypatch.setenv("HF_TOKEN", token)
    result = invoke("-m", "hf-llama3.1", "--no-stream", "-s", SYSTEM, QUESTION)
    assert (result.exit_code, result.output) == (
        1,
        "Error: router.huggingface.co answered 401: Invalid username or password. — Check your Hugging Face "
        "token (it needs the 'Make calls to Inference Providers' permission: 'llm hf whoami' says if it has it): 'llm keys set huggingface', "
        "HF_TOKEN, or 'hf auth login'.\n",
    )
    assert sent[0].headers["authorization"] == f"Bearer {token}"
    model = llm.get_model("hf-llama3.1")
    seen = result.output + repr(model) + str(model) + repr(result.exception) + str(result.exception)
    assert token not in seen
    assert token not in (llm.user_dir() / "logs.db").read_text(errors="replace")
    assert TEST_TOKEN not in seen


def test_an_error_that_echoes_the_token_does_not_show_it():
    error = llm_hf_inference.http_error(
        "https://router.huggingface.co/v1/chat/completions",
        401,
        {},
        b'{"error": "Invalid token hf_SECRETsecret1234567890 for user alice"}',
    )
    assert str(error) == (
        "router.huggingface.co answered 401: Invalid token hf_*** for user alice — Check your Hugging Face token "
        "(it needs the 'Make calls to Inference Providers' permission: 'llm hf whoami' says if it has it): 'llm keys set huggingface', HF_TOKEN, "
        "or 'hf auth login'."
    )


def test_the_request_object_does_not_show_its_token():
    model = llm.get_model("hf-llama3.1")
    request = llm_hf_inference.build_request(
        model.spec, llm.Prompt("hi", model), True, "hf_SECRETsecret1234567890"
    )
    assert request.headers["Authorization"] == "Bearer hf_SECRETsecret1234567890"
    assert repr(request) == str(request) == "<HFRequest https://router.huggingface.co/v1/chat/completions>"


def test_the_cassettes_are_rebuilt_from_a_clone_byte_for_byte(tmp_path):
    """scripts/build_cassettes.py, run on the recordings in the repository, writes the committed cassettes."""
    import shutil
    import subprocess
    import sys

    shutil.copytree(ROOT / "scripts", tmp_path / "scripts")
    shutil.copytree(ROOT / "tests" / "recordings", tmp_path / "tests" / "recordings")
    subprocess.run([sys.executable, str(tmp_path / "scripts" / "build_cassettes.py")], check=True)
    built = {path.name: path.read_bytes() for path in (tmp_path / "cassettes").iterdir()}
    committed = {path.name: path.read_bytes() for path in (ROOT / "cassettes").iterdir()}
    assert sorted(built) == sorted(committed)
    assert [name for name in sorted(built) if built[name] != committed[name]] == []


# -- models outside the router, and where the token goes


@pytest.mark.vcr
@pytest.mark.cassette("self-hosted-tgi")
def test_added_self_hosted_model_gets_no_token(sent, played):
    result = invoke("hf", "add", "tgi", "--alias", "local", "--base-url", "http://localhost:8080/v1")
    assert result.output == "Added hf/tgi (alias local): http://localhost:8080/v1, with no key.\n"
    out = run("local", QUESTION, stream=False)
    assert out.text.startswith("Deep learning is a subfield")
    assert sent[0].url == "http://localhost:8080/v1/chat/completions"
    assert "authorization" not in sent[0].headers


@pytest.mark.vcr
@pytest.mark.cassette("self-hosted-tgi")
def test_added_self_hosted_model_gets_its_own_key(sent, played):
    invoke("keys", "set", "my-tgi", "--value", "local-secret")
    invoke(
        "hf",
        "add",
        "tgi",
        "--alias",
        "local",
        "--base-url",
        "http://localhost:8080/v1",
        "--key-name",
        "my-tgi",
    )
    run("local", QUESTION, stream=False)
    assert sent[0].headers["authorization"] == "Bearer local-secret"


ENDPOINT = "https://my-llama.us-east-1.aws.endpoints.huggingface.cloud/v1"


@pytest.mark.vcr
@pytest.mark.cassette("dedicated-endpoint")
def test_an_added_endpoint_gets_the_hf_token_only_when_the_user_opts_in(sent, played, capsys):
    result = invoke("hf", "add", "tgi", "--alias", "mine", "--vision", "--base-url", ENDPOINT)
    assert result.output == (
        f"Added hf/tgi (alias mine): {ENDPOINT}, with no key.\n"
        "A Space or Inference Endpoint runs its owner's code, so it is not sent your Hugging Face token "
        f"unless you say so: 'llm hf add tgi --base-url {ENDPOINT} --key-name huggingface'.\n"
    )
    with pytest.raises(llm.ModelError):  # the recorded answer needs the token: this request has none
        run("mine", QUESTION, stream=False)
    assert "authorization" not in sent[0].headers
    assert capsys.readouterr().err.startswith(
        "llm-hf-inference: my-llama.us-east-1.aws.endpoints.huggingface.cloud is not huggingface.co over "
        "HTTPS, so the Hugging Face token is not sent to it (to send it, add the model again with "
        "--key-name huggingface)\n"
    )
    result = invoke("hf", "add", "tgi", "--vision", "--base-url", ENDPOINT, "--key-name", "huggingface")
    assert result.output == (
        f"Updated hf/tgi (alias mine): {ENDPOINT}, with the Hugging Face token. It was {ENDPOINT}, with no key.\n"
    )
    run("mine", QUESTION, stream=False)
    assert sent[1].headers["authorization"] == f"Bearer {TEST_TOKEN}"
    assert [s.headers["x-scale-up-timeout"] for s in sent] == ["115", "115"]  # held while it starts
    assert llm.get_model("mine").attachment_types


@pytest.mark.parametrize("options, held", [({}, "115"), ({"timeout": 30.5}, "25")])  # 5 s before the timeout
def test_an_endpoint_scaled_to_zero_is_asked_to_hold_a_prompt_while_it_starts(options, held):
    invoke("hf", "add", "tgi", "--alias", "mine", "--base-url", ENDPOINT, "--key-name", "huggingface")
    model = llm.get_model("mine")
    prompt = llm.Prompt("hi", model, options=model.Options(**options))
    assert (
        llm_hf_inference.build_request(model.spec, prompt, True, None).headers["X-Scale-Up-Timeout"] == held
    )


@pytest.mark.parametrize(
    "url, timeout, held",
    [
        (ENDPOINT + "/embeddings", 120.0, "115"),
        ("https://x.ENDPOINTS.huggingface.cloud/v1/embeddings", 3.0, "1"),
        ("https://router.huggingface.co/v1/chat/completions", 120.0, None),
        ("https://x.endpoints.huggingface.cloud.example.com/v1/embeddings", 120.0, None),
        ("https://x.hf.space/v1/chat/completions", 120.0, None),
    ],
)
def test_only_a_dedicated_endpoint_is_asked_to_hold_a_request(url, timeout, held):
    headers = llm_hf_inference.request_headers(False, None, None, url=url, timeout=timeout)
    assert headers.get("X-Scale-Up-Timeout") == held


def test_an_embedding_endpoint_is_asked_to_hold_its_texts_while_it_starts():
    spec = llm_hf_inference.HubSpec("my/tei", (("", "my/tei", "feature-extraction"),), (), ENDPOINT)
    assert llm_hf_inference.embed_request(spec, ["a"], None).headers["X-Scale-Up-Timeout"] == "115"


@pytest.mark.vcr(allow_playback_repeats=True)
@pytest.mark.cassette("proxy-base-url")
def test_llm_hf_base_url_elsewhere_gets_no_hf_token_and_says_so_once(monkeypatch, sent, capsys):
    monkeypatch.setenv("LLM_HF_BASE_URL", "https://hf-proxy.example.com/v1/")
    run("hf-llama3.1", QUESTION, stream=False)
    run("hf-llama3.1", QUESTION, stream=False)
    assert [s.headers.get("authorization") for s in sent] == [None, None]
    assert capsys.readouterr().err == (
        "llm-hf-inference: hf-proxy.example.com is not huggingface.co over HTTPS, so the Hugging Face "
        "token is not sent to it (set LLM_HF_KEY to send a key)\n"
    )


@pytest.mark.vcr
@pytest.mark.cassette("proxy-base-url")
def test_llm_hf_base_url_elsewhere_gets_llm_hf_key(monkeypatch, sent, played, capsys):
    monkeypatch.setenv("LLM_HF_BASE_URL", "https://hf-proxy.example.com/v1/")
    monkeypatch.setenv("LLM_HF_KEY", " proxy-secret\n")
    run("hf-llama3.1", QUESTION, stream=False)
    assert sent[0].headers["authorization"] == "Bearer proxy-secret"
    assert capsys.readouterr().err == ""


@pytest.mark.vcr
@pytest.mark.cassette("proxy-base-url")
def test_llm_hf_base_url_over_plain_http_gets_no_token(monkeypatch, sent, capsys):
    monkeypatch.setenv("LLM_HF_BASE_URL", "http://router.huggingface.co/v1")
    with pytest.raises(Exception):  # noqa: B017 - the cassette has no http:// answer; only the header matters
        run("hf-llama3.1", QUESTION, stream=False, retries=0)
    assert "authorization" not in sent[0].headers
    assert "router.huggingface.co is not huggingface.co over HTTPS" in capsys.readouterr().err


@pytest.mark.parametrize(
    "url, hf",
    [
        ("https://huggingface.co/api", True),
        ("https://router.huggingface.co/v1", True),
        ("https://x.us-east-1.aws.endpoints.huggingface.cloud/v1", False),  # runs its owner's code
        ("https://me-app.hf.space/v1", False),
        ("http://x.endpoints.huggingface.cloud/v1", False),
        ("https://huggingface.co.evil.com/v1", False),
        ("https://evilhuggingface.co/v1", False),
        ("http://localhost:8080/v1", False),
    ],
)
def test_which_hosts_may_see_the_hf_token(url, hf):
    assert llm_hf_inference.is_hf_host(url) is hf


def test_a_bad_token_is_named_by_where_it_came_from(monkeypatch, sent):
    result = invoke("-m", "hf-llama3.1", "hi", "--key", "hf_bad key")
    assert result.output == "Error: The token from --key has characters a token cannot have; set it again\n"
    invoke("keys", "set", "huggingface", "--value", "hf_bad\x01key")
    result = invoke("-m", "hf-llama3.1", "hi")
    assert result.output == (
        "Error: The token from the key 'huggingface' ('llm keys') has characters a token cannot have; set it again\n"
    )
    monkeypatch.setenv("LLM_HF_BASE_URL", "http://127.0.0.1:9/v1")  # elsewhere: --key is still --key
    result = invoke("-m", "hf-llama3.1", "hi", "--key", "hf_bad key")
    assert result.output == "Error: The token from --key has characters a token cannot have; set it again\n"
    assert sent == []


def test_a_named_key_that_is_not_stored_says_how_to_store_it():
    invoke("hf", "add", "tgi", "--base-url", "http://localhost:8080/v1", "--key-name", "my-tgi")
    with pytest.raises(llm.NeedsKeyException) as raised:
        llm.get_model("hf/tgi").get_key()
    assert str(raised.value) == "No key found: 'llm keys set my-tgi'"


def test_a_blank_key_is_named_by_where_it_came_from(monkeypatch, sent):
    monkeypatch.setenv("LLM_HF_BASE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("LLM_HF_KEY", " \n")
    assert invoke("-m", "hf-llama3.1", "hi").output == "Error: The key from LLM_HF_KEY is blank\n"
    assert invoke("-m", "hf-llama3.1", "hi", "--key", " ").output == "Error: The key from --key is blank\n"
    invoke("hf", "add", "tgi", "--base-url", "http://localhost:8080/v1", "--key-name", "my-tgi")
    assert invoke("-m", "hf/tgi", "hi", "--key", " ").output == "Error: The key from --key is blank\n"
    assert sent == []
