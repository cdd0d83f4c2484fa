"""Core: streaming and not, sync and async, every dialect, conversations, attachments, CLI."""

import asyncio

import llm
import pytest

import llm_hf_inference
from conftest import TEST_TOKEN
from helpers import QUESTION, SYNC_ASYNC, body_of, invoke, logged_turns, run

SYSTEM = "You are a helpful assistant."
MESSAGES = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": QUESTION}]

# case: text, input tokens, output tokens, model that answered, id, provider
STREAMED = {
    "2024-hf-inference": (
        "Deep learning is a subfield of machine learning that is based on artificial neural networks with multiple layers to",
        None,
        None,
        "HuggingFaceH4/zephyr-7b-beta",
        "",
        None,
    ),
    "2025-cerebras": (
        "Deep learning is a subset of machine learning, which is a field of artificial intelligence (AI) that",
        46,
        20,
        "llama-3.3-70b",
        "chatcmpl-deed8a97-8f08-4f41-bdba-d6b9015b1090",
        "cerebras",
    ),
    "2025-hf-inference": (
        "Deep learning is a subset of machine learning that involves the use of artificial neural networks (ANNs)",
        None,
        None,
        "meta-llama/Llama-3.1-8B-Instruct",
        "",
        "hf-inference",
    ),
    "2025-novita": (
        "Deep learning is a subfield of machine learning that focuses on the development of artificial neural networks with multiple",
        46,
        20,
        "meta-llama/llama-3.1-8b-instruct",
        "chatcmpl-af6e9802f1554a49be4dd42048b91565",
        "novita",
    ),
    "2025-together": (
        "Deep learning is a subfield of machine learning that involves the use of artificial neural networks to model and",
        26,
        20,
        "meta-llama/Meta-Llama-3-8B-Instruct-Turbo",
        "91158e6ad8a0ef60",
        "together",
    ),
}


@SYNC_ASYNC
@pytest.mark.parametrize("case", list(STREAMED))
@pytest.mark.vcr
@pytest.mark.cassette("stream-{case}")
def test_stream_every_dialect(case, use_async, sent, played):
    text, input_tokens, output_tokens, model, response_id, provider = STREAMED[case]
    out = run("hf-llama3.1", QUESTION, system=SYSTEM, max_tokens=20, use_async=use_async)
    assert out.text == text
    assert (out.usage.input, out.usage.output) == (input_tokens, output_tokens)
    assert out.resolved_model == model
    expected_json = {"id": response_id, "model": model, "finish_reason": "length"}
    if input_tokens is not None:
        expected_json["usage"] = {
            "prompt_tokens": input_tokens,
            "completion_tokens": 20,
            "total_tokens": input_tokens + 20,
        }
        if case == "2025-novita":
            expected_json["usage"].update(prompt_tokens_details=None, completion_tokens_details=None)
    if provider:
        expected_json["provider"] = provider
    assert out.response_json == expected_json
    [request] = sent
    assert request.url == "https://router.huggingface.co/v1/chat/completions"
    assert request.body == {
        "model": "meta-llama/Llama-3.1-8B-Instruct",
        "messages": MESSAGES,
        "max_tokens": 20,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    assert request.headers["authorization"] == f"Bearer {TEST_TOKEN}"
    assert request.headers["accept"] == "text/event-stream"


# case: start, end, length, input tokens, output tokens, model
NOT_STREAMED = {
    "2024-hf-inference": (
        "Deep learning is a subfield",
        "neural networks with multiple layers of",
        123,
        47,
        20,
        "HuggingFaceH4/zephyr-7b-beta",
    ),
    "2025-cerebras": (
        "**Deep Learning: An Overview**\\n====",
        "to analyze and interpret data.",
        196,
        46,
        637,
        "llama-3.3-70b",
    ),
    "2025-hf-inference": (
        "Deep learning is a subfield of artificial",
        "multiple layers of complex components.",
        3141,
        46,
        579,
        "meta-llama/Llama-3.1-8B-Instruct",
    ),
    "2025-novita": (
        "Deep learning is a subset of machine",
        "rapidly expanding across many fields.",
        3071,
        46,
        584,
        "meta-llama/llama-3.1-8b-instruct",
    ),
    "2025-together": (
        "Deep learning is a subfield of machine",
        "natural language processing, and robotics.",
        3441,
        26,
        597,
        "meta-llama/Meta-Llama-3-8B-Instruct-Turbo",
    ),
}


@SYNC_ASYNC
@pytest.mark.parametrize("case", list(NOT_STREAMED))
@pytest.mark.vcr
@pytest.mark.cassette("no-stream-{case}")
def test_no_stream_every_dialect(case, use_async, sent, played):
    start, end, length, input_tokens, output_tokens, model = NOT_STREAMED[case]
    out = run("hf-llama3.1", QUESTION, system=SYSTEM, stream=False, use_async=use_async)
    assert out.text.startswith(start) and out.text.endswith(end) and len(out.text) == length
    assert (out.usage.input, out.usage.output) == (input_tokens, output_tokens)
    assert out.resolved_model == model
    assert out.response_json["finish_reason"] == ("length" if case.startswith("2024") else "stop")
    assert out.response_json["usage"]["completion_tokens"] == output_tokens
    assert [e.type for e in out.events] == ["text"]
    assert sent[0].body == {
        "model": "meta-llama/Llama-3.1-8B-Instruct",
        "messages": MESSAGES,
        "stream": False,
    }
    assert sent[0].headers["accept"] == "application/json"


@pytest.mark.vcr
@pytest.mark.cassette("conversation")
def test_cli_conversation_sends_the_history(sent, played):
    first = invoke("-m", "hf-llama3.1", "-s", SYSTEM, "-o", "max_tokens", "20", QUESTION)
    assert first.exit_code == 0, first.output
    assert first.output == STREAMED["2025-hf-inference"][0] + "\n"
    second = invoke("-c", "-o", "max_tokens", "20", "Say it shorter.")
    assert second.exit_code == 0, second.output
    assert second.output == STREAMED["2025-together"][0] + "\n"
    assert sent[1].body["model"] == "meta-llama/Llama-3.1-8B-Instruct:hf-inference"  # who answered turn 1
    assert sent[1].body["messages"] == MESSAGES + [
        {"role": "assistant", "content": STREAMED["2025-hf-inference"][0]},
        {"role": "user", "content": "Say it shorter."},
    ]
    rows = logged_turns()
    assert [row["model"] for row in rows] == ["hf/meta-llama/Llama-3.1-8B-Instruct"] * 2
    assert rows[0]["thread_id"] == rows[1]["thread_id"]
    assert rows[1]["resolved_model"] == "meta-llama/Meta-Llama-3-8B-Instruct-Turbo"
    assert (rows[1]["input_tokens"], rows[1]["output_tokens"]) == (26, 20)
    assert body_of(rows[1])["provider"] == "together"


@pytest.mark.vcr
@pytest.mark.cassette("stream-2025-novita")
def test_cli_streams_and_logs_without_the_token(played):
    result = invoke(
        "-m", "hf/meta-llama/Llama-3.1-8B-Instruct", "-s", SYSTEM, "-o", "max_tokens", "20", QUESTION, "-u"
    )
    assert result.exit_code == 0
    assert result.stdout == STREAMED["2025-novita"][0] + "\n"
    assert result.stderr == 'Token usage: 46 input, 20 output, {"provider": "novita"}\n'
    [row] = logged_turns()
    assert invoke("logs", "-r").output == STREAMED["2025-novita"][0] + "\n"
    dump = (llm.user_dir() / "logs.db").read_bytes()
    assert TEST_TOKEN.encode() not in dump


@pytest.mark.vcr
@pytest.mark.cassette("stream-2025-together")
def test_async_cli(played):
    result = invoke("-m", "hf-llama3.1", "--async", "-s", SYSTEM, "-o", "max_tokens", "20", QUESTION)
    assert result.exit_code == 0
    assert result.output == STREAMED["2025-together"][0] + "\n"


@pytest.mark.vcr(allow_playback_repeats=True)
@pytest.mark.cassette("stream-2025-cerebras")
def test_async_client_survives_a_second_event_loop(sent):
    model = llm.get_async_model("hf-llama3.1")

    async def ask():
        return await model.prompt(QUESTION, system=SYSTEM, max_tokens=20).text()

    assert asyncio.run(ask()) == asyncio.run(ask()) == asyncio.run(ask()) == STREAMED["2025-cerebras"][0]
    assert len(sent) == 3
    # one client per live loop: those of closed loops (which their connections keep alive) are let go
    assert len(llm_hf_inference._async_clients) == 1


@pytest.mark.vcr
@pytest.mark.cassette("image-url")
def test_image_attachment_by_url(sent, played):
    result = invoke(
        "-m",
        "hf/google/gemma-4-31B-it",
        "--no-stream",
        "--at",
        "https://example.com/cat.png",
        "image/png",
        "What is in this picture?",
    )
    assert result.exit_code == 0, result.output
    assert result.output.startswith("Deep learning is a subset of machine learning")
    assert sent[0].body["messages"] == [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What is in this picture?"},
                {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}},
            ],
        }
    ]


@pytest.mark.vcr
@pytest.mark.cassette("image-file")
def test_image_attachment_from_a_file(tmp_path, sent, played):
    image = tmp_path / "cat.png"
    image.write_bytes(b"\x89PNG\r\n\x1a\n")
    result = invoke(
        "-m", "hf/google/gemma-4-31B-it", "--no-stream", "-a", str(image), "What is in this picture?"
    )
    assert result.exit_code == 0, result.output
    assert sent[0].body["messages"][0]["content"][1] == {
        "type": "image_url",
        "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="},
    }


def test_models_without_vision_refuse_images():
    result = invoke("-m", "hf-llama3.1", "--at", "https://example.com/cat.png", "image/png", "hi")
    assert result.exit_code == 1
    assert "This model does not support attachments" in result.output


def test_registered_models_and_aliases():
    model = llm.get_model("hf-llama3.1")
    assert model.model_id == "hf/meta-llama/Llama-3.1-8B-Instruct"
    assert isinstance(model, llm.KeyModel)
    assert isinstance(llm.get_async_model("hf-llama3.1"), llm.AsyncKeyModel)
    assert str(model) == "Hugging Face: hf/meta-llama/Llama-3.1-8B-Instruct"
    ids = {m.model_id for m in llm.get_models()}
    assert {
        "hf/deepseek-ai/DeepSeek-V4-Pro",
        "hf/moonshotai/Kimi-K3",
        "hf/deepseek-ai/DeepSeek-R1",
        "hf/openai/gpt-oss-120b",
    } <= ids


def test_models_options_lists_every_option_with_its_description():
    result = invoke("models", "--options", "-m", "hf-llama3.1")
    assert result.exit_code == 0
    for option, description in {
        "temperature: float": "Sampling temperature, 0-2",
        "top_p: float": "Nucleus sampling",
        "frequency_penalty: float": "how often they appeared",
        "presence_penalty: float": "appeared at all",
        "stop: array": "JSON list of up to 4",
        "seed: int": "Random seed",
        "max_tokens: int": "Most tokens to generate",
        "logprobs: boolean": "log probability",
        "top_logprobs: int": "most likely tokens",
        "provider: str": "fastest, cheapest, preferred",
        "use_cache: boolean": "x-use-cache",
        "wait_for_model: boolean": "x-wait-for- model header",
        "bill_to: str": "X-HF-Bill-To",
        "timeout: float": "Seconds to wait",
    }.items():
        output = " ".join(result.output.split())  # undo the line wrapping
        position = output.index(option)
        assert description in output[position : position + 250], option


class Neighbour:
    """Another Hugging Face plugin (llm-huggingface-plugin): it registers one of our model ids."""

    class Chat(llm.Model):
        model_id = "hf/meta-llama/Llama-3.1-8B-Instruct"

        def execute(self, prompt, stream, response, conversation):
            yield "theirs"

    @llm.hookimpl
    def register_models(self, register):
        register(self.Chat())


def test_another_plugin_holding_our_model_ids_is_said_once():
    from llm.plugins import pm

    plugin = Neighbour()
    pm.register(plugin, name="neighbour")  # called before ours: pluggy calls the last registered first
    try:
        result = invoke("models")
        assert isinstance(llm.get_model("hf-llama3.1"), llm_hf_inference.HFChat)
    finally:
        pm.unregister(plugin)
    assert result.exit_code == 0
    assert result.stderr == (
        "llm-hf-inference: another plugin also registers 1 of this plugin's model ids (such as "
        "hf/meta-llama/Llama-3.1-8B-Instruct); llm uses llm-hf-inference's for them\n"
    )


def test_another_plugins_llm_hf_is_kept_and_ours_is_llm_hf_inference(capsys):
    """llm-hf has an 'llm hf' group too: when it was there first, ours goes beside it, said once."""
    import click

    cli = click.Group()

    @cli.group(name="hf")
    def theirs():
        "Their hf commands"

    llm_hf_inference.register_commands(cli)
    llm_hf_inference.register_commands(cli)
    assert cli.commands["hf"] is theirs
    assert cli.commands["hf-inference"] is llm_hf_inference.hf_commands
    assert capsys.readouterr().err == (
        "llm-hf-inference: 'llm hf' belongs to test_chat, another plugin; this plugin's commands are "
        "'llm hf-inference'\n"
    )
