"""Embeddings and the registry's scale, as ratios measured in one run (see run.py for chat).

    pip install -e . && python benchmarks/embeddings.py [--repeats 5]

- Batching: 300 texts through llm's Collection (what `llm embed-multi` does) against a one-request-at-a-time
  loop of 32-text batches (huggingface_hub's feature_extraction pattern), on a local stand-in that takes
  40 ms a request; at llm's default batch of 100 and larger --batch-size values.
- Decoding a 32 x 1024 answer against a bare json.loads of the same bytes.
- Start-up and model resolution with a 3,000-model chat catalog and 1,000 embedding models cached,
  counted in instructions with valgrind's callgrind against llm with no plugins (median over hash seeds).
"""

import argparse
import json
import os
import pathlib
import statistics
import sys
import tempfile
import time
from http.server import BaseHTTPRequestHandler

sys.path.insert(0, str(pathlib.Path(__file__).parent))
from run import at_least, at_most, catalog_body, instructions, interleaved, options, print_rows, stand_in  # noqa: E402

LATENCY = 0.040
DIM = 384


class Embedder(BaseHTTPRequestHandler):
    """hf-inference's feature extraction, pooled vectors, after LATENCY seconds."""

    protocol_version = "HTTP/1.1"
    bodies: dict = {}

    def do_POST(self):
        count = len(json.loads(self.rfile.read(int(self.headers["Content-Length"])))["inputs"])
        if count not in self.bodies:
            self.bodies[count] = json.dumps([[0.012345678] * DIM] * count).encode()
        time.sleep(LATENCY)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(self.bodies[count])))
        self.end_headers()
        self.wfile.write(self.bodies[count])

    def log_message(self, *args):
        pass


def hub_items(count: int, task: str = "feature-extraction", name: str = "embedder") -> list:
    """``count`` Hub search results of ``task``, each served by hf-inference and together."""
    return [
        {
            "id": f"org-{n}/{name}-{n}",
            "inferenceProviderMapping": [
                {"provider": provider, "providerId": f"org-{n}/{name}-{n}", "status": "live", "task": task}
                for provider in ("hf-inference", "together")
            ],
        }
        for n in range(count)
    ]


def batching(base: str, repeats: int) -> list:
    import httpx2
    import llm
    import sqlite_utils

    texts = [f"text number {n}" for n in range(300)]
    route = (
        base.removesuffix("/v1")
        + "/hf-inference/models/sentence-transformers/all-MiniLM-L6-v2/pipeline/feature-extraction"
    )
    client = httpx2.Client()

    def loop():
        vectors = []
        for start in range(0, len(texts), 32):
            vectors.extend(client.post(route, json={"inputs": texts[start : start + 32]}).json())
        assert len(vectors) == 300

    def collection(batch_size):
        def embed():
            db = sqlite_utils.Database(memory=True)
            things = llm.Collection("things", db, model_id="hf-minilm")
            things.embed_multi(((str(n), t) for n, t in enumerate(texts)), batch_size=batch_size)
            assert things.count() == 300

        return embed

    contenders = {"loop": loop, **{f"llm {size}": collection(size) for size in (100, 200, 300)}}
    for warm_up in contenders.values():  # connections, imports, the model registry: not what is measured
        warm_up()
    t = interleaved(contenders, repeats)
    rows = [
        at_least("embed 300 texts: Collection, batch 100 (vs 32-text loop)", t["loop"] / t["llm 100"], 1.5)
    ]
    for size in (200, 300):
        rows.append(
            (
                f"  --batch-size {size} (vs 32-text loop)",
                t["loop"] / t[f"llm {size}"],
                "grows",
                lambda r: True,
            )
        )
    return rows


def decoding(repeats: int) -> list:
    import llm_hf_inference

    raw = json.dumps([[0.0123456789 + n / 1e6 for n in range(1024)] for _ in range(32)]).encode()

    def bare():
        for _ in range(20):
            json.loads(raw)

    def plugin():
        for _ in range(20):
            llm_hf_inference.decode_vectors(raw, 32, "x")

    t = interleaved({"bare": bare, "plugin": plugin}, repeats * 4)
    return [at_most("decode a 32 x 1024 answer (vs bare json.loads)", t["plugin"] / t["bare"], 1.10)]


def scale(user_dir: pathlib.Path, seeds: int, registry_only: bool = False) -> list:
    """Resolving other plugins' models and llm --help, with big caches: instructions vs no plugins.

    One hash seed repeats its count exactly, but counts move by up to 0.1% between seeds (string
    hashes, dict layouts): each figure is the median over ``seeds`` seeds of the ratio, both
    configurations run with the same seed.
    """
    import py_compile

    import llm_hf_inference

    py_compile.compile(llm_hf_inference.__file__)  # as pip does on install (an editable install may not)
    os.environ["LLM_USER_PATH"] = str(user_dir)
    llm_hf_inference.store_catalog(catalog_body(3000))
    llm_hf_inference.store_discovered(llm_hf_inference.EMBEDDINGS, hub_items(1000))
    llm_hf_inference.store_discovered(
        llm_hf_inference.SPEECH, hub_items(300, "automatic-speech-recognition", "asr")
    )
    llm_hf_inference.store_discovered(llm_hf_inference.IMAGES, hub_items(300, "text-to-image", "painter"))
    llm_hf_inference.store_discovered(llm_hf_inference.AUDIO, hub_items(300, "text-to-audio", "composer"))
    llm_hf_inference.store_discovered(llm_hf_inference.OCR, hub_items(300, "image-to-text", "reader"))
    base = dict(os.environ, LLM_USER_PATH=str(user_dir))
    configs = {
        "none": dict(base, LLM_LOAD_PLUGINS=""),
        "plugin": dict(base, LLM_LOAD_PLUGINS="llm-hf-inference"),
    }
    resolve = [sys.executable, "-c", "import llm; llm.get_model('gpt-4o-mini')"]
    both = "import llm; llm.get_model('gpt-4o-mini'); llm.get_embedding_model('3-small')"
    rows = []
    figures = (
        ("and 3-small", [sys.executable, "-I", "-c", both], 1.05),  # the registry figure
        ("resolve gpt-4o-mini", resolve, 1.03),
        ("llm --help", [sys.executable, "-m", "llm", "--help"], 1.02),
    )
    for label, command, limit in figures[:1] if registry_only else figures:
        ratios = []
        for seed in range(seeds):
            cost = {
                name: instructions(command, dict(env, PYTHONHASHSEED=str(seed)))
                for name, env in configs.items()
            }
            ratios.append(cost["plugin"] / cost["none"])
        name = f"{label}, 3,000 chat, 1,000 embedding, 300 each speech, image, audio, OCR (instructions)"
        rows.append(at_most(name, statistics.median(ratios), limit))
    return rows


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seeds", type=int, default=3, help="hash seeds for the instruction counts")
    parser.add_argument("--registry", action="store_true", help="the registry figure alone")
    args = options(parser, Embedder)
    if args.registry:
        return print_rows(scale(pathlib.Path(tempfile.mkdtemp()), args.seeds, registry_only=True))
    with stand_in(__file__) as base:
        user_dir = pathlib.Path(tempfile.mkdtemp())
        os.environ.update(LLM_USER_PATH=str(user_dir / "run"), LLM_HF_BASE_URL=base, LLM_HF_KEY="hf_bench")
        rows = batching(base, args.repeats) + decoding(args.repeats)
    print_rows(rows + scale(user_dir / "scale", args.seeds))


if __name__ == "__main__":
    main()
