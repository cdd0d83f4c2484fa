import asyncio
import json
import os
import threading
from dataclasses import dataclass
from typing import Any

import httpx2
import llm
import pytest
import sqlite_utils
from click.testing import CliRunner
from llm.cli import cli

import llm_hf_inference

QUESTION = "What is deep learning?"
SYSTEM = "You are a helpful assistant."
TOGETHER_TEXT = (
    "Deep learning is a subfield of machine learning that involves the use of artificial neural networks"
)
LOCAL = pytest.mark.block_network(allowed_hosts=["127.0.0.1"])  # a test whose stand-in server is local
# Signals sent to the process, file modes and the umask, FIFOs, symlinks, or words only a POSIX system says:
# on Windows os.kill ends the process, and its errors have other words.
POSIX = pytest.mark.skipif(os.name == "nt", reason="POSIX only")
SYNC_ASYNC = pytest.mark.parametrize("use_async", [False, True], ids=["sync", "async"])


def cut(who: str) -> str:
    """What stderr says after a streamed answer that stopped at a token limit the prompt did not set (the
    recordings' max_tokens 20), on a line of its own below the text."""
    return f"\nllm-hf-inference: {who} stopped the answer at its token limit; a larger -o max_tokens lets it go on\n"


@dataclass
class Outcome:
    text: str
    usage: Any
    resolved_model: Any
    response_json: Any
    tool_calls: list
    events: list


def run(model_id, prompt=None, *, use_async=False, **kwargs):
    """One prompt through llm's public API, sync or async; everything it produced."""
    if use_async:

        async def go():
            response = llm.get_async_model(model_id).prompt(prompt, **kwargs)
            events = [event async for event in response.astream_events()]
            return response, events, await response.usage(), await response.tool_calls()

        response, events, usage, tool_calls = asyncio.run(go())
    else:
        response = llm.get_model(model_id).prompt(prompt, **kwargs)
        events = list(response.stream_events())
        usage, tool_calls = response.usage(), response.tool_calls()
    text = "".join(event.chunk for event in events if event.type == "text")
    return Outcome(text, usage, response.resolved_model, response.response_json, tool_calls, events)


def invoke(*args, input=None):
    return CliRunner().invoke(cli, list(args), input=input, catch_exceptions=False)


def logged_turns():
    """llm's log of every prompt (its ``turns`` table), oldest first."""
    db = sqlite_utils.Database(llm.user_dir() / "logs.db")
    return list(db.query("select * from turns order by id"))


def body_of(response_row):
    return json.loads(response_row["response_json"])


def in_threads(work, count: int) -> list:
    """``work(n)`` for n in range(count), each in a thread of its own, all at once; what they raised."""
    errors = []

    def run(n):
        try:
            work(n)
        except Exception as ex:  # noqa: BLE001 - the caller asserts there was none
            errors.append(ex)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors


class FakeResponse:
    def __init__(self):
        self.tool_calls, self.usage, self.resolved_model, self.response_json = [], None, None, None

    def add_tool_call(self, tool_call):
        self.tool_calls.append(tool_call)

    def set_usage(self, **usage):
        self.usage = usage

    def set_resolved_model(self, model):
        self.resolved_model = model


def reader(content_type="text/event-stream", **body):
    """An answer reader for a request with ``body`` (streamed when the answer is labelled a stream, unless
    ``stream`` says), its headers taken in (None: no content type)."""
    from llm_hf_inference import AnswerReader, ChatRequest

    body = {"stream": content_type == "text/event-stream", **body}
    request = ChatRequest("https://router.huggingface.co/v1/chat/completions", body=body)
    answer = AnswerReader(FakeResponse(), request)
    answer.start(httpx2.Headers({"content-type": content_type} if content_type else {}))
    return answer


def hf_models():
    """Our registered chat models, by id."""
    return {m.model_id: m for m in llm.get_models() if isinstance(m, llm_hf_inference.HFChat)}


def listed_options(query: str) -> str:
    """The options ``llm models --options`` lists for the one model matching ``query``."""
    listed = invoke("models", "--options", "-q", query).output
    return listed.split("  Options:\n", 1)[1].split("  Attachment types:", 1)[0].split("  Features:", 1)[0]


PROVIDER_OPTIONS_LISTED = (  # what speech and image models list first: the options every provider route takes
    "    provider: str\n"
    "      The provider to send it to ('llm hf models'); default: the model's\n"
    "      first that takes what is asked\n"
    "    bill_to: str\n"
    "      Bill this organisation instead of your account (X-HF-Bill-To; default\n"
    "      $HF_BILL_TO)\n"
    "    timeout: float\n"
    "      Seconds to wait for the next bytes (default 300); twice that in all\n"
    "    retries: int\n"
    "      Retries after a rate limit, a model loading or a connection not made\n"
    "      (default 2)\n"
)
