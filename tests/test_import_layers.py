"""dastat's imports point down: no module imports a package of a layer above it, or another package of its own layer.

Read from the source with ``ast`` (nothing is imported), counting imports inside functions too, and
``dastat.<package>`` attribute use after a plain ``import dastat`` (the root package loads its
subpackages lazily on attribute access).
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "dastat"

# Layer of each top-level module or package of dastat (CLI -> study -> runs/bench -> probe/train/plot ->
# augment/models/data/store/stats -> base). A module may import its own package and lower layers only.
# "<root>" is dastat/__init__.py: the version and the lazy subpackage access.
BASE = 0
LAYERS: dict[str, int] = {
    **dict.fromkeys(("<root>", "errors", "checks", "rng", "device", "distributed", "registry", "jsonable",
                     "yamlfile", "constants"), BASE),
    **dict.fromkeys(("augment", "models", "data", "store", "stats"), 1),
    **dict.fromkeys(("probe", "train", "plot"), 2),
    **dict.fromkeys(("runs", "bench"), 3),  # the jobs layer and the benchmarks
    "study": 4,
    "cli": 5,
    "__main__": 6,
}


def _module_name(path: Path, root: Path = PACKAGE) -> str:
    parts = path.relative_to(root.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _top(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "<root>"


def imported_packages(path: Path, root: Path = PACKAGE) -> set[str]:
    """The top-level dastat packages (or ``<root>``) that the module at ``path`` (inside ``root``) imports."""

    def is_part(name: str) -> bool:
        return (root / name).is_dir() or (root / f"{name}.py").exists()

    module = _module_name(path, root)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    plain_root = False
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == "dastat" and alias.asname is None:
                    plain_root = True
                names.add(alias.name)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            if source == "dastat":  # from dastat import augment, __version__
                names.update(f"dastat.{a.name}" if is_part(a.name) else "dastat" for a in node.names)
            else:
                names.add(source)
    if plain_root:
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "dastat"
                    and is_part(node.attr)):
                names.add(f"dastat.{node.attr}")
    return {_top(n) for n in names if n == "dastat" or n.startswith("dastat.")} - {_top(module)}


def _violations() -> dict[tuple[str, str], str]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        module = _module_name(path)
        layer = LAYERS[_top(module)]
        for target in imported_packages(path):
            # Packages of one layer stay independent of each other; the base modules may use one another.
            if LAYERS[target] > layer or (LAYERS[target] == layer and layer > BASE):
                found[(module, target)] = f"{module} (layer {layer}) imports dastat.{target} (layer {LAYERS[target]})"
    return found


def test_every_package_has_a_layer():
    tops = {_top(_module_name(p)) for p in PACKAGE.rglob("*.py")}
    assert tops <= set(LAYERS), f"give these a layer in LAYERS: {sorted(tops - set(LAYERS))}"


def test_imports_point_down():
    found = _violations()
    assert not found, "imports of a package in the same layer or above (move the code instead):\n" + "\n".join(
        sorted(found.values()))


def test_probe_and_train_never_import_the_store():
    # They compute and return; the runs layer and the CLI record (docs/runs.md, "Recording").
    found = sorted(_module_name(path) for part in ("probe", "train") for path in (PACKAGE / part).rglob("*.py")
                   if "store" in imported_packages(path))
    assert not found, f"these modules import dastat.store: {found}"


def test_imports_inside_functions_and_lazy_attributes_count(tmp_path):
    root = tmp_path / "dastat"
    for part in ("models", "probe", "study"):
        (root / part).mkdir(parents=True)
    source = root / "models" / "example.py"
    source.write_text("from . import zoo\nfrom ..errors import DastatError\n\n"
                      "def f():\n    from dastat.probe import measure\n    import dastat\n    return dastat.study\n",
                      encoding="utf-8")
    (root / "errors.py").write_text("", encoding="utf-8")
    assert imported_packages(source, root) == {"<root>", "errors", "probe", "study"}
