"""What the product imports, its install brings: every third-party module that the product's
packages (core, gateway, simulators) import is a dependency in pyproject.toml's [project], not
only an extra. (The order port once imported picows, which only the bench extra installed: the
project's own `make` always took the extra, and a plain install failed at start.)"""

import ast
import importlib.metadata
import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).parents[1]
PRODUCT = ("core", "gateway", "simulators")


def _imported_top_levels() -> dict[str, str]:
    """Top-level module -> one file of the product that imports it (tests and examples aside)."""
    found: dict[str, str] = {}
    for package in PRODUCT:
        for path in (ROOT / package).rglob("*.py"):
            tree = ast.parse(path.read_text(), str(path))
            for node in ast.walk(tree):
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                else:
                    continue
                for name in names:
                    found.setdefault(name.split(".")[0], str(path.relative_to(ROOT)))
    return found


def _distribution_name(requirement: str) -> str:
    return re.split(r"[<>=!~\[; ]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def test_every_third_party_import_of_the_product_is_a_core_dependency():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    core = {_distribution_name(r) for r in project["dependencies"]}
    ours = set(PRODUCT) | {"bench", "tests"}
    distributions = importlib.metadata.packages_distributions()
    missing = {}
    for module, where in _imported_top_levels().items():
        if module in ours or module in sys.stdlib_module_names:
            continue
        names = {d.lower().replace("_", "-") for d in distributions.get(module, [module])}
        if not names & core:
            missing[module] = where
    assert not missing, f"imported by the product but not in [project] dependencies: {missing}"


def test_it_would_have_seen_the_order_ports_picows():
    assert _imported_top_levels().get("picows") == "gateway/orderport.py"
