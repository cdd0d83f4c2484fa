"""Hugging Face Inference API chat models for llm.

One prompt flows through this module top to bottom: configuration and the
token → the model catalog → building the request → sending it (the only part
with a sync and an async version) → HTTP errors → decoding the stream or JSON
answer → the model classes that tie these together → the `llm hf` commands.
"""

import asyncio
import email.utils
import functools
import json
import os
import pathlib
import random
import re
import sys
import time
import urllib.parse
import uuid
from dataclasses import dataclass
from typing import Literal, NamedTuple

import httpx2
import llm
from llm.parts import AttachmentPart, StreamEvent, TextPart, ToolCallPart, ToolResultPart
from pydantic import Field, field_validator, model_validator

# ---------------------------------------------------------------- configuration

DEFAULT_BASE_URL = "https://router.huggingface.co/v1"
CONNECT_TIMEOUT = 10.0
READ_TIMEOUT = 120.0
RETRIES = 2  # three attempts in all
MAX_WAIT = 60.0
KEY_NAME = "huggingface"
NO_TOKEN_MESSAGE = (
    "No Hugging Face token found. Give one in any of these ways: "
    "'llm keys set huggingface', the HF_TOKEN environment variable, "
    "or 'hf auth login'."
)


def base_url() -> str:
    """Where chat requests go: LLM_HF_BASE_URL, else the Inference Providers router."""
    return (os.environ.get("LLM_HF_BASE_URL") or DEFAULT_BASE_URL).rstrip("/")


def is_hf_host(url: str) -> bool:
    """Whether ``url`` is a Hugging Face server over HTTPS, one that may see the HF token."""
    parts = urllib.parse.urlsplit(url)
    host = (parts.hostname or "").lower()
    return parts.scheme == "https" and (
        host == "huggingface.co"
        or host.endswith((".huggingface.co", ".endpoints.huggingface.cloud", ".hf.space"))
    )


def hf_token(explicit_key: str | None = None, key_name: str = KEY_NAME) -> str:
    """--key, the stored key, HF_TOKEN, then the hub's own token; or NeedsKeyException."""
    key = llm.get_key(explicit_key=explicit_key, key_alias=key_name, env_var="HF_TOKEN") or hub_token()
    if not key:
        raise llm.NeedsKeyException(NO_TOKEN_MESSAGE)
    return key


def hub_token() -> str | None:
    """The token Hugging Face's own tools use, after HF_TOKEN: env, then token file."""
    token = os.environ.get("HUGGING_FACE_HUB_TOKEN", "").strip()
    if token:
        return token
    path = os.environ.get("HF_TOKEN_PATH")
    if not path:
        hf_home = os.environ.get("HF_HOME") or os.path.join(os.path.expanduser("~"), ".cache", "huggingface")
        path = os.path.join(hf_home, "token")
    try:
        return pathlib.Path(path).read_text(encoding="utf-8").strip() or None
    except (OSError, UnicodeDecodeError):
        return None


# ---------------------------------------------------------------- model catalog


class ModelSpec(NamedTuple):
    """A chat model, what its providers can do, and where it is served."""

    repo_id: str
    aliases: tuple = ()
    vision: bool = False
    tools: bool = True
    schema: bool = True
    providers: tuple = ()  # the catalog's live provider entries, when known
    base_url: str | None = None  # a model added with 'llm hf add --base-url'
    key_name: str | None = None


BUILTIN_MODELS = (
    ModelSpec("meta-llama/Llama-3.1-8B-Instruct", ("hf-llama3.1",)),
    ModelSpec("meta-llama/Llama-3.1-70B-Instruct", ("hf-llama3.1-70b",)),
    ModelSpec("meta-llama/Llama-3.3-70B-Instruct", ("hf-llama3.3",)),
    ModelSpec("meta-llama/Llama-4-Scout-17B-16E-Instruct", (), vision=True),
    ModelSpec("Qwen/Qwen2.5-72B-Instruct", ("hf-qwen2.5",)),
    ModelSpec("Qwen/Qwen2.5-Coder-32B-Instruct", ("hf-qwen-coder",)),
    ModelSpec("Qwen/Qwen3-235B-A22B", ("hf-qwen3",)),
    ModelSpec("Qwen/Qwen2.5-VL-7B-Instruct", (), vision=True),
    ModelSpec("deepseek-ai/DeepSeek-V3-0324", ("hf-deepseek-v3",)),
    ModelSpec("deepseek-ai/DeepSeek-R1", ("hf-deepseek-r1",)),
    ModelSpec("mistralai/Mistral-7B-Instruct-v0.3", ("hf-mistral",)),
    ModelSpec("google/gemma-3-27b-it", ("hf-gemma3",), vision=True),
    ModelSpec("openai/gpt-oss-20b", ("hf-gpt-oss-20b",)),
    ModelSpec("openai/gpt-oss-120b", ("hf-gpt-oss",)),
)
BUILTIN_ALIASES = {spec.repo_id: spec.aliases for spec in BUILTIN_MODELS}
PROVIDER_POLICIES = ("fastest", "cheapest", "preferred")
CATALOG_FILE = "hf-inference-catalog.json"
ADDED_FILE = "hf-inference-added.json"
CATALOG_MAX_AGE = 24 * 3600.0  # seconds; None: never refresh after a prompt
_warned: set = set()  # files already warned about in this process


def catalog_path() -> pathlib.Path:
    return llm.user_dir() / CATALOG_FILE


def catalog_entries_of(data) -> list:
    """The model entries of a catalog document, or ValueError when it is not one."""
    entries = data.get("data") if isinstance(data, dict) else None
    if not isinstance(entries, list) or not all(
        isinstance(e, dict) and isinstance(e.get("id"), str) for e in entries
    ):
        raise ValueError("not a model catalog")
    return entries


def read_json_file(path: pathlib.Path, fallback: str, check=lambda data: data):
    """A JSON file of ours, passed through ``check``; None when missing or broken.

    Registration reads these on every llm command, so a broken file gets one
    line on stderr saying what happens instead, never a crash.
    """
    try:
        return check(json.loads(path.read_text(encoding="utf-8")))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as ex:
        if path not in _warned:
            _warned.add(path)
            print(f"llm-hf-inference: cannot read {path} ({ex}); {fallback}", file=sys.stderr)
        return None


def read_catalog() -> list | None:
    """The cached router catalog's entries; None when there is none or it is broken."""
    fallback = "using the built-in models. Run 'llm hf refresh' to fetch the catalog again."
    return read_json_file(catalog_path(), fallback, catalog_entries_of)


def live_providers(entry: dict) -> tuple:
    return tuple(
        p
        for p in entry.get("providers") or ()
        if isinstance(p, dict) and isinstance(p.get("provider"), str) and p.get("status") != "error"
    )


def price_of(provider: dict) -> tuple | None:
    """A provider's (input, output) USD per 1M tokens: 0 when free, None when unknown."""
    if provider.get("is_free") is True:
        return 0.0, 0.0
    pricing = provider.get("pricing")
    if isinstance(pricing, dict) and all(type(pricing.get(k)) in (int, float) for k in ("input", "output")):
        return float(pricing["input"]), float(pricing["output"])
    return None


def spec_from_entry(entry: dict) -> ModelSpec | None:
    """A catalog entry as a model, or None when no provider serves it."""
    providers = live_providers(entry)
    if not providers:
        return None
    architecture = entry.get("architecture")
    modalities = architecture.get("input_modalities") or () if isinstance(architecture, dict) else ()
    return ModelSpec(
        entry["id"],
        BUILTIN_ALIASES.get(entry["id"], ()),
        vision="image" in modalities,
        tools=any(p.get("supports_tools") is True for p in providers),
        schema=any(p.get("supports_structured_output") is True for p in providers),
        providers=providers,
    )


def read_added() -> dict:
    """Models added with 'llm hf add': model id → its settings."""
    added = read_json_file(llm.user_dir() / ADDED_FILE, "models added with 'llm hf add' are left out.")
    return {k: v for k, v in added.items() if isinstance(v, dict)} if isinstance(added, dict) else {}


def write_json(path: pathlib.Path, data) -> None:
    """Replace ``path`` whole, so a reader never sees half a file."""
    partial = path.with_suffix(".partial")
    partial.write_text(json.dumps(data, indent=1), encoding="utf-8")
    os.replace(partial, path)


def model_specs() -> list:
    """Every model to register: the cached catalog (else the built-in list), then added ones."""
    entries = read_catalog()
    specs = {}
    for spec in BUILTIN_MODELS if entries is None else filter(None, map(spec_from_entry, entries)):
        specs[spec.repo_id] = spec
    for repo_id, added in read_added().items():
        specs[repo_id] = ModelSpec(
            repo_id,
            (added["alias"],) if added.get("alias") else (),
            vision=bool(added.get("vision")),
            tools=bool(added.get("tools")),
            schema=bool(added.get("schemas")),
            base_url=added.get("base_url"),
            key_name=added.get("key_name"),
        )
    return list(specs.values())


_catalog_fresh_until = 0.0  # this process saw a fresh catalog; no need to look again before then


def catalog_is_stale() -> bool:
    """Whether the cached catalog is missing or older than CATALOG_MAX_AGE (asked after every prompt)."""
    global _catalog_fresh_until
    if CATALOG_MAX_AGE is None or time.time() < _catalog_fresh_until:
        return False
    try:
        _catalog_fresh_until = catalog_path().stat().st_mtime + CATALOG_MAX_AGE
    except OSError:
        return True
    return time.time() >= _catalog_fresh_until


def store_catalog(raw: bytes) -> tuple:
    """Check and cache a fetched catalog; the model ids it adds and removes."""
    entries = catalog_entries_of(json.loads(raw))
    old = {spec.repo_id for spec in filter(None, map(spec_from_entry, read_catalog() or ()))}
    new = {spec.repo_id for spec in filter(None, map(spec_from_entry, entries))}
    write_json(catalog_path(), {"object": "list", "data": entries})
    return sorted(new - old), sorted(old - new)


def catalog_url() -> str:
    return base_url() + "/models"


IMAGE_TYPES = frozenset({"image/png", "image/jpeg", "image/webp", "image/gif"})


# ---------------------------------------------------------------- request building


class HFOptions(llm.Options):
    """The -o options, with the ranges the chat-completion API documents."""

    temperature: float | None = Field(
        None, ge=0, le=2, description="Sampling temperature, 0-2: higher is more random"
    )
    top_p: float | None = Field(
        None, ge=0, le=1, description="Nucleus sampling: keep the tokens within this probability mass, 0-1"
    )
    frequency_penalty: float | None = Field(
        None, ge=-2, le=2, description="Penalise tokens by how often they appeared so far, -2 to 2"
    )
    presence_penalty: float | None = Field(
        None, ge=-2, le=2, description="Penalise tokens that appeared at all so far, -2 to 2"
    )
    stop: list[str] | None = Field(
        None,
        max_length=4,
        description='Stop at this string, or at any of a JSON list of up to 4: \'["a", "b"]\'',
    )
    seed: int | None = Field(None, description="Random seed, for repeatable sampling")
    max_tokens: int | None = Field(None, ge=1, description="Most tokens to generate")
    logprobs: bool | None = Field(None, description="Return the log probability of each output token")
    top_logprobs: int | None = Field(
        None,
        ge=0,
        le=5,
        description="With logprobs: also return the N most likely tokens at each position, 0-5",
    )
    provider: str | None = Field(
        None,
        pattern=r"^[a-z0-9][a-z0-9-]*$",
        description="Provider to route to (together, cerebras, ...) or a policy: fastest, cheapest, preferred",
    )
    use_cache: bool | None = Field(None, description="Allow a cached answer (x-use-cache header)")
    wait_for_model: bool | None = Field(
        None,
        description="Wait for a cold model to load instead of failing with 503 (x-wait-for-model header)",
    )
    bill_to: str | None = Field(
        None, description="Bill this organisation instead of your account (X-HF-Bill-To; default $HF_BILL_TO)"
    )
    timeout: float | None = Field(
        None, gt=0, description=f"Seconds to wait for the next bytes of the answer (default {READ_TIMEOUT:g})"
    )
    retries: int | None = Field(
        None,
        ge=0,
        le=10,
        description=f"Retries after 429, 502, 503, 504 or a failed connection (default {RETRIES}; 0: none)",
    )
    tool_choice: str | None = Field(
        None, description="With tools: auto, none, required, or the name of the tool to call"
    )
    tool_prompt: str | None = Field(None, description="Text that TGI puts before the tool definitions")
    json_object: bool | None = Field(
        None, description="Answer with a JSON object (response_format json_object)"
    )
    grammar: Literal["tgi"] | None = Field(
        None,
        description="tgi: send --schema in TGI's own grammar form, for dedicated endpoints and self-hosted TGI",
    )
    regex: str | None = Field(
        None, description="Constrain the answer to this regular expression (TGI grammar)"
    )
    reasoning_effort: Literal["low", "medium", "high"] | None = Field(
        None, description="How hard a reasoning model should think: low, medium, high"
    )

    @field_validator("stop", mode="before")
    @classmethod
    def _stop_as_list(cls, value):
        if isinstance(value, str):
            if value.lstrip().startswith("["):
                try:
                    return json.loads(value)
                except ValueError:
                    raise ValueError("stop must be a string or a JSON list of strings") from None
            return [value]
        return value

    @model_validator(mode="after")
    def _top_logprobs_needs_logprobs(self):
        if self.top_logprobs is not None and not self.logprobs:
            raise ValueError("top_logprobs needs -o logprobs 1")
        if self.json_object and self.regex is not None:
            raise ValueError("json_object and regex cannot be used together")
        return self


BODY_OPTIONS = (
    "temperature",
    "top_p",
    "frequency_penalty",
    "presence_penalty",
    "stop",
    "seed",
    "max_tokens",
    "logprobs",
    "top_logprobs",
    "tool_prompt",
    "reasoning_effort",
)


@dataclass
class ChatRequest:
    """Everything one HTTP exchange needs; the token lives only in headers."""

    url: str
    headers: dict
    body: dict
    timeout: float
    bill_to: str | None
    retries: int = RETRIES
    to_router: bool = True  # whether the catalog may be refreshed after it
    prices: dict | None = None  # provider → (input, output) USD per 1M tokens, from the catalog

    @property
    def host(self) -> str:
        """The server's name, for messages."""
        return urllib.parse.urlsplit(self.url).hostname or self.url

    def __repr__(self) -> str:
        return f"<ChatRequest {self.url}>"


def _attachment_item(attachment) -> dict:
    url = attachment.url or (f"data:{attachment.resolve_type()};base64,{attachment.base64_content()}")
    return {"type": "image_url", "image_url": {"url": url}}


def _append_message(out: list, message, current_system: str | None) -> str | None:
    """Translate one llm Message into chat-completion messages appended to ``out``.

    Returns the system prompt now in force, so an unchanged one is not repeated.
    """
    texts, images, tool_calls = [], [], []
    for part in message.parts:
        if isinstance(part, TextPart):
            texts.append(part.text)
        elif isinstance(part, AttachmentPart) and part.attachment:
            images.append(_attachment_item(part.attachment))
        elif isinstance(part, ToolCallPart):
            tool_calls.append(
                {
                    "id": part.tool_call_id,
                    "type": "function",
                    "function": {"name": part.name, "arguments": json.dumps(part.arguments)},
                }
            )
        elif isinstance(part, ToolResultPart):
            out.append({"role": "tool", "tool_call_id": part.tool_call_id, "content": part.output})
    if message.role == "tool":
        return current_system
    text = "".join(texts)
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
    out.append(entry)
    return current_system


def _response_format(prompt, options: HFOptions) -> dict | None:
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


def check_provider(spec: ModelSpec, provider: str | None) -> None:
    """Refuse, before any request, a provider the catalog says does not serve the model."""
    names = [p["provider"] for p in spec.providers]
    if provider and names and provider not in PROVIDER_POLICIES and provider not in names:
        raise llm.ModelError(
            f"'{provider}' does not serve {spec.repo_id}; its providers are: {', '.join(sorted(names))} "
            f"(or a policy: {', '.join(PROVIDER_POLICIES)})"
        )


def build_request(spec: ModelSpec, prompt, stream: bool, key: str | None) -> ChatRequest:
    """The chat-completion request for ``prompt``: only options that are set go in."""
    options = prompt.options
    check_provider(spec, options.provider)
    model_name = spec.repo_id
    messages: list = []
    current_system = None
    for message in prompt.messages:
        current_system = _append_message(messages, message, current_system)
    body: dict = {
        "model": f"{model_name}:{options.provider}" if options.provider else model_name,
        "messages": messages,
    }
    for name in BODY_OPTIONS:
        value = getattr(options, name)
        if value is not None:
            body[name] = value
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
    if options.tool_choice is not None:
        choice = options.tool_choice
        body["tool_choice"] = (
            choice
            if choice in ("auto", "none", "required")
            else {"type": "function", "function": {"name": choice}}
        )
    response_format = _response_format(prompt, options)
    if response_format:
        body["response_format"] = response_format
    if stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    else:
        body["stream"] = False

    url = (spec.base_url or base_url()).rstrip("/") + "/chat/completions"
    headers = {
        "Content-Type": "application/json",
        "Accept": "text/event-stream" if stream else "application/json",
    }
    if key:
        headers["Authorization"] = f"Bearer {key}"
    for option, header in (("use_cache", "x-use-cache"), ("wait_for_model", "x-wait-for-model")):
        value = getattr(options, option)
        if value is not None:
            headers[header] = "true" if value else "false"
    bill_to = options.bill_to or os.environ.get("HF_BILL_TO") or None
    if bill_to:
        headers["X-HF-Bill-To"] = bill_to
    return ChatRequest(
        url=url,
        headers=headers,
        body=body,
        timeout=options.timeout or READ_TIMEOUT,
        bill_to=bill_to,
        retries=RETRIES if options.retries is None else options.retries,
        to_router=spec.base_url is None,
        prices={p["provider"]: price_of(p) for p in spec.providers if price_of(p)},
    )


# ---------------------------------------------------------------- transport

_sync_client: httpx2.Client | None = None
_async_clients: dict = {}  # event loop → its client
_USER_AGENT = "llm-hf-inference"


def sync_client() -> httpx2.Client:
    """The process's pooled client."""
    global _sync_client
    if _sync_client is None:
        _sync_client = httpx2.Client(headers={"User-Agent": _USER_AGENT})
    return _sync_client


def async_client() -> httpx2.AsyncClient:
    """The pooled client of the running event loop (connections belong to one loop)."""
    loop = asyncio.get_running_loop()
    client = _async_clients.get(loop)
    if client is None:
        for closed in [old for old in _async_clients if old.is_closed()]:
            del _async_clients[closed]  # its connections hold the old loop: let both go
        client = _async_clients[loop] = httpx2.AsyncClient(headers={"User-Agent": _USER_AGENT})
    return client


def _timeout(request: ChatRequest) -> httpx2.Timeout:
    return httpx2.Timeout(request.timeout, connect=CONNECT_TIMEOUT)


@functools.lru_cache(maxsize=64)
def _parsed(url: str) -> httpx2.URL:
    """httpx2 parses a URL string on every request (~15 µs): parse each URL once."""
    return httpx2.URL(url)


CATALOG_TIMEOUT = httpx2.Timeout(5.0, connect=2.0)
CATALOG_ERRORS = (httpx2.HTTPError, OSError, ValueError, KeyError, TypeError)
sleep = time.sleep  # module attributes, so tests can wait without waiting
async_sleep = asyncio.sleep
RETRY_STATUSES = {
    429: "Rate limited by {who}",
    502: "{who} answered 502",
    503: "{who} is unavailable or loading the model",
    504: "{who} answered 504",
}
RETRY_ERRORS = (httpx2.ConnectError, httpx2.ConnectTimeout, httpx2.RemoteProtocolError, httpx2.ReadError)


def send(request: ChatRequest, response):
    """Send ``request`` and yield what it answers, read by read, retrying as :class:`Attempts` says."""
    attempts = Attempts(request)
    while True:
        reader = AnswerReader(response, request)
        try:
            with sync_client().stream(
                "POST",
                _parsed(request.url),
                json=request.body,
                headers=request.headers,
                timeout=_timeout(request),
            ) as http:
                if http.status_code < 400:
                    reader.start(http.headers)
                    for data in http.iter_bytes():
                        yield from reader.feed(data)
                    break
                wait = attempts.after_status(http.status_code, http.headers, http.read())
        except httpx2.HTTPError as ex:
            wait = attempts.after_error(ex, reader)
        sleep(wait)
    yield from reader.finish()
    if request.to_router and catalog_is_stale():
        try:
            store_catalog(
                sync_client().get(catalog_url(), timeout=CATALOG_TIMEOUT).raise_for_status().content
            )
        except CATALOG_ERRORS:
            pass  # a prompt never fails for the catalog's sake; the next one tries again


async def send_async(request: ChatRequest, response):
    """The async twin of :func:`send`."""
    attempts = Attempts(request)
    while True:
        reader = AnswerReader(response, request)
        try:
            async with async_client().stream(
                "POST",
                _parsed(request.url),
                json=request.body,
                headers=request.headers,
                timeout=_timeout(request),
            ) as http:
                if http.status_code < 400:
                    reader.start(http.headers)
                    async for data in http.aiter_bytes():
                        for event in reader.feed(data):
                            yield event
                    break
                wait = attempts.after_status(http.status_code, http.headers, await http.aread())
        except httpx2.HTTPError as ex:
            wait = attempts.after_error(ex, reader)
        await async_sleep(wait)
    for event in reader.finish():
        yield event
    if request.to_router and catalog_is_stale():
        try:
            store_catalog(
                (await async_client().get(catalog_url(), timeout=CATALOG_TIMEOUT)).raise_for_status().content
            )
        except CATALOG_ERRORS:
            pass  # a prompt never fails for the catalog's sake; the next one tries again


class Attempts:
    """After a failed attempt: how long to wait before the next, or the error to raise.

    Only 429, 502, 503, 504 and failed connections are retried, never once
    output was shown; waits back off exponentially with jitter unless the
    server says how long (Retry-After, RateLimit reset, estimated_time), and
    never exceed MAX_WAIT. Each wait is announced on stderr.
    """

    def __init__(self, request: ChatRequest):
        self.request = request
        self.number = 1
        self.total = request.retries + 1

    def after_status(self, status: int, headers, body: bytes) -> float:
        error = http_error(self.request.url, status, headers, body, self.request.bill_to)
        if status not in RETRY_STATUSES or self.number >= self.total:
            raise error
        who = headers.get("x-inference-provider") or self.request.host
        return self._next(server_wait(headers, error.data), RETRY_STATUSES[status].format(who=who))

    def after_error(self, ex: httpx2.HTTPError, reader: "AnswerReader") -> float:
        if reader.shown or not isinstance(ex, RETRY_ERRORS) or self.number >= self.total:
            raise transport_error(self.request, ex) from None
        return self._next(None, f"Could not reach {self.request.host} ({type(ex).__name__})")

    def _next(self, wait: float | None, reason: str) -> float:
        if wait is None:
            wait = 2.0 ** (self.number - 1) * random.uniform(0.5, 1.0)
        wait = max(0.0, min(wait, MAX_WAIT))
        self.number += 1
        print(f"{reason}, retrying in {wait:.1f}s (attempt {self.number}/{self.total})", file=sys.stderr)
        return wait


def server_wait(headers, data: dict) -> float | None:
    """The wait the server asks for: Retry-After, the RateLimit reset, or a 503's estimated_time."""
    retry_after = headers.get("retry-after")
    if retry_after:
        try:
            return float(retry_after)
        except ValueError:
            try:
                return email.utils.parsedate_to_datetime(retry_after).timestamp() - time.time()
            except (TypeError, ValueError):
                pass
    reset = re.search(r"\breset=(\d+(?:\.\d+)?)", headers.get("ratelimit", "")) or re.fullmatch(
        r"\s*(\d+(?:\.\d+)?)\s*", headers.get("ratelimit-reset", "")
    )
    if reset:
        return float(reset.group(1))
    estimate = data.get("estimated_time")
    return float(estimate) if isinstance(estimate, (int, float)) else None


def transport_error(request: ChatRequest, ex: httpx2.HTTPError) -> llm.ModelError:
    if isinstance(ex, httpx2.ConnectTimeout):
        return llm.ModelError(f"Could not connect to {request.host} within {CONNECT_TIMEOUT:g} seconds")
    if isinstance(ex, httpx2.TimeoutException):
        return llm.ModelError(
            f"{request.host} sent nothing for {request.timeout:g} seconds (timeout); "
            "wait longer with -o timeout SECONDS"
        )
    if isinstance(ex, httpx2.ConnectError):
        return llm.ModelError(f"Could not connect to {request.host}: {ex}")
    return llm.ModelError(f"The connection to {request.host} failed: {type(ex).__name__}: {ex}")


# ---------------------------------------------------------------- errors


def _server_message(body: bytes) -> tuple[str, dict]:
    """The server's own words from an error body of any shape, and its JSON if any."""
    text = body.decode("utf-8", errors="replace").strip()
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if isinstance(data, dict):
        error = data.get("error")
        if isinstance(error, dict):
            error = error.get("message") or json.dumps(error)
        message = error or data.get("message") or data.get("detail") or text
        return str(message), data
    if "<" in text and ">" in text:  # an HTML gateway page
        title = re.search(r"<title[^>]*>(.*?)</title>", text, re.S | re.I)
        text = title.group(1) if title else re.sub(r"<[^>]+>", " ", text)
    text = " ".join(text.split())
    return (text[:300] + "…" if len(text) > 300 else text), {}


def _hint(status: int, data: dict, bill_to: str | None) -> str | None:
    error = data.get("error")
    code = error.get("code") if isinstance(error, dict) else None
    if status in (401, 403):
        if bill_to:
            return (
                f"The token may lack the right to bill the organisation '{bill_to}'; "
                "check -o bill_to / HF_BILL_TO."
            )
        return (
            "Check your Hugging Face token (it needs the 'Make calls to Inference Providers' "
            "permission): 'llm keys set huggingface', HF_TOKEN, or 'hf auth login'."
        )
    if status == 402:
        return "Your Inference Providers credits are used up: see https://huggingface.co/settings/billing"
    if code == "model_not_supported" or status == 404:
        return "Choose another provider with -o provider NAME, or another model."
    if status == 410:
        return "That endpoint is gone; point LLM_HF_BASE_URL at https://router.huggingface.co/v1"
    if status in (502, 504):
        return "The gateway gave up waiting for the model; try again, or choose another provider."
    if status == 429:
        return "Rate limited: wait a little and try again."
    if status == 503:
        estimate = data.get("estimated_time")
        if isinstance(estimate, (int, float)):
            return f"The model is loading; try again in about {estimate:.0f} seconds."
        return "The service is unavailable or the model is loading; try again shortly."
    return None


_TOKEN_PATTERN = re.compile(r"\bhf_[A-Za-z0-9]{6,}")


def redact(text: str) -> str:
    """Server text with any Hugging Face token in it masked: servers may echo one back."""
    return _TOKEN_PATTERN.sub("hf_***", text)


class HTTPStatusError(llm.ModelError):
    """An error answer; ``data`` is its JSON body, or empty."""

    def __init__(self, message: str, status: int, data: dict):
        super().__init__(message)
        self.status, self.data = status, data


def http_error(url: str, status: int, headers, body: bytes, bill_to: str | None = None) -> HTTPStatusError:
    """An HTTP error answer as a ModelError: who answered, the status, the server's message, a hint."""
    message, data = _server_message(body)
    message = redact(message)
    who = headers.get("x-inference-provider") or urllib.parse.urlsplit(url).hostname
    text = f"{who} answered {status}: {message or '(no message)'}"
    hint = _hint(status, data, bill_to)
    return HTTPStatusError(f"{text} — {hint}" if hint else text, status, data)


# ---------------------------------------------------------------- stream decoding

_BOM = b"\xef\xbb\xbf"
_parse_json = json.JSONDecoder().decode


class SSEDecoder:
    """Incremental Server-Sent Events parser (WHATWG HTML, "event stream").

    Feed it raw bytes as they arrive; it returns the ``data`` of every event
    completed by them. Lines end in LF, CR or CRLF, even split across reads;
    ``data:`` takes an optional space; multi-line data joins with LF; comments
    and other fields are ignored; an event not closed by a blank line is
    dropped at the end, as the spec says.
    """

    def __init__(self):
        self._tail = b""
        self._data: list = []
        self._skip_lf = False
        self._first_line = True

    def feed(self, chunk: bytes) -> list:
        if self._skip_lf:
            self._skip_lf = False
            if chunk[:1] == b"\n":
                chunk = chunk[1:]
        if self._tail:
            chunk = self._tail + chunk
        lines = chunk.splitlines()
        end = chunk[-1:]
        if end == b"\n" or end == b"\r":
            self._tail = b""
            self._skip_lf = end == b"\r"
        else:
            self._tail = lines.pop() if lines else b""
        if self._first_line and lines:
            self._first_line = False
            if lines[0].startswith(_BOM):
                lines[0] = lines[0][3:]
        events = []
        data = self._data
        for line in lines:
            if not line:
                if data:
                    events.append(b"\n".join(data))
                    data = []
            elif line[:5] == b"data:":
                data.append(line[6:] if line[5:6] == b" " else line[5:])
            elif line == b"data":
                data.append(b"")
        self._data = data
        return events


_TEXT, _UNDECIDED, _THINKING, _AFTER_THINK = range(4)


class AnswerReader:
    """Decodes one answer — an SSE stream or a JSON body — for one llm response.

    ``feed`` yields the stream events of everything that arrived in one read,
    joined: one text event, one reasoning event, tool-call events. ``finish``
    checks the answer was whole and records tool calls, usage and the model.
    """

    def __init__(self, response, request: ChatRequest):
        self.response = response
        self.request = request
        self.who = request.host
        self.provider: str | None = None
        self.sse: SSEDecoder | None = None
        self.body: list = []
        self.events: list = []
        self.kind: str | None = None
        self.pending: list = []
        self.think = _UNDECIDED
        self.think_buffer = ""
        self.done = False
        self.shown = False
        self.choices_seen = False
        self.id = self.model = self.finish_reason = None
        self.usage = None
        self.logprobs: list | None = None
        self.calls: dict = {}
        self.last_call = None

    def start(self, headers) -> None:
        """Take in the answer's headers: who answered, and whether it streams."""
        self.provider = headers.get("x-inference-provider")
        self.who = self.provider or self.request.host
        if "text/event-stream" in headers.get("content-type", ""):
            self.sse = SSEDecoder()

    # -- reading

    def feed(self, data: bytes):
        """Yield the events of one read; an error event raises after the text before it."""
        if self.sse is None:
            self.body.append(data)
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
        except ValueError:
            error = llm.ModelError(f"{self.who} sent an event that is not JSON: {payload[:200]!r}")
        self._flush()
        if self.events:
            self.shown = True
            yield from self.events
            self.events = []
        if error is not None:
            raise error

    def handle(self, chunk) -> None:
        """Take in one chunk (stream) or the whole answer (no stream)."""
        if type(chunk) is not dict:
            raise self._unexpected(chunk)
        if "error" in chunk:
            error = chunk["error"]
            if isinstance(error, dict):
                error = error.get("message") or json.dumps(error)
            raise llm.ModelError(f"{self.who} reported an error: {redact(str(error))}")
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
                self._emit("reasoning", reasoning, chunk)
            content = delta.get("content")
            if content:
                if self.think == _TEXT and type(content) is str:  # the hot path, _emit inlined
                    if self.kind != "text":
                        self._flush()
                        self.kind = "text"
                    self.pending.append(content)
                else:
                    self._think_split(content, chunk)
            tool_calls = delta.get("tool_calls")
            if tool_calls:
                for tool_call in tool_calls if type(tool_calls) is list else (tool_calls,):
                    self._tool_delta(tool_call, chunk)
        finish_reason = choice.get("finish_reason")
        if finish_reason:
            self.finish_reason = finish_reason
        logprobs = choice.get("logprobs")
        if logprobs:
            content = logprobs.get("content") if type(logprobs) is dict else None
            if type(content) is not list:
                raise self._unexpected(chunk)
            if self.logprobs is None:
                self.logprobs = []
            self.logprobs.extend(content)

    def _unexpected(self, chunk) -> llm.ModelError:
        return llm.ModelError(f"{self.who} sent an unexpected answer: {json.dumps(chunk)[:200]}")

    def _emit(self, kind: str, text, chunk) -> None:
        if type(text) is not str:
            raise self._unexpected(chunk)
        if kind != self.kind:
            self._flush()
            self.kind = kind
        self.pending.append(text)

    def _flush(self) -> None:
        if self.pending:
            text = "".join(self.pending)
            self.pending = []
            self.events.append(text if self.kind == "text" else StreamEvent(self.kind, text))
        self.kind = None

    def _think_split(self, content, chunk) -> None:
        """Route a leading ``<think>…</think>`` to reasoning, even cut across chunks."""
        if type(content) is not str:
            raise self._unexpected(chunk)
        buffer = self.think_buffer + content
        self.think_buffer = ""
        if self.think == _UNDECIDED:
            stripped = buffer.lstrip()
            if stripped.startswith("<think>"):
                self.think, buffer = _THINKING, stripped[len("<think>") :]
            elif "<think>".startswith(stripped):
                self.think_buffer = buffer
                return
            else:
                self.think = _TEXT
                self._emit("text", buffer, chunk)
                return
        if self.think == _THINKING:
            end = buffer.find("</think>")
            if end < 0:
                keep = next(
                    (n for n in range(min(len(buffer), 7), 0, -1) if "</think>".startswith(buffer[-n:])), 0
                )
                if len(buffer) > keep:
                    self._emit("reasoning", buffer[: len(buffer) - keep], chunk)
                self.think_buffer = buffer[len(buffer) - keep :]
                return
            if end:
                self._emit("reasoning", buffer[:end], chunk)
            self.think, buffer = _AFTER_THINK, buffer[end + len("</think>") :]
        buffer = buffer.lstrip()
        if buffer:
            self.think = _TEXT
            self._emit("text", buffer, chunk)

    def _tool_delta(self, delta, chunk) -> None:
        """Assemble one tool-call delta, in any of the dialects HF servers speak."""
        if type(delta) is not dict:
            raise self._unexpected(chunk)
        function = delta.get("function") or {}
        if type(function) is not dict:
            raise self._unexpected(chunk)
        name = function.get("name")
        index = delta.get("index")
        if (name is not None and type(name) is not str) or (index is not None and type(index) is not int):
            raise self._unexpected(chunk)
        if index is None:
            index = len(self.calls) if (name or self.last_call is None) else self.last_call
        call = self.calls.get(index)
        if call is None:
            raw_id = delta.get("id")
            call_id = str(raw_id) if raw_id not in (None, "") else None
            if call_id is None or any(c["id"] == call_id for c in self.calls.values()):
                call_id = f"call_{uuid.uuid4().hex[:24]}"
            call = self.calls[index] = {"id": call_id, "name": name or "", "args": [], "live": bool(name)}
            if call["live"]:
                self._flush()
                self.events.append(StreamEvent("tool_call_name", name, tool_call_id=call_id))
        elif name and not call["name"]:
            call["name"] = name
        self.last_call = index
        arguments = function.get("arguments")
        if arguments is None or arguments == "":
            return
        if type(arguments) is not str:
            arguments = json.dumps(arguments)
        call["args"].append(arguments)
        if call["live"]:
            self._flush()
            self.events.append(StreamEvent("tool_call_args", arguments, tool_call_id=call["id"]))

    # -- finishing

    def finish(self) -> list:
        """Check the answer was whole; record tool calls, usage, model, response_json."""
        if self.sse is None:
            self._read_body()
        elif not (self.finish_reason or self.done):
            raise llm.ModelError(
                f"The response from {self.who} ended early, before the model finished; "
                "what was shown is incomplete."
            )
        if not self.choices_seen:
            raise llm.ModelError(f"{self.who} sent no answer.")
        if self.think_buffer:
            self._emit("reasoning" if self.think == _THINKING else "text", self.think_buffer, None)
        self._flush()
        for call in self.calls.values():
            self._add_tool_call(call)
        self._record()
        return self.events

    def _read_body(self) -> None:
        try:
            answer = json.loads(body := b"".join(self.body))
        except ValueError:
            raise llm.ModelError(
                f"{self.who} sent an answer that is not JSON: {body[:200].decode('utf-8', 'replace')}"
            ) from None
        self.handle(answer)

    def _add_tool_call(self, call: dict) -> None:
        text = "".join(call["args"])
        name = call["name"]
        try:
            arguments = json.loads(text) if text.strip() else {}
        except ValueError:
            raise llm.ModelError(
                f"The model called tool '{name or '?'}' with arguments that are not valid JSON: {text[:200]}"
            ) from None
        if not isinstance(arguments, dict):
            raise llm.ModelError(
                f"The model called tool '{name or '?'}' with arguments that are not an object"
            )
        wrapped = arguments.get("function")
        if not name and isinstance(wrapped, dict) and "_name" in wrapped:  # TGI 2.0-3.1 streams
            arguments = dict(wrapped)
        if "_name" in arguments:  # TGI's name inside the arguments: never an argument itself
            arguments = dict(arguments)
            inner_name = arguments.pop("_name")
            name = name or str(inner_name)
        if not name:
            raise llm.ModelError("The model called a tool without naming it.")
        if not call["live"]:
            self.events.append(StreamEvent("tool_call_name", name, tool_call_id=call["id"]))
            self.events.append(StreamEvent("tool_call_args", json.dumps(arguments), tool_call_id=call["id"]))
        self.response.add_tool_call(llm.ToolCall(name=name, arguments=arguments, tool_call_id=call["id"]))

    def _record(self) -> None:
        usage = self.usage or {}
        input_tokens = usage.get("prompt_tokens")
        output_tokens = usage.get("completion_tokens")
        input_tokens = input_tokens if type(input_tokens) is int else None
        output_tokens = output_tokens if type(output_tokens) is int else None
        details = {}
        for group in ("prompt_tokens_details", "completion_tokens_details"):
            values = usage.get(group)
            if type(values) is dict:
                details.update((k, v) for k, v in values.items() if type(v) is int and v)
        record = {"id": self.id, "model": self.model, "finish_reason": self.finish_reason}
        if self.usage:
            record["usage"] = self.usage
        if self.provider:
            record["provider"] = details["provider"] = self.provider
        cost = self._cost(usage, input_tokens, output_tokens)
        if cost is not None:
            record["cost_usd"] = details["cost_usd"] = cost
        if input_tokens is not None or output_tokens is not None or details:
            self.response.set_usage(input=input_tokens, output=output_tokens, details=details or None)
        if isinstance(self.model, str) and self.model:
            self.response.set_resolved_model(self.model)
        if self.logprobs is not None:
            record["logprobs"] = self.logprobs
        self.response.response_json = record

    def _cost(self, usage: dict, input_tokens, output_tokens) -> float | None:
        """USD: the provider's own estimate, else tokens at the catalog price of who answered."""
        estimate = usage.get("estimated_cost")
        if type(estimate) in (int, float):
            return estimate
        price = (self.request.prices or {}).get(self.provider)
        if price is None or input_tokens is None or output_tokens is None:
            return None
        return round((input_tokens * price[0] + output_tokens * price[1]) / 1e6, 12)


# ---------------------------------------------------------------- model classes


class _HFChatBase:
    """What sync and async Hugging Face chat models share: all but the transport."""

    needs_key = KEY_NAME
    key_env_var = "HF_TOKEN"
    can_stream = True
    Options = HFOptions

    def __init__(self, spec: ModelSpec):
        self.spec = spec
        self.model_id = f"hf/{spec.repo_id}"
        self.supports_tools = spec.tools
        self.supports_schema = spec.schema
        self.attachment_types = IMAGE_TYPES if spec.vision else frozenset()
        self.hf_token = spec.base_url is None or is_hf_host(spec.base_url)
        if not self.hf_token:
            self.needs_key, self.key_env_var = spec.key_name, None

    def get_key(self, explicit_key: str | None = None) -> str | None:
        """The Hugging Face token, only for Hugging Face hosts; elsewhere the model's own key, if any."""
        if self.key:
            return self.key
        if self.hf_token:
            return hf_token(explicit_key, self.spec.key_name or KEY_NAME)
        if explicit_key or self.spec.key_name:
            key = llm.get_key(explicit_key=explicit_key, key_alias=self.spec.key_name)
            if not key:
                raise llm.NeedsKeyException(
                    f"No key for {self.model_id}: 'llm keys set {self.spec.key_name}'"
                )
            return key
        return None

    def _request(self, prompt, stream: bool, key) -> ChatRequest:
        return build_request(self.spec, prompt, stream, key)

    def __str__(self) -> str:
        return f"Hugging Face: {self.model_id}"


class HFChat(_HFChatBase, llm.KeyModel):
    def execute(self, prompt, stream, response, conversation, key):
        yield from send(self._request(prompt, stream, key), response)


class AsyncHFChat(_HFChatBase, llm.AsyncKeyModel):
    async def execute(self, prompt, stream, response, conversation, key):
        async for event in send_async(self._request(prompt, stream, key), response):
            yield event


@llm.hookimpl
def register_models(register):
    for spec in model_specs():
        register(HFChat(spec), AsyncHFChat(spec), aliases=spec.aliases)


# ---------------------------------------------------------------- llm hf commands

WHOAMI_URL = "https://huggingface.co/api/whoami-v2"


def hub_get(url: str, headers: dict | None = None):
    """GET for the commands: the answer, or a ClickException that says what went wrong."""
    import click

    try:
        http = sync_client().get(url, headers=headers or {}, timeout=CATALOG_TIMEOUT)
    except httpx2.HTTPError as ex:
        raise click.ClickException(f"Could not reach {urllib.parse.urlsplit(url).hostname}: {ex}") from None
    if http.status_code >= 400:
        raise click.ClickException(str(http_error(url, http.status_code, http.headers, http.content)))
    return http


def catalog_entries() -> list:
    """The cached catalog, fetched first when there is none."""
    entries = read_catalog()
    if entries is None:
        store_catalog(hub_get(catalog_url()).content)
        entries = read_catalog() or []
    return entries


def _price_text(provider: dict | None) -> str:
    if provider is None:
        return "-"
    if provider.get("is_free"):
        return "free"
    price = price_of(provider)
    return f"${price[0]:.2f}/${price[1]:.2f}" if price else "-"


def _cheapest(providers) -> dict | None:
    return min((p for p in providers if price_of(p)), key=price_of, default=None)


SPEND_LOCK_WAIT = 2.0  # seconds to wait for a logs database another llm is writing to


def spend_rows(database: pathlib.Path, since: str | None, model: str | None) -> list:
    """Prompts, tokens and cost per model and provider from llm's logs, opened read-only."""
    import sqlite3

    query = "select model, input_tokens, output_tokens, token_details, response_json from turns where model like 'hf/%'"
    params: list = []
    if since:
        query += " and datetime_utc >= ?"
        params.append(since)
    if model:
        query += " and (model = ? or model = ?)"
        params += [model, f"hf/{model}"]
    try:
        connection = sqlite3.connect(
            f"{database.resolve().as_uri()}?mode=ro", uri=True, timeout=SPEND_LOCK_WAIT
        )
        try:
            rows = connection.execute(query, params).fetchall()
        finally:
            connection.close()
    except sqlite3.Error as ex:
        if "no such table" in str(ex):
            return []
        raise llm.ModelError(f"Cannot read the logs database {database}: {ex}") from None
    totals: dict = {}
    for model_id, input_tokens, output_tokens, token_details, response_json in rows:
        details = _json_object(token_details)
        provider = details.get("provider") or _json_object(response_json).get("provider") or "-"
        row = totals.setdefault(
            (model_id, provider),
            {
                "model": model_id,
                "provider": provider,
                "prompts": 0,
                "input_tokens": 0,
                "output_tokens": 0,
                "cost_usd": 0.0,
                "unpriced_prompts": 0,
            },
        )
        row["prompts"] += 1
        row["input_tokens"] += input_tokens or 0
        row["output_tokens"] += output_tokens or 0
        cost = details.get("cost_usd")
        if type(cost) in (int, float):
            row["cost_usd"] = round(row["cost_usd"] + cost, 12)
        else:
            row["unpriced_prompts"] += 1
    return sorted(totals.values(), key=lambda r: (r["model"], r["provider"]))


def _json_object(text) -> dict:
    try:
        value = json.loads(text) if text else {}
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def parse_since(since: str) -> str:
    """``7d``, ``24h`` or ``YYYY-MM-DD`` as the UTC timestamp llm's logs compare with."""
    from datetime import datetime, timedelta, timezone

    import click

    match = re.fullmatch(r"(\d+)([dh])", since)
    if match:
        amount = int(match.group(1))
        delta = timedelta(days=amount) if match.group(2) == "d" else timedelta(hours=amount)
        return (datetime.now(timezone.utc) - delta).isoformat()
    try:
        return datetime.strptime(since, "%Y-%m-%d").replace(tzinfo=timezone.utc).isoformat()
    except ValueError:
        raise click.BadParameter("use 7d, 24h or YYYY-MM-DD", param_hint="--since") from None


def _context(n) -> str:
    return f"{n // 1000}k" if isinstance(n, int) and n >= 1000 else str(n) if isinstance(n, int) else "-"


def _fit(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _find_entry(model: str) -> dict:
    import click

    repo_id = model[3:] if model.startswith("hf/") else model
    for entry in catalog_entries():
        if entry["id"].lower() == repo_id.lower():
            return entry
    raise click.ClickException(f"{repo_id} is not in the catalog; 'llm hf models -q NAME' searches it")


@llm.hookimpl
def register_commands(cli):
    import click

    @cli.group(name="hf")
    def hf():
        "Hugging Face Inference: models, providers, your account"

    @hf.command(name="models")
    @click.option("queries", "-q", "--query", multiple=True, help="Only models whose id contains this")
    @click.option("--provider", help="Only models this provider serves")
    @click.option("--tools", is_flag=True, help="Only models some provider runs with tools")
    @click.option("--schemas", is_flag=True, help="Only models some provider runs with structured output")
    @click.option("--vision", is_flag=True, help="Only models that take images")
    @click.option("--free", is_flag=True, help="Only models some provider serves for free")
    @click.option("json_", "--json", is_flag=True, help="Print the catalog entries as JSON")
    def models(queries, provider, tools, schemas, vision, free, json_):
        "List the models the Inference Providers router serves"
        selected = []
        for entry in catalog_entries():
            spec = spec_from_entry(entry)
            if spec is None or not all(q.lower() in entry["id"].lower() for q in queries):
                continue
            if (provider and provider not in [p["provider"] for p in spec.providers]) or (
                tools and not spec.tools
            ):
                continue
            if (schemas and not spec.schema) or (vision and not spec.vision):
                continue
            if free and not any(p.get("is_free") for p in spec.providers):
                continue
            selected.append((entry, spec))
        if json_:
            click.echo(json.dumps([entry for entry, _ in selected], indent=2))
            return
        click.echo(f"{'model':<42} {'providers':<16} {'context':>7} {'$/1M in/out':>11}")
        for entry, spec in selected:
            names = ",".join(p["provider"] for p in spec.providers)
            context = max(
                (p.get("context_length") for p in spec.providers if isinstance(p.get("context_length"), int)),
                default=None,
            )
            click.echo(
                f"{_fit(entry['id'], 42):<42} {_fit(names, 16):<16} {_context(context):>7} "
                f"{_price_text(_cheapest(spec.providers)):>11}"
            )

    @hf.command(name="providers")
    @click.argument("model")
    @click.option(
        "--sort", type=click.Choice(["price", "latency", "throughput"]), default="price", show_default=True
    )
    def providers(model, sort):
        "The providers of MODEL: status, context, price, speed, features"
        entry = _find_entry(model)
        rows = [
            p
            for p in entry.get("providers") or ()
            if isinstance(p, dict) and isinstance(p.get("provider"), str)
        ]
        order = {
            "price": lambda p: price_of(p) or (float("inf"),) * 2,
            "latency": lambda p: (
                p.get("first_token_latency_ms")
                if isinstance(p.get("first_token_latency_ms"), (int, float))
                else float("inf")
            ),
            "throughput": lambda p: (
                -p["throughput"] if isinstance(p.get("throughput"), (int, float)) else float("inf")
            ),
        }[sort]
        click.echo(f"{entry['id']}")
        click.echo(
            f"{'provider':<16} {'status':<6} {'context':>7} {'$/1M in/out':>12} {'1st tok':>8} {'tok/s':>6} tools json"
        )
        for p in sorted(rows, key=order):
            latency = p.get("first_token_latency_ms")
            speed = p.get("throughput")
            flags = [
                "yes" if p.get(f) is True else "no" if p.get(f) is False else "-"
                for f in ("supports_tools", "supports_structured_output")
            ]
            click.echo(
                f"{_fit(p['provider'], 16):<16} {_fit(str(p.get('status', '-')), 6):<6} {_context(p.get('context_length')):>7} "
                f"{_price_text(p):>12} {f'{latency:.0f}ms' if isinstance(latency, (int, float)) else '-':>8} "
                f"{f'{speed:.0f}' if isinstance(speed, (int, float)) else '-':>6} {flags[0]:<5} {flags[1]}"
            )

    @hf.command(name="refresh")
    def refresh():
        "Fetch the router's model catalog again"
        added, removed = store_catalog(hub_get(catalog_url()).content)
        count = len([e for e in read_catalog() or () if spec_from_entry(e)])
        click.echo(
            f"{count} models. Added: {', '.join(added) or 'none'}. Removed: {', '.join(removed) or 'none'}."
        )

    @hf.command(name="add")
    @click.argument("model_id")
    @click.option("--alias", help="A short name for the model")
    @click.option("--base-url", help="Its server's /v1 URL: a dedicated endpoint, TGI, vLLM")
    @click.option(
        "--key-name", help="The 'llm keys' name of its key (Hugging Face hosts default to huggingface)"
    )
    @click.option("--vision", is_flag=True, help="It takes images")
    @click.option("--tools", is_flag=True, help="It can call tools")
    @click.option("--schemas", is_flag=True, help="It can answer to a JSON schema")
    def add(model_id, alias, base_url, key_name, vision, tools, schemas):
        "Add a model outside the router's catalog"
        if base_url and urllib.parse.urlsplit(base_url).scheme not in ("http", "https"):
            raise click.ClickException("--base-url must be an http:// or https:// URL")
        added = read_added()
        added[model_id] = {
            k: v
            for k, v in dict(
                alias=alias, base_url=base_url, key_name=key_name, vision=vision, tools=tools, schemas=schemas
            ).items()
            if v
        }
        write_json(llm.user_dir() / ADDED_FILE, added)
        where = base_url or "the router"
        token = (
            "the Hugging Face token"
            if not base_url or is_hf_host(base_url)
            else (f"the key '{key_name}'" if key_name else "no key")
        )
        click.echo(f"Added hf/{model_id}{f' (alias {alias})' if alias else ''}: {where}, with {token}.")

    @hf.command(name="remove")
    @click.argument("model_id")
    def remove(model_id):
        "Remove a model added with 'llm hf add'"
        model_id = model_id[3:] if model_id.startswith("hf/") and model_id[3:] in read_added() else model_id
        added = read_added()
        if added.pop(model_id, None) is None:
            raise click.ClickException(f"{model_id} was not added with 'llm hf add'")
        write_json(llm.user_dir() / ADDED_FILE, added)
        click.echo(f"Removed hf/{model_id}.")

    @hf.command(name="spend")
    @click.option("--since", help="Only prompts since: 7d, 24h or YYYY-MM-DD")
    @click.option("--model", help="Only this model (hf/... or its repo id)")
    @click.option("json_", "--json", is_flag=True, help="Print the rows as JSON")
    @click.option(
        "--database", type=click.Path(dir_okay=False, path_type=pathlib.Path), help="llm's logs database"
    )
    def spend(since, model, json_, database):
        "What Hugging Face prompts have cost, from llm's logs (read-only)"
        since = parse_since(since) if since else None
        database = database or llm.user_dir() / "logs.db"
        if not database.exists():
            click.echo(f"No logs database at {database} yet.")
            return
        try:
            rows = spend_rows(database, since, model)
        except llm.ModelError as ex:
            raise click.ClickException(str(ex)) from None
        if json_:
            click.echo(json.dumps(rows, indent=2))
            return
        if not rows:
            click.echo(
                "No Hugging Face prompts in the logs"
                + (" for that selection." if since or model else " yet.")
            )
            return
        click.echo(
            f"{'model':<36} {'provider':<14} {'prompts':>7} {'input':>8} {'output':>8} {'cost USD':>10}"
        )
        for row in rows + [
            {
                "model": "total",
                "provider": "",
                **{
                    k: sum(r[k] for r in rows)
                    for k in ("prompts", "input_tokens", "output_tokens", "cost_usd", "unpriced_prompts")
                },
            }
        ]:
            click.echo(
                f"{_fit(row['model'], 36):<36} {_fit(row['provider'], 14):<14} {row['prompts']:>7} "
                f"{row['input_tokens']:>8,} {row['output_tokens']:>8,} {row['cost_usd']:>10.6f}"
            )
        unpriced = sum(r["unpriced_prompts"] for r in rows)
        if unpriced:
            click.echo(f"{unpriced} prompt{'s' if unpriced != 1 else ''} without a price (not in the total)")

    @hf.command(name="whoami")
    @click.option("--key", help="A token, or the name of a stored key")
    def whoami(key):
        "Check the Hugging Face token: its account, organisations and role"
        try:
            token = hf_token(key)
        except llm.NeedsKeyException as ex:
            raise click.ClickException(str(ex)) from None
        me = hub_get(WHOAMI_URL, {"Authorization": f"Bearer {token}"}).json()
        name = me.get("name", "?")
        click.echo(f"{name} ({me['fullname']})" if me.get("fullname") else name)
        orgs = [o.get("name") for o in me.get("orgs") or () if isinstance(o, dict)]
        click.echo(f"Organisations: {', '.join(filter(None, orgs)) or 'none'}")
        token_info = (me.get("auth") or {}).get("accessToken") or {}
        click.echo(f"Token: {token_info.get('displayName', '?')} (role: {token_info.get('role', '?')})")
