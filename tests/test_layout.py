"""The module's docstring is its map: every section, in order."""

import re

import llm_hf_inference
from conftest import ROOT


def test_the_map_names_every_section_in_order():
    source = (ROOT / "llm_hf_inference.py").read_text()
    sections = re.findall(r"^# ============ (.+)$", source, re.M)
    bullets = re.findall(r"^- (.+)$", llm_hf_inference.__doc__, re.M)
    assert len(bullets) == len(sections) > 5
    for section, bullet in zip(sections, bullets, strict=True):
        assert bullet == section or bullet.startswith(section + ":"), (section, bullet)


def test_every_public_name_is_there_and_dir_lists_only_them():
    public = llm_hf_inference.__all__
    assert all(callable(getattr(llm_hf_inference, name)) for name in public)
    assert dir(llm_hf_inference) == sorted(public) and len(set(public)) == len(public)
    assert {"HFTTS", "AsyncHFTTS", "HFSpeak", "HFVideo", "AsyncHFVideo", "video_options"} <= set(public)
    assert llm_hf_inference.HFOptions is llm_hf_inference.chat_options()  # built when first asked for


def test_no_function_is_over_sixty_lines():
    import ast

    tree = ast.parse((ROOT / "llm_hf_inference.py").read_text())
    functions = (node for node in ast.walk(tree) if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)))
    assert [f.name for f in functions if f.end_lineno - f.lineno + 1 > 60] == []
