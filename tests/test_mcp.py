"""HFMcp: an MCP server's tools as llm tools, tested against the official SDK's own server (tests/mcp_peer.py)
over Streamable HTTP, answering as an SSE stream and as JSON: the handshake, the session, a paged tool
list, every content type, isError, a slow tool, the token rule per host, and a chat model calling them."""

import asyncio
import json
import time

import llm
import pytest
from mcp_peer import PNG, WAV, Running

import llm_hf_inference
from conftest import TEST_TOKEN
from fakeserver import Answer
from helpers import LOCAL, invoke

pytestmark = LOCAL

NAMES = [
    "HFMcp_mcp_add",
    "HFMcp_mcp_draw",
    "HFMcp_mcp_hum",
    "HFMcp_mcp_find",
    "HFMcp_mcp_fail",
    "HFMcp_mcp_nap",
]


@pytest.fixture(scope="module", params=["sse", "json"])
def peer(request):
    running = Running(json_response=request.param == "json")
    yield running
    running.close()


def tools(peer, **given) -> dict:
    return {tool.name: tool for tool in llm_hf_inference.HFMcp(url=peer.url, **given).tools()}


def call(tool, **arguments):
    return asyncio.run(tool.implementation(**arguments))


# -- the session and the tools


def test_the_handshake_then_every_page_of_tools_with_the_session_sent_back(peer, sent):
    found = tools(peer)
    assert list(found) == NAMES
    assert found["HFMcp_mcp_add"].description == "Add two numbers."
    assert found["HFMcp_mcp_add"].input_schema["properties"] == {
        "a": {"title": "A", "type": "integer"},
        "b": {"title": "B", "type": "integer"},
    }
    methods = [s.body["method"] for s in sent]
    assert methods == ["initialize", "notifications/initialized", "tools/list", "tools/list", "tools/list"]
    assert [s.body.get("params") for s in sent[2:]] == [{}, {"cursor": "2"}, {"cursor": "4"}]
    assert "mcp-session-id" not in sent[0].headers
    sessions = {s.headers["mcp-session-id"] for s in sent[1:]}
    assert len(sessions) == 1 and all(s.headers["mcp-protocol-version"] == "2025-06-18" for s in sent[1:])
    assert sent[0].body["params"]["protocolVersion"] == "2025-06-18"


def test_tools_keeps_the_named_ones_and_an_unknown_name_is_one_line(peer):
    assert list(tools(peer, tools=["add", "find"])) == ["HFMcp_mcp_add", "HFMcp_mcp_find"]
    with pytest.raises(llm.ModelError) as raised:
        tools(peer, tools=["search"])
    assert (
        str(raised.value)
        == f"127.0.0.1 has no tool search; its tools: {', '.join(n.removeprefix('HFMcp_mcp_') for n in NAMES)}"
    )


def test_text_an_image_audio_and_a_link_come_back_as_the_model_takes_them(peer):
    found = tools(peer)
    assert call(found["HFMcp_mcp_add"], a=2, b=3) == "5"
    assert call(found["HFMcp_mcp_add"], a=2, b=3, toolbox=1, self=2) == "5"  # any argument's name goes on
    drawn = call(found["HFMcp_mcp_draw"], subject="a fox")
    assert (drawn.output, [(a.type, a.content) for a in drawn.attachments]) == ("", [("image/png", PNG)])
    hummed = call(found["HFMcp_mcp_hum"])
    assert [(a.type, a.content) for a in hummed.attachments] == [("audio/wav", WAV)]
    assert call(found["HFMcp_mcp_find"], query="whisper") == "openai/whisper-large-v3: https://hf.co/x"


def test_a_tool_error_goes_to_the_model_and_a_json_rpc_error_is_one_line(peer):
    found = tools(peer)
    with pytest.raises(llm.ModelError, match=r"^Error executing tool fail$"):
        call(found["HFMcp_mcp_fail"])
    session = llm_hf_inference.MCPSession(peer.url, {}, 5.0)
    with pytest.raises(llm.ModelError) as raised:
        session.request("prompts/nosuch", {})
    assert str(raised.value) == "127.0.0.1 refused prompts/nosuch: Method not found"


def test_a_tool_that_takes_too_long_ends_within_its_deadline(peer):
    found = tools(peer, timeout=0.5)
    started = time.monotonic()
    with pytest.raises(llm.ModelError) as raised:
        call(found["HFMcp_mcp_nap"], seconds=5)
    assert time.monotonic() - started < 2
    assert str(raised.value) == (
        "127.0.0.1 sent nothing for 0.5 seconds (timeout); give it longer with HFMcp(timeout=SECONDS)"
    )
    assert call(found["HFMcp_mcp_add"], a=1, b=1) == "2"  # the session goes on


def test_an_answer_over_the_cap_is_one_line(peer, monkeypatch):
    task = llm_hf_inference.TASKS["mcp"]
    monkeypatch.setitem(llm_hf_inference.TASKS, "mcp", task._replace(cap=500))
    with pytest.raises(llm.ModelError, match="over"):
        tools(peer)


def test_an_unreachable_server_is_one_line(monkeypatch):
    monkeypatch.setattr(llm_hf_inference, "sleep", lambda seconds: None)
    with pytest.raises(llm.ModelError) as raised:
        list(llm_hf_inference.HFMcp(url="http://127.0.0.1:9/mcp").tools())
    assert str(raised.value).startswith("Could not connect to 127.0.0.1")
    assert "\n" not in str(raised.value)


def test_a_forgotten_session_is_begun_again(fake):
    begun = []

    def answer(seen):
        message = json.loads(seen.body)
        if message["method"] == "initialize":
            begun.append(1)
            return Answer(200, {"Mcp-Session-Id": f"s{len(begun)}"}, json.dumps(reply(message, {})).encode())
        if message["method"] == "notifications/initialized":
            return Answer(202, {}, b"")
        if seen.headers["Mcp-Session-Id"] == "s1":
            return Answer.json({"error": "Session not found"}, 404)
        return Answer.json(reply(message, {"tools": [{"name": "ping", "inputSchema": {}}]}))

    server = fake({"POST /mcp": answer})
    assert [t.name for t in llm_hf_inference.HFMcp(url=server.url + "/mcp").tools()] == ["HFMcp_mcp_ping"]
    assert len(begun) == 2


@pytest.mark.parametrize(
    "status, hint",
    [
        *(
            (
                status,
                "The server wants a key: the Hugging Face token goes to huggingface.co, to a Space with "
                "HFMcp(send_token=True); any other server takes HFMcp(key_name=NAME) (a key stored with "
                "'llm keys set NAME') or HFMcp(headers={...}).",
            )
            for status in (401, 403)
        ),
        *(
            (
                status,
                "There is no MCP server at that URL (Streamable HTTP; not the older SSE transport); "
                "check HFMcp(url=...).",
            )
            for status in (404, 405)  # 405: an SSE server's /sse, asked by POST
        ),
    ],
)
def test_a_server_that_will_not_begin_a_session_says_what_to_do(fake, status, hint):
    server = fake({"POST /mcp": lambda seen: Answer.json({"error": "no"}, status)})
    with pytest.raises(llm.ModelError) as raised:
        llm_hf_inference.HFMcp(url=server.url + "/mcp").tools()
    assert (str(raised.value), len(server.seen)) == (f"127.0.0.1 answered {status}: no — {hint}", 1)


@pytest.mark.parametrize(
    "body, words",
    [
        (
            {"error": "invalid_token", "error_description": "The token expired"},
            "invalid_token: The token expired",
        ),
        ({"error": "invalid_token", "error_description": " "}, "invalid_token"),
        ({"error": {"message": "no"}, "error_description": "x"}, "no"),  # not OAuth's shape
        ({"error": "", "message": "no", "error_description": "x"}, "no"),
    ],
)
def test_an_oauth_refusal_says_what_is_wrong_with_the_key(fake, body, words):
    server = fake({"POST /mcp": lambda seen: Answer.json(body, 401)})
    with pytest.raises(llm.ModelError) as raised:
        llm_hf_inference.HFMcp(url=server.url + "/mcp").tools()
    assert str(raised.value).startswith(f"127.0.0.1 answered 401: {words} — The server wants a key")


@pytest.mark.parametrize("status", [401, 403])
def test_hugging_faces_mcp_server_refusing_the_token_says_to_check_it(status):
    error = llm_hf_inference.http_error(
        "https://huggingface.co/mcp", status, {}, b"Unauthorized", purpose="mcp"
    )
    assert str(error) == (
        f"huggingface.co answered {status}: Unauthorized — Check your Hugging Face token: "
        "'llm keys set huggingface', HF_TOKEN, or 'hf auth login'."
    )


def test_an_error_answer_to_a_call_is_said_and_the_session_kept(fake):
    def answer(seen):
        message = json.loads(seen.body)
        if message["method"] == "initialize":
            return Answer(200, {"Mcp-Session-Id": "s1"}, json.dumps(reply(message, {})).encode())
        if message["method"] == "notifications/initialized":
            return Answer(202, {}, b"")
        if message["method"] == "tools/list":
            return Answer.json(reply(message, {"tools": [{"name": "ping", "inputSchema": {}}]}))
        return Answer.json({"error": "the tool broke"}, 500)

    server = fake({"POST /mcp": answer})
    [ping] = llm_hf_inference.HFMcp(url=server.url + "/mcp").tools()
    with pytest.raises(llm.ModelError) as raised:
        call(ping)
    methods = [json.loads(seen.body)["method"] for seen in server.seen]
    assert str(raised.value) == "127.0.0.1 answered 500: the tool broke"
    assert methods == ["initialize", "notifications/initialized", "tools/list", "tools/call"]


def test_a_server_that_keeps_no_session_is_begun_once(fake):
    def answer(seen):  # a stateless server: no Mcp-Session-Id, and a 404 for a session never begun
        message = json.loads(seen.body)
        if message["method"] == "notifications/initialized":
            return Answer(202, {}, b"")
        if message["method"] == "tools/call":
            return Answer.json({"error": "gone"}, 404)
        return Answer.json(reply(message, {"tools": [{"name": "ping", "inputSchema": {}}]}))

    server = fake({"POST /mcp": answer})
    [ping] = llm_hf_inference.HFMcp(url=server.url + "/mcp").tools()
    with pytest.raises(llm.ModelError, match="^127.0.0.1 answered 404: gone"):
        call(ping)
    methods = [json.loads(seen.body)["method"] for seen in server.seen]
    assert methods == ["initialize", "notifications/initialized", "tools/list", "tools/call"]
    versions = [seen.headers.get("MCP-Protocol-Version") for seen in server.seen]
    assert versions == [None, "2025-06-18", "2025-06-18", "2025-06-18"]
    assert not any("Mcp-Session-Id" in seen.headers for seen in server.seen)


@pytest.mark.parametrize("path", ["/gradio_api/mcp/sse", "/gradio_api/mcp/sse/"])
def test_a_gradio_apps_sse_address_is_asked_at_its_streamable_http_one(fake, path):
    def answer(seen):  # a Gradio app: Streamable HTTP at /gradio_api/mcp/, its SSE address beside it
        message = json.loads(seen.body)
        if message["method"] == "notifications/initialized":
            return Answer(202, {}, b"")
        return Answer.json(reply(message, {"tools": [{"name": "draw", "inputSchema": {}}]}))

    server = fake({"POST /gradio_api/mcp/": answer})
    other = "https://a-b.hf.space/gradio_api/mcp/sse/x"  # not the SSE address itself: as given
    assert llm_hf_inference.HFMcp(url=other).url == other
    toolbox = llm_hf_inference.HFMcp(url=server.url + path)
    assert [tool.name for tool in toolbox.tools()] == ["HFMcp_mcp_draw"]
    assert {seen.path for seen in server.seen} == {"/gradio_api/mcp/"}
    assert toolbox.url == server.url + "/gradio_api/mcp/"


def test_a_spaces_links_to_its_files_go_to_the_replica_that_made_them(fake):
    place = []  # the Space's host and port, known once it listens

    def answer(seen):  # a Space's proxy says which replica answered: its files are there alone
        message = json.loads(seen.body)
        if message["method"] == "notifications/initialized":
            return Answer(202, {}, b"")
        if message["method"] == "tools/list":
            return Answer.json(reply(message, {"tools": [{"name": "draw", "inputSchema": {}}]}))
        text = (
            f"https://{place[0]}/gradio_api/file=/tmp/fox.png and https://{place[0]}/gradio_api/file=/tmp/b"
        )
        content = [
            {"type": "text", "text": text},
            {"type": "resource_link", "name": "fox", "uri": f"https://{place[0]}/gradio_api/file=/tmp/c"},
            {"type": "text", "text": "https://other.hf.space/gradio_api/file=/tmp/d"},  # another host: as is
        ]
        headers = {"X-Proxied-Replica": "oyerizs4-dspr4", "Content-Type": "application/json"}
        return Answer(200, headers, json.dumps(reply(message, {"content": content})).encode())

    server = fake({"POST /gradio_api/mcp/": answer})
    place.append(server.url.removeprefix("http://"))
    [draw] = llm_hf_inference.HFMcp(url=server.url + "/gradio_api/mcp/").tools()
    pinned = f"https://{place[0]}/--replicas/dspr4/gradio_api/file=/tmp"
    assert call(draw) == (
        f"{pinned}/fox.png and {pinned}/b\nfox: {pinned}/c\nhttps://other.hf.space/gradio_api/file=/tmp/d"
    )


@pytest.mark.parametrize(
    "header, replica",
    [
        ("a-b-" + "Z9" * 32, "Z9" * 32),  # its last part, of 64 letters and digits at most
        *((header, None) for header in [None, "", "dspr4", "oyerizs4-", "oyerizs4-a/b", "x-" + "a" * 65]),
    ],
)
def test_the_replica_is_the_headers_last_part_else_the_links_are_left_as_they_are(header, replica):
    result = {"content": [{"type": "text", "text": "https://a.hf.space/gradio_api/file=x"}]}
    pinned = llm_hf_inference.pinned_to_replica(result, "a.hf.space", header)
    path = f"/--replicas/{replica}/gradio_api" if replica else "/gradio_api"
    assert pinned == {"content": [{"type": "text", "text": f"https://a.hf.space{path}/file=x"}]}


def reply(message, result):
    return {"jsonrpc": "2.0", "id": message.get("id"), "result": result}


# -- the token, by host


@pytest.mark.parametrize(
    "url, send_token, key",
    [
        ("https://huggingface.co/mcp", False, "hf_token0000"),
        ("https://hf.co/mcp", False, "hf_token0000"),  # asked at huggingface.co
        ("https://hf.co.example.com/mcp", False, None),
        ("http://huggingface.co/mcp", False, None),  # not over HTTPS
        ("https://alice-draw.hf.space/gradio_api/mcp/", False, None),
        ("http://127.0.0.1:8000/mcp", False, "llm-hf-key"),
        ("https://mcp.example.com/mcp", False, None),
    ],
)
def test_the_token_goes_to_hugging_face_and_to_a_space_only_when_asked(url, send_token, key, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "hf_token0000")
    monkeypatch.setenv("LLM_HF_KEY", "llm-hf-key")
    toolbox = llm_hf_inference.HFMcp(url=url, send_token=send_token)
    assert toolbox.headers == ({"Authorization": f"Bearer {key}"} if key else {})


def test_a_local_server_without_a_stand_in_key_gets_none_and_no_word_about_it(monkeypatch, capsys):
    monkeypatch.delenv("LLM_HF_KEY", raising=False)
    assert llm_hf_inference.HFMcp(url="http://127.0.0.1:7860/gradio_api/mcp/").headers == {}
    assert capsys.readouterr().err == ""


def test_a_space_gets_the_token_where_its_proxy_reads_it_and_a_header_given_wins(monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "hf_token0000")
    space = "https://alice-draw.hf.space/gradio_api/mcp/"
    token = "Bearer hf_token0000"
    assert llm_hf_inference.HFMcp(url=space, send_token=True).headers == {
        "Authorization": token,
        "X-HF-Authorization": token,  # what Hugging Face's MCP server sends a Space
    }
    upper = llm_hf_inference.HFMcp(url="HTTPS://alice-draw.hf.space/gradio_api/mcp/", send_token=True)
    assert upper.headers == {"Authorization": token, "X-HF-Authorization": token}  # a scheme in capitals
    own = llm_hf_inference.HFMcp(url=space, send_token=True, headers={"authorization": "Bearer app"})
    assert own.headers == {"X-HF-Authorization": token, "authorization": "Bearer app"}  # never two
    hub = llm_hf_inference.HFMcp(headers={"AUTHORIZATION": "Bearer other"})
    assert hub.headers == {"AUTHORIZATION": "Bearer other"}


def test_send_token_elsewhere_is_refused_and_headers_go_as_given(monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "hf_token0000")
    with pytest.raises(llm.ModelError) as raised:
        llm_hf_inference.HFMcp(url="https://mcp.example.com/mcp", send_token=True)
    assert str(raised.value) == (
        "send_token=True is for Spaces (https://….hf.space); other servers take key_name= or headers={...}"
    )
    given = llm_hf_inference.HFMcp(url="https://mcp.example.com/mcp", headers={"X-Key": "k"})
    assert given.headers == {"X-Key": "k"}


@pytest.mark.parametrize(
    "given, said",
    [
        ({"url": "ftp://x/mcp"}, "HFMcp(url=...) takes an http(s) URL, not ftp://x/mcp"),
        ({"tools": "add"}, 'HFMcp(tools=...) takes a list of tool names: tools=["hub_repo_details"]'),
        ({"headers": {"X": "a\nb"}}, 'HFMcp(headers=...) takes names and values: headers={"Authorization":'),
        ({"timeout": 0}, "HFMcp(timeout=...) takes seconds, more than 0 and at most 86400"),
        ({"key_name": ""}, "HFMcp(key_name=...) takes the name of a key stored with 'llm keys set NAME'"),
        ({"key_name": 5}, "HFMcp(key_name=...) takes the name of a key stored with 'llm keys set NAME'"),
    ],
)
def test_what_hfmcp_cannot_take_is_one_line(given, said):
    with pytest.raises(llm.ModelError) as raised:
        llm_hf_inference.HFMcp(**{"url": "http://127.0.0.1:9/mcp", **given})
    assert str(raised.value).startswith(said)


@pytest.mark.parametrize(
    "given, asked",
    [
        ("https://hf.co/mcp", "https://huggingface.co/mcp"),
        ("HTTPS://HF.CO/mcp?login", "https://huggingface.co/mcp?login"),
        ("https://hf.co", "https://huggingface.co"),
        ("https://hf.co:443/mcp", "https://huggingface.co:443/mcp"),
        ("https://hf.co.example.com/mcp", "https://hf.co.example.com/mcp"),
        ("http://hf.co/mcp", "http://hf.co/mcp"),  # not over HTTPS: no token, as for http://huggingface.co
    ],
)
def test_hf_co_hugging_faces_short_name_is_asked_as_huggingface_co(given, asked):
    assert llm_hf_inference.HFMcp(url=given).url == asked


def test_the_default_server_is_hugging_faces_following_hf_endpoint(monkeypatch):
    monkeypatch.setenv("HF_ENDPOINT", "https://hub.example.org")
    assert llm_hf_inference.HFMcp().url == "https://hub.example.org/mcp"


# -- through llm


def test_llm_tools_list_names_hfmcp_without_connecting_and_lists_a_servers_tools(peer, sent):
    listed = invoke("tools", "list")
    assert "HFMcp" in listed.stdout and sent == []
    listed = invoke("tools", "list", f'HFMcp(url="{peer.url}", tools=["add"])')
    assert "HFMcp_mcp_add(**arguments)" in listed.stdout and "Add two numbers." in listed.stdout


def talk(router, *replies):
    """A router whose chat model answers ``replies`` in turn: text, or (tool name, its arguments)."""

    def message(reply):
        if type(reply) is str:
            return {"message": {"role": "assistant", "content": reply}, "finish_reason": "stop"}
        call = {"id": "call_1", "type": "function", "function": {"name": reply[0], "arguments": reply[1]}}
        return {"message": {"role": "assistant", "tool_calls": [call]}, "finish_reason": "tool_calls"}

    answers = iter([Answer.json({"choices": [message(reply)]}) for reply in replies])
    return router({"POST /v1/chat/completions": lambda seen: next(answers)})


def tools_sent(server) -> list:
    return [
        [tool["function"]["name"] for tool in json.loads(seen.body).get("tools", [])] for seen in server.seen
    ]


def test_a_chat_model_calls_a_tool_and_sees_the_image_it_drew(peer, router):
    server = talk(router, ("HFMcp_mcp_draw", '{"subject": "a fox"}'), "A fox.")
    result = invoke("-m", "hf-gemma4", "--no-stream", "-T", f'HFMcp(url="{peer.url}")', "draw a fox")
    assert (result.exit_code, result.stdout) == (0, "A fox.\n")
    first, second = (json.loads(seen.body) for seen in server.seen)
    assert [tool["function"]["name"] for tool in first["tools"]] == NAMES
    assert second["messages"][-2]["role"] == "tool"
    image = second["messages"][-1]["content"][-1]
    assert image["image_url"]["url"].startswith("data:image/png;base64,")
    assert server.seen[0].headers["Authorization"] == f"Bearer {TEST_TOKEN}"


def test_an_async_chain_calls_the_tool_too(peer, router):
    server = talk(router, ("HFMcp_mcp_add", '{"a": 20, "b": 22}'), "42.")

    async def go():
        model = llm.get_async_model("hf-llama3.1")
        chain = model.chain("add them", tools=[llm_hf_inference.HFMcp(url=peer.url, tools=["add"])])
        return await chain.text()

    assert asyncio.run(go()) == "42."
    second = json.loads(server.seen[1].body)
    assert second["messages"][-1] == {"role": "tool", "tool_call_id": "call_1", "content": "42"}


def test_a_conversation_continued_with_c_has_the_servers_tools_again(peer, router):
    server = talk(router, "Hi.", ("HFMcp_mcp_add", '{"a": 20, "b": 22}'), "42.")
    first = invoke("-m", "hf-llama3.1", "--no-stream", "-T", f'HFMcp(url="{peer.url}", tools=["add"])', "hi")
    second = invoke("-c", "--no-stream", "Add 20 and 22.")
    assert (first.stdout, second.stdout) == ("Hi.\n", "42.\n")
    assert tools_sent(server) == [["HFMcp_mcp_add"]] * 3
    assert json.loads(server.seen[2].body)["messages"][-1] == {
        "role": "tool",
        "tool_call_id": "call_1",
        "content": "42",
    }


def test_headers_never_reach_llms_logs_so_c_asks_for_them_again(peer, router):
    server = talk(router, "Hi.", "Again.")
    toolbox = f'HFMcp(url="{peer.url}", tools=["add"], headers={{"X-Key": "s3cret-value"}})'
    assert invoke("-m", "hf-llama3.1", "--no-stream", "-T", toolbox, "hi").stdout == "Hi.\n"
    assert b"s3cret-value" not in (llm.user_dir() / "logs.db").read_bytes()
    again = invoke("-c", "--no-stream", "hi again")
    assert (again.exit_code, again.stderr) == (
        1,
        "Error: HFMcp's headers= are not kept in llm's logs: give them with -T again (or key_name=)\n",
    )
    assert invoke("-c", "--no-stream", "-T", toolbox, "hi again").stdout == "Again.\n"
    assert tools_sent(server) == [["HFMcp_mcp_add"]] * 2


def test_key_name_sends_a_stored_key_and_is_kept_for_c(peer, router, sent):
    (llm.user_dir() / "keys.json").write_text(json.dumps({"peer": "peer-key"}))
    talk(router, "Hi.", "Again.")
    toolbox = f'HFMcp(url="{peer.url}", tools=["add"], key_name="peer")'
    assert invoke("-m", "hf-llama3.1", "--no-stream", "-T", toolbox, "hi").stdout == "Hi.\n"
    assert invoke("-c", "--no-stream", "hi again").stdout == "Again.\n"
    to_peer = [s.headers.get("authorization") for s in sent if s.url == peer.url]
    assert to_peer == ["Bearer peer-key"] * 10  # the handshake (2) and three pages of tools, twice
    assert b"peer-key" not in (llm.user_dir() / "logs.db").read_bytes()


@pytest.mark.parametrize(
    "given, headers",
    [
        ({"send_token": True}, {"Authorization": "hf_token0000", "X-HF-Authorization": "hf_token0000"}),
        ({"key_name": "space"}, {"Authorization": "space-key"}),  # another key than ours: Authorization alone
        ({"key_name": "huggingface"}, {"Authorization": "hf_token0000"}),  # the token, as that server's key
        (  # the Space's own key, and the token where its proxy reads it (ZeroGPU bills through it)
            {"key_name": "space", "send_token": True},
            {"Authorization": "space-key", "X-HF-Authorization": "hf_token0000"},
        ),
    ],
)
def test_a_key_named_goes_in_authorization_and_the_token_where_a_spaces_proxy_reads_it(
    given, headers, monkeypatch
):
    monkeypatch.setenv("HF_TOKEN", "hf_token0000")
    (llm.user_dir() / "keys.json").write_text(json.dumps({"space": "space-key"}))
    box = llm_hf_inference.HFMcp(url="https://alice-draw.hf.space/gradio_api/mcp/", **given)
    assert box.headers == {name: f"Bearer {value}" for name, value in headers.items()}


def test_key_name_of_no_stored_key_is_one_line():
    with pytest.raises(llm.ModelError) as raised:
        llm_hf_inference.HFMcp(url="https://mcp.example.com/mcp", key_name="nowhere")
    assert str(raised.value) == "No key found: 'llm keys set nowhere'"


def test_a_prompt_whose_server_cannot_be_reached_fails_in_one_line(monkeypatch, router):
    server = router({})
    monkeypatch.setattr(llm_hf_inference, "sleep", lambda seconds: None)
    result = invoke("-m", "hf-llama3.1", "-T", 'HFMcp(url="http://127.0.0.1:9/mcp")', "hi")
    assert result.exit_code == 1 and result.stderr.count("Error: ") == 1  # after the retries' lines
    assert result.stderr.splitlines()[-1].startswith("Error: Could not connect to 127.0.0.1")
    assert server.seen == []  # nothing asked of the model


@pytest.mark.parametrize(
    "url, prefix",
    [
        ("https://huggingface.co/mcp", "hf"),
        ("https://alice-draw.hf.space/gradio_api/mcp/", "alice-draw"),
        ("https://mcp.example.com/mcp", "example"),  # not mcp: whose server it is
        ("https://mcp.linear.app/mcp", "linear"),
        ("https://api.githubcopilot.com/mcp/", "githubcopilot"),
        ("https://www.example.com/mcp", "example"),
        ("http://mcp:8000/mcp", "mcp"),  # a host of one name (a container's)
        ("https://tools.example.com/mcp", "tools"),
        ("http://127.0.0.1:8000/mcp", "mcp"),
        ("http://[fe80::a]:8000/mcp", "mcp"),  # an address, even ending in a letter
        ("http://localhost:8000/mcp", "localhost"),
    ],
)
def test_a_servers_tools_are_named_after_it(url, prefix):
    assert llm_hf_inference.mcp_prefix(url) == prefix


def test_two_servers_never_name_their_tools_alike_in_one_process():
    urls = ["http://127.0.0.1:1/mcp", "http://127.0.0.1:2/mcp", "http://[::1]:3/mcp", "https://x.example.com"]
    assert [llm_hf_inference.mcp_prefix(url) for url in [*urls, urls[0]]] == [
        "mcp",
        "mcp2",
        "mcp3",
        "x",
        "mcp",
    ]


def test_tool_names_every_provider_takes_unique_and_at_most_64_characters():
    class Listed:
        def request(self, method, params):
            names = ["a.b", "a_b", "a b", "x" * 80, "", None]
            return {"tools": [{"name": name, "description": 7} for name in names]}

    found = llm_hf_inference.mcp_tools(Listed(), "srv")
    assert [(ours, name, description) for ours, name, description, _ in found] == [
        ("srv_a_b", "a.b", None),
        ("srv_a_b1", "a_b", None),
        ("srv_a_b2", "a b", None),
        ("srv_" + "x" * 56, "x" * 80, None),
    ]


def test_a_servers_tool_descriptions_and_names_lose_what_a_terminal_obeys(monkeypatch):
    class Listed:
        def request(self, method, params):
            return {
                "tools": [{"name": "a\x1b[2J", "description": "Looks \x1b]0;owned\x07 fine\nsecond line"}]
            }

    found = llm_hf_inference.mcp_tools(Listed(), "srv")
    assert [(ours, description) for ours, _, description, _ in found] == [
        ("srv_a__2J", "Looks  ]0;owned  fine\nsecond line")
    ]
    monkeypatch.setattr(llm_hf_inference, "MCPSession", lambda *given: Listed())
    with pytest.raises(llm.ModelError) as raised:
        list(llm_hf_inference.HFMcp(url="http://127.0.0.1:9/mcp", tools=["b"]).tools())
    assert str(raised.value) == "127.0.0.1 has no tool b; its tools: a [2J"


@pytest.mark.parametrize(
    "body, said",
    [
        (
            b'{"jsonrpc": "2.0", "id": 99, "result": {}}',
            '{"jsonrpc": "2.0", "id": 99, "result": {}}',
        ),  # not ours
        (b"<html>Sign in</html>", "<html>Sign in</html>"),
        (b'{"jsonrpc": "2.0", "id": 1, "result": "yes"}', '{"jsonrpc": "2.0", "id": 1, "result": "yes"}'),
    ],
)
def test_an_answer_that_is_not_mcp_is_one_line(fake, body, said):
    server = fake({"POST /mcp": lambda seen: Answer(200, {"Content-Type": "application/json"}, body)})
    with pytest.raises(llm.ModelError) as raised:
        list(llm_hf_inference.HFMcp(url=server.url + "/mcp").tools())
    assert str(raised.value) == f"127.0.0.1 answered initialize with something that is not MCP: {said}"


@pytest.mark.parametrize(
    "result, said",
    [
        (
            {"content": [{"type": "image", "data": "not base64!", "mimeType": "image/png"}]},
            "(image data that is not base64)",
        ),
        (
            {"content": [{"type": "resource", "resource": {"uri": "x:", "blob": "%%"}}]},
            "(resource data that is not base64)",
        ),
        (
            {"content": [], "structuredContent": {"rows": [1, 2]}},
            '{"rows": [1, 2]}',
        ),  # no text: the structure
        (
            {"content": [{"type": "text", "text": "two rows"}], "structuredContent": {"rows": [1, 2]}},
            "two rows",
        ),
    ],
)
def test_a_tools_answer_without_usable_content_still_says_something(result, said):
    assert llm_hf_inference.mcp_output(result) == said


def test_a_tools_text_keeps_its_lines_and_loses_what_a_terminal_obeys():
    result = {
        "content": [{"type": "text", "text": "a\x1b]0;owned\x07b\r\nc\u2028d"}, {"type": "text", "text": "e"}]
    }
    assert llm_hf_inference.mcp_output(result) == "a ]0;owned b \nc d\ne"


def test_a_call_given_up_says_it_was_sent_and_may_still_run(peer, capsys):
    nap = tools(peer)["HFMcp_mcp_nap"]

    async def given_up():
        task = asyncio.ensure_future(nap.implementation(seconds=1))
        await asyncio.sleep(0.3)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(given_up())
    said = capsys.readouterr().err.splitlines()  # after the line on the token, when it is the first call
    assert said[-1] == "llm-hf-inference: stopped; nap was sent to 127.0.0.1 and may still run"


def test_a_call_given_up_before_its_thread_began_is_not_sent_nor_said_to_be(peer, sent, capsys, monkeypatch):
    nap = tools(peer)["HFMcp_mcp_nap"]
    capsys.readouterr()
    queued = []

    async def busy(function, *args):  # every worker busy: the call's thread begins after it was given up
        queued.append((function, args))
        raise asyncio.CancelledError

    monkeypatch.setattr(asyncio, "to_thread", busy)
    listed = len(sent)
    with pytest.raises(asyncio.CancelledError):
        call(nap, seconds=2)
    [(function, args)] = queued
    with pytest.raises(llm_hf_inference.Stopped):
        function(*args)  # its thread, at last
    assert capsys.readouterr().err == "" and len(sent) == listed
