"""Video: each provider's submit, poll and result requests as a stand-in router receives them, replayed from
cassettes built on the recorded envelopes; the video fetched without the token and written to disk as it
arrives; the deadline, Ctrl-C and cancel; a lost download asked again; every refusal before a request."""

import asyncio
import json
import re

import llm
import pytest
import yaml

import llm_hf_inference
from conftest import TEST_TOKEN
from fakeserver import Answer, cassette_path, recorded, recorded_headers
from helpers import LOCAL, invoke, logged_turns

pytestmark = LOCAL

MP4 = b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2" + b"\x00\x00\x00\x08mdat" + bytes(64)
WAN = "Wan-AI/Wan2.1-T2V-14B"
BOAT = "a paper boat"


@pytest.fixture(autouse=True)
def no_waits(monkeypatch):
    """A job's polls and retries, none of them waited for."""
    monkeypatch.setattr(llm_hf_inference, "sleep", lambda seconds: None)


def replayed(cassette: str, cdn) -> dict:
    """A cassette's answers as stand-in routes, in order for each route; video URLs moved to ``cdn``."""
    answers: dict = {}
    for n, interaction in enumerate(yaml.safe_load(cassette_path(cassette).read_text())["interactions"]):
        request = interaction["request"]
        route = f"{request['method']} /" + request["uri"].split("/", 3)[3].split("?")[0]
        answer = recorded(cassette, n)
        body = re.sub(rb'https://[^"/]+(/[^"]+\.mp4)', cdn.url.encode() + rb"\1", answer.body)
        answers.setdefault(route, []).append(Answer(answer.status, answer.headers, body))
    return {
        route: (lambda seen, queue=queue: queue.pop(0) if len(queue) > 1 else queue[0])
        for route, queue in answers.items()
    }


def cdn_with(path: str, body: bytes = MP4, case: str = "vid-2025-fal-media"):
    return {f"GET {path}": lambda seen: Answer(200, recorded_headers(case), body)}


def film(*args):
    return invoke("-m", "hf-video", *args)


def files(folder) -> list:
    return sorted(path.name for path in folder.iterdir())


# -- each provider


def test_fal_queue_submitted_polled_and_fetched_without_the_token(router, fake, here, found):
    cdn = fake(cdn_with("/files/kangaroo/IZn0hEJxd5OoapfNX6rSq_tmpfperp_j6.mp4"))
    server = router(replayed("vid-fal-ai-queue", cdn))
    result = invoke("-m", "hf/Lightricks/LTX-Video", "A running dog", "-o", "seed", "176", "-o", "steps", "2")
    assert (result.exit_code, result.stdout) == (0, "a-running-dog.mp4\n")
    job = "/fal-ai/fal-ai/ltx-video/requests/5c1f2a9e-7d4b-4f0a-9e51-2b8d6c3a7f10"
    assert server.paths() == [
        "/fal-ai/fal-ai/ltx-video?_subdomain=queue",
        f"{job}/status?_subdomain=queue",
        f"{job}/status?_subdomain=queue",
        f"{job}?_subdomain=queue",
    ]
    assert json.loads(server.seen[0].body) == {
        "prompt": "A running dog",
        "seed": 176,
        "num_inference_steps": 2,
    }
    assert all(seen.headers["Authorization"] == f"Bearer {TEST_TOKEN}" for seen in server.seen)
    assert "Authorization" not in cdn.seen[0].headers
    assert (here / "a-running-dog.mp4").read_bytes() == MP4
    logged = json.loads(logged_turns()[0]["response_json"])
    assert type(logged.pop("seconds")) is float
    assert logged == {
        "provider": "fal-ai",
        "path": str(here / "a-running-dog.mp4"),
        "type": "video/mp4",  # fal's CDN says application/octet-stream: the bytes say MP4
        "bytes": len(MP4),
        "url": cdn.url + "/files/kangaroo/IZn0hEJxd5OoapfNX6rSq_tmpfperp_j6.mp4",
        "seed": 176,
        "job": "5c1f2a9e-7d4b-4f0a-9e51-2b8d6c3a7f10",
    }


def test_replicate_prediction_with_its_output_already_there(router, fake, here, monkeypatch):
    cdn = fake(
        cdn_with(
            "/xezq/kbgNy0QZ6bIFMJB84rMEuoD28JrnjyPfw5ZxUyaiMSkuuAEKA/output.mp4",
            case="vid-2025-replicate-delivery",
        )
    )
    mochi = "genmo/mochi-1-preview"
    version = "genmoai/mochi-1:1944af04d098ef69bed7f9d335d102e652203f268ec4aaa2d836f6217217e460"
    mapping = [{"provider": "replicate", "providerId": version, "task": "text-to-video", "status": "live"}]
    llm_hf_inference.store_discovered(
        llm_hf_inference.VIDEOS, [{"id": mochi, "inferenceProviderMapping": mapping}]
    )
    server = router(replayed("vid-replicate", cdn))
    args = ["-o", "frames", "30", "-o", "steps", "10", "-o", "seed", "178", "-o", "save", "dog.mp4"]
    result = invoke("-m", f"hf/{mochi}", "A running dog", *args)
    assert (result.exit_code, result.stdout) == (0, "dog.mp4\n")
    assert json.loads(server.seen[0].body) == {
        "input": {"prompt": "A running dog", "num_frames": 30, "num_inference_steps": 10, "seed": 178},
        "version": version.split(":")[1],
    }
    assert json.loads(logged_turns()[0]["response_json"])["job"] == "v48356wb8srme0cmjfdrd0kmzm"


@pytest.mark.parametrize(
    "provider, cdn_path, option, body, poll",
    [
        (
            "wavespeed",
            "/predictions/ws-7f3a/1.mp4",
            ("duration", "5"),
            {"duration": 5},
            "/wavespeed/api/v3/predictions/ws-7f3a/result",
        ),
        (
            "novita",
            "/nv-9b8c.mp4",
            ("steps", "30"),
            {"steps": 30},
            "/novita/v3/async/task-result?task_id=nv-9b8c",
        ),
    ],
)
def test_a_task_polled_until_it_completes(router, fake, here, found, provider, cdn_path, option, body, poll):
    cdn = fake(cdn_with(cdn_path))
    server = router(replayed(f"vid-{provider}", cdn))
    result = invoke("-m", f"hf/{WAN}", "a paper boat", "-o", "provider", provider, "-o", *option)
    assert (result.exit_code, result.stdout) == (0, "a-paper-boat.mp4\n")
    assert json.loads(server.seen[0].body) == {"prompt": "a paper boat", **body}
    assert server.paths()[1:] == [poll] * 2


def test_together_job_polled_while_queued_or_in_progress(router, fake, here, monkeypatch):
    cdn = fake(cdn_with("/shrt/tv-1e2d.mp4"))
    model = "Wan-AI/Wan2.2-T2V-A14B"
    mapping = [{"provider": "together", "providerId": model, "task": "text-to-video", "status": "live"}]
    llm_hf_inference.store_discovered(
        llm_hf_inference.VIDEOS, [{"id": model, "inferenceProviderMapping": mapping}]
    )
    server = router(replayed("vid-together", cdn))
    result = invoke(
        "-m", f"hf/{model}", "a paper boat", "-o", "seed", "7", "-o", "steps", "20", "-o", "guidance", "5"
    )
    assert (result.exit_code, result.stdout) == (0, "a-paper-boat.mp4\n")
    assert json.loads(server.seen[0].body) == {
        "prompt": "a paper boat",
        "model": model,
        "seed": 7,
        "steps": 20,
        "guidance_scale": 5.0,
    }
    assert server.paths()[1:] == ["/together/v2/videos/tv-1e2d"] * 2


@pytest.mark.parametrize(
    "provider, body",
    [
        ("fal-ai", {"prompt": "the waves roll in", "image_url": "data:image/png;base64,iVBORw0KGgo="}),
        (
            "wavespeed",
            {
                "prompt": "the waves roll in",
                "image": "data:image/png;base64,iVBORw0KGgo=",
                "images": ["data:image/png;base64,iVBORw0KGgo="],
            },
        ),
    ],
)
def test_image_to_video_sends_the_start_frame(router, here, found, provider, body):
    (here / "beach.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    route = {
        "fal-ai": "/fal-ai/fal-ai/wan-i2v",
        "wavespeed": "/wavespeed/api/v3/wavespeed-ai/wan-2.1/i2v-720p",
    }
    server = router({f"POST {route[provider]}": lambda seen: Answer.json({"detail": "stop here"}, 422)})
    result = invoke(
        "-m",
        "hf/Wan-AI/Wan2.1-I2V-14B-720P",
        "the waves roll in",
        "-a",
        "beach.png",
        "-o",
        "provider",
        provider,
    )
    assert result.exit_code == 1
    assert json.loads(server.seen[0].body) == body


@pytest.mark.parametrize("refreshed", [True, False])
def test_hf_video_with_a_start_frame_goes_to_its_image_to_video_sibling(router, here, refreshed, request):
    if refreshed:
        request.getfixturevalue("found")
    (here / "beach.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    server = router({"POST /fal-ai/fal-ai/wan-i2v": lambda seen: Answer.json({"detail": "stop here"}, 422)})
    assert llm.get_model("hf-video").attachment_types == llm_hf_inference.IMAGE_TYPES
    result = film("the waves roll in", "-a", "beach.png")
    assert (result.exit_code, result.stderr) == (
        1,
        "llm-hf-inference: Wan-AI/Wan2.1-I2V-14B-720P makes it, Wan-AI/Wan2.1-T2V-14B taking no input image\n"
        "Error: 127.0.0.1 answered 422: stop here (the text sent: 17 characters); other providers of "
        "Wan-AI/Wan2.1-I2V-14B-720P: wavespeed (-o provider NAME)\n",
    )
    assert server.paths() == ["/fal-ai/fal-ai/wan-i2v?_subdomain=queue"]
    assert json.loads(server.seen[0].body) == {
        "prompt": "the waves roll in",
        "image_url": "data:image/png;base64,iVBORw0KGgo=",
    }


def test_a_video_model_from_text_alone_without_a_sibling_takes_no_image(router, here, found):
    (here / "frame.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    server = router({})
    result = invoke("-m", "hf/Lightricks/LTX-Video", BOAT, "-a", "frame.png")
    assert (result.exit_code, result.output) == (1, "Error: This model does not support attachments\n")
    assert server.seen == []


def test_together_takes_the_start_frame_as_its_first_keyframe():
    path, body = llm_hf_inference.together_video(
        "m", {"image": "data:image/png;base64,AA==", "seed": 1}, "waves"
    )
    assert (path, body) == (
        "/together/v2/videos",
        {
            "prompt": "waves",
            "model": "m",
            "seed": 1,
            "frame_images": [{"input_image": "data:image/png;base64,AA==", "frame": "first"}],
        },
    )


# -- refused before any request


@pytest.mark.parametrize(
    "prompt, args, message",
    [
        (
            BOAT,
            ["-o", "provider", "novita", "-o", "resolution", "720p"],
            f"novita takes no -o resolution for {WAN}; choose -o provider fal-ai or replicate or wavespeed",
        ),
        (
            BOAT,
            ["-s", "cinematic"],
            "A video model takes no system prompt (-s): put what it says in the prompt",
        ),
        ("   ", [], 'Say what the video shows: llm -m hf-video "a corgi running on a beach"'),
    ],
)
def test_what_cannot_be_done_is_refused_before_any_request(router, here, found, prompt, args, message):
    (here / "frame.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    server = router({})
    result = film(prompt, *args)
    assert (result.exit_code, result.output) == (1, f"Error: {message}\n")
    assert server.seen == [] and files(here) == ["frame.png"]


@pytest.mark.parametrize(
    "option, value, words",
    [
        ("aspect_ratio", "wide", "width:height, such as 16:9, 9:16 or 1:1"),
        ("aspect_ratio", "16:9 ", "width:height, such as 16:9, 9:16 or 1:1"),
        ("resolution", "720", "a height in lines, then p: 480p, 720p, 1080p"),
        ("resolution", "x720p", "a height in lines, then p: 480p, 720p, 1080p"),
    ],
)
def test_an_option_out_of_its_shape_says_what_it_takes(option, value, words, router, here):
    server = router({})
    result = film("a boat", "-o", option, value)
    assert (result.exit_code, result.output) == (1, f"Error: {option}\n  {words}\n")
    assert server.seen == []


def test_the_default_timeout_is_generous():
    options = llm_hf_inference.video_options()()
    request = llm_hf_inference.provider_request("fal-ai", "video", "/fal-ai/x", {}, options, None)
    assert request.timeout == llm_hf_inference.VIDEO_TIMEOUT == 900


# -- long work done right


def test_progress_gives_the_status_and_queue_position_every_ten_seconds(
    router, fake, here, found, monkeypatch
):
    cdn = fake(cdn_with("/files/kangaroo/IZn0hEJxd5OoapfNX6rSq_tmpfperp_j6.mp4"))
    routes = replayed("vid-fal-ai-queue", cdn)
    queued = Answer.json({"status": "IN_QUEUE", "queue_position": 1})
    job = "/fal-ai/fal-ai/ltx-video/requests/5c1f2a9e-7d4b-4f0a-9e51-2b8d6c3a7f10"
    statuses = iter([queued, queued, queued, queued, recorded("vid-fal-ai-queue", 2)])
    routes[f"GET {job}/status"] = lambda seen: next(statuses)
    router(routes)
    clock = [1000.0]
    monkeypatch.setattr(llm_hf_inference.time, "monotonic", lambda: clock[0])
    monkeypatch.setattr(llm_hf_inference, "sleep", lambda seconds: clock.__setitem__(0, clock[0] + 6))
    result = invoke("-m", "hf/Lightricks/LTX-Video", "A running dog")
    assert result.exit_code == 0
    assert (
        result.stderr.splitlines()
        == [
            "llm-hf-inference: fal-ai is making the video (IN_QUEUE, 1 ahead in the queue, 12 s)",
            "llm-hf-inference: fal-ai is making the video (IN_QUEUE, 1 ahead in the queue, 24 s)",  # not every poll
        ]
    )


@pytest.mark.parametrize("cancelled", [True, False])
def test_ctrl_c_asks_fal_to_cancel_and_leaves_nothing(
    router, fake, here, found, monkeypatch, ctrl_c_raises, cancelled
):
    cdn = fake({})
    routes = replayed("vid-fal-ai-queue", cdn)
    job = "/fal-ai/fal-ai/ltx-video/requests/5c1f2a9e-7d4b-4f0a-9e51-2b8d6c3a7f10"
    if cancelled:
        routes[f"PUT {job}/cancel"] = lambda seen: Answer.json({"status": "CANCELLATION_REQUESTED"}, 202)
    server = router(routes)

    def interrupted(seconds):
        raise KeyboardInterrupt

    monkeypatch.setattr(llm_hf_inference, "sleep", interrupted)
    result = invoke("-m", "hf/Lightricks/LTX-Video", "A running dog")
    where = f"{server.url}{job}?_subdomain=queue"
    said = (
        "is cancelled"
        if cancelled
        else f"may go on: asking it to stop failed (127.0.0.1 answered 404); its result: {where}"
    )
    assert (result.exit_code, result.stderr) == (
        1,
        f"llm-hf-inference: fal-ai's job {job.rsplit('/', 1)[1]} {said}\n\nAborted!\n",
    )
    assert (server.seen[1].method, server.seen[1].path) == ("PUT", f"{job}/cancel?_subdomain=queue")
    assert files(here) == []


def test_a_job_past_its_deadline_names_where_its_result_is(router, here, found, monkeypatch):
    routes = replayed("vid-fal-ai-queue", type("cdn", (), {"url": "http://cdn"}))
    job = "/fal-ai/fal-ai/ltx-video/requests/5c1f2a9e-7d4b-4f0a-9e51-2b8d6c3a7f10"
    routes[f"GET {job}/status"] = lambda seen: Answer.json({"status": "IN_PROGRESS"})
    server = router(routes)
    clock = [1000.0]
    monkeypatch.setattr(llm_hf_inference.time, "monotonic", lambda: clock[0])
    monkeypatch.setattr(llm_hf_inference, "sleep", lambda seconds: clock.__setitem__(0, clock[0] + 100))
    result = invoke("-m", "hf/Lightricks/LTX-Video", "A running dog", "-o", "timeout", "150")
    assert result.exit_code == 1
    assert result.stderr.splitlines()[-1] == (
        "Error: fal-ai's job 5c1f2a9e-7d4b-4f0a-9e51-2b8d6c3a7f10 was not finished after 400 seconds (status "
        f"IN_PROGRESS); its result can still be fetched at {server.url}{job}?_subdomain=queue (wait longer with -o timeout SECONDS)"
    )
    assert files(here) == []


def test_a_lost_download_is_asked_again(router, fake, here, found):
    tries = iter([Answer(503, {}, b"busy"), Answer(200, recorded_headers("vid-2025-fal-media"), MP4)])
    cdn = fake({"GET /files/kangaroo/IZn0hEJxd5OoapfNX6rSq_tmpfperp_j6.mp4": lambda seen: next(tries)})
    router(replayed("vid-fal-ai-queue", cdn))
    result = invoke("-m", "hf/Lightricks/LTX-Video", "A running dog")
    assert (result.exit_code, result.stdout) == (0, "a-running-dog.mp4\n")
    assert len(cdn.seen) == 2 and (here / "a-running-dog.mp4").read_bytes() == MP4


def test_a_download_that_keeps_failing_names_the_result_url(router, fake, here, found, monkeypatch):
    cdn = fake(
        {"GET /files/kangaroo/IZn0hEJxd5OoapfNX6rSq_tmpfperp_j6.mp4": lambda seen: Answer(404, {}, b"gone")}
    )
    router(replayed("vid-fal-ai-queue", cdn))
    result = invoke("-m", "hf/Lightricks/LTX-Video", "A running dog")
    url = cdn.url + "/files/kangaroo/IZn0hEJxd5OoapfNX6rSq_tmpfperp_j6.mp4"
    assert (
        result.stderr.splitlines()[-1]
        == f"Error: The result is at {url}, but fetching it failed: 127.0.0.1 answered 404"
    )
    assert files(here) == []


@pytest.mark.parametrize(
    "cassette, failed, said",
    [
        (
            "vid-together",
            {"id": "tv-1e2d", "status": "failed", "error": {"message": "NSFW content detected"}},
            "together's video job tv-1e2d failed: NSFW content detected",
        ),
        (
            "vid-novita",
            {"task": {"status": "TASK_STATUS_FAILED", "reason": "out of credits"}},
            "novita's task nv-9b8c failed: out of credits",
        ),
    ],
)
def test_a_failed_job_gives_its_reason_in_one_line(router, here, found, monkeypatch, cassette, failed, said):
    model = "Wan-AI/Wan2.2-T2V-A14B"
    mapping = [{"provider": "together", "providerId": model, "task": "text-to-video", "status": "live"}]
    llm_hf_inference.store_discovered(
        llm_hf_inference.VIDEOS,
        [
            {"id": model, "inferenceProviderMapping": mapping},
            *[
                {
                    "id": WAN,
                    "inferenceProviderMapping": [
                        {
                            "provider": "novita",
                            "providerId": "wan-t2v",
                            "task": "text-to-video",
                            "status": "live",
                        }
                    ],
                }
            ],
        ],
    )
    routes = replayed(cassette, type("cdn", (), {"url": "http://cdn"}))
    poll = next(route for route in routes if route.startswith("GET"))
    routes[poll] = lambda seen: Answer.json(failed)
    router(routes)
    result = invoke("-m", f"hf/{model if cassette == 'vid-together' else WAN}", "a boat")
    assert (result.exit_code, result.stderr) == (1, f"Error: {said}\n")


def test_a_poll_that_is_not_json_is_one_line(router, here, found):
    routes = replayed("vid-novita", type("cdn", (), {"url": "http://cdn"}))
    routes["GET /novita/v3/async/task-result"] = lambda seen: Answer(
        200, {"Content-Type": "text/html"}, b"<html>"
    )
    server = router(routes)
    result = invoke("-m", f"hf/{WAN}", "a boat", "-o", "provider", "novita", "-o", "timeout", "4")
    assert result.stderr.splitlines()[-1] == (
        f"Error: 127.0.0.1 answered {server.url}/novita/v3/async/task-result?task_id=nv-9b8c with something that is "
        f"not a JSON object; novita's task nv-9b8c may still finish (it is looked at {server.url}"
        "/novita/v3/async/task-result?task_id=nv-9b8c)"
    )
    assert len(server.paths("GET")) == 1 + llm_hf_inference.retries_within(8)  # asked again as after a 503


@pytest.mark.parametrize(
    "body, saved, kind",
    [
        (b"GIF89a" + bytes(20), "a-running-dog.gif", "image/gif"),
        (b"\x1a\x45\xdf\xa3" + bytes(20), "a-running-dog.webm", "video/webm"),
    ],
)
def test_a_gif_or_webm_is_saved_as_what_it_is(router, fake, here, found, body, saved, kind):
    cdn = fake(cdn_with("/files/kangaroo/IZn0hEJxd5OoapfNX6rSq_tmpfperp_j6.mp4", body))
    router(replayed("vid-fal-ai-queue", cdn))
    assert invoke("-m", "hf/Lightricks/LTX-Video", "A running dog").stdout == f"{saved}\n"
    assert json.loads(logged_turns()[0]["response_json"])["type"] == kind  # the mutation sample's survivor


def test_an_answer_that_is_not_a_video_saves_nothing(router, fake, here, found):
    cdn = fake(cdn_with("/files/kangaroo/IZn0hEJxd5OoapfNX6rSq_tmpfperp_j6.mp4", b"<html>expired</html>"))
    router(replayed("vid-fal-ai-queue", cdn))
    result = invoke("-m", "hf/Lightricks/LTX-Video", "A running dog")
    url = cdn.url + "/files/kangaroo/IZn0hEJxd5OoapfNX6rSq_tmpfperp_j6.mp4"  # named, as a 404 there is
    assert (
        result.stderr
        == f"Error: fal-ai sent 20 bytes that are not video: <html>expired</html> (from {url})\n"
    )
    assert files(here) == []


def test_the_async_model_makes_a_video_too(router, fake, here, found):
    cdn = fake(cdn_with("/files/kangaroo/IZn0hEJxd5OoapfNX6rSq_tmpfperp_j6.mp4"))
    router(replayed("vid-fal-ai-queue", cdn))

    async def go():
        return await llm.get_async_model("hf/Lightricks/LTX-Video").prompt("A running dog").text()

    assert asyncio.run(go()) == "a-running-dog.mp4"


def test_the_models_listed_and_an_image_to_video_model_takes_images(found):
    assert llm.get_model("hf-video").model_id == f"hf/{WAN}"
    assert llm.get_model("hf/Wan-AI/Wan2.1-I2V-14B-720P").attachment_types == llm_hf_inference.IMAGE_TYPES
    assert llm.get_model(f"hf/{WAN}").attachment_types == llm_hf_inference.IMAGE_TYPES  # through its sibling
    assert llm.get_model("hf/Lightricks/LTX-Video").attachment_types == frozenset()
    assert invoke("hf", "models", "--videos", "-q", "ltx").output == (
        "model                 providers  status\nLightricks/LTX-Video  fal-ai     live\n"
    )


def test_ctrl_c_stops_within_a_second_when_the_cancel_itself_stalls(
    router, here, found, monkeypatch, ctrl_c_raises
):
    import time

    routes = replayed("vid-fal-ai-queue", type("cdn", (), {"url": "http://cdn"}))
    job = "/fal-ai/fal-ai/ltx-video/requests/5c1f2a9e-7d4b-4f0a-9e51-2b8d6c3a7f10"
    routes[f"PUT {job}/cancel"] = lambda seen: time.sleep(3) or Answer.json({})
    router(routes)

    def interrupted(seconds):
        raise KeyboardInterrupt

    monkeypatch.setattr(llm_hf_inference, "sleep", interrupted)
    started = time.monotonic()
    result = invoke("-m", "hf/Lightricks/LTX-Video", "A running dog")
    assert time.monotonic() - started < 1.5
    assert result.stderr.startswith(
        "llm-hf-inference: fal-ai's job 5c1f2a9e-7d4b-4f0a-9e51-2b8d6c3a7f10 may go on"
    )
    assert result.stderr.endswith("\nAborted!\n")


def test_a_video_job_is_never_submitted_twice_after_a_gateway_error(router, here, found):
    server = router({"POST /fal-ai/fal-ai/ltx-video": lambda seen: Answer(502, {}, b"bad gateway")})
    result = invoke("-m", "hf/Lightricks/LTX-Video", "A running dog")
    assert result.exit_code == 1 and "502" in result.stderr
    assert len(server.seen) == 1  # a chat request would be sent again; a paid job is not


def test_a_cancelled_async_task_asks_the_provider_to_cancel_its_job(router, here, found, monkeypatch):
    import time

    routes = replayed("vid-fal-ai-queue", type("cdn", (), {"url": "http://cdn"}))
    job = "/fal-ai/fal-ai/ltx-video/requests/5c1f2a9e-7d4b-4f0a-9e51-2b8d6c3a7f10"
    routes[f"GET {job}/status"] = lambda seen: Answer.json({"status": "IN_PROGRESS"})
    routes[f"PUT {job}/cancel"] = lambda seen: Answer.json({"status": "CANCELLATION_REQUESTED"}, 202)
    server = router(routes)
    monkeypatch.setattr(llm_hf_inference, "sleep", time.sleep)
    monkeypatch.setattr(llm_hf_inference, "POLL_EVERY", 0.05)

    async def cancelled():
        response = llm.get_async_model("hf/Lightricks/LTX-Video").prompt("A running dog")
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(response.text(), 0.5)

    asyncio.run(cancelled())
    time.sleep(0.5)  # the task's thread sees it was given up at its next step
    assert server.paths("PUT") == [f"{job}/cancel?_subdomain=queue"]
    assert files(here) == []


def test_a_refused_prompt_gets_the_providers_words_and_the_length_sent(router, here, found):
    words = {"detail": "prompt is too long"}
    router({"POST /fal-ai/fal-ai/ltx-video": lambda seen: Answer(422, {}, json.dumps(words).encode())})
    result = invoke("-m", "hf/Lightricks/LTX-Video", "A running dog")
    assert result.stderr == (
        "Error: 127.0.0.1 answered 422: prompt is too long (the text sent: 13 characters)\n"
    )
    assert files(here) == []


def test_a_result_that_cannot_be_fetched_says_where_it_is_and_not_the_text(router, here, found):
    routes = replayed("vid-fal-ai-queue", type("cdn", (), {"url": "http://cdn"}))
    job = "/fal-ai/fal-ai/ltx-video/requests/5c1f2a9e-7d4b-4f0a-9e51-2b8d6c3a7f10"
    routes[f"GET {job}"] = lambda seen: Answer.json({"detail": "Request is still in progress"}, 400)
    server = router(routes)
    result = invoke("-m", "hf/Lightricks/LTX-Video", "A running dog")
    assert (result.exit_code, result.stderr.splitlines()[-1]) == (
        1,
        "Error: fal-ai's job 5c1f2a9e-7d4b-4f0a-9e51-2b8d6c3a7f10 is done, but fetching its result failed: "
        "127.0.0.1 answered 400: Request is still in progress; "
        f"it is at {server.url}{job}?_subdomain=queue",
    )
    assert files(here) == []


def test_the_options_listed_say_what_each_does_and_the_longer_timeout():
    from helpers import PROVIDER_OPTIONS_LISTED, listed_options

    assert listed_options("hf-video") == PROVIDER_OPTIONS_LISTED.replace("(default 300)", "(default 900)") + (
        "    steps: int\n"
        "      Denoising steps\n"
        "    guidance: float\n"
        "      How closely to follow the prompt\n"
        "    seed: int\n"
        "      Random seed, for a repeatable video\n"
        "    negative_prompt: str\n"
        "      What the video should not show\n"
        "    frames: int\n"
        "      How many frames\n"
        "    duration: int\n"
        "      Seconds of video\n"
        "    resolution: str\n"
        "      480p, 720p, 1080p\n"
        "    aspect_ratio: str\n"
        "      16:9, 9:16, 1:1\n"
        "    lora_scale: float\n"
        "      How strongly a LoRA adapter applies (default 1; a LoRA's models only)\n"
        "    save: str\n"
        "      Where to save: a file, or a directory (default: the prompt's words,\n"
        "      here)\n"
    )
    assert "(default 900)" in listed_options("hf-video") and "(default 300)" not in listed_options("hf-video")
