"""The stack that docs/architecture.md draws, checked: every import inside vidclass (at module
top or inside a function) goes down the stack, and nobody but the entry points imports the CLI."""

from __future__ import annotations

import ast
from pathlib import Path

import vidclass

PACKAGE = Path(vidclass.__file__).parent

# Bottom to top; a folder or module may import only what lies in a lower layer (and itself).
LAYERS = [
    {"errors", "serialize"},
    {"defaults", "protocol"},
    {"devices", "precision"},
    {"distributed", "video", "models", "synth"},
    {"data", "checkpoints", "scores"},
    {"export"},
    {"inference"},
    {"evaluation", "training", "explanation", "timelines"},
    {"cli"},
    {"__init__", "__main__"},
]
LAYER = {unit: level for level, units in enumerate(LAYERS) for unit in units}


def _unit(module: str) -> str:
    """The top-level folder or module of ``vidclass.x.y`` (``__init__`` for ``vidclass`` itself)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _imports(path: Path, package_dir: Path = PACKAGE) -> list[tuple[str, int]]:
    """Every vidclass module that ``path`` imports, with the line, relative imports resolved."""
    rel = path.relative_to(package_dir.parent).with_suffix("")
    package = list(rel.parts if path.name == "__init__.py" else rel.parts[:-1])
    if path.name == "__init__.py":
        package = package[:-1] if package[-1] == "__init__" else package
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
                targets = [module] if node.module else [f"{module}.{alias.name}" for alias in node.names]
            else:
                targets = [node.module or ""]
        elif isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        else:
            continue
        found += [(t, node.lineno) for t in targets if t.startswith("vidclass.")]
    return found


def test_every_unit_has_a_layer():
    units = {p.stem if p.is_file() else p.name for p in PACKAGE.iterdir() if p.suffix == ".py" or p.is_dir()}
    units -= {"__pycache__", "weights"}
    assert units <= set(LAYER), f"give these a layer: {sorted(units - set(LAYER))}"


def test_imports_go_down_the_stack():
    wrong = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE)
        source = _unit("vidclass." + ".".join(rel.with_suffix("").parts))
        for target, line in _imports(path):
            unit = _unit(target)
            if unit != source and LAYER.get(unit, 99) >= LAYER[source]:
                wrong.append(f"vidclass/{rel}:{line} ({source}) imports {target} ({unit})")
    assert not wrong, "imports that go up or sideways:\n" + "\n".join(wrong)


def test_the_check_sees_an_upward_import(tmp_path):
    """The checker itself: a module that imports the CLI from below is caught."""
    bad = tmp_path / "vidclass" / "video" / "bad.py"
    bad.parent.mkdir(parents=True)
    bad.write_text("def f():\n    from ..cli import output\n    import vidclass.inference.api\n")
    assert _imports(bad, tmp_path / "vidclass") == [("vidclass.cli", 2), ("vidclass.inference.api", 3)]
    assert LAYER["cli"] >= LAYER["video"]  # so test_imports_go_down_the_stack would report it


MAX_LINES = 400  # docs/architecture.md: no module over about 400 lines


def test_no_module_is_over_the_size_rule():
    sizes = {
        str(p.relative_to(PACKAGE)): len(p.read_text(encoding="utf-8").splitlines()) for p in PACKAGE.rglob("*.py")
    }
    over = {name: n for name, n in sizes.items() if n > MAX_LINES}
    assert not over, f"split these along a real seam: {over}"
