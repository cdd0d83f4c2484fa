"""The plugin against the floor — a bare httpx2 loop — and its peers, on a local stand-in for the router.

    pip install -e . huggingface_hub && python benchmarks/run.py [--repeats 7]

Every figure is a ratio measured in the same run, the contenders interleaved, the median of
the repeats: absolute times on a shared machine mean little. The stand-in router runs in its
own process on 127.0.0.1 and writes pre-built bodies in one go, so it is never the bottleneck.
"""

import argparse
import asyncio
import contextlib
import gc
import json
import os
import pathlib
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

CHUNK = {
    "id": "91158e6ad8a0ef60",
    "object": "chat.completion.chunk",
    "created": 1739457445,
    "model": "meta-llama/Meta-Llama-3-8B-Instruct-Turbo",
    "choices": [{"index": 0, "delta": {"role": "assistant", "content": " token"}, "finish_reason": None}],
    "usage": None,
}


def sse_body(n: int) -> bytes:
    line = b"data: " + json.dumps(CHUNK).encode() + b"\n\n"
    last = dict(
        CHUNK,
        choices=[{"index": 0, "delta": {}, "finish_reason": "stop"}],
        usage={"prompt_tokens": 5, "completion_tokens": n, "total_tokens": n + 5},
    )
    return line * n + b"data: " + json.dumps(last).encode() + b"\n\ndata: [DONE]\n\n"


def json_body(n: int) -> bytes:
    return json.dumps(
        {
            "id": "x",
            "object": "chat.completion",
            "created": 1739457445,
            "model": CHUNK["model"],
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": " token" * n},
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 5, "completion_tokens": n, "total_tokens": n + 5},
        }
    ).encode()


def catalog_body(count: int) -> bytes:
    provider = {
        "provider": "together",
        "status": "live",
        "context_length": 131072,
        "pricing": {"input": 0.2, "output": 0.2},
        "supports_tools": True,
        "supports_structured_output": True,
        "is_model_author": False,
    }
    return json.dumps(
        {
            "object": "list",
            "data": [
                {
                    "id": f"org-{i}/Model-{i}-Instruct",
                    "object": "model",
                    "architecture": {"input_modalities": ["text"]},
                    "providers": [provider, dict(provider, provider="novita")],
                }
                for i in range(count)
            ],
        }
    ).encode()


class Router(BaseHTTPRequestHandler):
    """The stand-in: chat completions of ``max_tokens`` chunks, streamed or not, and /v1/models."""

    protocol_version = "HTTP/1.1"
    bodies: dict = {}

    def do_POST(self):
        request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        key = (request.get("max_tokens") or 1, bool(request.get("stream")))
        if key not in self.bodies:
            self.bodies[key] = sse_body(key[0]) if key[1] else json_body(key[0])
        self._send(self.bodies[key], "text/event-stream" if key[1] else "application/json")

    def do_GET(self):
        self._send(self.bodies.setdefault("models", catalog_body(200)), "application/json")

    def _send(self, body: bytes, content_type: str):
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class Server(ThreadingHTTPServer):
    request_queue_size = 512  # a hundred clients connect at once
    daemon_threads = True


def serve(handler=Router):
    """Serve ``handler`` on a free port of 127.0.0.1, printing the port first (see ``stand_in``)."""
    server = Server(("127.0.0.1", 0), handler)
    print(server.server_address[1], flush=True)
    server.serve_forever()


# ------------------------------------------------------------------ contenders


def timed(fn) -> float:
    gc.collect()
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def interleaved(contenders: dict, repeats: int) -> dict:
    """Median seconds of each contender, run in turn, ``repeats`` times."""
    times: dict = {name: [] for name in contenders}
    for _ in range(repeats):
        for name, fn in contenders.items():
            times[name].append(timed(fn))
    return {name: statistics.median(values) for name, values in times.items()}


class Bench:
    def __init__(self, base: str, user_dir: pathlib.Path):
        import httpx2
        import llm

        self.base, self.url = base, base + "/chat/completions"
        self.floor = httpx2.Client()
        self.model = llm.get_model("hf-llama3.1")
        self.async_model = llm.get_async_model("hf-llama3.1")
        (user_dir / "extra-openai-models.yaml").write_text(
            f"- model_id: bench-openai\n  model_name: bench\n  api_base: {base}\n  api_key: unused\n"
        )
        self.openai_model = llm.get_model("bench-openai")

    def floor_stream(self, n: int) -> str:
        parts = []
        with self.floor.stream(
            "POST", self.url, json={"model": "m", "messages": [], "stream": True, "max_tokens": n}
        ) as r:
            for line in r.iter_lines():
                if line.startswith("data: ") and line != "data: [DONE]":
                    choices = json.loads(line[6:])["choices"]
                    if choices and choices[0]["delta"].get("content"):
                        parts.append(choices[0]["delta"]["content"])
        return "".join(parts)

    def floor_json(self, n: int) -> str:
        answer = self.floor.post(
            self.url, json={"model": "m", "messages": [], "stream": False, "max_tokens": n}
        )
        return answer.json()["choices"][0]["message"]["content"]

    def plugin(self, n: int, stream: bool = True) -> str:
        return "".join(self.model.prompt("hi", max_tokens=n, stream=stream, key="hf_bench"))

    def openai(self, n: int) -> str:
        return "".join(self.openai_model.prompt("hi", max_tokens=n))

    def hub(self, n: int) -> str:
        from huggingface_hub import InferenceClient

        client = InferenceClient(base_url=self.base, api_key="hf_bench")
        return "".join(
            chunk.choices[0].delta.content or ""
            for chunk in client.chat_completion(
                [{"role": "user", "content": "hi"}], max_tokens=n, stream=True
            )
            if chunk.choices
        )

    def first_token_floor(self) -> str:
        with self.floor.stream(
            "POST", self.url, json={"model": "m", "messages": [], "stream": True, "max_tokens": 1}
        ) as r:
            for line in r.iter_lines():
                if line.startswith("data: "):
                    return json.loads(line[6:])["choices"][0]["delta"]["content"]

    def first_token_plugin(self) -> str:
        response = self.model.prompt("hi", max_tokens=1, key="hf_bench")
        return next(iter(response))

    async def concurrent_floor(self, prompts: int, n: int) -> int:
        import httpx2

        async with httpx2.AsyncClient(limits=httpx2.Limits(max_connections=prompts)) as client:

            async def one():
                async with client.stream(
                    "POST", self.url, json={"model": "m", "messages": [], "stream": True, "max_tokens": n}
                ) as r:
                    parts = []
                    async for line in r.aiter_lines():
                        if line.startswith("data: ") and line != "data: [DONE]":
                            choices = json.loads(line[6:])["choices"]
                            if choices and choices[0]["delta"].get("content"):
                                parts.append(choices[0]["delta"]["content"])
                    return "".join(parts)

            return len(await asyncio.gather(*(one() for _ in range(prompts))))

    async def concurrent_plugin(self, prompts: int, n: int) -> int:
        async def one():
            return await self.async_model.prompt("hi", max_tokens=n, key="hf_bench").text()

        return len(await asyncio.gather(*(one() for _ in range(prompts))))

    def pools_for(self, prompts: int) -> int:
        """How many httpx2.AsyncClient pools the plugin opens for ``prompts`` concurrent prompts."""
        import httpx2

        opened = []
        original = httpx2.AsyncClient.__init__

        def counting(client, *args, **kwargs):
            opened.append(client)
            original(client, *args, **kwargs)

        httpx2.AsyncClient.__init__ = counting
        try:
            asyncio.run(self.concurrent_plugin(prompts, 20))
        finally:
            httpx2.AsyncClient.__init__ = original
        return len(opened)

    def memory_over_text(self, n: int) -> float:
        """Peak traced memory of an n-chunk stream through the plugin, less the text it holds, in MB."""
        gc.collect()
        tracemalloc.start()
        text = self.plugin(n)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        return (
            peak - 2 * sys.getsizeof(text)
        ) / 1e6  # the text is held twice: llm's chunks, the joined string


def instructions(command: list, env: dict) -> int:
    """Instructions a command executes, counted by valgrind's callgrind: the same on a busy machine."""
    with tempfile.TemporaryDirectory() as scratch:
        run = subprocess.run(
            ["valgrind", "--tool=callgrind", f"--callgrind-out-file={scratch}/out", *command],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
    return int(re.search(r"Collected : (\d+)", run.stderr).group(1))


def write_catalog(user_dir: pathlib.Path, count: int) -> None:
    """A ``count``-model catalog cached in ``user_dir`` as 'llm hf refresh' leaves it."""
    import llm_hf_inference

    before = os.environ.get("LLM_USER_PATH")
    os.environ["LLM_USER_PATH"] = str(user_dir)
    try:
        llm_hf_inference.store_catalog(catalog_body(count))
    finally:
        if before is None:
            del os.environ["LLM_USER_PATH"]
        else:
            os.environ["LLM_USER_PATH"] = before


def startup(user_dir: pathlib.Path, repeats: int) -> list:
    """`llm --help` and `llm models`: the plugin, and the plugin with a 200-model catalog, vs no plugins.

    Wall time here varies by ±15% from run to run, far more than the 2% the target allows, so with
    valgrind installed this counts instructions (repeatable); without it, median CPU time of the runs.
    """
    import py_compile

    import llm_hf_inference

    py_compile.compile(
        llm_hf_inference.__file__
    )  # as pip does on install (an editable install may not have it)
    llm_cli = [sys.executable, "-m", "llm"]
    empty, with_catalog = user_dir / "empty", user_dir / "catalog"
    empty.mkdir(exist_ok=True)
    with_catalog.mkdir(exist_ok=True)
    write_catalog(with_catalog, 200)
    configs = {
        "no plugins": dict(os.environ, LLM_LOAD_PLUGINS="", LLM_USER_PATH=str(empty)),
        "plugin": dict(os.environ, LLM_LOAD_PLUGINS="llm-hf-inference", LLM_USER_PATH=str(empty)),
        "catalog": dict(os.environ, LLM_LOAD_PLUGINS="llm-hf-inference", LLM_USER_PATH=str(with_catalog)),
    }
    counted = shutil.which("valgrind") is not None
    unit = "instructions" if counted else "CPU time"
    rows = []
    for command in (["--help"], ["models"]):
        if counted:
            cost = {name: instructions(llm_cli + command, env) for name, env in configs.items()}
        else:
            cost = {name: [] for name in configs}
            for _ in range(repeats):
                for name, env in configs.items():
                    before = resource.getrusage(resource.RUSAGE_CHILDREN)
                    subprocess.run(llm_cli + command, env=env, capture_output=True, check=True)
                    after = resource.getrusage(resource.RUSAGE_CHILDREN)
                    cost[name].append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
            cost = {name: statistics.median(values) for name, values in cost.items()}
        label = "llm " + " ".join(command)
        rows.append(
            at_most(f"start-up: {label} ({unit} vs no plugins)", cost["plugin"] / cost["no plugins"], 1.02)
        )
        rows.append(
            at_most(f"start-up: {label}, 200-model catalog", cost["catalog"] / cost["no plugins"], 1.02)
        )
    return rows


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--chunks", type=int, default=20_000)
    args = options(parser)

    with stand_in(__file__) as base:
        user_dir = pathlib.Path(tempfile.mkdtemp())
        os.environ.update(LLM_USER_PATH=str(user_dir), LLM_HF_BASE_URL=base)
        bench = Bench(base, user_dir)
        print_rows(run_all(bench, args, user_dir))


def options(parser: argparse.ArgumentParser, handler=None) -> argparse.Namespace:
    """The command line's options; with --serve (how ``stand_in`` starts the script), it serves ``handler``
    on 127.0.0.1 until it is stopped instead."""
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(handler or Router)
    return args


@contextlib.contextmanager
def stand_in(script: str):
    """``script --serve`` in a process of its own, printing its port: the stand-in's /v1 base URL."""
    server = subprocess.Popen([sys.executable, script, "--serve"], stdout=subprocess.PIPE, text=True)
    try:
        yield f"http://127.0.0.1:{server.stdout.readline().strip()}/v1"
    finally:
        server.terminate()


def command_env(scratch: pathlib.Path, base: str) -> dict:
    """The environment of an llm command against the stand-in: its own user directory, a test key."""
    return dict(os.environ, LLM_USER_PATH=str(scratch / "user"), LLM_HF_BASE_URL=base, LLM_HF_KEY="hf_bench")


def at_most(name: str, value: float, limit: float) -> tuple:
    """A figure's row: its name, value, target and the test of it."""
    return name, value, f"<= {limit:g}", lambda r: r <= limit


def at_least(name: str, value: float, limit: float) -> tuple:
    return name, value, f">= {limit:g}", lambda r: r >= limit


def print_rows(rows: list) -> None:
    """The figures as a table: name, value, target and whether it is met."""
    width = max(len(name) for name, *_ in rows)
    print(f"{'figure':<{width}} {'value':>8}  {'target':<10} result")
    for name, value, target, ok in rows:
        print(f"{name:<{width}} {value:>8.3f}  {target:<10} {'pass' if ok(value) else 'short'}")


def run_all(bench: Bench, args, user_dir: pathlib.Path):
    n, repeats = args.chunks, args.repeats
    expected = " token" * n
    assert (
        bench.floor_stream(n) == bench.plugin(n) == bench.openai(n) == bench.hub(n) == expected
    )  # and warm up
    assert bench.floor_json(n) == bench.plugin(n, stream=False) == expected

    rows = startup(user_dir, repeats)
    t = interleaved(
        {
            "floor": lambda: bench.floor_stream(n),
            "plugin": lambda: bench.plugin(n),
            "openai": lambda: bench.openai(n),
            "hub": lambda: bench.hub(n),
        },
        repeats,
    )
    rows.append(
        at_least(f"streaming decode, {n:,} chunks: plugin (vs floor)", t["floor"] / t["plugin"], 0.85)
    )
    rows.append(
        (
            "  peer: llm's OpenAI-compatible client (vs floor)",
            t["floor"] / t["openai"],
            "< plugin",
            lambda r: r < t["floor"] / t["plugin"],
        )
    )
    rows.append(
        (
            "  peer: huggingface_hub InferenceClient (vs floor)",
            t["floor"] / t["hub"],
            "< plugin",
            lambda r: r < t["floor"] / t["plugin"],
        )
    )

    ttft = interleaved({"floor": bench.first_token_floor, "plugin": bench.first_token_plugin}, repeats * 10)
    rows.append(
        at_most("time to first token: extra over floor (ms)", (ttft["plugin"] - ttft["floor"]) * 1000, 1)
    )

    rows.append(
        at_most("memory, 100,000-chunk stream, over the text (MB)", bench.memory_over_text(100_000), 2)
    )

    prompts = 100
    t = interleaved(
        {
            "floor": lambda: asyncio.run(bench.concurrent_floor(prompts, 200)),
            "plugin": lambda: asyncio.run(bench.concurrent_plugin(prompts, 200)),
        },
        repeats,
    )
    rows.append(at_least(f"concurrency: {prompts} async prompts (vs floor)", t["floor"] / t["plugin"], 0.8))
    pools = bench.pools_for(prompts)
    rows.append((f"  connection pools the plugin used for the {prompts}", pools, "1", lambda r: r == 1))

    t = interleaved(
        {"floor": lambda: bench.floor_json(n), "plugin": lambda: bench.plugin(n, stream=False)}, repeats * 3
    )
    rows.append(at_least(f"non-streaming, {n:,}-token JSON answer (vs floor)", t["floor"] / t["plugin"], 0.9))

    return rows


if __name__ == "__main__":
    main()
