"""Paid work and the clock: every exchange that writes to a file ends by a deadline (one that grows only while
the file keeps coming); a finished job's result and its download are asked again for about a minute; a job's
stated failure ends it at once; a paid result is never lost; Ctrl-C and SIGTERM say where things are."""

import json
import os
import signal
import threading
import time

import llm
import pytest
from test_tts import DEEPINFRA, FAL, MP3, WAV, files, speak
from test_video import MP4, replayed

import llm_hf_inference
from conftest import TEST_TOKEN
from fakeserver import Answer, recorded_headers
from helpers import LOCAL, POSIX, invoke

pytestmark = LOCAL

JOB = "/fal-ai/fal-ai/ltx-video/requests/5c1f2a9e-7d4b-4f0a-9e51-2b8d6c3a7f10"
VIDEO_URL = "/files/kangaroo/IZn0hEJxd5OoapfNX6rSq_tmpfperp_j6.mp4"


@pytest.fixture
def waits(monkeypatch):
    """The waits before retries, none of them waited."""
    waited: list = []
    monkeypatch.setattr(llm_hf_inference, "sleep", waited.append)
    return waited


def tts_request(timeout: float = 0.25) -> llm_hf_inference.HFRequest:
    return llm_hf_inference.HFRequest("https://router.huggingface.co/x", "tts", timeout=timeout)


# -- every exchange that writes to a file ends by a deadline


def test_a_submit_whose_headers_trickle_ends_at_its_deadline(trickle, here, monkeypatch):
    monkeypatch.setattr(llm_hf_inference, "DEFAULT_BASE_URL", trickle + "/v1")
    monkeypatch.setenv("LLM_HF_KEY", TEST_TOKEN)
    started = time.monotonic()
    result = speak("Hi", "-o", "provider", "deepinfra", "-o", "timeout", "0.25")
    assert time.monotonic() - started < 2  # each byte came within the timeout: only the deadline ends it
    assert result.stderr == (
        "Error: 127.0.0.1 did not send its whole answer within 0.5 seconds (twice the timeout); wait longer "
        "with -o timeout SECONDS; the request was sent and may have been processed (and billed), so it is not "
        "sent again\n"
    )
    assert files(here) == []


def test_a_download_whose_headers_trickle_ends_at_its_deadline(trickle, tmp_path):
    started = time.monotonic()
    with open(tmp_path / "out", "wb+") as file, pytest.raises(llm.ModelError) as raised:
        llm_hf_inference.download(trickle + "/a.wav", tts_request(), file)
    assert time.monotonic() - started < 2
    assert str(raised.value) == (
        f"The result is at {trickle}/a.wav, but fetching it failed: 127.0.0.1 did not send its whole answer "
        "within 0.5 seconds (twice the timeout); wait longer with -o timeout SECONDS"
    )


def test_a_body_that_drips_ends_at_its_deadline(fake, tmp_path, capsys):
    def drip():
        for _ in range(400):
            yield b"RIFF"
            time.sleep(0.02)

    cdn = fake({"GET /a.wav": lambda seen: Answer(200, {}, drip())})
    started = time.monotonic()
    with open(tmp_path / "out", "wb+") as file, pytest.raises(llm.ModelError) as raised:
        llm_hf_inference.download(cdn.url + "/a.wav", tts_request(), file)
    assert time.monotonic() - started < 2
    assert str(raised.value).endswith(
        "did not send its whole answer within 0.5 seconds (twice the timeout); "
        "wait longer with -o timeout SECONDS"
    )


def test_a_big_file_that_keeps_coming_is_had_whole_and_a_drip_after_it_ends(fake, tmp_path):
    mib = bytes(2**20)

    def flowing(then_drip: bool):
        for _ in range(4):  # 4 MiB over 0.8 seconds: past the first deadline, each MiB moving it on
            yield mib
            time.sleep(0.2)
        for _ in range(200 if then_drip else 0):
            yield b"x"
            time.sleep(0.02)

    cdn = fake(
        {
            "GET /flow": lambda seen: Answer(200, {}, flowing(False)),
            "GET /drip": lambda seen: Answer(200, {}, flowing(True)),
        }
    )
    with open(tmp_path / "out", "wb+") as file:
        llm_hf_inference.download(cdn.url + "/flow", tts_request(), file)
        assert file.tell() == 4 * 2**20
    started = time.monotonic()
    with open(tmp_path / "out2", "wb+") as file, pytest.raises(llm.ModelError) as raised:
        llm_hf_inference.download(cdn.url + "/drip", tts_request(), file)
    assert time.monotonic() - started < 2.5
    assert str(raised.value) == (
        f"The result is at {cdn.url}/drip, but fetching it failed: 127.0.0.1 sent its answer too slowly "
        "(under 1 MiB in 0.25 seconds); wait longer with -o timeout SECONDS"
    )


# -- failures end fast and say they failed


@pytest.mark.parametrize(
    "body", [json.dumps({"detail": "CUDA error: out of memory"}).encode(), b"CUDA error: out of memory"]
)
def test_a_finished_jobs_stated_failure_is_said_at_once(router, here, found, waits, body):
    routes = replayed("vid-fal-ai-queue", type("cdn", (), {"url": "http://cdn"}))
    routes[f"GET {JOB}"] = lambda seen: Answer(500, {}, body)
    server = router(routes)
    result = invoke("-m", "hf/Lightricks/LTX-Video", "A running dog")
    assert (result.exit_code, result.stderr) == (
        1,
        "Error: fal-ai's job 5c1f2a9e-7d4b-4f0a-9e51-2b8d6c3a7f10 failed: CUDA error: out of memory\n",
    )
    assert server.paths("GET").count(f"{JOB}?_subdomain=queue") == 1 and files(here) == []


def test_a_result_a_gateway_keeps_failing_is_asked_again_for_about_a_minute(router, here, found, waits):
    routes = replayed("vid-fal-ai-queue", type("cdn", (), {"url": "http://cdn"}))
    routes[f"GET {JOB}"] = lambda seen: Answer(502, {}, b"<html><title>502 Bad Gateway</title></html>")
    server = router(routes)
    result = invoke("-m", "hf/Lightricks/LTX-Video", "A running dog")
    assert result.stderr.splitlines()[-1] == (
        "Error: fal-ai's job 5c1f2a9e-7d4b-4f0a-9e51-2b8d6c3a7f10 is done, but fetching its result failed: "
        "127.0.0.1 answered 502: 502 Bad Gateway — The gateway gave up; try again shortly; "
        f"it is at {server.url}{JOB}?_subdomain=queue"
    )
    fetched = server.paths("GET").count(f"{JOB}?_subdomain=queue")
    assert fetched == 1 + llm_hf_inference.retries_within(60) == 6
    assert sum(waits[-5:]) <= 60  # the polls waited before: each POLL_EVERY


def test_a_404_once_on_a_result_is_asked_again_and_gives_no_advice_about_providers(
    router, fake, here, found, waits
):
    cdn = fake({f"GET {VIDEO_URL}": lambda seen: Answer(200, recorded_headers("vid-2025-fal-media"), MP4)})
    routes = replayed("vid-fal-ai-queue", cdn)
    result_route = routes[f"GET {JOB}"]
    answers = iter([lambda seen: Answer(404, {}, b"")])
    routes[f"GET {JOB}"] = lambda seen: next(answers, result_route)(seen)
    router(routes)
    result = invoke("-m", "hf/Lightricks/LTX-Video", "A running dog")
    assert (result.exit_code, result.stdout) == (0, "a-running-dog.mp4\n")
    assert "Choose another provider" not in result.stderr


def test_a_cdn_that_cuts_every_download_is_given_up_after_about_a_minute(router, fake, here, waits):
    cut = Answer(200, {"Content-Length": "1000"}, [WAV[:100]])  # pieces: sent, then the connection closed
    cdn = fake({"GET /a.wav": lambda seen: Answer(cut.status, dict(cut.headers), [WAV[:100]])})
    router({f"POST {FAL}": lambda seen: Answer.json({"audio": {"url": cdn.url + "/a.wav"}})})
    result = speak("Hi")
    assert result.stderr.splitlines()[-1].startswith(
        f"Error: The result is at {cdn.url}/a.wav, but fetching it failed: The answer from 127.0.0.1 was cut off"
    )
    assert len(cdn.seen) == 1 + llm_hf_inference.retries_within(60) and sum(waits) <= 60
    assert files(here) == []


def test_a_gateway_error_on_a_paid_submit_says_it_may_have_been_billed(router, here):
    server = router({f"POST {DEEPINFRA}": lambda seen: Answer(504, {}, b"")})
    result = speak("Hi", "-o", "provider", "deepinfra")
    assert result.stderr == (
        "Error: 127.0.0.1 answered 504: (no message) — The gateway gave up waiting for the provider: the request "
        "may have been processed (and billed), so it is not sent again; look at your usage before trying again\n"
    )
    assert len(server.seen) == 1


def test_a_503_on_a_poll_says_unavailable_not_loading(router, here, found, waits):
    routes = replayed("vid-fal-ai-queue", type("cdn", (), {"url": "http://cdn"}))
    routes[f"GET {JOB}/status"] = lambda seen: Answer(503, {}, b"")
    router(routes)
    result = invoke("-m", "hf/Lightricks/LTX-Video", "A running dog", "-o", "timeout", "1")
    assert "loading" not in result.stderr
    assert result.stderr.splitlines()[0].startswith(
        "llm-hf-inference: 127.0.0.1 is unavailable, retrying in "
    )
    assert "answered 503: (no message) — The service is unavailable; try again shortly" in result.stderr


# -- a paid result is never lost


@POSIX
def test_a_dangling_link_at_the_name_is_refused_before_anything_is_paid(router, here):
    server = router({f"POST {DEEPINFRA}": lambda seen: Answer(200, {}, MP3)})
    os.symlink(here / "nowhere", here / "link.mp3")
    result = speak("Hi", "-o", "provider", "deepinfra", "-o", "save", "link.mp3")
    assert (result.exit_code, result.stderr) == (
        1,
        "Error: link.mp3 exists; not overwritten (choose another -o save)\n",
    )
    assert server.seen == [] and os.path.islink(here / "link.mp3")


def test_a_name_taken_while_the_audio_was_made_saves_it_under_the_next(router, here):
    def made(seen):  # another process, with the same -o save, saved first
        (here / "hi.mp3").write_bytes(b"theirs")
        return Answer(200, {"Content-Type": "audio/mpeg"}, MP3)

    router({f"POST {DEEPINFRA}": made})
    result = speak("Hi", "-o", "provider", "deepinfra", "-o", "save", "hi.mp3")
    assert (result.exit_code, result.stdout, result.stderr) == (
        0,
        "hi-2.mp3\n",
        "llm-hf-inference: hi.mp3 appeared meanwhile; saved as hi-2.mp3\n",
    )
    assert (here / "hi.mp3").read_bytes() == b"theirs" and (here / "hi-2.mp3").read_bytes() == MP3


def test_the_partial_file_is_made_only_when_there_is_something_to_write(router, here):
    seen_there = []

    def made(seen):
        seen_there.append(files(here))
        return Answer(200, {"Content-Type": "audio/mpeg"}, MP3)

    router({f"POST {DEEPINFRA}": made})
    assert speak("Hi", "-o", "provider", "deepinfra").stdout == "hi.mp3\n"
    assert seen_there == [[]]


# -- interruptions say where things are


def later_signal(seconds: float, number=signal.SIGINT) -> None:
    threading.Timer(seconds, lambda: os.kill(os.getpid(), number)).start()


def slow_cdn(fake):
    def slowly():
        yield WAV[:100]
        time.sleep(5)
        yield WAV[100:]

    return fake({"GET /a.wav": lambda seen: Answer(200, {}, slowly())})


@POSIX
def test_ctrl_c_during_a_download_names_the_url(router, fake, here, ctrl_c_raises, capsys):
    cdn = slow_cdn(fake)
    router({f"POST {FAL}": lambda seen: Answer.json({"audio": {"url": cdn.url + "/a.wav"}})})
    later_signal(0.5)
    with pytest.raises(KeyboardInterrupt):
        llm.get_model("hf-tts").prompt("Hi").text()
    assert capsys.readouterr().err == f"llm-hf-inference: stopped; the result is at {cdn.url}/a.wav\n"
    assert files(here) == []


@POSIX
@pytest.mark.parametrize("use_async", [False, True])
def test_sigterm_is_taken_as_ctrl_c_and_its_handler_put_back(use_async, router, fake, here, capsys):
    import asyncio

    cdn = slow_cdn(fake)
    router({f"POST {FAL}": lambda seen: Answer.json({"audio": {"url": cdn.url + "/a.wav"}})})
    before = signal.getsignal(signal.SIGTERM)
    later_signal(0.5, signal.SIGTERM)
    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        if use_async:  # llm --async: the loop stops, cancelling the task; its worker stops at its next step
            asyncio.run(llm.get_async_model("hf-tts").prompt("Hi").text())
        else:
            llm.get_model("hf-tts").prompt("Hi").text()
    assert time.monotonic() - started < 2
    said = ""
    while time.monotonic() - started < 3 and not (said and files(here) == []):  # the worker stops, cleans up
        said += capsys.readouterr().err
        time.sleep(0.05)
    assert said == f"llm-hf-inference: stopped; the result is at {cdn.url}/a.wav\n"
    assert files(here) == [] and signal.getsignal(signal.SIGTERM) is before


def test_async_tasks_that_overlap_put_back_the_sigterm_handler_before_them(router, here):
    """The first to begin ends first, the second last: the handler is the one before both, not the first's."""
    import asyncio

    def made(seen):
        time.sleep(0.3 if b"slow" in seen.body else 0)
        return Answer(200, {"Content-Type": "audio/wav"}, WAV)

    router({f"POST {DEEPINFRA}": made})
    before = signal.getsignal(signal.SIGTERM)

    async def both():
        model = llm.get_async_model("hf-tts")
        return await asyncio.gather(*(model.prompt(t, provider="deepinfra").text() for t in ("Hi", "slow")))

    assert asyncio.run(both()) == ["hi.wav", "slow.wav"]
    assert signal.getsignal(signal.SIGTERM) is before


def test_a_task_in_another_thread_makes_its_result_and_leaves_sigterm_alone(router, here):
    # Python sets signal handlers in the main thread only: a task run in another thread takes none
    router({f"POST {FAL}": lambda seen: Answer(200, {"Content-Type": "audio/wav"}, WAV)})
    before, made = signal.getsignal(signal.SIGTERM), []
    worker = threading.Thread(target=lambda: made.append(llm.get_model("hf-tts").prompt("Hi").text()))
    worker.start()
    worker.join(10)
    assert (made, files(here), signal.getsignal(signal.SIGTERM)) == (["hi.wav"], ["hi.wav"], before)


def test_a_sigterm_handler_python_did_not_set_is_left_alone(router, here, monkeypatch):
    # an application embedding Python may handle SIGTERM in C: getsignal says None, and None cannot be put back
    router({f"POST {FAL}": lambda seen: Answer(200, {"Content-Type": "audio/wav"}, WAV)})
    set_to = []
    monkeypatch.setattr(signal, "getsignal", lambda number: None)
    monkeypatch.setattr(signal, "signal", lambda number, handler: set_to.append(handler))
    assert (llm.get_model("hf-tts").prompt("Hi").text(), files(here), set_to) == ("hi.wav", ["hi.wav"], [])


@POSIX
def test_ctrl_c_with_the_submit_in_flight_says_it_was_sent(router, here, ctrl_c_raises, capsys):
    def slowly(seen):
        time.sleep(3)
        return Answer(200, {}, MP3)

    router({f"POST {DEEPINFRA}": slowly})
    later_signal(0.5)
    with pytest.raises(KeyboardInterrupt):
        llm.get_model("hf-tts").prompt("Hi", provider="deepinfra").text()
    assert capsys.readouterr().err == (
        "llm-hf-inference: stopped; the request was sent to deepinfra and may still run (and be billed)\n"
    )
    assert files(here) == []


@POSIX
def test_an_answer_that_comes_after_ctrl_c_leaves_no_partial_file(router, here, ctrl_c_raises, capsys):
    answered = threading.Event()

    def slowly(seen):
        time.sleep(1)
        answered.set()
        return Answer(200, {}, MP3)

    router({f"POST {DEEPINFRA}": slowly})
    later_signal(0.3)
    with pytest.raises(KeyboardInterrupt):
        llm.get_model("hf-tts").prompt("Hi", provider="deepinfra").text()
    answered.wait(5)
    time.sleep(0.3)  # the worker given up on has had the answer
    assert files(here) == []


def test_ctrl_c_while_a_job_that_cannot_be_cancelled_runs_says_where_its_result_will_be(
    router, here, monkeypatch, capsys
):
    routes = replayed("vid-novita", type("cdn", (), {"url": "http://cdn"}))
    server = router(routes)

    def interrupted(seconds):
        raise KeyboardInterrupt

    monkeypatch.setattr(llm_hf_inference, "sleep", interrupted)
    with pytest.raises(KeyboardInterrupt):
        llm.get_model("hf-video").prompt("a boat", provider="novita").text()
    assert capsys.readouterr().err == (
        "llm-hf-inference: novita's task nv-9b8c goes on (it cannot be stopped from here); its result: "
        f"{server.url}/novita/v3/async/task-result?task_id=nv-9b8c\n"
    )
    assert server.paths("POST") == ["/novita/v3/async/wan-t2v"]


def test_ctrl_c_just_after_the_file_is_saved_names_it(router, here, monkeypatch, capsys):
    router({f"POST {DEEPINFRA}": lambda seen: Answer(200, {"Content-Type": "audio/mpeg"}, MP3)})

    def interrupted(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(llm_hf_inference, "field_of", interrupted)
    with pytest.raises(KeyboardInterrupt):
        llm.get_model("hf-tts").prompt("Hi", provider="deepinfra").text()
    assert capsys.readouterr().err == "llm-hf-inference: stopped; the result is saved in hi.mp3\n"
    assert (here / "hi.mp3").read_bytes() == MP3


def test_a_cancel_that_stalls_says_no_answer_and_no_timeout_advice(router, here, found, monkeypatch, capsys):
    routes = replayed("vid-fal-ai-queue", type("cdn", (), {"url": "http://cdn"}))

    def stalled(seen):
        time.sleep(2)
        return Answer.json({})

    routes[f"PUT {JOB}/cancel"] = stalled
    server = router(routes)

    def interrupted(seconds):
        raise KeyboardInterrupt

    monkeypatch.setattr(llm_hf_inference, "sleep", interrupted)
    with pytest.raises(KeyboardInterrupt):
        llm.get_model("hf/Lightricks/LTX-Video").prompt("A running dog").text()
    assert capsys.readouterr().err == (
        "llm-hf-inference: fal-ai's job 5c1f2a9e-7d4b-4f0a-9e51-2b8d6c3a7f10 may go on: asking it to stop failed "
        f"(no answer); its result: {server.url}{JOB}?_subdomain=queue\n"
    )


def test_a_tts_answer_that_is_an_image_says_so_without_mojibake(router, here):
    png = b"\x89PNG\r\n\x1a\n" + bytes(40)
    router({f"POST {DEEPINFRA}": lambda seen: Answer(200, {}, png)})
    result = speak("Hi", "-o", "provider", "deepinfra")
    assert result.stderr == "Error: deepinfra sent a PNG file, not audio\n"


# -- words: no Python or httpx internals, nothing a terminal obeys


@POSIX
def test_a_save_name_too_long_for_the_system_is_said_in_words(router, here):
    server = router({})
    result = speak("Hi", "-o", "save", "x" * 300 + "/a.wav")
    assert result.stderr == f"Error: -o save {'x' * 300}/a.wav: the file name is too long\n"
    assert server.seen == []


def test_a_redirect_to_a_file_url_is_said_in_words(router, fake, here):
    cdn = fake({"GET /a.wav": lambda seen: Answer(302, {"Location": "file:///etc/passwd"}, b"")})
    router({f"POST {FAL}": lambda seen: Answer.json({"audio": {"url": cdn.url + "/a.wav"}})})
    assert speak("Hi").stderr == (
        f"Error: The result is at {cdn.url}/a.wav, but fetching it failed: The request to 127.0.0.1 was sent on "
        "to a URL that is neither http nor https (Request URL has an unsupported protocol 'file://'.)\n"
    )


def test_a_one_character_prompt_refused_says_character(router, here):
    router({f"POST {FAL}": lambda seen: Answer.json({"detail": "too short"}, 422)})
    assert speak("A").stderr == (
        "Error: 127.0.0.1 answered 422: too short (the text sent: 1 character); other providers of "
        "hexgrad/Kokoro-82M: deepinfra, together, replicate (-o provider NAME)\n"
    )


def test_a_hint_ending_a_sentence_is_joined_without_a_stray_full_stop(router, here, found, waits):
    routes = replayed("vid-fal-ai-queue", type("cdn", (), {"url": "http://cdn"}))
    routes[f"GET {JOB}/status"] = lambda seen: Answer.json({"error": "slow down"}, 429)
    server = router(routes)
    said = invoke("-m", "hf/Lightricks/LTX-Video", "A running dog", "-o", "timeout", "1").stderr.splitlines()[
        -1
    ]
    assert said == (
        "Error: 127.0.0.1 answered 429: slow down — Rate limited: wait a little and try again; fal-ai's job "
        f"5c1f2a9e-7d4b-4f0a-9e51-2b8d6c3a7f10 may still finish (it is looked at {server.url}{JOB}/status"
        "?_subdomain=queue)"
    )


def test_line_and_paragraph_separators_are_no_line_breaks_in_what_a_server_says():
    assert llm_hf_inference.redact("one\u2028two\u2029three\x85four") == "one two three four"


def test_a_task_given_up_before_its_request_is_sent_says_nothing_was_sent(router, capsys):
    server = router({})
    stop = threading.Event()
    stop.set()  # an async task cancelled before its worker began
    options = llm_hf_inference.tts_options()()
    chosen = ("deepinfra", "hexgrad/Kokoro-82M", None)
    with pytest.raises(llm_hf_inference.Stopped):
        llm_hf_inference.run_task("tts", chosen, options, {}, "Hi", TEST_TOKEN, stop)
    assert (capsys.readouterr().err, server.seen) == ("", [])
