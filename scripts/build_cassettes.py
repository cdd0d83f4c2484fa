"""Write cassettes/ from the real Hugging Face answers in tests/recordings/.

    python scripts/build_cassettes.py [RECORDINGS_DIR]

Run from a clean clone, it writes the committed cassettes byte for byte (a test checks that).

Every response body here is a recording, byte for byte, or — for what the
recordings lack (tool calls, reasoning, logprobs, error bodies) — chunks cut
from a recording's own envelope, with the fields tests/recordings/README.md documents
put in. The request side is what the tests send. To replace all of this with
live traffic instead: ``HF_TOKEN=hf_... pytest --record-mode=rewrite``.
"""

import copy
import json
import pathlib
import sys

import yaml

ROOT = pathlib.Path(__file__).resolve().parent.parent
RECORDINGS = pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "tests" / "recordings"
ROUTER = "https://router.huggingface.co/v1/chat/completions"
MANIFEST = {
    entry["case"]: entry for entry in json.loads((RECORDINGS / "manifest.json").read_text(encoding="utf-8"))
}

LLAMA = "meta-llama/Llama-3.1-8B-Instruct"
SYSTEM = {"role": "system", "content": "You are a helpful assistant."}
QUESTION = {"role": "user", "content": "What is deep learning?"}
STREAM = {"stream": True, "stream_options": {"include_usage": True}}
NO_STREAM = {"stream": False}
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city.",
        "parameters": {
            "properties": {"location": {"type": "string"}},
            "required": ["location"],
            "type": "object",
        },
    },
}


TOGETHER = f"{LLAMA}:together"  # a conversation together answered stays with it


def body(messages, stream=True, model=LLAMA, **extra):
    return {"model": model, "messages": messages, **extra, **(STREAM if stream else NO_STREAM)}


def recorded(case, provider=True):
    """(status, headers, body) of a recording; 2025 router answers name their provider."""
    status = int((RECORDINGS / f"{case}.status").read_text(encoding="utf-8"))
    headers = [
        (name, value)
        for name, value in json.loads((RECORDINGS / f"{case}.headers.json").read_text(encoding="utf-8"))
        if name.lower() != "set-cookie"
    ]
    if provider and case.startswith("2025"):
        headers.append(("x-inference-provider", MANIFEST[case]["provider"]))
    return status, headers, (RECORDINGS / f"{case}.body").read_bytes()


def first_chunk(case):
    line = (RECORDINGS / f"{case}.body").read_bytes().split(b"\n", 1)[0]
    return json.loads(line.split(b":", 1)[1])


def sse(case, deltas, finish="stop", usage=None, done=True, logprobs=None):
    """A stream in ``case``'s envelope: one chunk per delta, then finish and usage."""
    template = first_chunk(case)
    prefix = b"data:" if case.startswith("2024") else b"data: "
    chunks = []
    for i, delta in enumerate(deltas):
        chunk = copy.deepcopy(template)
        choice = chunk["choices"][0]
        choice["delta"] = delta
        choice.pop("text", None)
        if logprobs:
            choice["logprobs"] = {"content": [logprobs[i]]}
        if "finish_reason" in choice or i == len(deltas) - 1:
            choice["finish_reason"] = finish if i == len(deltas) - 1 else None
        if "usage" in chunk:
            chunk["usage"] = None
        chunks.append(chunk)
    if usage:
        chunks[-1]["usage"] = usage
    out = b"".join(prefix + json.dumps(c).encode() + b"\n\n" for c in chunks)
    if done:
        out += prefix + b"[DONE]\n\n"
    status, headers, _ = recorded(case)
    return status, headers, out


def answer(case, message, finish="stop", **fields):
    """A non-streamed answer in ``case``'s envelope, with ``message`` put in."""
    status, headers, raw = recorded(case)
    data = json.loads(raw)
    data["choices"][0]["message"] = message
    data["choices"][0]["finish_reason"] = finish
    data["choices"][0].update(fields)
    return status, headers, json.dumps(data).encode()


def error(status, payload, provider=None, content_type="application/json", extra=()):
    _, headers, _ = recorded("2025-hf-inference-unprocessable_entity", provider=False)
    headers = [
        (n, v) for n, v in headers if n.lower() not in ("content-type", "x-error-message", "www-authenticate")
    ]
    headers.append(("Content-Type", content_type))
    if provider:
        headers.append(("x-inference-provider", provider))
    headers.extend(extra)
    return status, headers, payload if isinstance(payload, bytes) else json.dumps(payload).encode()


def get(url):
    """A GET request, where a cassette exchange otherwise has a chat request body."""
    return ("GET", url)


def cassette(name, *exchanges, url=ROUTER):
    interactions = []
    for request, (status, headers, raw) in exchanges:
        response_headers: dict = {}
        for header, value in headers:
            response_headers.setdefault(header, []).append(value)
        if isinstance(request, tuple):
            method, uri, request_body, request_headers = *request, "", {}
        else:
            method, uri, request_body = "POST", url, json.dumps(request)
            request_headers = {"Content-Type": ["application/json"]}
        interactions.append(
            {
                "request": {
                    "body": request_body,
                    "headers": request_headers,
                    "method": method,
                    "uri": uri,
                },
                "response": {
                    "body": {"string": raw.decode("utf-8")},
                    "headers": response_headers,
                    "status": {"code": status, "message": ""},
                },
            }
        )
    path = ROOT / "cassettes" / f"{name}.yaml"
    path.write_text(  # the same bytes on every system: UTF-8, LF
        yaml.safe_dump({"interactions": interactions, "version": 1}, allow_unicode=True, width=1000),
        encoding="utf-8",
        newline="\n",
    )


def tool_call(call_id, name, arguments):
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


def json_answer(data, provider=False):
    """A JSON answer in the envelope of a 2025 router answer."""
    _, headers, _ = recorded("2025-hf-inference-no_stream", provider=provider)
    drop = {"content-type"} | {
        n.lower() for n, _ in headers if n.lower().startswith("x-") and n.lower() != "x-request-id"
    }
    headers = [(n, v) for n, v in headers if n.lower() not in drop] + [
        ("Content-Type", "application/json; charset=utf-8")
    ]
    return 200, headers, json.dumps(data).encode()


# The catalog: the recordings README's own entry, and entries around it in the same shape.
DEEPSEEK_V4 = {
    "id": "deepseek-ai/DeepSeek-V4-Pro",
    "object": "model",
    "created": 1776837885,
    "owned_by": "deepseek-ai",
    "architecture": {"input_modalities": ["text"], "output_modalities": ["text"]},
    "providers": [
        {
            "provider": "together",
            "status": "live",
            "context_length": 512000,
            "pricing": {"input": 2.1, "output": 4.4},
            "supports_tools": True,
            "supports_structured_output": True,
            "first_token_latency_ms": 611,
            "throughput": 40.13,
            "is_model_author": False,
        },
        {"provider": "featherless-ai", "status": "live", "is_model_author": False},
    ],
}
LLAMA_ENTRY = {
    "id": LLAMA,
    "object": "model",
    "created": 1721692800,
    "owned_by": "meta-llama",
    "architecture": {"input_modalities": ["text"], "output_modalities": ["text"]},
    "providers": [
        {
            "provider": "cerebras",
            "status": "live",
            "context_length": 32768,
            "pricing": {"input": 0.1, "output": 0.1},
            "supports_tools": True,
            "supports_structured_output": False,
            "first_token_latency_ms": 180,
            "throughput": 2100.5,
            "is_model_author": False,
        },
        {
            "provider": "novita",
            "status": "live",
            "context_length": 16384,
            "pricing": {"input": 0.02, "output": 0.05},
            "supports_tools": False,
            "supports_structured_output": True,
            "first_token_latency_ms": 820,
            "throughput": 61.2,
            "is_model_author": False,
        },
        {
            "provider": "together",
            "status": "live",
            "context_length": 131072,
            "pricing": {"input": 0.18, "output": 0.18},
            "supports_tools": True,
            "supports_structured_output": True,
            "first_token_latency_ms": 420,
            "throughput": 150.0,
            "is_model_author": False,
        },
        {"provider": "hf-inference", "status": "error", "is_model_author": False},
    ],
}
VL_ENTRY = {
    "id": "Qwen/Qwen2.5-VL-7B-Instruct",
    "object": "model",
    "created": 1738000000,
    "owned_by": "Qwen",
    "architecture": {"input_modalities": ["text", "image"], "output_modalities": ["text"]},
    "providers": [
        {
            "provider": "hyperbolic",
            "status": "live",
            "context_length": 32768,
            "is_free": True,
            "supports_tools": False,
            "supports_structured_output": False,
            "is_model_author": False,
        }
    ],
}
BROKEN_ENTRY = {
    "id": "someone/All-Providers-Down",
    "object": "model",
    "providers": [{"provider": "novita", "status": "error", "is_model_author": False}],
}
MINIMAL_ENTRY = {
    "id": "someone/Minimal-Chat",
    "providers": [{"provider": "featherless-ai", "status": "live"}],
}
CATALOG = {"object": "list", "data": [DEEPSEEK_V4, LLAMA_ENTRY, VL_ENTRY, BROKEN_ENTRY, MINIMAL_ENTRY]}
CATALOG_LATER = {
    "object": "list",
    "data": [LLAMA_ENTRY, VL_ENTRY, BROKEN_ENTRY, dict(MINIMAL_ENTRY, id="someone/Newer-Chat")],
}
WHOAMI = {
    "type": "user",
    "id": "60f1abe7544c2adfd699860c",
    "name": "alice",
    "fullname": "Alice Example",
    "email": "alice@example.com",
    "emailVerified": True,
    "isPro": False,
    "canPay": True,
    "orgs": [
        {"type": "org", "name": "acme", "fullname": "Acme", "roleInOrg": "admin"},
        {"type": "org", "name": "hf-fans", "fullname": "HF fans", "roleInOrg": "read"},
    ],
    "auth": {
        "type": "access_token",
        "accessToken": {
            "displayName": "laptop",
            "role": "fineGrained",
            "fineGrained": {  # as other clients read it (no Hugging Face client reads it yet)
                "global": ["inference.serverless.write", "discussion.write"],
                "scoped": [
                    {"entity": {"type": "user", "name": "alice"}, "permissions": ["repo.content.read"]}
                ],
            },
        },
    },
}


# The Hub's model search: the recordings README's own item (multilingual-e5-large-instruct), and items around it in
# the same shape; feature-extraction over two pages (a Link rel="next"), then sentence-similarity.
HUB_SEARCH = (
    "https://huggingface.co/api/models?pipeline_tag={}&inference_provider=all"
    "&expand[]=inferenceProviderMapping&expand[]=tags"
)


def hub_item(repo_id, tag, *mapping):
    return {
        "id": repo_id,
        "pipeline_tag": tag,
        "inferenceProviderMapping": [
            {"provider": provider, "providerId": provider_id, "status": status, "task": task}
            for provider, provider_id, status, task in mapping
        ],
    }


E5 = "intfloat/multilingual-e5-large-instruct"
HUB_FEATURE_PAGES = [
    [
        hub_item(
            E5,
            "feature-extraction",
            ("together", E5, "live", "feature-extraction"),
            ("hf-inference", E5, "live", "feature-extraction"),
            ("scaleway", "multilingual-e5-large-instruct", "staging", "feature-extraction"),
        ),
        hub_item(
            "facebook/bart-base",
            "feature-extraction",
            ("hf-inference", "facebook/bart-base", "live", "feature-extraction"),
        ),
    ],
    [
        hub_item(
            "BAAI/bge-m3",
            "feature-extraction",
            ("hf-inference", "BAAI/bge-m3", "live", "feature-extraction"),
            ("deepinfra", "BAAI/bge-m3", "live", "feature-extraction"),
        ),
        hub_item(
            "someone/broken-embedder",
            "feature-extraction",
            ("hf-inference", "someone/broken-embedder", "error", "feature-extraction"),
        ),
    ],
]
HUB_SIMILARITY = [
    hub_item(
        "sentence-transformers/all-MiniLM-L6-v2",
        "sentence-similarity",
        ("hf-inference", "sentence-transformers/all-MiniLM-L6-v2", "live", "sentence-similarity"),
        ("together", "sentence-transformers/all-MiniLM-L6-v2", "live", "sentence-similarity"),
    ),
    hub_item(E5, "sentence-similarity", ("together", E5, "live", "feature-extraction")),
]


def hub_page(items, next_url=None):
    status, headers, raw = json_answer(items)
    return status, headers + ([("Link", f'<{next_url}>; rel="next"')] if next_url else []), raw


# Speech-recognition models: the recorded Hub answer's own item (whisper-large-v3 on fal-ai and hf-inference,
# its mapping an object keyed by provider), and items around it in the same shape.
WHISPER_ITEM = json.loads((RECORDINGS / "asr-2025-hub-whisper-mapping.body").read_text(encoding="utf-8"))


def speech_item(repo_id, **mapping):
    return {
        "id": repo_id,
        "inferenceProviderMapping": {
            provider: {"status": status, "providerId": provider_id, "task": task}
            for provider, (provider_id, status, task) in mapping.items()
        },
    }


ASR = "automatic-speech-recognition"
HUB_SPEECH = [
    WHISPER_ITEM,
    speech_item(
        "openai/whisper-large-v3-turbo",
        together=("openai/whisper-large-v3", "live", ASR),
        deepinfra=("openai/whisper-large-v3-turbo", "live", ASR),
        replicate=(
            "openai/whisper:8099696689d249cf8b122d833c36ac3f75505c666a395ca40ef26f68e7d3d16e",
            "live",
            ASR,
        ),
    ),
    speech_item("nvidia/parakeet-tdt-0.6b-v2", **{"fal-ai": ("fal-ai/parakeet", "staging", ASR)}),
    speech_item("someone/asr-elsewhere", groq=("asr-elsewhere", "live", ASR)),  # no known route
]


# Image models: FLUX.1-schnell as the Inference Providers docs list its providers, and one image-to-image model.
HUB_IMAGES = [
    speech_item(
        "black-forest-labs/FLUX.1-schnell",
        **{
            "fal-ai": ("fal-ai/flux/schnell", "live", "text-to-image"),
            "hf-inference": ("black-forest-labs/FLUX.1-schnell", "live", "text-to-image"),
            "replicate": ("black-forest-labs/flux-schnell", "live", "text-to-image"),
            "together": ("black-forest-labs/FLUX.1-schnell-Free", "live", "text-to-image"),
            "nscale": ("black-forest-labs/FLUX.1-schnell", "live", "text-to-image"),
        },
    ),
    speech_item(
        "black-forest-labs/FLUX.1-Kontext-dev",
        **{
            "fal-ai": ("fal-ai/flux-kontext/dev", "live", "image-to-image"),
            "replicate": ("black-forest-labs/flux-kontext-dev", "live", "image-to-image"),
            "wavespeed": ("wavespeed-ai/flux-kontext-dev", "live", "image-to-image"),
            "fireworks-ai": (
                "accounts/fireworks/models/flux-kontext-dev",
                "live",
                "image-to-image",
            ),  # no route
        },
    ),
]


# Text-to-speech models, in the recorded mapping's shape: Kokoro on the providers the clients' tests use.
TTS = "text-to-speech"
KOKORO_REPLICATE = "jaaari/kokoro-82m:dfdf537ba482b029e0a761699e6f55e9162cfd159270bfe0e44857caa5f275a6"
HUB_TTS = [
    speech_item(
        "hexgrad/Kokoro-82M",
        **{
            "fal-ai": ("fal-ai/kokoro/american-english", "live", TTS),
            "replicate": (KOKORO_REPLICATE, "live", TTS),
            "deepinfra": ("hexgrad/Kokoro-82M", "live", TTS),
            "together": ("hexgrad/Kokoro-82M", "live", TTS),
        },
    ),
    speech_item("nari-labs/Dia-1.6B", **{"fal-ai": ("fal-ai/dia-tts", "live", TTS)}),
    speech_item("OuteAI/OuteTTS-0.3-500M", replicate=("jbilcke/oute-tts", "staging", TTS)),
    speech_item("someone/tts-elsewhere", novita=("tts-elsewhere", "live", TTS)),  # no known route
]


# Video models, in the same shape: Wan on the providers the clients serve it by, LTX-Video on fal-ai (its
# id as recorded), and an image-to-video model.
T2V, I2V = "text-to-video", "image-to-video"
HUB_VIDEOS = [
    speech_item(
        "Wan-AI/Wan2.1-T2V-14B",
        **{
            "fal-ai": ("fal-ai/wan-t2v", "live", T2V),
            "replicate": ("wavespeedai/wan-2.1-t2v-480p", "live", T2V),
            "novita": ("wan-t2v", "live", T2V),
            "wavespeed": ("wavespeed-ai/wan-2.1/t2v-480p", "live", T2V),
        },
    ),
    speech_item("Lightricks/LTX-Video", **{"fal-ai": ("fal-ai/ltx-video", "live", T2V)}),
    speech_item(
        "Wan-AI/Wan2.1-I2V-14B-720P",
        **{
            "fal-ai": ("fal-ai/wan-i2v", "live", I2V),
            "wavespeed": ("wavespeed-ai/wan-2.1/i2v-720p", "live", I2V),
        },
    ),
]


# The Hub's newer tasks, in the same shape: image-text-to-image and -video (fal-ai and wavespeed, a LoRA among
# them, as huggingface.js's test mappings have them; replicate's mapping has no route there), text-to-audio
# (stable-audio on fal-ai, musicgen on hf-inference: the clients' example models), and image-to-text
# (the captioning model of huggingface.js's test mappings, and GLM-OCR on zai-org).
ITI, ITV = "image-text-to-image", "image-text-to-video"
HUB_IMAGE_TEXT = [
    speech_item(
        "black-forest-labs/FLUX.2-dev",
        **{
            "fal-ai": ("fal-ai/flux-2", "live", ITI),
            "replicate": ("black-forest-labs/flux-2-dev", "live", ITI),  # not sent there: left out
        },
    ),
    {
        "id": "dx8152/Qwen-Edit-2509-Multiple-angles",
        "tags": [
            "lora",
            "base_model:Qwen/Qwen-Image-Edit-2509",
            "base_model:adapter:Qwen/Qwen-Image-Edit-2509",
        ],
        "inferenceProviderMapping": [
            {
                "provider": "wavespeed",
                "hfModelId": "dx8152/Qwen-Edit-2509-Multiple-angles",
                "providerId": "wavespeed-ai/qwen-image/edit-plus-lora",
                "status": "live",
                "task": ITI,
                "adapter": "lora",
                "adapterWeightsPath": "镜头转换.safetensors",
            }
        ],
    },
]
HUB_IMAGE_TEXT_VIDEOS = [
    speech_item("Lightricks/LTX-2", **{"fal-ai": ("fal-ai/ltx-2/image-to-video", "live", ITV)}),
]
HUB_AUDIO = [
    speech_item(
        "stabilityai/stable-audio-open-1.0", **{"fal-ai": ("fal-ai/stable-audio", "live", "text-to-audio")}
    ),
    speech_item(
        "facebook/musicgen-small", **{"hf-inference": ("facebook/musicgen-small", "live", "text-to-audio")}
    ),
]
HUB_OCR = [
    speech_item("zai-org/GLM-OCR", **{"zai-org": ("glm-ocr", "live", "image-to-text")}),
    speech_item(
        "nlpconnect/vit-gpt2-image-captioning",
        **{"hf-inference": ("nlpconnect/vit-gpt2-image-captioning", "live", "image-to-text")},
    ),
]


def hub_search(
    feature_pages=HUB_FEATURE_PAGES, similarity=HUB_SIMILARITY, speech=HUB_SPEECH, images=HUB_IMAGES
):
    """The exchanges of 'llm hf refresh' with the Hub's model search."""
    first, second = (
        HUB_SEARCH.format("feature-extraction"),
        HUB_SEARCH.format("feature-extraction") + "&cursor=abc",
    )
    pages = [(get(first), hub_page(feature_pages[0], second))]
    if len(feature_pages) > 1:
        pages.append((get(second), hub_page(feature_pages[1])))
    else:
        pages[0] = (get(first), hub_page(feature_pages[0]))
    return [
        *pages,
        (get(HUB_SEARCH.format("sentence-similarity")), hub_page(similarity)),
        (get(HUB_SEARCH.format(ASR)), hub_page(speech)),
        (get(HUB_SEARCH.format("text-to-image")), hub_page(images[:1])),
        (get(HUB_SEARCH.format("image-to-image")), hub_page(images[1:])),
        (get(HUB_SEARCH.format(ITI)), hub_page(HUB_IMAGE_TEXT)),
        (get(HUB_SEARCH.format(TTS)), hub_page(HUB_TTS)),
        (get(HUB_SEARCH.format(T2V)), hub_page(HUB_VIDEOS[:2])),
        (get(HUB_SEARCH.format(I2V)), hub_page(HUB_VIDEOS[2:])),
        (get(HUB_SEARCH.format(ITV)), hub_page(HUB_IMAGE_TEXT_VIDEOS)),
        (get(HUB_SEARCH.format("text-to-audio")), hub_page(HUB_AUDIO)),
        (get(HUB_SEARCH.format("image-to-text")), hub_page(HUB_OCR)),
    ]


def main():
    (ROOT / "cassettes").mkdir(exist_ok=True)
    models_url = "https://router.huggingface.co/v1/models"
    cassette("catalog", (get(models_url), json_answer(CATALOG)), *hub_search())
    cassette(
        "catalog-later",
        (get(models_url), json_answer(CATALOG_LATER)),
        *hub_search([HUB_FEATURE_PAGES[1]], HUB_SIMILARITY),
    )
    cassette("whoami", (get("https://huggingface.co/api/whoami-v2"), json_answer(WHOAMI)))
    cassette(
        "whoami-401",
        (
            get("https://huggingface.co/api/whoami-v2"),
            error(401, {"error": "Invalid credentials in Authorization header"}),
        ),
    )
    cassette(
        "prompt-then-catalog",
        (body([SYSTEM, QUESTION], max_tokens=20), recorded("2025-together-with_stream")),
        (get(models_url), json_answer(CATALOG)),
    )
    cassette(
        "prompt-then-catalog-error",
        (body([SYSTEM, QUESTION], max_tokens=20), recorded("2025-together-with_stream")),
        (get(models_url), error(500, {"error": "Internal Server Error"})),
    )
    # Servers outside the router: a self-hosted TGI, a dedicated endpoint, a proxy in LLM_HF_BASE_URL.
    tgi_question = body([QUESTION], stream=False, model="tgi")
    cassette(
        "self-hosted-tgi",
        (tgi_question, recorded("2024-hf-inference-no_stream")),
        url="http://localhost:8080/v1/chat/completions",
    )
    cassette(
        "dedicated-endpoint",
        # without the token (the user has not opted in), then with it
        (tgi_question, recorded("2025-hf-inference-unprocessable_entity", provider=False)),
        (tgi_question, recorded("2024-hf-inference-no_stream")),
        url="https://my-llama.us-east-1.aws.endpoints.huggingface.cloud/v1/chat/completions",
    )
    cassette(
        "proxy-base-url",
        (body([QUESTION], stream=False), recorded("2025-cerebras-no_stream")),
        url="https://hf-proxy.example.com/v1/chat/completions",
    )
    question = [SYSTEM, QUESTION]

    # Core: every dialect, streamed and not.
    for case in ("2024-hf-inference", "2025-cerebras", "2025-hf-inference", "2025-novita", "2025-together"):
        cassette(f"stream-{case}", (body(question, max_tokens=20), recorded(f"{case}-with_stream")))
    for case in ("2024-hf-inference", "2025-cerebras", "2025-hf-inference", "2025-novita", "2025-together"):
        cassette(f"no-stream-{case}", (body(question, stream=False), recorded(f"{case}-no_stream")))

    # A -c conversation: the second request carries the first exchange.
    first_answer = "Deep learning is a subset of machine learning that involves the use of artificial neural networks (ANNs)"
    cassette(
        "conversation",
        (body(question, max_tokens=20), recorded("2025-hf-inference-with_stream")),
        (
            body(
                question
                + [
                    {"role": "assistant", "content": first_answer},
                    {"role": "user", "content": "Say it shorter."},
                ],
                model=f"{LLAMA}:hf-inference",  # the conversation stays with who answered it
                max_tokens=20,
            ),
            recorded("2025-together-with_stream"),
        ),
    )

    # Image attachments, by URL and from a file.
    vision = "google/gemma-4-31B-it"
    cassette(
        "image-url",
        (
            body(
                [
                    {
                        "role": "user",
                        "content": [
                            {"type": "text", "text": "What is in this picture?"},
                            {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}},
                        ],
                    }
                ],
                model=vision,
                stream=False,
            ),
            recorded("2025-novita-no_stream"),
        ),
    )
    cassette(
        "image-file",
        (
            body(
                [
                    {
                        "role": "user",
                        "content": [
                            {"type": "text", "text": "What is in this picture?"},
                            {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
                        ],
                    }
                ],
                model=vision,
                stream=False,
            ),
            recorded("2025-novita-no_stream"),
        ),
    )

    # Every option at once.
    cassette(
        "all-options",
        (
            body(
                question,
                model=LLAMA + ":together",
                temperature=0,
                top_p=0.5,
                frequency_penalty=-2,
                presence_penalty=2,
                stop=["Observation", "Final Answer"],
                seed=0,
                max_tokens=20,
                logprobs=False,
            ),
            recorded("2025-together-with_stream"),
        ),
    )

    # Errors in every shape the recordings README lists.
    ask = body(question, stream=False)
    cassette(
        "error-401", (ask, recorded("2025-hf-inference-unprocessable_entity", provider=False))
    )  # refused before routing
    cassette("error-422-plain-text", (ask, recorded("2024-hf-inference-unprocessable_entity")))
    cassette(
        "error-422-tgi",
        (
            ask,
            error(
                422,
                {
                    "error": "Input validation error: `temperature` must be strictly positive",
                    "error_type": "validation",
                },
            ),
        ),
    )
    cassette(
        "error-402",
        (
            ask,
            error(
                402,
                {
                    "error": "You have depleted your monthly included credits. Purchase pre-paid credits to continue using Inference Providers. Alternatively, subscribe to PRO to get 20x more included usage."
                },
            ),
        ),
    )
    cassette(
        "error-403",
        (
            ask,
            error(
                403,
                {
                    "error": "This authentication method does not have sufficient permissions to call Inference Providers on behalf of user alice"
                },
            ),
        ),
    )
    cassette(
        "error-400-not-supported",
        (
            body(question, stream=False, model=LLAMA + ":cerebras"),
            error(
                400,
                {
                    "error": {
                        "message": f"The requested model '{LLAMA}' is not supported by any provider you have enabled.",
                        "type": "invalid_request_error",
                        "param": "model",
                        "code": "model_not_supported",
                    }
                },
            ),
        ),
    )
    cassette(
        "error-429",
        (
            ask,
            error(429, {"error": "Rate limit reached. Please wait or upgrade to PRO."}, provider="together"),
        ),
    )
    cassette(
        "error-503-loading",
        (ask, error(503, {"error": f"Model {LLAMA} is currently loading", "estimated_time": 577.37})),
    )
    cassette(
        "error-504-html",
        (
            ask,
            error(
                504,
                b"<html><head><title>504 Gateway Time-out</title></head><body><center><h1>504 Gateway Time-out</h1></center></body></html>",
                content_type="text/html",
            ),
        ),
    )

    # Retries: what the server asks for, backoff, and giving up.
    ok = recorded("2025-together-no_stream")
    rate_limited = {"error": "Rate limit reached. Please wait or upgrade to PRO."}
    cassette(
        "retry-429-retry-after",
        (ask, error(429, rate_limited, "together", extra=[("Retry-After", "2")])),
        (ask, ok),
    )
    cassette(
        "retry-429-retry-after-date",
        (ask, error(429, rate_limited, "together", extra=[("Retry-After", "Wed, 21 Oct 2099 07:28:00 GMT")])),
        (ask, ok),
    )
    cassette(  # the IETF RateLimit header as the Hub sends it (huggingface_hub's tests)
        "retry-429-ratelimit-reset",
        (ask, error(429, rate_limited, "together", extra=[("RateLimit", '"api";r=0;t=3')])),
        (ask, ok),
    )
    loading = {"error": f"Model {LLAMA} is currently loading"}
    cassette(
        "retry-503-loading",
        (ask, error(503, dict(loading, estimated_time=577.37))),
        (ask, error(503, dict(loading, estimated_time=20.5))),
        (ask, ok),
    )
    gateway = b"<html><head><title>{} Gateway</title></head><body></body></html>"
    cassette(
        "retry-502-504",
        (ask, error(502, gateway.replace(b"{}", b"502 Bad"), content_type="text/html")),
        (ask, error(504, gateway.replace(b"{}", b"504 Time-out"), content_type="text/html")),
        (ask, ok),
    )
    cassette(
        "retry-429-exhausted",
        *[(ask, error(429, rate_limited, "together", extra=[("Retry-After", "1")]))] * 3,
    )

    streamed = body(question, max_tokens=20)
    deep = [{"role": "assistant", "content": "Deep"}, {"content": " learning"}]
    status, headers, raw = sse("2024-hf-inference-with_stream", deep, finish=None, done=False)
    cassette(
        "error-mid-stream-tgi",
        (
            streamed,
            (
                status,
                headers,
                raw
                + b'data:{"error":"Request failed during generation: Server error: CUDA out of memory","error_type":"generation"}\n\n',
            ),
        ),
    )
    status, headers, raw = sse("2025-together-with_stream", deep, finish=None, done=False)
    cassette(
        "error-mid-stream-router",
        (
            streamed,
            (
                status,
                headers,
                raw
                + b'data: {"error":{"message":"Input validation error: inputs tokens + max_new_tokens must be <= 4096","http_status_code":422}}\n\n',
            ),
        ),
    )
    cassette("truncated-stream", (streamed, sse("2025-cerebras-with_stream", deep, finish=None, done=False)))

    # Tools: a full chain (call, then the result, then the answer), streamed and not.
    weather = [{"role": "user", "content": "What is the weather in Paris?"}]
    call = tool_call("call_1", "get_weather", '{"location": "Paris"}')
    after_call = weather + [
        {"role": "assistant", "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "call_1", "content": "Sunny, 21°C"},
    ]
    final_deltas = [{"role": "assistant", "content": "It is sunny"}, {"content": " and 21°C in Paris."}]
    cassette(
        "tool-chain-stream",
        (
            body(weather, tools=[WEATHER_TOOL]),
            sse(
                "2025-together-with_stream",
                [
                    {
                        "role": "assistant",
                        "content": None,
                        "tool_calls": [
                            {
                                "index": 0,
                                "id": "call_1",
                                "type": "function",
                                "function": {"name": "get_weather", "arguments": ""},
                            }
                        ],
                    },
                    *(
                        {"tool_calls": [{"index": 0, "function": {"arguments": ch}}]}
                        for ch in '{"location": "Paris"}'
                    ),
                ],
                finish="tool_calls",
                usage={"prompt_tokens": 180, "completion_tokens": 18, "total_tokens": 198},
            ),
        ),
        (
            body(after_call, tools=[WEATHER_TOOL], model=TOGETHER),
            sse(
                "2025-together-with_stream",
                final_deltas,
                usage={"prompt_tokens": 210, "completion_tokens": 12, "total_tokens": 222},
            ),
        ),
    )
    cassette(
        "tool-chain-no-stream",
        (
            body(weather, stream=False, tools=[WEATHER_TOOL]),
            answer(
                "2025-together-no_stream",
                {"role": "assistant", "content": None, "tool_calls": [call]},
                finish="tool_calls",
            ),
        ),
        (
            body(after_call, stream=False, tools=[WEATHER_TOOL], model=TOGETHER),
            answer(
                "2025-together-no_stream", {"role": "assistant", "content": "It is sunny and 21°C in Paris."}
            ),
        ),
    )
    cassette(
        "tool-chain-continued",
        (
            body(weather, tools=[WEATHER_TOOL]),
            sse(
                "2025-together-with_stream",
                [
                    {
                        "role": "assistant",
                        "content": None,
                        "tool_calls": [
                            {
                                "index": 0,
                                "id": "call_1",
                                "type": "function",
                                "function": {"name": "get_weather", "arguments": '{"location": "Paris"}'},
                            }
                        ],
                    },
                ],
                finish="tool_calls",
            ),
        ),
        (
            body(after_call, tools=[WEATHER_TOOL], model=TOGETHER),
            sse("2025-together-with_stream", final_deltas),
        ),
        (
            body(
                after_call
                + [
                    {"role": "assistant", "content": "It is sunny and 21°C in Paris."},
                    {"role": "user", "content": "And in Rome?"},
                ],
                model=TOGETHER,
            ),
            sse(
                "2025-together-with_stream",
                [{"role": "assistant", "content": "I would need to look that up."}],
            ),
        ),
    )
    cassette(
        "tool-two-calls",
        (
            body(weather, tools=[WEATHER_TOOL]),
            sse(
                "2025-novita-with_stream",
                [
                    {
                        "role": "assistant",
                        "tool_calls": [
                            {
                                "index": 0,
                                "id": "call_a",
                                "type": "function",
                                "function": {"name": "get_weather", "arguments": '{"location":'},
                            }
                        ],
                    },
                    {"tool_calls": [{"index": 0, "function": {"arguments": ' "Paris"}'}}]},
                    {
                        "tool_calls": [
                            {
                                "index": 1,
                                "id": "call_b",
                                "type": "function",
                                "function": {"name": "get_weather", "arguments": '{"location": "Rome"}'},
                            }
                        ]
                    },
                ],
                finish="tool_calls",
            ),
        ),
    )
    # TGI before 3.2, not streamed: arguments as an object, id 0, description null, no content.
    cassette(
        "tool-tgi-object-arguments",
        (
            body(weather, stream=False, tools=[WEATHER_TOOL]),
            answer(
                "2025-hf-inference-no_stream",
                {
                    "role": "assistant",
                    "tool_calls": [
                        {
                            "id": 0,
                            "type": "function",
                            "function": {
                                "description": None,
                                "name": "get_weather",
                                "arguments": {"location": "Paris"},
                            },
                        }
                    ],
                },
                finish="eos_token",
            ),
        ),
    )
    # TGI 2.0-3.1, streamed: one object per delta, name inside the arguments as _name.
    wrapped = '{"function": {"_name": "get_weather", "location": "Paris"}}'
    cassette(
        "tool-tgi-wrapped-stream",
        (
            body(weather, tools=[WEATHER_TOOL]),
            sse(
                "2024-hf-inference-with_stream",
                [
                    {
                        "role": "assistant",
                        "tool_calls": {
                            "index": 0,
                            "id": "",
                            "type": "function",
                            "function": {"name": None, "arguments": piece},
                        },
                    }
                    for piece in (wrapped[:9], wrapped[9:30], wrapped[30:])
                ],
                finish="eos_token",
                done=False,
            ),
        ),
    )
    cassette(
        "tool-no-index-no-id",
        (
            body(weather, tools=[WEATHER_TOOL]),
            sse(
                "2025-hf-inference-with_stream",
                [
                    {
                        "role": "assistant",
                        "tool_calls": [
                            {"type": "function", "function": {"name": "get_weather", "arguments": '{"loca'}}
                        ],
                    },
                    {"tool_calls": [{"function": {"arguments": 'tion": "Paris"}'}}]},
                ],
                finish="tool_calls",
            ),
        ),
    )
    cassette(
        "tool-invalid-arguments",
        (
            body(weather, tools=[WEATHER_TOOL]),
            sse(
                "2025-together-with_stream",
                [
                    {
                        "role": "assistant",
                        "tool_calls": [
                            {
                                "index": 0,
                                "id": "call_1",
                                "type": "function",
                                "function": {"name": "get_weather", "arguments": '{"location": Paris'},
                            }
                        ],
                    },
                ],
                finish="tool_calls",
            ),
        ),
    )

    # Structured output.
    schema = {
        "type": "object",
        "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
        "required": ["name", "age"],
    }
    dog = [{"role": "user", "content": "Invent a dog"}]
    json_schema = {"type": "json_schema", "json_schema": {"name": "output", "schema": schema, "strict": True}}
    cassette(
        "schema-stream",
        (
            body(dog, response_format=json_schema),
            sse(
                "2025-novita-with_stream",
                [{"role": "assistant", "content": '{"name": "Rex",'}, {"content": ' "age": 3}'}],
            ),
        ),
    )
    cassette(
        "schema-no-stream",
        (
            body(dog, stream=False, response_format=json_schema),
            answer("2025-cerebras-no_stream", {"role": "assistant", "content": '{"name": "Rex", "age": 3}'}),
        ),
    )
    cassette(
        "json-object",
        (
            body(dog, stream=False, response_format={"type": "json_object"}),
            answer("2025-together-no_stream", {"role": "assistant", "content": '{"name": "Rex"}'}),
        ),
    )
    park = [
        {
            "role": "user",
            "content": MANIFEST["2024-hf-inference-with_response_format"]["request_body"]["messages"][0][
                "content"
            ],
        }
    ]
    tgi_schema = MANIFEST["2024-hf-inference-with_response_format"]["request_body"]["response_format"][
        "value"
    ]
    cassette(
        "grammar-tgi",
        (
            body(
                park,
                stream=False,
                response_format={"type": "json", "value": tgi_schema},
            ),
            recorded("2024-hf-inference-with_response_format"),
        ),
    )
    cassette(
        "regex",
        (
            body(dog, stream=False, response_format={"type": "regex", "value": "(Rex|Fido)"}),
            answer(
                "2024-hf-inference-no_stream", {"role": "assistant", "content": "Rex"}, finish="eos_token"
            ),
        ),
    )

    # Reasoning, in both field names, in <think> tags, and not streamed.
    r1 = "deepseek-ai/DeepSeek-R1"
    riddle = [{"role": "user", "content": "Is 7 prime?"}]
    for name, case, field in (
        ("reasoning-field", "2025-together-with_stream", "reasoning"),
        ("reasoning-content-field", "2025-novita-with_stream", "reasoning_content"),
    ):
        deltas = [
            {"role": "assistant", field: "7 has no divisors"},
            {field: " but 1 and 7."},
            {"content": "Yes."},
        ]
        cassette(name, (body(riddle, model=r1), sse(case, deltas)))
    cassette(
        "reasoning-think-tags",
        (
            body(riddle, model=r1),
            sse(
                "2025-hf-inference-with_stream",
                [
                    {"role": "assistant", "content": "<th"},
                    {"content": "ink>7 has no div"},
                    {"content": "isors but 1 and 7.</th"},
                    {"content": "ink>\n\n"},
                    {"content": "Yes."},
                ],
            ),
        ),
    )
    cassette(
        "reasoning-no-stream",
        (
            body(riddle, model=r1, stream=False, reasoning_effort="high"),
            answer(
                "2025-together-no_stream",
                {"role": "assistant", "content": "Yes.", "reasoning": "7 has no divisors but 1 and 7."},
            ),
        ),
    )

    # What it cost: the provider's own estimate.
    costed = {
        "prompt_tokens": 46,
        "completion_tokens": 3,
        "total_tokens": 49,
        "estimated_cost": 0.0000123,
        "prompt_tokens_details": {"cached_tokens": None},
    }
    cassette(
        "estimated-cost-stream",
        (
            body(question, max_tokens=20),
            sse(
                "2025-novita-with_stream",
                [{"role": "assistant", "content": "Deep learning"}, {"content": "."}],
                usage=costed,
            ),
        ),
    )
    status, headers, raw = recorded("2025-novita-no_stream")
    answer_with_cost = json.loads(raw)
    answer_with_cost["usage"] = costed
    cassette(
        "estimated-cost-no-stream",
        (body(question, stream=False), (status, headers, json.dumps(answer_with_cost).encode())),
    )

    # What it cost at the catalog's prices, and a session of prompts for 'llm hf spend'.
    fetch_catalog = (get(models_url), json_answer(CATALOG))
    cassette(
        "catalog-then-prompts",
        fetch_catalog,
        *hub_search(),
        (body(question, max_tokens=20), recorded("2025-novita-with_stream")),
        (body(question, stream=False), recorded("2025-cerebras-no_stream")),
        (body(question, max_tokens=20), recorded("2025-hf-inference-with_stream")),
        (body(question, max_tokens=20), recorded("2025-together-with_stream")),
    )

    # Log probabilities.
    def logprob(token, value):
        return {
            "token": token,
            "logprob": value,
            "bytes": list(token.encode()),
            "top_logprobs": [{"token": token, "logprob": value, "bytes": list(token.encode())}],
        }

    cassette(
        "logprobs-stream",
        (
            body(riddle, logprobs=True, top_logprobs=1),
            sse(
                "2025-together-with_stream",
                [{"role": "assistant", "content": "Yes"}, {"content": "."}],
                usage={"prompt_tokens": 14, "completion_tokens": 2, "total_tokens": 16},
                logprobs=[logprob("Yes", -0.01), logprob(".", -0.2)],
            ),
        ),
    )
    cassette(
        "logprobs-no-stream",
        (
            body(riddle, stream=False, logprobs=True, top_logprobs=1),
            answer(
                "2025-hf-inference-no_stream",
                {"role": "assistant", "content": "Yes."},
                logprobs={"content": [logprob("Yes", -0.01), logprob(".", -0.2)]},
            ),
        ),
    )

    embedding_cassettes()
    reasoning_tool_chain_cassettes()


# Embeddings: hf-inference's answers are the emb-* recordings as they are; the OpenAI-style answers of
# together and deepinfra take the documented envelope around vectors cut from those recordings.
FEATURE_URL = "https://router.huggingface.co/hf-inference/models/{}/pipeline/feature-extraction"
HI = "Hi, who are you?"


def reasoning_tool_chain_cassettes():
    """A thinking model's tool loop: its reasoning goes back with its tool call, in the field it came in.

    Then a next turn (-c), where the finished loop's reasoning is no longer sent.
    """
    model = "deepseek-ai/DeepSeek-V4-Pro"
    weather = [{"role": "user", "content": "What is the weather in Paris?"}]
    call = tool_call("call_1", "get_weather", '{"location": "Paris"}')
    call_delta = {"tool_calls": [{"index": 0, **call}]}
    result = {"role": "tool", "tool_call_id": "call_1", "content": "Sunny, 21°C"}
    thought, answer_text = "I should look it up.", "It is sunny and 21°C in Paris."
    for field in ("reasoning", "reasoning_content", "think"):
        if field == "think":
            first = [{"role": "assistant", "content": "<think>I should"}, {"content": " look it up.</think>"}]
            called = {"role": "assistant", "content": f"<think>{thought}</think>", "tool_calls": [call]}
            final = [
                {"role": "assistant", "content": "<think>Sunny it is.</think>"},
                {"content": answer_text},
            ]
        else:
            first = [{"role": "assistant", field: "I should"}, {field: " look it up."}]
            called = {"role": "assistant", "tool_calls": [call], field: thought}
            final = [{"role": "assistant", field: "Sunny it is."}, {"content": answer_text}]
        pinned = f"{model}:together"
        cassette(
            f"reasoning-tool-chain-{field}",
            (
                body(weather, model=model, tools=[WEATHER_TOOL]),
                sse("2025-together-with_stream", [*first, call_delta], finish="tool_calls"),
            ),
            (
                body([*weather, called, result], model=pinned, tools=[WEATHER_TOOL]),
                sse("2025-together-with_stream", final),
            ),
            (
                body(
                    [
                        *weather,
                        {"role": "assistant", "tool_calls": [call]},  # a finished loop: no reasoning
                        result,
                        {"role": "assistant", "content": answer_text},
                        {"role": "user", "content": "And in Rome?"},
                    ],
                    model=pinned,
                    tools=[WEATHER_TOOL],
                ),
                sse("2025-together-with_stream", [{"role": "assistant", "content": "I would look it up."}]),
            ),
        )


def openai_embeddings(vectors, model, order):
    """together's /v1/embeddings answer, its items in ``order`` (by index)."""
    data = [{"object": "embedding", "index": i, "embedding": vectors[i]} for i in order]
    body = {"object": "list", "data": data, "model": model, "usage": {"prompt_tokens": 9, "total_tokens": 9}}
    _, headers, _ = json_answer({})
    return 200, headers, json.dumps(body).encode()


def embedding_cassettes():
    minilm = "sentence-transformers/all-MiniLM-L6-v2"
    vector = json.loads(recorded("emb-2023-hf-inference-minilm")[2])
    cassette(
        "emb-minilm",
        ({"inputs": [HI], "truncate": True}, recorded("emb-2023-hf-inference-minilm")),
        url=FEATURE_URL.format(minilm),
    )
    cassette(
        "emb-bart-base",
        ({"inputs": [HI], "truncate": True}, recorded("emb-2025-hf-inference-bart-base")),
        url=FEATURE_URL.format("facebook/bart-base"),
    )
    cassette(
        "emb-bart-base-list",
        ({"inputs": ["Hi", "Hey"], "truncate": True}, recorded("emb-2023-hf-inference-bart-base-list")),
        url=FEATURE_URL.format("facebook/bart-base"),
    )
    cassette(
        "emb-503-then-ok",
        ({"inputs": [HI], "truncate": True}, recorded("emb-2025-hf-inference-503-loading")),
        ({"inputs": [HI], "truncate": True}, recorded("emb-2025-hf-inference-bart-base")),
        url=FEATURE_URL.format("facebook/bart-base"),
    )
    e5 = "intfloat/multilingual-e5-large-instruct"
    three = [vector[0:8], vector[8:16], vector[16:24]]
    cassette(
        "emb-together",
        ({"input": ["a", "b", "c"], "model": e5}, openai_embeddings(three, e5, [2, 0, 1])),
        url="https://router.huggingface.co/together/v1/embeddings",
    )
    cassette(
        "emb-deepinfra",
        ({"input": ["a"], "model": "BAAI/bge-m3"}, openai_embeddings(three[:1], "BAAI/bge-m3", [0])),
        url="https://router.huggingface.co/deepinfra/v1/openai/embeddings",
    )
    speech_cassettes()
    hub_file_cassettes()
    image_cassettes()
    tts_cassettes()
    video_cassettes()


# Speech to text. The fake server in the tests plays these answers and checks the bytes it was sent, so
# the request side here only names the route. hf-inference and fal-ai answers are recorded; together's
# and deepinfra's OpenAI-style transcriptions and replicate's whisper output are in the shapes both
# Hugging Face clients parse, in the envelopes of those providers' recorded answers.
TRANSCRIPT = "A man said to the universe, Sir, I exist."
SEGMENTS = [
    {"id": 0, "seek": 0, "start": 0.0, "end": 2.1, "text": " A man said to the universe,"},
    {"id": 1, "seek": 0, "start": 2.1, "end": 4.08, "text": " Sir, I exist."},
]


def transcription(provider, **extra):
    status, headers, _ = recorded("2025-together-no_stream", provider=False)
    headers = [(n, v) for n, v in headers if n.lower() not in ("content-type", "content-length")]
    headers += [("Content-Type", "application/json"), ("x-inference-provider", provider)]
    return status, headers, json.dumps({"text": TRANSCRIPT, **extra}).encode()


def prediction(status, output, code=201, **extra):
    _, headers, raw = recorded("replicate-2025-prediction-processing")
    data = json.loads(raw)
    data.update(
        id="q0d5j3qv5drma0cmjfcbkd5t3g",
        model="openai/whisper",
        version="8099696689d249cf8b122d833c36ac3f75505c666a395ca40ef26f68e7d3d16e",
        input={"audio": "data:audio/wav;base64,..."},
        status=status,
        output=output,
        **extra,
    )
    return code, headers, json.dumps(data).encode()


def speech_cassettes():
    post = ("POST", "https://router.huggingface.co/{}")
    hf_inference = post[1].format("hf-inference/models/openai/whisper-large-v3")
    cassette("asr-hf-inference", (("POST", hf_inference), recorded("asr-2025-hf-inference-wav2vec2")))
    status, headers, _ = recorded("asr-2025-hf-inference-wav2vec2")
    chunks = {
        "text": TRANSCRIPT,
        "chunks": [{"timestamp": [s["start"], s["end"]], "text": s["text"]} for s in SEGMENTS],
    }
    cassette(
        "asr-hf-inference-timestamps",
        (("POST", hf_inference), (status, headers, json.dumps(chunks).encode())),
    )
    fal = post[1].format("fal-ai/fal-ai/whisper")
    cassette("asr-fal-ai", (("POST", fal), recorded("asr-2025-fal-ai-whisper")))
    cassette("asr-fal-ai-400", (("POST", fal), error(400, {"detail": "Unsupported data URL"}, "fal-ai")))
    together = post[1].format("together/v1/audio/transcriptions")
    verbose = {"task": "transcribe", "language": "english", "duration": 4.08, "segments": SEGMENTS}
    cassette("asr-together", (("POST", together), transcription("together")))
    cassette("asr-together-timestamps", (("POST", together), transcription("together", **verbose)))
    cassette(
        "asr-together-413",
        (("POST", together), error(413, {"error": "Request Entity Too Large"}, "together")),
    )
    deepinfra = post[1].format("deepinfra/v1/openai/audio/transcriptions")
    cassette("asr-deepinfra", (("POST", deepinfra), transcription("deepinfra", **verbose)))
    replicate = post[1].format("replicate/v1/predictions")
    whisper = {
        "segments": SEGMENTS,
        "transcription": TRANSCRIPT,
        "translation": None,
        "txt_file": None,
        "srt_file": None,
        "detected_language": "english",
    }
    poll = ("GET", post[1].format("replicate/v1/predictions/q0d5j3qv5drma0cmjfcbkd5t3g"))
    cassette(
        "asr-replicate",
        (("POST", replicate), prediction("processing", None)),
        (poll, prediction("processing", None, 200)),
        (poll, prediction("succeeded", whisper, 200)),
    )
    failed = prediction("failed", None, error="CUDA out of memory")
    cassette("asr-replicate-failed", (("POST", replicate), failed))
    cassette("asr-replicate-422", (("POST", replicate), recorded("replicate-2025-422")))


# Files from the Hub for -f hf: in the envelope of a recorded huggingface.co answer; the error headers are
# the ones huggingface_hub's hf_raise_for_status reads (X-Error-Code, X-Error-Message).
MODEL_CARD = """---
license: llama3.1
language:
- en
pipeline_tag: text-generation
---

## Model Information

The Meta Llama 3.1 collection of multilingual large language models (LLMs) is a collection of pretrained
and instruction tuned generative models in 8B, 70B and 405B sizes.

**License:** A custom commercial license, the Llama 3.1 Community License, is available at:
https://github.com/meta-llama/llama-models/blob/main/models/llama3_1/LICENSE
"""
DATASET_CARD = """---
license: mit
task_categories:
- text2text-generation
---

# Dataset Card for GSM8K

GSM8K (Grade School Math 8K) is a dataset of 8.5K high quality linguistically diverse grade school math
word problems.
"""
PAPER = """Title: Self-Rewarding Language Models

URL Source: https://arxiv.org/abs/2401.10020

Markdown Content:
# Self-Rewarding Language Models

## Abstract

We posit that to achieve superhuman agents, future models require superhuman feedback.
"""


def hub_envelope(content_type, *extra):
    _, headers, _ = recorded("asr-2025-hub-whisper-mapping")
    drop = ("content-type", "content-length", "etag")
    return [(n, v) for n, v in headers if n.lower() not in drop] + [("Content-Type", content_type), *extra]


def hub_text(text, content_type="text/plain; charset=utf-8"):
    commit = ("X-Repo-Commit", "0e9e39f249a16976918f6564b8830bc894c89659")
    return (
        200,
        hub_envelope(content_type, commit, ("ETag", '"8d0d5b9b3b2ff5a5dbf1a3c7e6f2c4a1d0e9b8c7"')),
        text.encode(),
    )


def hub_error(status, code, message):
    extra = ([("X-Error-Code", code)] if code else []) + [("X-Error-Message", message)]
    return status, hub_envelope("text/plain; charset=utf-8", *extra), message.encode()


def hub_file_cassettes():
    hub = "https://huggingface.co/"
    llama = hub + "meta-llama/Llama-3.1-8B-Instruct/resolve/main/"
    gated = "Access to model meta-llama/Llama-3.1-8B-Instruct is restricted. You must have access to it and be authenticated to access it. Please log in."
    cassette(
        "hub-files",
        (get(llama + "README.md"), hub_text(MODEL_CARD)),
        (get(llama + "config.json"), hub_error(401, "GatedRepo", gated)),
        (
            get(hub + "someone/nothing/resolve/main/README.md"),
            hub_error(401, "RepoNotFound", "Repository not found"),
        ),
        (get(llama + "no/such.py"), hub_error(404, "EntryNotFound", "Entry not found")),
        (
            get(hub + "meta-llama/Llama-3.1-8B-Instruct/resolve/v9/README.md"),
            hub_error(404, "RevisionNotFound", "Invalid rev id: v9"),
        ),
        (get(hub + "papers/2401.10020.md"), hub_text(PAPER, "text/markdown; charset=utf-8")),
        (get(hub + "datasets/openai/gsm8k/resolve/main/README.md"), hub_text(DATASET_CARD)),
    )


# Images. The fake server in the tests plays these answers; the images themselves (which the recordings did
# not keep) are the JPEG inside together's recorded answer, and a WebP made for the tests.
def image_cassettes():
    router = "https://router.huggingface.co"
    cassette(
        "img-fal-ai",
        (("POST", router + "/fal-ai/fal-ai/flux/schnell"), recorded("img-2025-fal-ai-flux-schnell")),
    )
    # fal's queue, in the fields both clients read (request_id, status, response_url), around the recorded result.
    status, headers, result = recorded("img-2025-fal-ai-flux-schnell")
    requests = "https://queue.fal.run/fal-ai/flux/requests/8d5f4f0e-6b39-4c8a-9a3c-3d6f1f6bd1aa"
    ticket = {"status": "IN_QUEUE", "request_id": requests.rsplit("/", 1)[1], "response_url": requests}
    job = router + "/fal-ai/fal-ai/flux/requests/" + ticket["request_id"]
    cassette(
        "img-fal-ai-queue",
        (("POST", router + "/fal-ai/fal-ai/flux/schnell"), (status, headers, json.dumps(ticket).encode())),
        (("GET", job + "/status?_subdomain=queue"), (status, headers, b'{"status": "IN_PROGRESS"}')),
        (("GET", job + "/status?_subdomain=queue"), (status, headers, b'{"status": "COMPLETED"}')),
        (("GET", job + "?_subdomain=queue"), (status, headers, result)),
    )
    together = router + "/together/v1/images/generations"
    cassette("img-together", (("POST", together), recorded("img-2025-together-sdxl")))
    cassette("img-together-400", (("POST", together), recorded("img-2025-together-400")))
    _, headers, raw = recorded("img-2025-together-sdxl")
    nscale = json.dumps(
        {"created": 1736421960, "data": [{"b64_json": json.loads(raw)["data"][0]["b64_json"]}]}
    )
    cassette(
        "img-nscale", (("POST", router + "/nscale/v1/images/generations"), (200, headers, nscale.encode()))
    )
    status, headers, raw = recorded("img-2025-replicate-flux-schnell")
    started = json.loads(raw)
    waiting = {**started, "output": None, "status": "starting"}
    done = {**started, "status": "succeeded"}
    poll = ("GET", f"{router}/replicate/v1/predictions/{started['id']}")
    route = router + "/replicate/v1/models/black-forest-labs/flux-schnell/predictions"
    cassette("img-replicate", (("POST", route), (status, headers, raw)))
    cassette(
        "img-replicate-poll",
        (("POST", route), (status, headers, json.dumps(waiting).encode())),
        (poll, (200, headers, json.dumps(done).encode())),
    )


def tts_cassettes():
    router = "https://router.huggingface.co"
    # replicate's Kokoro prediction as recorded (its output already there while "processing"), on the
    # versioned route the Hub's providerId names; and the same prediction followed from "starting".
    status, headers, raw = recorded("tts-2025-replicate-kokoro")
    started = json.loads(raw)
    route = router + "/replicate/v1/predictions"
    cassette("tts-replicate", (("POST", route), (status, headers, raw)))
    poll = ("GET", f"{router}/replicate/v1/predictions/{started['id']}")
    cassette(
        "tts-replicate-poll",
        (
            ("POST", route),
            (status, headers, json.dumps({**started, "output": None, "status": "starting"}).encode()),
        ),
        (poll, (200, headers, json.dumps({**started, "status": "succeeded"}).encode())),
    )
    # fal's text-to-speech answer, in the shape both clients read ({"audio": {"url"}}), in fal's recorded
    # envelope; the URL on fal's CDN as its video answers have them.
    _, headers, _ = recorded("img-2025-fal-ai-flux-schnell")
    audio = {
        "audio": {
            "url": "https://v3.fal.media/files/koala/kokoro_output_1738056610.wav",
            "content_type": "audio/wav",
            "file_name": "kokoro_output_1738056610.wav",
            "file_size": 44,
        }
    }
    cassette(
        "tts-fal-ai",
        (
            ("POST", router + "/fal-ai/fal-ai/kokoro/american-english"),
            (200, headers, json.dumps(audio).encode()),
        ),
    )


def video_cassettes():
    router = "https://router.huggingface.co"
    # fal's queue around the recorded LTX-Video result: the ticket and statuses in the fields both clients
    # read (request_id, status, queue_position, response_url), in fal's recorded envelope.
    status, headers, result = recorded("vid-2025-fal-ai-ltx-video")
    requests = "https://queue.fal.run/fal-ai/ltx-video/requests/5c1f2a9e-7d4b-4f0a-9e51-2b8d6c3a7f10"
    ident = requests.rsplit("/", 1)[1]
    ticket = {"status": "IN_QUEUE", "request_id": ident, "response_url": requests, "queue_position": 2}
    job = router + "/fal-ai/fal-ai/ltx-video/requests/" + ident
    cassette(
        "vid-fal-ai-queue",
        (
            ("POST", router + "/fal-ai/fal-ai/ltx-video?_subdomain=queue"),
            (status, headers, json.dumps(ticket).encode()),
        ),
        (("GET", job + "/status?_subdomain=queue"), (status, headers, b'{"status": "IN_PROGRESS"}')),
        (("GET", job + "/status?_subdomain=queue"), (status, headers, b'{"status": "COMPLETED"}')),
        (("GET", job + "?_subdomain=queue"), (status, headers, result)),
    )
    # replicate's Mochi prediction as recorded: "processing", its output already there.
    status, headers, raw = recorded("vid-2025-replicate-mochi")
    cassette("vid-replicate", (("POST", router + "/replicate/v1/predictions"), (status, headers, raw)))
    # Not recorded by either client: wavespeed's, together's and novita's jobs in the shapes both parse.
    wavespeed = router + "/wavespeed/api/v3/predictions/ws-7f3a/result"
    cassette(
        "vid-wavespeed",
        (
            ("POST", router + "/wavespeed/api/v3/wavespeed-ai/wan-2.1/t2v-480p"),
            json_answer(
                {
                    "code": 200,
                    "data": {
                        "id": "ws-7f3a",
                        "status": "created",
                        "urls": {"get": wavespeed.replace(router + "/wavespeed", "https://api.wavespeed.ai")},
                    },
                }
            ),
        ),
        (
            ("GET", wavespeed),
            json_answer({"code": 200, "data": {"id": "ws-7f3a", "status": "processing", "outputs": []}}),
        ),
        (
            ("GET", wavespeed),
            json_answer(
                {
                    "code": 200,
                    "data": {
                        "id": "ws-7f3a",
                        "status": "completed",
                        "outputs": ["https://d1q70pf5vjeyhc.cloudfront.net/predictions/ws-7f3a/1.mp4"],
                    },
                }
            ),
        ),
    )
    together = router + "/together/v2/videos"
    cassette(
        "vid-together",
        (("POST", together), json_answer({"id": "tv-1e2d", "object": "video", "status": "queued"})),
        (("GET", together + "/tv-1e2d"), json_answer({"id": "tv-1e2d", "status": "in_progress"})),
        (
            ("GET", together + "/tv-1e2d"),
            json_answer(
                {
                    "id": "tv-1e2d",
                    "status": "completed",
                    "outputs": {"video_url": "https://api.together.ai/shrt/tv-1e2d.mp4", "cost": 0.2},
                }
            ),
        ),
    )
    novita = router + "/novita/v3/async/task-result?task_id=nv-9b8c"
    cassette(
        "vid-novita",
        (("POST", router + "/novita/v3/async/wan-t2v"), json_answer({"task_id": "nv-9b8c"})),
        (
            ("GET", novita),
            json_answer(
                {
                    "task": {
                        "task_id": "nv-9b8c",
                        "status": "TASK_STATUS_PROCESSING",
                        "progress_percent": 40,
                    },
                    "videos": [],
                }
            ),
        ),
        (
            ("GET", novita),
            json_answer(
                {
                    "task": {"task_id": "nv-9b8c", "status": "TASK_STATUS_SUCCEED"},
                    "videos": [
                        {
                            "video_url": "https://faas-output-video.s3.ap-southeast-1.amazonaws.com/nv-9b8c.mp4",
                            "video_url_ttl": "3600",
                            "video_type": "mp4",
                        }
                    ],
                }
            ),
        ),
    )


if __name__ == "__main__":
    main()
