"""Speech to text: each provider's request as it leaves (the bytes a stand-in router receives), its recorded
answer read back, the options each takes, and every error in one line."""

import base64
import json
import os
import re
import uuid

import llm
import pytest

import llm_hf_inference
from conftest import TEST_TOKEN
from fakeserver import SEARCH, Answer, recorded
from helpers import LOCAL, POSIX, PROVIDER_OPTIONS_LISTED, invoke, listed_options, logged_turns, run

WHISPER = "/hf-inference/models/openai/whisper-large-v3"
FAL = "/fal-ai/fal-ai/whisper"
TOGETHER = "/together/v1/audio/transcriptions"
DEEPINFRA = "/deepinfra/v1/openai/audio/transcriptions"
REPLICATE = "/replicate/v1/predictions"
PREDICTION = "/replicate/v1/predictions/q0d5j3qv5drma0cmjfcbkd5t3g"
TRANSCRIPT = "A man said to the universe, Sir, I exist."
TIMED = "[0:00.0 --> 0:02.1] A man said to the universe,\n[0:02.1 --> 0:04.1] Sir, I exist."
TURBO = "openai/whisper-large-v3-turbo"  # together, deepinfra and replicate serve it (the catalog cassette)
REPLICATE_WHISPER = "openai/whisper:8099696689d249cf8b122d833c36ac3f75505c666a395ca40ef26f68e7d3d16e"

pytestmark = LOCAL


def wav(tmp_path, frames=800):
    """A real (silent) WAV file: llm types it audio/wav."""
    import wave

    path = tmp_path / "talk.wav"
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(b"\x01\x00" * frames)
    return path


def flac(tmp_path):
    path = tmp_path / "talk.flac"
    path.write_bytes(b"fLaC" + bytes(range(256)) * 4)
    return path


def webm(tmp_path):
    path = tmp_path / "talk.webm"
    path.write_bytes(
        bytes.fromhex("1a45dfa39f4286810142f7810142f2810442f381084282") + b"\x84webm" + bytes(200)
    )
    return path


@pytest.fixture
def turbo():
    """The Hub's speech models as 'llm hf refresh' stored them: whisper-large-v3-turbo on three providers."""
    page = recorded("catalog", uri=f"pipeline_tag=automatic-speech-recognition{SEARCH}")
    llm_hf_inference.store_discovered(llm_hf_inference.SPEECH, json.loads(page.body))


def transcribe(*args, input=None):
    return invoke("-m", *args, input=input)


# -- each provider's request, and its answer


def test_hf_inference_gets_the_file_as_it_is(router, tmp_path):
    server = router({f"POST {WHISPER}": lambda seen: recorded("asr-hf-inference")})
    audio = wav(tmp_path)
    result = transcribe("hf-whisper", "-a", str(audio))
    assert (result.exit_code, result.output) == (0, "a man said to the universe sir i exist\n")
    (seen,) = server.seen
    assert seen.body == audio.read_bytes()
    assert (seen.headers["Content-Type"], seen.headers["Authorization"]) == (
        "audio/wav",
        f"Bearer {TEST_TOKEN}",
    )
    assert seen.headers["Content-Length"] == str(audio.stat().st_size)
    (turn,) = logged_turns()
    assert json.loads(turn["response_json"]) == {"provider": "hf-inference", "duration": 4.65}


def test_hf_inference_with_timestamps_gets_json_with_the_parameter(router, tmp_path):
    server = router({f"POST {WHISPER}": lambda seen: recorded("asr-hf-inference-timestamps")})
    audio = wav(tmp_path)
    result = transcribe("hf-whisper", "-a", str(audio), "-o", "timestamps", "1")
    assert (result.exit_code, result.output) == (0, TIMED + "\n")
    encoded = base64.b64encode(audio.read_bytes()).decode()
    assert (
        server.seen[0].body
        == json.dumps({"inputs": encoded, "parameters": {"return_timestamps": True}}).encode()
    )
    assert server.seen[0].headers["Content-Type"] == "application/json"
    segments = json.loads(logged_turns()[0]["response_json"])["segments"]
    assert segments == [
        {"start": 0.0, "end": 2.1, "text": "A man said to the universe,"},
        {"start": 2.1, "end": 4.08, "text": "Sir, I exist."},
    ]


@pytest.mark.parametrize(
    "make, label", [(wav, "audio/x-wav"), (flac, "audio/mpeg"), (webm, "video/webm")]
)  # fal refuses audio/wav, and reads FLAC sent as audio/mpeg
def test_fal_gets_a_data_url_with_a_label_it_takes(make, label, router, tmp_path):
    server = router({f"POST {FAL}": lambda seen: recorded("asr-fal-ai")})
    audio = make(tmp_path)
    result = transcribe("hf-whisper", "-a", str(audio), "-o", "provider", "fal-ai", "-o", "language", "en")
    assert (result.exit_code, result.output) == (0, TRANSCRIPT + "\n")
    url = f"data:{label};base64,{base64.b64encode(audio.read_bytes()).decode()}"
    assert server.seen[0].body == json.dumps({"audio_url": url, "language": "en"}).encode()
    assert json.loads(logged_turns()[0]["response_json"])["segments"] == [
        {"start": 0.0, "end": 4.08, "text": TRANSCRIPT}
    ]


def multipart(audio, fields, boundary):
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="audio.wav"\r\n'
        "Content-Type: audio/wav\r\n\r\n".encode()
        + audio
    ]
    parts += [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}'.encode() for k, v in fields
    ]
    return b"\r\n".join(parts) + f"\r\n--{boundary}--\r\n".encode()


@pytest.mark.parametrize(
    "provider, route, provider_id",
    [("together", TOGETHER, "openai/whisper-large-v3"), ("deepinfra", DEEPINFRA, TURBO)],
)
def test_openai_style_providers_get_a_form_with_the_prompt(
    provider, route, provider_id, router, turbo, tmp_path, monkeypatch
):
    server = router({f"POST {route}": lambda seen: recorded(f"asr-{provider}")})
    monkeypatch.setattr(uuid, "uuid4", lambda: uuid.UUID(int=7))
    audio = wav(tmp_path)
    result = transcribe(
        f"hf/{TURBO}", "Names: Sir", "-a", str(audio), "-o", "provider", provider, "-o", "language", "en"
    )
    assert result.exit_code == 0, result.output
    fields = [("language", "en"), ("prompt", "Names: Sir"), ("model", provider_id)]
    assert server.seen[0].body == multipart(audio.read_bytes(), fields, uuid.UUID(int=7).hex)
    assert server.seen[0].headers["Content-Type"] == f"multipart/form-data; boundary={uuid.UUID(int=7).hex}"


def test_timestamps_from_together_ask_for_segments(router, turbo, tmp_path, monkeypatch):
    server = router({f"POST {TOGETHER}": lambda seen: recorded("asr-together-timestamps")})
    monkeypatch.setattr(uuid, "uuid4", lambda: uuid.UUID(int=7))
    audio = wav(tmp_path)
    result = transcribe(f"hf/{TURBO}", "-a", str(audio), "-o", "timestamps", "1")
    assert (result.exit_code, result.output) == (0, TIMED + "\n")
    fields = [("response_format", "verbose_json"), ("model", "openai/whisper-large-v3")]
    assert server.seen[0].body == multipart(audio.read_bytes(), fields, uuid.UUID(int=7).hex)
    assert json.loads(logged_turns()[0]["response_json"])["language"] == "english"


def test_replicate_waits_then_polls_the_prediction_to_its_end(router, turbo, tmp_path, monkeypatch):
    answers = iter([recorded("asr-replicate", 1), recorded("asr-replicate", 2)])
    server = router(
        {
            f"POST {REPLICATE}": lambda seen: recorded("asr-replicate"),
            f"GET {PREDICTION}": lambda seen: next(answers),
        }
    )
    monkeypatch.setattr(llm_hf_inference, "sleep", lambda seconds: None)
    audio = wav(tmp_path)
    args = [
        "-o",
        "provider",
        "replicate",
        "-o",
        "timestamps",
        "1",
        "-o",
        "language",
        "en",
        "-o",
        "bill_to",
        "acme",
    ]
    result = transcribe(f"hf/{TURBO}", "-a", str(audio), *args)
    assert (result.exit_code, result.output) == (0, TIMED + "\n")
    assert server.paths() == [REPLICATE, PREDICTION, PREDICTION]
    url = f"data:audio/wav;base64,{base64.b64encode(audio.read_bytes()).decode()}"
    version = REPLICATE_WHISPER.split(":")[1]
    assert (
        server.seen[0].body
        == json.dumps({"input": {"audio": url, "language": "en"}, "version": version}).encode()
    )
    assert [seen.headers["X-HF-Bill-To"] for seen in server.seen] == ["acme"] * 3
    assert server.seen[0].headers["Prefer"] == "wait"
    assert server.seen[1].headers["Authorization"] == f"Bearer {TEST_TOKEN}"  # the router's own host
    assert "Content-Type" not in server.seen[1].headers and server.seen[1].body == b""


def test_a_prediction_past_its_timeout_says_so_with_progress_on_the_way(router, turbo, tmp_path, monkeypatch):
    server = router(
        {
            f"POST {REPLICATE}": lambda seen: recorded("asr-replicate"),
            f"GET {PREDICTION}": lambda seen: recorded("asr-replicate", 1),
        }
    )
    clock = [1000.0]
    monkeypatch.setattr(llm_hf_inference.time, "monotonic", lambda: clock[0])
    monkeypatch.setattr(llm_hf_inference, "sleep", lambda seconds: clock.__setitem__(0, clock[0] + 5))
    args = ["-o", "provider", "replicate", "-o", "timeout", "12"]
    result = transcribe(f"hf/{TURBO}", "-a", str(wav(tmp_path)), *args)
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        "llm-hf-inference: replicate is transcribing (processing, 10 s)",
        "llm-hf-inference: replicate is transcribing (processing, 20 s)",
        "Error: replicate's prediction q0d5j3qv5drma0cmjfcbkd5t3g was not finished after 25 seconds "
        f"(status processing); its result can still be fetched at {server.url}/replicate/v1/predictions/"
        "q0d5j3qv5drma0cmjfcbkd5t3g (wait longer with -o timeout SECONDS)",
    ]


def test_a_failed_prediction_is_one_line(router, turbo, tmp_path):
    router({f"POST {REPLICATE}": lambda seen: recorded("asr-replicate-failed")})
    result = transcribe(f"hf/{TURBO}", "-a", str(wav(tmp_path)), "-o", "provider", "replicate")
    assert (result.exit_code, result.stderr) == (
        1,
        "Error: replicate's prediction q0d5j3qv5drma0cmjfcbkd5t3g failed: CUDA out of memory\n",
    )


def test_the_async_model_transcribes_too(router, tmp_path):
    router({f"POST {WHISPER}": lambda seen: recorded("asr-hf-inference")})
    out = run("hf-whisper", None, use_async=True, attachments=[llm.Attachment(path=str(wav(tmp_path)))])
    assert (out.text, out.usage.details) == (
        "a man said to the universe sir i exist",
        {"provider": "hf-inference", "audio_seconds": 4.65},
    )


def test_a_retry_sends_the_whole_file_again(router, tmp_path, monkeypatch):
    answers = iter(
        [Answer.json({"error": "Model is loading", "estimated_time": 1.0}, 503), recorded("asr-hf-inference")]
    )
    server = router({f"POST {WHISPER}": lambda seen: next(answers)})
    monkeypatch.setattr(llm_hf_inference, "sleep", lambda seconds: None)
    monkeypatch.setattr(llm_hf_inference, "AUDIO_PIECE", 300)
    audio = wav(tmp_path)
    result = transcribe("hf-whisper", "-a", str(audio))
    assert result.exit_code == 0, result.output
    assert [seen.body for seen in server.seen] == [audio.read_bytes()] * 2


def test_no_token_goes_with_the_audio_to_a_server_that_is_not_hugging_face(fake, tmp_path, monkeypatch):
    server = fake({f"POST {WHISPER}": lambda seen: recorded("asr-hf-inference")})
    monkeypatch.setenv("LLM_HF_BASE_URL", server.url + "/v1")
    assert transcribe("hf-whisper", "-a", str(wav(tmp_path))).exit_code == 0
    assert "Authorization" not in server.seen[0].headers


def test_audio_from_standard_input(router, tmp_path):
    server = router({f"POST {WHISPER}": lambda seen: recorded("asr-hf-inference")})
    audio = wav(tmp_path).read_bytes()
    result = transcribe("hf-whisper", "-a", "-", input=audio)
    assert (result.exit_code, server.seen[0].body) == (0, audio)


def test_usage_shows_who_transcribed(router, tmp_path):
    router({f"POST {WHISPER}": lambda seen: recorded("asr-hf-inference")})
    result = transcribe("hf-whisper", "-a", str(wav(tmp_path)), "-u")
    assert result.stderr == 'Token usage: {"provider": "hf-inference", "audio_seconds": 4.65}\n'


def test_a_slow_upload_says_how_far_it_has_got(router, tmp_path, monkeypatch):
    server = router({f"POST {WHISPER}": lambda seen: recorded("asr-hf-inference")})
    monkeypatch.setattr(llm_hf_inference, "AUDIO_PIECE", 100_002)
    monkeypatch.setattr(llm_hf_inference, "UPLOAD_SAYS", 0.0)
    audio = wav(tmp_path, 120_000)  # 240,044 bytes
    result = transcribe("hf-whisper", "-a", str(audio))
    assert result.stderr.splitlines() == [
        "llm-hf-inference: sent 0.1 of 0.2 MB to hf-inference",
        "llm-hf-inference: sent 0.2 of 0.2 MB to hf-inference",
        "llm-hf-inference: sent 0.2 of 0.2 MB to hf-inference",
    ]
    assert server.seen[0].body == audio.read_bytes()


def test_an_upload_longer_than_the_deadline_never_costs_the_answer(router, tmp_path, monkeypatch):
    router({f"POST {WHISPER}": lambda seen: recorded("asr-hf-inference")})
    monkeypatch.setattr(llm_hf_inference, "AUDIO_PIECE", 100_002)
    clock = [1000.0]
    monkeypatch.setattr(llm_hf_inference.time, "monotonic", lambda: clock[0])
    pieces = llm_hf_inference.Audio.pieces

    def slow(audio):  # each piece takes 100 seconds on a slow uplink
        for piece in pieces(audio):
            clock[0] += 100
            yield piece

    monkeypatch.setattr(llm_hf_inference.Audio, "pieces", slow)
    result = transcribe("hf-whisper", "-a", str(wav(tmp_path, 120_000)), "-o", "timeout", "3")
    assert (result.exit_code, result.stdout) == (0, "a man said to the universe sir i exist\n")
    assert clock[0] == 1300.0  # three pieces sent, far past twice the timeout


def test_timestamps_a_provider_did_not_send_are_said_once(router, tmp_path):
    router({f"POST {WHISPER}": lambda seen: recorded("asr-hf-inference")})
    result = transcribe("hf-whisper", "-a", str(wav(tmp_path)), "-o", "timestamps", "1")
    assert (result.stdout, result.stderr) == (
        "a man said to the universe sir i exist\n",
        "llm-hf-inference: hf-inference sent no timestamps; the transcript is plain text\n",
    )


@pytest.mark.parametrize(
    "output, text",
    [
        ("plain text", "plain text"),
        (["first", "second"], "first"),
        ([{"transcription": " the first "}, {"transcription": "second"}], "the first"),
        ([3, "x"], None),
        ({"translation": " in English "}, "in English"),
        ({"detected_language": "english"}, None),
        ([], None),
    ],
)
def test_every_output_shape_of_a_replicate_model(output, text):
    transcript = llm_hf_inference.replicate_transcript(output)
    assert (transcript.text if transcript else None) == text


# -- refused before any request


@pytest.mark.parametrize(
    "args, message",
    [
        ([], "Error: Attach one audio file: -a talk.mp3 (or -a - to read it from standard input)\n"),
        (["-a", "{second}"], "Error: Attach one audio file at a time, not 2\n"),
        (
            ["-o", "provider", "groq"],
            "Error: openai/whisper-large-v3 is not served by groq for speech; its providers: hf-inference, fal-ai\n",
        ),
        (
            ["-o", "language", "fr", "-o", "provider", "hf-inference"],
            "Error: hf-inference takes no -o language for openai/whisper-large-v3; choose -o provider fal-ai\n",
        ),
        (
            ["Names: Sir", "-o", "provider", "fal-ai"],
            "Error: fal-ai takes no prompt or system text for openai/whisper-large-v3; leave it out\n",
        ),
        (
            ["Names: Sir"],
            "Error: hf-inference takes no prompt or system text for openai/whisper-large-v3; leave it out\n",
        ),
        (["-o", "language", "français"], None),
    ],
)
def test_what_a_provider_cannot_take_is_refused_before_any_request(args, message, router, tmp_path):
    server = router({})
    audio = [] if not args else ["-a", str(wav(tmp_path))]
    args = [arg.format(second=flac(tmp_path)) for arg in args]
    result = transcribe("hf-whisper", *args, *audio)
    assert (result.exit_code, server.seen) == (1, [])
    if message:
        assert result.stderr == message
    else:
        assert "a language code such as en, fr or pt-BR" in result.output


def test_a_wrong_attachment_type_and_a_conversation_are_refused_by_llm(router, tmp_path):
    server = router({f"POST {WHISPER}": lambda seen: recorded("asr-hf-inference")})
    assert transcribe("hf-whisper", "-a", str(wav(tmp_path))).exit_code == 0
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    result = transcribe("hf-whisper", "-a", str(text))
    assert result.stderr.startswith(
        "Error: This model does not support attachments of type 'text/plain', only "
    )
    for args in (["-m", "hf-whisper", "-c", "more"], ["chat", "-m", "hf-whisper"]):
        result = invoke(*args)
        assert (result.exit_code, result.stderr) == (
            1,
            "Error: Hugging Face: hf/openai/whisper-large-v3 does not support conversations\n",
        )
    assert len(server.seen) == 1  # the first transcription alone


# -- errors, in one line


def test_too_large_for_one_provider_names_the_others(router, turbo, tmp_path):
    router({f"POST {TOGETHER}": lambda seen: recorded("asr-together-413")})
    audio = wav(tmp_path, 100_000)
    result = transcribe(f"hf/{TURBO}", "-a", str(audio))
    assert result.exit_code == 1
    assert result.stderr == (
        "Error: together answered 413: Request Entity Too Large (the audio sent: 0.2 MB); other providers of "
        f"{TURBO}: deepinfra, replicate (-o provider NAME)\n"
    )


def test_a_providers_refusal_shows_its_words(router, tmp_path):
    router({f"POST {FAL}": lambda seen: recorded("asr-fal-ai-400")})
    result = transcribe("hf-whisper", "-a", str(wav(tmp_path)), "-o", "provider", "fal-ai")
    assert (result.exit_code, result.stderr) == (  # in the words every task's refusal has
        1,
        "Error: fal-ai answered 400: Unsupported data URL (the audio sent: 2 KB); other providers of "
        "openai/whisper-large-v3: hf-inference (-o provider NAME)\n",
    )


def test_an_answer_that_is_no_transcript_is_one_line(router, tmp_path):
    router({f"POST {WHISPER}": lambda seen: Answer.json([{"label": "speech", "score": 0.9}])})
    result = transcribe("hf-whisper", "-a", str(wav(tmp_path)))
    assert result.stderr == (
        'Error: hf-inference answered with something that is not a transcript: [{"label": "speech", "score": 0.9}]\n'
    )


def test_a_rejected_token_gets_the_hint_chat_gives(router, tmp_path):
    answer = Answer.json({"error": "Invalid credentials in Authorization header"}, 401)
    answer.headers["x-inference-provider"] = "hf-inference"  # the router names who answered, errors too
    router({f"POST {WHISPER}": lambda seen: answer})
    result = transcribe("hf-whisper", "-a", str(wav(tmp_path)))
    assert result.stderr == (
        "Error: hf-inference answered 401: Invalid credentials in Authorization header — Check your Hugging Face "
        "token (it needs the 'Make calls to Inference Providers' permission: 'llm hf whoami' says if it has it): 'llm keys set huggingface', "
        "HF_TOKEN, or 'hf auth login'.\n"
    )


def test_replicate_refusing_its_input_shows_its_words(router, turbo, tmp_path):
    answer = recorded("asr-replicate-422")
    answer.headers["x-inference-provider"] = "replicate"  # recorded from replicate itself; the router adds it
    router({f"POST {REPLICATE}": lambda seen: answer})
    result = transcribe(f"hf/{TURBO}", "-a", str(wav(tmp_path)), "-o", "provider", "replicate")
    assert result.stderr == (
        "Error: replicate answered 422: - Additional property provider is not allowed (the audio sent: 2 KB); "
        f"other providers of {TURBO}: together, deepinfra (-o provider NAME)\n"
    )


# -- discovery


def test_refresh_finds_the_speech_models_providers_serve(turbo):
    rows = llm_hf_inference.discovered_rows(llm_hf_inference.SPEECH)
    asr = "automatic-speech-recognition"
    assert rows == {
        "hf/openai/whisper-large-v3": f"fal-ai=fal-ai/whisper={asr},hf-inference=openai/whisper-large-v3={asr}",
        f"hf/{TURBO}": (
            f"together=openai/whisper-large-v3={asr},deepinfra={TURBO}={asr},replicate={REPLICATE_WHISPER}={asr}"
        ),
    }
    assert invoke("hf", "models", "--speech").output == (
        "model                          providers                       status\n"
        "openai/whisper-large-v3        fal-ai, hf-inference            live, live\n"
        f"{TURBO}  together, deepinfra, replicate  live, live, live\n"
    )


def test_a_model_that_is_a_chat_model_too_stays_the_chat_model(turbo):
    chat = {"id": TURBO, "providers": [{"provider": "together", "status": "live"}]}
    llm_hf_inference.store_catalog(json.dumps({"data": [chat]}).encode())
    assert type(llm.get_model(f"hf/{TURBO}")) is llm_hf_inference.HFChat
    assert type(llm.get_model("hf/openai/whisper-large-v3")) is llm_hf_inference.HFSpeech


@pytest.mark.parametrize(
    "row",
    ["nowhere=x=automatic-speech-recognition", "fal-ai=../x=automatic-speech-recognition", "fal-ai=x", ""],
)
def test_a_broken_row_is_refused_in_one_line_when_used(row, router, tmp_path):
    server = router({})
    path = llm.user_dir() / "hf-inference-speech.jsonl"
    path.write_text(json.dumps({"version": 4, "models": {"hf/a/b": row}}) + "\n[]\n")
    result = transcribe("hf/a/b", "-a", str(wav(tmp_path)))
    assert (result.exit_code, result.stderr, server.seen) == (
        1,
        f"Error: hf/a/b is not a model in {path}; run 'llm hf refresh'\n",
        [],
    )


def test_bill_to_retries_and_timeout_go_with_the_request(router, tmp_path, monkeypatch):
    server = router(
        {f"POST {WHISPER}": lambda seen: Answer.json({"error": "busy"}, 503, **{"Retry-After": "1"})}
    )
    monkeypatch.setattr(llm_hf_inference, "sleep", lambda seconds: None)
    timeouts = []
    attempt_once = llm_hf_inference.attempt_once

    def spy(request):
        timeouts.append(request.timeout)
        return attempt_once(request)

    monkeypatch.setattr(llm_hf_inference, "attempt_once", spy)
    args = ["-o", "bill_to", "acme", "-o", "retries", "1", "-o", "timeout", "7"]
    result = transcribe("hf-whisper", "-a", str(wav(tmp_path)), *args)
    assert result.exit_code == 1
    assert [seen.headers.get("X-HF-Bill-To") for seen in server.seen] == ["acme", "acme"]
    assert timeouts == [7.0, 7.0]


def test_by_default_three_attempts_each_given_five_minutes(router, tmp_path, monkeypatch):
    server = router(
        {f"POST {WHISPER}": lambda seen: Answer.json({"error": "busy"}, 503, **{"Retry-After": "1"})}
    )
    monkeypatch.setattr(llm_hf_inference, "sleep", lambda seconds: None)
    timeouts = []
    attempt_once = llm_hf_inference.attempt_once
    monkeypatch.setattr(
        llm_hf_inference,
        "attempt_once",
        lambda request: timeouts.append(request.timeout) or attempt_once(request),
    )
    assert transcribe("hf-whisper", "-a", str(wav(tmp_path))).exit_code == 1
    assert (len(server.seen), timeouts) == (3, [300.0] * 3)
    assert "X-HF-Bill-To" not in server.seen[0].headers


@pytest.mark.parametrize("stdin", [False, True])
def test_empty_audio_is_refused_before_any_request(stdin, router, tmp_path):
    server = router({})
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    args = ["--at", "-" if stdin else str(empty), "audio/wav"]  # an empty file has no type llm can tell
    result = transcribe("hf-whisper", *args, input=b"" if stdin else None)
    said = "The audio" if stdin else str(empty)
    assert (result.exit_code, result.stderr, server.seen) == (
        1,
        f"Error: {said} is empty: there is nothing to transcribe\n",
        [],
    )


def test_a_segment_without_an_end_shows_a_question_mark():
    transcript = llm_hf_inference.transcript_of(
        {"text": "x", "chunks": [{"timestamp": [3725.25, None], "text": " x "}]}
    )
    assert llm_hf_inference.transcript_text(transcript, True) == "[1:02:05.2 --> ?] x"


def test_the_options_as_llm_lists_them():
    assert listed_options("openai/whisper-large-v3") == (
        PROVIDER_OPTIONS_LISTED + "    language: str\n"
        "      The language spoken, as a code: en, fr, ...\n"
        "    timestamps: boolean\n"
        "      Print timed segments: [0:00.0 --> 0:03.2] text\n"
    )


def test_the_audio_types_llm_lets_through_and_the_names_they_are_sent_under(tmp_path):
    names = {
        "audio/mpeg": "audio.mp3",
        "audio/mp3": "audio.mp3",
        "audio/wav": "audio.wav",
        "audio/x-wav": "audio.wav",
        "audio/wave": "audio.wav",
        "audio/flac": "audio.flac",
        "audio/x-flac": "audio.flac",
        "audio/ogg": "audio.ogg",
        "audio/webm": "audio.webm",
        "video/webm": "audio.webm",
        "audio/mp4": "audio.m4a",
        "audio/x-m4a": "audio.m4a",
        "audio/m4a": "audio.m4a",
        "video/mp4": "audio.mp4",
    }
    assert llm.get_model("hf-whisper").attachment_types == set(names)
    for mime, name in names.items():
        upload = llm_hf_inference.multipart_upload(llm_hf_inference.Audio(mime, 1, data=b"x"), {})
        assert f'filename="{name}"\r\nContent-Type: {mime}\r\n'.encode() in b"".join(upload.pieces())


@pytest.mark.parametrize(
    "mime, label",
    [
        ("audio/wav", "audio/x-wav"),
        ("audio/wave", "audio/x-wav"),
        ("audio/x-wav", "audio/x-wav"),
        ("audio/webm", "video/webm"),
        ("video/webm", "video/webm"),
        ("audio/mpeg", "audio/mpeg"),
        ("audio/ogg", "audio/mpeg"),
        ("audio/mp4", "audio/mpeg"),
    ],
)
def test_the_label_fal_is_sent_for_each_type(mime, label):
    route, upload = llm_hf_inference.fal_speech(
        "fal-ai/whisper", {}, llm_hf_inference.Audio(mime, 3, data=b"abc")
    )
    assert b"".join(upload.pieces()) == json.dumps({"audio_url": f"data:{label};base64,YWJj"}).encode()


def test_a_file_of_many_pieces_is_encoded_whole(router, tmp_path):
    server = router({f"POST {FAL}": lambda seen: recorded("asr-fal-ai")})
    assert llm_hf_inference.AUDIO_PIECE % 3 == 0  # each piece base64-encodes alone
    audio = wav(tmp_path, 1_800_000)  # 3.6 MB: two pieces
    result = transcribe("hf-whisper", "-a", str(audio), "-o", "provider", "fal-ai")
    assert result.exit_code == 0
    url = f"data:audio/x-wav;base64,{base64.b64encode(audio.read_bytes()).decode()}"
    assert server.seen[0].body == json.dumps({"audio_url": url}).encode()
    assert server.seen[0].headers["Accept"] == "application/json"


def test_replicate_without_a_version_uses_the_models_own_route_and_takes_a_language():
    audio = llm_hf_inference.Audio("audio/wav", 3, data=b"abc")
    route, upload = llm_hf_inference.replicate_speech("owner/asr", {"language": "fr"}, audio)
    assert route == "/replicate/v1/models/owner/asr/predictions"
    assert (
        b"".join(upload.pieces()) == b'{"input": {"audio": "data:audio/wav;base64,YWJj", "language": "fr"}}'
    )


def test_what_the_answers_report_is_kept(router, turbo, tmp_path, monkeypatch):
    polls = []
    answers = iter([recorded("asr-replicate", 1), recorded("asr-replicate", 2)])
    router(
        {
            f"POST {TOGETHER}": lambda seen: recorded("asr-together-timestamps"),
            f"POST {REPLICATE}": lambda seen: recorded("asr-replicate"),
            f"GET {PREDICTION}": lambda seen: next(answers),
        }
    )
    monkeypatch.setattr(llm_hf_inference, "sleep", polls.append)
    for provider in ("together", "replicate"):
        assert transcribe(f"hf/{TURBO}", "-a", str(wav(tmp_path)), "-o", "provider", provider).exit_code == 0
    together, replicate = (json.loads(turn["response_json"]) for turn in logged_turns())
    assert {k: together[k] for k in ("provider", "duration", "language")} == {
        "provider": "together",
        "duration": 4.08,
        "language": "english",
    }
    assert (replicate["provider"], replicate["language"], "duration" in replicate) == (
        "replicate",
        "english",
        False,
    )
    assert polls == [1.0, 1.0]


@pytest.mark.parametrize(
    "prediction, message",
    [
        ({"status": "failed"}, "replicate's prediction failed: (no reason given)"),
        ({"status": "canceled", "error": "by its owner"}, "replicate's prediction canceled: by its owner"),
        (
            {"status": "processing"},
            'replicate answered with an unfinished prediction without an id: {"status": "processing"}',
        ),
        (
            {"status": "starting", "id": "../x"},
            'replicate answered with an unfinished prediction without an id: {"status": "starting", "id": "../x"}',
        ),
    ],
)
def test_a_prediction_that_cannot_be_followed_is_one_line(prediction, message):
    request = llm_hf_inference.HFRequest("https://router.huggingface.co/replicate/v1/predictions", "speech")
    with pytest.raises(llm.ModelError) as error:
        llm_hf_inference.follow(llm_hf_inference.REPLICATE, "replicate", prediction, request)
    assert str(error.value) == message


def test_a_file_that_cannot_be_read_is_one_line(tmp_path):
    prompt = type(
        "Prompt", (), {"attachments": [llm.Attachment(type="audio/wav", path=str(tmp_path / "gone.wav"))]}
    )
    with pytest.raises(FileNotFoundError) as gone:  # the system's own words: No such file or directory
        os.stat(tmp_path / "gone.wav")
    with pytest.raises(
        llm.ModelError,
        match=rf"^Cannot read {re.escape(str(tmp_path / 'gone.wav'))}: {re.escape(gone.value.strerror)}$",
    ):
        llm_hf_inference.audio_of(prompt)


@LOCAL
def test_audio_at_a_url_that_cannot_be_fetched_is_one_line(router, fake):
    server, files = router({}), fake({})  # llm fetches the URL (no token of ours); nothing goes to a provider
    for url, words in ((files.url + "/gone.wav", "it answered 404"), ("http://127.0.0.1:9/a.wav", None)):
        result = transcribe("hf-whisper", "--at", url, "audio/wav")
        assert result.exit_code == 1
        assert result.stderr.startswith(f"Error: Cannot read {url}: ") and result.stderr.count("\n") == 1
        assert words is None or result.stderr == f"Error: Cannot read {url}: {words}\n"
        assert "Errno" not in result.stderr
    assert server.seen == []


def test_the_providers_that_can_take_what_one_cannot_are_named(turbo, router, tmp_path):
    server = router({})
    result = transcribe(f"hf/{TURBO}", "Names", "-a", str(wav(tmp_path)), "-o", "provider", "replicate")
    assert (
        result.stderr
        == f"Error: replicate takes no prompt or system text for {TURBO}; choose -o provider together or deepinfra\n"
    )
    assert server.seen == []


@pytest.mark.parametrize(
    "option, value, message",
    [
        ("retries", "11", "Input should be less than or equal to 10"),
        ("provider", "Fal-AI", "a lower-case provider name (hf-inference, fal-ai, ...)"),
        ("timeout", "0", "Input should be greater than 0"),
    ],
)
def test_option_values_out_of_range_are_refused_by_llm(option, value, message, router, tmp_path):
    server = router({})
    result = transcribe("hf-whisper", "-a", str(wav(tmp_path)), "-o", option, value)
    assert (result.exit_code, server.seen) == (1, [])
    assert message in result.output


def test_a_transcript_under_output_as_fal_nemotron_sends_it():
    assert llm_hf_inference.transcript_of({"output": " Hello. "}) == ("Hello.", [], None, None)


def test_fal_sends_its_timestamps_back_unasked(router, tmp_path):
    server = router({f"POST {FAL}": lambda seen: recorded("asr-fal-ai")})
    result = transcribe(
        "hf-whisper", "-a", str(wav(tmp_path)), "-o", "provider", "fal-ai", "-o", "timestamps", "1"
    )
    assert (result.exit_code, result.stdout) == (0, f"[0:00.0 --> 0:04.1] {TRANSCRIPT}\n")
    assert "timestamps" not in json.loads(server.seen[0].body)


def test_a_system_prompt_goes_with_the_prompt_text_where_a_provider_takes_it(
    router, turbo, tmp_path, monkeypatch
):
    server = router({f"POST {TOGETHER}": lambda seen: recorded("asr-together")})
    monkeypatch.setattr(uuid, "uuid4", lambda: uuid.UUID(int=7))
    audio = wav(tmp_path)
    result = transcribe(
        f"hf/{TURBO}", "Names: Sir", "-s", "A talk on rain", "-a", str(audio), "-o", "provider", "together"
    )
    assert result.exit_code == 0, result.output
    fields = [("prompt", "A talk on rain\nNames: Sir"), ("model", "openai/whisper-large-v3")]
    assert server.seen[0].body == multipart(audio.read_bytes(), fields, uuid.UUID(int=7).hex)
    refused = transcribe("hf-whisper", "-s", "A talk on rain", "-a", str(audio))
    assert refused.stderr == (  # its providers here: fal-ai, hf-inference
        "Error: fal-ai takes no prompt or system text for openai/whisper-large-v3; leave it out\n"
    )


def test_prompt_text_without_audio_is_asked_for_the_audio(router):
    server = router({})
    result = transcribe("hf-whisper", "no audio")
    assert (result.stderr, server.seen) == (
        "Error: Attach one audio file: -a talk.mp3 (or -a - to read it from standard input)\n",
        [],
    )


@POSIX
def test_audio_from_a_pipe_is_read(router, tmp_path):
    import threading

    server = router({f"POST {WHISPER}": lambda seen: recorded("asr-hf-inference")})
    data = wav(tmp_path).read_bytes()
    fifo = tmp_path / "fifo.wav"
    os.mkfifo(fifo)

    def write():
        with open(fifo, "wb") as pipe:
            pipe.write(data)

    threading.Thread(target=write, daemon=True).start()
    result = transcribe("hf-whisper", "--at", str(fifo), "audio/wav")
    assert (result.exit_code, result.stdout) == (0, "a man said to the universe sir i exist\n")  # recorded
    assert server.seen[0].body == data


def test_sizes_under_a_tenth_of_a_megabyte_are_said_in_kilobytes():
    size = llm_hf_inference.size_text
    assert [size(1), size(499), size(32_000), size(99_999), size(100_000), size(60_400_000)] == [
        "1 KB",
        "1 KB",
        "32 KB",
        "100 KB",
        "0.1 MB",
        "60.4 MB",
    ]


def test_timestamps_past_a_year_are_no_timestamps():
    transcript = llm_hf_inference.transcript_of(
        {
            "text": "x",
            "chunks": [{"text": "a", "timestamp": [1e308, 2]}, {"text": "b", "timestamp": [1.0, 1e300]}],
        }
    )
    assert transcript.segments == [{"start": 1.0, "end": None, "text": "b"}]


def test_segments_that_are_not_segments_are_left_out():
    chunks = [
        "a",
        {"timestamp": [0, 1]},
        {"text": 3, "timestamp": [0, 1]},
        {"text": " b ", "start": 2, "end": 3},
    ]
    transcript = llm_hf_inference.transcript_of({"text": "b", "segments": chunks})
    assert transcript.segments == [{"start": 2, "end": 3, "text": "b"}]


def test_hf_whisper_before_the_first_refresh():
    assert llm.get_model("hf-whisper").spec.providers == (
        ("hf-inference", "openai/whisper-large-v3", "automatic-speech-recognition"),
        ("fal-ai", "fal-ai/whisper", "automatic-speech-recognition"),
    )


def test_an_answer_to_an_upload_that_trickles_ends_at_its_deadline(router, tmp_path):
    import time

    def dripping(seen):
        def pieces():
            for _ in range(200):
                yield b" "
                time.sleep(0.02)

        return Answer(200, {"Content-Type": "application/json"}, pieces())

    router({f"POST {WHISPER}": dripping})
    started = time.monotonic()
    result = transcribe("hf-whisper", "-a", str(wav(tmp_path)), "-o", "timeout", "0.25")
    assert time.monotonic() - started < 2  # the upload's time is its own; the answer's is twice the timeout
    assert result.stderr == (
        "Error: 127.0.0.1 did not send its whole answer within 0.5 seconds (twice the timeout); wait longer "
        "with -o timeout SECONDS; the request was sent and may have been processed (and billed), so it is not "
        "sent again\n"
    )


@pytest.mark.parametrize("timestamps", [[], ["-o", "timestamps", "1"]])
def test_audio_with_no_words_in_it_says_the_transcript_is_empty(router, tmp_path, timestamps):
    router({f"POST {WHISPER}": lambda seen: Answer.json({"text": " "})})
    result = transcribe("hf-whisper", "-a", str(wav(tmp_path)), *timestamps)
    assert (result.exit_code, result.stdout) == (0, "\n")
    assert (
        result.stderr
        == "llm-hf-inference: hf-inference heard no words in the audio; the transcript is empty\n"
    )
