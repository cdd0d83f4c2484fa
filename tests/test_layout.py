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


def test_every_section_uses_only_sections_above_it():
    """One direction: a name a section uses (when it runs, not in a quoted annotation) is defined in that
    section or one above it."""
    import ast

    source = (ROOT / "llm_hf_inference.py").read_text()
    starts = [n for n, line in enumerate(source.splitlines(), 1) if line.startswith("# ============ ")]

    def section(line: int) -> int:
        return sum(1 for start in starts if start <= line)

    tree = ast.parse(source)
    defined = {}
    for node in tree.body:
        names = [node.name] if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) else []
        for target in node.targets if isinstance(node, ast.Assign) else []:
            names += [t.id for t in ast.walk(target) if isinstance(t, ast.Name)]
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.append(node.target.id)
        for name in names:
            defined.setdefault(name, section(node.lineno))

    def local(node) -> set:  # what a definition binds itself: its arguments and assignments
        names = {
            a.arg for f in ast.walk(node) if isinstance(f, ast.arguments) for a in [*f.args, *f.kwonlyargs]
        }
        return names | {
            n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)
        }

    upward = sorted(
        {
            (used.id, used.lineno)
            for node in tree.body
            for own in [local(node) if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) else set()]
            for used in ast.walk(node)
            if isinstance(used, ast.Name)
            and isinstance(used.ctx, ast.Load)
            and used.id not in own
            and defined.get(used.id, 0) > section(node.lineno)
        }
    )
    assert upward == []


def test_every_name_the_recipe_cites_is_there():
    """docs/adding.md names the module's functions, tables and fields, and the tests' helpers: each is
    there (a renamed function leaves no stale recipe)."""
    import fakeserver

    text = (ROOT / "docs" / "adding.md").read_text()
    kinds = ("Route", "Task", "Job", "Done", "Discovery")
    fields = {name for kind in kinds for name in getattr(llm_hf_inference, kind)._fields}
    words = {"None", "fetch", "text", "path", "router", "llm_hf_inference", "new_provider", "done"}
    cited = [
        found.group(1).split(".")
        for quoted in re.findall(r"`([^`]+)`", text)
        for found in [re.match(r"([A-Za-z_][A-Za-z0-9_.]*)(\(|$)", quoted)]
        if found
    ]

    def there(parts: list) -> bool:
        if parts[0] in fields | words or hasattr(fakeserver, parts[0]):
            return True
        found = llm_hf_inference
        for part in parts:
            if not hasattr(found, part):
                return False
            found = getattr(found, part)
        return True

    assert len(cited) > 40 and [".".join(parts) for parts in cited if not there(parts)] == []
