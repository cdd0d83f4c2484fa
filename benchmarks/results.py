"""Big results written to disk as they arrive: the memory a big answer takes, measured in one run.

    pip install -e . && python benchmarks/results.py [--megabytes 200] [--video-megabytes 500]

`llm -m hf-tts -o provider P "..."` and `llm -m hf-video "..."` run in a process of their own against a
local stand-in answering audio or video of the size the text asks for, in 1 MiB pieces: deepinfra's audio
in the answer itself, fal-ai's audio and video at a URL fetched next. The figure is the process's peak
resident memory for the big answer less that for a 1 MB one (target: within 20 MB); each saved file is
checked whole.
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
from run import at_most, command_env, options, print_rows, stand_in  # noqa: E402
from speech import peak_kib  # noqa: E402

PIECE = 2**20


MP4_HEADER = b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2"


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
    """deepinfra's route answers the audio; fal's answers where the audio or video is; /files/ streams it."""

    protocol_version = "HTTP/1.1"

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        size = int(re.search(r"\d+", body.get("input") or body.get("text") or body["prompt"]).group())
        if "/fal-ai/" not in self.path:
            return self.send_file(size, "wav")
        kind, ext = ("video", "mp4") if "prompt" in body else ("audio", "wav")
        answer = json.dumps({kind: {"url": f"http://127.0.0.1:{self.server.server_port}/files/{size}.{ext}"}})
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer.encode())

    def do_GET(self):
        size, ext = re.search(r"/files/(\d+)\.(wav|mp4)", self.path).groups()
        self.send_file(int(size), ext)

    def send_file(self, size: int, ext: str):
        header = wav_header(size) if ext == "wav" else MP4_HEADER
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(header) + size))
        self.end_headers()
        self.wfile.write(header)
        piece = bytes(PIECE)
        for start in range(0, size, PIECE):
            self.wfile.write(piece[: min(PIECE, size - start)])

    def log_message(self, *args):
        pass


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--megabytes", type=float, default=200)
    parser.add_argument("--video-megabytes", type=float, default=500)
    args = options(parser, Speaker)
    scratch = pathlib.Path(tempfile.mkdtemp())
    cases = (
        ("hf-tts", "deepinfra", "audio in the answer", ".wav", 44, args.megabytes),
        ("hf-tts", "fal-ai", "audio at a URL", ".wav", 44, args.megabytes),
        ("hf-video", "fal-ai", "video at a URL", ".mp4", len(MP4_HEADER), args.video_megabytes),
    )
    rows = []
    with stand_in(__file__) as base:
        env = command_env(scratch, base)
        for model, provider, how, ext, header, megabytes in cases:
            peaks = []
            for size in (10**6, int(megabytes * 1e6)):
                save = scratch / f"{provider}-{size}"
                command = ["-m", model, "-o", "provider", provider, "-o", "save", str(save), f"say {size}"]
                peaks.append(peak_kib(command, env))
                assert save.with_suffix(ext).stat().st_size == header + size, "the saved file is not whole"
                os.unlink(save.with_suffix(ext))
            more = (peaks[1] - peaks[0]) / 1024
            rows.append(at_most(f"{provider} ({how}): MB more for {megabytes:g} MB than for 1 MB", more, 20))
    print_rows(rows)


if __name__ == "__main__":
    main()
