"""The token 'hf auth login' gets in the browser: renewed before it expires, as huggingface_hub renews it."""

import configparser
import contextlib
import os
import time
import urllib.parse

import pytest

import llm_hf_inference
from fakeserver import Answer
from helpers import LOCAL, POSIX, invoke

pytestmark = LOCAL

OLD, NEW = "hf_oauth_oldOLDold", "hf_oauth_newNEWnew"
# The token endpoint's answer, in the shape huggingface_hub's tests and huggingface.js read (RFC 6749).
RENEWED = {
    "access_token": NEW,
    "refresh_token": "rt_new",
    "expires_in": 2592000,
    "scope": "openid profile inference-api",
    "token_type": "bearer",
}
OTHER = "[work]\nhf_token = hf_classicToken123\n\n"  # a token pasted in, kept under another name


def stored_tokens(token: str, refresh: str = "rt_old", left: float = 3600) -> str:
    expires = int(time.time() + left)
    return f"[me]\nhf_token = {token}\nrefresh_token = {refresh}\nexpires_at = {expires}\n\n{OTHER}"


@pytest.fixture
def login(tmp_path, monkeypatch):
    """A browser login (an hour left) in HF_HOME; the Hub a stand-in taken for huggingface.co."""
    home = tmp_path / "hfhome"
    home.mkdir()
    (home / "token").write_text(OLD)
    (home / "stored_tokens").write_text(stored_tokens(OLD))
    monkeypatch.delenv("HF_TOKEN")
    monkeypatch.setenv("HF_HOME", str(home))
    return home


@pytest.fixture
def hub(hub_as_huggingface):
    """A stand-in Hub taken for huggingface.co, whose token endpoint gives ``answer``."""

    def start(answer):
        card = lambda seen: Answer(200, {}, b"# A public card")  # noqa: E731
        routes = {"POST /oauth/token": answer, "GET /api/whoami-v2": whoami}
        return hub_as_huggingface(routes | {"GET /o/n/resolve/main/README.md": card})

    return start


def whoami(seen):
    return Answer.json({"name": "wang", "auth": {"accessToken": {"displayName": "oauth", "role": "write"}}})


def sections(home) -> dict:
    tokens = configparser.ConfigParser(interpolation=None)
    tokens.read_string((home / "stored_tokens").read_text())
    return {name: dict(tokens[name]) for name in tokens.sections()}


def test_a_token_with_less_than_a_day_left_is_renewed_and_both_files_written(login, hub, monkeypatch, capsys):
    monkeypatch.setenv("LLM_HF_DEBUG", "1")
    server = hub(lambda seen: Answer.json(RENEWED))
    before = time.time()
    assert llm_hf_inference.hub_token() == NEW
    (seen,) = server.seen
    assert (seen.method, seen.path, seen.headers["Content-Type"]) == (
        "POST",
        "/oauth/token",
        "application/x-www-form-urlencoded",
    )
    assert urllib.parse.parse_qs(seen.body.decode()) == {
        "grant_type": ["refresh_token"],
        "refresh_token": ["rt_old"],
        "client_id": ["26be6b09-91c5-47da-9861-d2d2bb7a7e36"],
    }
    assert "authorization" not in {name.lower() for name in seen.headers}
    assert (login / "token").read_text() == NEW
    mine = sections(login)
    expires = int(mine["me"].pop("expires_at"))
    assert before + 2592000 - 1 <= expires <= time.time() + 2592000
    assert mine == {
        "me": {"hf_token": NEW, "refresh_token": "rt_new"},
        "work": {"hf_token": "hf_classicToken123"},
    }
    assert llm_hf_inference.hub_token() == NEW and len(server.seen) == 1  # a month left: asked no more
    assert capsys.readouterr().err == (
        f"llm-hf-inference: renewed the token 'hf auth login' got in the browser (me), in {login / 'stored_tokens'} "
        f"and {login / 'token'}\n"
    )


@POSIX
def test_the_files_written_are_for_their_owner_alone(login, hub):
    hub(lambda seen: Answer.json(RENEWED))
    old_mask = os.umask(0o022)
    try:
        llm_hf_inference.hub_token()
    finally:
        os.umask(old_mask)
    assert [oct((login / name).stat().st_mode & 0o777) for name in ("token", "stored_tokens")] == [
        "0o600"
    ] * 2
    assert sorted(p.name for p in login.iterdir()) == ["stored_tokens", "stored_tokens.lock", "token"]


@pytest.mark.parametrize(
    "stored",
    [
        stored_tokens(OLD, left=2 * 86400),  # more than a day left
        OTHER,  # a token pasted in: no refresh token
        stored_tokens("hf_someoneElse123"),  # the token file's token is not the login's
        "[me]\nhf_token = " + OLD + "\nrefresh_token = rt\nexpires_at = soon\n",
        "[me]\nhf_token = " + OLD + "\nrefresh_token = rt\nexpires_at = -1e300\n",  # no time a clock can say
        "not an INI file",
        "",
    ],
)
def test_a_token_that_needs_no_renewal_is_sent_as_it_is(stored, login, hub):
    (login / "stored_tokens").write_text(stored)
    server = hub(lambda seen: Answer.json(RENEWED))
    assert llm_hf_inference.hub_token() == OLD
    assert server.seen == [] and (login / "stored_tokens").read_text() == stored


def test_a_token_from_the_environment_is_never_renewed(login, hub, monkeypatch):
    monkeypatch.setenv("HUGGING_FACE_HUB_TOKEN", OLD)
    server = hub(lambda seen: Answer.json(RENEWED))
    assert llm_hf_inference.hub_token() == OLD and server.seen == []


def test_an_answer_without_a_new_refresh_token_or_expiry_keeps_the_old_and_drops_the_expiry(login, hub):
    hub(lambda seen: Answer.json({"access_token": NEW}))
    assert llm_hf_inference.hub_token() == NEW
    assert sections(login)["me"] == {"hf_token": NEW, "refresh_token": "rt_old"}


def test_an_expired_login_the_hub_no_longer_renews_is_refused_in_one_line(login, hub):
    (login / "stored_tokens").write_text(stored_tokens(OLD, left=-60))
    before = (login / "stored_tokens").read_text()
    refusal = {"error": "invalid_grant", "error_description": "Invalid refresh token"}
    server = hub(lambda seen: Answer.json(refusal, 400))
    result = invoke("hf", "whoami")
    when = time.strftime("%Y-%m-%d %H:%M", time.localtime(int(time.time() - 60)))
    assert (result.exit_code, result.output) == (
        1,
        f"Error: The token 'hf auth login' got in the browser expired at {when} and could not be renewed "
        "(127.0.0.1 answered 400: invalid_grant: Invalid refresh token): run 'hf auth login' again\n",
    )
    assert server.paths() == ["/oauth/token"]
    assert ((login / "token").read_text(), (login / "stored_tokens").read_text()) == (OLD, before)


def test_a_login_not_renewed_yet_still_good_is_sent_and_said_once(login, hub, capsys):
    server = hub(lambda seen: Answer.json({"error": "busy"}, 503))
    assert [llm_hf_inference.hub_token(), llm_hf_inference.hub_token()] == [OLD, OLD]
    when = time.strftime("%Y-%m-%d %H:%M", time.localtime(int(sections(login)["me"]["expires_at"])))
    assert capsys.readouterr().err == (
        "llm-hf-inference: Cannot renew the token 'hf auth login' got (127.0.0.1 answered 503: busy — The "
        f"service is unavailable; try again shortly); it expires at {when}\n"
    )
    assert len(server.seen) == 2 and (login / "token").read_text() == OLD


def test_a_hub_elsewhere_is_never_sent_the_refresh_token(login, fake, monkeypatch):
    (login / "stored_tokens").write_text(stored_tokens(OLD, left=-60))
    server = fake({"POST /oauth/token": lambda seen: Answer.json(RENEWED)})
    monkeypatch.setenv("HF_ENDPOINT", server.url)
    with pytest.raises(
        llm_hf_inference.HFError, match=r"\(127.0.0.1 \(HF_ENDPOINT\) is not huggingface.co over"
    ):
        llm_hf_inference.hub_token()
    assert server.seen == []


def test_a_login_renewed_meanwhile_by_another_process_is_read_not_renewed_again(login, hub, monkeypatch):
    server = hub(lambda seen: Answer.json(RENEWED))
    locked = llm_hf_inference.locked

    @contextlib.contextmanager
    def renewed_by_another(path):
        with locked(path):
            (login / "token").write_text("hf_renewedElsewhere1")
            (login / "stored_tokens").write_text(stored_tokens("hf_renewedElsewhere1", left=86400 * 30))
            yield

    monkeypatch.setattr(llm_hf_inference, "locked", renewed_by_another)
    assert llm_hf_inference.hub_token() == "hf_renewedElsewhere1" and server.seen == []


def test_a_token_switched_to_meanwhile_stays_the_token_files(login, hub):
    def answer(seen):
        (login / "token").write_text("hf_classicToken123")  # 'hf auth switch' while the Hub answers
        return Answer.json(RENEWED)

    hub(answer)
    assert llm_hf_inference.hub_token() == NEW
    assert (login / "token").read_text() == "hf_classicToken123" and sections(login)["me"]["hf_token"] == NEW


def test_whoami_sends_the_renewed_token_and_llm_models_renews_nothing(login, hub):
    server = hub(lambda seen: Answer.json(RENEWED))
    assert invoke("models").exit_code == 0 and server.seen == []
    assert invoke("hf", "whoami").exit_code == 0
    assert server.paths() == ["/oauth/token", "/api/whoami-v2"]
    assert server.seen[1].headers["Authorization"] == f"Bearer {NEW}"


@pytest.mark.parametrize("answer", [{"token_type": "bearer"}, {"access_token": " "}, [NEW], "not JSON"])
def test_an_answer_without_a_token_changes_nothing_and_is_said(answer, login, hub, capsys):
    before = (login / "stored_tokens").read_text()
    body = answer.encode() if type(answer) is str else None
    server = hub(lambda seen: Answer(200, {}, body) if body else Answer.json(answer))
    assert llm_hf_inference.hub_token() == OLD
    assert f"(127.0.0.1 answered {server.url}/oauth/token without a token)" in capsys.readouterr().err
    assert ((login / "token").read_text(), (login / "stored_tokens").read_text()) == (OLD, before)


def test_a_fragment_asked_without_a_token_never_renews_one(login, hub, monkeypatch):
    (login / "stored_tokens").write_text(stored_tokens(OLD, left=-60))  # expired: renewing it would fail
    monkeypatch.setenv("HF_HUB_DISABLE_IMPLICIT_TOKEN", "1")
    server = hub(lambda seen: Answer.json({"error": "invalid_grant"}, 400))
    assert str(llm_hf_inference.hf_fragment("o/n")) == "# A public card"
    assert server.paths() == ["/o/n/resolve/main/README.md"]
