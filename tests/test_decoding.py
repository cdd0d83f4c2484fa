"""The SSE decoder and the answer reader, fed by hand and fuzzed."""

import contextlib
import json
import pathlib

import httpx2
import llm
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from llm.parts import StreamEvent

from helpers import reader
from llm_hf_inference import SSEDecoder

RECORDINGS = pathlib.Path(__file__).resolve().parent.parent / "cassettes"


def decode(*reads):
    decoder = SSEDecoder()
    return [event for read in reads for event in decoder.feed(read)]


def test_data_with_and_without_a_space():
    assert decode(b"data: a\n\ndata:b\n\ndata:  c\n\n") == [b"a", b"b", b" c"]


def test_multi_line_data_joins_with_newlines():
    assert decode(b"data: one\ndata: two\ndata\n\n") == [b"one\ntwo\n"]


def test_comments_other_fields_and_blank_runs_are_ignored():
    assert decode(b": ping\n\nevent: message\nid: 7\nretry: 10\ndata: x\n\n\n\n") == [b"x"]


@pytest.mark.parametrize("newline", [b"\n", b"\r\n", b"\r"])
def test_every_line_ending(newline):
    assert decode(b"data: a" + newline + newline + b"data: b" + newline + newline) == [b"a", b"b"]


def test_crlf_split_between_reads_is_one_line_ending():
    assert decode(b"data: a\r", b"\ndata: b\r", b"\n\r", b"\n") == [b"a\nb"]


def test_an_event_not_closed_by_a_blank_line_is_dropped():
    assert decode(b"data: a\n\ndata: cut") == [b"a"]


def test_a_leading_byte_order_mark_is_skipped_even_when_split():
    assert decode(b"\xef\xbb", b"\xbfdata: a\n\n") == [b"a"]


BODY = (
    b": keep-alive\r\n\r\n"
    b'data: {"choices": [{"delta": {"content": "caf\xc3\xa9 \xe2\x9c\x93"}}]}\r\n\r\n'
    b'data:{"choices": [{"delta": {"content": "\xf0\x9f\x98\x80"}}]}\n\n'
    b'data: {"choices": [{"delta": {}, "finish_reason": "stop"}]}\r\r'
    b"data: [DONE]\n\n"
)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=len(BODY)), max_size=12))
def test_any_split_points_give_the_same_events(cuts):
    cuts = sorted(set(cuts))
    reads = [BODY[a:b] for a, b in zip([0] + cuts, cuts + [len(BODY)], strict=True)]
    assert decode(*reads) == decode(BODY)
    assert len(decode(BODY)) == 4


def chunk(**delta):
    return b"data: " + json.dumps({"choices": [{"delta": delta}]}).encode() + b"\n\n"


def test_one_read_yields_one_joined_event_per_kind():
    answer = reader()
    read = (
        chunk(reasoning="Let me") + chunk(reasoning=" think.") + chunk(content="Yes") + chunk(content=", 7.")
    )
    field = {"hf_inference": {"reasoning_field": "reasoning"}}  # where it came, to send it back so
    assert list(answer.feed(read)) == [
        StreamEvent("reasoning", "Let me think.", provider_metadata=field),
        "Yes, 7.",
    ]
    assert list(answer.feed(chunk(content="!"))) == ["!"]


def test_utf8_split_across_reads_comes_out_intact():
    answer = reader()
    raw = chunk(content="café ✓ 😀") + b'data: {"choices": [{"delta": {}, "finish_reason": "stop"}]}\n\n'
    out = []
    for i in range(len(raw)):
        out += answer.feed(raw[i : i + 1])
    out += answer.finish()
    assert "".join(out) == "café ✓ 😀"


# Anything at all where a chunk is expected: correct text or a ModelError, nothing else.
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)
chunk_like = st.fixed_dictionaries(
    {},
    optional={
        "choices": st.none()
        | st.text(max_size=3)
        | st.integers()
        | st.lists(
            st.fixed_dictionaries(
                {},
                optional={
                    "delta": json_values
                    | st.fixed_dictionaries(
                        {},
                        optional={
                            "content": json_values,
                            "reasoning": json_values,
                            "tool_calls": json_values,
                        },
                    ),
                    "finish_reason": json_values,
                    "logprobs": json_values,
                },
            )
            | json_values,
            max_size=2,
        ),
        "usage": json_values
        | st.fixed_dictionaries({"prompt_tokens": json_values, "completion_tokens": json_values}),
        "model": json_values,
    },
)


@settings(max_examples=500, deadline=None)
@given(st.lists(chunk_like, min_size=1, max_size=4) | st.lists(json_values, max_size=2), st.booleans())
@example([{"choices": None}], True)
@example([{"choices": "abc"}], True)
@example([{"choices": 7}], False)
@example([{"choices": [None]}], True)
@example([{"choices": [{"delta": ["a"]}]}], True)
@example([{"choices": [{"delta": {"content": 5}}]}], True)
@example([{"choices": [{"delta": {"tool_calls": [{"index": [0]}]}}]}], True)
@example(
    [{"choices": [{"delta": {"content": "a"}, "finish_reason": "stop"}], "usage": {"prompt_tokens": "3"}}],
    False,
)
@example([{"choices": [{"delta": {"content": "a"}, "logprobs": "x"}]}], True)
def test_fuzzed_chunks_give_text_or_a_model_error(chunks, done):
    answer = reader()
    raw = b"".join(b"data: " + json.dumps(c).encode() + b"\n\n" for c in chunks) + (
        b"data: [DONE]\n\n" if done else b""
    )
    try:
        events = list(answer.feed(raw)) + list(answer.finish())
    except llm.ModelError:
        return
    assert all(isinstance(e, (str, StreamEvent)) for e in events)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200), st.integers(min_value=1, max_value=50))
def test_fuzzed_bytes_give_a_model_error_or_nothing_worse(raw, step):
    answer = reader()
    try:
        for i in range(0, len(raw), step):
            list(answer.feed(raw[i : i + step]))
        list(answer.finish())
    except llm.ModelError:
        pass


@given(json_values)
@settings(max_examples=200, deadline=None)
def test_fuzzed_json_answers_without_streaming(value):
    answer = reader("application/json")
    list(answer.feed(json.dumps(value).encode()))
    with contextlib.suppress(llm.ModelError):
        list(answer.finish())


def test_an_error_event_that_echoes_the_token_does_not_show_it():
    answer = reader()
    with pytest.raises(llm.ModelError) as raised:
        list(answer.feed(b'data: {"error": {"message": "bad token hf_SECRETsecret1234567890"}}\n\n'))
    assert str(raised.value) == "router.huggingface.co reported an error: bad token hf_***"


@pytest.mark.parametrize(
    "error, said",
    [
        (["busy", 1], '["busy", 1]'),  # JSON, not Python's ['busy', 1]
        ({"message": {"code": "x"}}, '{"code": "x"}'),
        ({"message": "CUDA\u001b[2J out of memory"}, "CUDA [2J out of memory"),
    ],
)
def test_an_error_event_of_any_shape_is_said_as_json_never_as_python(error, said):
    answer = reader()
    with pytest.raises(llm.ModelError) as raised:
        list(answer.feed(b"data: " + json.dumps({"error": error}).encode() + b"\n\n"))
    assert str(raised.value) == f"router.huggingface.co reported an error: {said}"


def test_a_tool_name_a_server_sent_is_shown_without_control_characters():
    answer = reader()
    call = {"index": 0, "id": "c1", "function": {"name": "get\u001b]2;x\u0007weather", "arguments": "{oops"}}
    list(answer.feed(sse({"choices": [{"delta": {"tool_calls": [call]}, "finish_reason": "tool_calls"}]})))
    with pytest.raises(llm.ModelError) as raised:
        list(answer.finish())
    assert str(raised.value) == (
        "The model called tool 'get ]2;x weather' with arguments that are not valid JSON: {oops"
    )


def test_tgi_name_inside_the_arguments_is_never_an_argument():
    answer = reader("application/json")
    message = {
        "role": "assistant",
        "tool_calls": [
            {
                "id": 0,
                "type": "function",
                "function": {
                    "name": "get_weather",
                    "arguments": {"_name": "get_weather", "location": "Paris"},
                },
            }
        ],
    }
    list(answer.feed(json.dumps({"choices": [{"message": message, "finish_reason": "eos_token"}]}).encode()))
    list(answer.finish())
    assert [(c.name, c.arguments, c.tool_call_id) for c in answer.response.tool_calls] == [
        ("get_weather", {"location": "Paris"}, "0")
    ]


def sse(*chunks) -> bytes:
    return b"".join(b"data: " + json.dumps(chunk).encode() + b"\n\n" for chunk in chunks)


def delta(**fields) -> dict:
    return {"choices": [{"delta": fields}]}


def test_parallel_calls_that_all_say_index_0_are_told_apart_by_id():
    answer = reader()
    calls = [
        {"index": 0, "id": "call_a", "function": {"name": "f", "arguments": ""}},
        {"index": 0, "function": {"arguments": '{"x": "1"}'}},
        {"index": 0, "id": "call_b", "function": {"name": "f", "arguments": ""}},
        {"index": 0, "function": {"arguments": '{"x": "2"}'}},
        {"index": 0, "id": "call_b", "function": {"arguments": ""}},  # its id again: the same call
    ]
    body = sse(
        *(delta(tool_calls=[call]) for call in calls),
        {"choices": [{"delta": {}, "finish_reason": "tool_calls"}]},
    )
    list(answer.feed(body))
    list(answer.finish())
    assert [(c.name, c.arguments, c.tool_call_id) for c in answer.response.tool_calls] == [
        ("f", {"x": "1"}, "call_a"),
        ("f", {"x": "2"}, "call_b"),
    ]


def test_a_legacy_function_call_is_a_tool_call_streamed_or_not():
    streamed = reader()
    body = sse(
        delta(function_call={"name": "get_weather", "arguments": ""}),
        delta(function_call={"arguments": '{"city": '}),
        delta(function_call={"arguments": '"Paris"}'}),
        {"choices": [{"delta": {}, "finish_reason": "function_call"}]},
    )
    list(streamed.feed(body))
    list(streamed.finish())
    whole = reader("application/json")
    message = {
        "role": "assistant",
        "content": None,
        "function_call": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
    }
    list(
        whole.feed(json.dumps({"choices": [{"message": message, "finish_reason": "function_call"}]}).encode())
    )
    list(whole.finish())
    for answer in (streamed, whole):
        assert [(c.name, c.arguments) for c in answer.response.tool_calls] == [
            ("get_weather", {"city": "Paris"})
        ]


@pytest.mark.parametrize("field", ["reasoning", "reasoning_content"])
def test_reasoning_that_is_not_text_is_an_unexpected_answer(field):
    answer = reader()
    with pytest.raises(llm.ModelError, match="sent an unexpected answer"):
        list(answer.feed(sse(delta(**{field: 5}))))


@pytest.mark.parametrize(
    "call", [{"index": 0, "function": "f"}, "f", {"index": "0", "function": {"name": "f"}}]
)
def test_a_tool_call_delta_of_another_shape_is_an_unexpected_answer(call):
    answer = reader()
    with pytest.raises(llm.ModelError, match="sent an unexpected answer"):
        list(answer.feed(sse(delta(tool_calls=[call]))))


def test_a_name_that_comes_after_the_first_delta_names_the_call():
    answer = reader()
    calls = [
        {"index": 0, "id": "c1", "function": {"arguments": ""}},
        {"index": 0, "function": {"name": "f", "arguments": '{"x": 1}'}},
    ]
    body = sse(
        *(delta(tool_calls=[call]) for call in calls),
        {"choices": [{"delta": {}, "finish_reason": "tool_calls"}]},
    )
    list(answer.feed(body))
    list(answer.finish())
    assert [(c.name, c.arguments, c.tool_call_id) for c in answer.response.tool_calls] == [
        ("f", {"x": 1}, "c1")
    ]


@pytest.mark.parametrize("arguments", ["[1, 2]", '"text"', "3"])
def test_arguments_that_are_not_an_object_are_one_line(arguments):
    answer = reader()
    call = {"index": 0, "id": "c1", "function": {"name": "f", "arguments": arguments}}
    list(
        answer.feed(
            sse(delta(tool_calls=[call]), {"choices": [{"delta": {}, "finish_reason": "tool_calls"}]})
        )
    )
    with pytest.raises(
        llm.ModelError, match=r"^The model called tool 'f' with arguments that are not an object$"
    ):
        list(answer.finish())


def test_the_event_cap_is_a_bound_its_size_itself_is_within():
    from llm_hf_inference import EventTooLarge

    assert SSEDecoder(cap=10).feed(b"data: " + b"x" * 9 + b"\n\n") == [b"x" * 9]  # 9 bytes and its newline
    with pytest.raises(EventTooLarge):
        SSEDecoder(cap=10).feed(b"data: " + b"x" * 10 + b"\n\n")
    open_line = SSEDecoder(cap=10)
    assert open_line.feed(b"data: xxxx") == []  # a line still open: 10 bytes so far
    with pytest.raises(EventTooLarge):
        open_line.feed(b"x")


def test_an_answer_with_no_choices_is_one_line_streamed_or_not():
    whole = reader("application/json")
    with pytest.raises(llm.ModelError, match=r"^router\.huggingface\.co sent no answer\.$"):
        list(whole.feed(json.dumps({"choices": []}).encode()))
        list(whole.finish())
    streamed = reader()
    list(streamed.feed(sse({"choices": []})))
    with pytest.raises(llm.ModelError, match=r"^The response from router\.huggingface\.co ended early"):
        list(streamed.finish())


def test_events_after_done_are_ignored_and_done_without_a_finish_reason_ends_the_answer():
    answer = reader()
    body = sse(delta(content="a"), {"choices": [{"delta": {}, "finish_reason": "stop"}]})
    out = list(answer.feed(body + b"data: [DONE]\n\n" + sse(delta(content="b"))))
    assert out + list(answer.finish()) == ["a"]
    assert answer.response.response_json["finish_reason"] == "stop"
    cut = reader()
    assert list(cut.feed(sse(delta(content="a")) + b"data: [DONE]\n\n")) + list(cut.finish()) == ["a"]
    assert cut.response.response_json["finish_reason"] is None


def test_text_streamed_before_a_tool_call_stays_ahead_of_it():
    answer = reader()
    call = {"index": 0, "id": "c1", "function": {"name": "f", "arguments": "{}"}}
    body = sse(
        delta(content="Let me look."),
        delta(tool_calls=[call]),
        {"choices": [{"delta": {}, "finish_reason": "tool_calls"}]},
    )
    out = list(answer.feed(body)) + list(answer.finish())
    assert [event if type(event) is str else (event.type, event.chunk) for event in out] == [
        "Let me look.",
        ("tool_call_name", "f"),
        ("tool_call_args", "{}"),
    ]


@pytest.mark.parametrize(
    "calls, said",
    [
        (
            [{"id": "c1", "function": {"arguments": '{"x": 1}'}}, {"function": {"name": "f"}}],
            "The model called a tool without naming it.",
        ),
        ([{"function": {"arguments": "{}"}}], "The model called a tool without naming it."),
    ],
)
def test_a_first_delta_with_neither_index_nor_name_is_a_call_never_named(calls, said):
    answer = reader()
    body = sse(
        *(delta(tool_calls=[c]) for c in calls), {"choices": [{"delta": {}, "finish_reason": "tool_calls"}]}
    )
    with pytest.raises(llm.ModelError) as raised:
        list(answer.feed(body))
        list(answer.finish())
    assert str(raised.value) == said


def test_a_tool_name_that_is_not_text_is_an_unexpected_answer():
    answer = reader()
    call = {"index": 0, "id": "c1", "function": {"name": 5, "arguments": "{}"}}
    with pytest.raises(llm.ModelError, match=r"^router\.huggingface\.co sent an unexpected answer: "):
        list(answer.feed(sse(delta(tool_calls=[call]))))


def test_logprobs_sent_unasked_are_kept_too():
    answer = reader()  # a request that did not ask for logprobs
    content = [{"token": "Yes", "logprob": -0.1}]
    body = sse(
        {"choices": [{"delta": {"content": "Yes"}, "logprobs": {"content": content}}]},
        {"choices": [{"delta": {}, "logprobs": {"content": None}, "finish_reason": "stop"}]},
    )
    assert list(answer.feed(body)) + list(answer.finish()) == ["Yes"]
    assert answer.logprobs == content  # the mutation sample's one survivor


CUT = "llm-hf-inference: router.huggingface.co stopped the answer at its token limit; a larger -o max_tokens lets it go on\n"
FILTERED = (
    "llm-hf-inference: router.huggingface.co stopped the answer: its content filter held back the rest\n"
)


def ended(reason: str) -> dict:
    return {"choices": [{"delta": {}, "finish_reason": reason}]}


@pytest.mark.parametrize(
    ("chunks", "said"),
    [
        ([delta(content="Deep learning is"), ended("length")], "\n" + CUT),  # the text's line left open
        ([delta(content="A list:\n"), ended("length")], CUT),
        ([delta(reasoning="First, the"), ended("length")], "\n" + CUT),  # reasoning took every token
        ([delta(content="a"), delta(reasoning="b\n"), ended("length")], CUT),
        ([delta(content="Deep"), ended("content_filter")], "\n" + FILTERED),
        ([delta(content=""), ended("length")], CUT),  # nothing was shown
        ([delta(content="Deep learning."), ended("stop")], ""),
        ([delta(content="Deep learning."), ended("eos_token")], ""),
    ],
)
def test_an_answer_the_provider_cut_short_is_said_so_below_what_was_shown(chunks, said, capsys):
    answer = reader()
    out = list(answer.feed(sse(*chunks)))
    assert capsys.readouterr().err == ""
    out += answer.finish()
    assert capsys.readouterr().err == said
    assert "".join(e if type(e) is str else e.chunk for e in out) == "".join(
        c["choices"][0]["delta"].get("content", "") + c["choices"][0]["delta"].get("reasoning", "")
        for c in chunks
    )


def test_a_whole_answer_cut_short_is_said_so_before_llm_prints_it(capsys):
    answer = reader("application/json")
    body = {"choices": [{"message": {"content": "Deep learning is"}, "finish_reason": "length"}]}
    assert list(answer.feed(json.dumps(body).encode())) == []
    assert capsys.readouterr().err == ""
    assert [getattr(e, "chunk", e) for e in answer.finish()] == ["Deep learning is"]
    assert capsys.readouterr().err == CUT  # no line to close: llm prints the text after
    # a server that streams what was asked for whole: llm prints it after the note too
    streamed_anyway = reader(stream=False)
    list(streamed_anyway.feed(sse(delta(content="Deep learning is"), ended("length"))))
    list(streamed_anyway.finish())
    assert capsys.readouterr().err == CUT


def test_tool_arguments_cut_off_by_the_token_limit_say_so():
    answer = reader()
    call = {"index": 0, "id": "c1", "function": {"name": "f", "arguments": '{"city": "Par'}}
    list(answer.feed(sse(delta(tool_calls=[call]), ended("length"))))
    with pytest.raises(llm.ModelError) as raised:
        list(answer.finish())
    assert str(raised.value) == (
        'The model called tool \'f\' with arguments that are not valid JSON: {"city": "Par — '
        "router.huggingface.co stopped the answer at its token limit; a larger -o max_tokens lets it go on"
    )
    other = reader()
    list(other.feed(sse(delta(tool_calls=[call]), ended("tool_calls"))))
    with pytest.raises(llm.ModelError) as raised:
        list(other.finish())
    assert (
        str(raised.value)
        == 'The model called tool \'f\' with arguments that are not valid JSON: {"city": "Par'
    )


def test_the_empty_part_that_carries_who_answered_leaves_the_line_as_the_text_left_it(capsys):
    answer = reader()
    answer.start(httpx2.Headers({"content-type": "text/event-stream", "x-inference-provider": "together"}))
    assert list(answer.feed(sse(delta(content="A list:\n"), ended("length")))) == ["A list:\n"]
    [carrier] = answer.finish()
    assert (carrier.type, carrier.chunk) == ("text", "")
    assert capsys.readouterr().err == CUT.replace("router.huggingface.co", "together")


@pytest.mark.parametrize(
    ("chunks", "said"),
    [
        ([delta(content="Deep learning is"), ended("length")], ""),  # the text, cut where -o max_tokens said
        ([delta(reasoning="First, the"), ended("length")], "\n" + CUT),  # no answer within it: said
        ([delta(content=""), ended("length")], CUT),
        ([delta(content="Deep"), ended("content_filter")], "\n" + FILTERED),
    ],
)
def test_a_token_limit_the_prompt_set_is_said_only_when_no_text_came_within_it(chunks, said, capsys):
    answer = reader(max_tokens=20)
    list(answer.feed(sse(*chunks)))
    list(answer.finish())
    assert capsys.readouterr().err == said


def test_text_left_open_before_a_tool_call_is_closed_before_the_note(capsys):
    answer = reader()
    call = {"index": 0, "id": "c1", "function": {"name": "f", "arguments": "{}"}}
    list(answer.feed(sse(delta(content="Let me look."), delta(tool_calls=[call]), ended("length"))))
    list(answer.finish())
    assert capsys.readouterr().err == "\n" + CUT
    assert [call.name for call in answer.response.tool_calls] == ["f"]


EMPTY = "llm-hf-inference: router.huggingface.co sent an empty answer\n"


@pytest.mark.parametrize(
    ("chunks", "said"),
    [
        ([delta(content=""), ended("stop")], EMPTY),
        ([delta(reasoning="Nothing to add."), ended("stop")], "\n" + EMPTY),  # thought, then said nothing
        ([delta(tool_calls=[{"index": 0, "id": "c1", "function": {"name": "f"}}]), ended("tool_calls")], ""),
        ([delta(content="Yes."), ended("stop")], ""),
    ],
)
def test_an_answer_of_no_text_and_no_tool_call_says_so(chunks, said, capsys):
    answer = reader()
    list(answer.feed(sse(*chunks)))
    list(answer.finish())
    assert capsys.readouterr().err == said
