"""Every model the Hugging Face Inference API serves, for llm: chat, embeddings, speech to text, images,
text to speech, video, text to audio, image to text, and the Hub's files as fragments.

The module reads top to bottom, and each section uses only the sections above it (a test keeps it so);
each ``# ============`` section below is one part of this map:

- settings: every timeout, wait, cap and size in one place
- foundations: the one error (HFError), the hosts the token may go to and the one way to tell the user
  (say); our own files; HTTP (one way to ask, errors in words, retries); the SSE decoder; keys (which one
  a request carries; a browser login renewed)
- the provider table: one row per (task, provider), what the rows share (audio streamed into a body and
  a transcript from any answer; choosing a provider, the request, long work followed to its end), each
  provider's builders, readers and jobs, and what the Hub's search finds, in one row format
- chat: the catalog and its registry; options, messages, the request; reading the answer; usage and
  cost; sending (the only part with a sync and an async version); the models
- embeddings: the models; requests, a few at once; every answer shape to one vector a text
- speech to text: the models and options; the attached audio; the transcript sent and said
- images: the models and options; a result (an image, audio, a video) made, written to disk as it arrives
  and saved by what its bytes are, never lost once paid for; the tool
- text to speech: the models and options, made and saved as images are; the tool
- video: the models and options, made and saved as images are
- text to audio: music and sounds; the models and options, made and saved as images are
- image to text: a page's text or a caption; the models, the image sent, its text said
- the Hub in prompts: -f hf: fragments
- MCP: a server's tools as llm tools: the key it gets, a session over Streamable HTTP, the toolbox
- the llm hf commands
- the hooks llm calls

The verbs met everywhere: ``ask`` (the one HTTP call: a whole answer within its deadline and cap, retried
as ``Attempts`` says), ``hub_get`` (``ask`` of a Hub GET), ``choose_provider`` (which provider takes what
is asked), ``run_task`` (a row's request sent, its job followed, its answer read), ``follow`` (long work
polled to its end), ``download`` (a result URL into a file, without the token), ``publish`` (a written
file given its name, never over another), ``say`` (a line to the user). How to add a provider or a task:
docs/adding.md.
"""

import asyncio
import atexit
import base64
import contextlib
import email.utils
import errno
import functools
import io
import json
import math
import os
import pathlib
import random
import re
import shutil
import stat
import sys
import threading
import time
import types
import urllib.parse
import uuid
from collections.abc import Callable
from typing import Annotated, BinaryIO, Literal, NamedTuple

import click
import httpx2
import llm
import sqlite_utils
from llm.parts import AttachmentPart, ReasoningPart, StreamEvent, TextPart, ToolCallPart, ToolResultPart
from pydantic import AfterValidator, ConfigDict, Field, field_validator
from pydantic_core import PydanticCustomError

# What dir() lists: llm's hooks and the classes Python callers meet; every other name still imports.
# llm's plugin manager inspects each name dir() gives, on every llm command, whatever model it runs:
# a short list keeps that near nothing (measured: benchmarks/README.md).
__all__ = [
    "register_models",
    "register_embedding_models",
    "register_commands",
    "register_fragment_loaders",
    "register_tools",
    "HFError",
    "NoKey",
    "HFChat",
    "AsyncHFChat",
    "chat_options",
    "HFEmbedding",
    "HFSpeech",
    "AsyncHFSpeech",
    "speech_options",
    "HFImage",
    "AsyncHFImage",
    "image_options",
    "HFImages",
    "HFTTS",
    "AsyncHFTTS",
    "tts_options",
    "HFSpeak",
    "HFVideo",
    "AsyncHFVideo",
    "video_options",
    "HFAudio",
    "AsyncHFAudio",
    "audio_options",
    "HFOCR",
    "AsyncHFOCR",
    "HFMcp",
]


def __dir__() -> list:
    return __all__


# ============ settings


DEFAULT_BASE_URL = "https://router.huggingface.co/v1"  # chat; LLM_HF_BASE_URL points elsewhere
KEY_NAME = "huggingface"  # llm's name for the Hugging Face token
USER_AGENT = "llm-hf-inference"
# huggingface_hub's own, for the token 'hf auth login' gets in the browser (HF_DEVICE_CODE_OAUTH_CLIENT_ID)
OAUTH_CLIENT = "26be6b09-91c5-47da-9861-d2d2bb7a7e36"

# Seconds. A whole answer (not a stream) may take twice its timeout, a provider's long work as long.
CONNECT_TIMEOUT = 10.0
READ_TIMEOUT = 120.0  # of silence: chat and embeddings
LONG_TIMEOUT = 300.0  # of silence: a provider transcribing or drawing
VIDEO_TIMEOUT = 900.0  # of silence, and half a video job's time (its default deadline: half an hour)
CANCEL_TIMEOUT = 0.4  # asking a provider to cancel a job on Ctrl-C: all of it within a second
HUB_TIMEOUT = 5.0  # of silence: the router's catalog, the Hub's search, whoami, fragments
MAX_TIMEOUT = 24 * 3600.0  # the most -o timeout takes: a day
RETRIES = 2  # after 408, 429, 502, 503, 504 or a failed connection: three attempts in all
MAX_WAIT = 60.0  # the longest wait before a retry, whatever the server asks
POLL_EVERY = 1.0  # between looks at a provider's unfinished work
FETCH_BUDGET = 60.0  # a finished job's result, or its download, asked again for about this long
GROWS_EVERY = 2**20  # each MiB of an answer written to a file gives its deadline one more timeout
LONG_WORK_SAYS = 10.0  # between lines on stderr saying how long work goes on
UPLOAD_SAYS = 5.0  # between lines on stderr saying how much of a slow upload is sent
CATALOG_MAX_AGE = 24 * 3600.0  # before a prompt refreshes the catalog beside it; None: never
CATALOG_RETRY = 300.0  # before any llm process tries a failed background refresh again
REFRESH_EXIT_WAIT = 0.1  # our atexit's wait for a refresh still writing
REFRESH_AGAIN = 30.0  # after a refresh cut short at exit, before another llm process tries
SPEND_LOCK_WAIT = 2.0  # for a logs database another llm is writing to
SCALE_UP_MARGIN = 5.0  # an endpoint starting from zero holds a request this much less than the timeout
RENEW_BEFORE = 24 * 3600.0  # a browser login's token is renewed with less left (as huggingface_hub does)

MAX_SAVED = 4 * 2**30  # a result written to disk as it arrives (audio, video): a long 4K video
MAX_ERROR_BODY = 2**20  # an error answer: the start is enough to say what went wrong
MAX_EVENT = 16 * 2**20  # one SSE event: a whole 1M-token answer sent as one event is 4-8 MB of JSON
FRAGMENT_TEXT_CAP = 2**20  # a text file in a prompt: ~250,000 tokens, past nearly every model's context
MAX_SEGMENT = 365 * 86400.0  # seconds: a transcript's timestamp past it is a broken server's
MAX_COST = 1e6  # USD: no prompt costs this much; a larger figure is a broken server's or catalog's

EMBED_BATCH = 32  # texts a request: TEI's default limit; a server that takes fewer says so, and is obeyed
EMBED_CONCURRENCY = 4  # requests in flight for one call: enough to hide latency, few enough for a rate limit
AUDIO_PIECE = 3 * 2**20  # bytes of audio read at a time; a multiple of 3, so each piece base64-encodes alone
TASK_THREADS = 256  # async speech and image calls waited for at once (each thread mostly waits)
HUB_PAGES = 100  # pages of the Hub's model search followed at most (a loop of "next" links ends)

# As llm's OpenAI models allow: how many prompts run at once is the user's and the server's business.
POOL_LIMITS = httpx2.Limits(max_connections=1000, max_keepalive_connections=100)


# ------------ the table of tasks: one row for each kind of request, everything keyed by it


class Task(NamedTuple):
    """A kind of request: a task a provider does (speech, images, ...) or one of the plugin's own (chat,
    the Hub, fragments). Adding a task is a row here, its rows in PROVIDERS, and its section."""

    cap: int  # the most a whole (not streamed) answer may decode to: far past any real one
    timeout: float  # seconds of silence by default (-o timeout); a whole answer may take twice that
    generation: bool = False  # its POST makes something a provider bills: never sent twice
    doing: str = ""  # what its long work is, said while waiting
    medium: str = ""  # what its result is saved as (image, audio, video): see MEDIA
    flag: str = ""  # its models in 'llm hf models --<flag>', and refreshed by 'llm hf refresh'
    timeout_hint: str = "wait longer with -o timeout SECONDS"  # what to do when it times out
    status_hints: dict = {}  # what to do about an answer of these statuses, before the general hints


TASKS = {
    "chat": Task(64 * 2**20, READ_TIMEOUT),  # a 100k-token answer with five logprobs a token: ~40 MB of JSON
    # Per-token vectors (plain transformers models) of 32 texts of 1,024 tokens at 768 dimensions are ~500 MB
    # of JSON; pooled ones a few MB.
    "embeddings": Task(
        768 * 2**20,
        READ_TIMEOUT,
        flag="embeddings",
        timeout_hint="try again, or, through the router, another provider ('llm hf models --embeddings')",
        status_hints={
            404: "That provider does not embed with this model: 'llm hf models --embeddings' lists who does.",
            422: "The server did not take the texts as sent; "
            "'llm hf models --embeddings' lists other providers.",
        },
    ),
    # the router's catalog is ~2 MB at 3,000 models; a Hub search page less
    "hub": Task(64 * 2**20, HUB_TIMEOUT, timeout_hint="try again later"),
    # a Hub file for a prompt: an image (an attachment) up to the usual limit
    "fragment": Task(20 * 2**20, HUB_TIMEOUT, timeout_hint="try again later"),
    # a transcript with timed segments: ~1 MB an hour of speech
    "speech": Task(64 * 2**20, LONG_TIMEOUT, True, "transcribing", flag="speech"),
    # the JSON around an image's base64 (a 4096 x 4096 PNG is ~50 MB at most); a file itself: MAX_SAVED
    "images": Task(64 * 2**20, LONG_TIMEOUT, True, "drawing", "image", "images"),
    "tts": Task(64 * 2**20, LONG_TIMEOUT, True, "speaking", "audio", "tts"),
    "video": Task(64 * 2**20, VIDEO_TIMEOUT, True, "making the video", "video", "videos"),
    "audio": Task(64 * 2**20, LONG_TIMEOUT, True, "making the audio", "audio", "audio"),  # music, sounds
    # a caption, or a page's text as Markdown
    "ocr": Task(64 * 2**20, LONG_TIMEOUT, True, "reading", flag="ocr"),
    # an MCP server's answer: a tool's text or a few images; a tool answering 500 MB is stopped at the cap
    "mcp": Task(
        32 * 2**20,
        LONG_TIMEOUT,
        timeout_hint="give it longer with HFMcp(timeout=SECONDS)",
        status_hints={
            **dict.fromkeys(
                (401, 403),
                "The server wants a key: the Hugging Face token goes to huggingface.co, to a Space with "
                "HFMcp(send_token=True); any other server takes HFMcp(key_name=NAME) (a key stored with "
                "'llm keys set NAME') or HFMcp(headers={...}).",
            ),
            **dict.fromkeys(  # 405: a server of the older SSE transport, asked by POST
                (404, 405),
                "There is no MCP server at that URL (Streamable HTTP; not the older SSE transport); "
                "check HFMcp(url=...).",
            ),
        },
    ),
}

# What a result of each medium is called, and may be saved as: -o save FILE is refused when one is there.
MEDIA = {
    "image": ("an image", (".png", ".jpg", ".gif", ".webp")),
    "audio": ("audio", (".wav", ".flac", ".mp3", ".ogg", ".aac", ".m4a", ".webm")),
    "video": ("video", (".mp4", ".mov", ".webm", ".gif")),
}


# ============ foundations
# ------------ the one error; the hosts the token may go to; telling the user


class HFError(llm.ModelError, click.ClickException):
    """The one error a user meets, in one line: a ModelError to llm and Python callers, a ClickException
    to every command (llm's embed commands print one as ``Error: …``, a ModelError as a traceback)."""


def in_words(ex: BaseException) -> str:
    """What went wrong as a person says it: an OS error's own words (no errno, no path), else its text
    without Python's tags ([Errno 111], [WinError 10061], _ssl.c:1006), which a connection's error carries."""
    return getattr(ex, "strerror", None) or re.sub(
        r"\[(Errno|WinError) -?\d+\] | \(_ssl\.c:\d+\)", "", str(ex)
    )


class NoKey(HFError, llm.NeedsKeyException):
    """No key where one is needed: llm's NeedsKeyException, one line everywhere."""


# Patterns are compiled (and cached by re) when first used, not on every llm command.
_NAME = r"[a-z0-9][a-z0-9._-]*"
# The Hub's ids: ORG/NAME or NAME, ASCII, never '..' (so never a path that leaves its URL).
_REPO_ID = r"(?!.*\.\.)[A-Za-z0-9_][A-Za-z0-9_.-]*(/[A-Za-z0-9_][A-Za-z0-9_.-]*)?"
_ORG_NAME = r"[A-Za-z0-9][A-Za-z0-9_.-]*"


def valid_alias(alias) -> bool:
    """An alias llm can show and a user can type: no spaces anywhere, nothing unprintable."""
    return type(alias) is str and alias.isprintable() and alias != "" and not any(c.isspace() for c in alias)


def _finite(value) -> bool:
    return type(value) in (int, float) and math.isfinite(value)


PREFIX = "hf/"  # every model id of ours: hf/<repo id>


def model_id_of(repo_id: str) -> str:
    return PREFIX + repo_id


def repo_id_of(model_id: str) -> str:
    """A model id without our prefix (a repo id stays as it is)."""
    return model_id.removeprefix(PREFIX)


def split_url(url: str) -> urllib.parse.SplitResult:
    """``url`` in parts; one that cannot be split (a bracket left open, a port out of range), as no URL."""
    try:
        parts = urllib.parse.urlsplit(url)
        _ = parts.port  # a port out of range, or not a number, raises here
    except ValueError:
        return urllib.parse.urlsplit("")
    return parts


def url_problem(url: str) -> str | None:
    """Why ``url`` cannot be a server's base URL (--base-url, LLM_HF_BASE_URL, HF_ENDPOINT), or None: it is
    http(s) with a host, without a query or fragment (a request's path would land in it) or a password."""
    parts = split_url(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "it needs http:// or https:// and a host"
    if not url.isprintable() or any(c.isspace() for c in url) or "?" in url or "#" in url:
        return "a base URL has no spaces, ? or # in it"
    if parts.username is not None:
        return "a key goes with --key-name or LLM_HF_KEY, not in the URL"
    return None


def configured_url(name: str, default: str) -> str:
    """A server's URL from the environment variable ``name`` (checked: else one line), else ``default``."""
    url = (os.environ.get(name) or default).rstrip("/")
    problem = url_problem(url) if url != default else None
    if problem:
        raise HFError(f"{name}={excerpt(url)} cannot be used: {problem}")
    return url


def base_url() -> str:
    """Where chat requests go: LLM_HF_BASE_URL, else the Inference Providers router."""
    return configured_url("LLM_HF_BASE_URL", DEFAULT_BASE_URL)


def router_root() -> str:
    """The router without its OpenAI-compatible /v1: where providers' own routes (embeddings) live."""
    return base_url().removesuffix("/v1")


def hub_url() -> str:
    """The Hub's API host: $HF_ENDPOINT, the Hub's own convention, else huggingface.co."""
    return configured_url("HF_ENDPOINT", "https://huggingface.co")


def is_hf_host(url: str) -> bool:
    """Whether ``url`` is huggingface.co or one of its subdomains over HTTPS: a server the token may go to.
    Spaces (``*.hf.space``) and Inference Endpoints (``*.endpoints.huggingface.cloud``) run whatever code
    their owner deployed: they get the token only when the user opts in (see :func:`key_for`)."""
    parts = split_url(url)
    host = (parts.hostname or "").lower()
    return parts.scheme == "https" and (host == "huggingface.co" or host.endswith(".huggingface.co"))


def is_endpoint(url: str) -> bool:
    """A dedicated Inference Endpoint: a model someone deployed, behind Hugging Face's proxy."""
    return (split_url(url).hostname or "").lower().endswith(".endpoints.huggingface.cloud")


def is_deployed_host(url: str) -> bool:
    """A Space or an Inference Endpoint: Hugging Face hosting someone else's code."""
    return is_endpoint(url) or (split_url(url).hostname or "").lower().endswith(".hf.space")


_stderr_lock = threading.Lock()


def say(line: str, new_line: bool = False) -> None:
    """The one way the plugin tells the user something: a whole line on stderr, prefixed with its name, even
    when threads (parallel embedding requests) speak at once. (A command's own output is click's.) Where
    there is no stderr (pythonw) or it is closed (a pipe whose reader is gone), the line is lost, never the
    command. ``new_line``: streamed text left a line open on the terminal; the note starts below it."""
    stream, start = sys.stderr, "\n" if new_line else ""
    with _stderr_lock, contextlib.suppress(OSError, ValueError):
        if stream is not None:
            stream.write(f"{start}llm-hf-inference: {line}\n")
            stream.flush()


class Ticker:
    """The one clock long work reports by: ``due()`` is true at most once every ``seconds``."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.started = self.last = time.monotonic()

    def due(self, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        if now - self.last < self.seconds:
            return False
        self.last = now
        return True


_warned: set = set()  # files already warned about in this process


def switched_on(name: str) -> bool:
    """Whether an environment variable says yes, as huggingface_hub reads its own: 1, on, yes or true."""
    return os.environ.get(name, "").strip().upper() in ("1", "ON", "YES", "TRUE")


def debug(message: str) -> None:
    """A line on stderr only under LLM_HF_DEBUG: what the plugin did that a user may wonder about."""
    if switched_on("LLM_HF_DEBUG"):
        say(message)


def warn_once(key, message: str) -> None:
    """One line on stderr per process for each thing gone wrong in our files: never a crash."""
    if key not in _warned:
        _warned.add(key)
        say(message)


# ------------ our files: one guarded path in, whole files out


def read_json_file(path: pathlib.Path, fallback: str, line: int = 0, version: int = 0):
    """A JSON file of ours, or (``line`` 1 or 2) a line of a JSON-lines one whose first line is
    ``{"version": version, ...}``. None when the file is missing, of another version (said under
    LLM_HF_DEBUG), or not JSON (said once, with ``fallback``: what happens instead)."""
    try:
        if not line:
            return json.loads(path.read_text(encoding="utf-8"))
        with open(path, encoding="utf-8") as file:
            head = json.loads(file.readline())
            if type(head) is dict and head.get("version") != version:
                debug(f"{path} is of another version of this plugin; {fallback}")
                return None
            return head if line == 1 else json.loads(file.readline())
    except FileNotFoundError:
        return None
    except (OSError, ValueError, RecursionError) as ex:
        reason = in_words(ex) if isinstance(ex, OSError) else "not JSON"
        warn_once(path, f"cannot read {path} ({reason}); {fallback}")
        return None


def mode_of(path: pathlib.Path) -> int | None:
    """What is at ``path`` (its stat mode, a link followed), None when nothing is (nor is a link that can be
    followed); any other OSError (a name too long, no permission) raised, on every Python (3.14's pathlib
    answers False to ``is_dir`` instead)."""
    try:
        return path.stat().st_mode
    except OSError as ex:
        if ex.errno in (errno.ENOENT, errno.ENOTDIR, errno.ELOOP):
            return None
        raise


def write_file(path: pathlib.Path, text: str, private: bool = False) -> None:
    """Replace ``path`` whole, so a reader never sees half a file; a unique temporary name each time, made
    as the umask says (not mkstemp's 0600), or (``private``: a token) for its owner alone. A link stays a
    link (a file kept with one's dotfiles): the file it leads to is replaced. Windows refuses to replace a
    file while another process reads it (an llm command reading the catalog): tried again for most of a
    second."""
    path = pathlib.Path(os.path.realpath(path))
    partial = path.with_name(f".{path.name}.partial-{uuid.uuid4().hex}")
    try:
        opener = (lambda name, flags: os.open(name, flags, 0o600)) if private else None
        with open(partial, "x", encoding="utf-8", opener=opener) as file:
            file.write(text)
        for wait in (0.05, 0.1, 0.2, 0.4, 0):
            try:
                return os.replace(partial, path)
            except PermissionError:
                if not wait:
                    raise
                time.sleep(wait)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(partial)
        raise


class Stored(NamedTuple):
    """What storing a fetched catalog or discovery changed."""

    count: int  # models now cached
    added: list  # ids new since the last one
    removed: list  # ids gone since the last one
    dropped: int = 0  # values left out as being of the wrong type


def locked(path: pathlib.Path, wait: bool = True):
    """An exclusive lock beside ``path`` for a read-modify-write between processes (filelock, as
    huggingface_hub uses: flock, or Windows' own). ``wait=False``: an OSError at once when another process
    holds it."""
    import filelock  # only when a file of ours changes: not at start-up

    path.parent.mkdir(parents=True, exist_ok=True)
    return filelock.FileLock(path.with_name(path.name + ".lock"), timeout=-1 if wait else 0)


def lines_text(*lines) -> str:
    """JSON lines, compact: what a registry file of ours holds."""
    return "\n".join(json.dumps(line, separators=(",", ":")) for line in lines) + "\n"


def read_registry_rows(path: pathlib.Path, version: int, fallback: str) -> dict | None:
    """A registry file's first line: model id → one string row, checked in one go (every llm command
    reads one, for thousands of models); None when there is none (said as :func:`read_json_file` says)."""
    head = read_json_file(path, fallback, 1, version)
    rows = head.get("models") if type(head) is dict else None
    if head is not None and (type(rows) is not dict or not set(map(type, rows.values())) <= {str}):
        warn_once(path, f"cannot read {path} (not a model registry); {fallback}")
        return None
    return rows


ADDED_FILE = "hf-inference-added.json"

ADDED_FIELDS = dict.fromkeys(("alias", "base_url", "key_name"), str) | dict.fromkeys(
    ("embedding", "vision", "tools", "schemas"), bool
)


def read_added() -> dict:
    """Models added with 'llm hf add': model id → its settings, each value of the right type."""
    path = llm.user_dir() / ADDED_FILE
    added = read_json_file(path, "models added with 'llm hf add' are left out.")
    if added is not None and type(added) is not dict:
        warn_once(path, f"cannot read {path} (not an object); models added with 'llm hf add' are left out.")
    models = {}
    for repo_id, settings in added.items() if type(added) is dict else ():
        if type(settings) is not dict or not re.fullmatch(_REPO_ID, repo_id):
            warn_once((path, repo_id), f"{path}: left out '{repo_id}', which is not a model's settings")
            continue
        models[repo_id] = {k: v for k, v in settings.items() if type(v) is ADDED_FIELDS.get(k)}
        if "alias" in models[repo_id] and not valid_alias(models[repo_id]["alias"]):
            del models[repo_id]["alias"]
        if len(models[repo_id]) < len(settings):
            warn_once((path, repo_id), f"{path}: left out values of the wrong type for '{repo_id}'")
        problem = url_problem(settings["base_url"]) if "base_url" in models[repo_id] else None
        if problem:  # never sent to the router instead
            del models[repo_id]
            warn_once(
                (path, repo_id), f"{path}: left out '{repo_id}', whose base_url cannot be used: {problem}"
            )
    return models


@contextlib.contextmanager
def changing_added():
    """The added-models file as it is, to change under its lock and write back whole. An HFError naming the
    file when it cannot be read or written: a file that cannot be read is never replaced (what the user
    had there is not lost), and no partial file is left."""
    path = llm.user_dir() / ADDED_FILE
    try:
        with locked(path):
            try:
                added = json.loads(path.read_text(encoding="utf-8"))
            except FileNotFoundError:
                added = {}
            if type(added) is not dict:
                raise ValueError("not an object")
            yield added
            write_file(path, json.dumps(added, indent=1))
    except (OSError, ValueError, RecursionError) as ex:
        reason = "nested too deeply" if isinstance(ex, RecursionError) else in_words(ex)
        raise HFError(f"Cannot change {path}: {reason}") from None


# ------------ what -o options share


IMAGE_TYPES = frozenset({"image/png", "image/jpeg", "image/webp", "image/gif"})


class BuiltWhenRead:
    """A class attribute built the first time it is read. llm reads a model's ``Options`` only to run it or
    list its options, while building a pydantic class would cost every llm command, whatever model it runs
    (benchmarks/README.md)."""

    def __init__(self, build: Callable):
        self.build = build  # cached: built once

    def __get__(self, instance, owner):
        return self.build()


def options_set(options, names) -> dict:
    """The options of ``names`` that are set, in that order."""
    return {name: getattr(options, name) for name in names if getattr(options, name) is not None}


def attached(prompt, what: str, example: str = ""):
    """The prompt's one attachment (None: none, and no ``example`` of one to ask for); else one line."""
    count = len(prompt.attachments)
    if count > 1 or (example and not count):
        raise HFError(f"Attach one {what} at a time, not {count}" if count else example)
    return prompt.attachments[0] if count else None


def attachment_url(attachment) -> str:
    """An attached image as a provider takes it: its URL, else its bytes as a data URL."""
    return attachment.url or data_url(attachment)


def data_url(attachment) -> str:
    encoded = base64.b64encode(attachment_bytes(attachment)).decode()
    return f"data:{attachment.resolve_type()};base64,{encoded}"


def attachment_bytes(attachment) -> bytes:
    """An attachment's bytes (a URL's fetched by llm, without our token); one line when they cannot be had."""
    try:
        return attachment.content_bytes()
    except (OSError, httpx2.HTTPError) as ex:
        where = attachment.path or attachment.url or "the attachment"
        status = isinstance(ex, httpx2.HTTPStatusError) and ex.response.status_code
        raise HFError(f"Cannot read {where}: {f'it answered {status}' if status else in_words(ex)}") from None


def about(description: str, **limits):
    """An -o option, None unless given: what it does, and the limits of its value."""
    return Field(None, description=description, **limits)


def option_error(message: str) -> PydanticCustomError:
    """An option's error as llm shows it: the option's name, then this message (no pydantic prefix)."""
    return PydanticCustomError("hf_option", message)


def shaped(pattern: str, words: str):
    """The type of a text option whose whole value must match ``pattern``; else ``words`` say what it is."""

    def check(value):
        if value is not None and not re.fullmatch(pattern, value):
            raise option_error(words)
        return value

    return Annotated[str | None, AfterValidator(check)]


SAVE = "Where to save: a file, or a directory (default: the prompt's words, here)"
LORA_SCALE = "How strongly a LoRA adapter applies (default 1; a LoRA's models only)"


def routed(base: type, provider_is: str, timeout_is: str, retries_are: str, examples: str) -> type:
    """``base`` with the options of every request through the router, each kind's words for them: the
    provider, the organisation billed, the seconds of silence waited for and the retries."""

    organisation = "an organisation's name on the Hub (letters, digits, '-', '_', '.')"

    class Routed(base):
        provider: shaped(_NAME, f"a lower-case provider name {examples}") = about(provider_is)
        bill_to: shaped(_ORG_NAME, organisation) = about(
            "Bill this organisation instead of your account (X-HF-Bill-To; default $HF_BILL_TO)"
        )
        timeout: float | None = about(timeout_is, gt=0, le=MAX_TIMEOUT)
        retries: int | None = about(retries_are, ge=0, le=10)

    return Routed


# ------------ HTTP: one request, its whole answer, within a deadline and a cap


class HFRequest:
    """Everything one HTTP exchange needs. The token lives only in its headers. A plain class (a dataclass
    costs every llm command its generated code: benchmarks/README.md); a field not below is a TypeError."""

    purpose: str = "chat"  # a task of TASKS: its cap and its hints
    body: dict | None = None  # sent as JSON
    form: dict | None = None  # or as a form (the Hub's OAuth)
    upload: "Upload | None" = None  # or sent a piece at a time, never whole in memory (speech)
    method: str = "POST"
    timeout: float = READ_TIMEOUT  # seconds of silence
    bill_to: str | None = None
    retries: int = RETRIES
    stop: threading.Event | None = None  # set when the call it belongs to is given up: nothing more is sent
    into: "BinaryIO | None" = None  # where an answer that is not JSON is written as it arrives (audio)
    finished: bool = False  # a finished job's result: a 500 saying why is the job's failure, not asked again
    sent: bool = False  # an attempt began: the server may have it

    def __init__(self, url: str, purpose: str = "chat", headers: dict | None = None, body=None, **more):
        self.url, self.purpose, self.body = url, purpose, body
        self.headers = {} if headers is None else headers
        for name, value in more.items():
            if not hasattr(type(self), name) or callable(getattr(type(self), name)):
                raise TypeError(f"HFRequest has no field {name}")
            setattr(self, name, value)

    @property
    def time_allowed(self) -> float | None:
        """Seconds the whole exchange may take: twice its timeout (an answer written to a file: more as it
        comes, see :func:`read_body`). A stream shows its answer as it comes: only its silences are timed."""
        return None if (self.body or {}).get("stream") else 2 * self.timeout

    @property
    def cap(self) -> int:
        """The most a whole answer may decode to (a stream's events have a cap of their own)."""
        return TASKS[self.purpose].cap

    @property
    def host(self) -> str:
        """The server's name, for messages."""
        return split_url(self.url).hostname or self.url

    def __repr__(self) -> str:
        return f"<HFRequest {self.url}>"


def request_headers(
    stream: bool, key: str | None, bill_to: str | None, options=None, url="", timeout=READ_TIMEOUT
) -> dict:
    """The headers of a chat or embedding request; a chat prompt's options add the x-use-cache family."""
    headers = {
        "Content-Type": "application/json",
        "Accept": "text/event-stream" if stream else "application/json",
    }
    if key:
        headers["Authorization"] = f"Bearer {key}"
    for option, header in (("use_cache", "x-use-cache"), ("wait_for_model", "x-wait-for-model")):
        value = getattr(options, option, None)
        if value is not None:
            headers[header] = "true" if value else "false"
    if bill_to:
        headers["X-HF-Bill-To"] = bill_to
    if is_endpoint(url):
        # Scaled to zero, an endpoint answers 503 while a replica starts (minutes) unless asked to hold the
        # request: its proxy then answers, 503 if still starting (retried), before our timeout of silence.
        headers["X-Scale-Up-Timeout"] = str(max(1, int(timeout - SCALE_UP_MARGIN)))
    return headers


class Answer(NamedTuple):
    """A whole answer."""

    status: int
    headers: httpx2.Headers
    body: bytes

    def json(self):
        """Its JSON, or None when it is not JSON."""
        return json_or_none(self.body)


def json_or_none(data):
    """JSON text or bytes decoded, or None when it is not JSON (however deep its nesting)."""
    try:
        return _parse_json(data.decode("utf-8", "replace") if type(data) is bytes else data)
    except (ValueError, RecursionError):
        return None


def field_of(data, *names):
    """``data[names[0]][names[1]]...``, or None wherever the shape is not that."""
    for name in names:
        if type(name) is int:
            data = data[name] if type(data) is list and len(data) > name else None
        else:
            data = data.get(name) if type(data) is dict else None
    return data


_parse_json = json.JSONDecoder().decode

_SECRET = r"(?i)\bhf_[A-Za-z0-9]{6,}|\b(Bearer)\s+[^\s'\"()\[\]{},;]+"

# C0 and C1 controls, the line and paragraph separators, and the marks that reorder text: what a terminal
# obeys rather than shows.
_CONTROL = r"[\x00-\x1f\x7f-\x9f\u200e\u200f\u2028-\u202e\u2066-\u2069]+"


def redact(text: str) -> str:
    """Server or error text, safe to print: any token or bearer credential masked (servers may echo
    one), and control characters (a screen clear, a window title) made spaces."""
    text = re.sub(_CONTROL, " ", text)
    return re.sub(_SECRET, lambda m: f"{m.group(1)} ***" if m.group(1) else "hf_***", text)


def safe_lines(text: str) -> str:
    """Server text of several lines, safe to print: its lines kept, what a terminal obeys made spaces."""
    return "\n".join(re.sub(_CONTROL, " ", line) for line in text.split("\n"))


def excerpt(value, limit: int = 200) -> str:
    """The start of what a server sent (text, bytes or JSON), for one line of an error message."""
    if type(value) is bytes:
        value = value[: limit * 4].decode("utf-8", "replace")
    text = value if type(value) is str else json.dumps(value)
    return redact(text[:limit])


class TooSlow(httpx2.TimeoutException):
    """The whole answer did not come within the request's deadline; ``grown``: after some of it, written to
    a file, had moved the deadline on."""

    def __init__(self, request: "HFRequest", grown: bool = False):
        super().__init__(f"no whole answer within {request.time_allowed:g} seconds")
        self.grown = grown


def _refuse_post_redirect(response: httpx2.Response) -> None:
    """httpx2 follows a 301, 302 or 303 to a POST as a GET: a different request. Say where it went."""
    if response.request.method == "POST" and response.status_code in (301, 302, 303):
        where = redact(response.headers.get("location", "?"))
        raise HFError(
            f"{response.request.url.host} redirected the request to {where} ({response.status_code}); "
            "it is not sent again as a GET: check the server's URL"
        )


async def _refuse_post_redirect_async(response: httpx2.Response) -> None:
    _refuse_post_redirect(response)


_sync_client: httpx2.Client | None = None
_async_clients: dict = {}  # event loop → its client
_clients_lock = threading.Lock()


def _new_client(cls):
    """A pooled client; a ModelError naming the setting at fault when the environment breaks it."""
    hook = _refuse_post_redirect_async if cls is httpx2.AsyncClient else _refuse_post_redirect
    try:
        return cls(
            headers={"User-Agent": USER_AGENT},
            limits=POOL_LIMITS,
            follow_redirects=True,
            event_hooks={"response": [hook]},
        )
    except (ImportError, OSError, ValueError, httpx2.HTTPError, httpx2.InvalidURL) as ex:
        settings = environment_at_fault(ex)
        where = f"; check {', '.join(settings)}" if settings else ""
        words = redact(in_words(ex)).rstrip(".")
        if isinstance(ex, ImportError) and "socksio" in words:  # httpx2's words say: pip install httpx[socks]
            words = "a SOCKS proxy needs the socksio package (llm install socksio)"
        raise HFError(f"Cannot set up HTTP connections: {words}{where}") from None


def environment_at_fault(ex: Exception) -> list:
    """The settings that can break making a client: proxies set, or certificate paths not there."""
    if isinstance(ex, OSError):
        names = [n for n in ("SSL_CERT_FILE", "SSL_CERT_DIR") if os.environ.get(n)]
        return [n for n in names if not os.path.exists(os.environ[n])] or names
    names = ("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY")
    return [n for n in names if os.environ.get(n) or os.environ.get(n.lower())]


def sync_client() -> httpx2.Client:
    """The process's pooled client, made once even when threads ask at the same time."""
    global _sync_client
    if _sync_client is None:
        with _clients_lock:
            if _sync_client is None:
                _sync_client = _new_client(httpx2.Client)
    return _sync_client


def async_client() -> httpx2.AsyncClient:
    """The pooled client of the running event loop (connections belong to one loop)."""
    loop = asyncio.get_running_loop()
    client = _async_clients.get(loop)
    if client is None:
        with _clients_lock:
            for closed in [old for old in list(_async_clients) if old.is_closed()]:
                _async_clients.pop(closed, None)  # its connections hold the old loop: let both go
            client = _async_clients.get(loop) or _async_clients.setdefault(
                loop, _new_client(httpx2.AsyncClient)
            )
    return client


def _timeout(request: HFRequest) -> httpx2.Timeout:
    # pool=None: waiting for one of our own connections is never the server's silence
    return httpx2.Timeout(request.timeout, connect=CONNECT_TIMEOUT, pool=None)


@functools.lru_cache(maxsize=64)
def _parsed(url: str) -> httpx2.URL:
    """httpx2 parses a URL string on every request: parse each URL once (it pays on a loopback answer)."""
    return httpx2.URL(url)


def deadline(request: HFRequest) -> list | None:
    """When an attempt at ``request`` must be over (time.monotonic), in a list that an answer written to a
    file moves on as it comes (see :func:`read_body`); None: a stream, timed by its silences."""
    return None if request.time_allowed is None else [time.monotonic() + request.time_allowed]


def provider_named(headers) -> str | None:
    """The provider the router names as the one that answered (x-inference-provider), if it is a name."""
    name = headers.get("x-inference-provider") or ""
    return name if re.fullmatch(_NAME, name) else None


def who_answered(headers, url: str) -> str:
    """Who answered: the provider the router names, else the host."""
    return provider_named(headers) or split_url(url).hostname or url


def say_warnings(headers, url: str) -> None:
    """What a Hugging Face server warns of on any answer (``X-HF-Warning: topic; message``: a model or a
    route going away), said once a topic, as huggingface_hub shows it."""
    for warning in headers.get_list("x-hf-warning"):
        topic, _, message = warning.partition(";") if ";" in warning else ("", "", warning)
        if message.strip():
            warn_once(
                ("x-hf-warning", topic.strip()), f"{split_url(url).hostname} warns: {redact(message.strip())}"
            )


def too_large(who: str, request: HFRequest, size: float | None = None, cap: int = 0) -> llm.ModelError:
    cap = (cap or request.cap) // 2**20
    if size is not None:  # the size the server declares: nothing is read
        return HFError(f"{who} has an answer of {size / 1e6:.1f} MB, over the {cap} MiB it may be")
    return HFError(f"{who} sent an answer of over {cap} MiB; stopped reading it")


def written_to(http: httpx2.Response, request: HFRequest):
    """The file an answer goes to as it arrives: the request's, for an answer that is not an error. Its first
    bytes, not its label, then say whether it is JSON after all (see :func:`read_body`)."""
    return request.into if http.status_code < 400 else None


def read_body(http: httpx2.Response, request: HFRequest, ends: list | None) -> bytes:
    """A whole answer, read by read: within the request's deadline ``ends`` and cap (an error answer: its
    start); or, for a request with a file, written there as it comes (b"" returned), a line on stderr at
    times, each GROWS_EVERY bytes moving the deadline to a timeout from then: a big file that keeps coming
    is had whole, a drip ends."""
    into = written_to(http, request)
    pieces, size, ticker, grown = [], 0, Ticker(LONG_WORK_SAYS), False
    if into:
        into.seek(0)
        into.truncate()  # from the start again on each attempt
    for data in http.iter_bytes():
        if into and size == 0 and data.lstrip()[:1] in (b"{", b"["):
            into = None  # JSON, whatever its label: kept, to be read
        cap = MAX_SAVED if into else request.cap if http.status_code < 400 else MAX_ERROR_BODY
        if into:
            into.write(data)
        else:
            pieces.append(data)
        if into and ends is not None and (size + len(data)) // GROWS_EVERY > size // GROWS_EVERY:
            ends[0], grown = max(ends[0], time.monotonic() + request.timeout), True
        size += len(data)
        if size > cap:
            if http.status_code >= 400:
                break
            raise too_large(who_answered(http.headers, request.url), request, cap=cap)
        if ends is not None and time.monotonic() > ends[0]:
            raise TooSlow(request, grown)
        if into and ticker.due():
            say(f"{size / 1e6:.1f} MB of the result received")
    return b"".join(pieces)


async def read_body_async(http: httpx2.Response) -> bytes:
    """The start of an error answer to an async chat stream (its silences timed, as the stream's are)."""
    pieces, size = [], 0
    async for data in http.aiter_bytes():
        pieces.append(data)
        size += len(data)
        if size > MAX_ERROR_BODY:
            break
    return b"".join(pieces)


def attempt_once(request: HFRequest) -> Answer:
    """One attempt (not a chat stream): the whole answer within the request's deadline, all of it (connecting,
    redirects, headers sent a byte at a time, the body), and within its cap. An upload's time is its own (its
    silences timed): the answer's deadline begins when it is sent, so a slow uplink never costs an answer."""
    request.sent = True
    if request.upload is not None:
        return attempt_here(request, None)
    outcome: list = []
    ends = deadline(request)
    set_at = ends[0]  # moved on only by an answer written to a file

    def attempt():  # in a thread of its own, so the deadline holds whatever the server does
        try:
            outcome.append((True, attempt_here(request, ends)))
        except BaseException as ex:  # noqa: BLE001 - raised again in the caller's thread
            outcome.append((False, ex))

    worker = threading.Thread(target=attempt, name="llm-hf-inference request", daemon=True)
    worker.start()
    joined(worker, ends, request.stop)
    given_up(request)  # a task cancelled: its thread is free at once, the exchange left to end by itself
    if not outcome:  # the worker ends at its next read, its answer unread
        raise TooSlow(request, ends[0] > set_at)
    answered, value = outcome[0]
    if answered:
        return value
    raise value


def attempt_here(request: HFRequest, ends: list | None) -> Answer:
    if request.upload is not None:
        sent = {"content": request.upload.pieces()}  # from the start again on each attempt
    else:
        sent = {"json": request.body} if request.form is None else {"data": request.form}
    with sync_client().stream(
        request.method, _parsed(request.url), **sent, headers=request.headers, timeout=_timeout(request)
    ) as http:
        say_warnings(http.headers, request.url)
        ends = ends or deadline(request)
        size = _number_or_none(http.headers.get("x-linked-size") or http.headers.get("content-length"))
        cap = MAX_SAVED if written_to(http, request) else request.cap
        if http.status_code < 400 and size is not None and size > cap:
            raise too_large(who_answered(http.headers, request.url), request, size, cap)
        return Answer(http.status_code, http.headers, read_body(http, request, ends))


def joined(thread: threading.Thread, ends: list | None = None, stop: threading.Event | None = None) -> None:
    """Wait for ``thread`` (until the deadline ``ends[0]``, which may move, and no longer once ``stop`` is
    set) a tenth of a second at a time: Ctrl-C, which the system may hand to any thread, is taken at once
    by the one waiting here."""
    while thread.is_alive() and (ends is None or time.monotonic() < ends[0]) and not (stop and stop.is_set()):
        thread.join(0.1)


class Stopped(Exception):
    """The call this request belongs to was given up (Ctrl-C, a cancelled task): nothing more is sent."""


def given_up(request: HFRequest) -> None:
    if request.stop is not None and request.stop.is_set():
        raise Stopped


def _interrupted(number, frame):
    raise KeyboardInterrupt


_sigterm_tasks = 0  # the main thread's tasks under terminated_as_interrupted (async ones overlap)
_sigterm_before = None  # the SIGTERM handler before the first of them


@contextlib.contextmanager
def terminated_as_interrupted():
    """SIGTERM (timeout, kill, a CI's cancel) taken as Ctrl-C while a task runs in the main thread (an
    async one's loop stops, cancelling it): its job cancelled or named, its partial file removed, as on
    Ctrl-C. The handler before the first task is put back after the last, in whatever order async tasks
    end."""
    import signal

    global _sigterm_tasks, _sigterm_before
    main = threading.current_thread() is threading.main_thread()
    if not main or (_sigterm_tasks == 0 and signal.getsignal(signal.SIGTERM) is None):  # not Python's: kept
        yield
        return
    if _sigterm_tasks == 0:
        _sigterm_before = signal.signal(signal.SIGTERM, _interrupted)
    _sigterm_tasks += 1
    try:
        yield
    finally:
        _sigterm_tasks -= 1
        if _sigterm_tasks == 0:
            signal.signal(signal.SIGTERM, _sigterm_before)


def ask(request: HFRequest) -> Answer:
    """Every exchange but a chat stream: its whole answer, retrying as :class:`Attempts` says; an error
    answer raised as an :class:`HTTPStatusError`. Nothing is sent once the request's ``stop`` is set."""
    attempts = Attempts(request)
    while True:
        given_up(request)
        try:
            answer = attempt_once(request)
            if answer.status < 400:
                return answer
            wait = attempts.after_status(*answer)
        except httpx2.HTTPError as ex:
            wait = attempts.after_error(ex, False)
        except httpx2.InvalidURL:  # one a server gave (a next page, say): nothing was sent
            raise HFError(f"Cannot ask {excerpt(request.url)}: it is not a well-formed URL") from None
        sleep(wait)


def hub_get(url: str, headers: dict | None = None, purpose: str = "hub") -> Answer:
    """The one GET of the router's catalog or the Hub (redirects followed; no retries): its answer, or an
    HFError."""
    return ask(HFRequest(url, purpose, headers or {}, method="GET", timeout=HUB_TIMEOUT, retries=0))


def _number_or_none(text) -> float | None:
    try:
        number = float(text)
    except (TypeError, ValueError):
        return None
    return number if _finite(number) else None


# ------------ HTTP: errors in words


def _server_message(body: bytes) -> tuple[str, dict]:
    """The server's own words from an error body of any shape, and its JSON if any."""
    text = body.decode("utf-8", errors="replace").strip()
    data = json_or_none(text)
    if isinstance(data, dict):
        error, errors = data.get("error"), data.get("errors")
        if isinstance(error, dict):
            error = error.get("message") or error
        # the Hub's lists, as huggingface_hub reads them: {"error": [...]}, {"errors": [{"message": ...}]}
        listed = [*(error if type(error) is list else ()), *(errors if type(errors) is list else ())]
        said = "; ".join(_as_text(field_of(item, "message") or item) for item in listed)
        message = (None if type(error) is list else error) or said or data.get("message")
        message = message or _detail_text(data.get("detail")) or data.get("error_description") or text
        code, described = data.get("error"), data.get("error_description")  # OAuth's: invalid_token, and why
        if type(code) is str and code and type(described) is str and described.strip():
            message = f"{code}: {described}"
        return _as_text(message), data
    if "<" in text and ">" in text:  # an HTML gateway page
        title = re.search(r"<title[^>]*>(.*?)</title>", text, re.S | re.I)
        text = title.group(1) if title else re.sub(r"<[^>]+>", " ", text)
    text = " ".join(text.split())
    return (text[:300] + "…" if len(text) > 300 else text), {}


def _as_text(value) -> str:
    """A value from an error body as text: a string as it is, anything else as JSON (never a repr)."""
    return value if type(value) is str else json.dumps(value, ensure_ascii=False)


def _detail_text(detail) -> str | None:
    """FastAPI validation errors (some providers, transformers serve) in words:
    ``[{"loc": ["body", "messages"], "msg": "Field required"}]`` reads ``body.messages: Field required``."""
    if type(detail) is not list:
        return detail if detail is None else _as_text(detail)
    problems = []
    for item in detail:
        if type(item) is dict and item.get("msg"):
            loc = item.get("loc") or ()
            where = loc if type(loc) is str else ".".join(map(_as_text, loc)) if type(loc) is list else ""
            problems.append(f"{where}: {_as_text(item['msg'])}" if where else _as_text(item["msg"]))
    return "; ".join(problems) or _as_text(detail)


def _hint(
    status: int, data: dict, gated: bool, bill_to: str | None, purpose: str, method: str, url: str
) -> str | None:
    path = split_url(url).path
    if status == 404 and path.endswith(("/chat/completions", "/embeddings")) and "/v1/" not in path:
        return (
            "The OpenAI API is served under /v1 (by the router, TGI, vLLM): "
            "end --base-url or LLM_HF_BASE_URL in /v1."
        )
    code = field_of(data, "error", "code")
    try:
        routed = url.startswith(router_root())  # the router (or LLM_HF_BASE_URL): providers, the token
    except HFError:  # an LLM_HF_BASE_URL that cannot be used: this request went elsewhere
        routed = False
    own = purpose in ("chat", "embeddings") and not (routed or is_hf_host(url))  # a model's (--base-url)
    if purpose == "mcp" and status in (401, 403) and is_hf_host(url):  # Hugging Face's: sent the token
        return _account_hint(status, None, "hub")
    if status in TASKS[purpose].status_hints and not own:  # about the providers of a task
        return TASKS[purpose].status_hints[status]
    if gated:  # the Hub's X-Error-Code: the token is good, its account has not accepted the model's terms
        return "The model is gated: accept its terms on its page on the Hub, with this token's account."
    if status in (401, 403) and own:
        hosted = " (a protected Inference Endpoint takes your Hugging Face token: --key-name huggingface)"
        words = "Check the key this server is sent: --key, or the model's 'llm hf add ... --key-name NAME'"
        return words + (hosted if is_endpoint(url) else "") + "."
    if status == 404 and own:
        return "Check the /v1 URL this model was added with, and that its server has the model."
    if status in (401, 402, 403):
        return _account_hint(status, bill_to, purpose)
    if code == "model_not_supported":  # "... not supported by any provider you have enabled"
        return (
            "Choose another provider with -o provider NAME, or another model; the router asks only the "
            "providers enabled at https://huggingface.co/settings/inference-providers."
        )
    if status == 404 and method == "POST" and routed:
        return "Choose another provider with -o provider NAME, or another model."
    if status == 410:
        return "That endpoint is gone; point LLM_HF_BASE_URL at https://router.huggingface.co/v1"
    if status in (502, 504) and method == "POST" and TASKS[purpose].generation:
        return (
            "The gateway gave up waiting for the provider: the request may have been processed (and "
            "billed), so it is not sent again; look at your usage before trying again"
        )
    modelless = method == "GET" or purpose == "hub"  # a catalog, a Hub file, a job's state or result, OAuth
    if status in (502, 504) and modelless:
        return "The gateway gave up; try again shortly."
    if status in (502, 504):
        return "The gateway gave up waiting for the model; try again, or choose another provider."
    if status == 429:
        return "Rate limited: wait a little and try again."
    if status == 503:
        estimate = data.get("estimated_time")
        if _finite(estimate) and estimate < 1e6:
            seconds = max(1, round(estimate))
            return f"The model is loading; try again in about {seconds} second{'s' if seconds != 1 else ''}."
        if modelless:
            return "The service is unavailable; try again shortly."
        return "The service is unavailable or the model is loading; try again shortly."
    return None


def _account_hint(status: int, bill_to: str | None, purpose: str) -> str:
    """What to do about a 401, 402 or 403 of Hugging Face's: the token, its permission, who is billed."""
    if status == 402 and bill_to:
        return f"The organisation '{bill_to}' is billed (-o bill_to, HF_BILL_TO): see its billing on the Hub."
    if status == 402:
        return "Your Inference Providers credits are used up: see https://huggingface.co/settings/billing"
    if bill_to:
        return (
            f"The token may lack the right to bill the organisation '{bill_to}'; "
            "check -o bill_to / HF_BILL_TO."
        )
    permission = "the 'Make calls to Inference Providers' permission: 'llm hf whoami' says if it has it"
    needs = "" if purpose == "hub" else f" (it needs {permission})"
    return f"Check your Hugging Face token{needs}: 'llm keys set huggingface', HF_TOKEN, or 'hf auth login'."


def says_why(data: dict, body: bytes) -> bool:
    """Whether an error answer gives a reason of its own (JSON, or plain words), not a gateway's page."""
    return bool(data or (body.strip() and b"<" not in body))


class HTTPStatusError(HFError):
    """An error answer in words; ``data`` is its JSON body, or empty; ``answer`` the answer itself."""

    def __init__(self, message: str, status: int, data: dict, answer: Answer | None = None):
        super().__init__(message)
        self.status, self.data, self.answer = status, data, answer


def http_error(
    url: str, status: int, headers, body: bytes, bill_to: str | None = None, purpose="chat", method="POST"
) -> HTTPStatusError:
    """An HTTP error answer as a ModelError: who answered, the status, the server's message, a hint."""
    message, data = _server_message(body)
    message = redact(message.strip() or headers.get("x-error-message") or "").strip()  # the Hub's, else
    who = who_answered(headers, url)
    text = f"{who} answered {status}: {message or '(no message)'}"
    hint = _hint(status, data, headers.get("x-error-code") == "GatedRepo", bill_to, purpose, method, url)
    return HTTPStatusError(f"{text} — {hint}" if hint else text, status, data, Answer(status, headers, body))


# ------------ HTTP: retries and transport errors


sleep = time.sleep  # module attributes, so tests can wait without waiting
async_sleep = asyncio.sleep

RETRY_STATUSES = {
    408: "{who} stopped waiting for the request",  # not read whole, so not done (huggingface_hub retries it)
    429: "Rate limited by {who}",
    502: "{who} answered 502",
    503: "{who} is unavailable or loading the model",
    504: "{who} answered 504",
}

RETRY_ERRORS = (httpx2.ConnectError, httpx2.ConnectTimeout, httpx2.RemoteProtocolError, httpx2.ReadError)


# What broke in a connection, in words: an exception's class name is no message.
BROKEN_WORDS = (
    (httpx2.ConnectError, "Could not reach {host}"),
    (httpx2.RemoteProtocolError, "The answer from {host} was cut off"),
    (httpx2.ReadError, "The connection to {host} broke while its answer came"),
    (httpx2.WriteError, "The connection to {host} broke while the request was sent"),
    (httpx2.UnsupportedProtocol, "The request to {host} was sent on to a URL that is neither http nor https"),
    (httpx2.TooManyRedirects, "Too many redirects from {host}"),
    (httpx2.LocalProtocolError, "The request could not be sent to {host}"),
)


def broken(ex: Exception, host: str) -> str:
    words = next((words for kind, words in BROKEN_WORDS if isinstance(ex, kind)), None)
    return (words or "The connection to {host} failed").format(host=host)


class Attempts:
    """After a failed attempt: how long to wait before the next, or the error to raise. Only 408, 429, 502,
    503, 504 and failed connections are retried, never once output was shown; waits back off exponentially
    with jitter unless the server says how long (Retry-After, RateLimit reset, estimated_time), and never
    exceed MAX_WAIT. Each wait is announced on stderr. A conversation's pinned provider that fails before any
    output is given up once: the same prompt goes to the router unpinned, with the usual retries again."""

    def __init__(self, request: HFRequest):
        self.request = request
        self.pinned = getattr(request, "pinned", None)  # a chat request's (see ChatRequest)
        self.number = 1
        self.total = request.retries + 1

    def after_status(self, status: int, headers, body: bytes) -> float:
        request = self.request
        error = http_error(
            request.url, status, headers, body, request.bill_to, request.purpose, request.method
        )
        if not self._retryable(status, headers, error.data, body) or self.number >= self.total:
            code = field_of(error.data, "error", "code")
            if self.pinned and (status in (404, 429) or status >= 500 or code == "model_not_supported"):
                return self._unpin(str(status))
            raise error
        who = who_answered(headers, request.url)
        reason = RETRY_STATUSES.get(status, f"{{who}} answered {status}")
        if status == 503 and request.method == "GET":  # a poll, a result: no model loads there
            reason = "{who} is unavailable"
        return self._next(server_wait(headers, error.data), reason.format(who=who))

    def _retryable(self, status: int, headers, data: dict, body: bytes) -> bool:
        """A repeatable GET (a poll, a result) is asked again after a 404 (twice: it may not be there yet)
        and any 5xx but a finished job's 500 that says why (its stated failure); a generation only when
        it cannot have been made: a request not read whole (408), a rate limit, or a 503 saying when to
        come back (a model loading)."""
        if self.request.method == "GET":
            stated = self.request.finished and status not in RETRY_STATUSES and says_why(data, body)
            return (
                status in RETRY_STATUSES
                or (status >= 500 and not stated)
                or (status == 404 and self.number < 3)
            )
        if TASKS[self.request.purpose].generation:
            return status in (408, 429) or (status == 503 and server_wait(headers, data) is not None)
        return status in RETRY_STATUSES

    def after_error(self, ex: httpx2.HTTPError, shown: bool) -> float:
        retry = isinstance(ex, RETRY_ERRORS) and _certificate_failure(ex) is None and not _dns_failure(ex)
        sent = not isinstance(ex, (httpx2.ConnectError, httpx2.ConnectTimeout))
        if sent and self.request.method == "POST" and TASKS[self.request.purpose].generation:
            error = transport_error(self.request, ex)
            note = "the request was sent and may have been processed (and billed), so it is not sent again"
            raise HFError(f"{error}; {note}") from None
        if shown or not retry or self.number >= self.total:
            if self.pinned and retry and not shown:
                return self._unpin(broken(ex, self.request.host))
            raise transport_error(self.request, ex) from None
        return self._next(None, broken(ex, self.request.host))

    def _unpin(self, reason: str) -> float:
        say(f"{self.pinned} did not answer ({reason}); asking the router for another provider")
        self.request.unpin()
        self.pinned = None
        self.number = 1
        return 0.0

    def again(self, reason: str) -> float:
        """The wait before asking again after an answer that could not be read."""
        return self._next(None, reason)

    def _next(self, wait: float | None, reason: str) -> float:
        if wait is None:
            wait = 2.0 ** (self.number - 1) * random.uniform(0.5, 1.0)
        wait = max(0.0, min(wait, MAX_WAIT))
        self.number += 1
        say(f"{reason}, retrying in {wait:.1f}s (attempt {self.number}/{self.total})")
        return wait


def retries_within(seconds: float) -> int:
    """How many retries, backing off as :class:`Attempts` does (1, 2, 4 … 60 s), fit in ``seconds``: a
    poll or a result download, repeatable, is asked again until its job's deadline."""
    count, waited = 0, 0.0
    while waited + min(2.0**count, MAX_WAIT) <= seconds:
        waited += min(2.0**count, MAX_WAIT)
        count += 1
    return count


def server_wait(headers, data: dict) -> float | None:
    """The wait the server asks for: Retry-After, a spent RateLimit's reset, or a 503's estimated_time. A
    value that is not a finite number (``nan``, ``1e400``) is no answer at all."""
    retry_after = headers.get("retry-after")
    wait = None
    if retry_after:
        try:
            wait = float(retry_after)
        except ValueError:
            with contextlib.suppress(TypeError, ValueError, OverflowError):
                wait = email.utils.parsedate_to_datetime(retry_after).timestamp() - time.time()
    if wait is None:  # IETF RateLimit: one header (the Hub's "api";r=0;t=55), or one a field (replicate's)
        one, number = headers.get("ratelimit", ""), r"\s*(\d+(?:\.\d+)?)\s*"
        left = re.search(r"\b(?:r|remaining)=(\d+)", one) or re.fullmatch(
            number, headers.get("ratelimit-remaining", "")
        )
        reset = re.search(r"\b(?:t|reset)=(\d+(?:\.\d+)?)", one) or re.fullmatch(
            number, headers.get("ratelimit-reset", "")
        )
        spent = left is None or float(left.group(1)) == 0  # requests left: a 429 for another reason
        wait = float(reset.group(1)) if reset and spent else data.get("estimated_time")
    return float(wait) if _finite(wait) else None


def _cause(ex: BaseException | None, kind: type) -> BaseException | None:
    """The exception of ``kind`` among ``ex`` and what caused it, if any."""
    seen = 0
    while ex is not None and seen < 10:
        if isinstance(ex, kind):
            return ex
        ex, seen = ex.__cause__ or ex.__context__, seen + 1
    return None


def _certificate_failure(ex: Exception) -> str | None:
    """Why a server's certificate was not trusted, or None: OpenSSL's words, or on Windows and macOS the
    system's (httpx2 asks their stores through truststore, whose error's text is a tuple)."""
    import ssl

    found = _cause(ex, ssl.SSLCertVerificationError)
    if found is not None:  # truststore's words may be its only argument ("Peer sent no certificates...")
        words = getattr(found, "verify_message", None) or next(iter(found.args), "")
        return str(words) or "not trusted"
    return in_words(ex) if "CERTIFICATE_VERIFY_FAILED" in str(ex) else None


def _dns_failure(ex: BaseException) -> bool:
    """Whether the host's name could not be looked up: a second try a second later finds the same."""
    import socket

    return _cause(ex, socket.gaierror) is not None


def proxy_for(url: str) -> str | None:
    """The environment variable whose proxy a request to ``url`` goes through, if any."""
    import urllib.request  # only on a failure: not at start-up

    host = split_url(url).hostname or ""
    if urllib.request.proxy_bypass_environment(host):
        return None
    scheme = split_url(url).scheme.upper()
    names = (f"{scheme}_PROXY", "ALL_PROXY")
    return next((n for name in names for n in (name, name.lower()) if os.environ.get(n)), None)


def transport_error(request: HFRequest, ex: httpx2.HTTPError) -> llm.ModelError:
    """A failed exchange in words: the server, the proxy or the certificates at fault; never a token."""
    host, detail = request.host, redact(in_words(ex))
    proxy = proxy_for(request.url)
    hint = TASKS[request.purpose].timeout_hint
    if isinstance(ex, httpx2.ProxyError) or (proxy and isinstance(ex, httpx2.ConnectError)):
        value = os.environ.get(proxy or "", "")  # as httpx2 reads it: http:// when no scheme is given
        address = split_url(value if "://" in value else f"http://{value}").hostname
        named = f"{address} (from {proxy})" if address else f"from {proxy or 'the environment'}"
        message = f"The proxy {named} failed on the way to {host}: {detail}"
    elif (why := _certificate_failure(ex)) is not None:
        message = (
            f"Could not verify the TLS certificate of {host} ({redact(why)}); if your network inspects TLS, "
            "point SSL_CERT_FILE or SSL_CERT_DIR at its certificate authority"
        )
    elif _dns_failure(ex):
        message = f"Could not find {host}: its name does not resolve ({detail}); check it and your network"
    elif isinstance(ex, httpx2.ConnectTimeout):
        message = f"Could not connect to {host} within {CONNECT_TIMEOUT:g} seconds"
    elif isinstance(ex, TooSlow) and ex.grown:
        each = f"under {GROWS_EVERY / 2**20:g} MiB in {request.timeout:g} seconds"
        message = f"{host} sent its answer too slowly ({each}); {hint}"
    elif isinstance(ex, TooSlow):
        message = f"{host} did not send its whole answer within {request.time_allowed:g} seconds "
        message += f"(twice the timeout); {hint}"
    elif isinstance(ex, httpx2.TimeoutException):
        message = f"{host} sent nothing for {request.timeout:g} seconds (timeout); {hint}"
    elif isinstance(ex, httpx2.ConnectError):
        message = f"Could not connect to {host}: {detail}"
    else:
        message = f"{broken(ex, host)} ({detail})"
    return HFError(message)


# ------------ the SSE decoder


_BOM = b"\xef\xbb\xbf"


class EventTooLarge(Exception):
    """An SSE line or event over the decoder's cap."""


class SSEDecoder:
    """Incremental Server-Sent Events parser (WHATWG HTML, "event stream"). Feed it raw bytes as they arrive;
    it returns the ``data`` of every event completed by them. Lines end in LF, CR or CRLF, even split across
    reads; ``data:`` takes an optional space; multi-line data joins with LF; comments and other fields are
    ignored; an event not closed by a blank line is dropped at the end, as the spec says. Linear in the bytes
    received: a line still open after a read is kept in pieces and joined once, when it ends."""

    def __init__(self, cap: int = MAX_EVENT):
        self.cap = cap
        self._open: list = []  # the pieces of a line not ended yet
        self._open_size = 0
        self._data: list = []
        self._data_size = 0
        self._skip_lf = False
        self._first_line = True

    def feed(self, chunk: bytes) -> list:
        if self._skip_lf:
            self._skip_lf = False
            if chunk[:1] == b"\n":
                chunk = chunk[1:]
        if b"\n" not in chunk and b"\r" not in chunk:
            return self._keep_open(chunk)
        if self._open:
            self._open.append(chunk)
            chunk = b"".join(self._open)
            self._open, self._open_size = [], 0
        lines = chunk.splitlines()
        end = chunk[-1:]
        if end == b"\n" or end == b"\r":
            self._skip_lf = end == b"\r"
        else:
            self._keep_open(lines.pop())
        if self._first_line and lines:
            self._first_line = False
            if lines[0].startswith(_BOM):
                lines[0] = lines[0][3:]
        events = []
        data, size = self._data, self._data_size
        for line in lines:
            if not line:
                if data:
                    events.append(b"\n".join(data))
                    data, size = [], 0
            elif line[:5] == b"data:":
                value = line[6:] if line[5:6] == b" " else line[5:]
                size += len(value) + 1
                if size > self.cap:
                    raise EventTooLarge
                data.append(value)
            elif line == b"data":
                data.append(b"")
        self._data, self._data_size = data, size
        return events

    def _keep_open(self, piece: bytes) -> list:
        self._open.append(piece)
        self._open_size += len(piece)
        if self._open_size + self._data_size > self.cap:
            raise EventTooLarge
        return []


def looks_like_sse(start: bytes) -> bool | None:
    """Whether a body served without ``text/event-stream`` is SSE all the same; None: too short to tell."""
    start = start.lstrip(b" \t\r\n").removeprefix(_BOM)
    if start[:1] in (b"{", b"["):
        return False
    if start.startswith((b"data:", b":", b"event:", b"id:", b"retry:")):
        return True
    return None if len(start) < 6 else False


# ------------ keys: which one a request carries; a browser login renewed as huggingface_hub renews it


def clean_token(token: str | None, source: str) -> str | None:
    """A token without the whitespace a pasted one carries; None when empty. One with other characters
    cannot go in a header (httpx2's complaint would print it): refused without showing it."""
    token = (token or "").strip()
    if token and not (token.isascii() and token.isprintable() and " " not in token):
        raise HFError(f"The token from {source} has characters a token cannot have; set it again")
    return token or None


def given_key(explicit_key: str | None, key_name: str | None, env_var: str | None) -> str | None:
    """The key the user gave llm: --key, the one stored as ``key_name``, else ``env_var``'s; cleaned, its
    source named in an error."""
    found = llm.get_key(explicit_key=explicit_key, key_alias=key_name, env_var=env_var)
    stored = key_name and key_name in llm.load_keys()
    source = (
        "--key" if explicit_key else f"the key '{key_name}' ('llm keys')" if stored else env_var or "--key"
    )
    return clean_token(found, source)


def hub_token() -> str | None:
    """The token Hugging Face's own tools use, after HF_TOKEN: HUGGING_FACE_HUB_TOKEN, then the token file
    ('hf auth login') where huggingface_hub looks: HF_TOKEN_PATH, else in HF_HOME, else in XDG_CACHE_HOME's
    huggingface folder, else in ~/.cache/huggingface (~ and $VARIABLES expanded); renewed when it must be."""
    token = clean_token(os.environ.get("HUGGING_FACE_HUB_TOKEN"), "HUGGING_FACE_HUB_TOKEN")
    if token:
        return token
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join("~", ".cache")
    hf_home = os.environ.get("HF_HOME") or os.path.join(cache, "huggingface")
    path = os.path.expandvars(
        os.path.expanduser(os.environ.get("HF_TOKEN_PATH") or os.path.join(hf_home, "token"))
    )
    token = token_in(pathlib.Path(path))
    return token and renewed(token, pathlib.Path(path))


def token_in(path: pathlib.Path) -> str | None:
    try:
        text = path.read_text(encoding="utf-8-sig")  # -sig: as Windows' Notepad saves it
    except (OSError, UnicodeDecodeError):
        return None
    return clean_token(text, str(path))


def browser_login(stored: pathlib.Path, token: str):
    """huggingface_hub's stored tokens (an INI file beside the token file) and the name of ``token``'s
    section when 'hf auth login' got it in the browser (the section holds a refresh token and when the token
    expires); else None."""
    import configparser  # only for a token from the token file

    tokens = configparser.ConfigParser(interpolation=None)  # as huggingface_hub reads and writes it
    try:
        tokens.read_string(stored.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, configparser.Error):  # none, or not one we can write back whole
        return None
    for name in tokens.sections():
        fields = tokens[name]
        expires = _number_or_none(fields.get("expires_at"))
        dated = expires is not None and 0 < expires < 3e10  # a time every system can say (before 2900)
        if fields.get("hf_token") == token and fields.get("refresh_token") and dated:
            return tokens, name
    return None


def renewed(token: str, path: pathlib.Path) -> str:
    """The token file's token. One 'hf auth login' got in the browser expires (a month, in huggingface_hub's
    tests); with less than a day left it is renewed first, as huggingface_hub renews it: its refresh token
    exchanged at the Hub under huggingface_hub's own lock (a refresh token may be good for one exchange),
    both files written back. Not renewed: as it was, said once; refused in one line once it has expired."""
    stored = path.with_name("stored_tokens")
    login = browser_login(stored, token)
    ends = float(login[0][login[1]]["expires_at"]) if login else math.inf
    if ends - RENEW_BEFORE > time.time():
        return token
    try:
        if not is_hf_host(hub_url()):
            raise HFError(f"{split_url(hub_url()).hostname} (HF_ENDPOINT) is not huggingface.co over HTTPS")
        with locked(stored):  # the lock huggingface_hub takes
            return renew(stored, path, token)
    except (OSError, HFError) as ex:
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(ends))
        reason = in_words(ex).rstrip(".")
        if ends <= time.time():
            raise HFError(
                f"The token 'hf auth login' got in the browser expired at {when} and could not be renewed "
                f"({reason}): run 'hf auth login' again"
            ) from None
        warn_once("renew", f"Cannot renew the token 'hf auth login' got ({reason}); it expires at {when}")
        return token


def renew(stored: pathlib.Path, path: pathlib.Path, token: str) -> str:
    """A browser login's token exchanged for a new one at the Hub (under the lock), both files written."""
    login = browser_login(stored, token)
    if login is None:  # renewed meanwhile by another process: the file has its new token
        return token_in(path) or token
    tokens, name = login
    form = {
        "grant_type": "refresh_token",
        "refresh_token": tokens[name]["refresh_token"],
        "client_id": os.environ.get("HF_DEVICE_CODE_OAUTH_CLIENT_ID") or OAUTH_CLIENT,
    }
    url = hub_url() + "/oauth/token"
    answer = ask(
        HFRequest(url, "hub", {"Accept": "application/json"}, form=form, timeout=HUB_TIMEOUT, retries=0)
    )
    got = answer.json()
    got = got if type(got) is dict else {}
    new, lasts = clean_token(str(got.get("access_token") or ""), url), _number_or_none(got.get("expires_in"))
    if not new:
        raise HFError(f"{split_url(url).hostname} answered {url} without a token")
    tokens[name]["hf_token"] = new
    tokens[name]["refresh_token"] = str(got.get("refresh_token") or tokens[name]["refresh_token"])
    if lasts is None:
        tokens.remove_option(name, "expires_at")
    else:
        tokens[name]["expires_at"] = str(int(time.time() + lasts))
    written = io.StringIO()
    tokens.write(written)
    write_file(stored, written.getvalue(), private=True)  # the refresh token first: it may be the only one
    if token_in(path) == token:  # unless the user switched tokens meanwhile
        write_file(path, new, private=True)
    debug(f"renewed the token 'hf auth login' got in the browser ({redact(name)}), in {stored} and {path}")
    return new


_told_no_token: set = set()  # LLM_HF_BASE_URL hosts already told about in this process


def key_for(url: str, explicit_key: str | None, key_name: str | None, override: bool) -> str | None:
    """The one answer to which key a request to ``url`` carries: the Hugging Face token (--key, the stored
    key, HF_TOKEN, then Hugging Face's own) only to Hugging Face hosts over HTTPS, or where the user named
    it. Any other server gets --key or the model's named key; one reached through LLM_HF_BASE_URL
    (``override``) also LLM_HF_KEY. Without one, nothing: said once. NoKey where one was asked for."""
    if is_hf_host(url) or key_name == KEY_NAME:  # a Hugging Face host, or the user opted in by name
        key = given_key(explicit_key, KEY_NAME, "HF_TOKEN") or hub_token()
        if not key:
            raise NoKey(
                "No Hugging Face token found. Give one in any of these ways: 'llm keys set huggingface', "
                "the HF_TOKEN environment variable, or 'hf auth login'."
            )
        return key
    env_var = "LLM_HF_KEY" if override else None
    asked = explicit_key or key_name or (env_var and os.environ.get(env_var))
    key = given_key(explicit_key, key_name, env_var) if asked else None
    if asked and not key:  # a stored key missing, or blank where it was given
        blank = "--key" if explicit_key else None if key_name else env_var
        raise NoKey(f"The key from {blank} is blank" if blank else f"No key found: 'llm keys set {key_name}'")
    host = split_url(url).hostname or url
    if key is None and (override or is_deployed_host(url)) and host not in _told_no_token:
        _told_no_token.add(host)
        how = "to send it, add the model again with --key-name huggingface"
        how = "set LLM_HF_KEY to send a key" if override else how
        say(f"{host} is not huggingface.co over HTTPS, so the Hugging Face token is not sent to it ({how})")
    return key


def hub_authorization(url: str) -> dict:
    """The Authorization of a GET of the Hub, as huggingface_hub sends its token unasked: the token (to a
    Hub elsewhere, LLM_HF_KEY), else none, and none with HF_HUB_DISABLE_IMPLICIT_TOKEN set."""
    try:
        key = (
            None if switched_on("HF_HUB_DISABLE_IMPLICIT_TOKEN") else key_for(url, None, None, override=True)
        )
    except NoKey:
        key = None  # public files, the search: they need none
    return {"Authorization": f"Bearer {key}"} if key else {}


def bill_to_of(option: str | None) -> str | None:
    """The organisation to bill: -o bill_to (checked as an option is), else $HF_BILL_TO, checked here."""
    value = option or os.environ.get("HF_BILL_TO")
    if not option and value and not re.fullmatch(_ORG_NAME, value):
        raise HFError("HF_BILL_TO must be an organisation's name on the Hub (letters, digits, '-', '_', '.')")
    return value or None


class _HFModel:
    """What every model of ours shares: its id; its spec, given, or made from its registry row the first time
    it is asked (thousands are made on every llm command, and most are never used); and its key, the Hugging
    Face token only to Hugging Face hosts over HTTPS."""

    needs_key = KEY_NAME
    key_env_var = "HF_TOKEN"
    spec_of: Callable  # (model id, registry row) -> its spec: each kind of model's own

    def __init__(self, model_id: str, row: str = "", spec=None):
        self.model_id = model_id
        self._row = row
        if spec is not None:
            self.spec = spec
            if spec.base_url and not is_hf_host(spec.base_url):  # its own key, or none
                self.needs_key, self.key_env_var = spec.key_name, None

    @functools.cached_property
    def spec(self):
        return self.spec_of(self.model_id, self._row)

    def get_key(self, explicit_key: str | None = None) -> str | None:
        """The Hugging Face token, only for Hugging Face hosts; elsewhere the model's own key, if any."""
        if self.key:
            return clean_token(self.key, "model.key")
        url = self.spec.base_url or base_url()
        return key_for(url, explicit_key, self.spec.key_name, override=self.spec.base_url is None)

    def __str__(self) -> str:
        return f"Hugging Face: {self.model_id}"


def known_model(name: str, embedding: bool = False):
    """The llm model (of any plugin) of that id or alias, or None."""
    try:
        return (llm.get_embedding_model if embedding else llm.get_model)(name)
    except llm.UnknownModelError:
        return None


# ============ the provider table
# One row per (task, provider): where the request goes and how its body is built, the options it takes,
# how its answer is read, and how its long work is followed. The rows come last; first what they share,
# then each provider's own builders, readers and jobs, one provider after another.
# ------------ what the rows share: audio streamed into a body a piece at a time; a transcript from any answer


# The audio types llm may attach, each with the file name a provider that sniffs names is sent.
AUDIO_TYPES = {
    "audio/mpeg": ".mp3",
    "audio/mp3": ".mp3",
    "audio/wav": ".wav",
    "audio/x-wav": ".wav",
    "audio/wave": ".wav",
    "audio/flac": ".flac",
    "audio/x-flac": ".flac",
    "audio/ogg": ".ogg",
    "audio/webm": ".webm",
    "video/webm": ".webm",
    "audio/mp4": ".m4a",
    "audio/x-m4a": ".m4a",
    "audio/m4a": ".m4a",
    "video/mp4": ".mp4",  # the sound of a video: ffmpeg-based servers take it
}


class Audio(NamedTuple):
    """The attached audio: its type, its size, and its bytes a piece at a time (from its file, if any)."""

    mime: str
    size: int
    path: str | None = None
    data: bytes | None = None

    def pieces(self):
        if self.path is None:
            view = memoryview(self.data)
            for start in range(0, self.size, AUDIO_PIECE):
                yield view[start : start + AUDIO_PIECE]
            return
        with open(self.path, "rb") as file:
            while piece := file.read(AUDIO_PIECE):
                yield piece


class Upload(NamedTuple):
    """A request body sent a piece at a time, never whole in memory; ``pieces()`` starts it over."""

    content_type: str
    length: int
    pieces: Callable


_AUDIO_MARK = "\x00audio\x00"  # where the audio goes in a JSON body (no option's text can spell it)


def json_upload(document: dict, audio: Audio, prefix: str = "") -> Upload:
    """``document`` as JSON, with the audio in base64 after ``prefix`` where it holds ``_AUDIO_MARK``."""
    head, _, tail = json.dumps(document).partition(json.dumps(_AUDIO_MARK))
    head_bytes, tail_bytes = f'{head}"{prefix}'.encode(), f'"{tail}'.encode()

    def pieces():
        yield head_bytes
        for piece in audio.pieces():
            yield base64.b64encode(piece)
        yield tail_bytes

    return Upload("application/json", len(head_bytes) + 4 * -(-audio.size // 3) + len(tail_bytes), pieces)


def multipart_upload(audio: Audio, fields: dict) -> Upload:
    """A multipart form: the audio as ``file`` (named for its type: servers go by it), then ``fields``."""
    boundary = uuid.uuid4().hex
    name = "audio" + AUDIO_TYPES[audio.mime]  # llm let through only these types
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
        f"Content-Type: {audio.mime}\r\n\r\n"
    ).encode()
    tail = "".join(
        f'\r\n--{boundary}\r\nContent-Disposition: form-data; name="{key}"\r\n\r\n{value}'
        for key, value in fields.items()
    )
    tail_bytes = f"{tail}\r\n--{boundary}--\r\n".encode()

    def pieces():
        yield head
        yield from audio.pieces()
        yield tail_bytes

    return Upload(
        f"multipart/form-data; boundary={boundary}", len(head) + audio.size + len(tail_bytes), pieces
    )


def with_progress(upload: Upload, where: str) -> Upload:
    """The same upload, saying on stderr how far it has got every few seconds, when it takes that long."""

    def pieces():
        sent, ticker = 0, Ticker(UPLOAD_SAYS)
        for piece in upload.pieces():
            yield piece
            sent += len(piece)
            if ticker.due():
                say(f"sent {sent / 1e6:.1f} of {upload.length / 1e6:.1f} MB to {where}")

    return upload._replace(pieces=pieces)


class Transcript(NamedTuple):
    text: str
    segments: list  # [{"start", "end", "text"}], seconds, when the provider sent them
    language: str | None = None
    duration: float | None = None  # seconds of audio, when reported


def _segments(data: dict) -> list:
    """``chunks`` ({"timestamp": [start, end]}: hf-inference, fal) or ``segments`` ({"start", "end"})."""
    segments = []
    for item in data.get("chunks") or data.get("segments") or ():
        if type(item) is not dict or type(item.get("text")) is not str:
            continue
        start, end = (
            item.get("timestamp")
            if type(item.get("timestamp")) is list and len(item["timestamp"]) == 2
            else (item.get("start"), item.get("end"))
        )
        end = end if _finite(end) and end < MAX_SEGMENT else None
        if _finite(start) and 0 <= start < MAX_SEGMENT:  # no audio lasts a year: a broken server's figure
            segments.append({"start": start, "end": end, "text": item["text"].strip()})
    return segments


def transcript_of(data) -> Transcript | None:
    """A transcript from what a provider answered: {"text"} (or fal's {"output"}), with its timed parts."""
    if type(data) is not dict:
        return None
    text = data.get("text", data.get("output"))
    if type(text) is not str:
        return None
    language, duration = data.get("language"), data.get("duration")
    language = language if type(language) is str else None
    return Transcript(text.strip(), _segments(data), language, duration if _finite(duration) else None)


def replicate_transcript(output) -> Transcript | None:
    """A finished prediction's output: a string, openai/whisper's object, or a list of either (the first)."""
    if type(output) is list and output and type(output[0]) in (str, dict):  # as huggingface_hub reads it
        output = output[0]
    if type(output) is str:
        return Transcript(output.strip(), [])
    if type(output) is not dict:
        return None
    text = output.get("transcription", output.get("translation"))
    found = transcript_of({"text": text, "segments": output.get("segments")})
    language = output.get("detected_language")
    return found._replace(language=language) if found and type(language) is str else found


# ------------ what the rows share: the request, the choice of a provider, long work followed


class Route(NamedTuple):
    """How one provider does one task."""

    build: Callable  # (provider id, options given, the input) -> (path under the router, JSON body or Upload)
    read: Callable | None = None  # the answer's JSON at the end -> the task's result, or None
    takes: set | frozenset = frozenset()  # what it takes beyond the input: options, "prompt" text, an "image"
    job: "Job | None" = None  # how its long work is followed, when it answers with a job
    # (body, provider id, repo id, weights path, scale or None) -> the body with a LoRA adapter in it, as the
    # provider takes one; None: a LoRA is never sent there (it would run as its base model)
    lora: Callable | None = None


IMAGE_IN = ("image-to-", "image-text-to-")  # the Hub's tasks that take an input image (-a); image-text-to-*
# ones take text alone too, and are sent only where both clients send them


def image_text_served(provider: str, hub_task: str) -> bool:
    return not hub_task.startswith("image-text-") or provider in ("fal-ai", "wavespeed")


def choose_provider(spec, task: str, chosen: str | None, asked: dict) -> tuple:
    """The (provider, providerId, LoRA) to send to: the one chosen, else the model's first that takes all
    that is given; LoRA is (repo id, weights path) for an adapter, else None. What it cannot take is refused
    before any request, naming the providers that can."""
    providers = {part[0]: (part[1], part[2], part[3:]) for part in spec.providers}
    if chosen is not None and chosen not in providers:
        raise HFError(
            f"{spec.repo_id} is not served by {chosen} for {task}; its providers: {', '.join(providers)}"
        )

    def lacks(name: str) -> list:
        takes, hub_task = PROVIDERS[task][name].takes, providers[name][1]
        lacking = sorted(set(asked) - takes - {"image", "lora_scale"})
        if "image" in asked and not ("image" in takes and hub_task.startswith(IMAGE_IN)):
            lacking.append("image")  # the provider, or its mapping of this model, takes text alone
        if "image" not in asked and "image" in takes and hub_task.startswith("image-to-"):
            lacking.append("no image")  # its mapping of this model starts from an input image: none is given
        return lacking + (["lora_scale"] if "lora_scale" in asked and not providers[name][2] else [])

    able = [name for name in providers if not lacks(name)]
    provider = chosen or (able[0] if able else spec.providers[0][0])
    lacking = lacks(provider)
    if lacking:
        what = GIVEN_WORDS.get(lacking[0], f"-o {lacking[0]}")
        instead = f"choose -o provider {' or '.join(able)}" if able else "leave it out"
        if lacking[0] == "no image":
            raise HFError(
                f"{spec.repo_id} starts from an input image at {provider}: attach one with -a FILE"
                + (f", or {instead}" if able else "")
            )
        raise HFError(f"{provider} takes no {what} for {spec.repo_id}; {instead}")
    weights = providers[provider][2]
    return provider, providers[provider][0], (spec.repo_id, weights[0]) if weights else None


@contextlib.contextmanager
def refusals(spec, chosen: tuple, sent: str):
    """A provider's refusal of what it was sent (REFUSALS) in the same words for every task: its own words,
    ``sent`` (what was sent), and the model's other providers."""
    try:
        yield
    except HTTPStatusError as ex:
        if ex.status not in REFUSALS:
            raise
        others = ", ".join(part[0] for part in spec.providers if part[0] != chosen[0])
        where = f"; other providers of {spec.repo_id}: {others} (-o provider NAME)" if others else ""
        raise HFError(f"{str(ex).rstrip('.')} ({sent}){where}") from None


REFUSALS = (400, 413, 422)  # what a provider answers what it will not take


# What is asked that is no -o option, in the words of a refusal.
GIVEN_WORDS = {
    "prompt": "prompt or system text",
    "image": "input image (-a)",
    "lora_scale": "-o lora_scale (it is not a LoRA adapter there)",
}


# What a provider asks every request of its routes to carry (its polls too), as both Hugging Face clients send
# it: zai-org its words in English and the channel it counts Hugging Face's requests under (z.ai wrote them).
PROVIDER_HEADERS = {"zai-org": {"Accept-Language": "en-US,en", "x-source-channel": "hugging_face"}}


def provider_request(provider: str, task: str, path: str, payload, options, key: str | None) -> HFRequest:
    """A request to a provider's own route under the router: the token, the bill, the provider's and a job's
    own headers, and the body as JSON or as an upload sent a piece at a time."""
    bill_to = bill_to_of(options.bill_to)
    headers = {**request_headers(False, key, bill_to), **PROVIDER_HEADERS.get(provider, {})}
    job = PROVIDERS[task][provider].job
    headers.update(job.headers if job else {})
    upload = with_progress(payload, provider) if isinstance(payload, Upload) else None
    if upload is not None:
        headers.update({"Content-Type": upload.content_type, "Content-Length": str(upload.length)})
    return HFRequest(
        router_root() + path,
        task,
        headers,
        body=None if upload else payload,
        upload=upload,
        timeout=options.timeout or TASKS[task].timeout,
        bill_to=bill_to,
        retries=RETRIES if options.retries is None else options.retries,
    )


class Done(NamedTuple):
    """What a provider answered a task with: the request, the first answer, and the result its row read."""

    request: HFRequest
    who: str  # the provider that answered, as the router names it
    answer: Answer
    result: object  # None: the answer held none
    final: object  # what it said last: the JSON at the end of its work, else the answer's bytes
    job: str | None = None  # the id of its long work, if any
    seconds: float = 0.0  # from sending it to its result


def run_task(
    task: str, chosen: tuple, options, asked: dict, data, key: str | None, stop=None, into=None
) -> Done:
    """The task done by the provider ``chosen`` (see :func:`choose_provider`): the request, its long work
    followed, the answer read by the provider's row (an answer that is not JSON written to ``into``)."""
    provider, provider_id, lora = chosen
    row = PROVIDERS[task][provider]
    path, payload = row.build(provider_id, asked, data)
    if lora is not None:  # an adapter: sent as one, never run as its base model (see Discovery.servable)
        row.lora(payload, provider_id, *lora, asked.get("lora_scale"))
    request = provider_request(provider, task, path, payload, options, key)
    request.stop, request.into = stop, into
    started = time.monotonic()
    try:
        answer = ask(request)
    except (KeyboardInterrupt, Stopped):
        if request.sent:  # else given up before anything was sent
            say(f"stopped; the request was sent to {provider} and may still run (and be billed)")
        raise
    state = final = answer.json()
    ident = None
    if row.job is not None and type(state) is dict:
        ident = row.job.look(state)[0]
        state = final = follow(row.job, provider, state, request)
    result = row.read(state) if row.read else None
    who = provider_named(answer.headers) or provider
    final = answer.body if final is None else final
    ident = ident if type(ident) is str else None
    return Done(request, who, answer, result, final, ident, time.monotonic() - started)


class Job(NamedTuple):
    """How a provider's long work is followed through the router, from the answer that began it: where an
    answer says how the work is, which of its statuses mean it ended well or failed (any other: it goes
    on), and where a failed one says why."""

    name: str  # what the provider calls it: prediction, job, task
    look: Callable  # the first answer -> (its id, the path to poll; None: nothing to wait for)
    ended: tuple  # the statuses of work that ended well
    failed: tuple = ()  # the statuses of work that failed: the first said "failed", the others by name
    status: tuple = ("status",)  # where an answer says how the work is (a field_of path)
    reason: tuple = ("error",)  # where a failed answer says why
    result: Callable | None = None  # the first answer -> the path of its result, fetched once done
    headers: dict = {}  # what the request that begins it asks for
    cancel: Callable | None = None  # (its id, the first answer) -> (method, path) asking it to stop

    def running(self, state: dict) -> bool:
        return field_of(state, *self.status) not in (*self.ended, *self.failed)

    def failure(self, state: dict) -> str | None:
        """Why the work failed, in words; None when it did not."""
        status = field_of(state, *self.status)
        if status not in self.failed:
            return None
        words = "failed" if status == self.failed[0] else excerpt(status)
        return f"{words}: {excerpt(field_of(state, *self.reason) or '(no reason given)')}"


def follow(job: Job, provider: str, answer: dict, request: HFRequest) -> dict:
    """A provider's long work followed to its end: polled every POLL_EVERY seconds within twice the
    request's timeout, a line on stderr every LONG_WORK_SAYS seconds; its failure in one line; on Ctrl-C
    (or a cancelled task) the provider asked to stop it where it can be, else told where it will be."""
    ident, path = job.look(answer)
    state = answer
    what = f"{provider}'s {job.name}" + (f" {excerpt(ident)}" if type(ident) is str else "")
    where = path and router_root() + (job.result(answer) if job.result else path)  # None: nothing to wait for
    ticker = Ticker(LONG_WORK_SAYS)
    try:
        while path is not None and job.running(state):
            now, status = time.monotonic(), excerpt(field_of(state, *job.status))
            waited = now - ticker.started
            if waited > 2 * request.timeout:
                raise HFError(
                    f"{what} was not finished after {waited:.0f} seconds (status {status}); "
                    f"its result can still be fetched at {where} (wait longer with -o timeout SECONDS)"
                )
            if ticker.due(now):
                ahead = state.get("queue_position")
                queue = f", {ahead} ahead in the queue" if type(ahead) is int else ""
                say(f"{provider} is {TASKS[request.purpose].doing} ({status}{queue}, {waited:.0f} s)")
            sleep(POLL_EVERY)
            given_up(request)
            state = looked_at(request, path, what)
    except (KeyboardInterrupt, Stopped):
        if job.cancel is not None and path is not None:
            cancel(job, what, ident, answer, request, where)
        elif path is not None:
            say(f"{what} goes on (it cannot be stopped from here); its result: {where}")
        raise
    reason = job.failure(state)
    if reason is not None:
        raise HFError(f"{what} {reason}")
    return result_of(request, job.result(answer), what) if job.result and path else state


def looked_at(request: HFRequest, path: str, what: str) -> dict:
    """One look at running work; what went wrong in one line."""
    try:
        return poll(request, path)
    except llm.ModelError as ex:
        where = f"{what} may still finish (it is looked at {router_root()}{path})"
        raise HFError(f"{str(ex).rstrip('.')}; {where}") from None


def result_of(request: HFRequest, path: str, what: str) -> dict:
    """A finished job's result, asked again for about FETCH_BUDGET seconds: its stated failure at once (see
    :func:`failed`), else where the result stays."""
    try:
        return poll(request, path, retries_within(FETCH_BUDGET), finished=True)
    except llm.ModelError as ex:
        where = f"{router_root()}{path}"
        raise failed(ex, what) or HFError(
            f"{what} is done, but fetching its result failed: {str(ex).rstrip('.')}; it is at {where}"
        ) from None


def failed(ex: llm.ModelError, what: str) -> llm.ModelError | None:
    """A job's stated failure: a 500 (not a gateway's 502, 503, 504) whose words say why, never retried."""
    stated = isinstance(ex, HTTPStatusError) and says_why(ex.data, ex.answer.body)
    if stated and ex.status >= 500 and ex.status not in RETRY_STATUSES:
        return HFError(f"{what} failed: {excerpt(_server_message(ex.answer.body)[0])}")
    return None


def cancel(job: Job, what: str, ident, answer: dict, request: HFRequest, where: str) -> None:
    """Work given up (Ctrl-C): ask the provider to stop it, within a second, and say whether it did."""
    method, path = job.cancel(ident, answer)
    headers = router_headers(request)
    stop = follow_up(
        request, router_root() + path, headers, method, retries=0, timeout=CANCEL_TIMEOUT, stop=None
    )
    try:
        ask(stop)
        say(f"{what} is cancelled")
    except (llm.ModelError, httpx2.HTTPError) as ex:
        reason = f"{stop.host} answered {ex.status}" if isinstance(ex, HTTPStatusError) else "no answer"
        say(f"{what} may go on: asking it to stop failed ({reason}); its result: {where}")


def router_headers(request: HFRequest) -> dict:
    """What a job's later requests to the router carry of the one that began it: the token, the bill, and
    what its provider asks every request to carry."""
    kept = {"Authorization", "X-HF-Bill-To"}.union(*PROVIDER_HEADERS.values())
    return {k: v for k, v in request.headers.items() if k in kept}


def follow_up(request: HFRequest, url: str, headers: dict, method="GET", retries=None, **more) -> HFRequest:
    """A later request of the work ``request`` began (a poll, a cancel, its result): its purpose, timeout
    and stop; asked again until the work's deadline, unless ``retries`` says otherwise."""
    retries = retries_within(2 * request.timeout) if retries is None else retries
    more = {"timeout": request.timeout, "stop": request.stop, **more}
    return HFRequest(url, request.purpose, headers, method=method, retries=retries, **more)


def poll(request: HFRequest, path: str, retries: int | None = None, finished: bool = False) -> dict:
    """One look at a provider's long work through the router (the token and the bill go only there); an
    answer that is not JSON (a gateway's page) asked again as a 503 would be."""
    headers, bill_to = router_headers(request), request.bill_to
    look = follow_up(
        request, router_root() + path, headers, retries=retries, bill_to=bill_to, finished=finished
    )
    attempts = Attempts(look)
    while True:
        answer = ask(look)
        data = answer.json()
        if type(data) is dict:
            return data
        if attempts.number >= attempts.total:
            raise HFError(f"{look.host} answered {look.url} with something that is not a JSON object")
        sleep(attempts.again(f"{look.host} answered with something that is not JSON"))


def job_path(provider: str, what: str, url, answer) -> str:
    """The path of a URL a provider gave for its job, to follow under the router; else one line."""
    path = split_url(url if type(url) is str else "").path
    if not re.fullmatch(r"(/[A-Za-z0-9_.-]+)+", path) or ".." in path:
        raise HFError(f"{provider} answered with {what} without a result URL: {excerpt(answer)}")
    return path


def polled_at(provider: str, what: str, field: str, path: str) -> Callable:
    """A job's look: its id at ``field`` of the first answer (else one line), polled at ``path``."""

    def look(answer: dict) -> tuple:
        ident = answer.get(field)
        if type(ident) is not str or not re.fullmatch(r"[A-Za-z0-9_-]+", ident):
            raise HFError(f"{provider} answered with {what} without an id: {excerpt(answer)}")
        return ident, path.format(id=ident)

    return look


# The options of images and videos as providers name them where they differ from ours (the two Hugging
# Face clients differ: these follow huggingface_hub), and the input image as fal takes it.
OPTION_NAMES = {
    "steps": "num_inference_steps",
    "guidance": "guidance_scale",
    "frames": "num_frames",
    "image": "image_url",
    "lora_scale": None,  # sent with the adapter, as each provider takes it (Route.lora)
}


def renamed(asked: dict, **names) -> dict:
    """The options asked for under a provider's names: ``names`` (None: left out), else OPTION_NAMES'."""
    names = {**OPTION_NAMES, **names}
    return {names.get(name, name): value for name, value in asked.items() if names.get(name, name)}


def sends(
    path: str, text: str = "prompt", model: bool = False, fixed: dict | None = None, **names
) -> Callable:
    """A builder of a JSON body: the input under ``text``, the ``fixed`` fields, the options renamed (see
    renamed), and the provider's id in ``path`` (``{id}``) or, with ``model``, last as "model"."""

    def build(provider_id: str, asked: dict, data) -> tuple:
        body = {text: data, **(fixed or {}), **renamed(asked, **names)}
        body.update({"model": provider_id} if model else {})
        return path.format(id=provider_id), body

    return build


def first(value):
    """The first of a list, or the value itself (an output given as a URL or a list of them)."""
    return (value[0] if value else None) if type(value) is list else value


def url_at(*names) -> Callable:
    """A reader of the result URL at ``names`` in the final state (or the first of a list there)."""
    return lambda state: first(field_of(state, *names))


@functools.cache
def provider_options(timeout: float = LONG_TIMEOUT) -> type:
    """The options of a model sent to a provider's own route (speech, images), built when first asked
    (see BuiltWhenRead); each kind adds its own. ``timeout``: the kind's default (video's is longer)."""

    class Strict(llm.Options):
        model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    return routed(
        Strict,
        "The provider to send it to ('llm hf models'); default: the model's first that takes what is asked",
        f"Seconds to wait for the next bytes (default {timeout:g}); twice that in all",
        f"Retries after a rate limit, a model loading or a connection not made (default {RETRIES})",
        "(hf-inference, fal-ai, ...)",
    )


# ------------ hf-inference: the Hub's own serverless inference


HF_INFERENCE = "/hf-inference/models/{id}"


def hf_inference_speech(provider_id: str, asked: dict, audio: "Audio") -> tuple:
    """The audio's bytes as they are; with timestamps, JSON with the audio in base64 and the parameter."""
    path = HF_INFERENCE.format(id=provider_id)
    if asked.get("timestamps"):
        return path, json_upload({"inputs": _AUDIO_MARK, "parameters": {"return_timestamps": True}}, audio)
    return path, Upload(audio.mime, audio.size, audio.pieces)


# Text in, as huggingface_hub sends it (its empty parameters too); the audio's bytes come back.
HF_INFERENCE_TEXT = sends(HF_INFERENCE, "inputs", fixed={"parameters": {}})


def hf_inference_bytes(provider_id: str, asked: dict, image) -> tuple:
    """An attached image's bytes as they are."""
    data = attachment_bytes(image)
    return HF_INFERENCE.format(id=provider_id), Upload(image.resolve_type(), len(data), lambda: iter((data,)))


def hf_inference_image(provider_id: str, asked: dict, prompt: str) -> tuple:
    parameters = renamed(asked)
    return HF_INFERENCE.format(id=provider_id), {
        "inputs": prompt,
        **({"parameters": parameters} if parameters else {}),
    }


# ------------ fal-ai: JSON in, a URL out; images through its queue when it queues them


# fal judges a data URL by its label, not its bytes: it refuses audio/wav and takes audio/x-wav; FLAC, Ogg
# and M4A go as audio/mpeg, as huggingface_hub sends every file, and fal reads what the bytes are.
FAL_LABELS = {
    "audio/wav": "audio/x-wav",
    "audio/wave": "audio/x-wav",
    "audio/x-wav": "audio/x-wav",
    "audio/webm": "video/webm",
    "video/webm": "video/webm",
}


def fal_speech(provider_id: str, asked: dict, audio: "Audio") -> tuple:
    document = {"audio_url": _AUDIO_MARK, **({"language": asked["language"]} if "language" in asked else {})}
    label = FAL_LABELS.get(audio.mime, "audio/mpeg")
    return f"/fal-ai/{provider_id}", json_upload(document, audio, f"data:{label};base64,")


def fal_image(provider_id: str, asked: dict, prompt: str) -> tuple:
    """The input image as image_url, and in image_urls for the models that take a list (FLUX.2)."""
    body = {"prompt": prompt, **renamed(asked, width=None, height=None)}
    body.update({"image_urls": [asked["image"]]} if "image" in asked else {})
    if "width" in asked:
        body["image_size"] = {"width": asked["width"], "height": asked["height"]}
    return f"/fal-ai/{provider_id}", body


def fal_queued(answer: dict) -> str:
    """Where fal keeps a job it queued (as huggingface.js has fal draw), under the router."""
    return "/fal-ai" + job_path("fal-ai", "a queued job", answer["response_url"], answer)


FAL_QUEUE = Job(
    "job",
    lambda answer: (
        (None, None)
        if "response_url" not in answer
        else (answer.get("request_id"), fal_queued(answer) + "/status?_subdomain=queue")
    ),
    ended=("COMPLETED",),  # a job that failed says so where its result is (see result_of)
    result=lambda answer: fal_queued(answer) + "?_subdomain=queue",
    cancel=lambda ident, answer: ("PUT", fal_queued(answer) + "/cancel?_subdomain=queue"),
)


def fal_lora(body: dict, provider_id: str, repo_id: str, weights: str, scale) -> None:
    """A LoRA adapter as both clients send fal one: its weights' URL on the Hub; fal's stable-diffusion
    LoRA route also needs the base model (else it answers 422 "model_name field required")."""
    body["loras"] = [
        {"path": f"{hub_url()}/{repo_id}/resolve/main/{weights}", "scale": 1 if scale is None else scale}
    ]
    if provider_id == "fal-ai/lora":
        body["model_name"] = "stabilityai/stable-diffusion-xl-base-1.0"


# ------------ OpenAI-style routes: together, deepinfra, scaleway, nscale


def openai_style_speech(path: str) -> Route:
    """An OpenAI-style transcription route: a multipart form; the transcript in the answer."""

    def build(provider_id: str, asked: dict, audio: "Audio") -> tuple:
        fields = {name: asked[name] for name in ("language", "prompt") if name in asked}
        if asked.get("timestamps"):
            fields["response_format"] = "verbose_json"  # with segments
        return path, multipart_upload(audio, {**fields, "model": provider_id})

    return Route(build, transcript_of, {"language", "prompt", "timestamps"})


def together_tts(provider_id: str, asked: dict, text: str) -> tuple:
    """together requires a voice, of the model's own names: Kokoro's usual one when none is given (as
    huggingface.js does), else a refusal before any request."""
    voice = asked.get("voice") or ("af_alloy" if "kokoro" in provider_id.lower() else None)
    if voice is None:
        raise HFError(f"together needs a voice for {provider_id}: give -o voice NAME (its voices: {VOICES})")
    return "/together/v1/audio/speech", {"input": text, "voice": voice, "model": provider_id}


VOICES = "https://docs.together.ai/docs/text-to-speech"


TOGETHER_IMAGE = "/together/v1/images/generations"


def together_image(provider_id: str, asked: dict, prompt: str) -> tuple:
    """An image at together; an input image where the model reads it, as both Hugging Face clients send it:
    image_url for FLUX.1 Kontext, reference_images for every other (FLUX.2, Gemini), each taking its own."""
    kontext = "kontext" in provider_id.lower() and "flux.1" in provider_id.lower()
    if "image" in asked and not kontext:
        asked = {**asked, "image": [asked["image"]]}
    names = {"steps": "steps", **({} if kontext else {"image": "reference_images"})}
    build = sends(TOGETHER_IMAGE, model=True, fixed={"response_format": "base64"}, **names)
    return build(provider_id, asked, prompt)


def nscale_image(provider_id: str, asked: dict, prompt: str) -> tuple:
    body = {"response_format": "b64_json", "prompt": prompt, "model": provider_id}
    if "width" in asked:
        body["size"] = f"{asked['width']}x{asked['height']}"
    body.update({name: asked[name] for name in ("seed", "negative_prompt") if name in asked})
    return "/nscale/v1/images/generations", body


def base64_image_of(state) -> bytes | None:
    encoded = field_of(state, "data", 0, "b64_json")
    try:
        return base64.b64decode(encoded, validate=True) if type(encoded) is str else None
    except ValueError:
        return None


def together_video(provider_id: str, asked: dict, prompt: str) -> tuple:
    """A video job at together, the start frame as its first keyframe."""
    body = {"prompt": prompt, "model": provider_id, **renamed(asked, steps="steps", image=None)}
    if "image" in asked:
        body["frame_images"] = [{"input_image": asked["image"], "frame": "first"}]
    return "/together/v2/videos", body


TOGETHER_VIDEO = Job(
    "video job",
    polled_at("together", "a video job", "id", "/together/v2/videos/{id}"),
    ended=("completed",),
    failed=("failed", "cancelled"),
    reason=("error", "message"),
)


# ------------ replicate: predictions, answered at once or followed to their end


def replicate_prediction(provider_id: str, inputs: dict) -> tuple:
    """A prediction, on the model's own route or (for ``owner/name:version``) the versioned one."""
    name, _, version = provider_id.partition(":")
    path = "/replicate/v1/predictions" if version else f"/replicate/v1/models/{name}/predictions"
    return path, {"input": inputs, **({"version": version} if version else {})}


def replicate_speech(provider_id: str, asked: dict, audio: "Audio") -> tuple:
    inputs = {"audio": _AUDIO_MARK, **({"language": asked["language"]} if "language" in asked else {})}
    path, document = replicate_prediction(provider_id, inputs)
    return path, json_upload(document, audio, f"data:{audio.mime};base64,")


def predicts(text: str = "prompt", **names) -> Callable:
    """A builder of a replicate prediction: the input under ``text``, the options renamed (see renamed)."""
    return lambda provider_id, asked, data: replicate_prediction(
        provider_id, {text: data, **renamed(asked, **names)}
    )


def replicate_image(provider_id: str, asked: dict, data) -> tuple:
    """A replicate image; an input image under each key its models read one from, as both Hugging Face clients
    send it (FLUX Kontext reads input_image: an image under "image" alone went unread)."""
    inputs = {"prompt": data, **renamed(asked, image="image")}
    if "image" in inputs:
        inputs.update(images=[inputs["image"]], input_image=inputs["image"], input_images=[inputs["image"]])
    return replicate_prediction(provider_id, inputs)


def replicate_lora(body: dict, provider_id: str, repo_id: str, weights: str, scale) -> None:
    """A LoRA adapter as both clients send replicate one: the repository's URL; a scale only when given."""
    body["input"]["lora_weights"] = f"{hub_url()}/{repo_id}"
    body["input"].update({} if scale is None else {"lora_scale": scale})


REPLICATE_POLLED = polled_at("replicate", "an unfinished prediction", "id", "/replicate/v1/predictions/{id}")


def replicate_look(answer: dict) -> tuple:
    """Asked to wait (Prefer: wait), replicate answers the prediction finished, else one to follow. An
    output already there is the result (huggingface_hub takes it so), even while "processing"."""
    if answer.get("status") in ("succeeded", "failed", "canceled") or answer.get("output"):
        return answer.get("id"), None
    return REPLICATE_POLLED(answer)


REPLICATE = Job(
    "prediction",
    replicate_look,
    ended=("succeeded",),
    failed=("failed", "canceled"),
    headers={"Prefer": "wait"},
    cancel=lambda ident, answer: ("POST", f"/replicate/v1/predictions/{ident}/cancel"),
)


# ------------ wavespeed, zai-org and novita: tasks submitted, then polled


WAVESPEED_PATH = "/wavespeed/api/v3/{id}"  # a task submitted
WAVESPEED = Job(
    "task",
    lambda answer: (
        field_of(answer, "data", "id"),
        "/wavespeed" + job_path("wavespeed", "a task", field_of(answer, "data", "urls", "get"), answer),
    ),
    ended=("completed",),
    failed=("failed",),
    status=("data", "status"),
    reason=("data", "error"),
)


def wavespeed_task(provider_id: str, asked: dict, prompt: str) -> tuple:
    """A task at wavespeed: the options under huggingface_hub's names, the input image as image and in
    images (as huggingface.js sends it, for the edit models that take several)."""
    body = {"prompt": prompt, **renamed(asked, image="image")}
    body.update({"images": [asked["image"]]} if "image" in asked else {})
    return WAVESPEED_PATH.format(id=provider_id), body


def wavespeed_lora(body: dict, provider_id: str, repo_id: str, weights: str, scale) -> None:
    """A LoRA adapter as huggingface.js sends wavespeed one: the repository's id."""
    body["loras"] = [{"path": repo_id, "scale": 1 if scale is None else scale}]


def zai_image(provider_id: str, asked: dict, prompt: str) -> tuple:
    """An asynchronous generation at zai-org (the size as "WxH"), then polled."""
    body = {"model": provider_id, "prompt": prompt}
    if "width" in asked:
        body["size"] = f"{asked['width']}x{asked['height']}"
    body.update(renamed(asked, width=None, height=None))
    return "/zai-org/api/paas/v4/async/images/generations", body


def zai_ocr(provider_id: str, asked: dict, image) -> tuple:
    """zai-org's layout parsing: the image as a data URL; the page comes back as Markdown (md_results)."""
    return "/zai-org/api/paas/v4/layout_parsing", {"model": provider_id, "file": data_url(image)}


ZAI = Job(
    "task",
    polled_at("zai-org", "a task", "id", "/zai-org/api/paas/v4/async-result/{id}"),
    ended=("SUCCESS",),
    failed=("FAIL",),
    status=("task_status",),
    reason=("error", "message"),
)


# An asynchronous task at novita, as huggingface.js sends it since novita's async API (2025-05).
NOVITA_VIDEO = sends("/novita/v3/async/{id}", steps="steps")


NOVITA = Job(
    "task",
    polled_at("novita", "a task", "task_id", "/novita/v3/async/task-result?task_id={id}"),
    ended=("TASK_STATUS_SUCCEED",),
    failed=("TASK_STATUS_FAILED",),
    status=("task", "status"),
    reason=("task", "reason"),
)


# ------------ the rows


# The options of images and videos, in the order they are sent.
DIFFUSION_LIKE = ("steps", "guidance", "seed", "negative_prompt")  # what together and novita take for video
DIFFUSION = ("width", "height", *DIFFUSION_LIKE)
VIDEO = (*DIFFUSION_LIKE, "frames", "duration", "resolution", "aspect_ratio")

PROVIDERS = {
    "embeddings": {  # every answer read by decode_vectors: the shapes differ, the vectors do not
        # a long text embeds its first part, as sentence-transformers does
        "hf-inference": Route(
            sends(HF_INFERENCE + "/pipeline/feature-extraction", "inputs", fixed={"truncate": True})
        ),
        "together": Route(sends("/together/v1/embeddings", "input", True)),
        "scaleway": Route(sends("/scaleway/v1/embeddings", "input", True)),
        "deepinfra": Route(sends("/deepinfra/v1/openai/embeddings", "input", True)),
    },
    "speech": {  # timestamps: it sends them back
        "hf-inference": Route(hf_inference_speech, transcript_of, {"timestamps"}),
        "fal-ai": Route(fal_speech, transcript_of, {"language", "timestamps"}),
        "together": openai_style_speech("/together/v1/audio/transcriptions"),
        "deepinfra": openai_style_speech("/deepinfra/v1/openai/audio/transcriptions"),
        "replicate": Route(
            replicate_speech,
            lambda state: replicate_transcript(field_of(state, "output")),
            {"language", "timestamps"},
            REPLICATE,
        ),
    },
    "images": {  # hf-inference answers the image's bytes (read before any row)
        "hf-inference": Route(hf_inference_image, None, {*DIFFUSION}),
        "fal-ai": Route(fal_image, url_at("images", 0, "url"), {*DIFFUSION, "image"}, FAL_QUEUE, fal_lora),
        "together": Route(together_image, base64_image_of, {*DIFFUSION, "image"}),
        "nscale": Route(nscale_image, base64_image_of, {"width", "height", "seed", "negative_prompt"}),
        "replicate": Route(
            replicate_image, url_at("output"), {*DIFFUSION, "image"}, REPLICATE, replicate_lora
        ),
        "wavespeed": Route(
            wavespeed_task, url_at("data", "outputs"), {*DIFFUSION, "image"}, WAVESPEED, wavespeed_lora
        ),
        "zai-org": Route(zai_image, url_at("image_result", 0, "url"), {*DIFFUSION}, ZAI),
    },
    "video": {  # a job followed to its end, its video at a URL
        "fal-ai": Route(
            sends("/fal-ai/{id}?_subdomain=queue"),
            url_at("video", "url"),
            {*VIDEO, "image"},
            FAL_QUEUE,
            fal_lora,
        ),
        "replicate": Route(predicts(), url_at("output"), {*VIDEO}, REPLICATE),
        "wavespeed": Route(
            wavespeed_task, url_at("data", "outputs"), {*VIDEO, "image"}, WAVESPEED, wavespeed_lora
        ),
        "together": Route(
            together_video, url_at("outputs", "video_url"), {*DIFFUSION_LIKE, "image"}, TOGETHER_VIDEO
        ),
        "novita": Route(NOVITA_VIDEO, url_at("videos", 0, "video_url"), {*DIFFUSION_LIKE}, NOVITA),
    },
    "tts": {  # the audio's bytes in the answer (no reader), or a URL the reader finds
        "hf-inference": Route(HF_INFERENCE_TEXT),
        "fal-ai": Route(
            sends("/fal-ai/{id}", "text"), url_at("audio", "url"), {"voice", "speed", "seed"}, FAL_QUEUE
        ),
        "together": Route(together_tts, None, {"voice"}),
        "deepinfra": Route(
            sends("/deepinfra/v1/openai/audio/speech", "input", True), None, {"voice", "speed"}
        ),
        "replicate": Route(predicts("text"), url_at("output"), {"voice", "speed"}, REPLICATE),
    },
    "audio": {  # music and sounds from a text: the audio's bytes, or a URL
        "hf-inference": Route(HF_INFERENCE_TEXT),
        "fal-ai": Route(
            sends("/fal-ai/{id}?_subdomain=queue"),
            lambda state: url_at("audio_file", "url")(state) or url_at("audio", "url")(state),
            job=FAL_QUEUE,
        ),
    },
    "ocr": {  # an image in (no prompt text), its text out
        "hf-inference": Route(hf_inference_bytes, lambda state: field_of(first(state), "generated_text")),
        "zai-org": Route(zai_ocr, lambda state: field_of(state, "md_results")),
    },
}


# ------------ what the Hub's search finds: one description, one row format, a file a task


class HubSpec(NamedTuple):
    """A model found on the Hub and its providers, (provider, providerId, the Hub's task), default first."""

    repo_id: str
    providers: tuple
    aliases: tuple = ()
    base_url: str | None = None  # an embedding model added with --base-url (its one provider: "")
    key_name: str | None = None


def built_in(repo_id: str, alias: str | None, task: str, *served: tuple) -> tuple:
    """A task's model registered until the first refresh: its alias, its (provider, providerId) pairs."""
    aliases = (alias,) if alias else ()
    return (HubSpec(repo_id, tuple((provider, ident, task) for provider, ident in served), aliases),)


class Discovery(NamedTuple):
    """A task's models found by the Hub's search (``llm hf refresh``), and the file they are kept in. The
    file's first line is what registration needs, ``{"version", "models": {model id: row}}`` (read by every
    llm command, checked in one go), a row being ``provider=providerId=task,...``; its second, the Hub's
    mappings as ``[[repo, [[provider, providerId, task, status]]]]``, for ``llm hf models``."""

    task: str  # ours: its rows in PROVIDERS
    name: str  # "speech models"
    hub_tasks: tuple  # the Hub's pipeline tags searched
    builtin: tuple  # the HubSpecs registered until the first refresh
    # Whether a mapping of that provider and Hub task serves ours (embeddings: outside hf-inference, only
    # feature-extraction).
    serves: Callable = lambda provider, hub_task: True
    per_provider: bool = False  # also an llm model per provider: hf/<repo>:<provider> (embeddings)
    # Where a chat, speech or image model has the repo's id, the suffix of this one's (else it is left out).
    apart: str = ""
    # A model mapped from text alone → its sibling that takes a start frame (-a), sent that prompt instead.
    frames: dict = {}

    @property
    def path(self) -> pathlib.Path:
        return llm.user_dir() / f"hf-inference-{self.task}.jsonl"

    def servable(self, mapping: list) -> list:
        """The live (provider, providerId, task[, LoRA weights path]) of a mapping that a row serves, in the
        Hub's order: a LoRA adapter only where its row sends one (else it would run as its base model)."""
        return [
            (provider, provider_id, task, *(urllib.parse.quote(weights) for weights in lora[:1]))
            for provider, provider_id, task, status, *lora in mapping
            if status == "live"
            and task in self.hub_tasks
            and provider in PROVIDERS[self.task]
            and self.serves(provider, task)
            and not (lora and PROVIDERS[self.task][provider].lora is None)
        ]

    def registry_rows(self, found) -> dict:
        """The llm models of (repo, mapping) pairs, model id → row. Per provider, hf/<repo> is the first and
        hf/<repo>:<provider> each of several (what provider="auto" picks, and the others)."""
        rows = {}
        for repo_id, mapping in found:
            parts = self.servable(mapping)
            if parts:
                rows[model_id_of(repo_id)] = hub_row(parts[:1] if self.per_provider else parts)
            for part in parts if self.per_provider and len(parts) > 1 else ():
                rows[f"{model_id_of(repo_id)}:{part[0]}"] = hub_row([part])
        return rows

    def aliases(self) -> dict:
        return {model_id_of(spec.repo_id): spec.aliases for spec in self.builtin}

    def for_frame(self, spec: HubSpec) -> HubSpec:
        """The model to send a prompt with an input image to: ``spec``, or its sibling in ``frames`` when
        ``spec`` takes text alone (said on stderr)."""
        sibling = self.frames.get(spec.repo_id)
        row = sibling and discovered_rows(self).get(model_id_of(sibling))
        if row is None or any(part[2].startswith(IMAGE_IN) for part in spec.providers):
            return spec
        say(f"{sibling} makes it, {spec.repo_id} taking no input image")
        return hub_spec(self, model_id_of(sibling), row)


DISCOVERY_VERSION = 4  # 4: a LoRA adapter's weights path kept

# A LoRA's weights path in a registry row, percent-encoded: a path under its repository, never '..'.
_WEIGHTS = r"(?!.*\.\.)[A-Za-z0-9%._~-][A-Za-z0-9%._~/-]*"

# The Hub's provider ids, as they enter: what a route or a row can hold, never '..'.
_PROVIDER_ID = r"(?!.*\.\.)[A-Za-z0-9][A-Za-z0-9_.:/-]*"


def _mapping_row(row) -> bool:
    """[provider, providerId, task, status] and, for a LoRA adapter, its weights' path and, when its tags
    say, its base model: all strings, provider and ids as a route and a listing can take them."""
    return (
        type(row) is list
        and len(row) in (4, 5, 6)
        and all(type(value) is str for value in row)
        and row[3].isprintable()  # the status: shown by 'llm hf models'
        and re.fullmatch(_NAME, row[0]) is not None
        and re.fullmatch(_PROVIDER_ID, row[1]) is not None
        and (len(row) < 6 or re.fullmatch(_REPO_ID, row[5]) is not None)
    )


MAPPING_KEYS = ("provider", "providerId", "task", "status")  # a mapping's fields, as the Hub names them


def mapping_entry(row: list) -> dict:
    """A mapping row as the Hub writes it (a LoRA's adapter fields included, and its base model)."""
    entry = dict(zip(MAPPING_KEYS, row[:4], strict=True))
    entry.update({"adapter": "lora", "adapterWeightsPath": row[4]} if len(row) > 4 else {})
    return {**entry, "baseModel": row[5]} if len(row) > 5 else entry


def mapping_of(item) -> list:
    """A Hub search result's inferenceProviderMapping (a list, or an object keyed by provider) as rows."""
    mapping = item.get("inferenceProviderMapping") if type(item) is dict else None
    tags = item.get("tags") if type(item) is dict and type(item.get("tags")) is list else []
    base = [t[19:] for t in tags if type(t) is str and re.fullmatch("base_model:adapter:" + _REPO_ID, t)][:1]
    if type(mapping) is dict:
        mapping = [{"provider": name, **value} for name, value in mapping.items() if type(value) is dict]
    rows = []
    for entry in mapping if type(mapping) is list else ():
        row = [entry.get(k) for k in MAPPING_KEYS] if type(entry) is dict else []
        adapter, weights = (entry.get("adapter"), entry.get("adapterWeightsPath")) if row else (None, None)
        if adapter is not None:  # an adapter is sent as one, or not at all: never as its base model
            row = [*row, weights, *base] if adapter == "lora" and weights else []
        if _mapping_row(row):
            rows.append(row)
    return rows


def hub_row(parts) -> str:
    """A discovered model's registry row: its providers, ``provider=providerId=task,...``."""
    return ",".join("=".join(part) for part in parts)


def hub_spec(discovery: Discovery, model_id: str, row: str) -> HubSpec:
    """A registry row read back when its model is first used: checked for what could take a request
    elsewhere (a provider of no row, a repo id, provider id or LoRA weights path leaving its URL, a LoRA
    where no LoRA is sent)."""
    parts = tuple(tuple(part.split("=")) for part in row.split(","))
    repo_id = repo_id_of(model_id).partition(":")[0]
    if not re.fullmatch(_REPO_ID, repo_id) or not all(
        len(part) in (3, 4)
        and part[0] in PROVIDERS[discovery.task]
        and re.fullmatch(_PROVIDER_ID, part[1])
        and (len(part) == 3 or (PROVIDERS[discovery.task][part[0]].lora and re.fullmatch(_WEIGHTS, part[3])))
        for part in parts
    ):
        raise HFError(f"{excerpt(model_id)} is not a model in {discovery.path}; run 'llm hf refresh'")
    return HubSpec(repo_id, parts, discovery.aliases().get(model_id, ()))


def discovery_fallback(discovery: Discovery) -> str:
    return f"using the built-in {discovery.name}. Run 'llm hf refresh' to fetch them again."


def read_discovered(discovery: Discovery) -> list | None:
    """What the last search found, [(repo_id, mapping)]; None when there is none or the file is not ours."""
    path = discovery.path
    models = read_json_file(path, discovery_fallback(discovery), 2, DISCOVERY_VERSION)
    if models is None:
        return None
    if type(models) is not list or not all(
        type(m) is list
        and len(m) == 2
        and type(m[0]) is str
        and re.fullmatch(_REPO_ID, m[0])
        and type(m[1]) is list
        and all(map(_mapping_row, m[1]))
        for m in models
    ):
        warn_once(
            path, f"cannot read {path} (not a list of {discovery.name}); {discovery_fallback(discovery)}"
        )
        return None
    return [(repo, mapping) for repo, mapping in models]


def discovered_rows(discovery: Discovery) -> dict:
    """The models to register, model id → row: the file's first line, else the built-in ones."""
    rows = read_registry_rows(discovery.path, DISCOVERY_VERSION, discovery_fallback(discovery))
    return rows or {model_id_of(spec.repo_id): hub_row(spec.providers) for spec in discovery.builtin}


def store_discovered(discovery: Discovery, items: list) -> Stored:
    """Keep the models of Hub search results that a provider serves: how many, which are added and removed.
    ValueError, and the file untouched, when no provider serves any of them."""
    found: dict = {}
    for item in items:
        repo_id = item.get("id") if type(item) is dict else None
        mapping = mapping_of(item)
        if type(repo_id) is str and re.fullmatch(_REPO_ID, repo_id) and discovery.servable(mapping):
            found.setdefault(repo_id, mapping)
    if not found:
        raise ValueError(f"no {discovery.name[:-1]} that a provider serves")
    old = {repo for repo, mapping in read_discovered(discovery) or () if discovery.servable(mapping)}
    head = {"version": DISCOVERY_VERSION, "models": discovery.registry_rows(found.items())}
    write_file(discovery.path, lines_text(head, [[repo, mapping] for repo, mapping in found.items()]))
    return Stored(len(found), sorted(set(found) - old), sorted(old - set(found)))


class _HubModel(_HFModel):
    """What every model the Hub's search finds shares: its spec made from its row, when first used."""

    discovery: Discovery

    def spec_of(self, model_id: str, row: str) -> HubSpec:
        return hub_spec(self.discovery, model_id, row)


class _TaskModel(_HubModel):
    """A model doing a task of the table with one answer (speech, images): each prompt on its own, the
    result whole. Its ``perform(spec, prompt, response, key)`` gives the text llm shows and logs."""

    can_stream = False
    supports_conversation = False  # llm refuses -c and llm chat itself
    perform: Callable

    def spec_for(self, prompt) -> HubSpec:
        return self.discovery.for_frame(self.spec) if prompt.attachments else self.spec

    def execute(self, prompt, stream, response, conversation, key):
        with terminated_as_interrupted():
            done = self.perform(self.spec_for(prompt), prompt, response, key)
        yield done


@functools.cache
def task_pool():
    import concurrent.futures

    return concurrent.futures.ThreadPoolExecutor(TASK_THREADS, thread_name_prefix="llm-hf-inference")


async def in_pool(work: Callable, stop: threading.Event):
    """``work()`` waited for in the pool sized for waiting (asyncio's own has a few threads a core); the task
    cancelled (SIGTERM too, as Ctrl-C), ``stop`` is set: the work sends nothing more."""
    try:
        return await asyncio.get_running_loop().run_in_executor(task_pool(), work)
    except asyncio.CancelledError:
        stop.set()
        raise


class _AsyncTaskModel(_TaskModel):
    """Its task waited for in the pool (see :func:`in_pool`); cancelled, its work stops at the next step,
    sending nothing more and saving nothing."""

    async def execute(self, prompt, stream, response, conversation, key):
        stop = threading.Event()
        work = functools.partial(self.perform, self.spec_for(prompt), prompt, response, key, stop)
        with terminated_as_interrupted():
            done = await in_pool(work, stop)
        yield done


def task_models(name: str, discovery: Discovery, perform: Callable, options, attachment_types) -> tuple:
    """A task's sync and async llm model classes: ``name`` and ``Async<name>``."""
    declared = {
        "discovery": discovery,
        "perform": staticmethod(perform),
        "Options": options,
        "attachment_types": attachment_types,
    }
    return (
        type(name, (_TaskModel, llm.KeyModel), declared),
        type("Async" + name, (_AsyncTaskModel, llm.AsyncKeyModel), declared),
    )


# ============ chat
# ------------ chat: the catalog and the registry


class ModelSpec(NamedTuple):
    """A chat model, what its providers can do, and where it is served."""

    repo_id: str
    aliases: tuple = ()
    vision: bool = False
    tools: bool = True
    schema: bool = True
    providers: tuple = ()  # the names of the catalog's live providers, when known
    base_url: str | None = None  # a model added with 'llm hf add --base-url'
    key_name: str | None = None


# Registered until the first refresh: the chat models the Inference Providers docs feature.
# After a refresh the catalog decides: an alias goes with its model when the router drops it.
BUILTIN_MODELS = (
    ModelSpec("meta-llama/Llama-3.1-8B-Instruct", ("hf-llama3.1",)),
    ModelSpec("meta-llama/Llama-4-Scout-17B-16E-Instruct", ("hf-llama4-scout",), vision=True),
    ModelSpec("deepseek-ai/DeepSeek-V4-Pro", ("hf-deepseek-v4",)),
    ModelSpec("deepseek-ai/DeepSeek-V4-Flash-0731", ("hf-deepseek-v4-flash",)),
    ModelSpec("deepseek-ai/DeepSeek-R1", ("hf-deepseek-r1",)),
    ModelSpec("moonshotai/Kimi-K3", ("hf-kimi",), vision=True),
    ModelSpec("zai-org/GLM-5.2", ("hf-glm",)),
    ModelSpec("Qwen/Qwen3.6-35B-A3B", ("hf-qwen3.6",), vision=True),
    ModelSpec("Qwen/Qwen3-Coder-480B-A35B-Instruct", ("hf-qwen-coder",)),
    ModelSpec("google/gemma-4-31B-it", ("hf-gemma4",), vision=True),
    ModelSpec("openai/gpt-oss-20b", ("hf-gpt-oss-20b",)),
    ModelSpec("openai/gpt-oss-120b", ("hf-gpt-oss",)),
)

BUILTIN_ALIASES = {model_id_of(spec.repo_id): spec.aliases for spec in BUILTIN_MODELS}  # by model id

PROVIDER_POLICIES = ("fastest", "cheapest", "preferred")

CATALOG_FILE = "hf-inference-catalog.json"  # the router's catalog, cleaned: for the llm hf commands

REGISTRY_FILE = "hf-inference-registry.jsonl"  # what registration needs of it, compact: read by every command

REGISTRY_VERSION = 2


CATALOG_FALLBACK = "using the built-in models. Run 'llm hf refresh' to fetch the catalog again."


def catalog_path() -> pathlib.Path:
    return llm.user_dir() / CATALOG_FILE


# What a router catalog entry's provider may hold, and the test each value must pass to be kept.
PROVIDER_FIELDS = {
    "status": lambda v: type(v) is str and v.isprintable(),  # shown by 'llm hf providers'
    "context_length": lambda v: type(v) is int and v > 0,
    "pricing": lambda v: (
        type(v) is dict and all(_finite(v.get(k)) and v[k] >= 0 for k in ("input", "output"))
    ),
    "is_free": lambda v: type(v) is bool,
    "supports_tools": lambda v: type(v) is bool,
    "supports_structured_output": lambda v: type(v) is bool,
    "first_token_latency_ms": _finite,
    "throughput": _finite,
    "is_model_author": lambda v: type(v) is bool,
}


def clean_provider(provider) -> tuple:
    """A catalog provider with only the values we can use; and how many were dropped (None: all)."""
    name = provider.get("provider") if type(provider) is dict else None
    if type(name) is not str or not re.fullmatch(_NAME, name):
        return None, 1
    fits = {field: PROVIDER_FIELDS[field](provider[field]) for field in PROVIDER_FIELDS if field in provider}
    kept = {"provider": name, **{field: provider[field] for field, fit in fits.items() if fit}}
    return kept, list(fits.values()).count(False)


def clean_entry(entry) -> tuple:
    """A catalog entry reduced to what we use, well typed; and how many values were dropped."""
    if type(entry) is not dict or type(entry.get("id")) is not str or not re.fullmatch(_REPO_ID, entry["id"]):
        return None, 1
    dropped = 0
    kept: dict = {"id": entry["id"], "providers": []}
    modalities = field_of(entry, "architecture", "input_modalities")
    if type(modalities) is list and all(type(m) is str for m in modalities):
        kept["architecture"] = {"input_modalities": modalities}
    elif modalities is not None:
        dropped += 1
    providers = entry.get("providers")
    if providers is not None and type(providers) is not list:
        providers, dropped = (), dropped + 1
    for provider in providers or ():
        clean, lost = clean_provider(provider)
        dropped += lost
        if clean is not None:
            kept["providers"].append(clean)
    return kept, dropped


def clean_catalog(data) -> tuple:
    """The entries of a router catalog document, cleaned; and how many values were dropped. ValueError when it
    is not a router catalog: not a list of models, an empty one, or a model list without router ``providers``
    (what TGI and vLLM serve at /v1/models) — such an answer must never replace the models a user has."""
    entries = data.get("data") if type(data) is dict else None
    if type(entries) is not list:
        raise ValueError("not a model catalog")
    if not entries:
        raise ValueError("an empty model list")
    if not any(type(e) is dict and type(e.get("providers")) is list for e in entries):
        raise ValueError("a model list without providers, which is not the Inference Providers catalog")
    cleaned, dropped = [], 0
    for entry in entries:
        clean, lost = clean_entry(entry)
        dropped += lost
        if clean is not None:
            cleaned.append(clean)
    return cleaned, dropped


def read_catalog() -> list | None:
    """The cached router catalog's entries; None when there is none or it is broken."""
    path = catalog_path()
    data = read_json_file(path, CATALOG_FALLBACK)
    if data is None:
        return None
    try:
        entries, dropped = clean_catalog(data)
    except ValueError as ex:
        warn_once(path, f"cannot read {path} ({ex}); {CATALOG_FALLBACK}")
        return None
    if dropped:
        warn_once(("values", path), f"{path}: left out {dropped} values of the wrong type")
    return entries


def live_providers(entry: dict) -> tuple:
    return tuple(p for p in entry["providers"] if p.get("status") != "error")


def price_of(provider: dict) -> tuple | None:
    """A provider's (input, output) USD per 1M tokens: 0 when free, None when unknown."""
    if provider.get("is_free") is True:
        return 0.0, 0.0
    pricing = provider.get("pricing")
    return (float(pricing["input"]), float(pricing["output"])) if pricing else None


def spec_from_entry(entry: dict) -> ModelSpec | None:
    """A cleaned catalog entry as a model, or None when no provider serves it."""
    providers = live_providers(entry)
    if not providers:
        return None
    return ModelSpec(
        entry["id"],
        BUILTIN_ALIASES.get(model_id_of(entry["id"]), ()),
        vision="image" in entry.get("architecture", {}).get("input_modalities", ()),
        tools=any(p.get("supports_tools") is True for p in providers),
        schema=any(p.get("supports_structured_output") is True for p in providers),
        providers=tuple(p["provider"] for p in providers),
    )


VISION, TOOLS, SCHEMA = 1, 2, 4  # a registered model's flags


def chat_row(spec: ModelSpec) -> tuple:
    """What registration keeps of a router model: its model id, and ``"flags,provider,provider"``."""
    flags = VISION * spec.vision | TOOLS * spec.tools | SCHEMA * spec.schema
    return model_id_of(spec.repo_id), ",".join((str(flags), *spec.providers))


def chat_spec(model_id: str, row: str) -> ModelSpec:
    """A registered router model's spec, made the first time the model is used (most commands use none)."""
    flags, *names = row.split(",")
    flags = int(flags) if flags.isdecimal() else TOOLS | SCHEMA
    return ModelSpec(
        repo_id_of(model_id),
        BUILTIN_ALIASES.get(model_id, ()),
        vision=bool(flags & VISION),
        tools=bool(flags & TOOLS),
        schema=bool(flags & SCHEMA),
        providers=tuple(filter(None, names)),
    )


def registry_path() -> pathlib.Path:
    return llm.user_dir() / REGISTRY_FILE


def registry_text(entries: list) -> str:
    """The registry of a cleaned catalog, as two lines of JSON. The first maps each model id, as llm knows it,
    to one string: ``"flags,provider,provider"`` (flags: 1 vision, 2 tools, 4 schema): few objects for every
    llm command to parse. The second holds the prices ({repo_id: {provider: [input, output]}}), read only by a
    prompt that needs one."""
    served = [(spec, entry) for entry in entries if (spec := spec_from_entry(entry))]
    models = {"version": REGISTRY_VERSION, "models": dict(chat_row(spec) for spec, _ in served)}
    prices = {
        spec.repo_id: {p["provider"]: list(price_of(p)) for p in live_providers(entry) if price_of(p)}
        for spec, entry in served
    }
    return lines_text(models, prices)


def model_prices(repo_id: str) -> dict:
    """A router model's prices by provider, (input, output) USD per 1M tokens: the registry's second line.
    What is not a price is left out. Read at every prompt: a refresh in between is seen."""
    table = read_json_file(registry_path(), "prices are unknown until 'llm hf refresh'", 2, REGISTRY_VERSION)
    prices = field_of(table, repo_id)
    if type(prices) is not dict:
        return {}
    return {
        name: (float(price[0]), float(price[1]))
        for name, price in prices.items()
        if type(price) is list and len(price) == 2 and all(_finite(v) and v >= 0 for v in price)
    }


def added_specs() -> dict:
    """The chat models added with 'llm hf add', by repo id."""
    specs = {}
    for repo_id, added in read_added().items():
        base, alias = added.get("base_url"), (added["alias"],) if added.get("alias") else ()
        if not added.get("embedding"):
            specs[repo_id] = ModelSpec(
                repo_id,
                alias + BUILTIN_ALIASES.get(model_id_of(repo_id), ()),
                vision=added.get("vision", False),
                tools=added.get("tools", False),
                schema=added.get("schemas", False),
                base_url=base,
                key_name=added.get("key_name"),
            )
    return specs


def router_rows() -> dict:
    """The router's models to register, model id → row: the registry's, else the built-in list's."""
    rows = read_registry_rows(registry_path(), REGISTRY_VERSION, CATALOG_FALLBACK)
    return dict(map(chat_row, BUILTIN_MODELS)) if rows is None else rows


_catalog_fresh_until = 0.0  # this process saw a fresh catalog; no need to look again before then


def catalog_is_stale() -> bool:
    """Whether the cached catalog is missing or older than CATALOG_MAX_AGE (asked at every prompt)."""
    global _catalog_fresh_until
    if CATALOG_MAX_AGE is None or time.time() < _catalog_fresh_until:
        return False
    try:
        _catalog_fresh_until = catalog_path().stat().st_mtime + CATALOG_MAX_AGE
    except OSError:
        return True
    return time.time() >= _catalog_fresh_until


def store_catalog(raw: bytes) -> Stored:
    """Check and cache a fetched catalog: how many models it serves, which it adds and removes. ValueError,
    and the cache untouched, when ``raw`` is not a router catalog."""
    global _catalog_fresh_until
    data = json_or_none(raw)
    if data is None:
        raise ValueError("not JSON")
    entries, dropped = clean_catalog(data)
    old = {spec.repo_id for spec in filter(None, map(spec_from_entry, read_catalog() or ()))}
    new = {spec.repo_id for spec in filter(None, map(spec_from_entry, entries))}
    write_file(catalog_path(), json.dumps({"object": "list", "data": entries}, indent=1))
    write_file(registry_path(), registry_text(entries))
    if CATALOG_MAX_AGE is not None:
        _catalog_fresh_until = time.time() + CATALOG_MAX_AGE
    return Stored(len(new), sorted(new - old), sorted(old - new), dropped)


def catalog_url() -> str:
    return base_url() + "/models"


_refresh: threading.Thread | None = None


def refresh_beside(request: "ChatRequest") -> None:
    """Refresh a stale catalog in a thread beside the prompt, at most one at a time per process. The prompt
    never waits for it and never fails for it; only the router's catalog is fetched (never that of a server in
    LLM_HF_BASE_URL)."""
    global _refresh, _catalog_fresh_until
    if not request.to_router or not catalog_is_stale():
        return
    with _clients_lock:
        if _refresh is not None and _refresh.is_alive():
            return
        _catalog_fresh_until = time.time() + CATALOG_RETRY
        _refresh = threading.Thread(target=_refresh_quietly, name="llm-hf-inference refresh", daemon=True)
        _refresh.start()


REFRESH_MARK = "hf-inference-catalog.refreshing"  # when some llm process last began a refresh


def claim_refresh() -> bool:
    """Whether this process refreshes the stale catalog: no llm process began to in CATALOG_RETRY. Never
    waits: a process that finds the mark locked leaves the refresh to the one holding it, so a hundred llm
    processes started at once download the catalog once."""
    path = llm.user_dir() / REFRESH_MARK
    try:
        with locked(path, wait=False):
            try:
                began = float(path.read_text(encoding="utf-8") or 0)
            except (OSError, ValueError):
                began = 0.0
            if abs(time.time() - began) < CATALOG_RETRY:  # abs: a clock set back does not block it
                return False
            write_file(path, repr(time.time()))
            return True
    except OSError as ex:  # another process holds the mark (filelock's Timeout), or a read-only folder
        if not isinstance(ex, TimeoutError):
            debug(f"the catalog refresh beside the prompt failed: {in_words(ex)} ({path.parent})")
        return False


def _refresh_quietly() -> None:
    if not claim_refresh():
        return
    try:
        store_catalog(hub_get(catalog_url()).body)
    except Exception as ex:  # noqa: BLE001 - a failed refresh is tried again later; never the prompt's
        debug(f"the catalog refresh beside the prompt failed: {redact(str(ex))}")


def wait_for_refresh(seconds: float = REFRESH_EXIT_WAIT) -> None:
    """Give a refresh that is nearly done a moment to finish writing (called at exit). One that cannot
    finish before the process ends shortens its mark: llm commands started with it still leave the
    refresh to it, and one started REFRESH_AGAIN seconds later tries again (not CATALOG_RETRY later)."""
    if _refresh is None:
        return
    with contextlib.suppress(KeyboardInterrupt):
        _refresh.join(seconds)
    if _refresh.is_alive():
        with contextlib.suppress(OSError):
            write_file(llm.user_dir() / REFRESH_MARK, repr(time.time() - CATALOG_RETRY + REFRESH_AGAIN))
        debug(
            "the catalog refresh beside the prompt had not finished when llm exited; "
            f"a command in {REFRESH_AGAIN:g} seconds tries again"
        )


atexit.register(wait_for_refresh)


# ------------ chat: options, messages, the request


@functools.cache
def _sampling_options() -> type:
    """The first half of the chat options, how the model samples, each sent as the body's field of its name
    (built with HFOptions, when first read)."""

    class SamplingOptions(llm.Options):
        model_config = ConfigDict(allow_inf_nan=False, defer_build=True)  # its schema: when first used

        temperature: float | None = about("Sampling temperature, 0-2: higher is more random", ge=0, le=2)
        top_p: float | None = about(
            "Nucleus sampling: keep tokens within this probability mass, 0-1", ge=0, le=1
        )
        frequency_penalty: float | None = about(
            "Penalise tokens by how often they appeared so far, -2 to 2", ge=-2, le=2
        )
        presence_penalty: float | None = about(
            "Penalise tokens that appeared at all so far, -2 to 2", ge=-2, le=2
        )
        stop: list[str] | None = about(
            'Stop at this string, or at any of a JSON list of up to 4: \'["a", "b"]\'', max_length=4
        )
        seed: int | None = about("Random seed, for repeatable sampling")
        max_tokens: int | None = about("Most tokens to generate", ge=1)
        logprobs: bool | None = about("Return the log probability of each output token")
        top_logprobs: int | None = about(
            "With logprobs: also the N most likely tokens at each position, 0-5", ge=0, le=5
        )

        @field_validator("stop", mode="before")
        @classmethod
        def _stop_as_list(cls, value):
            if isinstance(value, str) and value.lstrip().startswith("["):
                try:
                    value = json.loads(value)
                except (ValueError, RecursionError):
                    raise option_error("a string, or a JSON list of strings") from None
            value = [value] if isinstance(value, str) else value
            if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
                raise option_error("a string that is not empty, or a JSON list of such strings")
            return value

        @field_validator("top_logprobs")
        @classmethod
        def _top_logprobs_needs_logprobs(cls, value, info):
            if value is not None and not info.data.get("logprobs"):
                raise option_error("needs -o logprobs 1")
            return value

    return SamplingOptions


@functools.cache
def chat_options() -> type:
    """The chat models' HFOptions class, built the first time a model asks (see BuiltWhenRead)."""

    routing = routed(
        _sampling_options(),
        "Provider to route to (together, cerebras, ...), or fastest, cheapest, preferred",
        f"Seconds to wait for the next bytes of the answer (default {READ_TIMEOUT:g})",
        f"Retries after 408, 429, 502, 503, 504 or a failed connection (default {RETRIES}; 0: none)",
        f"(together, cerebras, ...) or {', '.join(PROVIDER_POLICIES)}",
    )

    class HFOptions(routing):
        """The -o options, with the ranges the chat-completion API documents; no inf or nan anywhere."""

        use_cache: bool | None = about("Allow a cached answer (x-use-cache header)")
        wait_for_model: bool | None = about(
            "Wait for a cold model to load instead of failing with 503 (x-wait-for-model header)"
        )
        tool_choice: str | None = about("With tools: auto, none, required, or the name of the tool to call")
        tool_prompt: str | None = about("Text that TGI puts before the tool definitions")
        json_object: bool | None = about("Answer with a JSON object (response_format json_object)")
        grammar: Literal["tgi"] | None = about(
            "tgi: send --schema in TGI's own grammar form (dedicated endpoints, self-hosted TGI)"
        )
        regex: str | None = about(
            "Constrain the answer to this regular expression (TGI grammar)", min_length=1
        )
        reasoning_effort: shaped(r"[a-z_]{1,16}", "a word, such as none, low, medium or high") = about(
            "How hard a reasoning model should think: none, minimal, low, medium, high, xhigh "
            "(the words its provider takes)"
        )

        @field_validator("regex")
        @classmethod
        def _regex_alone(cls, value, info):
            if value is not None and info.data.get("json_object"):
                raise option_error("cannot be used together with json_object")
            return value

    return HFOptions


PROVIDER_KEY = "hf_inference"  # our key in llm's provider_metadata: who answered, where reasoning came

THINK_TAGS = "think"  # reasoning that came inside <think>...</think> at the start of the text


def reasoning_field(part) -> str | None:
    """The field a reasoning part arrived in (``reasoning``, ``reasoning_content``, or think tags)."""
    ours = (part.provider_metadata or {}).get(PROVIDER_KEY)
    field = ours.get("reasoning_field") if isinstance(ours, dict) else None
    return field if field in ("reasoning", "reasoning_content", THINK_TAGS) else None


def _with_reasoning(entry: dict, reasoning: list) -> None:
    """Give an assistant tool-call message of the current tool loop back its reasoning, as it came. Thinking
    models (DeepSeek, Kimi, GLM) refuse a tool loop's next request without it. Reasoning that came in
    ``<think>`` tags goes back in them, before the text: Qwen3's chat template keeps it for the messages after
    the last user message, DeepSeek-R1's drops it anyway."""
    for where, text in reasoning:
        if where == THINK_TAGS:
            entry["content"] = f"<think>{text}</think>" + (entry.get("content") or "")
        elif where:
            entry[where] = entry.get(where, "") + text


def is_image(attachment) -> bool:
    """Whether an attachment is an image (a tool's audio or PDF is not). A URL's type is llm's to check when
    it is attached."""
    if attachment.type is None and attachment.url is not None:
        return True
    try:
        return attachment.resolve_type() in IMAGE_TYPES
    except OSError:  # a file that cannot be read: said when its bytes are
        return True
    except ValueError:  # nothing in it
        return False


def _append_message(out: list, message, current_system: str | None, in_loop=False, sees=False) -> str | None:
    """Translate one llm Message into chat-completion messages appended to ``out``. Returns the system prompt
    now in force, so an unchanged one is not repeated. ``in_loop``: the message comes after the user's last
    turn, in the tool loop still going on. ``sees``: the model takes images. An attachment it cannot take
    (any image, for a model that takes none: a tool's, or an earlier turn's after ``-c -m``; a tool's audio
    or PDF) is left out, a tool's text still saying where it is; so is a message of nothing else."""
    texts, images, tool_calls, reasoning = [], [], [], []
    for part in message.parts:
        if isinstance(part, TextPart):
            texts.append(part.text)
        elif isinstance(part, ReasoningPart) and part.text:
            reasoning.append((reasoning_field(part), part.text))
        elif isinstance(part, AttachmentPart) and part.attachment:
            if sees and is_image(part.attachment):
                images.append({"type": "image_url", "image_url": {"url": attachment_url(part.attachment)}})
        elif isinstance(part, ToolCallPart):
            call = {"name": part.name, "arguments": json.dumps(part.arguments)}
            tool_calls.append({"id": part.tool_call_id, "type": "function", "function": call})
        elif isinstance(part, ToolResultPart):
            out.append({"role": "tool", "tool_call_id": part.tool_call_id, "content": part.output})
    text = "".join(texts)
    if message.role == "tool" or (message.role == "user" and not text and not images):
        return current_system
    if message.role == "system":
        if text == current_system:
            return current_system
        current_system = text
    entry: dict = {"role": message.role}
    if images:
        entry["content"] = ([{"type": "text", "text": text}] if text else []) + images
    elif text or not tool_calls:
        entry["content"] = text
    if tool_calls:
        entry["tool_calls"] = tool_calls
        if in_loop:
            _with_reasoning(entry, reasoning)
    out.append(entry)
    return current_system


def _response_format(prompt, options) -> dict | None:
    if prompt.schema:
        if options.grammar == "tgi":
            return {"type": "json", "value": prompt.schema}
        return {
            "type": "json_schema",
            "json_schema": {"name": "output", "schema": prompt.schema, "strict": True},
        }
    if options.regex is not None:
        return {"type": "regex", "value": options.regex}
    if options.json_object:
        return {"type": "json_object"}
    return None


def check_prompt(spec: ModelSpec, prompt) -> None:
    """Refuse, before any request, options that cannot work together or with this model."""
    options, tools = prompt.options, [tool.name for tool in prompt.tools or ()]
    provider, choice = options.provider, options.tool_choice
    if provider and spec.base_url:
        raise HFError(f"-o provider is for router models; {spec.repo_id} is served by {spec.base_url}")
    names = spec.providers
    if provider and names and provider not in PROVIDER_POLICIES and provider not in names:
        raise HFError(
            f"'{provider}' does not serve {spec.repo_id}; its providers are: {', '.join(sorted(names))} "
            f"(or a policy: {', '.join(PROVIDER_POLICIES)})"
        )
    if choice is not None and not tools:
        raise HFError("-o tool_choice needs tools: give them with -T or --functions")
    if choice not in (None, "auto", "none", "required", *tools):
        raise HFError(f"-o tool_choice: no tool is named '{choice}'; the tools are: {', '.join(tools)}")
    if options.regex is not None and prompt.schema:
        raise HFError("-o regex and --schema cannot be used together: choose one")
    if options.grammar and not prompt.schema:
        raise HFError("-o grammar tgi is the form --schema is sent in: give a --schema too")


def conversation_provider(messages, repo_id: str) -> str | None:
    """The provider that answered the conversation's last turn, as llm hands it back (also after -c). Only
    when that turn was this model's: ``llm -c -m another`` starts the other model unpinned."""
    for message in reversed(messages):
        if message.role == "assistant":
            for part in message.parts:
                ours = (part.provider_metadata or {}).get(PROVIDER_KEY)
                if isinstance(ours, dict) and isinstance(ours.get("provider"), str):
                    return ours["provider"] if ours.get("model") == repo_id else None
            return None
    return None


def route(spec: ModelSpec, prompt) -> tuple:
    """The provider to ask for (or None: the router's choice), and whether it is a conversation's pin.
    -o provider always wins; otherwise a continued conversation stays with the provider of its last turn,
    while the catalog (when known) says it is live."""
    if prompt.options.provider or spec.base_url:
        return prompt.options.provider, False
    provider = conversation_provider(prompt.messages, spec.repo_id)
    if provider and spec.providers and provider not in spec.providers:
        provider = None
    return provider, provider is not None


def user_turn(history: list, n: int) -> bool:
    """Whether message ``n`` is a user's turn: not the attachments alone that llm puts after a tool's results
    (the tool loop goes on through them), while words after the results begin a turn."""
    after_results = n > 0 and history[n - 1].role == "tool"
    attachments = all(isinstance(part, AttachmentPart) for part in history[n].parts)
    return history[n].role == "user" and not (after_results and attachments)


def request_body(spec: ModelSpec, prompt, stream: bool, provider: str | None) -> dict:
    """The chat-completion body for ``prompt``: only options that are set go in."""
    options = prompt.options
    messages: list = []
    current_system = None
    history = prompt.messages
    last_turn = max((n for n in range(len(history)) if user_turn(history, n)), default=-1)
    for number, message in enumerate(history):
        in_loop = number > last_turn
        current_system = _append_message(messages, message, current_system, in_loop, spec.vision)
    body: dict = {"model": f"{spec.repo_id}:{provider}" if provider else spec.repo_id, "messages": messages}
    body.update(options_set(options, (*_sampling_options().model_fields, "tool_prompt", "reasoning_effort")))
    if prompt.tools:
        body["tools"] = [
            {
                "type": "function",
                "function": {
                    "name": tool.name,
                    "description": tool.description,
                    "parameters": tool.input_schema,
                },
            }
            for tool in prompt.tools
        ]
    choice = options.tool_choice
    if choice is not None:
        named = {"type": "function", "function": {"name": choice}}
        body["tool_choice"] = choice if choice in ("auto", "none", "required") else named
    response_format = _response_format(prompt, options)
    if response_format:
        body["response_format"] = response_format
    body["stream"] = stream
    if stream:
        body["stream_options"] = {"include_usage": True}
    return body


class ChatRequest(HFRequest):
    """A chat prompt's exchange: also the provider a conversation stays with, while it answers."""

    pinned: str | None = None
    to_router: bool = True  # whether the catalog may be refreshed beside it

    def unpin(self) -> None:
        """Send the model without its pinned provider: the router chooses again."""
        self.body = {**self.body, "model": self.body["model"].rsplit(":", 1)[0]}
        self.pinned = None

    @property
    def repo_id(self) -> str:
        """The chat model asked for, without a provider."""
        return str(self.body.get("model", "")).split(":")[0]


def build_request(spec: ModelSpec, prompt, stream: bool, key: str | None) -> ChatRequest:
    """Everything one prompt's exchange needs, checked before anything is sent."""
    check_prompt(spec, prompt)
    options = prompt.options
    provider, pinned = route(spec, prompt)
    bill_to = bill_to_of(options.bill_to)
    url = (spec.base_url or base_url()).rstrip("/") + "/chat/completions"
    timeout = options.timeout or READ_TIMEOUT
    return ChatRequest(
        url=url,
        headers=request_headers(stream, key, bill_to, options, url, timeout),
        body=request_body(spec, prompt, stream, provider),
        timeout=timeout,
        bill_to=bill_to,
        retries=RETRIES if options.retries is None else options.retries,
        to_router=spec.base_url is None and base_url() == DEFAULT_BASE_URL,
        pinned=provider if pinned else None,
    )


# ------------ chat: reading the answer


class Unexpected(Exception):
    """A chunk of a shape no dialect has: the reader names the chunk."""


_TEXT, _UNDECIDED, _THINKING, _AFTER_THINK = range(4)


class ThinkSplitter:
    """Routes a leading ``<think>…</think>`` of the text to reasoning, even cut across chunks. ``split``
    returns (type, text) pieces; a piece that may be the start of a tag is held back until the next chunk
    tells."""

    def __init__(self):
        self.state = _UNDECIDED
        self.held = ""

    def split(self, content: str) -> list:
        buffer, self.held = self.held + content, ""
        if self.state == _UNDECIDED:
            stripped = buffer.lstrip()
            if stripped.startswith("<think>"):
                self.state, buffer = _THINKING, stripped[len("<think>") :]
            elif "<think>".startswith(stripped):
                self.held = buffer
                return []
            else:
                self.state = _TEXT
                return [("text", buffer)]
        pieces = []
        if self.state == _THINKING:
            end = buffer.find("</think>")
            if end < 0:
                keep = next(
                    (n for n in range(min(len(buffer), 7), 0, -1) if "</think>".startswith(buffer[-n:])), 0
                )
                self.held = buffer[len(buffer) - keep :]
                return [("reasoning", buffer[: len(buffer) - keep])] if len(buffer) > keep else []
            if end:
                pieces.append(("reasoning", buffer[:end]))
            self.state, buffer = _AFTER_THINK, buffer[end + len("</think>") :]
        buffer = buffer.lstrip()
        if buffer:
            self.state = _TEXT
            pieces.append(("text", buffer))
        return pieces

    def finish(self) -> list:
        held, self.held = self.held, ""
        return [("reasoning" if self.state == _THINKING else "text", held)] if held else []


class ToolCalls:
    """Assembles tool-call deltas, in every dialect HF servers speak, into whole calls. A call named in its
    first delta streams its name and argument pieces as they come; one that is not (TGI 2.0-3.1 puts ``_name``
    inside the arguments) is shown whole by ``finish``."""

    def __init__(self):
        self.calls: dict = {}  # in the order they began
        self.latest: dict = {}  # a delta's index -> the call it last began
        self.last = None

    def add(self, delta) -> list:
        """The stream events of one tool-call delta."""
        function = delta.get("function") or {} if type(delta) is dict else None
        if type(function) is not dict:
            raise Unexpected
        name, index = function.get("name"), delta.get("index")
        if (name is not None and type(name) is not str) or (index is not None and type(index) is not int):
            raise Unexpected
        key = self._key(index, name, delta.get("id"))
        events = []
        call = self.calls.get(key)
        if call is None:
            call = self.calls[key] = {"id": self._new_id(delta.get("id")), "name": name or "", "args": []}
            call["live"], call["raw"] = bool(name), delta.get("id")
            if name:
                events.append(StreamEvent("tool_call_name", name, tool_call_id=call["id"]))
        elif name and not call["name"]:
            call["name"] = name
        self.last = key
        arguments = function.get("arguments")
        if arguments is not None and arguments != "":
            arguments = arguments if type(arguments) is str else json.dumps(arguments)
            call["args"].append(arguments)
            if call["live"]:
                events.append(StreamEvent("tool_call_args", arguments, tool_call_id=call["id"]))
        return events

    def _key(self, index, name, raw) -> int:
        """Which call a delta continues, or a new one's number. Without an index, a named delta begins a
        call; a named delta with another id begins one too, even at an index used before (some providers
        give every parallel call index 0)."""
        if index is None:
            return len(self.calls) if (name or self.last is None) else self.last
        known = self.calls.get(self.latest.get(index))
        if known is None or (name and raw not in (None, "") and known["raw"] not in (None, "", raw)):
            self.latest[index] = len(self.calls)
        return self.latest[index]

    def _new_id(self, raw) -> str:
        call_id = str(raw) if raw not in (None, "") else None
        if call_id is None or any(c["id"] == call_id for c in self.calls.values()):
            call_id = f"call_{uuid.uuid4().hex[:24]}"
        return call_id

    def finish(self) -> tuple:
        """The whole calls as llm ToolCalls, and the events of those not shown yet."""
        calls, events = [], []
        for call in self.calls.values():
            name, arguments = whole_call(call["name"], "".join(call["args"]))
            if not call["live"]:
                events.append(StreamEvent("tool_call_name", name, tool_call_id=call["id"]))
                events.append(StreamEvent("tool_call_args", json.dumps(arguments), tool_call_id=call["id"]))
            calls.append(llm.ToolCall(name=name, arguments=arguments, tool_call_id=call["id"]))
        return calls, events


def whole_call(name: str, text: str) -> tuple:
    """A call's name and arguments from its text, TGI's ``_name`` wrapper taken off."""
    try:
        arguments = json.loads(text) if text.strip() else {}
    except (ValueError, RecursionError):
        raise HFError(
            f"The model called tool '{redact(name) or '?'}' with arguments that are not valid JSON: "
            + excerpt(text)
        ) from None
    if not isinstance(arguments, dict):
        raise HFError(f"The model called tool '{redact(name) or '?'}' with arguments that are not an object")
    wrapped = arguments.get("function")
    if not name and isinstance(wrapped, dict) and "_name" in wrapped:  # TGI 2.0-3.1 streams
        arguments = dict(wrapped)
    if "_name" in arguments:  # TGI's name inside the arguments: never an argument itself
        arguments = dict(arguments)
        inner_name = arguments.pop("_name")
        name = name or str(inner_name)
    if not name:
        raise HFError("The model called a tool without naming it.")
    return name, arguments


class AnswerReader:
    """Decodes one answer — an SSE stream or a JSON body — for one llm response. ``feed`` yields the stream
    events of everything that arrived in one read, joined: one text event, one reasoning event, tool-call
    events. ``finish`` checks the answer was whole and records tool calls, usage and the model."""

    def __init__(self, response, request: ChatRequest, prices: dict | None = None):
        self.response = response
        self.request = request
        self.prices = prices or {}  # provider → (input, output) USD per 1M tokens, from the catalog
        self.who = request.host
        self.provider: str | None = None
        self.sse: SSEDecoder | None = None
        self.sniff = False  # a body not labelled as a stream: look at its start
        self.body: list = []
        self.size = 0  # of the body kept whole (not a stream)
        self.events: list = []
        self.pending_type: str | None = None
        self.pending: list = []
        self.think = ThinkSplitter()
        self.plain = False  # past any <think> block: text goes straight out
        self.tools = ToolCalls()
        self.done = False
        self.shown = False
        self.texted = False  # some of the answer's text came (not only reasoning or tool calls)
        self.last_said = ""  # the last text or reasoning shown: whether it ended its line
        self.choices_seen = False
        self.id = self.model = self.finish_reason = None
        self.usage = None
        self.logprobs: list | None = [] if request.body.get("logprobs") else None
        self.tail = None  # the last event shown: who answered is stored on its part
        self.reasoning_field = None  # where the reasoning came: reasoning, reasoning_content, think tags

    def start(self, headers) -> None:
        """Take in the answer's headers: who answered, and whether it streams (a body under another label,
        JSON's too, is looked at: no JSON begins as an event does)."""
        say_warnings(headers, self.request.url)
        self.provider = provider_named(headers)
        self.who = self.provider or self.request.host
        if "text/event-stream" in headers.get("content-type", ""):
            self.sse = SSEDecoder(MAX_EVENT)
        else:
            self.sniff = True

    # -- reading

    def feed(self, data: bytes):
        """Yield the events of one read; an error event raises after the text before it."""
        if self.sse is None:
            self.body.append(data)
            self.size += len(data)
            if self.size > self.request.cap:
                raise too_large(self.who, self.request)
            if not self.sniff:
                return
            data, self.body = self._sniff(b"".join(self.body))
            if self.sse is None:
                return
        error = None
        try:
            for payload in self.sse.feed(data):
                if self.done:
                    break
                if payload == b"[DONE]":
                    self.done = True
                elif payload.strip():
                    self.handle(_parse_json(payload.decode("utf-8", "replace")))
        except llm.ModelError as ex:
            error = ex
        except (ValueError, RecursionError):
            error = HFError(f"{self.who} sent an event that is not JSON: {excerpt(payload)}")
        except EventTooLarge:
            error = HFError(
                f"{self.who} sent an event of over {MAX_EVENT // 2**20} MiB; stopped reading a broken stream"
            )
        self._flush()
        if self.events:
            self.shown = True
            self.tail = self.events[-1]
            yield from self.events
            self.events = []
        if error is not None:
            raise error

    def _sniff(self, start: bytes) -> tuple:
        """Decide from its first bytes whether an unlabelled body is a stream: (bytes to decode, body)."""
        verdict = looks_like_sse(start)
        self.sniff = verdict is None  # too short to tell: look again after the next read
        if verdict:
            self.sse = SSEDecoder(MAX_EVENT)
            return start, []
        return b"", [start]

    def handle(self, chunk) -> None:
        """Take in one chunk (stream) or the whole answer (no stream)."""
        if type(chunk) is not dict:
            raise self._unexpected(chunk)
        if "error" in chunk and chunk["error"]:
            error = chunk["error"]
            if isinstance(error, dict):
                error = error.get("message") or error
            raise HFError(f"{self.who} reported an error: {redact(_as_text(error))}")
        if self.model is None:
            self.id, self.model = chunk.get("id"), chunk.get("model")
        usage = chunk.get("usage")
        if usage:
            if type(usage) is not dict:
                raise self._unexpected(chunk)
            self.usage = usage
        choices = chunk.get("choices")
        if not choices:
            return
        if type(choices) is not list or type(choices[0]) is not dict:
            raise self._unexpected(chunk)
        self.choices_seen = True
        choice = choices[0]
        delta = choice.get("delta")
        if delta is None:
            delta = choice.get("message")
        if delta:
            if type(delta) is not dict:
                raise self._unexpected(chunk)
            reasoning = delta.get("reasoning") or delta.get("reasoning_content")
            if reasoning:
                self.reasoning_field = "reasoning" if delta.get("reasoning") else "reasoning_content"
                self._emit("reasoning", reasoning, chunk)
            content = delta.get("content")
            if content:
                if self.plain and type(content) is str:  # the hot path, _emit inlined
                    if self.pending_type != "text":
                        self._flush()
                        self.pending_type = "text"
                    self.pending.append(content)
                else:
                    if type(content) is not str:
                        raise self._unexpected(chunk)
                    for part_type, text in self.think.split(content):
                        if part_type == "reasoning":
                            self.reasoning_field = THINK_TAGS
                        self._emit(part_type, text, chunk)
                    self.plain = self.think.state == _TEXT
            tool_calls = delta.get("tool_calls")
            if tool_calls:
                self._tool_calls(tool_calls, chunk)
            elif delta.get("function_call"):  # the dialect before tool calls: one call, no index or id
                self._tool_calls({"function": delta["function_call"]}, chunk)
        finish_reason = choice.get("finish_reason")
        if finish_reason:
            self.finish_reason = finish_reason
        logprobs = choice.get("logprobs")
        if logprobs:
            self._logprobs(logprobs, chunk)

    def _tool_calls(self, tool_calls, chunk: dict) -> None:
        for tool_call in tool_calls if type(tool_calls) is list else (tool_calls,):
            try:
                events = self.tools.add(tool_call)
            except Unexpected:
                raise self._unexpected(chunk) from None
            if events:
                self._flush()
                self.events.extend(events)

    def _logprobs(self, logprobs, chunk: dict) -> None:
        content = logprobs.get("content") if type(logprobs) is dict else False
        if content is None:  # {"content": null}: none this time
            return
        if type(content) is not list:
            raise self._unexpected(chunk)
        if self.logprobs is None:
            self.logprobs = []
        self.logprobs.extend(content)

    def _unexpected(self, chunk) -> llm.ModelError:
        return HFError(f"{self.who} sent an unexpected answer: {excerpt(chunk)}")

    def _emit(self, part_type: str, text, chunk) -> None:
        if type(text) is not str:
            raise self._unexpected(chunk)
        if part_type != self.pending_type:
            self._flush()
            self.pending_type = part_type
        self.pending.append(text)

    def _flush(self) -> None:
        if self.pending:
            text = "".join(self.pending)
            self.pending = []
            self.last_said = text or self.last_said
            if self.pending_type == "text":
                self.events.append(text)
                self.texted = self.texted or bool(text)
            else:  # the field it came in, kept with the part: it goes back the same way in a tool loop
                ours = {PROVIDER_KEY: {"reasoning_field": self.reasoning_field}}
                self.events.append(StreamEvent(self.pending_type, text, provider_metadata=ours))
        self.pending_type = None

    # -- finishing

    def finish(self):
        """Check the answer was whole; record tool calls, usage, model, response_json; yield the events not
        shown yet, then say so when the provider cut the answer short (at a token limit the user did not set,
        before any text: a thinking model's reasoning took every token; by its content filter) or it is
        empty."""
        if self.sse is None:
            self._read_body()
        elif not (self.finish_reason or self.done):
            raise HFError(
                f"The response from {self.who} ended early, before the model finished; "
                "what was shown is incomplete."
            )
        if not self.choices_seen:
            raise HFError(f"{self.who} sent no answer.")
        for part_type, text in self.think.finish():
            if part_type == "reasoning":
                self.reasoning_field = THINK_TAGS
            self._emit(part_type, text, None)
        self._flush()
        try:
            calls, events = self.tools.finish()
        except HFError as ex:  # arguments cut off by the token limit are not JSON: say why
            if self.finish_reason != "length":
                raise
            raise HFError(f"{ex} — {self._at_limit()}") from None
        self.events.extend(events)
        for call in calls:
            self.response.add_tool_call(call)
        record_answer(self.response, self)
        if self.provider:
            self._mark_provider()
        yield from self.events
        note = self._note(calls)
        if note:
            say(note, new_line=self._line_open())

    def _note(self, calls: list) -> str | None:
        """What is said of an answer cut short or empty (one cut where -o max_tokens said is as asked)."""
        if self.finish_reason == "content_filter":
            return f"{self.who} stopped the answer: its content filter held back the rest"
        if self.finish_reason == "length" and not (self.texted and "max_tokens" in self.request.body):
            return self._at_limit()
        return None if self.texted or calls else f"{self.who} sent an empty answer"

    def _at_limit(self) -> str:
        return f"{self.who} stopped the answer at its token limit; a larger -o max_tokens lets it go on"

    def _line_open(self) -> bool:
        """Whether the text (or reasoning) a stream showed last left its line open on the terminal (llm
        prints a whole answer after the note)."""
        said = self.last_said if self.request.body.get("stream") else ""
        return said != "" and not said.endswith("\n")

    def _mark_provider(self) -> None:
        """Put who answered on the answer's last part, where llm keeps it with the turn (also in logs.db). The
        last event of this batch carries it when there is one; else an empty event of the same type as the
        last one shown joins that event's part."""
        last = self.events[-1] if self.events else self.tail
        earlier = (getattr(last, "provider_metadata", None) or {}).get(PROVIDER_KEY, {})
        turn = {"provider": self.provider, "model": self.request.repo_id}
        metadata = {PROVIDER_KEY: {**earlier, **turn}}  # llm keeps the last value of each top-level key
        if isinstance(last, StreamEvent) and last.type != "text":
            part_type = "reasoning" if last.type == "reasoning" else "tool_call_args"
            self.events.append(
                StreamEvent(part_type, "", tool_call_id=last.tool_call_id, provider_metadata=metadata)
            )
        elif self.events:  # text of this batch, not shown yet: it carries it
            self.events[-1] = StreamEvent("text", self.events[-1], provider_metadata=metadata)
        else:
            self.events.append(StreamEvent("text", "", provider_metadata=metadata))

    def _read_body(self) -> None:
        # as the stream is: never "not JSON" for a byte
        body = b"".join(self.body).decode("utf-8-sig", "replace")
        answer = json_or_none(body)
        if answer is None:
            raise HFError(f"{self.who} sent an answer that is not JSON: {excerpt(body)}")
        self.handle(answer)


# ------------ chat: usage and cost


def is_count(value) -> bool:
    """A token count SQLite can store (llm logs them as 64-bit integers)."""
    return type(value) is int and 0 <= value < 2**63


def is_cost(value) -> bool:
    return _finite(value) and 0 <= value <= MAX_COST


def usage_counts(usage: dict) -> tuple:
    """Input and output tokens, and the details of each side kept apart (as llm's OpenAI models do). A count
    that is not one (negative, fractional, past 64 bits) is left out, never logged."""
    counts = [usage.get(k) for k in ("prompt_tokens", "completion_tokens")]
    input_tokens, output_tokens = (n if is_count(n) else None for n in counts)
    details = {}
    for group in ("prompt_tokens_details", "completion_tokens_details"):
        values = usage.get(group)
        kept = {k: v for k, v in values.items() if is_count(v) and v} if type(values) is dict else {}
        if kept:
            details[group] = kept
    return input_tokens, output_tokens, details


def answer_cost(usage: dict, input_tokens, output_tokens, price) -> float | None:
    """USD: the provider's own estimate, else the tokens at the catalog price of who answered. Only a cost
    that can be one (finite, not negative, under MAX_COST) is recorded."""
    estimate = usage.get("estimated_cost")
    if is_cost(estimate):
        return estimate
    if price is None or input_tokens is None or output_tokens is None:
        return None
    cost = round((input_tokens * price[0] + output_tokens * price[1]) / 1e6, 12)
    return cost if is_cost(cost) else None


def record_answer(response, reader: AnswerReader) -> None:
    """Usage (with who answered and the cost), the resolved model and response_json, on the llm response."""
    usage = reader.usage or {}
    input_tokens, output_tokens, details = usage_counts(usage)
    record = {"id": reader.id, "model": reader.model, "finish_reason": reader.finish_reason}
    if reader.usage:
        record["usage"] = reader.usage
    if reader.provider:
        record["provider"] = details["provider"] = reader.provider
    price = reader.prices.get(reader.provider)
    cost = answer_cost(usage, input_tokens, output_tokens, price)
    if cost is not None:
        record["cost_usd"] = details["cost_usd"] = cost
    if input_tokens is None and output_tokens is None and details:
        details["tokens"] = "not reported"  # so -u does not pass the provider off as token usage
    if input_tokens is not None or output_tokens is not None or details:
        response.set_usage(input=input_tokens, output=output_tokens, details=details or None)
    if isinstance(reader.model, str) and reader.model:
        response.set_resolved_model(reader.model)
    if reader.logprobs is not None:
        record["logprobs"] = reader.logprobs
    response.response_json = record


# ------------ chat: sending (sync and async differ only here)


def whole_answer(answer: Answer, request: ChatRequest, response, prices: dict | None) -> list:
    """The events of a whole (not streamed) answer, read as a stream's are."""
    reader = AnswerReader(response, request, prices)
    reader.start(answer.headers)
    return [*reader.feed(answer.body), *reader.finish()]


def streamed(client, request: ChatRequest):
    """A chat stream's exchange on ``client`` (sync or async): only its silences are timed."""
    return client.stream(
        "POST", _parsed(request.url), json=request.body, headers=request.headers, timeout=_timeout(request)
    )


def send(request: ChatRequest, response, prices: dict | None = None):
    """Send ``request`` and yield what it answers, read by read, retrying as :class:`Attempts` says. An answer
    not streamed is asked for as every whole answer is (:func:`ask`: within its deadline, all of it)."""
    refresh_beside(request)
    if not request.body["stream"]:
        yield from whole_answer(ask(request), request, response, prices)
        return
    attempts = Attempts(request)
    while True:
        reader = AnswerReader(response, request, prices)
        try:
            with streamed(sync_client(), request) as http:
                if http.status_code < 400:
                    reader.start(http.headers)
                    for data in http.iter_bytes():
                        yield from reader.feed(data)
                    break
                wait = attempts.after_status(http.status_code, http.headers, read_body(http, request, None))
        except httpx2.HTTPError as ex:
            wait = attempts.after_error(ex, reader.shown)
        sleep(wait)
    yield from reader.finish()


async def send_async(request: ChatRequest, response, prices: dict | None = None):
    """The async twin of :func:`send` (an answer not streamed waited for in the pool: see :func:`in_pool`)."""
    refresh_beside(request)
    if not request.body["stream"]:
        request.stop = threading.Event()
        answer = await in_pool(functools.partial(ask, request), request.stop)
        for event in whole_answer(answer, request, response, prices):
            yield event
        return
    attempts = Attempts(request)
    while True:
        reader = AnswerReader(response, request, prices)
        try:
            async with streamed(async_client(), request) as http:
                if http.status_code < 400:
                    reader.start(http.headers)
                    async for data in http.aiter_bytes():
                        for event in reader.feed(data):
                            yield event
                    break
                body = await read_body_async(http)
                wait = attempts.after_status(http.status_code, http.headers, body)
        except httpx2.HTTPError as ex:
            wait = attempts.after_error(ex, reader.shown)
        await async_sleep(wait)
    for event in reader.finish():
        yield event


# ------------ chat: the models


class _HFChatBase(_HFModel):
    """What sync and async Hugging Face chat models share: all but the transport. A router model holds its
    registry row; a model added with 'llm hf add' is given its spec."""

    can_stream = True
    Options = BuiltWhenRead(chat_options)
    spec_of = staticmethod(chat_spec)

    # Read from the spec when asked, not copied into each model.
    supports_tools = property(lambda self: self.spec.tools)
    supports_schema = property(lambda self: self.spec.schema)
    attachment_types = property(lambda self: IMAGE_TYPES if self.spec.vision else frozenset())

    def _request(self, prompt, stream: bool, key) -> ChatRequest:
        return build_request(self.spec, prompt, stream, key)

    def _prices(self) -> dict:
        """The router's prices for this model (read at every prompt: a refresh in between is seen)."""
        return {} if self.spec.base_url else model_prices(self.spec.repo_id)


class HFChat(_HFChatBase, llm.KeyModel):
    def execute(self, prompt, stream, response, conversation, key):
        yield from send(self._request(prompt, stream, key), response, self._prices())


class AsyncHFChat(_HFChatBase, llm.AsyncKeyModel):
    async def execute(self, prompt, stream, response, conversation, key):
        async for event in send_async(self._request(prompt, stream, key), response, self._prices()):
            yield event


# ============ embeddings
# ------------ embeddings: found on the Hub, one llm model per (model, provider)


EMBEDDINGS = Discovery(
    "embeddings",
    "embedding models",
    ("feature-extraction", "sentence-similarity"),
    tuple(  # served by hf-inference; registered until the first refresh
        HubSpec(repo_id, (("hf-inference", repo_id, "feature-extraction"),), aliases)
        for repo_id, aliases in (
            ("sentence-transformers/all-MiniLM-L6-v2", ("hf-minilm",)),
            ("BAAI/bge-m3", ("hf-bge-m3",)),  # multilingual, 100+ languages
            ("intfloat/multilingual-e5-large", ("hf-e5-multilingual",)),
        )
    ),
    serves=lambda provider, hub_task: provider == "hf-inference" or hub_task == "feature-extraction",
    per_provider=True,  # vectors compare only with vectors of the same provider's model
)


# ------------ embeddings: requests, a few at once


def embed_request(spec: HubSpec, texts: list, key: str | None) -> HFRequest:
    """The request embedding ``texts``: its provider's row, or an OpenAI-style /embeddings elsewhere."""
    provider, provider_id, _ = spec.providers[0]
    if spec.base_url:
        url, body = spec.base_url.rstrip("/") + "/embeddings", {"input": texts, "model": provider_id}
    else:
        path, body = PROVIDERS["embeddings"][provider].build(provider_id, {}, texts)
        url = router_root() + path
    bill_to = bill_to_of(None)
    headers = request_headers(False, key, bill_to, url=url)
    return HFRequest(url, "embeddings", headers, body, timeout=READ_TIMEOUT, bill_to=bill_to)


def in_parallel(work, batches: list) -> list:
    """``work(batch, stop)`` on each batch, a few at a time on the pooled client; results in batch order. The
    first error stops the rest and is raised. On Ctrl-C, ``stop`` tells the workers to send nothing more, and
    the call ends at once: they are daemon threads, so a request still under way never holds up llm's exit (a
    thread pool's would, for as long as its retries take)."""
    stop = threading.Event()
    if len(batches) == 1:
        return [work(batches[0], stop)]
    results: list = [None] * len(batches)
    errors: list = []
    queue = iter(list(enumerate(batches)))
    lock = threading.Lock()

    def worker():
        while not stop.is_set():
            with lock:
                number, batch = next(queue, (None, None))
            if batch is None:
                return
            try:
                results[number] = work(batch, stop)
            except BaseException as ex:  # noqa: BLE001 - raised again in the calling thread
                errors.append(ex)
                stop.set()

    threads = [
        threading.Thread(target=worker, daemon=True) for _ in range(min(EMBED_CONCURRENCY, len(batches)))
    ]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            joined(thread)
    finally:
        stop.set()
    if errors:
        raise errors[0]  # the first error: those after it are workers told to stop
    return results


def batch_limit(error: "HTTPStatusError", size: int) -> int | None:
    """The batch size a server that refused a batch as too big will take; None when that was not why."""
    found = re.search(r"batch size (\d+) > maximum allowed batch size (\d+)", str(error))
    if error.status in (413, 422) and found:
        return max(1, int(found.group(2)))
    return max(1, size // 2) if error.status == 413 else None  # a payload over the server's limit


def even_batches(texts: list, most: int) -> list:
    """``texts`` in as few batches of at most ``most`` as can be, as even as can be (100 by 32: 4 of 25)."""
    if not texts:
        return []
    count = -(-len(texts) // most)
    size = -(-len(texts) // count)
    return [texts[start : start + size] for start in range(0, len(texts), size)]


# ------------ embeddings: every answer shape to one vector a text


def vectors_of(data, count: int, who: str, exact: bool = True) -> list:
    """One vector a text from any answer shape, checked: never a wrong vector stored. OpenAI-style ``{"data":
    [{"index", "embedding"}]}`` is put in ``index`` order; hf-inference's pooled ``[[dim], …]`` is used as
    sent; its per-token ``[n, 1, tokens, dim]`` (plain transformers models) is mean-pooled. ``exact=False``
    skips looking for booleans, for an answer that cannot hold one."""
    if type(data) is dict:
        items = data.get("data")
        if type(items) is not list or not all(type(i) is dict and type(i.get("index")) is int for i in items):
            raise HFError(f"{who} sent embeddings without their index: {excerpt(data)}")
        items = sorted(items, key=lambda item: item["index"])
        if [item["index"] for item in items] != list(range(count)):
            raise HFError(f"{who} sent {len(items)} embeddings for {count} texts")
        data = [item.get("embedding") for item in items]
    elif count == 1 and type(data) is list and data and type(data[0]) in (int, float):
        data = [data]  # one pooled vector, unwrapped
    if type(data) is not list or len(data) != count:
        size = len(data) if type(data) is list else "no"
        raise HFError(f"{who} sent {size} embeddings for {count} texts")
    vectors = [_pooled(item, who, exact) for item in data]
    _check_vectors(vectors, who, exact)
    return vectors


def _pooled(item, who: str, exact: bool) -> list:
    if type(item) is list and len(item) == 1 and type(field_of(item, 0, 0)) is list:
        item = item[0]  # [1, tokens, dim]
    if type(item) is list and item and type(item[0]) is list:
        _check_vectors(item, who, exact)
        return [math.fsum(column) / len(item) for column in zip(*item, strict=True)]  # the mean over tokens
    return item


def _check_vectors(vectors: list, who: str, exact: bool) -> None:
    """Every vector a list of as many finite numbers as the first (sum() refuses what is not a number).
    Booleans sum as numbers: ``exact`` looks for them too (a slower test, so it runs only for an answer that
    can hold one)."""
    dim = len(vectors[0]) if vectors and type(vectors[0]) is list else 0
    try:
        good = dim > 0 and all(type(v) is list and len(v) == dim and math.isfinite(sum(v)) for v in vectors)
        good = good and not (exact and any(bool in map(type, v) for v in vectors))
    except (TypeError, OverflowError):  # not numbers; integers too large for a float
        good = False
    if not good:
        raise HFError(f"{who} sent embeddings of an unexpected shape: {excerpt(vectors)}")


_dimensions: dict = {}  # model id → the length of its vectors, once seen in this process


def embed_texts(model: "HFEmbedding", texts: list, key: str | None) -> list:
    """The vectors of ``texts``, in order: even batches of at most ``model.max_batch``, a few at once. All of
    one length, and the length this model gave before in this process: else nothing of the call is stored (llm
    stores what this returns)."""
    batches = even_batches(texts, model.max_batch)
    if not batches:
        return []
    parts = in_parallel(lambda batch, stop: embed_fitting(model, batch, key, stop), batches)
    vectors = [vector for part in parts for vector in part]
    before = _dimensions.get(model.model_id)
    lengths = sorted({len(vector) for vector in vectors} | ({before} if before else set()))
    if len(lengths) > 1:
        raise HFError(
            f"{model.model_id} answered with vectors of {' and '.join(map(str, lengths))} dimensions "
            "in this process; they cannot be compared, so none of this call's were kept"
        )
    if lengths:
        _dimensions[model.model_id] = lengths[0]
    return vectors


def embed_fitting(model: "HFEmbedding", texts: list, key: str | None, stop: threading.Event) -> list:
    """The vectors of ``texts`` in one request, or in smaller ones when the server says it takes fewer."""
    request = embed_request(model.spec, texts, key)
    try:
        request.stop = stop
        answer = ask(request)
    except HTTPStatusError as ex:
        limit = batch_limit(ex, len(texts))
        if limit is None or len(texts) <= 1:
            raise
        limit = min(limit, len(texts) - 1)  # always smaller than what was refused
        model.max_batch = min(model.max_batch, limit)  # the next calls split right away
        return [v for batch in even_batches(texts, limit) for v in embed_fitting(model, batch, key, stop)]
    return decode_vectors(answer.body, len(texts), who_answered(answer.headers, request.url))


def decode_vectors(body: bytes, count: int, who: str) -> list:
    """The ``count`` vectors of an embedding answer's bytes, checked (see :func:`vectors_of`)."""
    data = json_or_none(body)
    if data is None:
        raise HFError(f"{who} sent an answer that is not JSON: {excerpt(body)}")
    # JSON numbers hold no 't' or 'f': an answer without either holds no true or false, and a search for
    # one byte is far cheaper than for "true" (benchmarks/README.md).
    return vectors_of(data, count, who, exact=b"t" in body or b"f" in body)


# ------------ embeddings: the model


class HFEmbedding(_HubModel, llm.EmbeddingModel):
    """An embedding model as one provider serves it; llm hands it up to 100 texts a call (--batch-size)."""

    batch_size = None  # llm's Collection sends its own batches; each is split into requests here
    max_batch = EMBED_BATCH  # lowered for a model when its server says it takes fewer

    discovery = EMBEDDINGS

    def embed_batch(self, items, *, key=None):
        return embed_texts(self, list(items), key)


# ============ speech to text
# ------------ speech: found on the Hub, one llm model per repository, its providers an option


SPEECH = Discovery(
    "speech",
    "speech models",
    ("automatic-speech-recognition",),
    built_in(
        "openai/whisper-large-v3",
        "hf-whisper",
        "automatic-speech-recognition",
        ("hf-inference", "openai/whisper-large-v3"),
        ("fal-ai", "fal-ai/whisper"),
    ),
)


# ------------ speech: options and the attached audio


@functools.cache
def speech_options() -> type:
    class SpeechOptions(provider_options()):
        language: shaped(
            r"[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8})?", "a language code such as en, fr or pt-BR"
        ) = about("The language spoken, as a code: en, fr, ...")
        timestamps: bool | None = about("Print timed segments: [0:00.0 --> 0:03.2] text")

    return SpeechOptions


def audio_of(prompt) -> Audio:
    """The prompt's one audio attachment (llm has checked its type); a ModelError when there is none."""
    attachment = attached(
        prompt, "audio file", "Attach one audio file: -a talk.mp3 (or -a - to read it from standard input)"
    )
    mime = attachment.resolve_type()
    try:
        if attachment.path and stat.S_ISREG(os.stat(attachment.path).st_mode):
            audio = Audio(mime, os.path.getsize(attachment.path), path=attachment.path)
        else:  # standard input, a URL llm fetched (no token of ours), a pipe: read whole, once
            attachment.content = attachment_bytes(attachment)
            audio = Audio(mime, len(attachment.content), data=attachment.content)
    except OSError as ex:
        raise HFError(f"Cannot read {attachment.path}: {in_words(ex)}") from None
    if not audio.size:
        raise HFError(f"{attachment.path or 'The audio'} is empty: there is nothing to transcribe")
    return audio


def size_text(size: int) -> str:
    """A size in MB to a tenth, a small one in KB: 32 KB, 0.2 MB, 60.4 MB."""
    return f"{size / 1e6:.1f} MB" if size >= 100_000 else f"{max(1, round(size / 1000))} KB"


def timed(seconds: float) -> str:
    """0:03.2, or 1:02:03.2 past an hour."""
    minutes, rest = divmod(seconds, 60)
    hours, minutes = divmod(int(minutes), 60)
    return f"{hours}:{minutes:02d}:{rest:04.1f}" if hours else f"{minutes}:{rest:04.1f}"


def transcript_text(transcript: Transcript, timestamps: bool) -> str:
    if not timestamps or not transcript.segments:
        return transcript.text
    # ASCII, as SRT's arrow: Windows writes a redirected stdout in its code page, which may have no →
    return "\n".join(
        f"[{timed(s['start'])} --> {timed(s['end']) if s['end'] is not None else '?'}] {s['text']}"
        for s in transcript.segments
    )


# ------------ speech: sending, and the models


def transcribe(spec: HubSpec, prompt, response, key: str | None, stop=None) -> str:
    """Send the prompt's audio, and the transcript as llm shows and logs it."""
    options = prompt.options
    audio = audio_of(prompt)
    asked = options_set(options, ("language", "timestamps"))
    words = "\n".join(text.strip() for text in (prompt.system, prompt.prompt) if text and text.strip())
    if words:  # a system prompt is prompt text too: the names and words the speech may hold
        asked["prompt"] = words
    chosen = choose_provider(spec, "speech", options.provider, asked)
    with refusals(spec, chosen, f"the audio sent: {size_text(audio.size)}"):
        done = run_task("speech", chosen, options, asked, audio, key, stop)
    transcript = done.result
    if transcript is None:
        raise HFError(f"{done.who} answered with something that is not a transcript: {excerpt(done.final)}")
    duration = transcript.duration
    if duration is None:  # hf-inference says it in a header
        duration = _number_or_none(done.answer.headers.get("x-compute-audio-length"))
    record = {"provider": done.who, "duration": duration, "language": transcript.language}
    record["segments"] = transcript.segments or None
    response.response_json = {name: value for name, value in record.items() if value is not None}
    response.set_usage(
        details={"provider": done.who, **({"audio_seconds": duration} if duration is not None else {})}
    )
    if not transcript.text:  # silence, music, or speech it could not make out: said, never a bare blank
        say(f"{done.who} heard no words in the audio; the transcript is empty")
    elif options.timestamps and not transcript.segments:
        say(f"{done.who} sent no timestamps; the transcript is plain text")
    return transcript_text(transcript, bool(options.timestamps))


HFSpeech, AsyncHFSpeech = task_models(
    "HFSpeech", SPEECH, transcribe, BuiltWhenRead(speech_options), frozenset(AUDIO_TYPES)
)


# ============ images
# ------------ images: found on the Hub, one llm model per repository, its providers an option


FLUX = "black-forest-labs/FLUX.1-schnell"

IMAGES = Discovery(
    "images",
    "image models",
    ("text-to-image", "image-to-image", "image-text-to-image"),  # see IMAGE_IN
    built_in(
        FLUX,
        "hf-flux",
        "text-to-image",
        ("hf-inference", FLUX),
        ("fal-ai", "fal-ai/flux/schnell"),
        ("together", FLUX),
        ("replicate", "black-forest-labs/flux-schnell"),
        ("nscale", FLUX),
    ),
    image_text_served,
)


# ------------ images: options


@functools.cache
def image_options() -> type:
    class ImageOptions(provider_options()):
        width: int | None = about("Width in pixels", ge=64, le=4096)
        height: int | None = about("Height in pixels", ge=64, le=4096)
        steps: int | None = about("Denoising steps", ge=1, le=200)
        guidance: float | None = about("How closely to follow the prompt (guidance scale)", ge=0, le=50)
        seed: int | None = about("Random seed, for a repeatable image", ge=0)
        negative_prompt: str | None = about("What the image should not show")
        lora_scale: float | None = about(LORA_SCALE, ge=0, le=4)
        save: str | None = about(SAVE)

    return ImageOptions


# ------------ images (and audio, video): a result from the provider's CDN, its type from its bytes


def download(url, request: HFRequest, into: BinaryIO) -> None:
    """A result URL on the provider's CDN, written to ``into`` as it arrives: fetched without the Hugging
    Face token or any Authorization; a data URL (fal's answer in sync mode) decoded."""
    if type(url) is str and url.startswith("data:") and ";base64," in url:
        try:
            into.write(base64.b64decode(url.partition(";base64,")[2], validate=True))
        except ValueError:
            raise HFError(f"The provider gave a data URL that is not base64: {excerpt(url)}") from None
        return
    if type(url) is not str or split_url(url).scheme not in ("https", "http"):
        words = "no result URL" if type(url) is not str else "a result URL that is not http(s), not fetched"
        raise HFError(f"The provider gave {words}: {excerpt(url)}")
    fetch = follow_up(request, url, {}, into=into, retries=retries_within(FETCH_BUDGET))
    try:
        ask(fetch)
    except llm.ModelError as ex:
        reason = f"{fetch.host} answered {ex.status}" if isinstance(ex, HTTPStatusError) else str(ex)
        raise HFError(f"The result is at {url}, but fetching it failed: {reason}") from None
    except (KeyboardInterrupt, Stopped):
        say(f"stopped; the result is at {url}")
        raise


MAGIC = (  # (media, first bytes, extension, type): the bytes say the type, whatever the URL or label claims
    ("image", b"\x89PNG\r\n\x1a\n", ".png", "image/png"),
    ("image", b"\xff\xd8\xff", ".jpg", "image/jpeg"),
    ("image", b"GIF8", ".gif", "image/gif"),
    ("audio", b"fLaC", ".flac", "audio/flac"),
    ("audio", b"OggS", ".ogg", "audio/ogg"),
    ("audio", b"ID3", ".mp3", "audio/mpeg"),
    ("audio", b"\x1a\x45\xdf\xa3", ".webm", "audio/webm"),
    ("video", b"\x1a\x45\xdf\xa3", ".webm", "video/webm"),
    ("video", b"GIF8", ".gif", "image/gif"),
)


def media_type(data: bytes, media: str) -> tuple | None:
    """(extension, MIME type) of the first bytes of a file of ``media`` (image, audio, video); None if not."""
    riff = {b"WEBP": ("image", ".webp", "image/webp"), b"WAVE": ("audio", ".wav", "audio/wav")}
    if data[:4] == b"RIFF" and riff.get(data[8:12], ("",))[0] == media:
        return riff[data[8:12]][1:]
    if media != "image" and data[4:8] == b"ftyp":  # ISO media: MP4, QuickTime, M4A
        video = (".mov", "video/quicktime") if data[8:12] == b"qt  " else (".mp4", "video/mp4")
        return video if media == "video" else (".m4a", "audio/mp4")
    if media == "audio" and data[:1] == b"\xff" and len(data) > 1 and data[1] & 0xE0 == 0xE0:
        return (".aac", "audio/aac") if data[1] & 0x06 == 0 else (".mp3", "audio/mpeg")  # ADTS, else MPEG
    return next((m[2:] for m in MAGIC if m[0] == media and data.startswith(m[1])), None)


# ------------ images: saving, never over a file, never a partial one


def slug(text: str, medium: str = "image") -> str:
    """A file name from a prompt's first words, in ASCII (printed in any code page): a-red-fox-in-snow,
    cafe-au-lait, accents taken off; a prompt of no Latin letters or digits is named for its medium (audio).
    Never a name Windows keeps for a device (con.png is the console there): con_."""
    import unicodedata

    text = unicodedata.normalize("NFKD", text.lower()).encode("ascii", "ignore").decode()
    name = "-".join(re.findall(r"[a-z0-9]+", text))[:60].rstrip("-") or medium
    return name + "_" if re.fullmatch(r"con|prn|aux|nul|com\d|lpt\d", name) else name


class Destination(NamedTuple):
    """Where a result is saved: a folder, a stem, and whether -o save named the file."""

    folder: pathlib.Path
    stem: str
    named: bool


def destination(save: str | None, prompt_text: str, media: str) -> Destination:
    """Where -o save (else the prompt's words, here) puts a result of ``media``, checked before anything is
    paid for: the folder there and writable, the name short enough, no file of that name with any of the
    extensions the bytes may bring."""
    try:
        target = pathlib.Path(save).expanduser() if save else pathlib.Path()
    except RuntimeError:  # ~someone with no home here
        raise HFError(f"-o save {save}: there is no such home directory") from None
    try:
        mode = mode_of(target)
        named = save is not None and not save.endswith(("/", os.sep)) and not stat.S_ISDIR(mode or 0)
        if save == "-" or (named and mode is not None and not stat.S_ISREG(mode)):  # /dev/null, a pipe
            raise HFError(f"-o save {save}: not a file or a directory; a result is saved in a file")
        folder, stem = (target.parent, target.stem) if named else (target, slug(prompt_text, media))
        if not stat.S_ISDIR(mode_of(folder) or 0):
            raise HFError(f"-o save {save}: there is no directory {folder}")
        taken = [folder / f"{stem}{ext}" for ext in MEDIA[media][1] if named]  # a link too, even to nothing
        taken = next((path for path in taken if os.path.lexists(path)), None)
    except OSError as ex:
        too_long = ex.errno == errno.ENAMETOOLONG
        raise HFError(
            f"-o save {save}: {'the file name is too long' if too_long else in_words(ex)}"
        ) from None
    if len(f".{stem}.partial-{uuid.uuid4().hex}".encode()) > 255:
        raise HFError(f"-o save {save}: the file name is too long")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise HFError(
            f"-o save {save}: {folder} cannot be written to"
            if save
            else "The current directory cannot be written to; choose where to save with -o save"
        )
    if taken is not None:
        raise HFError(f"{taken} exists; not overwritten (choose another -o save)")
    return Destination(folder, stem, named)


class ResultFile:
    """A paid result written as it arrives into a hidden file beside its final name, made at its first
    bytes (following the umask), unbuffered so that a refused write is known at once; then published under
    its name, and removed whatever happens (:meth:`close`), so nothing partial is left. When the disk refuses
    it (full, over quota) the result goes on into llm's own folder, what had come included, and is saved
    there instead: a paid result in hand is kept."""

    def __init__(self, place: Destination):
        self.place, self.path, self.file, self.size, self.closed = place, None, None, 0, False
        self.refused: str | None = None  # why the destination refused it, once it did

    def write(self, data) -> None:
        if self.closed:  # a worker given up on (Ctrl-C) that goes on answering leaves nothing behind
            raise Stopped
        view = memoryview(data)
        while view:
            try:
                if self.file is None:
                    self.path = self.place.folder / f".{self.place.stem}.partial-{uuid.uuid4().hex}"
                    self.file = open(self.path, "xb+", buffering=0)  # noqa: SIM115 - see close()
                written = self.file.write(view)
            except OSError as ex:
                self._elsewhere(ex)
                continue
            self.size += written
            view = view[written:]

    def _elsewhere(self, ex: Exception) -> None:
        """Go on in llm's folder, with what was written so far; the error again if that was done already."""
        if self.refused is not None:
            raise ex
        self.refused = in_words(ex)
        old, old_path, size = self.file, self.path, self.size
        self.place = Destination(llm.user_dir() / "hf-inference-results", self.place.stem, False)
        self.place.folder.mkdir(parents=True, exist_ok=True)
        self.file, self.size = None, 0
        if old is not None:
            try:
                old.seek(0)
                self.write(old.read(size))
            finally:  # moved or not, the refused file goes: nothing partial is left
                self._remove(old, old_path)

    def seek(self, position: int) -> None:  # 0 only: from the start again (a retried download)
        self.size = 0
        if self.file is not None:
            self.file.seek(0)

    def truncate(self) -> None:
        if self.file is not None:
            self.file.truncate()

    def head(self, size: int) -> bytes:
        if self.file is None:
            return b""
        self.file.seek(0)
        return self.file.read(min(size, self.size))

    def publish(self, ext: str) -> pathlib.Path:
        """The result under its name (see :func:`publish`); in llm's folder when the destination refuses."""
        try:
            return publish(self.path, self.place, ext)
        except (OSError, llm.ModelError) as ex:  # a full disk, every name taken
            self._elsewhere(ex)
            return publish(self.path, self.place, ext)

    @staticmethod
    def _remove(file, path) -> None:
        file.close()
        with contextlib.suppress(OSError):
            os.unlink(path)

    def close(self) -> None:
        self.closed = True
        if self.file is not None:
            self._remove(self.file, self.path)


def publish(partial: pathlib.Path, place: Destination, ext: str) -> pathlib.Path:
    """The written ``partial`` given its final name, never over a file (nor a link): a name taken gets -2,
    -3, ...; a file named by -o save that appeared while the result was made too, and the user is told."""
    for number in range(1, 1000):
        path = place.folder / f"{place.stem}{'' if number == 1 else f'-{number}'}{ext}"
        try:
            link_or_copy(partial, path)
        except FileExistsError:
            continue
        if place.named and number > 1:
            say(f"{place.folder / (place.stem + ext)} appeared meanwhile; saved as {path}")
        return path
    raise HFError(f"{place.folder} already has {place.stem}{ext} to {place.stem}-999{ext}")


# What os.link says where there are no hard links (EINVAL: Windows, on FAT and exFAT drives)
NO_HARD_LINKS = (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV, errno.ENOSYS, errno.EINVAL)


def link_or_copy(partial: pathlib.Path, path: pathlib.Path) -> None:
    """``path`` made from ``partial``, never over a file: a hard link, else (FAT, SMB, many FUSE mounts)
    a copy into a file made exclusively, removed again if the copying fails."""
    try:
        os.link(partial, path)
        return
    except FileExistsError:
        raise
    except OSError as ex:
        if ex.errno not in NO_HARD_LINKS:
            raise
    try:
        with open(partial, "rb") as source, open(path, "xb") as file:
            shutil.copyfileobj(source, file)
    except FileExistsError:
        raise
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(path)
        raise


# ------------ images, text to speech, video: made, and saved as it arrives


def saving_perform(task: str, names: tuple, model: str, example: str) -> Callable:
    """A task model's perform for a result written to disk as it arrives (its task's medium: an image, audio,
    a video): the prompt's text made and saved, the saved file's path as llm shows and logs it. All that can
    be checked is checked before the provider makes (and bills) it."""
    media = TASKS[task].medium

    def perform(spec: HubSpec, prompt, response, key: str | None, stop=None) -> str:
        options = prompt.options
        asked = options_asked(prompt, names, model)
        chosen = choose_provider(spec, task, options.provider, asked)
        text = (prompt.prompt or "").strip()
        if not text:
            raise HFError(example)
        place = destination(options.save, text, media)
        sent = f"the text sent: {len(text)} character{'s' if len(text) != 1 else ''}"
        with refusals(spec, chosen, sent):
            path, record = make_and_save(task, media, place, chosen, options, asked, text, key, stop)
        response.response_json = record
        response.set_usage(details={"provider": record["provider"]})
        return str(path)

    return perform


def flagged(final) -> bool:
    """Whether the provider's answer flags what it made as not safe for work (fal's has_nsfw_concepts,
    wavespeed's has_nsfw_contents: a flag for each result)."""
    marks = field_of(final, "has_nsfw_concepts") or field_of(final, "data", "has_nsfw_contents")
    return type(marks) is list and any(mark is True for mark in marks)


def make_and_save(task: str, media: str, place, chosen: tuple, options, asked, data, key, stop) -> tuple:
    """A task whose result (an image, audio, video) is written to disk as it arrives, from the answer or
    from the bytes or URL its row read, then saved under its name: (the path, what response_json keeps)."""
    url = None
    with contextlib.closing(ResultFile(place)) as file:
        try:
            done = run_task(task, chosen, options, asked, data, key, stop, into=file)
            if file.size == 0 and done.answer.body:  # JSON: the result is where the row says
                if done.result is None:
                    what = f"something that is not {MEDIA[media][0]}"
                    raise HFError(f"{done.who} answered with {what}: {excerpt(done.final)}")
                if type(done.result) is bytes:  # in the answer, as base64
                    file.write(done.result)
                else:
                    url = done.result
                    download(url, done.request, into=file)
        except OSError as ex:
            raise cannot_save(ex, url) from None
        head = file.head(2**20 if media == "image" else 256)  # an image's width and height are in its head
        found = media_type(head, media)
        if found is None:
            raise HFError(not_media(done.who, file.size, head, media, url))
        given_up(done.request)  # a task given up saves nothing
        try:
            path = file.publish(found[0])
        except (OSError, llm.ModelError) as ex:
            raise cannot_save(ex, url) from None
    try:
        if file.refused is not None:
            say(f"{place.folder} refused the result ({file.refused}); saved in {path}")
        width, height = (image_size(head) if media == "image" else None) or (None, None)
        seed, url = field_of(done.final, "seed"), url if type(url) is str and url.startswith("http") else None
        record = {"provider": done.who, "path": str(path.resolve()), "type": found[1], "bytes": file.size}
        record.update(width=width, height=height, seed=seed if type(seed) is int else None, url=url)
        record.update(job=done.job, seconds=round(done.seconds, 1), nsfw=flagged(done.final) or None)
        if record["nsfw"]:  # fal's checker sends a black image in place of one it flags
            say(f"{done.who}'s safety checker flagged the result as not safe for work: {path} may be blank")
    except KeyboardInterrupt:
        say(f"stopped; the result is saved in {path}")
        raise
    return path, {name: value for name, value in record.items() if value is not None}


def not_media(who: str, size: int, head: bytes, media: str, url) -> str:
    """An answer that is not of the medium asked for, in words: empty, another medium, or its start."""
    other = next(
        (found for kind in MEDIA if kind != media for found in [media_type(head, kind)] if found), None
    )
    if size == 0:
        said = f"{who} sent nothing where {MEDIA[media][0]} was expected"
    elif other is not None:
        said = f"{who} sent a {other[0][1:].upper()} file, not {MEDIA[media][0]}"
    elif b"\0" in head or head.decode("utf-8", "replace").count("\ufffd") > len(head) // 10:
        said = f"{who} sent {size} bytes that are not {MEDIA[media][0]}"
    else:
        said = f"{who} sent {size} bytes that are not {MEDIA[media][0]}: {excerpt(head)}"
    return said + (f" (from {url})" if type(url) is str and url.startswith("http") else "")


def cannot_save(ex: Exception, url) -> llm.ModelError:
    """A paid result that could not be saved, in words that say where it can still be fetched."""
    reason = in_words(ex)
    if type(url) is str and url.startswith("http"):
        return HFError(f"Cannot save the result: {reason}; it can still be fetched from {url}")
    return HFError(f"Cannot save the result: {reason}; it came in the provider's answer, so it is lost")


def options_asked(prompt, names, model: str) -> dict:
    """The options of ``names`` set, and the input image (images, video), checked as far as they can be
    without a provider (a width goes with a height)."""
    asked = options_set(prompt.options, names)
    image = attached(prompt, "input image")
    if prompt.system:
        raise HFError(f"{model} model takes no system prompt (-s): put what it says in the prompt")
    if image is not None:
        asked["image"] = attachment_url(image)
    if ("width" in asked) != ("height" in asked):
        raise HFError("Give -o width and -o height together")
    return asked


def image_size(data: bytes) -> tuple | None:
    """An image's width and height in pixels, from its header (PNG, GIF, JPEG, WebP); None if unread."""
    if data.startswith(b"\x89PNG") and len(data) >= 24:
        return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    if data.startswith(b"GIF8") and len(data) >= 10:
        return int.from_bytes(data[6:8], "little"), int.from_bytes(data[8:10], "little")
    if data[:4] == b"RIFF" and data[12:16] == b"VP8X" and len(data) >= 30:
        return 1 + int.from_bytes(data[24:27], "little"), 1 + int.from_bytes(data[27:30], "little")
    if data[:4] == b"RIFF" and data[12:16] == b"VP8L" and len(data) >= 25:
        bits = int.from_bytes(data[21:25], "little")
        return 1 + (bits & 0x3FFF), 1 + ((bits >> 14) & 0x3FFF)
    if data[:4] == b"RIFF" and data[12:16] == b"VP8 " and len(data) >= 30:
        return int.from_bytes(data[26:28], "little") & 0x3FFF, int.from_bytes(data[28:30], "little") & 0x3FFF
    return jpeg_size(data) if data.startswith(b"\xff\xd8") else None


def jpeg_size(data: bytes) -> tuple | None:
    """A JPEG's size, from its first start-of-frame segment."""
    at = 2
    while at + 9 <= len(data) and data[at] == 0xFF:
        marker, length = data[at + 1], int.from_bytes(data[at + 2 : at + 4], "big")
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            return int.from_bytes(data[at + 7 : at + 9], "big"), int.from_bytes(data[at + 5 : at + 7], "big")
        at += 2 + length
    return None


def input_image_types(model) -> frozenset:
    """An image or video model's attachment types: images, when a provider maps it as image-to-..."""
    try:
        takes = any(part[2].startswith(IMAGE_IN) for part in model.spec.providers)
        takes = takes or model.spec.repo_id in model.discovery.frames
    except llm.ModelError:  # a broken row: said when the model is used, never when it is listed
        takes = False
    return IMAGE_TYPES if takes else frozenset()


draw = saving_perform(
    "images", (*DIFFUSION, "lora_scale"), "An image", 'Say what to draw: llm -m MODEL "a red fox in snow"'
)
HFImage, AsyncHFImage = task_models(
    "HFImage", IMAGES, draw, BuiltWhenRead(image_options), property(input_image_types)
)


class _Maker(llm.Toolbox):
    """A tool whose model makes a file: its path comes back (and the provider's flag, if it flagged it), the
    file attached (an image is sent on the next turn to a model that takes images). Its folder is made when
    missing; a model of another task is refused."""

    makes: tuple = ()  # (the model class it takes, its words, the 'llm hf models' flag listing them)

    def __init__(self, model: str, directory: str = "."):
        self.model = model
        self.directory = directory

    def _made(self, text: str, **options) -> llm.ToolOutput:
        kind, words, flag = self.makes
        model = known_model(self.model)
        if not isinstance(model, kind):
            raise HFError(f"{self.model} is not {words} model: 'llm hf models {flag}' lists them")
        folder = pathlib.Path(self.directory).expanduser()
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as ex:
            raise HFError(f"Cannot make the folder {folder}: {in_words(ex)}") from None
        response = model.prompt(text, save=os.path.join(folder, ""), **options)
        path = response.text()
        flag = " (the provider flagged it as not safe for work: it may be blank)"  # so the model can say so
        said = path + (flag if (response.response_json or {}).get("nsfw") else "")
        return llm.ToolOutput(output=said, attachments=[llm.Attachment(path=path)])


class HFImages(_Maker):
    """Draw images with a Hugging Face image model; each call saves one and returns its path."""

    makes = (HFImage, "an image", "--images")

    def __init__(self, model: str = "hf-flux", directory: str = "."):
        super().__init__(model, directory)

    def draw(self, prompt: str, width: int = 1024, height: int = 1024) -> llm.ToolOutput:
        """Draw an image of what the prompt describes; its saved path comes back, the image attached."""
        return self._made(prompt, width=width, height=height)


# ============ text to speech
# ------------ text to speech: found on the Hub, one llm model per repository; its options; the tool


KOKORO = "hexgrad/Kokoro-82M"

TTS = Discovery(
    "tts",
    "text-to-speech models",
    ("text-to-speech",),
    built_in(  # the most used open voice model, on four providers
        KOKORO,
        "hf-tts",
        "text-to-speech",
        ("fal-ai", "fal-ai/kokoro/american-english"),
        ("deepinfra", KOKORO),
        ("together", KOKORO),
        ("replicate", "jaaari/kokoro-82m:dfdf537ba482b029e0a761699e6f55e9162cfd159270bfe0e44857caa5f275a6"),
    ),
    apart=":tts",
)


@functools.cache
def tts_options() -> type:
    class TTSOptions(provider_options()):
        voice: str | None = about("The voice, by the provider's name for it (af_heart, ...)", min_length=1)
        speed: float | None = about("How fast it speaks (1: as usual)", ge=0.25, le=4)
        seed: int | None = about("Random seed, for a repeatable reading", ge=0)
        save: str | None = about(SAVE)

    return TTSOptions


speak = saving_perform(
    "tts",
    ("voice", "speed", "seed"),
    "A text-to-speech",
    'Give the text to read aloud: llm -m hf-tts "Good morning, everyone."',
)
HFTTS, AsyncHFTTS = task_models("HFTTS", TTS, speak, BuiltWhenRead(tts_options), frozenset())


class HFSpeak(_Maker):
    """Read text aloud with a Hugging Face text-to-speech model; each call saves an audio file and returns
    its path, the audio attached."""

    makes = (HFTTS, "a text-to-speech", "--tts")

    def __init__(self, model: str = "hf-tts", directory: str = "."):
        super().__init__(model, directory)

    def speak(self, text: str, voice: str | None = None) -> llm.ToolOutput:
        """Read the text aloud; the saved audio file's path comes back."""
        return self._made(text, **({"voice": voice} if voice else {}))


# ============ video
# ------------ video: found on the Hub, one llm model per repository, its providers an option


WAN = "Wan-AI/Wan2.1-T2V-14B"
WAN_FRAME = "Wan-AI/Wan2.1-I2V-14B-720P"  # its sibling from a start frame: hf-video -a frame.jpg goes there

VIDEOS = Discovery(
    "video",
    "video models",
    ("text-to-video", "image-to-video", "image-text-to-video"),  # a start frame: see IMAGE_IN
    built_in(  # the open video model most providers serve
        WAN,
        "hf-video",
        "text-to-video",
        ("fal-ai", "fal-ai/wan-t2v"),
        ("replicate", "wavespeedai/wan-2.1-t2v-480p"),
        ("novita", "wan-t2v"),
    )
    + built_in(
        WAN_FRAME,
        None,
        "image-to-video",
        ("fal-ai", "fal-ai/wan-i2v"),
        ("wavespeed", "wavespeed-ai/wan-2.1/i2v-720p"),
    ),
    image_text_served,
    apart=":video",
    frames={WAN: WAN_FRAME},
)


@functools.cache
def video_options() -> type:
    class VideoOptions(provider_options(TASKS["video"].timeout)):
        steps: int | None = about("Denoising steps", ge=1, le=200)
        guidance: float | None = about("How closely to follow the prompt", ge=0, le=50)
        seed: int | None = about("Random seed, for a repeatable video", ge=0)
        negative_prompt: str | None = about("What the video should not show")
        frames: int | None = about("How many frames", ge=1, le=2000)
        duration: int | None = about("Seconds of video", ge=1, le=600)
        resolution: shaped(r"\d{3,4}p", "a height in lines, then p: 480p, 720p, 1080p") = about(
            "480p, 720p, 1080p"
        )
        aspect_ratio: shaped(r"\d{1,2}:\d{1,2}", "width:height, such as 16:9, 9:16 or 1:1") = about(
            "16:9, 9:16, 1:1"
        )
        lora_scale: float | None = about(LORA_SCALE, ge=0, le=4)
        save: str | None = about(SAVE)

    return VideoOptions


# Its job followed to its end (Ctrl-C cancels it where the provider can), the video written as it arrives.
film = saving_perform(
    "video",
    (*VIDEO, "lora_scale"),
    "A video",
    'Say what the video shows: llm -m hf-video "a corgi running on a beach"',
)
HFVideo, AsyncHFVideo = task_models(
    "HFVideo", VIDEOS, film, BuiltWhenRead(video_options), property(input_image_types)
)


# ============ text to audio
# ------------ text to audio: music and sounds, found on the Hub; its options; made and saved as images are


AUDIO = Discovery(
    "audio",
    "text-to-audio models",
    ("text-to-audio",),
    # hf-music: the example model of both clients' text-to-audio docs, an open one, on fal-ai
    built_in(
        "stabilityai/stable-audio-open-1.0", "hf-music", "text-to-audio", ("fal-ai", "fal-ai/stable-audio")
    ),
    apart=":audio",
)


@functools.cache
def audio_options() -> type:
    class AudioOptions(provider_options()):
        save: str | None = about(SAVE)

    return AudioOptions


sound = saving_perform(
    "audio", (), "A text-to-audio", 'Say what to hear: llm -m hf-music "rain on a tin roof, 10 seconds"'
)
HFAudio, AsyncHFAudio = task_models("HFAudio", AUDIO, sound, BuiltWhenRead(audio_options), frozenset())


# ============ image to text
# ------------ image to text: a page's text or a caption, found on the Hub; the image sent, its text said


OCR = Discovery(  # captions and a page's text alike: the Hub has one task for both
    "ocr",
    "image-to-text models",
    ("image-to-text",),
    built_in("zai-org/GLM-OCR", "hf-ocr", "image-to-text", ("zai-org", "glm-ocr")),
    apart=":ocr",
)


def read_image(spec: HubSpec, prompt, response, key: str | None, stop=None) -> str:
    """The attached image's text (a page as Markdown, or a caption), as llm shows and logs it."""
    image = attached(prompt, "image", "Attach an image: -a scan.png")
    words = "\n".join(text.strip() for text in (prompt.system, prompt.prompt) if text and text.strip())
    chosen = choose_provider(spec, "ocr", prompt.options.provider, {"prompt": words} if words else {})
    with refusals(spec, chosen, f"the image sent: {image.path or image.url or 'from standard input'}"):
        done = run_task("ocr", chosen, prompt.options, {}, image, key, stop)
    if type(done.result) is not str:
        raise HFError(f"{done.who} answered with something that is not text: {excerpt(done.final)}")
    response.response_json = {"provider": done.who, "seconds": round(done.seconds, 1)}
    response.set_usage(details={"provider": done.who})
    if not done.result.strip():  # a blank page: said, never a bare blank
        say(f"{done.who} read no text in the image; the answer is empty")
    return done.result.strip()


HFOCR, AsyncHFOCR = task_models("HFOCR", OCR, read_image, BuiltWhenRead(provider_options), IMAGE_TYPES)


# ============ the Hub in prompts: -f hf: fragments


class HubFile(NamedTuple):
    """A file of a repository on the Hub, as ``-f hf:`` names it."""

    repo_type: str  # "model", "dataset" or "space"
    repo_id: str
    revision: str
    path: str  # "" when only the repository is named: its README.md

    @property
    def page(self) -> str:
        return f"{hub_url()}/{'' if self.repo_type == 'model' else self.repo_type + 's/'}{self.repo_id}"

    @property
    def url(self) -> str:
        path = urllib.parse.quote(self.path or "README.md")
        return f"{self.page}/resolve/{urllib.parse.quote(self.revision, safe='')}/{path}"


_REVISION = r"(?!.*\.\.)[A-Za-z0-9._-]+|refs/pr/\d+"  # a branch, a tag, a commit, or a pull request's ref


_HUB_PAGE = r"((?:datasets/|spaces/|models/)?(?:[^/]+/)?[^/]+)(?:/(?:blob|resolve|raw)/([^/]+)(?:/(.+))?)?"


def spec_of_page(url: str) -> str:
    """A Hub page's URL as a browser shows it, in hf: words: https://hf.co/o/n/blob/v1/a.py is o/n@v1/a.py."""
    host = split_url(hub_url()).hostname
    parts = split_url(url)
    page = re.fullmatch(_HUB_PAGE, re.sub(r"/tree/([^/]+)$", r"/blob/\1", parts.path.strip("/")))
    repo, revision, path = (
        urllib.parse.unquote(part or "") for part in (page.groups() if page else (None,) * 3)
    )
    hosts = {host, "hf.co" if host == "huggingface.co" else host}
    if parts.hostname not in hosts or not page or not re.fullmatch(_REVISION, revision or "main"):
        raise ValueError(  # a revision with a slash other than a pull request's is not one hf: can name
            f"'{excerpt(url)}' is not the page of a file, a repository or a paper on {host}: "
            "hf:https://huggingface.co/owner/name/blob/main/config.json, hf:owner/name"
        )
    return repo + (f"@{revision}" if revision else "") + (f"/{path}" if path else "")


def hub_file(argument: str) -> HubFile:
    """``[datasets/|spaces/|models/]owner/name[@revision][/path]``, or a bare legacy ``name``."""
    repo_type, rest = "model", argument
    prefix = next((p for p in ("datasets/", "spaces/", "models/") if rest.startswith(p)), "")
    if prefix:  # one prefix at most: datasets/models/x is the dataset models/x
        repo_type, rest = prefix[:-2], rest[len(prefix) :]
    parts = rest.split("/")
    names, path_parts = parts[:2], parts[2:]  # owner/name (or a legacy name alone), then the path
    name, at, revision = names[-1].partition("@")
    if revision == "refs" and path_parts[:1] == ["pr"] and len(path_parts) > 1:  # owner/name@refs/pr/3/file
        revision, path_parts = "refs/pr/" + path_parts[1], path_parts[2:]
    repo_id, path = "/".join([*names[:-1], name]), "/".join(path_parts)
    if (
        not re.fullmatch(_REPO_ID, repo_id)
        or not re.fullmatch(_REVISION, revision if at else "main")  # hf:owner/name@ names no revision
        or any(part in ("", ".", "..") for part in path_parts)
    ):
        raise ValueError(
            f"'{excerpt(argument)}' is not a Hub file: hf:owner/name, hf:datasets/owner/name, "
            "hf:owner/name@v1.0/path/to/file, hf:papers/2401.12345"
        )
    return HubFile(repo_type, repo_id, revision or "main", path)


def fetched(url: str) -> tuple:
    """GET a Hub file (the token only to Hugging Face hosts; redirects to a CDN without it): its answer,
    error or not, and whether a token went with it."""
    headers = hub_authorization(url)
    try:
        return hub_get(url, headers, "fragment"), bool(headers)
    except HTTPStatusError as ex:
        return ex.answer, bool(headers)


def hub_refusal(file: HubFile, answer: Answer, token_sent: bool) -> Exception:
    """A Hub error for a file, in words: gated, no such repository, revision or file, else the server's."""
    status, code = answer.status, answer.headers.get("x-error-code")
    where = f"{file.repo_type} {file.repo_id}"
    if code == "GatedRepo":
        give = "" if token_sent else " and give a token (HF_TOKEN, or 'llm keys set huggingface')"
        return ValueError(f"{where} is gated: accept its terms at {file.page}{give}")
    if answer.headers.get("x-error-message") == "Access to this resource is disabled.":  # no token helps
        return ValueError(f"{where} is disabled on the Hub: none of its files can be read ({file.page})")
    if status == 401 and not code and token_sent:  # a revoked or mistyped token, whatever the repository
        words = redact(_server_message(answer.body)[0]) or "401"
        return ValueError(f"The Hub refused the token sent ({words}); check it with 'llm hf whoami'")
    if code == "RepoNotFound" or (status == 401 and not code):
        private = "the token sent cannot see it" if token_sent else "give a token that can see it"
        return ValueError(f"No {where} on the Hub (if it is private, {private})")
    if code == "RevisionNotFound":
        return ValueError(f"{where} has no revision '{file.revision}'")
    if status == 404:  # EntryNotFound, or a server that gives no code
        if not file.path:
            example = f"hf:{file.page.removeprefix(hub_url() + '/')}/config.json"
            return ValueError(
                f"{where} has no README.md at {file.revision}: name one of its files, as {example}"
            )
        return ValueError(f"{where} has no file '{file.path}' at {file.revision}")
    return ValueError(str(http_error(file.url, *answer, purpose="hub", method="GET")))


def fragment_of(body: bytes, source: str):
    """Text as a Fragment; an image as an Attachment; other bytes refused, never passed off as text."""
    encoding = "utf-16" if body[:2] in (b"\xff\xfe", b"\xfe\xff") else "utf-8"  # UTF-16 says so first
    try:
        text = body.decode(encoding)
    except UnicodeDecodeError:
        text = None
    if text is not None and "\x00" not in text:
        if len(body) > FRAGMENT_TEXT_CAP:
            raise ValueError(
                f"{source} is {len(body) / 1e6:.1f} MB of text, "
                f"over the {FRAGMENT_TEXT_CAP // 2**20} MiB a fragment may be"
            )
        return llm.Fragment(text, source)
    from llm.utils import mimetype_from_string

    mime = mimetype_from_string(body) or "of no type llm knows"
    if mime.startswith("image/"):
        return llm.Attachment(type=mime, content=body)
    raise ValueError(f"{source} is a binary file ({mime}), not text to put in a prompt")


def hf_fragment(argument: str):
    """Files from the Hugging Face Hub, with the Hub's token where needed:

    hf:owner/model               its model card (README.md)
    hf:datasets/owner/name       a dataset card; hf:spaces/owner/name a Space's README
    hf:owner/model/src/train.py  one file; hf:owner/model@v1.0/config.json at a branch, tag or commit
    hf:papers/2401.12345         a paper page, as markdown
    hf:https://huggingface.co/owner/model/blob/main/config.json   any of these as its page's URL
    """
    if re.match(r"https?://|(huggingface|hf)\.co/", argument, flags=re.I):  # a page's URL, from a browser
        argument = spec_of_page(argument if "://" in argument else "https://" + argument)
    paper = re.fullmatch(r"papers/(\d{4}\.\d{4,5}(v\d+)?)", argument)
    if paper:
        url = f"{hub_url()}/papers/{paper.group(1)}.md"
        answer, _ = fetched(url)
        if answer.status == 404:
            raise ValueError(f"No paper {paper.group(1)} on the Hub")
        if answer.status >= 400:
            raise ValueError(str(http_error(url, *answer, purpose="hub", method="GET")))
        return fragment_of(answer.body, url)
    file = hub_file(argument)
    answer, token_sent = fetched(file.url)
    if answer.status >= 400:
        raise hub_refusal(file, answer, token_sent)
    return fragment_of(answer.body, file.url)


# ============ MCP: a server's tools as llm tools
# ------------ MCP: the key a server gets; a session over Streamable HTTP (JSON-RPC, answered as JSON or SSE)


MCP_VERSION = "2025-06-18"  # the protocol version asked for
HEADERS_NOT_KEPT = "(not kept)"  # what llm's logs hold for HFMcp's headers=
LOOPBACK = ("127.0.0.1", "localhost", "::1")


def mcp_key(url: str, send_token: bool) -> str | None:
    """The Hugging Face token an MCP server gets (see :func:`key_for`): at huggingface.co, at a Space only
    with ``send_token``; a stand-in on this machine LLM_HF_KEY; any other server none."""
    if is_hf_host(url) or (send_token and is_deployed_host(url) and split_url(url).scheme == "https"):
        return key_for(url, None, KEY_NAME, False)
    if send_token:
        raise HFError(
            "send_token=True is for Spaces (https://….hf.space); "
            "other servers take key_name= or headers={...}"
        )
    # on this machine: LLM_HF_KEY, a stand-in, when set; else none and no word (a local Gradio app takes none)
    stand_in = split_url(url).hostname in LOOPBACK and os.environ.get("LLM_HF_KEY")
    return key_for(url, None, None, True) if stand_in else None


def pinned_to_replica(result: dict, place: str, header: str | None) -> dict:
    """A Space's tool answer with its links to files pinned to the replica that made them (the last part of
    its proxy's X-Proxied-Replica header), as Hugging Face's MCP server pins them: no other replica has
    them. ``place``: the Space's host."""
    replica = (header or "").rpartition("-")[2]
    if "-" not in (header or "") or not re.fullmatch(r"[A-Za-z0-9]{1,64}", replica):
        return result
    files, pinned = f"https://{place}/gradio_api", f"https://{place}/--replicas/{replica}/gradio_api"
    for item in result.get("content") if type(result.get("content")) is list else ():
        for name in ("text", "uri"):
            if type(field_of(item, name)) is str:
                item[name] = item[name].replace(files, pinned)
    return result


class MCPSession:
    """One MCP server over Streamable HTTP: the handshake once, when first needed, then JSON-RPC requests each
    answered as JSON or an SSE stream (our decoder); the session id, when the server gives one, kept and sent
    back, and a new session when the server has forgotten it (404)."""

    def __init__(self, url: str, headers: dict, timeout: float):
        self.url, self.headers, self.timeout = url, headers, timeout
        self.session: str | None = None  # a stateless server gives none
        self.initialized = False
        self.version = MCP_VERSION
        self.ids = iter(range(1, 2**53))

    def request(self, method: str, params: dict, retries: int = RETRIES) -> dict:
        """The result of ``method``; a JSON-RPC error or an answer without one in one line."""
        if not self.initialized:
            self.start()
        try:
            return self.send(method, params, retries)
        except HTTPStatusError as ex:
            if ex.status != 404 or self.session is None:  # with no session, a 404 is the server's answer
                raise
            self.start()  # a session the server no longer knows: a new one, and the request again
            return self.send(method, params, retries)

    def start(self) -> None:
        self.session, self.initialized = None, False
        client = {"name": USER_AGENT, "version": "1"}
        agreed = self.send(
            "initialize", {"protocolVersion": MCP_VERSION, "capabilities": {}, "clientInfo": client}
        )
        version = agreed.get("protocolVersion")
        self.version = (
            version if type(version) is str and re.fullmatch(r"[\w.-]{1,32}", version) else MCP_VERSION
        )
        self.send("notifications/initialized", None)
        self.initialized = True

    def send(self, method: str, params: dict | None, retries: int = RETRIES) -> dict:
        ident = None if params is None else next(self.ids)
        message = {
            "jsonrpc": "2.0",
            "method": method,
            **({} if ident is None else {"id": ident, "params": params}),
        }
        headers = {**self.headers, "Accept": "application/json, text/event-stream"}
        if method != "initialize":  # every request after it says the version agreed, session or none
            headers["MCP-Protocol-Version"] = self.version
        if self.session:
            headers["Mcp-Session-Id"] = self.session
        request = HFRequest(self.url, "mcp", headers, body=message, timeout=self.timeout, retries=retries)
        answer = ask(request)
        session = answer.headers.get("mcp-session-id")
        if method == "initialize" and session and re.fullmatch(r"[\x21-\x7e]{1,256}", session):
            self.session = session
        if ident is None:
            return {}
        result = self.result_of(answer, ident, method, request.host)
        return pinned_to_replica(result, split_url(self.url).netloc, answer.headers.get("x-proxied-replica"))

    @staticmethod
    def result_of(answer: Answer, ident: int, method: str, host: str) -> dict:
        """The result answering ``ident``, from a JSON body or among an SSE stream's messages."""
        if "text/event-stream" in answer.headers.get("content-type", ""):
            events = SSEDecoder(TASKS["mcp"].cap).feed(answer.body + b"\n\n")
            messages = [json_or_none(event) for event in events]
        else:
            found = answer.json()
            messages = found if type(found) is list else [found]
        mine = next((m for m in messages if type(m) is dict and m.get("id") == ident), None)
        if mine is None or not isinstance(mine.get("result", mine.get("error")), dict):
            raise HFError(f"{host} answered {method} with something that is not MCP: {excerpt(answer.body)}")
        if "error" in mine:
            words = mine["error"].get("message")
            raise HFError(
                f"{host} refused {method}: {excerpt(words if type(words) is str else mine['error'])}"
            )
        return mine["result"]


# ------------ MCP: the toolbox; each tool's answer as text and attachments


_mcp_prefixes: dict = {}  # server URL -> what its tools are named after in this process


def mcp_prefix(url: str) -> str:
    """What a server's tools are named after, never alike for two servers in a process (llm would send a call
    to the last one's): hf for Hugging Face's, a Space's name, the first part of a host's name that says whose
    it is (linear for mcp.linear.app), mcp for an address; a number after one taken (localhost2)."""
    if url not in _mcp_prefixes:
        host = split_url(url).hostname or ""
        named = [label for label in host.split(".")[:-1] if label not in ("mcp", "api", "www")] or [host]
        base = "hf" if is_hf_host(url) else "mcp" if ":" in host or host[-1:].isdigit() else named[0]
        taken = set(_mcp_prefixes.values())
        _mcp_prefixes[url] = next(
            f"{base}{n}" for n in ["", *range(2, len(taken) + 3)] if f"{base}{n}" not in taken
        )
    return _mcp_prefixes[url]


def mcp_tools(session: MCPSession, prefix: str) -> list:
    """Every tool the server lists (each page of it) as (name for llm, MCP name, description, schema)."""
    found, cursor, taken = [], None, set()
    for _ in range(HUB_PAGES):
        page = session.request("tools/list", {"cursor": cursor} if cursor else {})
        for tool in page.get("tools") if type(page.get("tools")) is list else ():
            name = field_of(tool, "name")
            if type(name) is not str or not name:
                continue
            ours = re.sub(r"[^A-Za-z0-9_-]", "_", f"{prefix}_{name}")[:60]
            ours = next(f"{ours}{n or ''}" for n in range(len(taken) + 2) if f"{ours}{n or ''}" not in taken)
            taken.add(ours)
            schema = tool.get("inputSchema")
            description = tool.get("description")
            found.append((ours, name, safe_lines(description) if type(description) is str else None, schema))
        cursor = page.get("nextCursor")
        if type(cursor) is not str or not cursor:
            break
    return found


def mcp_output(result: dict):
    """A tool's answer for the model: its text; images and audio attached (a model that takes images
    is sent the images); resource links as their URL. ``isError``: raised, and llm hands it to the model."""
    texts, attachments = [], []
    for item in result.get("content") if type(result.get("content")) is list else ():
        kind = field_of(item, "type")
        item = field_of(item, "resource") if kind == "resource" else item
        if type(field_of(item, "text")) is str:
            texts.append(item["text"])
        elif kind in ("image", "audio") or type(field_of(item, "blob")) is str:
            try:
                data = base64.b64decode(item.get("data") or item.get("blob"), validate=True)
                attachments.append(llm.Attachment(type=field_of(item, "mimeType"), content=data))
            except (TypeError, ValueError):
                texts.append(f"({kind} data that is not base64)")
        elif type(field_of(item, "uri")) is str:
            texts.append(f"{item.get('name') or item.get('title') or 'a resource'}: {item['uri']}")
    if not texts and "structuredContent" in result:
        texts.append(json.dumps(result["structuredContent"]))
    if result.get("isError") is True:
        raise HFError(redact("\n".join(texts)) or "the tool failed and said nothing")
    text = safe_lines("\n".join(texts))  # what llm shows with --td; lines kept for the model
    return llm.ToolOutput(output=text, attachments=attachments) if attachments else text


def _header(item: tuple) -> bool:
    return all(type(value) is str and value.isascii() and value.isprintable() for value in item)


class HFMcp(llm.Toolbox):
    """The tools of an MCP server: Hugging Face's by default (the Hub, papers, docs, and the Spaces added in
    your MCP settings at https://huggingface.co/settings/mcp), a Space's, or any Streamable HTTP server's.
    The Hugging Face token goes to huggingface.co, to a Space only with send_token=True (its owner's code
    runs there; ZeroGPU is billed through it), and nowhere else: other servers get headers= or the key stored
    as key_name=. llm logs its arguments (never headers=) to build it again for -c."""

    def __init__(
        self,
        url: str | None = None,
        tools: list | None = None,
        headers: dict | None = None,
        timeout: float | None = None,
        send_token: bool = False,
        key_name: str | None = None,
    ):
        if headers == HEADERS_NOT_KEPT:  # a conversation continued (-c) whose toolbox was given headers
            raise HFError(
                "HFMcp's headers= are not kept in llm's logs: give them with -T again (or key_name=)"
            )
        # a Gradio app's address for the older SSE transport: the same server speaks Streamable HTTP at …/mcp/
        self.url = re.sub(r"(/gradio_api/mcp)/sse/?$", r"\1/", url or f"{hub_url()}/mcp")
        # hf.co, Hugging Face's short name (its MCP server's guides give https://hf.co/mcp), is asked as
        # huggingface.co, which the token goes to: the user's tools, not the anonymous ones
        self.url = re.sub(r"^https://hf\.co(?=[:/?#]|$)", "https://huggingface.co", self.url, flags=re.I)
        parts = split_url(self.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise HFError(f"HFMcp(url=...) takes an http(s) URL, not {excerpt(self.url)}")
        if not (tools is None or (type(tools) is list and all(type(name) is str for name in tools))):
            raise HFError('HFMcp(tools=...) takes a list of tool names: tools=["hub_repo_details"]')
        if not (headers is None or (type(headers) is dict and all(map(_header, headers.items())))):
            raise HFError('HFMcp(headers=...) takes names and values: headers={"Authorization": "Bearer …"}')
        if not (timeout is None or (type(timeout) in (int, float) and 0 < timeout <= MAX_TIMEOUT)):
            raise HFError(f"HFMcp(timeout=...) takes seconds, more than 0 and at most {MAX_TIMEOUT:g}")
        if not (key_name is None or (type(key_name) is str and key_name)):
            raise HFError("HFMcp(key_name=...) takes the name of a key stored with 'llm keys set NAME'")
        self.wanted, self.timeout = tools, float(timeout or TASKS["mcp"].timeout)
        token = mcp_key(self.url, send_token is True)
        key = key_for(self.url, None, key_name, False) if key_name is not None else token
        # llm logs a toolbox's arguments, to build it again for -c: never the headers (they may hold a key)
        self._config = {**self._config, "headers": HEADERS_NOT_KEPT} if headers else self._config
        # A Space's proxy takes the token in X-HF-Authorization too, as Hugging Face's MCP server sends it
        # there: the Space's own key (key_name=) may then go in Authorization. A header given wins, any case.
        keys = {"Authorization": key, "X-HF-Authorization": token if is_deployed_host(self.url) else None}
        given = {name.lower() for name in headers or ()}
        ours = {
            name: f"Bearer {value}" for name, value in keys.items() if value and name.lower() not in given
        }
        self.headers = {**ours, **(headers or {})}
        self._listed: list | None = None
        self._session: MCPSession | None = None

    def tools(self):
        """One llm tool per MCP tool (those of ``tools=`` alone), listed when first asked for."""
        if self._listed is None:
            self._session = MCPSession(self.url, self.headers, self.timeout)
            host = split_url(self.url).hostname or ""
            # ToolboxName_...: what llm reads a toolbox's name from, to build it again for -c
            found = mcp_tools(self._session, f"{type(self).__name__}_{mcp_prefix(self.url)}")
            names = [name for _, name, _, _ in found]
            unknown = [name for name in self.wanted or () if name not in names]
            if unknown:
                listed = redact(", ".join(names)) or "none"
                raise HFError(f"{host} has no tool {unknown[0]}; its tools: {listed}")
            plugin = getattr(self, "plugin", None)
            self._listed = [
                llm.Tool(
                    ours, description, schema if type(schema) is dict else {}, self._caller(name), plugin
                )
                for ours, name, description, schema in found
                if self.wanted is None or name in self.wanted
            ]
        return iter(self._listed)

    def _caller(self, name: str) -> Callable:
        """The tool ``name`` as a method of this toolbox: llm records the toolbox it came from."""

        async def call(toolbox, /, **arguments):
            begun, stop = threading.Event(), threading.Event()
            try:
                return await asyncio.to_thread(self._call, name, arguments, begun, stop)
            except (asyncio.CancelledError, KeyboardInterrupt):
                stop.set()
                if begun.is_set():  # else its thread, still to come, sends nothing
                    host = split_url(self.url).hostname
                    say(f"stopped; {name} was sent to {host} and may still run")
                raise

        return types.MethodType(call, self)

    def _call(self, name: str, arguments: dict, begun: threading.Event, stop: threading.Event):
        """tools/call, sent once (a tool may spend a quota), unless given up first: its answer."""
        begun.set()
        if stop.is_set():
            raise Stopped
        return mcp_output(self._session.request("tools/call", {"name": name, "arguments": arguments}, 0))


# ============ the llm hf commands
# Each command is a few lines over the functions before it: fetch or read, select, format.


def not_stored(ex: OSError) -> HFError:
    """Models fetched that cannot be kept: where, and why (one line for every kind when the disk is full)."""
    return HFError(f"Cannot store models in {llm.user_dir()}: {in_words(ex)}")


def fetch_catalog() -> Stored:
    """Fetch and store the router's catalog; else an HFError saying why."""
    url = catalog_url()
    try:
        return store_catalog(hub_get(url).body)
    except ValueError as ex:
        host = split_url(url).hostname
        raise HFError(
            f"{host} answered {url} with {ex}; the models you have are kept. "
            "(LLM_HF_BASE_URL points elsewhere than the router?)"
        ) from None
    except OSError as ex:
        raise not_stored(ex) from None


def hub_search(task: str) -> list:
    """Every model of a pipeline tag that some provider serves, with its provider mapping: all pages."""
    url = (
        f"{hub_url()}/api/models?pipeline_tag={task}&inference_provider=all"
        "&expand[]=inferenceProviderMapping&expand[]=tags"  # tags: a LoRA's base model
    )
    items: list = []
    for _ in range(HUB_PAGES):
        try:  # with the token, huggingface.co lists each model's providers in the order you set (as
            # huggingface_hub's ModelInfo says), and choose_provider takes the first that can
            headers = hub_authorization(url) if is_hf_host(url) else {}
        except HFError:  # a token that cannot be had (an expired login): the search needs none
            headers = {}
        answer = hub_get(url, headers)
        page = answer.json()
        if type(page) is not list:
            host = split_url(url).hostname
            raise HFError(f"{host} answered the model search with something that is not a list")
        items.extend(page)
        link = re.search(r'<([^>]+)>\s*;\s*rel="?next"?', answer.headers.get("link", ""))  # the next page
        if not link:
            return items
        url = link.group(1)
    say(
        f"the Hub's search for {task} models has more than {HUB_PAGES} pages; "
        f"kept the first {len(items)} models"
    )
    return items


class NothingServed(HFError):
    """The Hub's search found no model of a kind that a provider serves (a mirror without them, say)."""


def fetch_discovered(discovery: Discovery) -> Stored:
    """Search the Hub for a kind of model and keep what providers serve; else an HFError saying why.
    One rule for every kind: a pipeline tag whose search finds nothing served keeps the models it had (a
    search that failed to find is no news that they are gone), and a note says so."""
    items, empty = [], []
    for task in discovery.hub_tasks:
        found = hub_search(task)
        if any(discovery.servable(mapping_of(item)) for item in found):
            items.extend(found)
        else:
            empty.append(task)
    kept = [
        {"id": repo, "inferenceProviderMapping": [mapping_entry(row) for row in mapping]}
        for repo, mapping in read_discovered(discovery) or ()
        if any(row[2] in empty for row in mapping)
    ]
    if empty and items:
        tags = " or ".join(empty)
        words = f"the Hub's search found no {tags} model that a provider serves; those you have are kept"
        click.echo(f"Note: {words[0].upper()}{words[1:]}", err=True)
    try:
        return store_discovered(discovery, items + kept if items else [])
    except ValueError as ex:
        raise NothingServed(
            f"The Hub's model search gave {ex}; the {discovery.name} you have are kept"
        ) from None
    except OSError as ex:
        raise not_stored(ex) from None


def cached_else_fetched(read, fetch) -> list:
    """What ``read`` finds in our cache; when there is nothing, ``fetch`` it first."""
    found = read()
    if found is None:
        fetch()
        found = read() or []
    return found


def select_models(entries, queries=(), provider=None, tools=False, schemas=False, vision=False, free=False):
    """The (entry, spec) pairs of served models that pass every filter given."""
    selected = []
    for entry in entries:
        spec = spec_from_entry(entry)
        if spec is None or not all(q.lower() in entry["id"].lower() for q in queries):
            continue
        live = live_providers(entry)
        names = [p["provider"] for p in live]
        wanted = (
            (not provider or provider in names)
            and (not tools or spec.tools)
            and (not schemas or spec.schema)
            and (not vision or spec.vision)
            and (not free or any(p.get("is_free") for p in live))
        )
        if wanted:
            selected.append((entry, spec))
    return selected


def format_table(header: list, rows: list, right: str = "") -> str:
    """Columns as wide as their widest cell, two spaces apart; ``right`` marks right-aligned ones with 'r'."""
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = []
    for row in [header, *rows]:
        cells = [
            cell.rjust(width) if right[i : i + 1] == "r" else cell.ljust(width)
            for i, (cell, width) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


def _price_text(provider: dict | None) -> str:
    price = price_of(provider) if provider else None
    if provider and provider.get("is_free"):
        return "free"
    if price is None:
        return "-"
    # a million and more as 1e+06: a broken catalog's 1e308 is not 309 digits
    per_input, per_output = (f"{v:.2f}" if v < 1e6 else f"{v:.3g}" for v in price)
    return f"${per_input}/${per_output}"


def _context(n) -> str:
    return "-" if n is None else f"{n // 1000}k" if n >= 1000 else str(n)


def models_table(selected) -> str:
    rows = []
    for entry, _ in selected:
        live = live_providers(entry)
        names = ",".join(p["provider"] for p in live)
        context = max((p["context_length"] for p in live if "context_length" in p), default=None)
        cheapest = min((p for p in live if price_of(p)), key=price_of, default=None)
        names = names if len(names) <= 16 else names[:15] + "…"
        rows.append([entry["id"], names, _context(context), _price_text(cheapest)])
    return format_table(["model", "providers", "context", "$/1M in/out"], rows, "__rr")


# llm hf providers --sort: each a key over a cleaned provider entry; unknown values go last.
PROVIDER_ORDER = {
    "price": lambda p: price_of(p) or (math.inf, math.inf),
    "latency": lambda p: p.get("first_token_latency_ms", math.inf),
    "throughput": lambda p: -p.get("throughput", -math.inf),
}


def providers_table(entry: dict, sort: str) -> str:
    rows = []
    for p in sorted(entry["providers"], key=PROVIDER_ORDER[sort]):
        cells = [p["provider"], p.get("status", "-"), _context(p.get("context_length")), _price_text(p)]
        numbers = [(p.get("first_token_latency_ms"), "ms"), (p.get("throughput"), "")]
        cells += [f"{value:.0f}{unit}" if value is not None else "-" for value, unit in numbers]
        flags = [p.get("supports_tools"), p.get("supports_structured_output")]
        rows.append(cells + ["yes" if flag is True else "no" if flag is False else "-" for flag in flags])
    header = ["provider", "status", "context", "$/1M in/out", "1st tok", "tok/s", "tools", "json"]
    return entry["id"] + "\n" + format_table(header, rows, "__rrrr")


def resolve_model(name: str) -> str:
    """A model id, alias or repo id as its repo id (what llm logs -m accepts, and bare repo ids)."""
    return repo_id_of(getattr(known_model(name), "model_id", name))


def lora_words(mapping: list) -> str:
    """What a listing says of a LoRA adapter: that it is one, and of which base model when its tags say."""
    lora = [row for row in mapping if len(row) > 4]
    return "" if not lora else f" (LoRA of {lora[0][5]})" if len(lora[0]) > 5 else " (LoRA)"


def mappings_table(found: list) -> str:
    """Discovered models of any kind, each with its providers and their status in the Hub's order."""
    rows = [
        [
            repo_id + lora_words(mapping),
            ", ".join(row[0] for row in mapping),
            ", ".join(row[3] for row in mapping),
        ]
        for repo_id, mapping in found
    ]
    return format_table(["model", "providers", "status"], rows)


def find_entry(model: str) -> dict:
    repo_id = resolve_model(model)
    for entry in cached_else_fetched(read_catalog, fetch_catalog):
        if entry["id"].lower() == repo_id.lower():
            return entry
    raise HFError(f"{repo_id} is not in the catalog; 'llm hf models -q NAME' searches it")


def check_new_model(repo_id: str, alias: str | None, base_url: str | None, embedding: bool = False) -> None:
    """Refuse an 'llm hf add' that could never be sent, or would take over a router model."""
    if embedding and not base_url:
        raise HFError("--embedding needs --base-url: the router's come from 'llm hf refresh'")
    if not re.fullmatch(_REPO_ID, repo_id):
        raise HFError(f"'{repo_id}' is not a model id: use the Hub's ORG/NAME or a plain name")
    if alias is not None and not valid_alias(alias):
        raise HFError(f"{alias!r} is not an alias: no spaces, nothing unprintable")
    problem = url_problem(base_url) if base_url else None
    if problem:
        raise HFError(f"--base-url {excerpt(base_url)} cannot be used: {problem}")
    if split_url(base_url or "").path.rstrip("/").endswith(("/chat/completions", "/embeddings")):
        raise HFError("--base-url is the server's /v1 URL: leave out /chat/completions or /embeddings")
    router = set(map(repo_id_of, router_rows())) - set(read_added())
    if not base_url and not embedding and repo_id in router:
        raise HFError(
            f"hf/{repo_id} is a router model already; add it only with --base-url, to send it elsewhere"
        )


def check_alias_free(repo_id: str, alias: str, embedding: bool) -> None:
    """Refuse an alias that names another model of any plugin (asked under the added-models lock)."""
    owner = getattr(known_model(alias, embedding), "model_id", None)
    if owner not in (None, model_id_of(repo_id)):
        raise HFError(f"'{alias}' already names {owner}; choose another alias")


def add_model(repo_id: str, settings: dict) -> dict:
    """Add or update a model in the added-models file, under a lock: its settings before (empty when new). An
    earlier alias is kept; another one is refused (the first would be lost without a word)."""
    with changing_added() as added:
        earlier = added.get(repo_id) if type(added.get(repo_id)) is dict else {}
        if (
            valid_alias(earlier.get("alias"))
            and settings.setdefault("alias", earlier["alias"]) != earlier["alias"]
        ):
            raise HFError(
                f"hf/{repo_id} has the alias {earlier['alias']} already: to rename it, "
                f"'llm hf remove {repo_id}' first"
            )
        if settings.get("alias"):
            check_alias_free(repo_id, settings["alias"], settings.get("embedding", False))
        added[repo_id] = settings
    return earlier


def remove_model(name: str) -> str:
    """Remove an added model named by its id, repo id or alias; its repo id."""
    with changing_added() as added:
        aliased = [repo for repo, settings in added.items() if field_of(settings, "alias") == name]
        found = [repo for repo in (repo_id_of(name), name, *aliased) if repo in added]
        if not found:
            raise HFError(f"{name} was not added with 'llm hf add'")
        del added[found[0]]
    return found[0]


SPEND_QUERY = """
select model, input_tokens, output_tokens, token_details, response_json from turns
where model like 'hf/%' and (:since is null or datetime_utc >= :since) and (:model is null or model = :model)
"""


def spend_rows(database: pathlib.Path, since: str | None, model: str | None) -> tuple:
    """Prompts, tokens and cost per model and provider from llm's logs, opened read-only; and how many
    logged prompts could not be read."""
    import sqlite3

    params = {"since": since, "model": model_id_of(resolve_model(model)) if model else None}
    try:
        uri = f"{database.resolve().as_uri()}?mode=ro"
        db = sqlite_utils.Database(sqlite3.connect(uri, uri=True, timeout=SPEND_LOCK_WAIT))
        try:
            rows = list(db.query(SPEND_QUERY, params)) if db["turns"].exists() else []
        finally:
            db.close()
    except sqlite3.Error as ex:
        raise HFError(f"Cannot read the logs database {database}: {ex}") from None
    entries = [(row["model"], spend_entry(row)) for row in rows]
    groups: dict = {}
    for model, entry in entries:
        if entry is not None:
            groups.setdefault((model, entry[0]), []).append(entry[1:])
    totals = [spend_total(*names, found) for names, found in sorted(groups.items())]
    return totals, sum(entry is None for _, entry in entries)


def spend_entry(row) -> tuple | None:
    """A logged prompt's provider, input and output tokens and cost (None: not reported, unpriced); None:
    unreadable."""
    details = _json_object(row["token_details"])
    provider = details.get("provider") or _json_object(row["response_json"]).get("provider") or "-"
    counts = [row["input_tokens"], row["output_tokens"]]
    cost = details.get("cost_usd")
    if type(provider) is not str or not all(n is None or is_count(n) for n in counts):
        return None
    return (provider, *counts, cost) if cost is None or is_cost(cost) else None


def spend_total(model: str, provider: str, found: list) -> dict:
    """A model's prompts to a provider, their (input, output, cost) summed."""
    inputs, outputs, costs = zip(*found, strict=True)
    return {
        "model": model,
        "provider": provider,
        "prompts": len(found),
        "input_tokens": summed(inputs),
        "output_tokens": summed(outputs),
        "cost_usd": summed_cost(costs),
        "unpriced_prompts": costs.count(None),
    }


def summed(values, add=sum):
    """The sum of the figures given (not None); None when there are none: no figure, never 0."""
    given = [value for value in values if value is not None]
    return add(given) if given else None


def summed_cost(costs) -> float | None:
    """Costs summed exactly (math.fsum: the same figure on every Python) and rounded once."""
    return summed(costs, lambda given: round(math.fsum(given), 12))


def spend_table(rows: list) -> str:
    total = {key: sum(r[key] for r in rows) for key in ("prompts", "unpriced_prompts")}
    total |= {key: summed(r[key] for r in rows) for key in ("input_tokens", "output_tokens")}
    total.update(model="total", provider="", cost_usd=summed_cost(r["cost_usd"] for r in rows))
    cells = [
        [redact(r["model"]), redact(r["provider"]), str(r["prompts"])]
        + ["-" if r[key] is None else f"{r[key]:,}" for key in ("input_tokens", "output_tokens")]
        + ["-" if r["cost_usd"] is None else f"{r['cost_usd']:.6f}"]
        for r in [*rows, total]
    ]
    text = format_table(["model", "provider", "prompts", "input", "output", "cost USD"], cells, "__rrrr")
    unpriced = total["unpriced_prompts"]
    if unpriced:
        text += f"\n{unpriced} prompt{'s' if unpriced != 1 else ''} without a price (not in the total)"
    return text


def _json_object(text) -> dict:
    value = json_or_none(text) if text else None
    return value if isinstance(value, dict) else {}


def parse_since(since: str) -> str:
    """``7d``, ``24h`` or ``YYYY-MM-DD`` (from midnight where the user is) as the UTC timestamp llm's logs
    compare with."""
    from datetime import datetime, timedelta, timezone

    match = re.fullmatch(r"(\d+)([dh])", since)
    try:
        if match:
            amount = int(match.group(1))
            delta = timedelta(days=amount) if match.group(2) == "d" else timedelta(hours=amount)
            return (datetime.now(timezone.utc) - delta).isoformat()
        day = datetime.strptime(since, "%Y-%m-%d")
    except (OverflowError, ValueError) as ex:
        reason = "too far back" if isinstance(ex, OverflowError) else "use 7d, 24h or YYYY-MM-DD"
        raise click.BadParameter(reason, param_hint="--since") from None
    try:
        return day.astimezone().astimezone(timezone.utc).isoformat()
    except (OverflowError, OSError, ValueError):  # year 1, or before 1970 on Windows: no logs then anyway
        return day.replace(tzinfo=timezone.utc).isoformat()


def whoami_lines(me) -> list:
    """The account, organisations and token role of a whoami-v2 answer, whatever its shape."""
    if type(me) is not dict:
        raise HFError("The Hub answered whoami with something that is not an account")

    def text(value, default="?"):  # the server's words, without what a terminal would obey
        return redact(value) if type(value) is str and value else default

    name, fullname = text(me.get("name")), text(me.get("fullname"), "")
    lines = [f"{name} ({fullname})" if fullname else name]
    orgs = [text(field_of(org, "name"), "") for org in me["orgs"]] if type(me.get("orgs")) is list else []
    lines.append(f"Organisations: {', '.join(filter(None, orgs)) or 'none'}")
    token = [text(field_of(me, "auth", "accessToken", name)) for name in ("displayName", "role")]
    kind, ends = field_of(me, "auth", "type"), field_of(me, "auth", "expiresAt")
    if field_of(me, "auth", "accessToken") is None and type(kind) is str:  # a login's: no name, no role
        lines.append(f"Token: {text(kind)}" + (f", expires {text(ends)}" if type(ends) is str else ""))
    else:
        lines.append(f"Token: {token[0]} (role: {token[1]})")
    fine = field_of(me, "auth", "accessToken", "fineGrained")  # a fine-grained token's permissions
    if type(fine) is dict:
        scoped = fine["scoped"] if type(fine.get("scoped")) is list else []
        granted = [fine.get("global"), *(field_of(entry, "permissions") for entry in scoped)]
        if any(type(given) is list and "inference.serverless.write" in given for given in granted):
            lines.append("Inference Providers: allowed")
        else:
            lines.append(
                "Inference Providers: not allowed; give the token 'Make calls to Inference Providers' "
                "at https://huggingface.co/settings/tokens"
            )
    return lines


@click.group(name="hf")
def hf_commands():
    "Hugging Face Inference: models, providers, your account"
    # Piped or redirected on Windows, the output is in the code page (cp1252): a name in another script
    # (an account's, a token's, a path's) is written escaped, where it would end the command in a traceback.
    with contextlib.suppress(AttributeError, ValueError):
        sys.stdout.reconfigure(errors="backslashreplace")


# The Hub's searches: what 'llm hf refresh' fetches, and 'llm hf models --<flag>' lists (TASKS' flags).
DISCOVERIES = (EMBEDDINGS, SPEECH, IMAGES, TTS, VIDEOS, AUDIO, OCR)


def with_kind_flags(command):
    """``command`` with a flag for each kind of model the Hub's search finds."""
    for discovery in reversed(DISCOVERIES):
        words = f"The {discovery.name} instead: model, providers, status"
        command = click.option(f"--{TASKS[discovery.task].flag}", is_flag=True, help=words)(command)
    return command


def discovered_listing(discovery: Discovery, queries, provider, json_) -> tuple:
    """(what matches, its listing): a kind's models found by the Hub's search, filtered as chat's are."""
    found = cached_else_fetched(lambda: read_discovered(discovery), lambda: fetch_discovered(discovery))
    found = [
        (repo, mapping)
        for repo, mapping in found
        if all(q.lower() in repo.lower() for q in queries)
        and (not provider or any(row[0] == provider and row[3] == "live" for row in mapping))
    ]
    keyed = [{"id": repo, "providers": [mapping_entry(row) for row in mapping]} for repo, mapping in found]
    return found, json.dumps(keyed, indent=2) if json_ else mappings_table(found) if found else ""


@hf_commands.command(name="models")
@click.option("queries", "-q", "--query", multiple=True, help="Only models whose id contains this")
@click.option("--provider", help="Only models this provider serves")
@click.option("--tools", is_flag=True, help="Only models some provider runs with tools")
@click.option("--schemas", is_flag=True, help="Only models some provider runs with structured output")
@click.option("--vision", is_flag=True, help="Only models that take images")
@click.option("--free", is_flag=True, help="Only models some provider serves for free")
@click.option("json_", "--json", is_flag=True, help="Print the catalog entries as JSON")
@with_kind_flags
def models_command(queries, provider, tools, schemas, vision, free, json_, **kinds):
    "List the models the Inference Providers router serves"
    chosen = [discovery for discovery in DISCOVERIES if kinds[TASKS[discovery.task].flag]]
    if len(chosen) > 1:
        flags = [f"--{TASKS[discovery.task].flag}" for discovery in DISCOVERIES]
        raise click.UsageError(f"Choose one of {', '.join(flags[:-1])} and {flags[-1]}")
    given = {"tools": tools, "schemas": schemas, "vision": vision, "free": free}
    chat_only = [f"--{name}" for name, value in given.items() if value]
    if chosen and chat_only:
        flag = TASKS[chosen[0].task].flag
        raise click.UsageError(f"{chat_only[0]} is about chat models; leave it out with --{flag}")
    if chosen:
        found, listed = discovered_listing(chosen[0], queries, provider, json_)
    else:
        catalog = cached_else_fetched(read_catalog, fetch_catalog)
        found = select_models(catalog, queries, provider, tools, schemas, vision, free)
        listed = json.dumps([entry for entry, _ in found], indent=2) if json_ else models_table(found)
    if not found and not json_:
        served = f" served by {provider}" if provider else ""
        raise HFError("No model matches" + (f" {' and '.join(queries)}" if queries else "") + served)
    click.echo(listed)


@hf_commands.command(name="providers")
@click.argument("model")
@click.option("--sort", type=click.Choice(list(PROVIDER_ORDER)), default="price", show_default=True)
def providers_command(model, sort):
    "The providers of MODEL (an id or alias): status, context, price, speed, features"
    found = known_model(model) or known_model(model, embedding=True)
    if isinstance(found, _HFModel) and found.spec.base_url:
        click.echo(f"{found.model_id} is served by {found.spec.base_url} ('llm hf add'), not by providers")
        return
    if isinstance(found, _HubModel):  # a model of the Hub's search (embeddings, speech, ...): as mapped
        mapping = dict(read_discovered(found.discovery) or ()).get(found.spec.repo_id, ())
        lora = {row[0]: f"LoRA of {row[5]}" for row in mapping if len(row) > 5}  # its base, when its tags say
        rows = [[*part[:3], lora.get(part[0], "LoRA") if part[3:] else "-"] for part in found.spec.providers]
        click.echo(
            found.spec.repo_id + "\n" + format_table(["provider", "provider id", "task", "adapter"], rows)
        )
        return
    click.echo(providers_table(find_entry(model), sort))


def changes(stored: Stored, name: str) -> str:
    added, removed = ", ".join(stored.added) or "none", ", ".join(stored.removed) or "none"
    name = name.removesuffix("s") if stored.count == 1 else name
    dropped = f" Left out {stored.dropped} values of the wrong type." if stored.dropped else ""
    return f"{stored.count} {name}. Added: {added}. Removed: {removed}.{dropped}"


@hf_commands.command(name="refresh")
def refresh_command():
    "Fetch the router's model catalog, and the Hub's models of every other task"
    failed, said = False, set()
    found = [(discovery.name, functools.partial(fetch_discovered, discovery)) for discovery in DISCOVERIES]
    for name, fetch in [("chat models", fetch_catalog), *found]:
        try:
            click.echo(changes(fetch(), name))
        except NothingServed as ex:  # kept as they are: nothing failed
            click.echo(f"Note: {ex.message}", err=True)
        except HFError as ex:
            failed = True
            if ex.message not in said:  # one broken network, said once
                said.add(ex.message)
                click.echo(f"Error: {ex.message}", err=True)
    if failed:
        raise click.exceptions.Exit(1)


@hf_commands.command(name="add")
@click.argument("model_id")
@click.option("--alias", help="A short name for the model")
@click.option("--base-url", help="Its server's /v1 URL: a dedicated endpoint, TGI, vLLM")
@click.option("--key-name", help="The 'llm keys' name of its key (Hugging Face hosts default to huggingface)")
@click.option("--vision", is_flag=True, help="It takes images")
@click.option("--tools", is_flag=True, help="It can call tools")
@click.option("--schemas", is_flag=True, help="It can answer to a JSON schema")
@click.option(
    "--embedding", is_flag=True, help="It is an embedding model (OpenAI-style /embeddings, as TEI serves)"
)
def add_command(model_id, alias, base_url, key_name, vision, tools, schemas, embedding):
    "Add a model outside the router's catalog"
    repo_id = repo_id_of(model_id)
    check_new_model(repo_id, alias, base_url, embedding)
    asked = {"alias": alias, "base_url": base_url, "key_name": key_name}
    asked.update(vision=vision, tools=tools, schemas=schemas, embedding=embedding)
    settings = {k: v for k, v in asked.items() if v}
    earlier = add_model(repo_id, settings)
    alias, now, before = settings.get("alias"), served_where(settings), served_where(earlier)
    was = f" It was {before}." if earlier and before != now else ""
    verb = "Updated" if earlier else "Added"
    click.echo(f"{verb} hf/{repo_id}{f' (alias {alias})' if alias else ''}: {now}.{was}")
    if base_url and is_deployed_host(base_url) and not key_name:
        click.echo(
            "A Space or Inference Endpoint runs its owner's code, so it is not sent your Hugging Face "
            f"token unless you say so: 'llm hf add {model_id} --base-url {base_url} --key-name huggingface'."
        )


def served_where(settings: dict) -> str:
    """An added model's server and the key it gets, in words."""
    base_url, key_name = settings.get("base_url"), settings.get("key_name")
    token = (
        "the Hugging Face token"
        if not base_url or is_hf_host(base_url) or key_name == KEY_NAME
        else f"the key '{key_name}'"
        if key_name
        else "no key"
    )
    return f"{base_url or 'the router'}, with {token}"


@hf_commands.command(name="remove")
@click.argument("model")
def remove_command(model):
    "Remove a model added with 'llm hf add' (its id, repo id or alias)"
    click.echo(f"Removed hf/{remove_model(model)}.")


@hf_commands.command(name="spend")
@click.option("--since", help="Only prompts since: 7d, 24h or YYYY-MM-DD (from local midnight)")
@click.option("-m", "--model", help="Only this model: its id, alias or repo id")
@click.option("json_", "--json", is_flag=True, help="Print the rows as JSON")
@click.option(  # -m and -d as 'llm logs' takes them
    "-d", "--database", type=click.Path(dir_okay=False, path_type=pathlib.Path), help="llm's logs database"
)
def spend_command(since, model, json_, database):
    "What Hugging Face prompts have cost, from llm's logs (read-only)"
    since = parse_since(since) if since else None
    database = database or llm.user_dir() / "logs.db"
    try:
        there = mode_of(database) is not None
    except OSError as ex:
        raise HFError(f"Cannot read the logs database {database}: {in_words(ex)}") from None
    if not there:
        click.echo(f"No logs database at {database} yet.")
        return
    rows, skipped = spend_rows(database, since, model)
    if json_:
        click.echo(json.dumps(rows, indent=2))
    elif rows:
        click.echo(spend_table(rows))
    else:
        click.echo(
            "No Hugging Face prompts in the logs" + (" for that selection." if since or model else " yet.")
        )
    if skipped:
        plural = "s" if skipped != 1 else ""
        click.echo(f"Left out {skipped} logged prompt{plural} that could not be read.", err=True)


@hf_commands.command(name="whoami")
@click.option("--key", help="A token, or the name of a stored key")
def whoami_command(key):
    "Check the Hugging Face token: its account, organisations and role"
    url = hub_url() + "/api/whoami-v2"
    token = key_for(url, key, None, override=True)  # HF_ENDPOINT elsewhere: LLM_HF_KEY or --key
    if token is None:
        raise HFError(f"No key for {split_url(url).hostname}: give one with --key")
    me = hub_get(url, {"Authorization": f"Bearer {token}"}).json()
    click.echo("\n".join(whoami_lines(me)))


# ============ the hooks llm calls


def say_if_shared(model_aliases: list, rows: dict, added: dict) -> None:
    """Say once when a plugin registered before this one holds model ids of ours (llm-huggingface-plugin
    registers ``hf/…`` ids too): llm then uses ours for them, the last registered. A plugin registered
    after this one is not seen here; the README's troubleshooting names them."""
    theirs = {
        entry.model.model_id
        for entry in model_aliases
        if entry.model is not None and entry.model.model_id.startswith(PREFIX)
    }
    shared = sorted(model_id for model_id in theirs if model_id in rows or repo_id_of(model_id) in added)
    if shared:
        warn_once(
            "shared-ids",
            f"another plugin also registers {len(shared)} of this plugin's model ids (such as {shared[0]}); "
            "llm uses llm-hf-inference's for them",
        )


@llm.hookimpl
def register_models(register, model_aliases):
    added = added_specs()
    rows = router_rows()
    for repo_id in added:
        rows.pop(model_id_of(repo_id), None)
    say_if_shared(model_aliases, rows, added)
    for model_id, row in rows.items():
        register(HFChat(model_id, row), AsyncHFChat(model_id, row), aliases=BUILTIN_ALIASES.get(model_id, ()))
    for repo_id, spec in added.items():
        model_id = model_id_of(repo_id)
        register(HFChat(model_id, spec=spec), AsyncHFChat(model_id, spec=spec), aliases=spec.aliases)
    taken = {*rows, *map(model_id_of, added)}
    for discovery, sync, asynchronous in TASK_MODELS:
        aliases = discovery.aliases()
        for model_id, row in discovered_rows(discovery).items():
            if model_id in taken:  # a chat model too (audio or images in, text out): the id stays the first's
                if not discovery.apart:
                    continue
                model_id += discovery.apart
            taken.add(model_id)
            register(sync(model_id, row), asynchronous(model_id, row), aliases=aliases.get(model_id, ()))


TASK_MODELS = (
    (SPEECH, HFSpeech, AsyncHFSpeech),
    (IMAGES, HFImage, AsyncHFImage),
    (TTS, HFTTS, AsyncHFTTS),
    (VIDEOS, HFVideo, AsyncHFVideo),
    (AUDIO, HFAudio, AsyncHFAudio),
    (OCR, HFOCR, AsyncHFOCR),
)


@llm.hookimpl
def register_embedding_models(register):
    """Every embedding model registered with its aliases: the discovery (else the built-in list), then the
    added ones (thousands, on every llm command that asks for one: no list of them is made)."""
    aliases = EMBEDDINGS.aliases()
    for model_id, row in discovered_rows(EMBEDDINGS).items():
        register(HFEmbedding(model_id, row), aliases=aliases.get(model_id, ()))
    for repo_id, added in read_added().items():
        if added.get("embedding") and added.get("base_url"):
            alias = (added["alias"],) if added.get("alias") else ()
            providers = (("", repo_id, "feature-extraction"),)
            spec = HubSpec(repo_id, providers, alias, added["base_url"], added.get("key_name"))
            register(HFEmbedding(model_id_of(repo_id), spec=spec), aliases=alias)


@llm.hookimpl
def register_tools(register):
    register(HFImages)
    register(HFSpeak)
    register(HFMcp)


@llm.hookimpl
def register_fragment_loaders(register):
    register("hf", hf_fragment)


@llm.hookimpl
def register_commands(cli):
    held = cli.commands.get("hf")
    if held is not None and held is not hf_commands:  # another plugin's 'llm hf' (llm-hf has one)
        owner = getattr(held.callback, "__module__", None) or "another plugin"
        warn_once(
            "hf-command",
            f"'llm hf' belongs to {owner}, another plugin; this plugin's commands are 'llm hf-inference'",
        )
        cli.add_command(hf_commands, name="hf-inference")
        return
    cli.add_command(hf_commands)


def __getattr__(name: str):
    if name == "HFOptions":  # built when first asked for (see chat_options)
        return chat_options()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
