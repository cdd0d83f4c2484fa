"""Tools in every dialect, structured output, reasoning and log probabilities."""

import asyncio
import base64
import json

import llm
import pytest
from llm.parts import StreamEvent

import llm_hf_inference
from helpers import SYNC_ASYNC, invoke, run

WEATHER = "What is the weather in Paris?"
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city.",
        "parameters": {
            "properties": {"location": {"type": "string"}},
            "required": ["location"],
            "type": "object",
        },
    },
}
CALL = {
    "id": "call_1",
    "type": "function",
    "function": {"name": "get_weather", "arguments": '{"location": "Paris"}'},
}
GET_WEATHER_SOURCE = (
    'def get_weather(location: str) -> str:\n    "The weather in a city."\n    return "Sunny, 21°C"\n'
)
asked = []


def get_weather(location: str) -> str:
    "The weather in a city."
    asked.append(location)
    return "Sunny, 21°C"


@SYNC_ASYNC
@pytest.mark.parametrize("mode", ["stream", "no-stream"])
@pytest.mark.vcr
@pytest.mark.cassette("tool-chain-{mode}")
def test_full_tool_chain(mode, use_async, sent, played):
    asked.clear()
    stream = mode == "stream"
    if use_async:
        chain = llm.get_async_model("hf-llama3.1").chain(WEATHER, tools=[get_weather], stream=stream)
        text = asyncio.run(chain.text())
    else:
        text = llm.get_model("hf-llama3.1").chain(WEATHER, tools=[get_weather], stream=stream).text()
    assert text == "It is sunny and 21°C in Paris."
    assert asked == ["Paris"]
    assert sent[0].body["tools"] == [WEATHER_TOOL]
    assert sent[1].body["messages"] == [
        {"role": "user", "content": WEATHER},
        {"role": "assistant", "tool_calls": [CALL]},
        {"role": "tool", "tool_call_id": "call_1", "content": "Sunny, 21°C"},
    ]


@pytest.mark.vcr
@pytest.mark.cassette("tool-chain-stream")
def test_streamed_tool_call_events_arrive_while_streaming():
    response = llm.get_model("hf-llama3.1").prompt(WEATHER, tools=[get_weather])
    events = list(response.stream_events())
    assert [(e.type, e.chunk, e.tool_call_id) for e in events] == [
        ("tool_call_name", "get_weather", "call_1"),
        *(("tool_call_args", ch, "call_1") for ch in '{"location": "Paris"}'),
        ("tool_call_args", "", "call_1"),  # who answered, kept on the call's part
    ]
    assert events[-1].provider_metadata == {
        "hf_inference": {"provider": "together", "model": "meta-llama/Llama-3.1-8B-Instruct"}
    }
    assert response.tool_calls() == [
        llm.ToolCall(name="get_weather", arguments={"location": "Paris"}, tool_call_id="call_1")
    ]
    assert (response.usage().input, response.usage().output) == (180, 18)
    assert response.response_json["finish_reason"] == "tool_calls"


@pytest.mark.vcr
@pytest.mark.cassette("tool-chain-continued")
def test_cli_tool_chain_then_continue_with_c(sent, played):
    first = invoke("-m", "hf-llama3.1", "--functions", GET_WEATHER_SOURCE, WEATHER)
    assert first.exit_code == 0, first.output
    assert first.output == "It is sunny and 21°C in Paris.\n"
    second = invoke("-c", "And in Rome?")
    assert second.exit_code == 0, second.output
    assert second.output == "I would need to look that up.\n"
    assert sent[2].body == {
        "model": "meta-llama/Llama-3.1-8B-Instruct:together",  # -c from the log stays with together
        "messages": [
            {"role": "user", "content": WEATHER},
            {"role": "assistant", "tool_calls": [CALL]},
            {"role": "tool", "tool_call_id": "call_1", "content": "Sunny, 21°C"},
            {"role": "assistant", "content": "It is sunny and 21°C in Paris."},
            {"role": "user", "content": "And in Rome?"},
        ],
        "stream": True,
        "stream_options": {"include_usage": True},
    }


@pytest.mark.parametrize(
    "cassette, stream, calls",
    [
        (
            "tool-two-calls",
            True,
            [
                ("get_weather", {"location": "Paris"}, "call_a"),
                ("get_weather", {"location": "Rome"}, "call_b"),
            ],
        ),
        ("tool-tgi-object-arguments", False, [("get_weather", {"location": "Paris"}, "0")]),
        ("tool-tgi-wrapped-stream", True, [("get_weather", {"location": "Paris"}, None)]),
        ("tool-no-index-no-id", True, [("get_weather", {"location": "Paris"}, None)]),
    ],
)
@SYNC_ASYNC
@pytest.mark.vcr
@pytest.mark.cassette("{cassette}")
def test_tool_call_dialects(cassette, stream, calls, use_async, played):
    out = run("hf-llama3.1", WEATHER, tools=[get_weather], stream=stream, use_async=use_async)
    assert [(c.name, c.arguments) for c in out.tool_calls] == [(name, args) for name, args, _ in calls]
    for call, (_, _, call_id) in zip(out.tool_calls, calls, strict=True):
        if call_id is None:  # the server sent none: one is made
            assert call.tool_call_id.startswith("call_") and len(call.tool_call_id) == 29
        else:
            assert call.tool_call_id == call_id
    # the stream events assemble into the same calls llm will send back next turn
    names = {}
    for event in out.events:
        if event.type == "tool_call_name":
            names[event.tool_call_id] = [event.chunk, ""]
        elif event.type == "tool_call_args":
            names[event.tool_call_id][1] += event.chunk
    assert [(n, json.loads(a)) for n, a in names.values()] == [(name, args) for name, args, _ in calls]
    assert list(names) == [c.tool_call_id for c in out.tool_calls]


@pytest.mark.vcr
@pytest.mark.cassette("tool-invalid-arguments")
def test_invalid_tool_arguments_name_the_tool(played):
    with pytest.raises(llm.ModelError) as raised:
        run("hf-llama3.1", WEATHER, tools=[get_weather])
    assert str(raised.value) == (
        "The model called tool 'get_weather' with arguments that are not valid JSON: {\"location\": Paris"
    )


@pytest.mark.parametrize(
    "choice, sent_as",
    [
        ("required", "required"),
        ("auto", "auto"),
        ("none", "none"),
        ("get_weather", {"type": "function", "function": {"name": "get_weather"}}),
    ],
)
def test_tool_choice_and_tool_prompt_go_in_the_body(choice, sent_as):
    from llm_hf_inference import build_request

    model = llm.get_model("hf-llama3.1")
    prompt = llm.Prompt(
        WEATHER,
        model,
        tools=[get_weather],
        options=model.Options(tool_choice=choice, tool_prompt="You may call:"),
    )
    body = build_request(model.spec, prompt, False, None).body
    assert body["tool_choice"] == sent_as
    assert body["tool_prompt"] == "You may call:"


# -- structured output

SCHEMA = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
    "required": ["name", "age"],
}
JSON_SCHEMA = {"type": "json_schema", "json_schema": {"name": "output", "schema": SCHEMA, "strict": True}}


@SYNC_ASYNC
@pytest.mark.parametrize("mode", ["stream", "no-stream"])
@pytest.mark.vcr
@pytest.mark.cassette("schema-{mode}")
def test_schema(mode, use_async, sent, played):
    stream = mode == "stream"
    schema = json.loads(json.dumps(SCHEMA))
    out = run("hf-llama3.1", "Invent a dog", schema=schema, stream=stream, use_async=use_async)
    assert json.loads(out.text) == {"name": "Rex", "age": 3}
    assert sent[0].body["response_format"] == JSON_SCHEMA
    assert schema == SCHEMA  # not mutated


@pytest.mark.parametrize(
    "cassette, option, value, expected",
    [
        ("json-object", "json_object", "1", '{"name": "Rex"}'),
        ("regex", "regex", "(Rex|Fido)", "Rex"),
    ],
)
@pytest.mark.vcr
@pytest.mark.cassette("{cassette}")
def test_json_object_and_regex(cassette, option, value, expected, played):
    result = invoke("-m", "hf-llama3.1", "--no-stream", "Invent a dog", "-o", option, value)
    assert result.exit_code == 0, result.output
    assert result.output == expected + "\n"


@pytest.mark.vcr
@pytest.mark.cassette("grammar-tgi")
def test_grammar_tgi_sends_the_schema_in_tgis_form(sent, played):
    schema = {
        "properties": {
            "location": {"type": "string"},
            "activity": {"type": "string"},
            "animals_seen": {"type": "integer", "minimum": 1, "maximum": 5},
            "animals": {"type": "array", "items": {"type": "string"}},
        },
        "required": ["location", "activity", "animals_seen", "animals"],
    }
    question = "I saw a puppy a cat and a raccoon during my bike ride in the park. What did I saw and when?"
    out = run("hf-llama3.1", question, schema=schema, grammar="tgi", stream=False)
    assert sent[0].body["response_format"] == {"type": "json", "value": schema}
    assert json.loads(out.text) == {
        "activity": "bike ride",
        "animals": ["puppy", "cat", "raccoon"],
        "animals_seen": 3,
        "location": "park",
    }
    assert out.response_json["finish_reason"] == "eos_token"


# -- reasoning


@SYNC_ASYNC
@pytest.mark.parametrize("cassette", ["reasoning-field", "reasoning-content-field", "reasoning-think-tags"])
@pytest.mark.vcr
@pytest.mark.cassette("{cassette}")
def test_reasoning_in_every_form(cassette, use_async, played):
    out = run("hf-deepseek-r1", "Is 7 prime?", use_async=use_async)
    assert out.text == "Yes."
    assert "".join(e.chunk for e in out.events if e.type == "reasoning") == "7 has no divisors but 1 and 7."


@pytest.mark.vcr
@pytest.mark.cassette("reasoning-no-stream")
def test_reasoning_without_streaming(sent, played):
    out = run("hf-deepseek-r1", "Is 7 prime?", stream=False, reasoning_effort="high")
    assert [(e.type, e.chunk) for e in out.events] == [
        ("reasoning", "7 has no divisors but 1 and 7."),
        ("text", "Yes."),
    ]
    assert sent[0].body["reasoning_effort"] == "high"


@pytest.mark.parametrize("hide", [False, True])
@pytest.mark.vcr
@pytest.mark.cassette("reasoning-think-tags")
def test_cli_shows_reasoning_dimmed_and_hides_it_with_R(hide, played):
    result = invoke("-m", "hf-deepseek-r1", "Is 7 prime?", *(["-R"] if hide else []))
    assert result.stdout == "Yes.\n"
    assert result.stderr == ("" if hide else "7 has no divisors but 1 and 7.\n")
    messages = invoke("logs", "--json", "-n", "1").output
    assert "7 has no divisors but 1 and 7." in messages


def test_think_tags_cut_anywhere():
    from test_decoding import chunk

    from helpers import reader

    text = "<think>7 has no divisors but 1 and 7.</think>\n\nYes."
    for cut in range(1, len(text)):
        answer = reader()
        out = list(answer.feed(chunk(content=text[:cut]))) + list(answer.feed(chunk(content=text[cut:])))
        answer.finish_reason = "stop"
        out += answer.finish()
        reasoning = "".join(e.chunk for e in out if isinstance(e, StreamEvent) and e.type == "reasoning")
        assert (reasoning, "".join(e for e in out if isinstance(e, str))) == (
            "7 has no divisors but 1 and 7.",
            "Yes.",
        ), cut


def test_a_think_block_cut_off_at_the_end_keeps_where_it_came():
    from test_decoding import chunk

    from helpers import reader

    answer = reader()
    out = list(answer.feed(chunk(content="<think></th")))  # the stream ends inside the closing tag
    answer.finish_reason = "length"
    out += answer.finish()
    parts = [(e.type, e.chunk, e.provider_metadata) for e in out if isinstance(e, StreamEvent)]
    assert parts[0] == ("reasoning", "</th", {"hf_inference": {"reasoning_field": "think"}})


# -- log probabilities

LOGPROBS = [
    {
        "token": "Yes",
        "logprob": -0.01,
        "bytes": [89, 101, 115],
        "top_logprobs": [{"token": "Yes", "logprob": -0.01, "bytes": [89, 101, 115]}],
    },
    {
        "token": ".",
        "logprob": -0.2,
        "bytes": [46],
        "top_logprobs": [{"token": ".", "logprob": -0.2, "bytes": [46]}],
    },
]


@pytest.mark.parametrize("mode", ["stream", "no-stream"])
@pytest.mark.vcr
@pytest.mark.cassette("logprobs-{mode}")
def test_logprobs_land_in_response_json(mode, sent, played):
    out = run("hf-llama3.1", "Is 7 prime?", logprobs=True, top_logprobs=1, stream=mode == "stream")
    assert out.response_json["logprobs"] == LOGPROBS
    assert (sent[0].body["logprobs"], sent[0].body["top_logprobs"]) == (True, 1)


# -- reasoning goes back to a thinking model inside its tool loop

DEEPSEEK = "deepseek-ai/DeepSeek-V4-Pro"
RESULT = {"role": "tool", "tool_call_id": "call_1", "content": "Sunny, 21°C"}
CALLED = {  # the tool-call turn as it goes back, by where its reasoning came
    "reasoning": {"role": "assistant", "tool_calls": [CALL], "reasoning": "I should look it up."},
    "reasoning_content": {
        "role": "assistant",
        "tool_calls": [CALL],
        "reasoning_content": "I should look it up.",
    },
    "think": {"role": "assistant", "content": "<think>I should look it up.</think>", "tool_calls": [CALL]},
}
CALLED_BARE = {"role": "assistant", "tool_calls": [CALL]}  # a finished loop's: no reasoning
FIELDS = pytest.mark.parametrize("field", list(CALLED))


@FIELDS
@SYNC_ASYNC
@pytest.mark.vcr
@pytest.mark.cassette("reasoning-tool-chain-{field}")
def test_a_tool_loop_sends_the_reasoning_back_in_the_field_it_came_in(field, use_async, sent):
    asked.clear()
    model = (llm.get_async_model if use_async else llm.get_model)("hf-deepseek-v4")
    chain = model.chain(WEATHER, tools=[get_weather])
    text = asyncio.run(chain.text()) if use_async else chain.text()
    assert text == "It is sunny and 21°C in Paris."
    assert asked == ["Paris"]
    assert [s.body["messages"] for s in sent] == [
        [{"role": "user", "content": WEATHER}],
        [{"role": "user", "content": WEATHER}, CALLED[field], RESULT],
    ]


@FIELDS
@pytest.mark.parametrize("how", ["-c", "chat"])
@pytest.mark.vcr
@pytest.mark.cassette("reasoning-tool-chain-{field}")
def test_a_finished_tool_loop_keeps_its_reasoning_to_itself(field, how, sent, played):
    if how == "-c":
        first = invoke("-m", "hf-deepseek-v4", "--functions", GET_WEATHER_SOURCE, WEATHER)
        assert first.stdout == "It is sunny and 21°C in Paris.\n"
        second = invoke("-c", "--functions", GET_WEATHER_SOURCE, "And in Rome?")
        assert second.stdout == "I would look it up.\n"
    else:
        talk = invoke(
            "chat",
            "-m",
            "hf-deepseek-v4",
            "--functions",
            GET_WEATHER_SOURCE,
            input=f"{WEATHER}\nAnd in Rome?\nquit\n",
        )
        assert "It is sunny and 21°C in Paris." in talk.output and "I would look it up." in talk.output
    assert sent[1].body["messages"] == [{"role": "user", "content": WEATHER}, CALLED[field], RESULT]
    assert sent[2].body["messages"] == [
        {"role": "user", "content": WEATHER},
        {"role": "assistant", "tool_calls": [CALL]},
        RESULT,
        {"role": "assistant", "content": "It is sunny and 21°C in Paris."},
        {"role": "user", "content": "And in Rome?"},
    ]
    assert [s.body["model"] for s in sent] == [DEEPSEEK] + [f"{DEEPSEEK}:together"] * 2


def test_reasoning_of_unknown_origin_is_not_sent_back():
    """Reasoning from before this version, or from another plugin's turn: no field to send it in."""
    from llm.parts import Message, ReasoningPart, TextPart, ToolCallPart

    model = llm.get_model("hf-deepseek-v4")
    messages = [
        Message(role="user", parts=[TextPart(text=WEATHER)]),
        Message(
            role="assistant",
            parts=[
                ReasoningPart(text="I should look it up."),
                ToolCallPart(name="get_weather", arguments={"location": "Paris"}, tool_call_id="call_1"),
            ],
        ),
    ]
    body = llm_hf_inference.request_body(model.spec, llm.Prompt(None, model, messages=messages), True, None)
    assert body["messages"][1] == {"role": "assistant", "tool_calls": [CALL]}


# -- what a tool returns attached (HFImages, HFSpeak, HFMcp): llm puts it in a user message after the results

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02\x00\x00\x00"
WAV = b"RIFF$\x00\x00\x00WAVEfmt \x10\x00\x00\x00\x01\x00\x01\x00\xc0]\x00\x00\x80\xbb\x00\x00"


def tool_loop(*attached: llm.Attachment) -> list:
    """A thinking model's tool call, its result, and what the tool returned attached, as llm hands them on."""
    from llm.parts import AttachmentPart, Message, ReasoningPart, TextPart, ToolCallPart, ToolResultPart

    came = {llm_hf_inference.PROVIDER_KEY: {"reasoning_field": "reasoning_content"}}
    return [
        Message(role="user", parts=[TextPart(text=WEATHER)]),
        Message(
            role="assistant",
            parts=[
                ReasoningPart(text="I should look it up.", provider_metadata=came),
                ToolCallPart(name="get_weather", arguments={"location": "Paris"}, tool_call_id="call_1"),
            ],
        ),
        Message(
            role="tool",
            parts=[ToolResultPart(name="get_weather", output="Sunny, 21°C", tool_call_id="call_1")],
        ),
        Message(role="user", parts=[AttachmentPart(attachment=a) for a in attached]),
    ]


@pytest.mark.parametrize(
    "name, attached, sent",
    [
        ("hf-kimi", [PNG], [PNG]),  # it sees: the image goes, and the loop still has its reasoning
        ("hf-kimi", [WAV, PNG], [PNG]),  # audio is no image
        ("hf-kimi", [WAV], []),  # nothing left: no empty message
        ("hf-deepseek-v4", [PNG], []),  # it takes no images: it would refuse the request
    ],
)
def test_a_tools_attachments_go_only_as_images_a_model_takes(name, attached, sent):
    model = llm.get_model(name)
    loop = tool_loop(*(llm.Attachment(content=data) for data in attached))
    body = llm_hf_inference.request_body(model.spec, llm.Prompt(None, model, messages=loop), True, None)
    images = [
        {"type": "image_url", "image_url": {"url": "data:image/png;base64," + base64.b64encode(PNG).decode()}}
        for _ in sent
    ]
    assert body["messages"] == [
        {"role": "user", "content": WEATHER},
        CALLED["reasoning_content"],
        RESULT,
        *([{"role": "user", "content": images}] if images else []),
    ]


@pytest.mark.parametrize(
    "case", ["words after the results", "an image alone after an answer", "no user turn"]
)
def test_which_tool_loop_is_still_going_on(case):
    """Words after a tool's results (a chain stopped by --chain-limit and continued, tool results given with a
    prompt in Python) begin a turn, an image with them or not: the loop before is finished and keeps its
    reasoning (DeepSeek refuses it there); so does an image alone after an answer. With no turn, the whole
    history is the loop."""
    from llm.parts import AttachmentPart, Message, TextPart

    question, called, result, _ = tool_loop()
    image = AttachmentPart(attachment=llm.Attachment(content=PNG))
    answered = Message(role="assistant", parts=[TextPart(text="It is sunny.")])
    said = {"role": "assistant", "content": "It is sunny."}
    url = "data:image/png;base64," + base64.b64encode(PNG).decode()
    seen = {"role": "user", "content": [{"type": "image_url", "image_url": {"url": url}}]}
    name, history, sent = {
        "words after the results": (
            "hf-deepseek-v4",  # takes no images: the words alone go
            [question, called, result, Message(role="user", parts=[TextPart(text="And in Rome?"), image])],
            [CALLED_BARE, RESULT, {"role": "user", "content": "And in Rome?"}],
        ),
        "an image alone after an answer": (
            "hf-kimi",
            [question, called, result, answered, Message(role="user", parts=[image])],
            [CALLED_BARE, RESULT, said, seen],
        ),
        "no user turn": ("hf-kimi", [called, result], [CALLED["reasoning_content"], RESULT]),
    }[case]
    model = llm.get_model(name)
    body = llm_hf_inference.request_body(model.spec, llm.Prompt(None, model, messages=history), True, None)
    asked = [{"role": "user", "content": WEATHER}] if case != "no user turn" else []
    assert body["messages"] == [*asked, *sent]


def test_a_tools_image_by_url_goes_as_its_url_and_one_that_cannot_be_read_is_said(tmp_path):
    model = llm.get_model("hf-kimi")

    def sent(attachment: llm.Attachment) -> list:
        prompt = llm.Prompt(None, model, messages=tool_loop(attachment))
        return llm_hf_inference.request_body(model.spec, prompt, True, None)["messages"][3:]

    url = "https://example.com/fox.png"  # its type was llm's to check: never looked up here
    assert sent(llm.Attachment(url=url)) == [
        {"role": "user", "content": [{"type": "image_url", "image_url": {"url": url}}]}
    ]
    assert sent(llm.Attachment()) == []  # nothing in it
    gone = tmp_path / "fox.png"  # drawn in an earlier turn, since removed: its type as llm logged it

    def denied():
        raise PermissionError(13, "Denied")

    locked = llm.Attachment(path=str(gone))  # a file this user may not read: its type is unknown too
    locked.resolve_type = locked.content_bytes = denied
    for attachment, words in [
        (llm.Attachment("image/png", str(gone)), "No such file or directory"),
        (locked, "Denied"),
    ]:
        with pytest.raises(llm.ModelError) as error:
            sent(attachment)
        assert str(error.value) == f"Cannot read {gone}: {words}"


@pytest.mark.parametrize(
    "name, text, said",
    [
        ("", '{"location": "Paris"}', "The model called a tool without naming it."),
        (
            "",
            '{"function": {"_name": "", "location": "Paris"}}',
            "The model called a tool without naming it.",
        ),
        ("", "[1]", "The model called tool '?' with arguments that are not an object"),
    ],
)
def test_a_call_without_a_name_or_an_object_is_one_line(name, text, said):
    with pytest.raises(llm.ModelError) as error:
        llm_hf_inference.whole_call(name, text)
    assert str(error.value) == said


def test_tgis_name_inside_the_arguments_is_taken_out():
    assert llm_hf_inference.whole_call("", '{"_name": "get_weather", "location": "Paris"}') == (
        "get_weather",
        {"location": "Paris"},
    )


def test_a_think_block_and_text_in_a_tool_loop_message_keep_both():
    from llm.parts import Message, ReasoningPart, TextPart, ToolCallPart

    think = {llm_hf_inference.PROVIDER_KEY: {"reasoning_field": llm_hf_inference.THINK_TAGS}}
    message = Message(
        "assistant",
        [
            ReasoningPart("Which city?", provider_metadata=think),
            TextPart("Let me check."),
            ToolCallPart("weather", {"city": "Paris"}, "c1"),
        ],
    )
    out: list = []
    llm_hf_inference._append_message(out, message, None, in_loop=True)
    assert out == [
        {
            "role": "assistant",
            "content": "<think>Which city?</think>Let me check.",
            "tool_calls": [
                {
                    "id": "c1",
                    "type": "function",
                    "function": {"name": "weather", "arguments": '{"city": "Paris"}'},
                }
            ],
        }
    ]
