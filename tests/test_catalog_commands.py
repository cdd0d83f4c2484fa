"""The model catalog, provider routing, the token-host rule and the `llm hf` commands."""

import json

import llm
import pytest

import llm_hf_inference
from conftest import TEST_TOKEN
from helpers import invoke, run

QUESTION = "What is deep learning?"
SYSTEM = "You are a helpful assistant."


def hf_models():
    return {m.model_id: m for m in llm.get_models() if m.model_id.startswith("hf/")}


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
        "4 models. Added: Qwen/Qwen2.5-VL-7B-Instruct, deepseek-ai/DeepSeek-V4-Pro, "
        "meta-llama/Llama-3.1-8B-Instruct, someone/Minimal-Chat. Removed: none.\n"
        "4 embedding models. Added: BAAI/bge-m3, facebook/bart-base, intfloat/multilingual-e5-large-instruct, "
        "sentence-transformers/all-MiniLM-L6-v2. Removed: none.\n"
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
        "3 models. Added: someone/Newer-Chat. Removed: deepseek-ai/DeepSeek-V4-Pro, someone/Minimal-Chat.\n"
        "3 embedding models. Added: none. Removed: facebook/bart-base.\n"
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
    result = invoke("models")
    assert result.exit_code == 0
    assert len(hf_models()) == len(llm_hf_inference.BUILTIN_MODELS)
    warnings = [
        line
        for line in result.stderr.splitlines() + capsys.readouterr().err.splitlines()
        if "llm-hf-inference" in line
    ]
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
def test_an_unknown_provider_fails_before_any_request(sent, catalog):
    result = invoke("-m", "hf-llama3.1", "-o", "provider", "groq", "hi")
    assert result.exit_code == 1
    assert result.output == (
        "Error: 'groq' does not serve meta-llama/Llama-3.1-8B-Instruct; its providers are: cerebras, novita, "
        "together (or a policy: fastest, cheapest, preferred)\n"
    )
    assert [s.body for s in sent] == [None] * 4  # the refresh alone (catalog, Hub search): no prompt


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
    assert result.output == f"Added hf/tgi (alias mine): {ENDPOINT}, with the Hugging Face token.\n"
    run("mine", QUESTION, stream=False)
    assert sent[1].headers["authorization"] == f"Bearer {TEST_TOKEN}"
    assert llm.get_model("mine").attachment_types


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


def test_add_and_remove_round_trip():
    invoke("hf", "add", "org/private-model", "--base-url", "http://10.0.0.5:8000/v1", "--tools", "--schemas")
    model = llm.get_model("hf/org/private-model")
    assert (model.supports_tools, model.supports_schema, model.attachment_types) == (True, True, frozenset())
    assert invoke("hf", "remove", "hf/org/private-model").output == "Removed hf/org/private-model.\n"
    assert "hf/org/private-model" not in hf_models()
    result = invoke("hf", "remove", "org/private-model")
    assert result.exit_code == 1 and "was not added" in result.output


# -- whoami


@pytest.mark.vcr
@pytest.mark.cassette("whoami")
def test_whoami(monkeypatch, sent, played):
    monkeypatch.setenv("HF_BILL_TO", "acme")
    result = invoke("hf", "whoami")
    assert (
        result.output
        == "alice (Alice Example)\nOrganisations: acme, hf-fans\nToken: laptop (role: fineGrained)\n"
    )
    assert sent[0].headers["authorization"] == f"Bearer {TEST_TOKEN}"
    assert "x-hf-bill-to" not in sent[0].headers
    assert TEST_TOKEN not in result.output


@pytest.mark.vcr
@pytest.mark.cassette("whoami-401")
def test_whoami_with_a_bad_token(played):
    result = invoke("hf", "whoami")
    assert result.exit_code == 1
    assert result.output.startswith(
        "Error: huggingface.co answered 401: Invalid credentials in Authorization header"
    )
    assert TEST_TOKEN not in result.output
