"""Big results written to disk as they arrive: the memory a big answer takes, measured in one run.

    pip install -e . && python benchmarks/results.py [--megabytes 200]

`llm -m hf-tts -o provider P "..."` runs in a process of its own against a local stand-in that answers
audio of the size the text asks for, in 1 MiB pieces: deepinfra in the answer itself, fal-ai as a URL
fetched next. The figure is the process's peak resident memory for the big answer less that for a
1 MB one (target: within 20 MB), and the saved file is checked to be whole.
"""

import argparse
import json
import os
import pathlib
import re
import sys
import tempfile
from http.server import BaseHTTPRequestHandler

sys.path.insert(0, str(pathlib.Path(__file__).parent))
from run import at_most, print_rows, serve, stand_in  # noqa: E402
from speech import peak_kib  # noqa: E402

PIECE = 2**20


def wav_header(size: int) -> bytes:
    """A 16-bit mono 24 kHz WAV header for ``size`` bytes of samples."""
    fmt = (1).to_bytes(2, "little") + (1).to_bytes(2, "little") + (24000).to_bytes(4, "little")
    fmt += (48000).to_bytes(4, "little") + (2).to_bytes(2, "little") + (16).to_bytes(2, "little")
    return (
        b"RIFF"
        + (36 + size).to_bytes(4, "little")
        + b"WAVEfmt "
        + (16).to_bytes(4, "little")
        + fmt
        + (b"data" + size.to_bytes(4, "little"))
    )


class Speaker(BaseHTTPRequestHandler):
    """deepinfra's route answers the audio; fal's answers where it is; /files/<size>.wav streams it."""

    protocol_version = "HTTP/1.1"

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        size = int(re.search(r"\d+", body.get("input") or body.get("text")).group())
        if "/fal-ai/" in self.path:
            answer = json.dumps(
                {"audio": {"url": f"http://127.0.0.1:{self.server.server_port}/files/{size}.wav"}}
            )
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer.encode())
        else:
            self.send_audio(size)

    def do_GET(self):
        self.send_audio(int(re.search(r"/files/(\d+)\.wav", self.path).group(1)))

    def send_audio(self, size: int):
        self.send_response(200)
        self.send_header("Content-Type", "audio/wav")
        self.send_header("Content-Length", str(44 + size))
        self.end_headers()
        self.wfile.write(wav_header(size))
        piece = bytes(PIECE)
        for start in range(0, size, PIECE):
            self.wfile.write(piece[: min(PIECE, size - start)])

    def log_message(self, *args):
        pass


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--megabytes", type=float, default=200)
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        return serve(Speaker)
    scratch = pathlib.Path(tempfile.mkdtemp())
    small, big = 10**6, int(args.megabytes * 1e6)
    rows = []
    with stand_in(__file__) as base:
        env = dict(
            os.environ, LLM_USER_PATH=str(scratch / "user"), LLM_HF_BASE_URL=base, LLM_HF_KEY="hf_bench"
        )
        for provider, how in (("deepinfra", "in the answer"), ("fal-ai", "at a URL")):
            peaks = []
            for size in (small, big):
                save = scratch / f"{provider}-{size}"
                command = ["-m", "hf-tts", "-o", "provider", provider, "-o", "save", str(save), f"say {size}"]
                peaks.append(peak_kib(command, env))
                assert (save.with_suffix(".wav")).stat().st_size == 44 + size, "the saved file is not whole"
                os.unlink(save.with_suffix(".wav"))
            megabytes = (peaks[1] - peaks[0]) / 1024
            rows.append(
                at_most(f"{provider} ({how}): MB more for {args.megabytes:g} MB than for 1 MB", megabytes, 20)
            )
    print_rows(rows)


if __name__ == "__main__":
    main()
