"""Speech to text: the memory a big upload takes, as a ratio to the file's size, measured in one run.

    pip install -e . && python benchmarks/speech.py [--megabytes 60]

For each way a provider takes audio (hf-inference: the bytes as they are; fal-ai: base64 in JSON;
together: a multipart form), `llm -m <model> -a big.wav` runs in a process of its own against a local
stand-in that reads the whole body and answers a transcript. The figure is the process's peak resident
memory over the same command with a one-second WAV, divided by the file's size: what the upload costs
on top of llm itself. llm logs the prompt, and hashes the attachment whole for its id (its own 1x).
"""

import argparse
import os
import pathlib
import subprocess
import sys
import tempfile
import wave
from http.server import BaseHTTPRequestHandler

sys.path.insert(0, str(pathlib.Path(__file__).parent))
from run import at_most, command_env, options, print_rows, stand_in  # noqa: E402


class Transcriber(BaseHTTPRequestHandler):
    """Any route: reads the whole body (in pieces), answers a transcript."""

    protocol_version = "HTTP/1.1"

    def do_POST(self):
        left = int(self.headers["Content-Length"])
        while left:
            left -= len(self.rfile.read(min(left, 2**20)))
        body = b'{"text": "ok"}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def write_wav(path: pathlib.Path, seconds: float) -> None:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(16000)
        out.writeframes(os.urandom(int(seconds * 16000) * 2))


PEAK = """
import resource, runpy, sys
sys.argv = ["llm", *sys.argv[1:]]
try:
    runpy.run_module("llm", run_name="__main__")
finally:
    print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)
"""


def peak_kib(args: list, env: dict) -> int:
    """The peak resident memory (KiB) of ``llm *args`` in a process of its own."""
    done = subprocess.run([sys.executable, "-c", PEAK, *args], env=env, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(done.stderr)
    return int(done.stderr.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--megabytes", type=float, default=60)
    args = options(parser, Transcriber)
    scratch = pathlib.Path(tempfile.mkdtemp())
    small, big = scratch / "small.wav", scratch / "big.wav"
    write_wav(small, 1)
    write_wav(big, args.megabytes * 1e6 / 32000)
    rows = []
    with stand_in(__file__) as base:
        env = command_env(scratch, base)
        import llm_hf_inference

        os.environ["LLM_USER_PATH"] = env["LLM_USER_PATH"]
        llm_hf_inference.store_discovered(
            llm_hf_inference.SPEECH,
            [
                {
                    "id": "openai/whisper-large-v3",
                    "inferenceProviderMapping": [
                        {
                            "provider": p,
                            "providerId": i,
                            "task": "automatic-speech-recognition",
                            "status": "live",
                        }
                        for p, i in (
                            ("hf-inference", "openai/whisper-large-v3"),
                            ("fal-ai", "fal-ai/whisper"),
                            ("together", "openai/whisper-large-v3"),
                        )
                    ],
                }
            ],
        )
        size_kib = big.stat().st_size / 1024
        for provider, how in (
            ("hf-inference", "raw bytes"),
            ("fal-ai", "base64 JSON"),
            ("together", "multipart"),
        ):
            command = ["-m", "hf-whisper", "-o", "provider", provider, "-a"]
            floor = peak_kib([*command, str(small)], env)
            peak = peak_kib([*command, str(big)], env)
            rows.append(
                at_most(f"{provider} ({how}): peak memory over the file's size", (peak - floor) / size_kib, 4)
            )
    print_rows(rows)


if __name__ == "__main__":
    main()
