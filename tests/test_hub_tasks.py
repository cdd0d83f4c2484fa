"""The Hub's newer tasks: image-text-to-image and -video (an input image or text alone, fal-ai and wavespeed
only), text to audio (music and sounds, saved as text to speech is) and image to text (a page's text or a
caption, said and logged as chat is). Mappings are the catalog cassette's (huggingface.js's test mappings'
shape); answers are the shapes both clients read: fal's queue (its recorded one), ``audio_file``/``audio``
URLs, zai-org's ``md_results``, hf-inference's recorded caption."""

import base64
import json
import pathlib

import llm
import pytest
from test_tts import MP3, WAV, files

import llm_hf_inference
from conftest import TEST_TOKEN
from fakeserver import SEARCH, Answer, recorded
from helpers import LOCAL, invoke, logged_turns

pytestmark = LOCAL

PNG = b"\x89PNG\r\n\x1a\n" + bytes(16)
PNG_URL = "data:image/png;base64," + base64.b64encode(PNG).decode()
CAPTION = b'[{"generated_text":"a large brown and white giraffe standing in a field "}]'  # recorded
QUEUE = "/fal-ai/fal-ai/stable-audio/requests/5c1f2a9e"


@pytest.fixture
def stored():
    """The Hub's image, video, text-to-audio and image-to-text models as 'llm hf refresh' stores them."""
    llm.user_dir().mkdir(parents=True, exist_ok=True)
    for discovery in (llm_hf_inference.IMAGES, llm_hf_inference.VIDEOS):
        pages = [recorded("catalog", uri=f"pipeline_tag={tag}{SEARCH}") for tag in discovery.hub_tasks]
        llm_hf_inference.store_discovered(discovery, [i for page in pages for i in json.loads(page.body)])
    for discovery in (llm_hf_inference.AUDIO, llm_hf_inference.OCR):
        page = recorded("catalog", uri=f"pipeline_tag={discovery.hub_tasks[0]}{SEARCH}")
        llm_hf_inference.store_discovered(discovery, json.loads(page.body))


@pytest.fixture
def png(here):
    (here / "room.png").write_bytes(PNG)
    return "room.png"


def refused(seen):
    return Answer.json({"detail": "not this time"}, 422)


# -- image-text-to-image and image-text-to-video


def test_image_text_models_are_served_by_fal_and_wavespeed_alone(stored):
    assert llm.get_model("hf/black-forest-labs/FLUX.2-dev").spec.providers == (
        ("fal-ai", "fal-ai/flux-2", "image-text-to-image"),  # replicate's mapping has no route there
    )
    assert llm.get_model("hf/black-forest-labs/FLUX.2-dev").attachment_types == llm_hf_inference.IMAGE_TYPES
    assert llm.get_model("hf/Lightricks/LTX-2").attachment_types == llm_hf_inference.IMAGE_TYPES
    listed = invoke("hf", "models", "--images", "-q", "FLUX.2").stdout
    assert "black-forest-labs/FLUX.2-dev" in listed and "fal-ai, replicate" in listed
    listed = invoke("hf", "models", "--images", "-q", "angles").stdout.splitlines()[1]
    assert listed.startswith(
        "dx8152/Qwen-Edit-2509-Multiple-angles (LoRA of Qwen/Qwen-Image-Edit-2509)  wavespeed"
    )


def test_image_text_to_image_without_an_image_sends_the_text_alone(router, here, stored):
    server = router({"POST /fal-ai/fal-ai/flux-2": refused})
    result = invoke("-m", "hf/black-forest-labs/FLUX.2-dev", "a red fox", "-o", "seed", "4")
    assert json.loads(server.seen[0].body) == {"prompt": "a red fox", "seed": 4}
    assert result.stderr == "Error: 127.0.0.1 answered 422: not this time (the text sent: 9 characters)\n"


@pytest.mark.parametrize(
    "model, route, body",
    [
        (  # as image-to-image is sent there
            "black-forest-labs/FLUX.2-dev",
            "/fal-ai/fal-ai/flux-2",
            {"image_url": PNG_URL, "image_urls": [PNG_URL]},
        ),
        (  # with its adapter
            "dx8152/Qwen-Edit-2509-Multiple-angles",
            "/wavespeed/api/v3/wavespeed-ai/qwen-image/edit-plus-lora",
            {
                "image": PNG_URL,
                "images": [PNG_URL],
                "loras": [{"path": "dx8152/Qwen-Edit-2509-Multiple-angles", "scale": 1}],
            },
        ),
    ],
)
def test_image_text_to_image_with_an_image_sends_it(router, png, stored, model, route, body):
    server = router({f"POST {route}": refused})
    invoke("-m", f"hf/{model}", "turn the camera left", "-a", png)
    assert json.loads(server.seen[0].body) == {"prompt": "turn the camera left", **body}


def test_image_text_to_video_keeps_its_mapped_path_with_or_without_a_frame(router, png, stored):
    path = "POST /fal-ai/fal-ai/ltx-2/image-to-video"
    server = router({path: refused})
    invoke("-m", "hf/Lightricks/LTX-2", "waves roll in")
    invoke("-m", "hf/Lightricks/LTX-2", "waves roll in", "-a", png)
    assert [seen.path for seen in server.seen] == ["/fal-ai/fal-ai/ltx-2/image-to-video?_subdomain=queue"] * 2
    assert [json.loads(seen.body) for seen in server.seen] == [
        {"prompt": "waves roll in"},
        {"prompt": "waves roll in", "image_url": PNG_URL},
    ]


# -- text to audio


def fal_queue(result: dict) -> dict:
    """fal's queue as recorded (a video's), ending in ``result``."""
    where = "https://queue.fal.run/fal-ai/stable-audio/requests/5c1f2a9e"  # followed under the router
    queued = {"status": "IN_QUEUE", "request_id": "5c1f2a9e", "response_url": where}
    return {
        "POST /fal-ai/fal-ai/stable-audio": lambda seen: Answer.json(queued),
        f"GET {QUEUE}/status": lambda seen: Answer.json({"status": "COMPLETED"}),
        f"GET {QUEUE}": lambda seen: Answer.json(result),
    }


@pytest.mark.parametrize("field", ["audio_file", "audio"])
def test_hf_music_follows_fals_queue_and_saves_the_audio_fetched_without_the_token(router, fake, here, field):
    cdn = fake({"GET /files/rain.wav": lambda seen: Answer(200, {"Content-Type": "audio/wav"}, WAV)})
    url = cdn.url + "/files/rain.wav"
    server = router(fal_queue({field: {"url": url, "content_type": "application/octet-stream"}}))
    result = invoke("-m", "hf-music", "rain on a tin roof, 10 seconds")
    assert (result.exit_code, result.stdout) == (0, "rain-on-a-tin-roof-10-seconds.wav\n")
    assert json.loads(server.seen[0].body) == {"prompt": "rain on a tin roof, 10 seconds"}
    assert server.seen[0].path == "/fal-ai/fal-ai/stable-audio?_subdomain=queue"
    assert all(seen.headers["Authorization"] == f"Bearer {TEST_TOKEN}" for seen in server.seen)
    assert "Authorization" not in cdn.seen[0].headers
    assert (here / "rain-on-a-tin-roof-10-seconds.wav").read_bytes() == WAV
    logged = json.loads(logged_turns()[0]["response_json"])
    assert (logged["provider"], logged["type"], logged["url"]) == ("fal-ai", "audio/wav", url)


def test_hf_inference_text_to_audio_answers_the_bytes(router, here, stored):
    server = router({"POST /hf-inference/models/facebook/musicgen-small": lambda seen: Answer(200, {}, MP3)})
    result = invoke("-m", "hf/facebook/musicgen-small", "lo-fi beat", "-o", "save", "beat.mp3")
    assert (result.exit_code, result.stdout) == (0, "beat.mp3\n")
    assert json.loads(server.seen[0].body) == {"inputs": "lo-fi beat", "parameters": {}}
    assert files(here) == ["beat.mp3"]


def test_text_to_audio_answers_that_are_no_audio_are_one_line(router, here):
    router(fal_queue({"sound": {"url": "https://example.com/a.wav"}}))
    result = invoke("-m", "hf-music", "a bell")
    assert (result.exit_code, result.stderr) == (
        1,
        'Error: fal-ai answered with something that is not audio: {"sound": {"url": '
        '"https://example.com/a.wav"}}\n',
    )
    assert files(here) == []


def test_text_to_audio_without_text_is_one_line_before_any_request(router, here):
    server = router({})
    result = invoke("-m", "hf-music", "", input="")
    assert result.stderr == 'Error: Say what to hear: llm -m hf-music "rain on a tin roof, 10 seconds"\n'
    assert server.seen == []


def test_audio_models_are_listed_with_audio(stored):
    listed = invoke("hf", "models", "--audio").stdout
    assert listed.splitlines()[1:] == [
        "stabilityai/stable-audio-open-1.0  fal-ai        live",
        "facebook/musicgen-small            hf-inference  live",
    ]


# -- image to text


def test_hf_ocr_sends_the_image_to_zai_and_says_and_logs_the_markdown(router, png):
    page = "# Invoice 42\n\n| item | price |\n| --- | --- |\n| tea | 3 |"
    server = router({"POST /zai-org/api/paas/v4/layout_parsing": lambda s: Answer.json({"md_results": page})})
    result = invoke("-m", "hf-ocr", "-a", png, "-u")
    assert (result.exit_code, result.stdout) == (0, page + "\n")
    assert json.loads(server.seen[0].body) == {"model": "glm-ocr", "file": PNG_URL}
    assert server.seen[0].headers["Authorization"] == f"Bearer {TEST_TOKEN}"
    headers = {name.lower(): value for name, value in server.seen[0].headers.items()}
    assert (headers["accept-language"], headers["x-source-channel"]) == ("en-US,en", "hugging_face")
    turn = logged_turns()[0]
    assert (turn["model"], json.loads(turn["response_json"])["provider"]) == ("hf/zai-org/GLM-OCR", "zai-org")
    assert page in invoke("logs", "-n", "1").stdout


def test_hf_inference_captions_the_images_bytes(router, here, stored):
    (here / "giraffe.jpg").write_bytes(b"\xff\xd8\xff\xe0" + bytes(16))
    route = "POST /hf-inference/models/nlpconnect/vit-gpt2-image-captioning"
    server = router({route: lambda seen: Answer(200, {"Content-Type": "application/json"}, CAPTION)})
    result = invoke("-m", "hf/nlpconnect/vit-gpt2-image-captioning", "-a", "giraffe.jpg")
    assert result.stdout == "a large brown and white giraffe standing in a field\n"
    assert server.seen[0].body == b"\xff\xd8\xff\xe0" + bytes(16)
    assert server.seen[0].headers["Content-Type"] == "image/jpeg"


@pytest.mark.parametrize(
    "args, said",
    [
        ([], "Error: Attach an image: -a scan.png\n"),
        (["-a", "room.png", "-a", "room.png"], "Error: Attach one image at a time, not 2\n"),
        (
            ["-a", "room.png", "what does it say?"],
            "Error: zai-org takes no prompt or system text for zai-org/GLM-OCR; leave it out\n",
        ),
    ],
)
def test_what_image_to_text_cannot_take_is_one_line_before_any_request(router, png, args, said):
    server = router({})
    result = invoke("-m", "hf-ocr", *args, input="")
    assert (result.exit_code, result.stderr) == (1, said)
    assert server.seen == []


def test_an_answer_without_text_is_one_line(router, png):
    router({"POST /zai-org/api/paas/v4/layout_parsing": lambda seen: Answer.json({"layout": []})})
    result = invoke("-m", "hf-ocr", "-a", png)
    assert result.stderr == 'Error: zai-org answered with something that is not text: {"layout": []}\n'


def test_an_image_that_cannot_be_read_is_one_line(router, here, monkeypatch):
    server = router({})
    (here / "room.png").write_bytes(PNG)
    monkeypatch.setattr(llm.Attachment, "content_bytes", lambda self: pathlib.Path("gone.png").read_bytes())
    result = invoke("-m", "hf-ocr", "-a", "room.png")
    assert result.stderr == f"Error: Cannot read {here / 'room.png'}: No such file or directory\n"
    assert server.seen == []


@pytest.mark.parametrize("page", ["", " \n"])
def test_an_image_with_no_text_says_so(router, png, page):
    router({"POST /zai-org/api/paas/v4/layout_parsing": lambda seen: Answer.json({"md_results": page})})
    result = invoke("-m", "hf-ocr", "-a", png)
    assert (result.exit_code, result.stdout) == (0, "\n")
    assert result.stderr == "llm-hf-inference: zai-org read no text in the image; the answer is empty\n"
