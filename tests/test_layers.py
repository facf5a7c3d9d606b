"""The package's shape: imports run one way between the layers (import-linter's contract in
pyproject.toml, run by `make lint`), no module imports itself through others (a cycle), no private
name crosses a module border, and the workflow's DAG build imports neither TensorFlow nor OpenCV."""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "nst"
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def import_graph(root: Path) -> dict[str, set[str]]:
    """{module: nst modules it imports}, module-level and function-level imports alike."""
    files = {module_name(p, root): p for p in (root / "nst").rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in files.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        targets = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets |= {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    up = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*up, base] if base else up)
                for alias in node.names:
                    submodule = f"{base}.{alias.name}"
                    targets.add(submodule if submodule in files else base)
        graph[name] = {t for t in targets if t in files and t != name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_package_has_no_import_cycle():
    graph = import_graph(ROOT)
    assert len(graph) > 50 and graph["nst.engine.driver"] >= {"nst.loss.problem", "nst.runtime"}
    assert cycles(graph) == []


def test_the_cycle_finder_finds_a_cycle(tmp_path):
    pkg = tmp_path / "nst"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from nst.sub import b\n")
    (pkg / "sub" / "b.py").write_text("def f():\n    from nst import a\n")  # function-level
    (pkg / "c.py").write_text("from nst import a\n")
    assert cycles(import_graph(tmp_path)) == [["nst.a", "nst.sub.b"]]


def private_names_across_modules(root: Path) -> list[str]:
    found = []
    for path in sorted((root / "nst").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("nst"):
                found += [
                    f"{path.relative_to(root)}: {node.module}.{a.name}"
                    for a in node.names
                    if a.name.startswith("_") and not a.name.startswith("__")
                ]
    return found


def test_no_private_name_is_imported_from_another_module():
    assert private_names_across_modules(ROOT) == []


def lint_imports(root: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root)},
        capture_output=True,
        text=True,
        timeout=120,
    )


def renamed_copy(tmp_path: Path, name: str = "nstcopy") -> Path:
    """The package and its contract under another name (the installed ``nst`` would shadow a
    plain copy)."""
    shutil.copytree(PACKAGE, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
    for path in (tmp_path / name).rglob("*.py"):
        code = path.read_text()
        path.write_text(re.sub(r"^(\s*)(from|import) nst\b", rf"\1\2 {name}", code, flags=re.M))
    config = (ROOT / "pyproject.toml").read_text()
    config = config[config.index("[tool.importlinter]") :]
    config = config[: config.index("\n[tool.", 1)]
    (tmp_path / "pyproject.toml").write_text(re.sub(r"\bnst\b(?=[.\"])", name, config))
    return tmp_path / name


@pytest.mark.parametrize(
    "module, line, broken",
    [
        ("images/io.py", "from nst.engine import record", "nst.images is not allowed"),
        ("loss/terms.py", "    from nst.quality import KEYS", "nst.loss is not allowed"),
        ("feedforward/network.py", "from nst.video import flow", "nst.feedforward is not allowed"),
    ],
)
def test_the_layers_contract_fails_on_an_upward_import(tmp_path, module, line, broken):
    """`make lint` runs lint-imports; a copy of the package with one import that breaks the
    layers (module-level or inside a function) fails it, the unchanged copy passes."""
    copy = renamed_copy(tmp_path)
    assert lint_imports(tmp_path).returncode == 0
    line = line.replace("nst.", "nstcopy.")
    target = copy / module
    body = target.read_text()
    if line.startswith("    "):
        body += f"\n\ndef _upward():\n{line}\n"
    else:
        body = re.sub(
            r"^from __future__ import annotations\n",
            lambda m: m[0] + line + "\n",
            body,
            count=1,
            flags=re.M,
        )
    target.write_text(body)
    result = lint_imports(tmp_path)
    assert result.returncode != 0
    assert broken.replace("nst.", "nstcopy.") in result.stdout and "BROKEN" in result.stdout


def dag_imports() -> list[str]:
    """The `from nst... import ...` lines the Snakefile and its rules run to build the DAG."""
    sources = [ROOT / "Snakefile", *sorted((ROOT / "workflow" / "rules").glob("*.smk"))]
    pattern = re.compile(r"^from nst[\w.]* import .+$", re.M)
    return [line for path in sources for line in pattern.findall(path.read_text())]


def test_building_the_dag_imports_neither_tensorflow_nor_opencv():
    lines = dag_imports()
    assert any("nst.experiment" in line for line in lines)
    probe = "\n".join(
        [
            *lines,
            "import sys",
            "heavy = ('tensorflow', 'keras', 'cv2', 'av', 'scipy')",
            "print(' '.join(m for m in heavy if m in sys.modules))",
        ]
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == ""


def test_old_public_names_still_work_and_warn():
    code = "\n".join(
        [
            "import warnings",
            "warnings.simplefilter('always')",
            "with warnings.catch_warnings(record=True) as caught:",
            "    import nst.temporal, nst.flow, nst.objective",
            "    from nst.engine import configure_runtime",
            "import nst, nst.feedforward, nst.video",
            "assert callable(nst.transfer) and callable(nst.transfer_files)",
            "assert nst.temporal.video_transfer is nst.video.video_transfer",
            "assert callable(nst.feedforward.train_files) and callable(nst.feedforward.stylize)",
            "assert callable(nst.video.read_video) and nst.objective.Objective",
            "moved = [str(w.message) for w in caught if w.category is DeprecationWarning]",
            "print(len(moved)); print(moved[0])",
        ]
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr
    count, first = out.stdout.strip().splitlines()
    assert int(count) == 4 and "moved to nst.video.temporal" in first
