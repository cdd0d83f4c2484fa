"""Reading the wire: tolerant where the answer is clear, bounded where it is not."""

import json

import llm
import pytest

import llm_hf_inference
from fakeserver import Answer, chat_answer
from helpers import LOCAL, QUESTION, SYNC_ASYNC, SYSTEM, TOGETHER_TEXT, invoke, reader, run

# -- the wire, read as tolerantly as llm's OpenAI client reads it


def read(answer, *reads):
    events = [e for data in reads for e in answer.feed(data)]
    return events + list(answer.finish())


def test_a_null_error_and_null_logprobs_are_no_error():
    answer = reader(logprobs=True)
    events = read(
        answer,
        b'data: {"error": null, "choices": [{"delta": {"content": "Hi"}, "logprobs": {"content": null}}]}\n\n'
        b'data: {"choices": [{"delta": {}, "finish_reason": "stop"}]}\n\n',
    )
    assert events == ["Hi"]
    assert answer.response.response_json["logprobs"] == []


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/octet-stream", "application/json"])
def test_a_stream_without_its_content_type_is_still_a_stream(content_type):
    """A proxy may label a stream as anything, JSON too (no JSON begins as an event does)."""
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


@pytest.mark.parametrize("content_type", [None, "application/json"])
def test_a_json_answer_to_a_stream_is_read_whole_over_several_reads(content_type):
    answer = reader(content_type)
    body = b'{"choices": [{"message": {"content": "Hi"}, "finish_reason": "stop"}]}'
    assert read(answer, body[:3], body[3:20], body[20:]) == ["Hi"]


def test_a_json_answer_to_a_stream_stops_at_the_cap(monkeypatch):
    monkeypatch.setitem(llm_hf_inference.TASKS, "chat", llm_hf_inference.TASKS["chat"]._replace(cap=2**20))
    answer = reader("application/json")
    with pytest.raises(llm.ModelError) as raised:
        read(answer, b'{"choices": [' + b" " * 2**19, b" " * 2**19, b"]}")
    assert str(raised.value) == "router.huggingface.co sent an answer of over 1 MiB; stopped reading it"
    assert answer.size == 2**20 + 13  # stopped at the read past the cap, before the last


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


@LOCAL
@pytest.mark.parametrize("named", ["together, novita", "\xc2\x9b2J"])  # a list; CSI, a C1 control, in UTF-8
def test_a_provider_header_that_is_no_providers_name_is_not_taken_for_one(named, fake, monkeypatch):
    def answer(seen):
        recorded = chat_answer()
        return Answer(recorded.status, {**recorded.headers, "x-inference-provider": named}, recorded.body)

    server = fake({"POST /v1/chat/completions": answer})
    monkeypatch.setenv("LLM_HF_BASE_URL", server.url + "/v1")
    outcome = run("hf-llama3.1", QUESTION)
    assert outcome.usage.details is None and "provider" not in outcome.response_json
    server.routes["POST /v1/chat/completions"] = lambda seen: Answer(400, {"x-inference-provider": named})
    with pytest.raises(llm.ModelError, match="^127.0.0.1 answered 400"):
        run("hf-llama3.1", QUESTION)


# -- error bodies of every shape, in words


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
        # the Hub's lists, as huggingface_hub reads them
        ({"error": ["bad", "worse"]}, "bad; worse"),
        ({"errors": [{"message": "e1"}, {"message": "e2"}]}, "e1; e2"),
        ({"error": "first", "errors": [{"message": "then"}]}, "first"),
        ({"errors": [3, {"code": 7}]}, '3; {"code": 7}'),
        ({"error": []}, '{"error": []}'),
        ({"error_description": "only why"}, "only why"),
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


@SYNC_ASYNC
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


# -- the SSE decoder: bounded and linear


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


# -- usage and logprobs


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
