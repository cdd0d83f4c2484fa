"""Who answered and what it cost: provider and price in usage, response_json, errors and `llm hf spend`."""

import hashlib
import json

import llm
import pytest

from helpers import POSIX, QUESTION, SYNC_ASYNC, invoke, run

SYSTEM = "You are a helpful assistant."
PROMPT = ["-s", SYSTEM, QUESTION]


@SYNC_ASYNC
@pytest.mark.parametrize("mode", ["stream", "no-stream"])
@pytest.mark.vcr
@pytest.mark.cassette("estimated-cost-{mode}")
def test_the_providers_own_estimate_is_the_cost(mode, use_async, played):
    stream = mode == "stream"
    out = run(
        "hf-llama3.1",
        QUESTION,
        system=SYSTEM,
        stream=stream,
        use_async=use_async,
        **({"max_tokens": 20} if stream else {}),
    )
    assert out.usage.details == {"provider": "novita", "cost_usd": 0.0000123}
    assert (out.response_json["provider"], out.response_json["cost_usd"]) == ("novita", 0.0000123)


@pytest.mark.vcr
@pytest.mark.cassette("catalog-then-prompts")
def test_cost_from_the_catalog_price_of_who_answered():
    invoke("hf", "refresh")
    usage = []
    for stream in (True, False):
        out = run(
            "hf-llama3.1", QUESTION, system=SYSTEM, stream=stream, **({"max_tokens": 20} if stream else {})
        )
        usage.append(
            (out.usage.input, out.usage.output, out.usage.details, out.response_json.get("cost_usd"))
        )
    assert usage == [
        # novita: 46 × $0.02 + 20 × $0.05 per 1M tokens
        (46, 20, {"provider": "novita", "cost_usd": 0.00000192}, 0.00000192),
        # cerebras: 46 × $0.10 + 637 × $0.10 per 1M tokens
        (46, 637, {"provider": "cerebras", "cost_usd": 0.0000683}, 0.0000683),
    ]


@pytest.mark.vcr
@pytest.mark.cassette("stream-2025-novita")
def test_no_price_no_cost(played):
    out = run("hf-llama3.1", QUESTION, system=SYSTEM, max_tokens=20)  # no catalog: no price known
    assert out.usage.details == {"provider": "novita"}
    assert "cost_usd" not in out.response_json


@pytest.mark.vcr
@pytest.mark.cassette("stream-2024-hf-inference")
def test_no_provider_header_no_provider(played):
    out = run("hf-llama3.1", QUESTION, system=SYSTEM, max_tokens=20)
    assert out.usage.details is None
    assert "provider" not in out.response_json


@pytest.mark.vcr
@pytest.mark.cassette("catalog-then-prompts")
def test_cli_usage_shows_provider_and_cost():
    invoke("hf", "refresh")
    result = invoke("-m", "hf-llama3.1", "-o", "max_tokens", "20", "-u", *PROMPT)
    assert result.exit_code == 0
    assert result.stderr == 'Token usage: 46 input, 20 output, {"provider": "novita", "cost_usd": 1.92e-06}\n'


@pytest.fixture
def session(vcr):
    """A logs.db made by real prompts through the CLI: novita, cerebras, hf-inference (no usage), together."""
    invoke("hf", "refresh")
    for args in (
        ["-o", "max_tokens", "20"],
        ["--no-stream"],
        ["-o", "max_tokens", "20"],
        ["-o", "max_tokens", "20"],
    ):
        assert invoke("-m", "hf-llama3.1", *args, *PROMPT).exit_code == 0
    return llm.user_dir() / "logs.db"


SPEND_TABLE = (
    "model                                provider      prompts  input  output  cost USD\n"
    "hf/meta-llama/Llama-3.1-8B-Instruct  cerebras            1     46     637  0.000068\n"
    "hf/meta-llama/Llama-3.1-8B-Instruct  hf-inference        1      -       -         -\n"
    "hf/meta-llama/Llama-3.1-8B-Instruct  novita              1     46      20  0.000002\n"
    "hf/meta-llama/Llama-3.1-8B-Instruct  together            1     26      20  0.000008\n"
    "total                                                    4    118     677  0.000078\n"
    "1 prompt without a price (not in the total)\n"
)


@pytest.mark.vcr
@pytest.mark.cassette("catalog-then-prompts")
def test_spend_table_leaves_the_database_unchanged(session):
    before = hashlib.sha256(session.read_bytes()).hexdigest()
    assert invoke("hf", "spend").output == SPEND_TABLE
    assert invoke("hf", "spend", "--since", "7d").output == SPEND_TABLE
    assert (
        invoke("hf", "spend", "--since", "2099-01-01").output
        == "No Hugging Face prompts in the logs for that selection.\n"
    )
    assert invoke("hf", "spend", "--model", "hf/openai/gpt-oss-120b").output == (
        "No Hugging Face prompts in the logs for that selection.\n"
    )
    assert hashlib.sha256(session.read_bytes()).hexdigest() == before


@pytest.mark.vcr
@pytest.mark.cassette("catalog-then-prompts")
def test_spend_json(session):
    rows = json.loads(invoke("hf", "spend", "--json", "--model", "meta-llama/Llama-3.1-8B-Instruct").output)
    assert rows == [
        {
            "model": "hf/meta-llama/Llama-3.1-8B-Instruct",
            "provider": "cerebras",
            "prompts": 1,
            "input_tokens": 46,
            "output_tokens": 637,
            "cost_usd": 0.0000683,
            "unpriced_prompts": 0,
        },
        {
            "model": "hf/meta-llama/Llama-3.1-8B-Instruct",
            "provider": "hf-inference",
            "prompts": 1,
            "input_tokens": None,  # not reported: no figure, as for the cost
            "output_tokens": None,
            "cost_usd": None,  # no price: no figure, as the table says "-"
            "unpriced_prompts": 1,
        },
        {
            "model": "hf/meta-llama/Llama-3.1-8B-Instruct",
            "provider": "novita",
            "prompts": 1,
            "input_tokens": 46,
            "output_tokens": 20,
            "cost_usd": 0.00000192,
            "unpriced_prompts": 0,
        },
        {
            "model": "hf/meta-llama/Llama-3.1-8B-Instruct",
            "provider": "together",
            "prompts": 1,
            "input_tokens": 26,
            "output_tokens": 20,
            "cost_usd": 0.00000828,
            "unpriced_prompts": 0,
        },
    ]


def test_spend_without_a_database(tmp_path):
    result = invoke("hf", "spend", "-d", str(tmp_path / "nowhere.db"))  # as llm logs -d
    assert (result.exit_code, result.output) == (0, f"No logs database at {tmp_path / 'nowhere.db'} yet.\n")
    assert not (tmp_path / "nowhere.db").exists()


def test_spend_under_a_file_finds_no_database(tmp_path):
    (tmp_path / "file.txt").write_text("")
    result = invoke("hf", "spend", "--database", str(tmp_path / "file.txt" / "logs.db"))
    assert (result.exit_code, result.output) == (
        0,
        f"No logs database at {tmp_path / 'file.txt' / 'logs.db'} yet.\n",
    )


@POSIX
def test_spend_where_no_database_can_be_is_one_line(tmp_path):
    # Python 3.13's pathlib raised this from exists(), as a traceback; 3.14's says there is no database
    database = tmp_path / ("x" * 300) / "logs.db"
    result = invoke("hf", "spend", "--database", str(database))
    assert (result.exit_code, result.output) == (
        1,
        f"Error: Cannot read the logs database {database}: File name too long\n",
    )


def test_spend_with_an_empty_database(tmp_path):
    (tmp_path / "empty.db").write_bytes(b"")
    result = invoke("hf", "spend", "--database", str(tmp_path / "empty.db"))
    assert (result.exit_code, result.output) == (0, "No Hugging Face prompts in the logs yet.\n")


def test_spend_with_a_corrupt_database(tmp_path):
    (tmp_path / "bad.db").write_bytes(b"this is not sqlite" * 100)
    result = invoke("hf", "spend", "--database", str(tmp_path / "bad.db"))
    assert result.exit_code == 1
    assert (
        result.output
        == f"Error: Cannot read the logs database {tmp_path / 'bad.db'}: file is not a database\n"
    )


@POSIX
@pytest.mark.parametrize(
    ("zone", "since", "utc"),
    [
        ("JST-9", "2026-12-07", "2026-12-06T15:00:00+00:00"),  # a day begins at its midnight where one is
        ("EST5EDT", "2026-07-01", "2026-07-01T04:00:00+00:00"),  # in summer time too
        ("UTC0", "2026-12-07", "2026-12-07T00:00:00+00:00"),
        ("JST-9", "0001-01-01", "0001-01-01T00:00:00+00:00"),  # before the first UTC moment: taken as UTC
        ("UTC0", "0001-01-01", "0001-01-01T00:00:00+00:00"),
    ],
)
def test_spend_since_a_date_is_from_local_midnight(zone, since, utc, monkeypatch):
    import time

    import llm_hf_inference

    monkeypatch.setenv("TZ", zone)
    time.tzset()
    try:
        assert llm_hf_inference.parse_since(since) == utc
    finally:
        monkeypatch.undo()
        time.tzset()


def test_spend_rejects_a_bad_since():
    result = invoke("hf", "spend", "--since", "last week")
    assert result.exit_code == 2 and "use 7d, 24h or YYYY-MM-DD" in result.output


def test_spend_with_a_locked_database(tmp_path, monkeypatch):
    import sqlite3

    import llm_hf_inference

    monkeypatch.setattr(llm_hf_inference, "SPEND_LOCK_WAIT", 0.1)
    path = tmp_path / "locked.db"
    writer = sqlite3.connect(path, isolation_level=None)
    writer.execute(
        "create table turns (model, input_tokens, output_tokens, token_details, response_json, datetime_utc)"
    )
    writer.execute("begin exclusive")
    try:
        result = invoke("hf", "spend", "--database", str(path))
    finally:
        writer.execute("rollback")
        writer.close()
    assert result.exit_code == 1
    assert result.output == f"Error: Cannot read the logs database {path}: database is locked\n"


# -- counts and costs a server or catalog gets wrong are never logged, and never break spend


@pytest.fixture
def answering(fake, monkeypatch):
    """``answering(usage, price=None)``: a stand-in router whose answer (together's) has this usage."""
    import llm_hf_inference
    from conftest import TEST_TOKEN
    from fakeserver import Answer, recorded

    def start(usage, price=None):
        answer = recorded("no-stream-2025-together")
        body = json.loads(answer.body)
        body["usage"] = usage
        server = fake(
            {"POST /v1/chat/completions": lambda seen: Answer(200, answer.headers, json.dumps(body).encode())}
        )
        monkeypatch.setattr(llm_hf_inference, "DEFAULT_BASE_URL", server.url + "/v1")
        monkeypatch.setenv("LLM_HF_KEY", TEST_TOKEN)
        if price is not None:
            monkeypatch.setattr(llm_hf_inference, "model_prices", lambda repo_id: {"together": price})
        return server

    return start


@pytest.mark.block_network(allowed_hosts=["127.0.0.1"])
@pytest.mark.parametrize(
    "usage, price, logged",
    [
        ({"prompt_tokens": 2**63, "completion_tokens": 5}, None, (None, 5, {"provider": "together"})),
        (
            {"prompt_tokens": -1, "completion_tokens": 10**400},
            (1.0, 1.0),
            (None, None, {"provider": "together", "tokens": "not reported"}),
        ),
        (
            {"prompt_tokens": 3, "completion_tokens": 10**20},
            (1.0, 1.0),
            (3, None, {"provider": "together"}),
        ),
        ({"prompt_tokens": 3, "completion_tokens": 5}, (1e308, 1e308), (3, 5, {"provider": "together"})),
        (
            {"prompt_tokens": 3, "completion_tokens": 5, "estimated_cost": 1e308},
            None,
            (3, 5, {"provider": "together"}),
        ),
        (
            {"prompt_tokens": 3, "completion_tokens": 5, "estimated_cost": -2.5},
            None,
            (3, 5, {"provider": "together"}),
        ),
        (
            {"prompt_tokens": 3, "completion_tokens": 5, "estimated_cost": -2.5},
            (1.0, 2.0),
            (3, 5, {"provider": "together", "cost_usd": 0.000013}),
        ),
    ],
)
def test_counts_and_costs_that_cannot_be_are_left_out_and_the_answer_is_logged(
    usage, price, logged, answering
):
    answering(usage, price)
    result = invoke("-m", "hf-llama3.1", "--no-stream", "hi")
    assert result.exit_code == 0 and result.output.startswith("Deep learning is a subfield")
    row = llm_logged()
    assert (row["input_tokens"], row["output_tokens"], json.loads(row["token_details"])) == logged
    assert "Infinity" not in row["response_json"]
    assert invoke("hf", "spend").exit_code == 0


def llm_logged():
    import sqlite_utils

    return list(sqlite_utils.Database(llm.user_dir() / "logs.db").query("select * from turns"))[-1]


SPEND_HEADER = "model                                provider  prompts  input  output  cost USD\n"


def one_prompt_logged(answering):
    """A prompt answered with 3 and 5 tokens at a cost of 0.25, logged: llm's logs, and its row there."""
    import sqlite_utils

    answering({"prompt_tokens": 3, "completion_tokens": 5, "estimated_cost": 0.25})
    assert invoke("-m", "hf-llama3.1", "--no-stream", "hi").exit_code == 0
    return sqlite_utils.Database(llm.user_dir() / "logs.db"), dict(llm_logged())


@pytest.mark.block_network(allowed_hosts=["127.0.0.1"])
def test_spend_without_any_price_shows_no_figure_for_the_cost(answering):
    answering({"prompt_tokens": 3, "completion_tokens": 5}, None)  # no price in the catalog: no cost logged
    assert invoke("-m", "hf-llama3.1", "--no-stream", "hi").exit_code == 0
    assert invoke("hf", "spend").stdout == SPEND_HEADER + (
        "hf/meta-llama/Llama-3.1-8B-Instruct  together        1      3       5         -\n"
        "total                                                1      3       5         -\n"
        "1 prompt without a price (not in the total)\n"
    )


@pytest.mark.block_network(allowed_hosts=["127.0.0.1"])
def test_spend_sums_the_tokens_reported_and_shows_no_figure_where_none_were(answering):
    db, good = one_prompt_logged(answering)
    unreported = {"input_tokens": None, "output_tokens": None}
    db["turns"].insert({**good, "id": good["id"] + "-1", **unreported})  # together again, tokens not reported
    details = json.dumps({"provider": "novita", "tokens": "not reported"})
    db["turns"].insert({**good, "id": good["id"] + "-2", **unreported, "token_details": details})
    assert invoke("hf", "spend").stdout == SPEND_HEADER + (
        "hf/meta-llama/Llama-3.1-8B-Instruct  novita          1      -       -         -\n"
        "hf/meta-llama/Llama-3.1-8B-Instruct  together        2      3       5  0.500000\n"
        "total                                                3      3       5  0.500000\n"
        "1 prompt without a price (not in the total)\n"
    )
    db.execute("delete from turns where token_details not like '%novita%'")
    db.conn.commit()
    assert invoke("hf", "spend").stdout == SPEND_HEADER + (
        "hf/meta-llama/Llama-3.1-8B-Instruct  novita          1      -       -         -\n"
        "total                                                1      -       -         -\n"
        "1 prompt without a price (not in the total)\n"
    )
    (row,) = json.loads(invoke("hf", "spend", "--json").stdout)
    assert [row[key] for key in ("input_tokens", "output_tokens", "cost_usd")] == [None, None, None]


@pytest.mark.block_network(allowed_hosts=["127.0.0.1"])
def test_spend_leaves_out_rows_it_cannot_read_and_says_how_many(answering):
    db, good = one_prompt_logged(answering)
    for n, (column, value) in enumerate(
        [
            ("token_details", json.dumps({"provider": "together", "cost_usd": 1e308})),  # two of these: inf
            ("token_details", json.dumps({"provider": "together", "cost_usd": 1e308})),
            ("token_details", json.dumps({"provider": "together", "cost_usd": -5.0})),
            ("token_details", json.dumps({"provider": ["together"], "cost_usd": 0.1})),
            ("input_tokens", "many"),
        ]
    ):
        db["turns"].insert({**good, "id": f"{good['id']}-{n}", column: value})
    result = invoke("hf", "spend")
    assert result.stdout == SPEND_HEADER + (
        "hf/meta-llama/Llama-3.1-8B-Instruct  together        1      3       5  0.250000\n"
        "total                                                1      3       5  0.250000\n"
    )
    assert result.stderr == "Left out 5 logged prompts that could not be read.\n"


def test_absurd_catalog_prices_print_sanely():
    import llm_hf_inference

    entry = {
        "id": "org/m",
        "providers": [{"provider": "together", "status": "live", "pricing": {"input": 1e308, "output": 0.5}}],
    }
    assert llm_hf_inference.providers_table(entry, "price").splitlines()[2].split()[:4] == [
        "together",
        "live",
        "-",
        "$1e+308/$0.50",
    ]


@pytest.mark.block_network(allowed_hosts=["127.0.0.1"])
def test_spend_prints_a_logged_provider_without_what_a_terminal_obeys(answering):
    db, good = one_prompt_logged(answering)
    hostile = json.dumps({"provider": "evil\x1b]0;owned\x07\x1b[2J\u202e", "cost_usd": 0.5})
    db["turns"].update(good["id"], {"token_details": hostile})
    assert invoke("hf", "spend").stdout.splitlines()[1].split() == [
        "hf/meta-llama/Llama-3.1-8B-Instruct",
        "evil",
        "]0;owned",
        "[2J",
        "1",
        "3",
        "5",
        "0.500000",
    ]
