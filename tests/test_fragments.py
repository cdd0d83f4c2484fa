"""The Hub in prompts: -f hf: fragments, from a stand-in Hub playing recorded answer shapes."""

import contextlib
import json

import httpx2
import llm
import pytest

import llm_hf_inference
from conftest import TEST_TOKEN
from fakeserver import Answer, chat_answer, recorded
from helpers import LOCAL, invoke

pytestmark = LOCAL

LLAMA = "/meta-llama/Llama-3.1-8B-Instruct/resolve/main"
ROUTES = {
    f"GET {LLAMA}/README.md": 0,
    f"GET {LLAMA}/config.json": 1,
    "GET /someone/nothing/resolve/main/README.md": 2,
    f"GET {LLAMA}/no/such.py": 3,
    "GET /meta-llama/Llama-3.1-8B-Instruct/resolve/v9/README.md": 4,
    "GET /papers/2401.10020.md": 5,
    "GET /datasets/openai/gsm8k/resolve/main/README.md": 6,
}
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360f8cfc0f01f0005000201e5d3c3a30000000049454e44ae426082"
)


@pytest.fixture
def hub(fake, monkeypatch):
    """A stand-in Hub at HF_ENDPOINT; LLM_HF_KEY is what a Hub elsewhere than huggingface.co gets."""
    routes = {route: (lambda seen, n=n: recorded("hub-files", n)) for route, n in ROUTES.items()}
    routes["GET /someone/pictures/resolve/main/pixel.png"] = lambda seen: Answer(
        200, {"Content-Type": "image/png"}, PNG
    )
    server = fake(routes)
    monkeypatch.setenv("HF_ENDPOINT", server.url)
    monkeypatch.setenv("LLM_HF_KEY", TEST_TOKEN)
    return server


def load(argument):
    return llm_hf_inference.hf_fragment(argument)


def test_a_model_card_is_the_repositorys_readme(hub):
    fragment = load("meta-llama/Llama-3.1-8B-Instruct")
    assert str(fragment) == recorded("hub-files", 0).body.decode()
    assert fragment.source == f"{hub.url}{LLAMA}/README.md"
    assert hub.seen[0].headers["Authorization"] == f"Bearer {TEST_TOKEN}"


@pytest.mark.parametrize(
    "argument, path",
    [
        ("datasets/openai/gsm8k", "/datasets/openai/gsm8k/resolve/main/README.md"),
        ("papers/2401.10020", "/papers/2401.10020.md"),
        ("meta-llama/Llama-3.1-8B-Instruct@v9", "/meta-llama/Llama-3.1-8B-Instruct/resolve/v9/README.md"),
        ("spaces/o/n@refs/pr/3/app.py", "/spaces/o/n/resolve/refs%2Fpr%2F3/app.py"),
        ("gpt2", "/gpt2/resolve/main/README.md"),
        ("models/o/n@v1.0/src/a b.py", "/o/n/resolve/v1.0/src/a%20b.py"),
    ],
)
def test_each_kind_of_name_goes_to_its_url(argument, path, hub):
    with contextlib.suppress(ValueError):  # routes the stand-in does not have answer 404: the URL is checked
        load(argument)
    assert hub.paths() == [path]


def test_a_paper_is_its_pages_markdown(hub):
    fragment = load("papers/2401.10020")
    assert str(fragment).startswith("Title: Self-Rewarding Language Models\n")
    assert fragment.source == f"{hub.url}/papers/2401.10020.md"


def test_an_image_comes_as_an_attachment(hub):
    attachment = load("someone/pictures/pixel.png")
    assert (type(attachment), attachment.type, attachment.content) == (llm.Attachment, "image/png", PNG)


@pytest.mark.parametrize(
    "argument, message",
    [
        (
            "meta-llama/Llama-3.1-8B-Instruct/config.json",
            "model meta-llama/Llama-3.1-8B-Instruct is gated: accept its terms at "
            "{url}/meta-llama/Llama-3.1-8B-Instruct",
        ),
        (
            "someone/nothing",
            "No model someone/nothing on the Hub (if it is private, the token sent cannot see it)",
        ),
        (
            "meta-llama/Llama-3.1-8B-Instruct/no/such.py",
            "model meta-llama/Llama-3.1-8B-Instruct has no file 'no/such.py' at main",
        ),
        (
            "meta-llama/Llama-3.1-8B-Instruct@v9",
            "model meta-llama/Llama-3.1-8B-Instruct has no revision 'v9'",
        ),
        (
            "spaces/a/b",
            "space a/b has no README.md at main: name one of its files, as hf:spaces/a/b/config.json",
        ),
        ("papers/2401.99999", "No paper 2401.99999 on the Hub"),
        (
            "../x",
            "'../x' is not a Hub file: hf:owner/name, hf:datasets/owner/name, hf:owner/name@v1.0/path/to/file, hf:papers/2401.12345",
        ),
        (
            "o/n/a/../b",
            "'o/n/a/../b' is not a Hub file: hf:owner/name, hf:datasets/owner/name, hf:owner/name@v1.0/path/to/file, hf:papers/2401.12345",
        ),
        (
            "o/n/./b",
            "'o/n/./b' is not a Hub file: hf:owner/name, hf:datasets/owner/name, hf:owner/name@v1.0/path/to/file, hf:papers/2401.12345",
        ),
        (
            "o/n@/config.json",  # an @ with no revision after it is not main
            "'o/n@/config.json' is not a Hub file: hf:owner/name, hf:datasets/owner/name, hf:owner/name@v1.0/path/to/file, hf:papers/2401.12345",
        ),
    ],
)
def test_what_cannot_be_loaded_is_one_line_through_llm(argument, message, hub):
    result = invoke("-m", "hf-llama3.1", "-f", f"hf:{argument}", "hi")  # refused before any prompt
    assert (result.exit_code, result.stderr) == (
        1,
        f"Error: Could not load fragment hf:{argument}: {message.format(url=hub.url)}\n",
    )


def test_gated_without_a_token_says_to_give_one(hub, monkeypatch):
    monkeypatch.delenv("LLM_HF_KEY")
    with pytest.raises(ValueError) as error:
        load("meta-llama/Llama-3.1-8B-Instruct/config.json")
    assert str(error.value).endswith("and give a token (HF_TOKEN, or 'llm keys set huggingface')")
    assert "Authorization" not in hub.seen[0].headers


@pytest.mark.parametrize(
    "value, sent", [("1", False), ("yes", False), ("True", False), ("0", True), ("", True)]
)
def test_hf_hub_disable_implicit_token_keeps_the_token_from_the_hubs_files(value, sent, hub, monkeypatch):
    monkeypatch.setenv("HF_HUB_DISABLE_IMPLICIT_TOKEN", value)  # as huggingface_hub reads it
    load("meta-llama/Llama-3.1-8B-Instruct")
    assert ("Authorization" in hub.seen[0].headers) is sent


def test_binary_that_is_no_image_is_refused(fake, monkeypatch):
    server = fake(
        {"GET /o/n/resolve/main/model.bin": lambda seen: Answer(200, {}, b"\x00\x01PK\x03\x04" * 10)}
    )
    monkeypatch.setenv("HF_ENDPOINT", server.url)
    with pytest.raises(ValueError) as error:
        load("o/n/model.bin")
    assert (
        str(error.value)
        == f"{server.url}/o/n/resolve/main/model.bin is a binary file (of no type llm knows), not text to put in a prompt"
    )


@pytest.mark.parametrize(
    "headers", [{"X-Linked-Size": str(3 * 10**9)}, {"Content-Length": str(3 * 10**9)}]
)  # what the Hub says of a large LFS file; of any file
def test_a_file_over_the_cap_is_refused_with_its_size_before_it_is_read(headers, fake, monkeypatch):
    server = fake({"GET /o/n/resolve/main/w.safetensors": lambda seen: Answer(200, headers, [b"x"])})
    monkeypatch.setenv("HF_ENDPOINT", server.url)
    with pytest.raises(
        llm.ModelError, match=r"^127.0.0.1 has an answer of 3000.0 MB, over the 20 MiB it may be$"
    ):
        load("o/n/w.safetensors")


@pytest.mark.parametrize(
    "answer, said",
    [
        (
            Answer(401, {}, b"Unauthorized"),
            "No model o/n on the Hub (if it is private, give a token that can see it)",
        ),
        (  # a repository the Hub disabled, as huggingface_hub's tests have it: no token helps
            Answer(403, {"X-Error-Message": "Access to this resource is disabled."}, b""),
            "model o/n is disabled on the Hub: none of its files can be read ({hub}/o/n)",
        ),
    ],
)
def test_a_repository_refused_says_why_in_one_line(answer, said, fake, monkeypatch):
    server = fake({"GET /o/n/resolve/main/README.md": lambda seen: answer})
    monkeypatch.setenv("HF_ENDPOINT", server.url)
    with pytest.raises(ValueError) as raised:
        load("o/n")
    assert str(raised.value) == said.format(hub=server.url)


def test_a_token_the_hub_refuses_is_said_to_be_refused_even_for_a_public_repository(fake, monkeypatch):
    words = b'{"error": "Invalid credentials in Authorization header"}'
    server = fake({"GET /o/n/resolve/main/README.md": lambda seen: Answer(401, {}, words)})
    monkeypatch.setenv("HF_ENDPOINT", server.url)
    monkeypatch.setenv("LLM_HF_KEY", "hf_revoked0000")  # the token for a Hub elsewhere
    with pytest.raises(
        ValueError,
        match=r"^The Hub refused the token sent \(Invalid credentials in Authorization header\); "
        r"check it with 'llm hf whoami'$",
    ):
        load("o/n")
    assert server.seen[0].headers["Authorization"] == "Bearer hf_revoked0000"


def test_an_error_without_a_body_says_the_hubs_header():
    error = llm_hf_inference.http_error(
        "https://huggingface.co/api/x", 404, httpx2.Headers({"X-Error-Message": "Sorry \x1b[2J"}), b""
    )
    assert str(error).startswith("huggingface.co answered 404: Sorry  [2J")


def test_text_over_its_cap_is_refused(fake, monkeypatch):
    server = fake({"GET /o/n/resolve/main/big.txt": lambda seen: Answer(200, {}, b"a" * (2**20 + 1))})
    monkeypatch.setenv("HF_ENDPOINT", server.url)
    with pytest.raises(ValueError, match=r"big.txt is 1.0 MB of text, over the 1 MiB a fragment may be"):
        load("o/n/big.txt")


def test_a_redirect_to_another_host_goes_without_the_token(fake, monkeypatch):
    cdn = fake({"GET /blob": lambda seen: Answer(200, {}, b"weights card")})
    hub = fake({"GET /o/n/resolve/main/README.md": lambda seen: Answer(302, {"Location": cdn.url + "/blob"})})
    monkeypatch.setenv("HF_ENDPOINT", hub.url)
    monkeypatch.setenv("LLM_HF_KEY", TEST_TOKEN)
    assert str(load("o/n")) == "weights card"
    assert hub.seen[0].headers["Authorization"] == f"Bearer {TEST_TOKEN}"
    assert "Authorization" not in cdn.seen[0].headers


def test_the_fragment_is_logged_with_its_source(hub, router):
    chat = router({"POST /v1/chat/completions": chat_answer})
    result = invoke("-m", "hf-llama3.1", "-f", "hf:datasets/openai/gsm8k", "What does one row look like?")
    assert result.exit_code == 0, result.output
    listed = invoke("fragments", "--json")
    (fragment,) = json.loads(listed.output)
    assert fragment["source"] == f"{hub.url}/datasets/openai/gsm8k/resolve/main/README.md"
    assert fragment["content"].startswith("---\nlicense: mit")
    assert json.loads(chat.seen[0].body)["messages"][-1]["content"].startswith("---\nlicense: mit")


def test_llm_lists_the_loader():
    assert "hf:\n  Files from the Hugging Face Hub" in invoke("fragments", "loaders").output


def test_the_hubs_timeout_and_no_token_asked_for_a_public_file(hub, sent, monkeypatch):
    def no_token(*args, **kwargs):
        raise llm_hf_inference.NoKey("no token")

    monkeypatch.setattr(llm_hf_inference, "key_for", no_token)
    load("meta-llama/Llama-3.1-8B-Instruct")
    assert "Authorization" not in hub.seen[0].headers
    assert sent[0].timeout == {"connect": 10.0, "read": 5.0, "write": 5.0, "pool": None}


@pytest.mark.parametrize(
    "status, hint",
    [
        (503, "The service is unavailable; try again shortly."),
        (502, "The gateway gave up; try again shortly."),
    ],
)
@pytest.mark.parametrize(
    "argument, path", [("o/n", "/o/n/resolve/main/README.md"), ("papers/2401.10020", None)]
)
def test_a_failing_hub_is_asked_once_and_no_model_is_said_to_load(
    argument, path, status, hint, fake, monkeypatch
):
    path = path or "/papers/2401.10020.md"
    server = fake({f"GET {path}": lambda seen: Answer.json({"error": "busy"}, status)})
    monkeypatch.setenv("HF_ENDPOINT", server.url)
    with pytest.raises(ValueError) as raised:
        load(argument)
    assert (str(raised.value), len(server.seen)) == (f"127.0.0.1 answered {status}: busy — {hint}", 1)


def test_one_prefix_names_the_kind_and_the_rest_is_the_repository():
    file = llm_hf_inference.hub_file("datasets/models/foo")
    assert (file.repo_type, file.repo_id) == ("dataset", "models/foo")


def test_utf16_text_is_text():
    text = "Grüße, 世界\n"
    assert llm_hf_inference.fragment_of(text.encode("utf-16"), "x").__str__() == text


def test_a_bearer_credential_is_masked_but_what_follows_it_stays():
    assert llm_hf_inference.redact("(Authorization: Bearer sk-abc.def) [Bearer xyz], next") == (
        "(Authorization: Bearer ***) [Bearer ***], next"
    )


@pytest.mark.parametrize(
    "page, spec",
    [
        ("https://huggingface.co/Qwen/Qwen3-8B", "Qwen/Qwen3-8B"),
        ("HTTPS://HF.CO/Qwen/Qwen3-8B/blob/main/config.json", "Qwen/Qwen3-8B@main/config.json"),
        ("https://huggingface.co/o/n/tree/v1.0/", "o/n@v1.0"),
        ("http://huggingface.co/o/n/raw/abc123/src/a%20b.py?download=true#L3", "o/n@abc123/src/a b.py"),
        (
            "https://huggingface.co/datasets/o/n/resolve/refs%2Fpr%2F3/README.md",
            "datasets/o/n@refs/pr/3/README.md",
        ),
        ("https://huggingface.co/spaces/o/n/", "spaces/o/n"),
        ("https://huggingface.co/gpt2/blob/main/config.json", "gpt2@main/config.json"),
        ("https://hf.co/papers/2401.10020", "papers/2401.10020"),
    ],
)
def test_a_page_pasted_from_a_browser_is_its_file(page, spec, monkeypatch):
    monkeypatch.delenv("HF_ENDPOINT", raising=False)
    assert llm_hf_inference.spec_of_page(page) == spec


@pytest.mark.parametrize(
    "page",
    [
        "https://huggingface.co/o/n/tree/main/src",  # a folder
        "https://huggingface.co/datasets/o/n/viewer",
        "https://huggingface.co/o/n/discussions/3",
        "https://huggingface.co/datasets/o/n/blob/refs%2Fconvert%2Fparquet/x.parquet",
        "https://huggingface.co.evil.example/o/n",
        "https://o-n.hf.space/",
        "https://github.com/o/n",
        "https://huggingface.co/",
    ],
)
def test_a_page_of_no_file_is_refused_in_words(page, monkeypatch):
    monkeypatch.delenv("HF_ENDPOINT", raising=False)
    with pytest.raises(ValueError) as raised:
        load(page)
    assert str(raised.value) == (
        f"'{page}' is not the page of a file, a repository or a paper on huggingface.co: "
        "hf:https://huggingface.co/owner/name/blob/main/config.json, hf:owner/name"
    )


def test_a_page_without_its_scheme_is_a_page_too(monkeypatch):
    monkeypatch.delenv("HF_ENDPOINT", raising=False)
    with pytest.raises(ValueError, match="^'https://HF.co/o/n/tree/main/src' is not the page of a file"):
        load("HF.co/o/n/tree/main/src")


def test_a_pasted_page_is_fetched_from_the_hub_with_its_token(hub):
    fragment = load(f"{hub.url}/meta-llama/Llama-3.1-8B-Instruct/blob/main/README.md")
    assert str(fragment) == recorded("hub-files", 0).body.decode()
    assert hub.paths() == [f"{LLAMA}/README.md"]
    assert hub.seen[0].headers["Authorization"] == f"Bearer {TEST_TOKEN}"
    assert str(load(f"{hub.url}/papers/2401.10020")).startswith("Title: Self-Rewarding Language Models\n")


def test_a_hub_elsewhere_takes_its_own_pages_not_huggingface_cos(hub):
    with pytest.raises(ValueError, match="is not the page of .* on 127.0.0.1: "):
        load("https://hf.co/o/n")
    assert hub.seen == []
