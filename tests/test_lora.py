"""LoRA adapters: the Hub's mappings kept with their weights path, sent as both official clients send them (fal's
weights URL and its stable-diffusion base model, replicate's repository URL, wavespeed's repository id), never
offered where they would run as their base model; -o lora_scale. The mappings are huggingface.js's test
mappings (real Hub LoRAs); the 422s are fal's recorded answers (huggingface.js's tapes, 2025-04)."""

import json

import llm
import pytest

import llm_hf_inference
from fakeserver import Answer
from helpers import LOCAL, invoke

pytestmark = LOCAL

GHIBLI = "openfree/flux-chatgpt-ghibli-lora"
PIXEL = "nerijs/pixel-art-xl"
ANGLES = "dx8152/Qwen-Edit-2509-Multiple-angles"
PROMPT = "a sky whale [trigger]"
FLUX_DEV = "black-forest-labs/FLUX.1-dev"
FAL_422_MODEL_NAME = (
    b'{"detail":[{"loc":["body","model_name"],"msg":"field required","type":"value_error.missing"}]}'
)
FAL_422_PATH = (
    b'{"detail":[{"loc":["body","loras",0,"path"],"msg":"str type expected","type":"type_error.str"}]}'
)


def lora(provider, provider_id, task, weights, adapter="lora"):
    return {
        "provider": provider,
        "providerId": provider_id,
        "status": "live",
        "task": task,
        "adapter": adapter,
        "adapterWeightsPath": weights,
    }


@pytest.fixture
def loras():
    """The Hub's image models with LoRA mappings, as 'llm hf refresh' stores them."""
    llm.user_dir().mkdir(parents=True, exist_ok=True)
    items = [
        {
            "id": GHIBLI,
            "tags": ["lora", "base_model:black-forest-labs/FLUX.1-dev", f"base_model:adapter:{FLUX_DEV}"],
            "inferenceProviderMapping": [
                lora("fal-ai", "fal-ai/flux-lora", "text-to-image", "flux-chatgpt-ghibli-lora.safetensors"),
                lora("together", "black-forest-labs/FLUX.1-dev", "text-to-image", "x.safetensors"),  # base
                lora(
                    "wavespeed",
                    "wavespeed-ai/flux-dev-lora",
                    "text-to-image",
                    "flux-chatgpt-ghibli-lora.safetensors",
                ),
                lora("replicate", "black-forest-labs/flux-dev-lora", "text-to-image", "lora.safetensors"),
            ],
        },
        {
            "id": PIXEL,
            "tags": ["lora", "base_model:adapter:../../etc"],  # no repository: no base model said
            "inferenceProviderMapping": [
                lora("fal-ai", "fal-ai/lora", "text-to-image", "pixel-art-xl.safetensors")
            ],
        },
        {
            "id": ANGLES,
            "inferenceProviderMapping": [
                lora(
                    "wavespeed",
                    "wavespeed-ai/qwen-image/edit-plus-lora",
                    "image-to-image",
                    "镜头转换.safetensors",
                ),
                lora("fal-ai", "fal-ai/qwen-image-edit-lora", "image-to-image", "镜头转换.safetensors"),
            ],
        },
        {  # an adapter of a kind no client sends: never run as its base model
            "id": "someone/controlnet",
            "inferenceProviderMapping": [
                lora("fal-ai", "fal-ai/flux", "text-to-image", "c.safetensors", "controlnet")
            ],
        },
        {  # a LoRA mapping without its weights: the clients send none, so neither does the plugin
            "id": "someone/no-weights",
            "inferenceProviderMapping": [lora("fal-ai", "fal-ai/flux-lora", "text-to-image", None)],
        },
        {  # a LoRA only hf-inference maps: nothing can send it
            "id": "someone/hf-inference-lora",
            "inferenceProviderMapping": [
                lora("hf-inference", "someone/hf-inference-lora", "text-to-image", "w.safetensors")
            ],
        },
    ]
    llm_hf_inference.store_discovered(llm_hf_inference.IMAGES, items)


def stopped(seen):
    return Answer.json({"detail": "stop here"}, 422)


def test_a_lora_is_kept_with_its_weights_and_offered_only_where_it_is_sent_as_one(loras):
    assert llm.get_model(f"hf/{GHIBLI}").spec.providers == (
        ("fal-ai", "fal-ai/flux-lora", "text-to-image", "flux-chatgpt-ghibli-lora.safetensors"),
        ("wavespeed", "wavespeed-ai/flux-dev-lora", "text-to-image", "flux-chatgpt-ghibli-lora.safetensors"),
        ("replicate", "black-forest-labs/flux-dev-lora", "text-to-image", "lora.safetensors"),
    )  # together would run FLUX.1-dev itself: not offered
    assert (
        llm.get_model(f"hf/{ANGLES}").spec.providers[0][3]
        == "%E9%95%9C%E5%A4%B4%E8%BD%AC%E6%8D%A2.safetensors"
    )
    for repo_id in ("someone/controlnet", "someone/no-weights", "someone/hf-inference-lora"):
        with pytest.raises(llm.UnknownModelError):
            llm.get_model(f"hf/{repo_id}")


def test_fal_gets_the_weights_url_and_the_default_scale(router, here, loras):
    server = router({"POST /fal-ai/fal-ai/flux-lora": stopped})
    invoke("-m", f"hf/{GHIBLI}", PROMPT)
    assert json.loads(server.seen[0].body) == {
        "prompt": PROMPT,
        "loras": [
            {
                "path": f"https://huggingface.co/{GHIBLI}/resolve/main/flux-chatgpt-ghibli-lora.safetensors",
                "scale": 1,
            }
        ],
    }


def test_fals_stable_diffusion_lora_route_gets_its_base_model_and_the_scale_asked(router, here, loras):
    server = router({"POST /fal-ai/fal-ai/lora": lambda seen: Answer(422, {}, FAL_422_PATH)})
    result = invoke("-m", f"hf/{PIXEL}", "pixel, a cute corgi", "-o", "lora_scale", "0.8", "-o", "seed", "3")
    assert json.loads(server.seen[0].body) == {
        "prompt": "pixel, a cute corgi",
        "seed": 3,
        "loras": [
            {"path": f"https://huggingface.co/{PIXEL}/resolve/main/pixel-art-xl.safetensors", "scale": 0.8}
        ],
        "model_name": "stabilityai/stable-diffusion-xl-base-1.0",
    }
    assert result.stderr == (
        "Error: 127.0.0.1 answered 422: body.loras.0.path: str type expected (the text sent: 19 characters)\n"
    )


def test_what_fal_answers_without_the_base_model_is_one_line(router, here, loras):
    router({"POST /fal-ai/fal-ai/lora": lambda seen: Answer(422, {}, FAL_422_MODEL_NAME)})
    result = invoke("-m", f"hf/{PIXEL}", "pixel, a cute corgi")
    assert (result.exit_code, result.stderr) == (
        1,
        "Error: 127.0.0.1 answered 422: body.model_name: field required (the text sent: 19 characters)\n",
    )


def test_a_weights_file_name_that_is_not_ascii_makes_a_valid_url(router, here, loras):
    (here / "room.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    server = router({"POST /fal-ai/fal-ai/qwen-image-edit-lora": stopped})
    invoke("-m", f"hf/{ANGLES}", "turn the camera left", "-a", "room.png", "-o", "provider", "fal-ai")
    path = json.loads(server.seen[0].body)["loras"][0]["path"]
    assert (
        path
        == f"https://huggingface.co/{ANGLES}/resolve/main/%E9%95%9C%E5%A4%B4%E8%BD%AC%E6%8D%A2.safetensors"
    )


def test_wavespeed_gets_the_repository_and_replicate_its_url(router, here, loras):
    server = router(
        {
            "POST /wavespeed/api/v3/wavespeed-ai/flux-dev-lora": stopped,
            "POST /replicate/v1/models/black-forest-labs/flux-dev-lora/predictions": stopped,
        }
    )
    invoke("-m", f"hf/{GHIBLI}", PROMPT, "-o", "provider", "wavespeed")
    invoke("-m", f"hf/{GHIBLI}", PROMPT, "-o", "provider", "replicate", "-o", "lora_scale", "0.5")
    assert json.loads(server.seen[0].body) == {"prompt": PROMPT, "loras": [{"path": GHIBLI, "scale": 1}]}
    assert json.loads(server.seen[1].body) == {
        "input": {"prompt": PROMPT, "lora_weights": f"https://huggingface.co/{GHIBLI}", "lora_scale": 0.5}
    }


def test_the_weights_url_follows_hf_endpoint_and_never_carries_the_token(router, here, loras, monkeypatch):
    monkeypatch.setenv("HF_ENDPOINT", "https://hub.example.org")
    server = router({"POST /fal-ai/fal-ai/flux-lora": stopped})
    invoke("-m", f"hf/{GHIBLI}", PROMPT)
    assert json.loads(server.seen[0].body)["loras"][0]["path"].startswith(
        f"https://hub.example.org/{GHIBLI}/"
    )
    assert "hf_" not in server.seen[0].body.decode()


@pytest.mark.parametrize(
    "args, said",
    [
        (
            ["-o", "provider", "together"],
            f"{GHIBLI} is not served by together for images; its providers: fal-ai, wavespeed, replicate",
        ),
        (["-o", "lora_scale", "5"], "lora_scale\n  Input should be less than or equal to 4"),  # llm's words
    ],
)
def test_a_lora_is_never_sent_where_it_would_run_as_its_base_model(router, here, loras, args, said):
    server = router({})
    result = invoke("-m", f"hf/{GHIBLI}", PROMPT, *args)
    assert (result.exit_code, result.stderr, server.seen) == (1, f"Error: {said}\n", [])


def test_a_scale_for_a_model_that_is_no_lora_is_refused_before_any_request(router, here):
    server = router({})
    result = invoke("-m", "hf-flux", "a fox", "-o", "lora_scale", "0.5")
    assert result.stderr == (
        "Error: hf-inference takes no -o lora_scale (it is not a LoRA adapter there) for "
        "black-forest-labs/FLUX.1-schnell; leave it out\n"
    )
    assert server.seen == []


def test_llm_hf_models_says_lora_and_its_base_model_and_its_json_keeps_them(loras):
    listed = invoke("hf", "models", "--images", "-q", "ghibli").stdout
    assert listed.splitlines()[1].startswith(
        f"{GHIBLI} (LoRA of {FLUX_DEV})  fal-ai, together, wavespeed, replicate"
    )
    assert invoke("hf", "providers", f"hf/{GHIBLI}").stdout == (
        f"{GHIBLI}\n"
        "provider   provider id                      task           adapter\n"
        f"fal-ai     fal-ai/flux-lora                 text-to-image  LoRA of {FLUX_DEV}\n"
        f"wavespeed  wavespeed-ai/flux-dev-lora       text-to-image  LoRA of {FLUX_DEV}\n"
        f"replicate  black-forest-labs/flux-dev-lora  text-to-image  LoRA of {FLUX_DEV}\n"
    )
    ghibli = json.loads(invoke("hf", "models", "--images", "--json", "-q", "ghibli").stdout)[0]
    assert ghibli["providers"][0] == {
        "provider": "fal-ai",
        "providerId": "fal-ai/flux-lora",
        "task": "text-to-image",
        "status": "live",
        "adapter": "lora",
        "adapterWeightsPath": "flux-chatgpt-ghibli-lora.safetensors",
        "baseModel": FLUX_DEV,
    }
    assert (
        invoke("hf", "models", "--images", "-q", "pixel")
        .stdout.splitlines()[1]
        .startswith(f"{PIXEL} (LoRA) ")
    )
    entry = json.loads(invoke("hf", "models", "--images", "--json", "-q", "pixel").stdout)[0]
    assert entry["providers"] == [
        {
            "provider": "fal-ai",
            "providerId": "fal-ai/lora",
            "task": "text-to-image",
            "status": "live",
            "adapter": "lora",
            "adapterWeightsPath": "pixel-art-xl.safetensors",
        }
    ]
    assert "adapter" not in invoke("hf", "providers", f"hf/{PIXEL}").stdout.splitlines()[2]
    assert invoke("hf", "providers", f"hf/{PIXEL}").stdout.splitlines()[2].endswith("LoRA")


def test_a_row_with_a_weights_path_that_leaves_its_repository_is_refused(router, here):
    server = router({})
    path = llm.user_dir() / "hf-inference-images.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    row = "fal-ai=fal-ai/flux-lora=text-to-image=../../other/resolve/main/x.safetensors"
    path.write_text(json.dumps({"version": 4, "models": {"hf/a/b": row}}) + "\n[]\n")
    result = invoke("-m", "hf/a/b", "a fox")
    assert (result.stderr, server.seen) == (
        f"Error: hf/a/b is not a model in {path}; run 'llm hf refresh'\n",
        [],
    )


def test_a_video_lora_goes_to_fals_queue_with_its_weights(router, here):
    """huggingface_hub's own case (#4706): a fal text-to-video LoRA."""
    mapping = lora(
        "fal-ai", "provider-id/text-to-video/lora", "text-to-video", "pytorch_lora_weights.safetensors"
    )
    llm.user_dir().mkdir(parents=True, exist_ok=True)
    llm_hf_inference.store_discovered(
        llm_hf_inference.VIDEOS, [{"id": "username/repo_name", "inferenceProviderMapping": [mapping]}]
    )
    server = router({"POST /fal-ai/provider-id/text-to-video/lora": stopped})
    invoke("-m", "hf/username/repo_name", "a cat walking", "-o", "frames", "16")
    assert server.paths() == ["/fal-ai/provider-id/text-to-video/lora?_subdomain=queue"]
    assert json.loads(server.seen[0].body) == {
        "prompt": "a cat walking",
        "num_frames": 16,
        "loras": [
            {
                "path": "https://huggingface.co/username/repo_name/resolve/main/pytorch_lora_weights.safetensors",
                "scale": 1,
            }
        ],
    }
