"""Plugin vs a bare httpx2 loop, against a local stand-in for the router.

    python benchmarks/run.py [--repeats 5]

Every figure is a ratio measured in the same run, the contenders interleaved,
the median of the repeats: absolute times on a shared machine mean little.
"""

import argparse
import gc
import json
import os
import statistics
import sys
import threading
import time
import tracemalloc
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx2
import llm

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
    last = dict(CHUNK, choices=[{"index": 0, "delta": {}, "finish_reason": "length"}],
                usage={"prompt_tokens": 5, "completion_tokens": n, "total_tokens": n + 5})
    return line * n + b"data: " + json.dumps(last).encode() + b"\n\ndata: [DONE]\n\n"


def json_body(n: int) -> bytes:
    return json.dumps({
        "id": "x", "object": "chat.completion", "model": CHUNK["model"],
        "choices": [{"index": 0, "message": {"role": "assistant", "content": " token" * n}, "finish_reason": "length"}],
        "usage": {"prompt_tokens": 5, "completion_tokens": n, "total_tokens": n + 5},
    }).encode()


class Router(BaseHTTPRequestHandler):
    bodies: dict = {}
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        n = request.get("max_tokens", 1)
        stream = request.get("stream")
        key = (n, stream)
        if key not in self.bodies:
            self.bodies[key] = sse_body(n) if stream else json_body(n)
        body = self.bodies[key]
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream" if stream else "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def floor_stream(url: str, n: int) -> str:
    """The floor: a bare httpx2 loop, iter_lines + json.loads + append."""
    parts = []
    with FLOOR.stream("POST", url, json={"model": "m", "messages": [], "stream": True, "max_tokens": n}) as response:
        for line in response.iter_lines():
            if line.startswith("data: ") and line != "data: [DONE]":
                choices = json.loads(line[6:])["choices"]
                if choices and choices[0]["delta"].get("content"):
                    parts.append(choices[0]["delta"]["content"])
    return "".join(parts)


def floor_json(url: str, n: int) -> str:
    response = FLOOR.post(url, json={"model": "m", "messages": [], "stream": False, "max_tokens": n})
    return response.json()["choices"][0]["message"]["content"]


def plugin(n: int, stream: bool) -> str:
    response = MODEL.prompt("hi", max_tokens=n, stream=stream, key="hf_bench")
    return "".join(response)


def first_token(stream_fn) -> float:
    start = time.perf_counter()
    next(iter(stream_fn()))
    return time.perf_counter() - start


def timed(fn) -> float:
    gc.collect()
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def interleaved(floor, ours, repeats: int) -> tuple[float, float]:
    floor_times, our_times = [], []
    for _ in range(repeats):
        floor_times.append(timed(floor))
        our_times.append(timed(ours))
    return statistics.median(floor_times), statistics.median(our_times)


def memory_over_text(n: int) -> float:
    """Peak traced memory of a streamed prompt, less the text it holds, in MB."""
    Router.bodies[(n, True)] = sse_body(n)  # the server's copy is not ours to count
    gc.collect()
    tracemalloc.start()
    text = plugin(n, True)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return (peak - sys.getsizeof(text) * 2) / 1e6  # the text: llm's chunk list and the joined string


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--chunks", type=int, default=20_000)
    args = parser.parse_args()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Router)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}/v1"
    os.environ["LLM_HF_BASE_URL"] = base
    url = base + "/chat/completions"
    global FLOOR, MODEL
    FLOOR = httpx2.Client()
    MODEL = llm.get_model("hf-llama3.1")
    n = args.chunks
    assert floor_stream(url, n) == plugin(n, True) == floor_json(url, n) == plugin(n, False)  # and warm up

    rows = []
    floor, ours = interleaved(lambda: floor_stream(url, n), lambda: plugin(n, True), args.repeats)
    rows.append((f"streaming decode, {n:,} chunks (chunks/s vs floor)", floor / ours, ">= 0.85", floor / ours >= 0.85))
    floor, ours = interleaved(lambda: floor_json(url, n), lambda: plugin(n, False), args.repeats)
    rows.append((f"non-streaming, {n:,}-token JSON answer (vs floor)", floor / ours, ">= 0.90", floor / ours >= 0.9))

    def floor_first():
        with FLOOR.stream("POST", url, json={"model": "m", "messages": [], "stream": True, "max_tokens": 1}) as r:
            for line in r.iter_lines():
                if line.startswith("data: "):
                    return json.loads(line[6:])["choices"][0]["delta"]["content"]

    def ours_first():
        return next(iter(MODEL.prompt("hi", max_tokens=1, key="hf_bench")))

    floor_ttft = statistics.median(timed(floor_first) for _ in range(50))
    our_ttft = statistics.median(timed(ours_first) for _ in range(50))
    extra_ms = (our_ttft - floor_ttft) * 1000
    rows.append(("time to first token, extra over floor (ms)", extra_ms, "<= 1 ms", extra_ms <= 1))
    mb = memory_over_text(100_000)
    rows.append(("memory, 100,000-chunk stream, over the text (MB)", mb, "<= 2 MB", mb <= 2))

    print(f"{'figure':<52} {'value':>8}  {'target':<9} result")
    for name, value, target, ok in rows:
        print(f"{name:<52} {value:>8.2f}  {target:<9} {'pass' if ok else 'short'}")
    server.shutdown()


if __name__ == "__main__":
    main()
