"""Every Hugging Face embedding model as an llm embedding model: discovered, batched, concurrent, checked."""

import json
import os
import threading
import time
from fractions import Fraction

import httpx2
import llm
import pytest
import sqlite_utils

import llm_hf_inference
from conftest import TEST_TOKEN
from fakeserver import Answer, recorded
from helpers import LOCAL, POSIX, invoke

HI = "Hi, who are you?"
E5 = "intfloat/multilingual-e5-large-instruct"


def recorded_body(cassette: str, index: int = 0):
    return json.loads(recorded(cassette, index).body)


def model(repo_id, provider="hf-inference", provider_id=None, base_url=None):
    providers = ((provider, provider_id or repo_id, "feature-extraction"),)
    spec = llm_hf_inference.HubSpec(repo_id, providers, (), base_url)
    return llm_hf_inference.HFEmbedding(f"hf/{repo_id}", spec=spec)


def mean(tokens):
    """The exact mean of each column, rounded once: what mean pooling must give, to the last bit or so."""
    return [float(sum(map(Fraction, column)) / len(tokens)) for column in zip(*tokens, strict=True)]


# -- every answer shape, from the recordings


@pytest.mark.vcr
@pytest.mark.cassette("emb-minilm")
def test_a_pooled_vector_is_used_as_sent(sent, played):
    assert llm.get_embedding_model("hf-minilm").embed(HI) == recorded_body("emb-minilm")
    assert sent[0].url == (
        "https://router.huggingface.co/hf-inference/models/sentence-transformers/all-MiniLM-L6-v2"
        "/pipeline/feature-extraction"
    )
    assert sent[0].body == {"inputs": [HI], "truncate": True}
    assert sent[0].headers["authorization"] == f"Bearer {TEST_TOKEN}"


@pytest.mark.vcr
@pytest.mark.cassette("emb-bart-base")
def test_per_token_vectors_of_one_text_are_mean_pooled(played):
    [tokens] = recorded_body("emb-bart-base")  # [1, 8, 768]
    vector = model("facebook/bart-base").embed(HI)
    assert vector == pytest.approx(mean(tokens), rel=1e-12, abs=1e-15) and len(vector) == 768


@pytest.mark.vcr
@pytest.mark.cassette("emb-bart-base-list")
def test_per_token_vectors_of_a_list_are_mean_pooled(played):
    answer = recorded_body("emb-bart-base-list")  # [2, 1, 3, 768]
    vectors = list(model("facebook/bart-base").embed_multi(["Hi", "Hey"]))
    assert vectors == [pytest.approx(mean(item[0]), rel=1e-12, abs=1e-15) for item in answer]


@pytest.mark.vcr
@pytest.mark.cassette("emb-503-then-ok")
def test_a_loading_model_is_waited_for(played, monkeypatch, capsys):
    waits = []
    monkeypatch.setattr(llm_hf_inference, "sleep", waits.append)
    assert len(model("facebook/bart-base").embed(HI)) == 768
    assert waits == [pytest.approx(22.307266235351562)]
    assert capsys.readouterr().err == (
        "llm-hf-inference: router.huggingface.co is unavailable or loading the model, retrying in 22.3s (attempt 2/3)\n"
    )


@pytest.mark.vcr
@pytest.mark.cassette("emb-together")
def test_openai_style_answers_are_put_in_index_order(sent, played):
    vectors = list(model(E5, "together").embed_multi(["a", "b", "c"]))
    by_index = {item["index"]: item["embedding"] for item in recorded_body("emb-together")["data"]}
    assert vectors == [by_index[0], by_index[1], by_index[2]]
    assert sent[0].url == "https://router.huggingface.co/together/v1/embeddings"
    assert sent[0].body == {"input": ["a", "b", "c"], "model": E5}


@pytest.mark.vcr
@pytest.mark.cassette("emb-deepinfra")
def test_deepinfra_has_its_own_route(sent, played, monkeypatch):
    monkeypatch.setenv("HF_BILL_TO", "acme")
    assert (
        model("BAAI/bge-m3", "deepinfra").embed("a") == recorded_body("emb-deepinfra")["data"][0]["embedding"]
    )
    assert sent[0].url == "https://router.huggingface.co/deepinfra/v1/openai/embeddings"
    assert sent[0].headers["x-hf-bill-to"] == "acme"


@pytest.mark.parametrize(
    "answer, message",
    [
        ([[0.1, 0.2], [0.3]], "sent embeddings of an unexpected shape: [[0.1, 0.2], [0.3]]"),
        ([[0.1, "x"], [0.3, 0.4]], 'sent embeddings of an unexpected shape: [[0.1, "x"], [0.3, 0.4]]'),
        ([[0.1, None], [0.3, 0.4]], "sent embeddings of an unexpected shape: [[0.1, null], [0.3, 0.4]]"),
        ([[0.1, 0.2]], "sent 1 embeddings for 2 texts"),
        ({"error": None}, 'sent embeddings without their index: {"error": null}'),
        (
            {"data": [{"index": 0, "embedding": [1.0]}, {"index": 0, "embedding": [2.0]}]},
            "sent 2 embeddings for 2 texts",
        ),
        ([[[0.1, 0.2], [0.3]], [[0.1, 0.2]]], "sent embeddings of an unexpected shape: [[0.1, 0.2], [0.3]]"),
        ([[], []], "sent embeddings of an unexpected shape: [[], []]"),
        (
            [[float("nan"), 1.0], [1.0, 1.0]],
            "sent embeddings of an unexpected shape: [[NaN, 1.0], [1.0, 1.0]]",
        ),
        ([None, [0.1, 0.2]], "sent embeddings of an unexpected shape: [null, [0.1, 0.2]]"),
        ([0.5, [0.1, 0.2]], "sent embeddings of an unexpected shape: [0.5, [0.1, 0.2]]"),
        ([[0.1, 0.2], None], "sent embeddings of an unexpected shape: [[0.1, 0.2], null]"),
        ([[10**401, 0.2], [0.1, 0.2]], "sent embeddings of an unexpected shape: [[1" + "0" * 197),  # cut
        ([[0.1, 10**401], [0.1, 0.2]], "sent embeddings of an unexpected shape: [[0.1, 1" + "0" * 192),
        ([[True, 0.5], [0.5, 0.5]], "sent embeddings of an unexpected shape: [[true, 0.5], [0.5, 0.5]]"),
        ([[[0.5, False]], [[0.5, 0.5]]], "sent embeddings of an unexpected shape: [[0.5, false]]"),
    ],
)
def test_a_shape_that_is_not_one_vector_a_text_is_an_error(answer, message):
    with pytest.raises(llm_hf_inference.HFError) as raised:
        llm_hf_inference.vectors_of(answer, 2, "together")
    assert str(raised.value) == f"together {message}"
    assert isinstance(raised.value, llm.ModelError)


# -- registration: discovered, never from the network, never raising


@pytest.mark.vcr
@pytest.mark.cassette("catalog")
def test_refresh_discovers_embedding_models_over_pages_and_tags(sent):
    invoke("hf", "refresh")
    assert (
        sorted(m.model_id for m in llm.get_embedding_models() if m.model_id.startswith("hf/"))
        == [
            "hf/BAAI/bge-m3",  # hf-inference first
            "hf/BAAI/bge-m3:deepinfra",
            "hf/BAAI/bge-m3:hf-inference",
            "hf/facebook/bart-base",
            f"hf/{E5}",  # together first in the Hub's mapping; scaleway is only staging
            f"hf/{E5}:hf-inference",
            f"hf/{E5}:together",
            "hf/sentence-transformers/all-MiniLM-L6-v2",  # together's task is sentence-similarity: hf-inference only
        ]
    )
    assert llm.get_embedding_model(f"hf/{E5}").spec.providers[0][0] == "together"
    assert llm.get_embedding_model("hf-minilm").model_id == "hf/sentence-transformers/all-MiniLM-L6-v2"
    hub = [s for s in sent if s.url.startswith("https://huggingface.co/api/models")]
    assert len(hub) == 13 and hub[1].url.endswith("&cursor=abc")
    # the token, so that the Hub orders each model's providers as the user set them; never a bill-to
    assert all(
        s.headers["authorization"] == f"Bearer {TEST_TOKEN}" and "x-hf-bill-to" not in s.headers for s in hub
    )
    table = invoke("hf", "models", "--embeddings", "-q", "e5").output
    assert table == (
        "model                                    providers                         status\n"
        f"{E5}  together, hf-inference, scaleway  live, live, staging\n"
    )


def test_without_a_cache_the_built_in_embedding_models_register(sent):
    ours = sorted(m.model_id for m in llm.get_embedding_models() if m.model_id.startswith("hf/"))
    assert ours == [
        "hf/BAAI/bge-m3",
        "hf/intfloat/multilingual-e5-large",
        "hf/sentence-transformers/all-MiniLM-L6-v2",
    ]
    aliases = {"hf-bge-m3": "BAAI/bge-m3", "hf-e5-multilingual": "intfloat/multilingual-e5-large"}
    aliases["hf-minilm"] = "sentence-transformers/all-MiniLM-L6-v2"
    assert {alias: llm.get_embedding_model(alias).model_id for alias in aliases} == {
        alias: f"hf/{repo}" for alias, repo in aliases.items()
    }
    assert sent == []


@pytest.mark.parametrize(
    "name, content",
    [
        ("hf-inference-embeddings.jsonl", "{broken"),
        ("hf-inference-embeddings.jsonl", ""),
        ("hf-inference-embeddings.jsonl", '{"version": 4, "models": {"hf/a/b": 5}}\n[]\n'),
        ("hf-inference-embeddings.jsonl", '{"version": 4, "models": []}\n[]\n'),
        ("hf-inference-embeddings.jsonl", "[]\n[]\n"),
        ("hf-inference-embeddings.jsonl", "[" * 100_000 + "\n"),  # nested past Python's recursion limit
    ],
)
def test_a_broken_embeddings_cache_falls_back_to_the_built_in_models(name, content):
    llm.user_dir().mkdir(parents=True, exist_ok=True)
    (llm.user_dir() / name).write_text(content)
    result = invoke("embed-models")
    assert (result.exit_code, result.stderr.count("llm-hf-inference: ")) == (0, 1)
    assert name in result.stderr
    assert invoke("models").exit_code == 0
    ours = sorted(m.model_id for m in llm.get_embedding_models() if m.model_id.startswith("hf/"))
    assert ours == [
        "hf/BAAI/bge-m3",
        "hf/intfloat/multilingual-e5-large",
        "hf/sentence-transformers/all-MiniLM-L6-v2",
    ]


def together_and_hf_inference(repo_id):
    return {
        "id": repo_id,
        "inferenceProviderMapping": [
            {"provider": p, "providerId": f"{p}/{repo_id}", "task": "feature-extraction", "status": "live"}
            for p in ("together", "hf-inference")
        ],
    }


def test_a_discovery_is_stored_as_rows_to_register_then_the_mappings():
    llm_hf_inference.store_discovered(llm_hf_inference.EMBEDDINGS, [together_and_hf_inference("a/b")])
    lines = (llm.user_dir() / "hf-inference-embeddings.jsonl").read_text().splitlines()
    assert [json.loads(line) for line in lines] == [
        {
            "version": 4,
            "models": {
                "hf/a/b": "together=together/a/b=feature-extraction",
                "hf/a/b:together": "together=together/a/b=feature-extraction",
                "hf/a/b:hf-inference": "hf-inference=hf-inference/a/b=feature-extraction",
            },
        },
        [
            [
                "a/b",
                [
                    ["together", "together/a/b", "feature-extraction", "live"],
                    ["hf-inference", "hf-inference/a/b", "feature-extraction", "live"],
                ],
            ]
        ],
    ]
    spec = llm.get_embedding_model("hf/a/b:hf-inference").spec
    assert spec == ("a/b", (("hf-inference", "hf-inference/a/b", "feature-extraction"),), (), None, None)
    assert llm.get_embedding_model("hf/a/b").spec.providers == (
        ("together", "together/a/b", "feature-extraction"),
    )


def test_a_file_of_another_version_is_ignored_and_said_so_under_llm_hf_debug(monkeypatch):
    llm.user_dir().mkdir(parents=True, exist_ok=True)
    path = llm.user_dir() / "hf-inference-embeddings.jsonl"
    path.write_text('{"version": 2, "models": {"hf/a/b": "together,t/a-b"}}\n[]\n')
    assert invoke("embed-models").stderr == ""
    assert "hf/a/b" not in {m.model_id for m in llm.get_embedding_models()}
    monkeypatch.setenv("LLM_HF_DEBUG", "1")
    assert invoke("embed-models").stderr == (
        f"llm-hf-inference: {path} is of another version of this plugin; using the built-in embedding models. "
        "Run 'llm hf refresh' to fetch them again.\n"
    )


@pytest.mark.parametrize(
    "model_id, row",
    [
        ("hf/a/b", "nowhere=a/b=feature-extraction"),
        ("hf/a/../b", "hf-inference=a/b=feature-extraction"),
        ("hf/a/b", "hf-inference=a/b"),
    ],
)
def test_a_row_no_request_can_follow_is_refused_in_one_line(model_id, row, sent):
    llm.user_dir().mkdir(parents=True, exist_ok=True)
    path = llm.user_dir() / "hf-inference-embeddings.jsonl"
    path.write_text(json.dumps({"version": 4, "models": {model_id: row}}) + "\n[]\n")
    result = invoke("embed", "-m", model_id, "-c", "hello")
    assert (result.exit_code, sent) == (1, [])
    assert result.stderr == f"Error: {model_id} is not a model in {path}; run 'llm hf refresh'\n"


@pytest.mark.vcr
@pytest.mark.cassette("catalog")
def test_refresh_needs_no_token(sent, monkeypatch):
    monkeypatch.delenv("HF_TOKEN")
    result = invoke("hf", "refresh")
    assert (result.exit_code, result.stderr) == (0, "")
    hub = [s for s in sent if s.url.startswith("https://huggingface.co/api/models")]
    assert len(hub) == 13 and all("authorization" not in s.headers for s in hub)


def test_a_mapping_whose_status_a_terminal_would_obey_is_left_out():
    def mapped(status):
        return {"hf-inference": {"providerId": "a/b", "task": "feature-extraction", "status": status}}

    items = [{"id": "a/b", "inferenceProviderMapping": mapped("live")}]
    items.append(
        {"id": "c/d", "inferenceProviderMapping": {**mapped("live"), "x": mapped("\x1b[2J")["hf-inference"]}}
    )
    llm_hf_inference.store_discovered(llm_hf_inference.EMBEDDINGS, items)
    assert invoke("hf", "models", "--embeddings").stdout == (
        "model  providers     status\na/b    hf-inference  live\nc/d    hf-inference  live\n"
    )


def test_an_empty_discovery_never_replaces_the_cache():
    llm_hf_inference.store_discovered(
        llm_hf_inference.EMBEDDINGS,
        [
            {
                "id": "a/b",
                "inferenceProviderMapping": {
                    "hf-inference": {"providerId": "a/b", "task": "feature-extraction", "status": "live"}
                },
            }
        ],
    )
    with pytest.raises(ValueError, match="no embedding model"):
        llm_hf_inference.store_discovered(
            llm_hf_inference.EMBEDDINGS, [{"id": "c/d", "inferenceProviderMapping": []}, "x"]
        )
    assert [repo for repo, _ in llm_hf_inference.read_discovered(llm_hf_inference.EMBEDDINGS)] == ["a/b"]


# -- batching, concurrency, order, the halving path


@pytest.fixture
def embedder(fake, monkeypatch):
    """A stand-in hf-inference: each text's vector is [its number, its length].

    ``limit``: it refuses bigger batches as TEI does; ``delay``: seconds before answering a batch;
    ``together``: a barrier every request waits at, so a client that does not send at once times out.
    """

    def start(limit=None, delay=lambda texts: 0.0, together=None):
        def feature(seen):
            texts = json.loads(seen.body)["inputs"]
            if together:
                together.wait()
            time.sleep(delay(texts))
            if limit and len(texts) > limit:
                message = f"batch size {len(texts)} > maximum allowed batch size {limit}"
                return Answer.json({"error": message, "error_type": "Validation"}, status=422)
            return Answer.json([[float(t.split()[1]), float(len(t))] for t in texts])

        server = fake({"POST /hf-inference/models/org/emb/pipeline/feature-extraction": feature})
        monkeypatch.setenv("LLM_HF_BASE_URL", server.url + "/v1")
        return server

    return start


def sizes(server):
    return [len(json.loads(s.body)["inputs"]) for s in server.seen]


@LOCAL
def test_a_call_is_split_into_batches_sent_at_once_and_kept_in_order(embedder):
    all_four = threading.Barrier(4, timeout=5)
    server = embedder(delay=lambda texts: 0.2 if texts[0] == "text 0" else 0.0, together=all_four)
    texts = [f"text {n}" for n in range(100)]
    vectors = model("org/emb").embed_batch(texts)
    assert vectors == [[float(n), float(len(t))] for n, t in enumerate(texts)]
    assert sorted(sizes(server)) == [25, 25, 25, 25]  # even: the call ends with its slowest sooner
    assert not all_four.broken


@LOCAL
def test_a_server_that_takes_fewer_gets_smaller_batches_nothing_lost_or_doubled(embedder):
    server = embedder(limit=8)
    embedding = model("org/emb")
    texts = [f"text {n}" for n in range(40)]
    assert embedding.embed_batch(texts) == [[float(n), float(len(t))] for n, t in enumerate(texts)]
    answered = [
        n
        for s in server.seen
        if len(json.loads(s.body)["inputs"]) <= 8
        for n in [json.loads(s.body)["inputs"]]
    ]
    assert sorted(t for batch in answered for t in batch) == sorted(texts)
    server.seen.clear()
    embedding.embed_batch(texts)  # the limit is remembered
    assert sizes(server) == [8] * 5


@LOCAL
def test_embed_multi_through_a_collection(embedder):
    server = embedder()
    llm.user_dir().mkdir(parents=True, exist_ok=True)
    import sqlite_utils

    db = sqlite_utils.Database(llm.user_dir() / "embeddings.db")
    collection = llm.Collection("things", db, model=model("org/emb"))
    collection.embed_multi([(f"id{n}", f"text {n}") for n in range(250)])
    assert sizes(server) == [25] * 10  # llm sends 100, 100, 50: each split evenly
    assert collection.count() == 250


@LOCAL
def test_a_failure_in_llm_embed_embed_multi_and_similar_is_one_line(fake, monkeypatch, tmp_path):
    failing = {"now": False}

    def feature(seen):
        if failing["now"]:
            return Answer.json({"error": "Model not found"}, status=404)
        return Answer.json([[0.5, 0.5] for _ in json.loads(seen.body)["inputs"]])

    route = "POST /hf-inference/models/sentence-transformers/all-MiniLM-L6-v2/pipeline/feature-extraction"
    server = fake({route: feature})
    monkeypatch.setenv("LLM_HF_BASE_URL", server.url + "/v1")
    (tmp_path / "texts.csv").write_text("id,content\n1,hi\n")
    assert invoke("embed-multi", "things", str(tmp_path / "texts.csv"), "-m", "hf-minilm").exit_code == 0
    failing["now"] = True
    for args in (
        ["embed", "-m", "hf-minilm", "-c", "hi"],
        ["embed-multi", "others", str(tmp_path / "texts.csv"), "-m", "hf-minilm"],
        ["similar", "things", "-c", "hi"],
    ):
        result = invoke(*args)
        assert result.exit_code == 1 and "Traceback" not in result.output
        assert result.output.splitlines()[-1] == (  # embed-multi shows its progress bar's label first
            "Error: 127.0.0.1 answered 404: Model not found — That provider does not embed with this model: "
            "'llm hf models --embeddings' lists who does."
        )


@LOCAL
def test_an_added_embedding_model_posts_openai_style_without_the_hf_token(fake, monkeypatch):
    server = fake(
        {"POST /v1/embeddings": lambda seen: Answer.json({"data": [{"index": 0, "embedding": [0.5, 0.25]}]})}
    )
    result = invoke("hf", "add", "my-tei", "--embedding", "--alias", "tei", "--base-url", server.url + "/v1")
    assert result.exit_code == 0, result.output
    assert llm.get_embedding_model("tei").embed("hi") == [0.5, 0.25]
    assert json.loads(server.seen[0].body) == {"input": ["hi"], "model": "my-tei"}
    assert "Authorization" not in server.seen[0].headers
    assert "hf/my-tei" not in [m.model_id for m in llm.get_models()]
    refused = invoke("hf", "add", "other", "--embedding")
    assert refused.output == "Error: --embedding needs --base-url: the router's come from 'llm hf refresh'\n"
    taken = invoke("hf", "add", "x/y", "--embedding", "--alias", "hf-minilm", "--base-url", server.url)
    assert taken.output == (
        "Error: 'hf-minilm' already names hf/sentence-transformers/all-MiniLM-L6-v2; choose another alias\n"
    )


@pytest.mark.parametrize("token", [None, "hf_SECRETé1234567890"])
def test_no_usable_token_in_llm_embed_is_one_line(token, monkeypatch, sent):
    if token is None:
        monkeypatch.delenv("HF_TOKEN")
        message = (
            "No Hugging Face token found. Give one in any of these ways: 'llm keys set huggingface', "
            "the HF_TOKEN environment variable, or 'hf auth login'."
        )
    else:
        monkeypatch.setenv("HF_TOKEN", token)
        message = "The token from HF_TOKEN has characters a token cannot have; set it again"
    result = invoke("embed", "-m", "hf-minilm", "-c", "hi")
    assert (result.exit_code, result.output) == (1, f"Error: {message}\n")
    assert sent == []


@LOCAL
@pytest.mark.parametrize(
    "answer, shape",
    [
        (b"[null, [0.5, 0.5]]", "[null, [0.5, 0.5]]"),
        (b"[1, [0.5, 0.5]]", "[1, [0.5, 0.5]]"),
        (b"[[true, false], [0.5, 0.5]]", "[[true, false], [0.5, 0.5]]"),
        (
            b'{"data": [{"index": 0, "embedding": [false, 0.5]}, {"index": 1, "embedding": [0.5, 0.5]}]}',
            "[[false, 0.5], [0.5, 0.5]]",
        ),
        (b"[[1" + b"0" * 400 + b", 0.5], [0.5, 0.5]]", "[[1" + "0" * 197),
    ],
)
def test_a_vector_that_is_not_numbers_is_one_line_in_llm_embed_multi(
    answer, shape, fake, monkeypatch, tmp_path
):
    route = "POST /hf-inference/models/sentence-transformers/all-MiniLM-L6-v2/pipeline/feature-extraction"
    server = fake({route: lambda seen: Answer(200, {"Content-Type": "application/json"}, answer)})
    monkeypatch.setenv("LLM_HF_BASE_URL", server.url + "/v1")
    (tmp_path / "texts.csv").write_text("id,content\n1,hi\n2,ho\n")
    result = invoke("embed-multi", "things", str(tmp_path / "texts.csv"), "-m", "hf-minilm")
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert (
        result.stderr.splitlines()[-1] == f"Error: 127.0.0.1 sent embeddings of an unexpected shape: {shape}"
    )


@LOCAL
def test_vectors_of_different_lengths_are_refused_whole_and_nothing_is_stored(fake, monkeypatch, tmp_path):
    def feature(seen):
        texts = json.loads(seen.body)["inputs"]
        width = 9 if "text 40" in texts else 8  # one of the four batches answers 9 dimensions
        return Answer.json([[0.5] * width for _ in texts])

    route = "POST /hf-inference/models/sentence-transformers/all-MiniLM-L6-v2/pipeline/feature-extraction"
    server = fake({route: feature})
    monkeypatch.setenv("LLM_HF_BASE_URL", server.url + "/v1")
    (tmp_path / "texts.csv").write_text("id,content\n" + "".join(f"{n},text {n}\n" for n in range(100)))
    result = invoke("embed-multi", "things", str(tmp_path / "texts.csv"), "-m", "hf-minilm")
    assert result.exit_code == 1
    assert result.stderr.splitlines()[-1] == (
        "Error: hf/sentence-transformers/all-MiniLM-L6-v2 answered with vectors of 8 and 9 dimensions in "
        "this process; they cannot be compared, so none of this call's were kept"
    )
    assert llm.Collection("things", sqlite_utils.Database(llm.user_dir() / "embeddings.db")).count() == 0


@LOCAL
def test_a_model_whose_vectors_change_length_within_a_process_is_refused(fake, monkeypatch):
    widths = iter([8, 9])
    route = "POST /hf-inference/models/org/emb/pipeline/feature-extraction"
    server = fake({route: lambda seen: Answer.json([[0.5] * next(widths)])})
    monkeypatch.setenv("LLM_HF_BASE_URL", server.url + "/v1")
    assert model("org/emb").embed("a") == [0.5] * 8
    with pytest.raises(llm_hf_inference.HFError, match="vectors of 8 and 9 dimensions"):
        model("org/emb").embed("b")  # the same model, made again
    assert len(server.seen) == 2


@pytest.mark.parametrize(
    "count, sizes",
    [(100, [25] * 4), (32, [32]), (33, [17, 16]), (64, [32, 32]), (65, [22, 22, 21]), (1, [1])],
)
def test_batches_are_as_even_as_can_be(count, sizes):
    batches = llm_hf_inference.even_batches(list(range(count)), 32)
    assert [len(batch) for batch in batches] == sizes
    assert [n for batch in batches for n in batch] == list(range(count))


@POSIX
@LOCAL
def test_ctrl_c_stops_a_call_at_once_and_sends_nothing_after_it(fake, monkeypatch, ctrl_c_raises):
    import signal

    four = threading.Barrier(5, timeout=5)  # the four workers' first requests, and the Ctrl-C

    def feature(seen):  # every request fails slowly, so each worker would retry again and again
        if len(server.seen) <= 4:
            four.wait()
        time.sleep(0.3)
        return Answer.json({"error": "Service Unavailable"}, status=503)

    route = "POST /hf-inference/models/org/emb/pipeline/feature-extraction"
    server = fake({route: feature})
    monkeypatch.setenv("LLM_HF_BASE_URL", server.url + "/v1")
    monkeypatch.setattr(llm_hf_inference, "sleep", lambda seconds: time.sleep(0.05))
    ctrl_c_at = []

    def ctrl_c():
        four.wait()
        ctrl_c_at.append(time.monotonic())
        os.kill(os.getpid(), signal.SIGINT)

    threading.Thread(target=ctrl_c, daemon=True).start()
    with pytest.raises(KeyboardInterrupt):
        model("org/emb").embed_batch([f"text {n}" for n in range(320)])  # ten batches, four at a time
    stopped = time.monotonic()
    time.sleep(0.8)  # the four requests under way end; no worker sends another, not even a retry
    assert len(server.seen) == 4
    assert stopped - ctrl_c_at[0] < 0.5


def test_lines_from_parallel_requests_are_written_whole(monkeypatch):
    writes = []

    class Recorder:
        def write(self, text):
            writes.append(text)

        def flush(self):
            pass

    monkeypatch.setattr("sys.stderr", Recorder())
    llm_hf_inference.Attempts(llm_hf_inference.HFRequest("https://a.example/x"))._next(
        1.0, "Rate limited by together"
    )
    assert writes == ["llm-hf-inference: Rate limited by together, retrying in 1.0s (attempt 2/3)\n"]


# -- embeddings: who serves a model, what is registered where, how many at once


@pytest.mark.parametrize(
    "row, served",
    [
        (["hf-inference", "a/b", "feature-extraction", "live"], True),
        (["hf-inference", "a/b", "sentence-similarity", "live"], True),  # hf-inference embeds both
        (["together", "a/b", "feature-extraction", "live"], True),
        (["together", "a/b", "sentence-similarity", "live"], False),  # elsewhere, only feature-extraction
        (["together", "a/b", "feature-extraction", "staging"], False),
        (["featherless-ai", "a/b", "feature-extraction", "live"], False),  # no known route
    ],
)
def test_which_mappings_can_embed(row, served):
    assert llm_hf_inference.EMBEDDINGS.servable([row]) == ([tuple(row[:3])] if served else [])


def test_added_chat_models_are_no_embedding_models_and_the_other_way_round():
    assert invoke("hf", "add", "org/chat", "--base-url", "http://localhost:8080/v1").exit_code == 0
    assert (
        invoke("hf", "add", "org/emb", "--embedding", "--base-url", "http://localhost:8081/v1").exit_code == 0
    )
    chat = {model.model_id for model in llm.get_models()}
    embedding = {model.model_id for model in llm.get_embedding_models()}
    assert ("hf/org/chat" in chat, "hf/org/chat" in embedding) == (True, False)
    assert ("hf/org/emb" in chat, "hf/org/emb" in embedding) == (False, True)


@LOCAL
def test_at_most_four_embedding_requests_are_in_flight(fake, monkeypatch):
    lock, now, most = threading.Lock(), [0], [0]

    def feature(seen):
        with lock:
            now[0] += 1
            most[0] = max(most[0], now[0])
        time.sleep(0.05)
        with lock:
            now[0] -= 1
        return Answer.json([[0.5, 0.5] for _ in json.loads(seen.body)["inputs"]])

    server = fake({"POST /hf-inference/models/org/emb/pipeline/feature-extraction": feature})
    monkeypatch.setenv("LLM_HF_BASE_URL", server.url + "/v1")
    embedder = model("org/emb")
    assert len(embedder.embed_batch([f"t{n}" for n in range(320)])) == 320
    assert (len(server.seen), most[0]) == (10, 4)


@pytest.mark.vcr
@pytest.mark.cassette("emb-minilm")
def test_an_embedding_request_has_the_read_timeout(sent, played):
    llm.get_embedding_model("hf-minilm").embed("Hi, who are you?")
    assert sent[0].timeout == {"connect": 10.0, "read": 120.0, "write": 120.0, "pool": None}


def test_an_embedding_request_that_cannot_connect_is_retried(monkeypatch, capsys):
    calls = []

    def flaky(request):
        calls.append(request.url)
        if len(calls) == 1:
            raise httpx2.ConnectError("connection refused")
        return llm_hf_inference.Answer(
            200, httpx2.Headers({"content-type": "application/json"}), b"[[0.5, 0.25]]"
        )

    monkeypatch.setattr(llm_hf_inference, "attempt_once", flaky)
    monkeypatch.setattr(llm_hf_inference, "sleep", lambda seconds: None)
    monkeypatch.setattr(llm_hf_inference.random, "uniform", lambda low, high: high)
    assert llm.get_embedding_model("hf-minilm").embed("hi") == [0.5, 0.25]
    assert len(calls) == 2
    assert capsys.readouterr().err == (
        "llm-hf-inference: Could not reach router.huggingface.co, retrying in 1.0s (attempt 2/3)\n"
    )


@pytest.mark.parametrize(
    "status, message, size, limit",
    [
        (422, "batch size 40 > maximum allowed batch size 8", 40, 8),
        (413, "batch size 40 > maximum allowed batch size 8", 40, 8),
        (413, "Payload Too Large", 40, 20),  # too big to send: half
        (422, "Input validation error: inputs must have less than 512 tokens", 40, None),  # not the batch
        (400, "batch size 40 > maximum allowed batch size 8", 40, None),
    ],
)
def test_when_a_refused_batch_is_split(status, message, size, limit):
    error = llm_hf_inference.HTTPStatusError(f"x answered {status}: {message}", status, {})
    assert llm_hf_inference.batch_limit(error, size) == limit


def test_no_texts_are_no_vectors_and_no_request(sent):
    assert model("org/emb").embed_batch([]) == []
    assert sent == []


def test_an_error_in_one_of_several_parallel_batches_is_raised():
    def work(batch, stop):
        if batch == "b":
            raise llm.ModelError("the second batch failed")
        return [batch]

    with pytest.raises(llm.ModelError, match="^the second batch failed$"):
        llm_hf_inference.in_parallel(work, ["a", "b", "c"])
    assert llm_hf_inference.in_parallel(work, ["a", "b2", "c"]) == [["a"], ["b2"], ["c"]]
