"""Citations: no file of the project points to the lecture notes by a path outside it (they are
cited by author, title and year, and listed in docs/references.md); examples write where told."""

import ast
from pathlib import Path

import pytest

pytestmark = pytest.mark.cpu_only

ROOT = Path(__file__).resolve().parent.parent
SCANNED = ("autodiff", "nn", "landscape", "examples", "docs", "benchmarks", "tests")
TEXT = {".py", ".md", ".toml", ".yml", ".txt", ".html", ".cfg"}
OUTSIDE = ("shared" + "/", "seeds" + "/")  # spelled so that this file does not match itself


def project_files() -> list[Path]:
    files = [ROOT / "README.md", ROOT / "pyproject.toml", ROOT / "mkdocs.yml"]
    for folder in SCANNED:
        files += [p for p in (ROOT / folder).rglob("*") if p.suffix in TEXT and "__pycache__" not in p.parts]
    return [p for p in files if p.is_file()]


def test_no_file_cites_a_path_outside_the_project():
    offenders = [
        f"{p.relative_to(ROOT)}:{n}"
        for p in project_files()
        for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
        if any(word in line for word in OUTSIDE)
    ]
    assert len(project_files()) > 50 and offenders == []


def test_references_list_the_lecture_notes_the_code_cites():
    references = (ROOT / "docs" / "references.md").read_text(encoding="utf-8")
    for author in ("Scaman", "Malgouyres", "Chitour", "Rumelhart", "Li, H.", "Garipov"):
        assert author in references


def test_examples_write_under_their_out_folder():
    """Every example that writes files takes --out with a relative default (a folder under the
    current directory), never a path into the repository."""
    for example in sorted((ROOT / "examples").glob("*.py")):
        source = example.read_text(encoding="utf-8")
        if not any(call in source for call in ("write_text", "savefig", ".save(", "draw_steps", "out=")):
            continue
        defaults = [
            node.keywords
            for node in ast.walk(ast.parse(source))
            if isinstance(node, ast.Call) and node.args and getattr(node.args[0], "value", None) == "--out"
        ]
        assert defaults, f"{example.name} writes files but has no --out"
        default = next(k.value.value for k in defaults[0] if k.arg == "default")
        assert not Path(default).is_absolute() and ".." not in default, example.name
        assert "__file__" not in source, f"{example.name} locates its output from its own path"
