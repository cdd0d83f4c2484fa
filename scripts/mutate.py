"""Mutation testing of llm_hf_inference.py: does some test fail when a line of the module is broken?

    pip install -e '.[test]' coverage && python scripts/mutate.py --count 400 --seed 7 --jobs 2

First maps each line to the tests that run it (coverage's per-test contexts), then makes a random sample
of mutants (a comparison flipped, a constant changed, a number made 0, a string emptied, a boolean operator
swapped, a condition negated, a statement dropped, a returned value made None, a keyword argument dropped, a
bound moved: ge= to gt=, le= to lt=), each applied to a copy of the tree, and runs only the
tests that cover its line (coverage names only a statement's first line: for the others, the whole suite),
stopping at the first failure, then, if none failed, the whole suite. Prints the survivors, and the kill
rate by section of the module (its ``# ============`` headers).
"""

import argparse
import ast
import collections
import concurrent.futures
import json
import os
import pathlib
import random
import re
import shutil
import subprocess
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parent.parent
MODULE = "llm_hf_inference.py"
FLIPS = {ast.Eq: ast.NotEq, ast.Lt: ast.LtE, ast.Gt: ast.GtE, ast.In: ast.NotIn, ast.Is: ast.IsNot}
FLIPS.update({new: old for old, new in FLIPS.items()})
BOUNDS = {"ge": "gt", "gt": "ge", "le": "lt", "lt": "le"}  # a bound of pydantic's Field, moved by one


def docstrings(tree) -> set:
    found = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        first = body[0] if isinstance(body, list) and body else None
        if (
            isinstance(first, ast.Expr)
            and isinstance(first.value, ast.Constant)
            and type(first.value.value) is str
        ):
            found.add(id(first.value))
    return found


def mutants(source: str) -> list:
    """(line, description, replaced span, new text) for every mutation point of the module."""
    tree = ast.parse(source)
    skip = docstrings(tree)
    found = []

    def add(node, text, what):
        span = (node.lineno, node.col_offset, node.end_lineno, node.end_col_offset)
        found.append((node.lineno, what, span, text))

    for node in ast.walk(tree):
        if isinstance(node, ast.Compare) and len(node.ops) == 1 and type(node.ops[0]) in FLIPS:
            new = ast.Compare(node.left, [FLIPS[type(node.ops[0])]()], node.comparators)
            add(node, ast.unparse(new), f"{type(node.ops[0]).__name__} flipped")
        elif isinstance(node, ast.BoolOp):
            new = ast.BoolOp(ast.Or() if isinstance(node.op, ast.And) else ast.And(), node.values)
            add(node, f"({ast.unparse(new)})", "and/or swapped")
        elif isinstance(node, ast.Constant) and id(node) not in skip and not isinstance(node.value, bytes):
            value = node.value
            if isinstance(value, bool):
                add(node, repr(not value), "boolean flipped")
            elif isinstance(value, (int, float)):
                add(node, repr(value + 1), "number + 1")
                if value != 0:
                    add(node, "0", "number made 0")
            elif isinstance(value, str) and value:
                add(node, repr("X" + value), "string changed")
                add(node, "''", "string emptied")
        elif isinstance(node, (ast.If, ast.While)) and not isinstance(node.test, ast.Constant):
            test = node.test
            add(test, f"not ({ast.unparse(test)})", "condition negated")
        elif isinstance(node, ast.Return) and node.value is not None:
            add(node, "return None", "return None")
        elif (
            isinstance(node, (ast.Expr, ast.Assign, ast.AugAssign, ast.Raise))
            and id(getattr(node, "value", None)) not in skip
        ):
            add(node, "pass", "statement dropped")
        elif isinstance(node, ast.Call) and node.keywords:
            for n, keyword in enumerate(node.keywords):
                others = node.keywords[:n] + node.keywords[n + 1 :]
                add(
                    node,
                    ast.unparse(ast.Call(node.func, node.args, others)),
                    f"keyword {keyword.arg} dropped",
                )
                if keyword.arg in BOUNDS:
                    moved = ast.keyword(BOUNDS[keyword.arg], keyword.value)
                    new = ast.Call(node.func, node.args, [*others[:n], moved, *others[n:]])
                    add(node, ast.unparse(new), f"bound {keyword.arg} moved to {BOUNDS[keyword.arg]}")
        elif isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Sub, ast.Mult)):
            op = {ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.Add}[type(node.op)]()
            add(node, f"({ast.unparse(ast.BinOp(node.left, op, node.right))})", "operator changed")
    return found


def apply(source: str, span: tuple, text: str) -> str:
    """``source`` with the span (lines from 1, columns in UTF-8 bytes, as ast gives them) replaced."""
    lines = source.split("\n")
    first, start, last, end = span
    head, tail = lines[first - 1].encode()[:start].decode(), lines[last - 1].encode()[end:].decode()
    return "\n".join([*lines[: first - 1], head + text + tail, *lines[last:]])


def coverage_map(work: pathlib.Path) -> dict:
    """Line → the test node ids that run it, from one run of the suite with per-test contexts."""
    data = work / ".coverage"
    coverage = [sys.executable, "-m", "coverage", "run", f"--data-file={data}", f"--include={ROOT / MODULE}"]
    subprocess.run(
        [*coverage, "--context=test", "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=ROOT,
        capture_output=True,
    )
    from coverage import CoverageData

    covered = CoverageData(basename=str(data))
    covered.read()
    lines = collections.defaultdict(set)
    for line, contexts in covered.contexts_by_lineno(str(ROOT / MODULE)).items():
        lines[line].update(c.split("|")[0] for c in contexts if c)
        if not lines[line]:  # run at import only (a constant, a class body): every test may meet it
            lines[line].add("tests")
    return lines


def sections(source: str) -> list:
    lines = enumerate(source.split("\n"), 1)
    return [(number, m.group(1)) for number, line in lines if (m := re.match(r"# =+ (.+)", line))]


def section_of(line: int, marks: list) -> str:
    return next((name for start, name in reversed(marks) if start <= line), "top")


def run_one(mutant, source: str, tests: list, slot: pathlib.Path) -> bool:
    """Whether some test fails with the mutant in place (killed)."""
    (slot / MODULE).write_text(apply(source, mutant[2], mutant[3]), encoding="utf-8")
    try:
        compile((slot / MODULE).read_text(encoding="utf-8"), MODULE, "exec")
    except SyntaxError:
        return True
    command = [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", *tests]
    try:
        run = subprocess.run(
            command, cwd=slot, capture_output=True, env={**os.environ, "PYTHONPATH": str(slot)}, timeout=180
        )
    except subprocess.TimeoutExpired:
        return True  # a test that hangs is a test that notices
    return run.returncode != 0


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=400)
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--out", default="mutants.json")
    args = parser.parse_args()
    source = (ROOT / MODULE).read_text(encoding="utf-8")
    work = pathlib.Path(tempfile.mkdtemp())
    lines = coverage_map(work)
    points = mutants(source)
    sample = random.Random(args.seed).sample(points, min(args.count, len(points)))
    slots = []
    for n in range(args.jobs):
        slot = work / f"slot{n}"
        shutil.copytree(ROOT, slot, ignore=shutil.ignore_patterns(".git", "*.egg-info", "__pycache__"))
        slots.append(slot)
    results = []
    with concurrent.futures.ThreadPoolExecutor(args.jobs) as pool:
        free = list(slots)
        import threading

        lock = threading.Lock()

        def job(mutant):
            tests = sorted(lines.get(mutant[0]) or ["tests"])  # a statement's later lines: the whole suite
            with lock:
                slot = free.pop()
            try:
                killed = run_one(mutant, source, tests, slot)
                # coverage does not always name every test that runs a line (async generators): a mutant
                # its tests miss faces the whole suite before it is called a survivor
                return mutant, killed or (tests != ["tests"] and run_one(mutant, source, ["tests"], slot))
            finally:
                with lock:
                    free.append(slot)

        for done, (mutant, killed) in enumerate(pool.map(job, sample), 1):
            results.append((mutant, killed))
            verdict = "killed" if killed else "SURVIVED"
            print(f"{done}/{len(sample)} line {mutant[0]} {mutant[1]}: {verdict}", flush=True)
    marks = sections(source)
    by_section = collections.defaultdict(lambda: [0, 0])
    for mutant, killed in results:
        by_section[section_of(mutant[0], marks)][0 if killed else 1] += 1
    print("\nsection: killed / sampled")
    for name, (killed, survived) in by_section.items():
        print(f"{name}: {killed} / {killed + survived}")
    total = sum(k for _, k in results)
    print(f"all: {total} / {len(results)} = {total / len(results):.1%}")
    survivors = [{"line": m[0], "what": m[1], "text": m[3]} for m, k in results if not k]
    pathlib.Path(args.out).write_text(json.dumps(survivors, indent=1))


if __name__ == "__main__":
    main()
