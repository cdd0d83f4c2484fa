"""Text to speech: each provider's request as a stand-in router receives it, its recorded answer, the audio
written to disk as it arrives and saved by what its bytes are, result URLs fetched without the token, the
tool, and every refusal before a request."""

import asyncio
import io
import json
import pathlib
import wave

import llm
import pytest

import llm_hf_inference
from conftest import TEST_TOKEN
from fakeserver import SEARCH, Answer, recorded, recorded_headers
from helpers import LOCAL, POSIX, invoke, logged_turns

pytestmark = LOCAL

KOKORO = "hexgrad/Kokoro-82M"
FAL = "/fal-ai/fal-ai/kokoro/american-english"
TOGETHER = "/together/v1/audio/speech"
DEEPINFRA = "/deepinfra/v1/openai/audio/speech"
REPLICATE = "/replicate/v1/predictions"
VERSION = "dfdf537ba482b029e0a761699e6f55e9162cfd159270bfe0e44857caa5f275a6"
ESPNET = "espnet/kan-bayashi_ljspeech_vits"  # hf-inference's recorded text-to-speech model


def wav_bytes(frames: int = 240) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as audio:
        audio.setnchannels(1)
        audio.setsampwidth(2)
        audio.setframerate(24000)
        audio.writeframes(b"\x01\x00" * frames)
    return out.getvalue()


WAV = wav_bytes()
FLAC = b"fLaC\x80\x00\x00\x22" + bytes(34)  # the stream marker and a last STREAMINFO block
MP3 = b"ID3\x04\x00\x00\x00\x00\x00\x00" + b"\xff\xfb\x90\x64" + bytes(100)


def speak(*args, input=None):
    return invoke("-m", "hf-tts", *args, input=input)


def audio_answer(case, body):
    return lambda seen: Answer(200, recorded_headers(case), body)


def files(folder) -> list:
    return sorted(path.name for path in folder.iterdir())


# -- each provider


def test_fal_answers_a_url_fetched_without_the_token(router, fake, here):
    cdn = fake(
        {"GET /files/koala/kokoro_output_1738056610.wav": audio_answer("tts-2025-replicate-delivery", WAV)}
    )
    answer = json.loads(recorded("tts-fal-ai").body)
    answer["audio"]["url"] = cdn.url + "/files/koala/kokoro_output_1738056610.wav"
    server = router({f"POST {FAL}": lambda seen: Answer.json(answer)})
    result = speak(
        "Good morning, everyone.", "-o", "voice", "af_heart", "-o", "speed", "1.2", "-o", "seed", "0"
    )
    assert (result.exit_code, result.output) == (0, "good-morning-everyone.wav\n")
    assert (here / "good-morning-everyone.wav").read_bytes() == WAV
    assert json.loads(server.seen[0].body) == {
        "text": "Good morning, everyone.",
        "voice": "af_heart",
        "speed": 1.2,
        "seed": 0,
    }
    assert server.seen[0].headers["Authorization"] == f"Bearer {TEST_TOKEN}"
    assert "Authorization" not in cdn.seen[0].headers
    logged = json.loads(logged_turns()[0]["response_json"])
    assert type(logged.pop("seconds")) is float  # from sending it to its result
    assert logged == {
        "provider": "fal-ai",
        "path": str(here / "good-morning-everyone.wav"),
        "type": "audio/wav",
        "bytes": len(WAV),
        "url": answer["audio"]["url"],
    }
    assert files(here) == ["good-morning-everyone.wav"]  # nothing partial left


def test_hf_inference_answers_the_bytes(router, here):
    mapping = [{"provider": "hf-inference", "providerId": ESPNET, "task": "text-to-speech", "status": "live"}]
    llm_hf_inference.store_discovered(
        llm_hf_inference.TTS, [{"id": ESPNET, "inferenceProviderMapping": mapping}]
    )
    server = router({f"POST /hf-inference/models/{ESPNET}": audio_answer("tts-2025-hf-inference-flac", FLAC)})
    result = invoke("-m", f"hf/{ESPNET}", "hello there!", "-u")
    assert (result.exit_code, result.stdout) == (0, "hello-there.flac\n")
    assert 'Token usage: {"provider": "hf-inference"}' in result.stderr
    assert json.loads(server.seen[0].body) == {"inputs": "hello there!", "parameters": {}}
    assert (here / "hello-there.flac").read_bytes() == FLAC
    assert json.loads(logged_turns()[0]["response_json"])["type"] == "audio/flac"


def test_together_gets_kokoros_usual_voice_when_none_is_given(router, here):
    server = router({f"POST {TOGETHER}": lambda seen: Answer(200, {"Content-Type": "audio/wav"}, WAV)})
    assert speak("Hi", "-o", "provider", "together").output == "hi.wav\n"
    assert speak("Hi", "-o", "provider", "together", "-o", "voice", "af_bella").output == "hi-2.wav\n"
    assert [json.loads(seen.body) for seen in server.seen] == [
        {"input": "Hi", "voice": "af_alloy", "model": KOKORO},
        {"input": "Hi", "voice": "af_bella", "model": KOKORO},
    ]


def test_together_refuses_another_model_without_a_voice_before_any_request(router, here):
    orpheus = "canopylabs/orpheus-3b-0.1-ft"
    mapping = [{"provider": "together", "providerId": orpheus, "task": "text-to-speech", "status": "live"}]
    llm_hf_inference.store_discovered(
        llm_hf_inference.TTS, [{"id": orpheus, "inferenceProviderMapping": mapping}]
    )
    server = router({})
    result = invoke("-m", f"hf/{orpheus}", "Hi")
    assert (result.exit_code, result.output) == (
        1,
        f"Error: together needs a voice for {orpheus}: give -o voice NAME "
        "(its voices: https://docs.together.ai/docs/text-to-speech)\n",
    )
    assert server.seen == [] and files(here) == []


def test_deepinfra_takes_the_openai_shape_and_its_mp3_is_named_so(router, here):
    server = router({f"POST {DEEPINFRA}": lambda seen: Answer(200, {"Content-Type": "audio/mpeg"}, MP3)})
    result = speak("Hi", "-o", "provider", "deepinfra", "-o", "voice", "af_heart", "-o", "speed", "2")
    assert (result.exit_code, result.output) == (0, "hi.mp3\n")
    assert json.loads(server.seen[0].body) == {
        "input": "Hi",
        "voice": "af_heart",
        "speed": 2.0,
        "model": KOKORO,
    }


def test_a_text_of_no_latin_letters_is_saved_as_audio_not_image(router, here):
    router({f"POST {DEEPINFRA}": lambda seen: Answer(200, {"Content-Type": "audio/mpeg"}, MP3)})
    result = speak("你好，世界", "-o", "provider", "deepinfra")
    assert (result.exit_code, result.output, files(here)) == (0, "audio.mp3\n", ["audio.mp3"])


def test_replicate_prediction_on_the_versioned_route_and_its_wav(router, fake, here):
    cdn = fake({})
    answer = json.loads(recorded("tts-replicate").body)
    path = "/" + answer["output"].split("/", 3)[3]
    cdn.routes[f"GET {path}"] = audio_answer("tts-2025-replicate-delivery", WAV)
    answer["output"] = cdn.url + path
    server = router({f"POST {REPLICATE}": lambda seen: Answer(201, {}, json.dumps(answer).encode())})
    result = speak(
        "Kokoro is a frontier TTS model", "-o", "provider", "replicate", "-o", "voice", "af_nicole"
    )
    assert (result.exit_code, result.output) == (0, "kokoro-is-a-frontier-tts-model.wav\n")
    assert json.loads(server.seen[0].body) == {
        "input": {"text": "Kokoro is a frontier TTS model", "voice": "af_nicole"},
        "version": VERSION,
    }
    assert server.seen[0].headers["Prefer"] == "wait"
    assert "Authorization" not in cdn.seen[0].headers


def test_replicate_followed_to_its_end_through_the_router(router, fake, here, monkeypatch):
    monkeypatch.setattr(llm_hf_inference, "sleep", lambda seconds: None)
    cdn = fake({})
    started, done = recorded("tts-replicate-poll", 0), recorded("tts-replicate-poll", 1)
    finished = json.loads(done.body)
    path = "/" + finished["output"].split("/", 3)[3]
    cdn.routes[f"GET {path}"] = audio_answer("tts-2025-replicate-delivery", WAV)
    finished["output"] = cdn.url + path
    server = router(
        {
            f"POST {REPLICATE}": lambda seen: started,
            f"GET {REPLICATE}/{finished['id']}": lambda seen: Answer.json(finished),
        }
    )
    result = speak("Hi", "-o", "provider", "replicate")
    assert (result.exit_code, result.output) == (0, "hi.wav\n")
    assert server.seen[1].headers["Authorization"] == f"Bearer {TEST_TOKEN}"


def test_the_async_model_speaks_too(router, here):
    router({f"POST {DEEPINFRA}": lambda seen: Answer(200, {}, WAV)})

    async def go():
        return await llm.get_async_model("hf-tts").prompt("Hi", provider="deepinfra").text()

    assert asyncio.run(go()) == "hi.wav"


# -- the text and the options: refused before any request


@pytest.mark.parametrize(
    "args, message",
    [
        (
            ["-o", "provider", "deepinfra", "-o", "seed", "1"],
            "deepinfra takes no -o seed for hexgrad/Kokoro-82M; choose -o provider fal-ai",
        ),
        (
            ["-o", "provider", "together", "-o", "speed", "2"],
            "together takes no -o speed for hexgrad/Kokoro-82M; "
            "choose -o provider fal-ai or deepinfra or replicate",
        ),
        (
            ["-o", "provider", "groq"],
            "hexgrad/Kokoro-82M is not served by groq for tts; "
            "its providers: fal-ai, deepinfra, together, replicate",
        ),
        (
            ["-s", "Be calm"],
            "A text-to-speech model takes no system prompt (-s): put what it says in the prompt",
        ),
    ],
)
def test_what_cannot_be_done_is_refused_before_any_request(router, here, args, message):
    server = router({})
    result = speak("Hi", *args)
    assert (result.exit_code, result.output) == (1, f"Error: {message}\n")
    assert server.seen == [] and files(here) == []


def test_empty_text_is_refused(router, here):
    server = router({})
    result = speak("  ")
    assert (result.exit_code, result.output) == (
        1,
        'Error: Give the text to read aloud: llm -m hf-tts "Good morning, everyone."\n',
    )
    assert server.seen == []


def test_seed_goes_to_the_first_provider_that_takes_it(router, fake, here):
    cdn = fake({"GET /a.wav": lambda seen: Answer(200, {}, WAV)})
    server = router({f"POST {FAL}": lambda seen: Answer.json({"audio": {"url": cdn.url + "/a.wav"}})})
    assert speak("Hi", "-o", "seed", "3").output == "hi.wav\n"
    assert server.seen[0].path == FAL


def test_text_from_standard_input_and_fragments(router, here):
    server = router({f"POST {DEEPINFRA}": lambda seen: Answer(200, {}, WAV)})
    (here / "note.txt").write_text("From a file.")
    assert speak("-o", "provider", "deepinfra", input="From stdin.\n").output == "from-stdin.wav\n"
    assert (
        speak("-o", "provider", "deepinfra", "-f", "note.txt", "And more").output
        == "from-a-file-and-more.wav\n"
    )
    assert [json.loads(seen.body)["input"] for seen in server.seen] == [
        "From stdin.",
        "From a file.\nAnd more",
    ]


@pytest.mark.parametrize(
    "option, value, message",
    [
        ("speed", "9", "Input should be less than or equal to 4"),
        ("voice", "", "String should have at least 1 character"),  # not sent as "voice": ""
    ],
)
def test_an_option_out_of_bounds_is_an_option_error(option, value, message, router, here):
    server = router({})
    result = speak("Hi", "-o", option, value)
    assert (result.exit_code, result.output, server.seen) == (1, f"Error: {option}\n  {message}\n", [])


def test_a_named_file_is_never_replaced_and_a_directory_takes_the_words(router, here):
    server = router({f"POST {DEEPINFRA}": lambda seen: Answer(200, {}, WAV)})
    (here / "summary.wav").write_bytes(b"mine")
    refused = speak("Hi", "-o", "provider", "deepinfra", "-o", "save", "summary.mp3")
    assert refused.output == "Error: summary.wav exists; not overwritten (choose another -o save)\n"
    assert server.seen == [] and (here / "summary.wav").read_bytes() == b"mine"
    (here / "out").mkdir()
    assert (
        speak("Hi there", "-o", "provider", "deepinfra", "-o", "save", "out").output
        == f"{pathlib.Path('out', 'hi-there.wav')}\n"
    )
    assert speak("Hi", "-o", "provider", "deepinfra", "-o", "save", "talk.mp3").output == "talk.wav\n"


# -- answers that are no audio, errors in one line, nothing saved


@pytest.mark.parametrize(
    "body, said",
    [
        (
            b"<html><body>Bad gateway</body></html>",
            "37 bytes that are not audio: <html><body>Bad gateway</body></html>",
        ),
        (b"", "nothing where audio was expected"),
    ],
)
def test_an_answer_that_is_not_audio_is_one_line_and_nothing_is_saved(router, here, body, said):
    router({f"POST {DEEPINFRA}": lambda seen: Answer(200, {"Content-Type": "text/html"}, body)})
    result = speak("Hi", "-o", "provider", "deepinfra")
    assert (result.exit_code, result.output) == (1, f"Error: deepinfra sent {said}\n")
    assert files(here) == []


@pytest.mark.parametrize(
    "answer",
    [
        Answer.json({"detail": "busy"}),
        Answer(200, {"Content-Type": "application/json"}, b'\r\n  {"detail": "busy"}'),  # JSON by its bytes
        Answer(200, {"Content-Type": "audio/wav"}, b'{"detail": "busy"}'),  # whatever its label
    ],
)
def test_json_without_audio_names_who_answered(router, here, answer):
    router({f"POST {FAL}": lambda seen: answer})
    result = speak("Hi")
    assert (result.exit_code, result.output) == (
        1,
        'Error: fal-ai answered with something that is not audio: {"detail": "busy"}\n',
    )


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.com/a.wav", None])
def test_a_result_url_that_is_not_the_web_is_one_line(router, here, url):
    router({f"POST {FAL}": lambda seen: Answer.json({"audio": {"url": url}})})
    result = speak("Hi")
    assert result.exit_code == 1
    assert result.output == (
        'Error: fal-ai answered with something that is not audio: {"audio": {"url": null}}\n'
        if url is None
        else f"Error: The provider gave a result URL that is not http(s), not fetched: {url}\n"
    )
    assert files(here) == []


def test_a_too_long_text_gets_the_providers_words_and_the_length_sent(router, here):
    words = {"detail": "Input text is too long (max 5000 characters)"}
    router(
        {
            f"POST {DEEPINFRA}": lambda seen: Answer(
                422, {"Content-Type": "application/json"}, json.dumps(words).encode()
            )
        }
    )
    result = speak("x" * 6000, "-o", "provider", "deepinfra")
    assert result.exit_code == 1
    assert (
        result.output.startswith("Error: ")
        and "Input text is too long (max 5000 characters)" in result.output
    )
    assert result.output.endswith(
        " (the text sent: 6000 characters); other providers of hexgrad/Kokoro-82M: fal-ai, together, "
        "replicate (-o provider NAME)\n"
    )


def test_an_answer_over_the_cap_stops_and_leaves_nothing(router, here, monkeypatch):
    monkeypatch.setattr(llm_hf_inference, "MAX_SAVED", 2**20)
    router({f"POST {DEEPINFRA}": lambda seen: Answer(200, {}, WAV + bytes(2**20))})
    result = speak("Hi", "-o", "provider", "deepinfra")
    assert (result.exit_code, result.output) == (
        1,
        "Error: 127.0.0.1 has an answer of 1.0 MB, over the 1 MiB it may be\n",
    )
    assert files(here) == []


def test_a_full_disk_says_where_the_result_still_is(router, fake, here, monkeypatch):
    cdn = fake({"GET /a.wav": lambda seen: Answer(200, {}, WAV)})
    router({f"POST {FAL}": lambda seen: Answer.json({"audio": {"url": cdn.url + "/a.wav"}})})

    def full(partial, place, ext):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(llm_hf_inference, "publish", full)
    result = speak("Hi")
    assert result.output == (
        f"Error: Cannot save the result: No space left on device; it can still be fetched from {cdn.url}/a.wav\n"
    )
    assert files(here) == []


def test_conversations_are_refused_by_llm(router, here):
    router({f"POST {FAL}": lambda seen: Answer.json({})})
    assert not llm.get_model("hf-tts").supports_conversation


def test_a_retried_download_starts_the_file_again(tmp_path):
    class Streamed:
        status_code, headers = 200, {"content-type": "audio/wav"}

        def __init__(self, pieces):
            self.pieces = pieces

        def iter_bytes(self):
            yield from self.pieces

    with open(tmp_path / "out", "wb+") as file:
        request = llm_hf_inference.HFRequest("https://cdn.example/a.wav", "tts", method="GET", into=file)
        assert llm_hf_inference.read_body(Streamed([b"RIFF", b"lost"]), request, None) == b""
        assert llm_hf_inference.read_body(Streamed([WAV[:10], WAV[10:]]), request, None) == b""
    assert (tmp_path / "out").read_bytes() == WAV
    assert request.time_allowed == 2 * request.timeout  # a file's answer has a deadline too (it may grow)


# -- the models, the tool


def test_refresh_finds_the_hubs_text_to_speech_models_and_a_shared_id_stays_the_first(router, here):
    page = json.loads(recorded("catalog", uri=f"pipeline_tag=text-to-speech{SEARCH}").body)
    whisper = {
        "id": "openai/whisper-large-v3",
        "inferenceProviderMapping": [
            {"provider": "fal-ai", "providerId": "fal-ai/whisper", "task": "text-to-speech", "status": "live"}
        ],
    }
    llm_hf_inference.store_discovered(llm_hf_inference.TTS, [*page, whisper])
    assert llm.get_model("hf/nari-labs/Dia-1.6B").spec.providers == (
        ("fal-ai", "fal-ai/dia-tts", "text-to-speech"),
    )
    assert (
        type(llm.get_model("hf/openai/whisper-large-v3")).__name__ == "HFSpeech"
    )  # speech to text, as before
    assert llm.get_model("hf/openai/whisper-large-v3:tts").spec.repo_id == "openai/whisper-large-v3"
    assert llm.get_model("hf-tts").model_id == f"hf/{KOKORO}"
    with pytest.raises(llm.UnknownModelError):
        llm.get_model("hf/someone/tts-elsewhere")  # on a provider of no known route
    table = invoke("hf", "models", "--tts", "-q", "kokoro").output
    assert table == (
        "model               providers                               status\n"
        "hexgrad/Kokoro-82M  fal-ai, replicate, deepinfra, together  live, live, live, live\n"
    )


def test_the_tool_returns_the_path_with_the_audio_attached(router, fake, here):
    cdn = fake({"GET /a.wav": lambda seen: Answer(200, {}, WAV)})
    server = router({f"POST {FAL}": lambda seen: Answer.json({"audio": {"url": cdn.url + "/a.wav"}})})
    said = llm_hf_inference.HFSpeak(directory=str(here)).speak("A haiku about rain", voice="af_sky")
    assert said.output == str(here / "a-haiku-about-rain.wav")
    assert [(a.path, a.resolve_type()) for a in said.attachments] == [(said.output, "audio/wav")]
    assert json.loads(server.seen[0].body) == {"text": "A haiku about rain", "voice": "af_sky"}


def test_the_tools_folder_is_made_when_missing(router, fake, here):
    cdn = fake({"GET /a.wav": lambda seen: Answer(200, {}, WAV)})
    router({f"POST {FAL}": lambda seen: Answer.json({"audio": {"url": cdn.url + "/a.wav"}})})
    said = llm_hf_inference.HFSpeak(directory="new/dir").speak("Hi")
    assert said.output == str(pathlib.Path("new", "dir", "hi.wav"))
    assert (here / "new" / "dir" / "hi.wav").read_bytes() == WAV and files(here) == ["new"]


@POSIX
def test_a_tools_folder_that_cannot_be_made_is_one_line(router, here):
    server = router({})
    (here / "file").write_text("not a folder")
    with pytest.raises(llm.ModelError) as raised:
        llm_hf_inference.HFSpeak(directory="file/sub").speak("Hi")
    assert str(raised.value) == "Cannot make the folder file/sub: Not a directory"
    assert server.seen == []


@pytest.mark.parametrize(
    "tool, model, said",
    [
        ("HFSpeak", "hf-flux", "hf-flux is not a text-to-speech model: 'llm hf models --tts' lists them"),
        (
            "HFSpeak",
            "hf-llama3.1",
            "hf-llama3.1 is not a text-to-speech model: 'llm hf models --tts' lists them",
        ),
        ("HFSpeak", "nosuch", "nosuch is not a text-to-speech model: 'llm hf models --tts' lists them"),
        ("HFImages", "hf-tts", "hf-tts is not an image model: 'llm hf models --images' lists them"),
    ],
)
def test_a_tool_refuses_a_model_of_another_task_in_one_line(router, here, tool, model, said):
    server = router({})
    toolbox = getattr(llm_hf_inference, tool)(model=model)
    with pytest.raises(llm.ModelError) as raised:
        toolbox.speak("Hi") if tool == "HFSpeak" else toolbox.draw("a fox")
    assert (str(raised.value), server.seen, files(here)) == (said, [], [])


def test_every_purpose_has_its_cap_and_its_timeout_hint():
    tasks = llm_hf_inference.TASKS
    assert {name for name, task in tasks.items() if task.timeout_hint.startswith("wait longer")} == {
        "chat",
        "speech",
        "images",
        "tts",
        "video",
        "audio",
        "ocr",
    }  # the others cannot wait longer
    generations = ["speech", "images", "tts", "video", "audio", "ocr"]
    assert [name for name, task in tasks.items() if task.generation] == generations


@pytest.mark.parametrize(
    "status, hint",
    [
        (
            401,
            "Check your Hugging Face token (it needs the 'Make calls to Inference Providers' permission: 'llm hf whoami' says if it has it)",
        ),
        (402, "Your Inference Providers credits are used up: see https://huggingface.co/settings/billing"),
        (429, "Rate limited: wait a little and try again."),
        (503, "The service is unavailable or the model is loading; try again shortly."),
    ],
)
def test_errors_get_chats_hints_in_one_line(router, here, status, hint):
    router({f"POST {DEEPINFRA}": lambda seen: Answer.json({"error": "no"}, status)})
    result = speak("Hi", "-o", "provider", "deepinfra", "-o", "retries", "0")
    assert result.exit_code == 1 and result.output.count("\n") == 1
    assert result.output.startswith("Error: ") and hint in result.output
    assert files(here) == []


def test_a_redirect_to_another_scheme_is_one_line_and_no_token_follows(router, fake, here):
    cdn = fake({"GET /a.wav": lambda seen: Answer(302, {"Location": "file:///etc/passwd"}, b"")})
    router({f"POST {FAL}": lambda seen: Answer.json({"audio": {"url": cdn.url + "/a.wav"}})})
    result = speak("Hi")
    assert result.exit_code == 1 and result.output.count("\n") == 1
    assert result.output.startswith(f"Error: The result is at {cdn.url}/a.wav, but fetching it failed: ")
    assert "Authorization" not in cdn.seen[0].headers and files(here) == []


@POSIX
def test_ctrl_c_during_a_download_stops_at_once_and_leaves_nothing(router, fake, here, ctrl_c_raises):
    import os
    import signal
    import threading
    import time

    def slowly():
        yield WAV[:100]
        time.sleep(5)
        yield WAV[100:]

    cdn = fake({"GET /a.wav": lambda seen: Answer(200, {}, slowly())})
    router({f"POST {FAL}": lambda seen: Answer.json({"audio": {"url": cdn.url + "/a.wav"}})})
    threading.Timer(0.5, lambda: os.kill(os.getpid(), signal.SIGINT)).start()
    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        llm.get_model("hf-tts").prompt("Hi").text()
    assert time.monotonic() - started < 2
    assert files(here) == []  # the partial file removed


def filling(monkeypatch, *full_folders):
    """Files we open in these folders refuse every write, as a full disk does."""
    import builtins

    class Full:
        def __init__(self, file):
            self.file = file

        def write(self, data):
            raise OSError(28, "No space left on device")

        def __getattr__(self, name):
            return getattr(self.file, name)

    def opened(path, *args, **kwargs):
        file = builtins.open(path, *args, **kwargs)  # noqa: SIM115 - the caller closes it
        where = str(pathlib.Path(path).resolve())
        return Full(file) if any(where.startswith(str(folder)) for folder in full_folders) else file

    monkeypatch.setattr(llm_hf_inference, "open", opened, raising=False)


def test_a_disk_that_fills_while_the_audio_arrives_keeps_it_in_llms_folder(router, here, monkeypatch):
    router({f"POST {DEEPINFRA}": lambda seen: Answer(200, {"Content-Type": "audio/mpeg"}, MP3)})
    filling(monkeypatch, here)
    result = speak("Hi", "-o", "provider", "deepinfra")
    kept = llm.user_dir() / "hf-inference-results" / "hi.mp3"
    assert (result.exit_code, result.stdout, result.stderr) == (
        0,
        f"{kept}\n",
        f"llm-hf-inference: . refused the result (No space left on device); saved in {kept}\n",
    )
    assert kept.read_bytes() == MP3 and files(here) == [] and files(kept.parent) == ["hi.mp3"]


def test_a_half_written_result_goes_on_in_llms_folder_whole(here, monkeypatch):
    place = llm_hf_inference.Destination(here, "hi", False)
    file = llm_hf_inference.ResultFile(place)
    file.write(MP3[:10])
    filling(monkeypatch, here)  # full after the first piece
    file.file = llm_hf_inference.open(file.path, "rb+")  # the open file refuses from now on
    file.write(MP3[10:])
    assert (file.refused, file.head(1000)) == ("No space left on device", MP3)
    assert file.publish(".mp3") == llm.user_dir() / "hf-inference-results" / "hi.mp3"
    file.close()
    assert files(here) == [] and files(llm.user_dir() / "hf-inference-results") == ["hi.mp3"]


@pytest.mark.parametrize("cdn_answers", [True, False])
def test_when_no_disk_takes_it_the_line_says_what_is_lost_or_where_it_is(
    router, fake, here, monkeypatch, cdn_answers
):
    cdn = fake({"GET /a.wav": lambda seen: Answer(200, {}, WAV)})
    if cdn_answers:
        router({f"POST {FAL}": lambda seen: Answer.json({"audio": {"url": cdn.url + "/a.wav"}})})
    else:
        router({f"POST {DEEPINFRA}": lambda seen: Answer(200, {"Content-Type": "audio/mpeg"}, MP3)})
    filling(monkeypatch, here, llm.user_dir())
    result = speak("Hi", *([] if cdn_answers else ["-o", "provider", "deepinfra"]))
    where = (
        f"it can still be fetched from {cdn.url}/a.wav"
        if cdn_answers
        else "it came in the provider's answer, so it is lost"
    )
    assert result.output == f"Error: Cannot save the result: No space left on device; {where}\n"
    assert files(here) == [] and files(llm.user_dir() / "hf-inference-results") == []


def test_hf_tts_before_the_first_refresh():
    assert llm.get_model("hf-tts").spec.providers == (
        ("fal-ai", "fal-ai/kokoro/american-english", "text-to-speech"),
        ("deepinfra", KOKORO, "text-to-speech"),
        ("together", KOKORO, "text-to-speech"),
        ("replicate", f"jaaari/kokoro-82m:{VERSION}", "text-to-speech"),
    )
    assert llm.get_model("hf-video").spec.providers == (
        ("fal-ai", "fal-ai/wan-t2v", "text-to-video"),
        ("replicate", "wavespeedai/wan-2.1-t2v-480p", "text-to-video"),
        ("novita", "wan-t2v", "text-to-video"),
    )


def test_a_long_download_says_how_much_has_come_every_ten_seconds(tmp_path, monkeypatch, capsys):
    class Streamed:
        status_code, headers = 200, {}

        def iter_bytes(self):
            yield from (WAV[:1000], bytes(10**6), bytes(10**6), bytes(10**6))

    clock = iter([0.0, 6.0, 12.0, 18.0, 24.0, 30.0, 36.0, 42.0, 48.0])
    monkeypatch.setattr(llm_hf_inference.time, "monotonic", lambda: next(clock))
    with open(tmp_path / "out", "wb+") as file:
        request = llm_hf_inference.HFRequest("https://cdn.example/a.wav", "tts", method="GET", into=file)
        llm_hf_inference.read_body(Streamed(), request, None)
    assert capsys.readouterr().err.splitlines() == [
        "llm-hf-inference: 1.0 MB of the result received",
        "llm-hf-inference: 3.0 MB of the result received",
    ]


def test_an_async_error_answer_is_read_to_its_start_only():
    class Streamed:
        async def aiter_bytes(self):
            for _ in range(100):
                yield bytes(2**16)

    assert len(asyncio.run(llm_hf_inference.read_body_async(Streamed()))) == 2**20 + 2**16


@pytest.mark.parametrize(
    "head, kind, found",
    [
        (b"\xff\xf1\x50\x80", "audio", (".aac", "audio/aac")),  # ADTS: layer bits 00
        (b"\xff\xfb\x90\x64", "audio", (".mp3", "audio/mpeg")),  # an MPEG-1 layer III frame, no ID3 tag
        (b"\x00\x00\x00\x20ftypM4A \x00\x00\x00\x00", "audio", (".m4a", "audio/mp4")),
        (b"\x00\x00\x00\x14ftypqt  \x00\x00\x00\x00", "video", (".mov", "video/quicktime")),
        (b"\x00\x00\x00\x18ftypisom", "image", None),
        (b"RIFF\x00\x00\x00\x00WAVEfmt ", "image", None),
        (b"OggS\x00\x02", "audio", (".ogg", "audio/ogg")),
        (b"ID3\x03\x00", "audio", (".mp3", "audio/mpeg")),  # an MP3 with its tags first
        (b"fLaC\x00", "audio", (".flac", "audio/flac")),
        (b"\x1a\x45\xdf\xa3\x01", "audio", (".webm", "audio/webm")),
        (b"\x1a\x45\xdf\xa3\x01", "video", (".webm", "video/webm")),
        (b"\xff", "audio", None),
    ],
)
def test_the_bytes_say_the_type(head, kind, found):
    assert llm_hf_inference.media_type(head, kind) == found


def test_listing_without_a_cache_searches_the_hub_first(fake, monkeypatch):
    from fakeserver import hub_answer

    hub = fake({"GET /api/models": hub_answer})
    monkeypatch.setenv("HF_ENDPOINT", hub.url)
    result = invoke("hf", "models", "--tts", "-q", "dia")
    assert (result.exit_code, result.output) == (
        0,
        "model               providers  status\nnari-labs/Dia-1.6B  fal-ai     live\n",
    )
    assert len(hub.seen) == 1 and "pipeline_tag=text-to-speech&" in hub.seen[0].path


def test_the_options_listed_say_what_each_does():
    from helpers import PROVIDER_OPTIONS_LISTED, listed_options

    assert listed_options("hf-tts") == PROVIDER_OPTIONS_LISTED + (
        "    voice: str\n"
        "      The voice, by the provider's name for it (af_heart, ...)\n"
        "    speed: float\n"
        "      How fast it speaks (1: as usual)\n"
        "    seed: int\n"
        "      Random seed, for a repeatable reading\n"
        "    save: str\n"
        "      Where to save: a file, or a directory (default: the prompt's words,\n"
        "      here)\n"
    )


def test_a_half_written_result_that_no_disk_takes_leaves_nothing_partial(here, monkeypatch):
    file = llm_hf_inference.ResultFile(llm_hf_inference.Destination(here, "hi", False))
    file.write(MP3[:10])
    filling(monkeypatch, here, llm.user_dir())  # both full after the first piece
    file.file = llm_hf_inference.open(file.path, "rb+")
    with pytest.raises(OSError):
        file.write(MP3[10:])
    file.close()
    assert files(here) == [] and files(llm.user_dir() / "hf-inference-results") == []
