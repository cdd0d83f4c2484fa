"""Options in their exact places, validation, every error shape, and the token lookup."""

import llm
import pytest

from conftest import TEST_TOKEN
from helpers import POSIX, QUESTION, SYNC_ASYNC, invoke, run

SYSTEM = "You are a helpful assistant."
MESSAGES = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": QUESTION}]


@pytest.mark.vcr
@pytest.mark.cassette("all-options")
def test_every_option_lands_in_its_place(sent, played):
    result = invoke(
        "-m",
        "hf-llama3.1",
        "-s",
        SYSTEM,
        QUESTION,
        "-o",
        "temperature",
        "0",
        "-o",
        "top_p",
        "0.5",
        "-o",
        "frequency_penalty",
        "-2",
        "-o",
        "presence_penalty",
        "2",
        "-o",
        "stop",
        '["Observation", "Final Answer"]',
        "-o",
        "seed",
        "0",
        "-o",
        "max_tokens",
        "20",
        "-o",
        "logprobs",
        "0",
        "-o",
        "provider",
        "together",
        "-o",
        "use_cache",
        "0",
        "-o",
        "wait_for_model",
        "1",
        "-o",
        "bill_to",
        "acme",
        "-o",
        "timeout",
        "7.5",
    )
    assert result.exit_code == 0, result.output
    [request] = sent
    assert request.body == {
        "model": "meta-llama/Llama-3.1-8B-Instruct:together",
        "messages": MESSAGES,
        "temperature": 0.0,
        "top_p": 0.5,
        "frequency_penalty": -2.0,
        "presence_penalty": 2.0,
        "stop": ["Observation", "Final Answer"],
        "seed": 0,
        "max_tokens": 20,
        "logprobs": False,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    assert request.headers["x-use-cache"] == "false"
    assert request.headers["x-wait-for-model"] == "true"
    assert request.headers["x-hf-bill-to"] == "acme"
    assert request.timeout == {"connect": 10.0, "read": 7.5, "write": 7.5, "pool": None}


@pytest.mark.vcr
@pytest.mark.cassette("no-stream-2025-together")
def test_unset_options_and_headers_stay_out(sent, played):
    run("hf-llama3.1", QUESTION, system=SYSTEM, stream=False)
    [request] = sent
    assert request.body == {
        "model": "meta-llama/Llama-3.1-8B-Instruct",
        "messages": MESSAGES,
        "stream": False,
    }
    unset = {"x-use-cache", "x-wait-for-model", "x-hf-bill-to", "x-scale-up-timeout"}
    assert not unset & set(request.headers)
    assert request.timeout == {"connect": 10.0, "read": 120.0, "write": 120.0, "pool": None}


@pytest.mark.vcr
@pytest.mark.cassette("no-stream-2025-together")
def test_hf_bill_to_is_the_default_organisation(monkeypatch, sent, played):
    monkeypatch.setenv("HF_BILL_TO", "acme")
    run("hf-llama3.1", QUESTION, system=SYSTEM, stream=False)
    assert sent[0].headers["x-hf-bill-to"] == "acme"


def test_a_single_stop_string_is_sent_as_a_list():
    assert llm.get_model("hf-llama3.1").Options(stop="END").stop == ["END"]


@pytest.mark.parametrize("effort", ["none", "minimal", "xhigh", "max"])
def test_reasoning_effort_takes_the_words_providers_take(effort):
    # Hugging Face's spec: "none, minimal, low, medium, high, xhigh"; which ones is the provider's and model's
    assert llm.get_model("hf-llama3.1").Options(reasoning_effort=effort).reasoning_effort == effort


@pytest.mark.parametrize(
    "option, value, message",
    [
        ("temperature", "2.5", "Input should be less than or equal to 2"),
        ("temperature", "nan", "Input should be a finite number"),
        ("top_p", "-0.1", "Input should be greater than or equal to 0"),
        ("frequency_penalty", "3", "Input should be less than or equal to 2"),
        ("presence_penalty", "-3", "Input should be greater than or equal to -2"),
        ("stop", '["a", "b", "c", "d", "e"]', "List should have at most 4 items after validation, not 5"),
        ("stop", "[1, 2", "a string, or a JSON list of strings"),
        ("stop", "[1, 2]", "a string that is not empty, or a JSON list of such strings"),
        ("stop", "", "a string that is not empty, or a JSON list of such strings"),
        ("stop", '["END", ""]', "a string that is not empty, or a JSON list of such strings"),
        ("top_logprobs", "3", "needs -o logprobs 1"),
        (
            "provider",
            "Novita",
            "a lower-case provider name (together, cerebras, ...) or fastest, cheapest, preferred",
        ),
        (
            "provider",
            "not a provider!",
            "a lower-case provider name (together, cerebras, ...) or fastest, cheapest, preferred",
        ),
        ("max_tokens", "0", "Input should be greater than or equal to 1"),
        ("timeout", "0", "Input should be greater than 0"),
        ("timeout", "1e308", "Input should be less than or equal to 86400"),
        ("timeout", "inf", "Input should be a finite number"),
        ("timeout", "nan", "Input should be a finite number"),
        ("reasoning_effort", "very high", "a word, such as none, low, medium or high"),
        ("regex", "", "String should have at least 1 character"),  # an empty answer alone would match
        ("bill_to", "héllo", "an organisation's name on the Hub (letters, digits, '-', '_', '.')"),
        ("bill_to", "my org", "an organisation's name on the Hub (letters, digits, '-', '_', '.')"),
    ],
)
def test_invalid_options_fail_before_any_request(option, value, message, sent):
    result = invoke("-m", "hf-llama3.1", "-o", option, value, "hi")
    assert result.exit_code == 1
    assert result.output == f"Error: {option}\n  {message}\n"
    assert sent == []


@pytest.mark.parametrize("command", [["-m", "hf-llama3.1", "hi"], ["embed", "-m", "hf-minilm", "-c", "hi"]])
def test_an_hf_bill_to_a_header_cannot_carry_is_one_line_naming_it(command, monkeypatch, sent):
    monkeypatch.setenv("HF_BILL_TO", "société")
    result = invoke(*command)
    assert (result.exit_code, result.output) == (
        1,
        "Error: HF_BILL_TO must be an organisation's name on the Hub (letters, digits, '-', '_', '.')\n",
    )
    assert sent == []


def test_regex_with_json_object_names_the_option(sent):
    result = invoke("-m", "hf-llama3.1", "-o", "json_object", "1", "-o", "regex", "a+", "hi")
    assert result.output == "Error: regex\n  cannot be used together with json_object\n"


@pytest.mark.parametrize(
    "args, message",
    [
        (["-o", "tool_choice", "auto"], "-o tool_choice needs tools: give them with -T or --functions"),
        (
            ["-T", "llm_time", "-o", "tool_choice", "foo"],
            "-o tool_choice: no tool is named 'foo'; the tools are: llm_time",
        ),
        (
            ["--schema", "name, age int", "-o", "regex", "a+"],
            "-o regex and --schema cannot be used together: choose one",
        ),
        (["-o", "grammar", "tgi"], "-o grammar tgi is the form --schema is sent in: give a --schema too"),
    ],
)
def test_options_that_cannot_work_fail_before_any_request(args, message, sent):
    result = invoke("-m", "hf-llama3.1", *args, "hi")
    assert (result.exit_code, result.output) == (1, f"Error: {message}\n")
    assert sent == []


def test_a_provider_for_a_base_url_model_fails_before_any_request(sent):
    invoke("hf", "add", "tgi", "--base-url", "http://localhost:8080/v1")
    result = invoke("-m", "hf/tgi", "-o", "provider", "together", "hi")
    assert (result.exit_code, result.output) == (
        1,
        "Error: -o provider is for router models; tgi is served by http://localhost:8080/v1\n",
    )
    assert sent == []


# cassette: the exact message the user sees
ERRORS = {
    "error-401": "router.huggingface.co answered 401: Invalid username or password. — Check your Hugging Face token "
    "(it needs the 'Make calls to Inference Providers' permission: 'llm hf whoami' says if it has it): 'llm keys set huggingface', HF_TOKEN, or 'hf auth login'.",
    "error-403": "router.huggingface.co answered 403: This authentication method does not have sufficient permissions "
    "to call Inference Providers on behalf of user alice — Check your Hugging Face token (it needs the 'Make calls to "
    "Inference Providers' permission: 'llm hf whoami' says if it has it): 'llm keys set huggingface', HF_TOKEN, or "
    "'hf auth login'.",
    "error-402": "router.huggingface.co answered 402: You have depleted your monthly included credits. Purchase pre-paid "
    "credits to continue using Inference Providers. Alternatively, subscribe to PRO to get 20x more included usage. — "
    "Your Inference Providers credits are used up: see https://huggingface.co/settings/billing",
    "error-422-plain-text": "router.huggingface.co answered 422: Failed to deserialize the JSON body into the target type: "
    "messages: invalid type: string \"please output 'Observation'\", expected a sequence at line 1 column 58",
    "error-422-tgi": "router.huggingface.co answered 422: Input validation error: `temperature` must be strictly positive",
    "error-429": "together answered 429: Rate limit reached. Please wait or upgrade to PRO. — Rate limited: wait a little and try again.",
    "error-503-loading": "router.huggingface.co answered 503: Model meta-llama/Llama-3.1-8B-Instruct is currently loading "
    "— The model is loading; try again in about 577 seconds.",
    "error-504-html": "router.huggingface.co answered 504: 504 Gateway Time-out — The gateway gave up waiting for the "
    "model; try again, or choose another provider.",
}


@SYNC_ASYNC
@pytest.mark.parametrize("cassette", list(ERRORS))
@pytest.mark.vcr
@pytest.mark.cassette("{cassette}")
def test_http_errors_say_what_happened(cassette, use_async, played):
    with pytest.raises(llm.ModelError) as raised:
        run("hf-llama3.1", QUESTION, system=SYSTEM, stream=False, use_async=use_async, retries=0)
    assert str(raised.value) == ERRORS[cassette]
    assert TEST_TOKEN not in str(raised.value)


@pytest.mark.vcr
@pytest.mark.cassette("error-400-not-supported")
def test_model_not_supported_suggests_another_provider(played):
    result = invoke("-m", "hf-llama3.1", "--no-stream", "-s", SYSTEM, "-o", "provider", "cerebras", QUESTION)
    assert result.exit_code == 1
    assert result.output == (
        "Error: router.huggingface.co answered 400: The requested model 'meta-llama/Llama-3.1-8B-Instruct' is not "
        "supported by any provider you have enabled. — Choose another provider with -o provider NAME, or another model; "
        "the router asks only the providers enabled at https://huggingface.co/settings/inference-providers.\n"
    )


@pytest.mark.vcr
@pytest.mark.cassette("error-401")
def test_unauthorised_with_bill_to_names_the_organisation(played):
    result = invoke("-m", "hf-llama3.1", "--no-stream", "-s", SYSTEM, "-o", "bill_to", "acme", QUESTION)
    assert result.output == (
        "Error: router.huggingface.co answered 401: Invalid username or password. — The token may lack the right "
        "to bill the organisation 'acme'; check -o bill_to / HF_BILL_TO.\n"
    )


@pytest.mark.vcr
@pytest.mark.cassette("error-402")
def test_credits_used_up_while_billing_an_organisation_names_it(played):
    result = invoke("-m", "hf-llama3.1", "--no-stream", "-s", SYSTEM, "-o", "bill_to", "acme", QUESTION)
    assert result.output.endswith(
        " — The organisation 'acme' is billed (-o bill_to, HF_BILL_TO): see its billing on the Hub.\n"
    )


@pytest.mark.parametrize(
    "cassette, message",
    [
        (
            "error-mid-stream-tgi",
            "router.huggingface.co reported an error: Request failed during generation: Server error: CUDA out of memory",
        ),
        (
            "error-mid-stream-router",
            "together reported an error: Input validation error: inputs tokens + max_new_tokens must be <= 4096",
        ),
        (
            "truncated-stream",
            "The response from cerebras ended early, before the model finished; what was shown is incomplete.",
        ),
    ],
)
@pytest.mark.vcr
@pytest.mark.cassette("{cassette}")
def test_broken_streams_raise_after_the_text_already_shown(cassette, message, played):
    response = llm.get_model("hf-llama3.1").prompt(QUESTION, system=SYSTEM, max_tokens=20)
    shown = []
    with pytest.raises(llm.ModelError) as raised:
        for chunk in response:
            shown.append(chunk)
    assert "".join(shown) == "Deep learning"
    assert str(raised.value) == message


@pytest.mark.vcr
@pytest.mark.cassette("error-mid-stream-router")
def test_cli_shows_errors_without_a_traceback(played):
    result = invoke("-m", "hf-llama3.1", "-s", SYSTEM, "-o", "max_tokens", "20", QUESTION)
    assert result.exit_code == 1
    assert result.output == (
        "Deep learningError: together reported an error: Input validation error: "
        "inputs tokens + max_new_tokens must be <= 4096\n"
    )
    assert "Traceback" not in result.output


@POSIX
@pytest.mark.block_network(allowed_hosts=["127.0.0.1"])
def test_connection_failures_name_the_host(monkeypatch):
    monkeypatch.setenv("LLM_HF_BASE_URL", "http://127.0.0.1:9/v1")
    with pytest.raises(llm.ModelError, match=r"^Could not connect to 127\.0\.0\.1: Connection refused$"):
        run("hf-llama3.1", "hi", retries=0)


@pytest.mark.parametrize(
    "options, said",
    [
        ({"temperature": -0.1}, "greater than or equal to 0"),
        ({"temperature": 2.1}, "less than or equal to 2"),
        ({"presence_penalty": 2.1}, "less than or equal to 2"),
        ({"presence_penalty": -2.1}, "greater than or equal to -2"),
        ({"frequency_penalty": 2.1}, "less than or equal to 2"),
    ],
)
def test_sampling_options_out_of_their_range_are_refused(options, said):
    import pydantic

    with pytest.raises(pydantic.ValidationError, match=said):
        llm.get_model("hf-llama3.1").Options(**options)
    for edge in ({"temperature": 0}, {"temperature": 2}, {"presence_penalty": 2}, {"presence_penalty": -2}):
        llm.get_model("hf-llama3.1").Options(**edge)  # the bounds themselves are taken
