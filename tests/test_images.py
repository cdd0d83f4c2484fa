"""Images: each provider's request as a stand-in router receives it, its recorded answer, the image saved by
what its bytes are (never over a file, never partial), result URLs fetched without the token, the tool."""

import base64
import errno
import io
import json
import os
import pathlib
import re

import llm
import pytest

import llm_hf_inference
from conftest import TEST_TOKEN
from fakeserver import SEARCH, Answer, recorded, recorded_headers
from helpers import LOCAL, POSIX, PROVIDER_OPTIONS_LISTED, invoke, listed_options, logged_turns

pytestmark = LOCAL

ROOT = pathlib.Path(__file__).resolve().parent
FLUX = "black-forest-labs/FLUX.1-schnell"
HF_INFERENCE = f"/hf-inference/models/{FLUX}"
FAL = "/fal-ai/fal-ai/flux/schnell"
TOGETHER = "/together/v1/images/generations"
NSCALE = "/nscale/v1/images/generations"
REPLICATE = "/replicate/v1/models/black-forest-labs/flux-schnell/predictions"
JPEG = base64.b64decode(
    json.loads(recorded("img-together").body)["data"][0]["b64_json"]
)  # together's, recorded
WEBP = b"RIFF\x1a\x00\x00\x00WEBPVP8L\x0d\x00\x00\x00\x2f\x00\x00\x00\x10\x07\x10\x11\x11\x88\x88\xfe\x07\x00"


def draw(*args):
    return invoke("-m", "hf-flux", *args)


def cdn_answer(case, body):
    return lambda seen: Answer(200, recorded_headers(case), body)


def with_cdn(answer, cdn, field):
    """A recorded answer whose result URL points at the stand-in CDN (same path)."""
    data = json.loads(answer.body)
    path = "/" + field(data).split("/", 3)[3]
    return (
        data,
        path,
        Answer(answer.status, answer.headers, json.dumps(_replace(data, field, cdn.url + path)).encode()),
    )


def _replace(data, field, url):
    if "images" in data:
        data["images"][0]["url"] = url
    else:
        data["output"] = [url]
    return data


# -- each provider


def test_hf_inference_answers_the_bytes(router, here):
    server = router(
        {
            f"POST {HF_INFERENCE}": lambda seen: Answer(
                200, recorded_headers("img-2025-hf-inference-sd2"), JPEG
            )
        }
    )
    result = draw("a red fox in snow", "-o", "width", "1024", "-o", "height", "768", "-o", "seed", "7")
    assert (result.exit_code, result.output) == (0, "a-red-fox-in-snow.jpg\n")
    assert (here / "a-red-fox-in-snow.jpg").read_bytes() == JPEG
    assert json.loads(server.seen[0].body) == {
        "inputs": "a red fox in snow",
        "parameters": {"width": 1024, "height": 768, "seed": 7},
    }
    assert server.seen[0].headers["Authorization"] == f"Bearer {TEST_TOKEN}"
    logged = json.loads(logged_turns()[0]["response_json"])
    assert type(logged.pop("seconds")) is float  # from sending it to its result
    assert logged == {
        "provider": "hf-inference",
        "path": str(here / "a-red-fox-in-snow.jpg"),
        "type": "image/jpeg",
        "bytes": len(JPEG),
        "width": 1024,  # from the JPEG's header
        "height": 1024,
    }


def test_fal_gives_a_png_link_to_a_jpeg_fetched_without_the_token(router, fake, here):
    cdn = fake({})
    data, path, answer = with_cdn(recorded("img-fal-ai"), cdn, lambda d: d["images"][0]["url"])
    cdn.routes[f"GET {path}"] = cdn_answer("img-2025-fal-media", JPEG)
    server = router({f"POST {FAL}": lambda seen: answer})
    args = ["-o", "provider", "fal-ai", "-o", "width", "1024", "-o", "height", "768", "-o", "steps", "4"]
    result = draw("a red fox", *args, "-o", "guidance", "3.5", "-o", "negative_prompt", "blur")
    assert (result.exit_code, result.output) == (
        0,
        "a-red-fox.jpg\n",
    )  # the bytes are JPEG, whatever the link says
    assert json.loads(server.seen[0].body) == {
        "prompt": "a red fox",
        "num_inference_steps": 4,
        "guidance_scale": 3.5,
        "negative_prompt": "blur",
        "image_size": {"width": 1024, "height": 768},
    }
    assert "Authorization" not in cdn.seen[0].headers
    logged = json.loads(logged_turns()[0]["response_json"])
    assert (logged["seed"], logged["url"]) == (2463045738, cdn.url + path)


def fal_flagging(router, fake, flags: list) -> None:
    """fal's recorded answer (it says [false]) with these NSFW flags, its image on a stand-in CDN."""
    cdn = fake({})
    data, path, answer = with_cdn(recorded("img-fal-ai"), cdn, lambda d: d["images"][0]["url"])
    data["has_nsfw_concepts"] = flags
    cdn.routes[f"GET {path}"] = cdn_answer("img-2025-fal-media", JPEG)
    router({f"POST {FAL}": lambda seen: Answer(200, answer.headers, json.dumps(data).encode())})


@pytest.mark.parametrize("flags", [[False], [True], [False, True]])
def test_an_image_fal_flags_as_nsfw_is_saved_and_said_to_be_maybe_blank(flags, router, fake, here):
    fal_flagging(router, fake, flags)
    result = draw("a red fox", "-o", "provider", "fal-ai")
    flagged = True in flags
    said = "llm-hf-inference: fal-ai's safety checker flagged the result as not safe for work: a-red-fox.jpg may be blank\n"
    assert (result.exit_code, result.stdout, result.stderr) == (0, "a-red-fox.jpg\n", said if flagged else "")
    assert (here / "a-red-fox.jpg").read_bytes() == JPEG
    assert json.loads(logged_turns()[0]["response_json"]).get("nsfw") is (True if flagged else None)


@pytest.mark.parametrize(
    "final, flagged",
    [
        # wavespeed's, as huggingface.js reads it
        ({"data": {"outputs": ["u"], "has_nsfw_contents": [True]}}, True),
        ({"data": {"outputs": ["u"], "has_nsfw_contents": [False]}}, False),
        ({"has_nsfw_concepts": [1]}, False),  # a flag is a boolean
        ({"has_nsfw_concepts": True}, False),  # a list of them
        (b"\x89PNG", False),  # hf-inference: the image itself
        (None, False),
    ],
)
def test_only_a_true_flag_of_a_result_is_nsfw(final, flagged):
    assert llm_hf_inference.flagged(final) is flagged


@pytest.mark.parametrize(
    "provider, route, body",
    [
        (
            "together",
            TOGETHER,
            {
                "prompt": "a red fox",
                "response_format": "base64",
                "width": 512,
                "height": 512,
                "steps": 4,
                "model": FLUX,
            },
        ),
        (
            "nscale",
            NSCALE,
            {"response_format": "b64_json", "prompt": "a red fox", "model": FLUX, "size": "512x512"},
        ),
    ],
)
def test_base64_answers(provider, route, body, router, here):
    server = router({f"POST {route}": lambda seen: recorded(f"img-{provider}")})
    args = ["-o", "provider", provider, "-o", "width", "512", "-o", "height", "512"]
    result = draw("a red fox", *args, *(["-o", "steps", "4"] if provider == "together" else []))
    assert (result.exit_code, result.output) == (0, "a-red-fox.jpg\n")
    assert json.loads(server.seen[0].body) == body
    assert (here / "a-red-fox.jpg").read_bytes() == JPEG


def test_replicate_output_while_processing_is_the_image(router, fake, here):
    cdn = fake({})
    _, path, answer = with_cdn(recorded("img-replicate"), cdn, lambda d: d["output"][0])
    cdn.routes[f"GET {path}"] = cdn_answer("img-2025-replicate-delivery", WEBP)
    server = router({f"POST {REPLICATE}": lambda seen: answer})
    result = draw("a red fox", "-o", "provider", "replicate", "-o", "seed", "1")
    assert (result.exit_code, result.output) == (0, "a-red-fox.webp\n")
    assert json.loads(server.seen[0].body) == {"input": {"prompt": "a red fox", "seed": 1}}
    assert server.seen[0].headers["Prefer"] == "wait"
    assert "Authorization" not in cdn.seen[0].headers


def test_replicate_polled_to_its_end_with_progress(router, fake, here, monkeypatch):
    cdn = fake({})
    done = recorded("img-replicate-poll", 1)
    _, path, done = with_cdn(done, cdn, lambda d: d["output"][0])
    cdn.routes[f"GET {path}"] = cdn_answer("img-2025-replicate-delivery", WEBP)
    prediction = "/replicate/v1/predictions/tqsn7eq3kxrma0cmjfcbkd5t3g"
    server = router(
        {
            f"POST {REPLICATE}": lambda seen: recorded("img-replicate-poll"),
            f"GET {prediction}": lambda seen: done,
        }
    )
    clock = [0.0]
    monkeypatch.setattr(llm_hf_inference.time, "monotonic", lambda: clock[0])
    monkeypatch.setattr(llm_hf_inference, "sleep", lambda seconds: clock.__setitem__(0, clock[0] + 11))
    result = draw("a red fox", "-o", "provider", "replicate")
    assert (result.exit_code, result.stdout) == (0, "a-red-fox.webp\n")
    assert server.paths() == [REPLICATE, prediction]
    assert server.seen[1].headers["Authorization"] == f"Bearer {TEST_TOKEN}"


# -- saving


def test_a_name_taken_gets_the_next_and_nothing_is_left_behind(router, here):
    router({f"POST {HF_INFERENCE}": lambda seen: Answer(200, {"Content-Type": "image/jpeg"}, JPEG)})
    (here / "a-fox.jpg").write_bytes(b"mine")
    assert [draw("a fox").output for _ in range(2)] == ["a-fox-2.jpg\n", "a-fox-3.jpg\n"]
    assert (here / "a-fox.jpg").read_bytes() == b"mine"
    assert sorted(p.name for p in here.iterdir()) == ["a-fox-2.jpg", "a-fox-3.jpg", "a-fox.jpg"]


def test_save_to_a_file_follows_the_bytes_and_never_replaces_one(router, here):
    router({f"POST {HF_INFERENCE}": lambda seen: Answer(200, {"Content-Type": "image/png"}, JPEG)})
    assert draw("a fox", "-o", "save", "fox.png").output == "fox.jpg\n"
    result = draw("a fox", "-o", "save", "fox.png")
    assert (result.exit_code, result.stderr) == (
        1,
        "Error: fox.jpg exists; not overwritten (choose another -o save)\n",
    )
    (here / "out").mkdir()
    assert draw("a fox", "-o", "save", "out").output == f"{pathlib.Path('out', 'a-fox.jpg')}\n"
    assert sorted(p.name for p in here.iterdir()) == ["fox.jpg", "out"]


def test_an_answer_that_is_no_image_is_one_line(router, here):
    router({f"POST {HF_INFERENCE}": lambda seen: Answer.json({"unexpected": True})})
    result = draw("a fox")
    assert (
        result.stderr
        == 'Error: hf-inference answered with something that is not an image: {"unexpected": true}\n'
    )
    assert list(here.iterdir()) == []


@pytest.mark.parametrize("provider, route", [("together", TOGETHER), ("nscale", NSCALE)])
def test_base64_that_is_not_base64_is_no_image(provider, route, router, here):
    data = json.loads(recorded("img-together").body)
    data["data"][0]["b64_json"] = "not base64!"
    router({f"POST {route}": lambda seen: Answer.json(data)})
    result = draw("a fox", "-o", "provider", provider)
    assert result.stderr == (
        f"Error: {provider} answered with something that is not an image: {llm_hf_inference.excerpt(data)}\n"
    )
    assert list(here.iterdir()) == []


def test_a_providers_refusal_shows_its_words(router, here):
    router({f"POST {TOGETHER}": lambda seen: recorded("img-together-400")})
    result = draw("a fox", "-o", "provider", "together")
    assert result.stderr == (
        "Error: 127.0.0.1 answered 400: Invalid request (the text sent: 5 characters); other providers of "
        f"{FLUX}: hf-inference, fal-ai, replicate, nscale (-o provider NAME)\n"
    )


# -- refused before any request


@pytest.mark.parametrize(
    "args, message",
    [
        (["a fox", "-o", "width", "512"], "Error: Give -o width and -o height together\n"),
        (
            ["a fox", "-o", "provider", "nscale", "-o", "steps", "4"],
            "Error: nscale takes no -o steps for black-forest-labs/FLUX.1-schnell; choose -o provider hf-inference or fal-ai or together or replicate\n",
        ),
        (
            ["a fox", "-o", "provider", "groq"],
            "Error: black-forest-labs/FLUX.1-schnell is not served by groq for images; its providers: hf-inference, fal-ai, together, replicate, nscale\n",
        ),
        (["   "], 'Error: Say what to draw: llm -m MODEL "a red fox in snow"\n'),
    ],
)
def test_what_cannot_be_drawn_is_refused_before_any_request(args, message, router, here):
    server = router({})
    result = draw(*args)
    assert (result.exit_code, result.stderr, server.seen) == (1, message, [])


def test_an_input_image_needs_an_image_to_image_provider(router, here):
    server = router({})
    photo = here / "fox.jpg"
    photo.write_bytes(JPEG)
    result = draw("as a watercolour", "-a", str(photo))
    assert "This model does not support attachments" in result.output  # its providers draw from text alone
    assert llm.get_model("hf-flux").attachment_types == frozenset()
    assert server.seen == []


# -- the tool


def test_a_chat_model_can_draw_with_the_tool(router, here):
    router({f"POST {HF_INFERENCE}": lambda seen: Answer(200, {"Content-Type": "image/jpeg"}, JPEG)})
    tool = llm_hf_inference.HFImages(directory=str(here))
    drawn = tool.draw("a lighthouse at dusk", 512, 512)
    assert drawn.output == str(here / "a-lighthouse-at-dusk.jpg")
    assert [(a.path, a.resolve_type()) for a in drawn.attachments] == [(drawn.output, "image/jpeg")]
    assert "HFImages" in llm.get_tools() and "HFSpeak" in llm.get_tools()


def test_the_tool_tells_the_model_of_an_image_flagged_as_nsfw(router, fake, here):
    fal_flagging(router, fake, [True])
    registered("o/m", ("fal-ai", "fal-ai/flux/schnell"))
    drawn = llm_hf_inference.HFImages("hf/o/m", str(here)).draw("a red fox", 512, 512)
    assert drawn.output == (
        f"{here / 'a-red-fox.jpg'} (the provider flagged it as not safe for work: it may be blank)"
    )
    assert [a.path for a in drawn.attachments] == [str(here / "a-red-fox.jpg")]


@pytest.mark.parametrize("model, sees", [("hf-llama3.1", False), ("hf-gemma4", True)])
def test_a_chat_model_draws_through_llm_tools_and_gets_the_path_back(model, sees, router, here):
    call = {
        "id": "call_1",
        "type": "function",
        "function": {"name": "HFImages_draw", "arguments": '{"prompt": "a lighthouse at dusk"}'},
    }
    answers = iter(
        [
            Answer.json(
                {
                    "choices": [
                        {
                            "message": {"role": "assistant", "content": None, "tool_calls": [call]},
                            "finish_reason": "tool_calls",
                        }
                    ]
                }
            ),
            Answer.json(
                {"choices": [{"message": {"role": "assistant", "content": "Done."}, "finish_reason": "stop"}]}
            ),
        ]
    )
    server = router(
        {
            "POST /v1/chat/completions": lambda seen: next(answers),
            f"POST {HF_INFERENCE}": lambda seen: Answer(200, {"Content-Type": "image/jpeg"}, JPEG),
        }
    )
    result = invoke("-m", model, "--no-stream", "-T", "HFImages", "draw a lighthouse at dusk")
    assert (result.exit_code, result.stdout) == (0, "Done.\n")
    image, second = server.seen[1], server.seen[2]
    assert json.loads(image.body) == {
        "inputs": "a lighthouse at dusk",
        "parameters": {"width": 1024, "height": 1024},
    }
    # the path back to the model, and the image attached for a model that sees what it drew (one that takes
    # no images would refuse the request)
    url = "data:image/jpeg;base64," + base64.b64encode(JPEG).decode()
    attached = [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": url}}]}]
    assert json.loads(second.body)["messages"][1:] == [
        {"role": "assistant", "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "call_1", "content": "a-lighthouse-at-dusk.jpg"},
        *(attached if sees else []),
    ]
    assert (here / "a-lighthouse-at-dusk.jpg").read_bytes() == JPEG


@pytest.fixture
def kontext():
    """The Hub's image models as 'llm hf refresh' stored them (the catalog cassette's pages)."""
    pages = [
        recorded("catalog", uri=f"pipeline_tag={tag}{SEARCH}") for tag in ("text-to-image", "image-to-image")
    ]
    items = [item for page in pages for item in json.loads(page.body)]
    llm_hf_inference.store_discovered(llm_hf_inference.IMAGES, items)


def test_refresh_finds_the_image_models_providers_serve(kontext):
    assert llm_hf_inference.discovered_rows(llm_hf_inference.IMAGES)[
        "hf/black-forest-labs/FLUX.1-schnell"
    ] == (
        "fal-ai=fal-ai/flux/schnell=text-to-image,hf-inference=black-forest-labs/FLUX.1-schnell=text-to-image,"
        "replicate=black-forest-labs/flux-schnell=text-to-image,"
        "together=black-forest-labs/FLUX.1-schnell-Free=text-to-image,nscale=black-forest-labs/FLUX.1-schnell=text-to-image"
    )
    assert invoke("hf", "models", "--images", "-q", "kontext").output == (
        "model                                 providers                                   status\n"
        "black-forest-labs/FLUX.1-Kontext-dev  fal-ai, replicate, wavespeed, fireworks-ai  live, live, live, live\n"
    )
    spec = llm.get_model("hf/black-forest-labs/FLUX.1-Kontext-dev").spec
    providers = [provider for provider, _, _ in spec.providers]
    assert providers == ["fal-ai", "replicate", "wavespeed"]  # fireworks-ai: no known route


def test_an_input_image_goes_to_a_provider_that_takes_one(router, fake, here, kontext):
    cdn = fake({})
    data, path, answer = with_cdn(recorded("img-fal-ai"), cdn, lambda d: d["images"][0]["url"])
    cdn.routes[f"GET {path}"] = cdn_answer("img-2025-fal-media", JPEG)
    data["seed"] = 2**70  # seeds can pass 64 bits
    answer.body = json.dumps(data).encode()
    server = router({"POST /fal-ai/fal-ai/flux-kontext/dev": lambda seen: answer})
    photo = here / "fox.jpg"
    photo.write_bytes(JPEG)
    result = invoke("-m", "hf/black-forest-labs/FLUX.1-Kontext-dev", "as a watercolour", "-a", str(photo))
    assert (result.exit_code, result.stdout) == (0, "as-a-watercolour.jpg\n")
    url = "data:image/jpeg;base64," + base64.b64encode(JPEG).decode()
    assert json.loads(server.seen[0].body) == {
        "prompt": "as a watercolour",
        "image_url": url,
        "image_urls": [url],
    }
    assert json.loads(logged_turns()[0]["response_json"])["seed"] == 2**70


def test_the_async_model_draws_too(router, here):
    router({f"POST {HF_INFERENCE}": lambda seen: Answer(200, {"Content-Type": "image/png"}, WEBP)})

    async def go():
        response = llm.get_async_model("hf-flux").prompt("a fox")
        return await response.text()

    import asyncio

    assert asyncio.run(go()) == "a-fox.webp"
    assert (here / "a-fox.webp").read_bytes() == WEBP


def test_a_job_fal_queued_is_followed_to_its_result(router, fake, here, monkeypatch):
    cdn = fake({})
    _, path, result = with_cdn(recorded("img-fal-ai-queue", 3), cdn, lambda d: d["images"][0]["url"])
    cdn.routes[f"GET {path}"] = cdn_answer("img-2025-fal-media", JPEG)
    job = "/fal-ai/fal-ai/flux/requests/8d5f4f0e-6b39-4c8a-9a3c-3d6f1f6bd1aa"
    statuses = iter([recorded("img-fal-ai-queue", 1), recorded("img-fal-ai-queue", 2)])
    server = router(
        {
            f"POST {FAL}": lambda seen: recorded("img-fal-ai-queue"),
            f"GET {job}/status": lambda seen: next(statuses),
            f"GET {job}": lambda seen: result,
        }
    )
    monkeypatch.setattr(llm_hf_inference, "sleep", lambda seconds: None)
    result = draw("a red fox", "-o", "provider", "fal-ai")
    assert (result.exit_code, result.stdout) == (0, "a-red-fox.jpg\n")
    assert server.paths() == [
        FAL,
        f"{job}/status?_subdomain=queue",
        f"{job}/status?_subdomain=queue",
        f"{job}?_subdomain=queue",
    ]
    assert all(seen.headers["Authorization"] == f"Bearer {TEST_TOKEN}" for seen in server.seen)
    assert "Authorization" not in cdn.seen[0].headers


@pytest.mark.parametrize("cancelled", [True, False])
def test_ctrl_c_while_waiting_cancels_the_prediction_and_saves_nothing(router, here, monkeypatch, cancelled):
    started = recorded("img-replicate-poll")
    ident = json.loads(started.body)["id"]
    stop = f"POST /replicate/v1/predictions/{ident}/cancel"
    server = router(
        {
            f"POST {REPLICATE}": lambda seen: started,
            **({stop: lambda seen: Answer.json({})} if cancelled else {}),
        }
    )

    def interrupted(seconds):
        raise KeyboardInterrupt

    monkeypatch.setattr(llm_hf_inference, "sleep", interrupted)
    result = draw("a red fox", "-o", "provider", "replicate")
    where = f"{server.url}/replicate/v1/predictions/{ident}"
    said = (
        "is cancelled"
        if cancelled
        else f"may go on: asking it to stop failed (127.0.0.1 answered 404); its result: {where}"
    )
    assert (
        (result.exit_code, result.stderr)
        == (
            1,
            f"llm-hf-inference: replicate's prediction {ident} {said}\n\nAborted!\n",  # then click's words for Ctrl-C
        )
    )
    assert server.seen[1].path == f"/replicate/v1/predictions/{ident}/cancel"
    assert server.seen[1].headers["Authorization"] == f"Bearer {TEST_TOKEN}"
    assert list(here.iterdir()) == []


# -- what is refused, exactly (options, answers, names)


def test_the_options_as_llm_lists_them():
    assert listed_options("FLUX.1-schnell") == (
        PROVIDER_OPTIONS_LISTED + "    width: int\n"
        "      Width in pixels\n"
        "    height: int\n"
        "      Height in pixels\n"
        "    steps: int\n"
        "      Denoising steps\n"
        "    guidance: float\n"
        "      How closely to follow the prompt (guidance scale)\n"
        "    seed: int\n"
        "      Random seed, for a repeatable image\n"
        "    negative_prompt: str\n"
        "      What the image should not show\n"
        "    lora_scale: float\n"
        "      How strongly a LoRA adapter applies (default 1; a LoRA's models only)\n"
        "    save: str\n"
        "      Where to save: a file, or a directory (default: the prompt's words,\n"
        "      here)\n"
    )


@pytest.mark.parametrize(
    "option, value, refused",
    [
        ("width", "63", True),
        ("width", "4097", True),
        ("steps", "0", True),
        ("steps", "201", True),
        ("guidance", "50.5", True),
        ("seed", "-1", True),
        ("retries", "11", True),
        ("provider", "Fal-AI", True),
        ("steps", "200", False),
        ("steps", "1", False),
        ("guidance", "50", False),
        ("seed", "0", False),
        ("retries", "10", False),
        ("retries", "0", False),
        ("timeout", "0", True),
        ("timeout", "0.5", False),
        ("timeout", "86400", False),
        ("timeout", "86401", True),
        ("timeout", "1e308", True),
        ("guidance", "nan", True),
        ("guidance", "inf", True),
    ],
)
def test_option_bounds(option, value, refused, router, here):
    server = router({f"POST {HF_INFERENCE}": lambda seen: Answer(200, {"Content-Type": "image/jpeg"}, JPEG)})
    result = draw("a fox", "-o", option, value)
    assert (result.exit_code, len(server.seen)) == ((1, 0) if refused else (0, 1))
    if option == "provider":
        assert "a lower-case provider name (hf-inference, fal-ai, ...)" in result.output
    if value in ("nan", "inf"):
        assert "Input should be a finite number" in result.output


def test_the_smallest_and_largest_sizes_are_taken(router, here):
    server = router({f"POST {HF_INFERENCE}": lambda seen: Answer(200, {"Content-Type": "image/jpeg"}, JPEG)})
    assert draw("a fox", "-o", "width", "64", "-o", "height", "4096").exit_code == 0
    assert json.loads(server.seen[0].body)["parameters"] == {"width": 64, "height": 4096}


@pytest.mark.parametrize(
    "data, found",
    [
        (JPEG, (".jpg", "image/jpeg")),
        (WEBP, (".webp", "image/webp")),
        (b"\x89PNG\r\n\x1a\n\x00\x00", (".png", "image/png")),
        (b"GIF89a\x01\x00", (".gif", "image/gif")),
        (b"RIFF\x1a\x00\x00\x00WAVEfmt ", None),  # a RIFF that is no WebP
        (b"<html>", None),
    ],
)
def test_the_bytes_say_the_type(data, found):
    assert llm_hf_inference.media_type(data, "image") == found


@pytest.mark.parametrize(
    "answer, message",
    [
        (
            Answer(200, {"Content-Type": "image/png"}, b"not really"),
            "Error: hf-inference sent 10 bytes that are not an image: not really\n",
        ),
        (
            Answer.json({"data": [{"b64_json": "!!!"}]}),
            'Error: hf-inference answered with something that is not an image: {"data": [{"b64_json": "!!!"}]}\n',
        ),
        (
            Answer(200, {}, b"\xfe\xff<html>"),
            "Error: hf-inference sent 8 bytes that are not an image\n",  # no mojibake
        ),
    ],
)
def test_answers_that_are_no_image_are_one_line(answer, message, router, here):
    router({f"POST {HF_INFERENCE}": lambda seen: answer})
    result = draw("a fox")
    assert (result.exit_code, result.stderr) == (1, message)
    assert list(here.iterdir()) == []


def test_an_image_labelled_as_json_is_saved_by_its_bytes(router, here):
    router({f"POST {HF_INFERENCE}": lambda seen: Answer(200, {"Content-Type": "application/json"}, JPEG)})
    result = draw("a fox")
    assert (result.exit_code, result.output) == (0, "a-fox.jpg\n")
    assert (here / "a-fox.jpg").read_bytes() == JPEG


def test_a_poll_that_is_not_json_is_one_line(router, here, monkeypatch):
    prediction = "/replicate/v1/predictions/tqsn7eq3kxrma0cmjfcbkd5t3g"
    server = router(
        {
            f"POST {REPLICATE}": lambda seen: recorded("img-replicate-poll"),
            f"GET {prediction}": lambda seen: Answer(200, {"Content-Type": "text/html"}, b"<html>"),
        }
    )
    monkeypatch.setattr(llm_hf_inference, "sleep", lambda seconds: None)
    result = draw("a fox", "-o", "provider", "replicate")
    said = result.stderr.splitlines()
    assert said[-1] == (
        f"Error: 127.0.0.1 answered {server.url}{prediction} with something that is not a JSON object; "
        f"replicate's prediction tqsn7eq3kxrma0cmjfcbkd5t3g may still finish (it is looked at {server.url}{prediction})"
    )
    # asked again as after a 503, within the job's time: a gateway's page is not the job's end
    assert said[0].startswith(
        "llm-hf-inference: 127.0.0.1 answered with something that is not JSON, retrying in "
    )
    assert len(server.paths("GET")) == 1 + llm_hf_inference.retries_within(600)


def test_replicate_reports_its_url_and_usage_its_provider(router, fake, here):
    cdn = fake({})
    _, path, answer = with_cdn(recorded("img-replicate"), cdn, lambda d: d["output"][0])
    cdn.routes[f"GET {path}"] = cdn_answer("img-2025-replicate-delivery", WEBP)
    router({f"POST {REPLICATE}": lambda seen: answer})
    result = draw("a fox", "-o", "provider", "replicate", "-u")
    assert result.stderr == 'Token usage: {"provider": "replicate"}\n'
    logged = json.loads(logged_turns()[0]["response_json"])
    assert (logged["url"], logged["job"]) == (cdn.url + path, json.loads(answer.body)["id"])
    assert (here / "a-fox.webp").read_bytes() == WEBP  # written as it arrived, as audio and video are


@pytest.mark.parametrize("url", ["ftp://cdn.example.com/out.png", None, [], "https://[cdn/out.png"])
def test_a_result_url_that_is_no_web_address_is_refused(url):
    request = llm_hf_inference.HFRequest("https://router.huggingface.co/x", "images")
    said = "no result URL" if url is None or url == [] else "a result URL that is not http(s), not fetched"
    with pytest.raises(llm.ModelError, match=rf"^The provider gave {re.escape(said)}: "):
        llm_hf_inference.download(url, request, io.BytesIO())


def test_a_data_url_that_is_not_base64_is_refused_in_its_own_words():
    request = llm_hf_inference.HFRequest("https://router.huggingface.co/x", "images")
    with pytest.raises(llm.ModelError) as raised:
        llm_hf_inference.download("data:image/png;base64,not base64!", request, io.BytesIO())
    assert str(raised.value) == (
        "The provider gave a data URL that is not base64: data:image/png;base64,not base64!"
    )


def test_the_request_of_each_provider_for_a_versioned_model_and_an_input_image():
    route, body = llm_hf_inference.replicate_image(
        "owner/m:abc123", {"seed": 1, "image": "data:image/png;base64,AA=="}, "x"
    )
    assert (route, body) == (
        "/replicate/v1/predictions",
        {
            "input": {  # under each key replicate's models read it from, as both Hugging Face clients send it
                "prompt": "x",
                "seed": 1,
                "image": "data:image/png;base64,AA==",
                "images": ["data:image/png;base64,AA=="],
                "input_image": "data:image/png;base64,AA==",
                "input_images": ["data:image/png;base64,AA=="],
            },
            "version": "abc123",
        },
    )
    assert llm_hf_inference.replicate_image("o/m", {"seed": 2}, "y")[1] == {
        "input": {"prompt": "y", "seed": 2}
    }
    image = {"steps": 4, "image": "data:image/png;base64,AA=="}  # each model at together reads its own field
    for model in ("black-forest-labs/FLUX.1-kontext-dev", "black-forest-labs/FLUX.1-Kontext-pro"):
        assert llm_hf_inference.together_image(model, image, "x") == (
            "/together/v1/images/generations",
            {
                "prompt": "x",
                "response_format": "base64",
                "steps": 4,
                "image_url": "data:image/png;base64,AA==",
                "model": model,
            },
        )
    for model in ("black-forest-labs/FLUX.2-dev", "google/flash-image-2.5", "black-forest-labs/kontext-pro"):
        assert llm_hf_inference.together_image(model, image, "x")[1] == {
            "prompt": "x",
            "response_format": "base64",
            "steps": 4,
            "reference_images": ["data:image/png;base64,AA=="],
            "model": model,
        }
    assert llm_hf_inference.together_image("o/m", {"seed": 1}, "y")[1] == {
        "prompt": "y",
        "response_format": "base64",
        "seed": 1,
        "model": "o/m",
    }
    route, body = llm_hf_inference.nscale_image("m", {"seed": 3, "negative_prompt": "blur"}, "x")
    assert body == {
        "response_format": "b64_json",
        "prompt": "x",
        "model": "m",
        "seed": 3,
        "negative_prompt": "blur",
    }


def test_two_input_images_are_refused(router, here, kontext):
    server = router({})
    (here / "a.jpg").write_bytes(JPEG)
    (here / "b.jpg").write_bytes(JPEG)
    result = invoke("-m", "hf/black-forest-labs/FLUX.1-Kontext-dev", "mix", "-a", "a.jpg", "-a", "b.jpg")
    assert (result.stderr, server.seen) == ("Error: Attach one input image at a time, not 2\n", [])


def test_a_prompt_of_no_words_is_named_image():
    assert (llm_hf_inference.slug("!!!"), llm_hf_inference.slug("A Red  Fox, in snow!")) == (
        "image",
        "a-red-fox-in-snow",
    )


def test_a_name_is_ascii_its_accents_taken_off_else_named_for_its_medium():
    slug = llm_hf_inference.slug
    assert [slug("Café au lait, crème brûlée"), slug("Ⅻ ﬁne"), slug("你好，世界", "audio")] == [
        "cafe-au-lait-creme-brulee",
        "xii-fine",
        "audio",
    ]


def test_a_prompt_is_never_named_as_a_windows_device():
    names = ["CON", "prn", "Aux!", "nul", "com1", "LPT9", "con x", "icon", "com10", "lpt"]
    assert [llm_hf_inference.slug(name) for name in names] == [
        "con_",
        "prn_",
        "aux_",
        "nul_",
        "com1_",
        "lpt9_",
        "con-x",
        "icon",
        "com10",
        "lpt",
    ]


def test_when_every_name_is_taken_it_says_so(router, here):
    router({f"POST {HF_INFERENCE}": lambda seen: Answer(200, {"Content-Type": "image/jpeg"}, JPEG)})
    for number in range(1, 1000):
        (here / f"a-fox{'' if number == 1 else f'-{number}'}.jpg").write_bytes(b"")
    result = draw("a fox")
    kept = llm.user_dir() / "hf-inference-results" / "a-fox.jpg"  # the paid image, in llm's own folder
    assert (result.exit_code, result.stdout, result.stderr) == (
        0,
        f"{kept}\n",
        f"llm-hf-inference: . refused the result (. already has a-fox.jpg to a-fox-999.jpg); saved in {kept}\n",
    )
    assert kept.read_bytes() == JPEG and len(list(here.iterdir())) == 999


def test_a_broken_row_is_refused_in_one_line_when_used(router, here):
    server = router({})
    path = llm.user_dir() / "hf-inference-images.jsonl"
    path.write_text(json.dumps({"version": 4, "models": {"hf/a/b": "fal-ai=x"}}) + "\n[]\n")  # no task
    result = invoke("-m", "hf/a/b", "a fox")
    assert (result.stderr, server.seen) == (
        f"Error: hf/a/b is not a model in {path}; run 'llm hf refresh'\n",
        [],
    )


def test_a_queued_job_past_its_deadline_and_a_ticket_without_a_place_are_one_line(monkeypatch):
    request = llm_hf_inference.HFRequest("https://router.huggingface.co/fal-ai/x", "images", timeout=8.0)
    queue = llm_hf_inference.FAL_QUEUE
    with pytest.raises(llm.ModelError) as error:
        llm_hf_inference.follow(
            queue, "fal-ai", {"request_id": "r1", "response_url": "https://queue.fal.run/../x"}, request
        )
    assert str(error.value).startswith("fal-ai answered with a queued job without a result URL: ")
    clock = [100.0]
    said = []
    monkeypatch.setattr(llm_hf_inference.time, "monotonic", lambda: clock[0])
    monkeypatch.setattr(llm_hf_inference, "sleep", lambda seconds: clock.__setitem__(0, clock[0] + 5))
    monkeypatch.setattr(
        llm_hf_inference, "poll", lambda request, path, *more, **named: {"status": "IN_QUEUE"}
    )
    monkeypatch.setattr(llm_hf_inference, "say", said.append)
    ticket = {
        "request_id": "r1",
        "status": "IN_QUEUE",
        "response_url": "https://queue.fal.run/fal-ai/flux/requests/r1",
    }
    with pytest.raises(llm.ModelError) as error:
        llm_hf_inference.follow(queue, "fal-ai", ticket, request)
    assert str(error.value) == (
        "fal-ai's job r1 was not finished after 20 seconds (status IN_QUEUE); its result can still be fetched at "
        "https://router.huggingface.co/fal-ai/fal-ai/flux/requests/r1?_subdomain=queue (wait longer with -o timeout SECONDS)"
    )
    assert said == ["fal-ai is drawing (IN_QUEUE, 10 s)"]


def test_a_provider_that_takes_an_input_image_is_chosen_for_one():
    spec = llm_hf_inference.HubSpec(
        "o/m", (("nscale", "m", "image-to-image"), ("together", "t/m", "image-to-image"))
    )
    assert llm_hf_inference.choose_provider(spec, "images", None, {"image": "x"}) == ("together", "t/m", None)


def test_replicate_output_as_one_url(router, fake, here):
    cdn = fake({"GET /out.webp": cdn_answer("img-2025-replicate-delivery", WEBP)})
    data = json.loads(recorded("img-replicate").body)
    data["output"] = cdn.url + "/out.webp"
    router(
        {
            f"POST {REPLICATE}": lambda seen: Answer(
                201, {"Content-Type": "application/json"}, json.dumps(data).encode()
            )
        }
    )
    assert draw("a fox", "-o", "provider", "replicate").stdout == "a-fox.webp\n"


def test_a_mapping_that_starts_from_an_image_is_not_sent_text_alone():
    spec = llm_hf_inference.HubSpec(
        "o/m", (("fal-ai", "fal/m", "image-to-image"), ("together", "t/m", "text-to-image"))
    )
    assert llm_hf_inference.choose_provider(spec, "images", None, {}) == ("together", "t/m", None)
    with pytest.raises(llm.ModelError) as error:
        llm_hf_inference.choose_provider(spec, "images", "fal-ai", {})
    assert str(error.value) == (
        "o/m starts from an input image at fal-ai: attach one with -a FILE, or choose -o provider together"
    )
    video = llm_hf_inference.HubSpec("o/v", (("fal-ai", "fal/v", "image-to-video"),))
    with pytest.raises(llm.ModelError) as error:
        llm_hf_inference.choose_provider(video, "video", None, {"seed": 1})
    assert str(error.value) == "o/v starts from an input image at fal-ai: attach one with -a FILE"
    text_too = llm_hf_inference.HubSpec("o/t", (("fal-ai", "fal/t", "image-text-to-image"),))
    assert llm_hf_inference.choose_provider(text_too, "images", None, {}) == ("fal-ai", "fal/t", None)


def test_an_image_editing_model_without_an_image_sends_nothing(router, here):
    server = router({})
    llm.user_dir().mkdir(parents=True, exist_ok=True)
    row = llm_hf_inference.hub_row([("fal-ai", "fal-ai/flux-kontext/dev", "image-to-image")])
    models = {"version": 4, "models": {"hf/o/kontext": row}}
    (llm.user_dir() / "hf-inference-images.jsonl").write_text(json.dumps(models) + "\n[]\n")
    result = invoke("-m", "hf/o/kontext", "make it blue")
    assert (result.exit_code, result.stderr) == (
        1,
        "Error: o/kontext starts from an input image at fal-ai: attach one with -a FILE\n",
    )
    assert (server.seen, list(here.iterdir())) == ([], [])


def test_hf_inference_and_nscale_take_no_input_image_whatever_the_mapping():
    spec = llm_hf_inference.HubSpec(
        "o/m", (("hf-inference", "o/m", "image-to-image"), ("nscale", "m", "image-to-image"))
    )
    with pytest.raises(
        llm.ModelError, match=r"^hf-inference takes no input image \(-a\) for o/m; leave it out$"
    ):
        llm_hf_inference.choose_provider(spec, "images", None, {"image": "x"})


def test_a_long_prompt_names_its_file_with_its_first_sixty_characters():
    name = llm_hf_inference.slug("word " * 30)
    assert (len(name), name.endswith("-")) == (
        59,
        False,
    )  # "word-" twelve times, cut at 60, no dash left over


def test_who_answered_is_named_in_a_refusal_and_a_conversation_is_refused_by_llm(router, here):
    answer = Answer.json({"unexpected": True})
    answer.headers["x-inference-provider"] = "hf-inference-eu"  # the router names who answered
    answers = iter([Answer(200, {"Content-Type": "image/jpeg"}, JPEG), answer, answer])
    router({f"POST {HF_INFERENCE}": lambda seen: next(answers)})
    assert draw("a fox").exit_code == 0  # a logged conversation, for -c below
    result = draw("a fox")
    assert (
        result.stderr
        == 'Error: hf-inference-eu answered with something that is not an image: {"unexpected": true}\n'
    )
    result = invoke("-m", "hf-flux", "-c", "again")
    assert (
        result.stderr
        == "Error: Hugging Face: hf/black-forest-labs/FLUX.1-schnell does not support conversations\n"
    )
    answer.headers["x-inference-provider"] = "hf-inference eu"  # no provider's name: the row's is said
    assert draw("a fox").stderr.startswith("Error: hf-inference answered with something that is not an image")


def registered(repo_id, *providers):
    """An image model as a refresh would have stored it, served by ``providers`` ((provider, providerId))."""
    row = llm_hf_inference.hub_row([(p, i, "text-to-image") for p, i in providers])
    llm.user_dir().mkdir(parents=True, exist_ok=True)
    models = {"version": 4, "models": {f"hf/{repo_id}": row}}
    (llm.user_dir() / "hf-inference-images.jsonl").write_text(json.dumps(models) + "\n[]\n")


def test_wavespeed_submits_a_task_and_polls_it_through_the_router(router, fake, here, monkeypatch):
    cdn = fake({"GET /out.png": lambda seen: Answer(200, {"Content-Type": "image/png"}, JPEG)})
    result_url = "https://api.wavespeed.ai/api/v3/predictions/t1/result"
    submitted = {"code": 200, "data": {"id": "t1", "status": "created", "urls": {"get": result_url}}}
    states = iter(
        [
            Answer.json({"code": 200, "data": {"id": "t1", "status": "processing"}}),
            Answer.json(
                {"code": 200, "data": {"id": "t1", "status": "completed", "outputs": [cdn.url + "/out.png"]}}
            ),
        ]
    )
    route, poll = "/wavespeed/api/v3/wavespeed-ai/flux-dev", "/wavespeed/api/v3/predictions/t1/result"
    server = router(
        {f"POST {route}": lambda seen: Answer.json(submitted), f"GET {poll}": lambda seen: next(states)}
    )
    monkeypatch.setattr(llm_hf_inference, "sleep", lambda seconds: None)
    registered("o/m", ("wavespeed", "wavespeed-ai/flux-dev"))
    result = invoke("-m", "hf/o/m", "a fox", "-o", "seed", "3")
    assert (result.exit_code, result.stdout) == (0, "a-fox.jpg\n")
    assert json.loads(server.seen[0].body) == {"prompt": "a fox", "seed": 3}
    assert server.paths() == [route, poll, poll]
    assert server.seen[1].headers["Authorization"] == f"Bearer {TEST_TOKEN}"
    assert "Authorization" not in cdn.seen[0].headers


def test_zai_org_polls_its_async_result(router, fake, here, monkeypatch):
    cdn = fake({"GET /img.png": lambda seen: Answer(200, {"Content-Type": "image/png"}, JPEG)})
    states = iter(
        [
            Answer.json({"id": "z1", "task_status": "PROCESSING"}),
            Answer.json(
                {"id": "z1", "task_status": "SUCCESS", "image_result": [{"url": cdn.url + "/img.png"}]}
            ),
        ]
    )
    route, poll = "/zai-org/api/paas/v4/async/images/generations", "/zai-org/api/paas/v4/async-result/z1"
    server = router(
        {
            f"POST {route}": lambda seen: Answer.json({"id": "z1", "task_status": "PROCESSING"}),
            f"GET {poll}": lambda seen: next(states),
        }
    )
    monkeypatch.setattr(llm_hf_inference, "sleep", lambda seconds: None)
    registered("zai-org/GLM-Image", ("zai-org", "glm-image"))
    result = invoke("-m", "hf/zai-org/GLM-Image", "a fox", "-o", "width", "1024", "-o", "height", "768")
    assert (result.exit_code, result.stdout) == (0, "a-fox.jpg\n")
    assert json.loads(server.seen[0].body) == {"model": "glm-image", "prompt": "a fox", "size": "1024x768"}
    assert server.paths() == [route, poll, poll]
    # what z.ai asks each request to carry, as both Hugging Face clients send it: its polls too
    for seen in server.seen:
        headers = {name.lower(): value for name, value in seen.headers.items()}
        assert (headers["accept-language"], headers["x-source-channel"]) == ("en-US,en", "hugging_face")
        assert headers["authorization"] == f"Bearer {TEST_TOKEN}"


@pytest.mark.parametrize(
    "asked, body",
    [
        ({}, {"model": "glm-image", "prompt": "a fox"}),  # no size: the provider's own
        (
            {"seed": 3, "steps": 8},
            {"model": "glm-image", "prompt": "a fox", "seed": 3, "num_inference_steps": 8},
        ),
    ],
)
def test_zai_org_sends_a_size_only_when_asked(asked, body):
    route = "/zai-org/api/paas/v4/async/images/generations"
    assert llm_hf_inference.zai_image("glm-image", asked, "a fox") == (route, body)


@pytest.mark.parametrize(
    "provider, answer, message",
    [
        (
            "wavespeed",
            {"data": {"id": "t1", "status": "created"}},
            "wavespeed answered with a task without a result URL: ",
        ),
        (
            "wavespeed",
            {"data": {"status": "failed", "error": "NSFW", "urls": {"get": "https://w/x"}}},
            "wavespeed's task failed: NSFW",
        ),
        ("zai-org", {"task_status": "PROCESSING"}, "zai-org answered with a task without an id: "),
        (
            "zai-org",
            {"id": "z1", "task_status": "FAIL"},
            "zai-org's task z1 failed: (no reason given)",  # in the words every job's failure has
        ),
        (
            "zai-org",
            {"id": "z1", "task_status": "FAIL", "error": {"code": "1301", "message": "unsafe content"}},
            "zai-org's task z1 failed: unsafe content",
        ),
    ],
)
def test_a_task_that_cannot_be_followed_or_failed_is_one_line(provider, answer, message):
    request = llm_hf_inference.HFRequest("https://router.huggingface.co/x", "images")
    job = llm_hf_inference.WAVESPEED if provider == "wavespeed" else llm_hf_inference.ZAI
    with pytest.raises(llm.ModelError) as error:
        llm_hf_inference.follow(job, provider, answer, request)
    assert str(error.value).startswith(message)


def png(width: int, height: int) -> bytes:
    header = width.to_bytes(4, "big") + height.to_bytes(4, "big") + bytes([8, 2, 0, 0, 0])
    return b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + header + b"\x00" * 8


@pytest.mark.parametrize(
    "data, size",
    [
        (png(640, 480), (640, 480)),
        (b"GIF89a" + (300).to_bytes(2, "little") + (200).to_bytes(2, "little") + b"\x00" * 8, (300, 200)),
        (WEBP, (1, 1)),  # VP8L
        (
            b"RIFF\x00\x00\x00\x00WEBPVP8X"
            + b"\x00" * 8
            + (1919).to_bytes(3, "little")
            + (1079).to_bytes(3, "little"),
            (1920, 1080),
        ),
        (
            b"RIFF\x00\x00\x00\x00WEBPVP8 "
            + b"\x00" * 10
            + (512).to_bytes(2, "little")
            + (256).to_bytes(2, "little"),
            (512, 256),
        ),
        (JPEG, (1024, 1024)),
        (b"\xff\xd8\xff\xe0\x00\x04ab", None),  # no frame
        (b"not an image", None),
    ],
)
def test_the_pixel_size_is_read_from_the_header(data, size):
    assert llm_hf_inference.image_size(data) == size


@POSIX
def test_the_destination_is_checked_before_the_provider_draws(router, here, monkeypatch):
    server = router({f"POST {HF_INFERENCE}": lambda seen: Answer(200, {"Content-Type": "image/jpeg"}, JPEG)})
    (here / "fox.png").write_bytes(b"mine")
    os.mkfifo(here / "pipe")
    os.symlink("loop.png", here / "loop.png")  # a link to itself
    for save, said in [
        (
            "fox.jpg",
            "fox.png exists; not overwritten (choose another -o save)",
        ),  # the bytes may be PNG
        ("/nonexistent/x.png", "-o save /nonexistent/x.png: there is no directory /nonexistent"),
        ("newdir/", "-o save newdir/: there is no directory newdir"),
        ("fox.png/x.png", "-o save fox.png/x.png: there is no directory fox.png"),
        ("loop.png", "loop.png exists; not overwritten (choose another -o save)"),
        ("~nosuchuser0/x.png", "-o save ~nosuchuser0/x.png: there is no such home directory"),
        ("x" * 250 + ".png", f"-o save {'x' * 250}.png: the file name is too long"),
        # not where a result can go: it was saved beside them, as -.jpg and /dev/null.jpg
        ("-", "-o save -: not a file or a directory; a result is saved in a file"),
        ("/dev/null", "-o save /dev/null: not a file or a directory; a result is saved in a file"),
        ("pipe", "-o save pipe: not a file or a directory; a result is saved in a file"),
    ]:
        result = draw("a fox", "-o", "save", save)
        assert (result.exit_code, result.stderr) == (1, f"Error: {said}\n")
    (here / "locked").mkdir(mode=0o500)
    if os.geteuid() == 0:  # root writes anywhere: a folder root may not write to, as the system would say
        monkeypatch.setattr(os, "access", lambda path, mode: pathlib.Path(path).name != "locked")
    result = draw("a fox", "-o", "save", "locked/x.png")
    assert (result.exit_code, result.stderr) == (
        1,
        "Error: -o save locked/x.png: locked cannot be written to\n",
    )
    assert server.seen == []
    assert (here / "fox.png").read_bytes() == b"mine"


def test_a_current_directory_that_cannot_be_written_to_is_said_in_words(router, here, monkeypatch):
    server = router({f"POST {HF_INFERENCE}": lambda seen: Answer(200, {"Content-Type": "image/jpeg"}, JPEG)})
    monkeypatch.setattr(os, "access", lambda path, mode: pathlib.Path(path) != pathlib.Path())  # read-only
    for asked in ([], ["-o", "save", ""]):
        result = draw("a fox", *asked)
        assert (result.exit_code, result.stderr) == (
            1,
            "Error: The current directory cannot be written to; choose where to save with -o save\n",
        )
    assert server.seen == []


@POSIX
def test_a_saved_image_follows_the_umask(router, here):
    router({f"POST {HF_INFERENCE}": lambda seen: Answer(200, {"Content-Type": "image/jpeg"}, JPEG)})
    old = os.umask(0o022)
    try:
        assert draw("a fox").stdout == "a-fox.jpg\n"
        os.umask(0o077)
        assert draw("a fox").stdout == "a-fox-2.jpg\n"
    finally:
        os.umask(old)
    assert [(here / name).stat().st_mode & 0o777 for name in ("a-fox.jpg", "a-fox-2.jpg")] == [0o644, 0o600]


@pytest.mark.parametrize("code", [errno.EPERM, errno.EINVAL])  # EINVAL: Windows on a FAT drive
def test_without_hard_links_the_image_is_made_exclusively(router, here, monkeypatch, code):
    router({f"POST {HF_INFERENCE}": lambda seen: Answer(200, {"Content-Type": "image/jpeg"}, JPEG)})

    def no_links(source, target):
        raise OSError(code, "no hard links here")

    monkeypatch.setattr(llm_hf_inference.os, "link", no_links)
    (here / "a-fox.jpg").write_bytes(b"mine")
    assert draw("a fox").stdout == "a-fox-2.jpg\n"
    assert ((here / "a-fox.jpg").read_bytes(), (here / "a-fox-2.jpg").read_bytes()) == (b"mine", JPEG)
    assert sorted(p.name for p in here.iterdir()) == ["a-fox-2.jpg", "a-fox.jpg"]


def test_a_paid_image_that_cannot_be_saved_says_where_it_still_is(router, fake, here, monkeypatch):
    cdn = fake({"GET /out.jpg": lambda seen: Answer(200, {"Content-Type": "image/jpeg"}, JPEG)})
    data = json.loads(recorded("img-fal-ai").body)
    data["images"][0]["url"] = cdn.url + "/out.jpg"
    router({f"POST {FAL}": lambda seen: Answer.json(data)})

    def full(*args):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(llm_hf_inference.os, "link", full)
    result = draw("a fox", "-o", "provider", "fal-ai")
    assert result.stderr == (
        f"Error: Cannot save the result: No space left on device; it can still be fetched from {cdn.url}/out.jpg\n"
    )
    assert list(here.iterdir()) == []


def test_fal_answers_a_data_url_in_sync_mode(router, here):
    data = json.loads(recorded("img-fal-ai").body)
    data["images"][0]["url"] = "data:image/jpeg;base64," + base64.b64encode(JPEG).decode()
    router({f"POST {FAL}": lambda seen: Answer.json(data)})
    assert draw("a fox", "-o", "provider", "fal-ai").stdout == "a-fox.jpg\n"
    assert (here / "a-fox.jpg").read_bytes() == JPEG
    assert "url" not in json.loads(logged_turns()[0]["response_json"])


def test_a_system_prompt_is_refused_not_dropped(router, here):
    server = router({})
    result = draw("a fox", "-s", "in the style of Turner")
    assert (result.stderr, server.seen) == (
        "Error: An image model takes no system prompt (-s): put what it says in the prompt\n",
        [],
    )


# -- a paid result is never lost to a passing fault, and a generation is never made twice


def test_a_poll_and_a_download_that_fail_once_are_asked_again(router, fake, here, monkeypatch):
    flaky = {"poll": [Answer.json({"error": "oops"}, 500)], "cdn": [Answer(502, {}, b"bad gateway")]}
    image = Answer(200, {"Content-Type": "image/webp"}, WEBP)
    cdn = fake({"GET /out.webp": lambda seen: (flaky["cdn"] or [image]).pop(0)})
    polled = json.loads(recorded("img-replicate-poll").body) | {
        "status": "succeeded",
        "output": [cdn.url + "/out.webp"],
    }
    prediction = "/replicate/v1/predictions/tqsn7eq3kxrma0cmjfcbkd5t3g"
    server = router(
        {
            f"POST {REPLICATE}": lambda seen: recorded("img-replicate-poll"),
            f"GET {prediction}": lambda seen: (flaky["poll"] or [Answer.json(polled)]).pop(0),
        }
    )
    monkeypatch.setattr(llm_hf_inference, "sleep", lambda seconds: None)
    result = draw("a fox", "-o", "provider", "replicate")
    assert (result.exit_code, result.stdout) == (0, "a-fox.webp\n")
    assert (server.paths("GET"), cdn.paths()) == ([prediction] * 2, ["/out.webp"] * 2)


def test_a_result_that_cannot_be_fetched_names_where_it_is(router, fake, here, monkeypatch):
    cdn = fake({"GET /out.jpg": lambda seen: Answer(404, {}, b"gone")})
    data = json.loads(recorded("img-fal-ai").body)
    data["images"][0]["url"] = cdn.url + "/out.jpg"
    router({f"POST {FAL}": lambda seen: Answer.json(data)})
    monkeypatch.setattr(llm_hf_inference, "sleep", lambda seconds: None)
    result = draw("a fox", "-o", "provider", "fal-ai")
    assert result.stderr.splitlines()[-1] == (
        f"Error: The result is at {cdn.url}/out.jpg, but fetching it failed: 127.0.0.1 answered 404"
    )
    assert len(cdn.seen) == 3  # a 404 is asked again twice: a CDN may not have it yet


@pytest.mark.parametrize(
    "answer, sent",
    [
        (Answer(502, {}, b"bad gateway"), 1),  # the gateway gave up: the image may be drawn, and billed
        (Answer.json({"error": "overloaded"}, 503), 1),
        (Answer.json({"error": "slow down"}, 429), 3),  # refused before drawing: asked again
        (Answer(408, {}, b"Request Timeout"), 3),  # the request was not read whole: nothing was drawn
        (Answer.json({"error": "loading"}, 503, **{"Retry-After": "1"}), 3),
    ],
)
def test_a_generation_is_sent_again_only_when_it_cannot_have_been_made(
    answer, sent, router, here, monkeypatch
):
    server = router({f"POST {HF_INFERENCE}": lambda seen: answer})
    monkeypatch.setattr(llm_hf_inference, "sleep", lambda seconds: None)
    assert draw("a fox").exit_code == 1
    assert len(server.seen) == sent


def test_a_generation_whose_connection_drops_after_it_was_sent_is_not_sent_again(router, here, monkeypatch):
    server = router(
        {f"POST {HF_INFERENCE}": lambda seen: Answer(200, {"Content-Length": "100"}, [b"partial"])}
    )
    result = draw("a fox")
    assert len(server.seen) == 1
    assert result.stderr.endswith(
        "; the request was sent and may have been processed (and billed), so it is not sent again\n"
    )
    assert list(here.iterdir()) == []


def test_a_refusal_after_polling_shows_what_the_last_poll_said(router, here, monkeypatch):
    prediction = "/replicate/v1/predictions/tqsn7eq3kxrma0cmjfcbkd5t3g"
    last = {"id": "tqsn7eq3kxrma0cmjfcbkd5t3g", "status": "succeeded", "output": None}
    router(
        {
            f"POST {REPLICATE}": lambda seen: recorded("img-replicate-poll"),
            f"GET {prediction}": lambda seen: Answer.json(last),
        }
    )
    monkeypatch.setattr(llm_hf_inference, "sleep", lambda seconds: None)
    result = draw("a fox", "-o", "provider", "replicate")
    assert (
        result.stderr
        == f"Error: replicate answered with something that is not an image: {json.dumps(last)}\n"
    )


# -- async: as many at once as asked, and a cancelled task stops


def test_async_images_are_not_waited_for_a_few_at_a_time(router, here):
    import asyncio
    import threading

    together = threading.Barrier(20, timeout=10)  # released only when all twenty are under way at once

    def slowly(seen):
        together.wait()
        return Answer(200, {"Content-Type": "image/jpeg"}, JPEG)

    router({f"POST {HF_INFERENCE}": slowly})

    async def twenty():
        model = llm.get_async_model("hf-flux")
        return await asyncio.gather(*(model.prompt(f"fox {n}").text() for n in range(20)))

    assert sorted(asyncio.run(twenty())) == sorted(f"fox-{n}.jpg" for n in range(20))


def test_a_cancelled_async_image_stops_polling_and_saves_nothing(router, here, monkeypatch):
    import asyncio
    import time

    prediction = "/replicate/v1/predictions/tqsn7eq3kxrma0cmjfcbkd5t3g"
    running = json.loads(recorded("img-replicate-poll").body)
    server = router(
        {
            f"POST {REPLICATE}": lambda seen: recorded("img-replicate-poll"),
            f"GET {prediction}": lambda seen: Answer.json(running),
        }
    )
    monkeypatch.setattr(llm_hf_inference, "POLL_EVERY", 0.05)

    async def cancelled():
        response = llm.get_async_model("hf-flux").prompt("a fox", provider="replicate")
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(response.text(), 0.5)

    asyncio.run(cancelled())
    time.sleep(0.2)  # a poll under way when it was cancelled ends
    polls = len(server.paths("GET"))
    time.sleep(0.3)
    assert len(server.paths("GET")) == polls > 0
    assert list(here.iterdir()) == []


def test_a_model_taking_an_input_image_lists_image_types_and_a_broken_row_lists_none(kontext):
    kontext_types = llm.get_model("hf/black-forest-labs/FLUX.1-Kontext-dev").attachment_types
    assert kontext_types == {"image/png", "image/jpeg", "image/webp", "image/gif"}
    path = llm.user_dir() / "hf-inference-images.jsonl"
    path.write_text(json.dumps({"version": 4, "models": {"hf/a/b": "nowhere=x=image-to-image"}}) + "\n[]\n")
    listed = invoke("models", "--options")
    assert listed.exit_code == 0 and "hf/a/b" in listed.output


def test_a_file_made_while_the_image_was_drawn_is_never_replaced(router, here):
    def drawing(seen):
        (here / "fox.jpg").write_bytes(b"made meanwhile")
        return Answer(200, {"Content-Type": "image/jpeg"}, JPEG)

    router({f"POST {HF_INFERENCE}": drawing})
    result = draw("a fox", "-o", "save", "fox.jpg")
    assert (result.exit_code, result.stdout, result.stderr) == (  # paid for: kept under the next free name
        0,
        "fox-2.jpg\n",
        "llm-hf-inference: fox.jpg appeared meanwhile; saved as fox-2.jpg\n",
    )
    assert (here / "fox.jpg").read_bytes() == b"made meanwhile"
    assert (here / "fox-2.jpg").read_bytes() == JPEG
    assert sorted(p.name for p in here.iterdir()) == ["fox-2.jpg", "fox.jpg"]


def test_a_copy_that_fails_where_links_cannot_be_made_leaves_nothing(tmp_path, monkeypatch):
    folder = tmp_path / "out"
    folder.mkdir()
    partial = folder / ".fox.partial"
    partial.write_bytes(JPEG)

    def no_links(source, target):
        raise OSError(errno.EPERM, "Operation not permitted")

    def full(source, target):
        target.write(b"half")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(llm_hf_inference.os, "link", no_links)
    monkeypatch.setattr(llm_hf_inference.shutil, "copyfileobj", full)
    with pytest.raises(OSError):
        llm_hf_inference.link_or_copy(partial, folder / "fox.jpg")
    assert sorted(p.name for p in folder.iterdir()) == [".fox.partial"]  # no half-written fox.jpg


def test_a_save_name_without_an_extension_is_refused_when_any_image_of_it_exists(router, here):
    server = router({})
    (here / "fox.webp").write_bytes(WEBP)
    result = draw("a fox", "-o", "save", "fox")
    assert (result.exit_code, result.stderr) == (
        1,
        "Error: fox.webp exists; not overwritten (choose another -o save)\n",
    )
    assert server.seen == []


def test_a_jpeg_whose_huffman_tables_come_before_its_frame_gives_its_size():
    dht = b"\xff\xc4\x00\x04\x00\x00"  # a (short) Huffman table segment: its marker is no start of frame
    sof = b"\xff\xc0\x00\x11\x08\x01\x2c\x02\x58" + bytes(12)  # 600 wide, 300 high
    assert llm_hf_inference.jpeg_size(b"\xff\xd8" + dht + sof) == (600, 300)
    assert llm_hf_inference.image_size(b"\xff\xd8" + dht + sof) == (600, 300)


@pytest.mark.parametrize("options", [{"guidance": -0.5}, {"steps": 0}, {"lora_scale": -1}, {"width": 63}])
def test_image_options_out_of_their_range_are_refused(options):
    import pydantic

    with pytest.raises(pydantic.ValidationError):
        llm_hf_inference.image_options()(**options)
    llm_hf_inference.image_options()(guidance=0, steps=1, lora_scale=0, width=64, height=64)  # the bounds
