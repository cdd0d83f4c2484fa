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
