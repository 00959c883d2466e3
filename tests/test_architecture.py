"""The architecture holds (README "Architecture"): import-linter checks the layers in
`make lint`; these tests check what it cannot see."""

import ast
from pathlib import Path

import pytest
from celery import current_app
from django.conf import settings

ROOT = Path(__file__).resolve().parent.parent
APPS = (
    "portal",
    "tables",
    "usecases",
    "notifications",
    "registry",
    "predictions",
    "reviews",
    "promotions",
    "monitoring",
    "collaboration",
    "portfolio",
    "demo",
)
DJANGO_PUBLIC = {"_meta", "_default_manager", "_base_manager"}  # underscored, yet public API


def modules():
    for app in APPS:
        for path in sorted((ROOT / app).rglob("*.py")):
            if "migrations" not in path.parts:
                yield app, path


def private_names_from_other_apps(app: str, tree: ast.AST) -> list[str]:
    """`from other_app.x import _name` and `other_module._name` where the module is another
    app's (imported as `from other_app import module` or `import other_app.module`)."""
    found, foreign_modules = [], set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            owner = node.module.split(".")[0]
            if owner in APPS and owner != app:
                for alias in node.names:
                    if alias.name.startswith("_"):
                        found.append(f"from {node.module} import {alias.name}")
                    foreign_modules.add(alias.asname or alias.name)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] in APPS and alias.name.split(".")[0] != app:
                    foreign_modules.add(alias.asname or alias.name.split(".")[0])
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and node.attr.startswith("_")
            and not node.attr.startswith("__")
            and node.attr not in DJANGO_PUBLIC
            and isinstance(node.value, ast.Name)
            and node.value.id in foreign_modules
        ):
            found.append(f"{node.value.id}.{node.attr}")
    return found


def test_no_module_uses_a_private_name_of_another_app():
    offences = {
        str(path.relative_to(ROOT)): names
        for app, path in modules()
        if (names := private_names_from_other_apps(app, ast.parse(path.read_text())))
    }
    assert offences == {}


def test_the_private_name_check_catches_both_spellings():
    tree = ast.parse("from tables.report import _Report\nfrom tables import io\nio._open(1)\n")
    assert private_names_from_other_apps("registry", tree) == [
        "from tables.report import _Report",
        "io._open",
    ]
    assert private_names_from_other_apps("tables", tree) == []


@pytest.mark.parametrize("app", APPS)
def test_no_module_of_an_app_is_over_the_size_budget(app):
    """STYLE.md: a module stays under about 600 lines, unless it is one cohesive algorithm
    (registry/metrics.py, mapped by its docstring)."""
    cohesive = {"registry/metrics.py"}
    too_long = {
        str(path.relative_to(ROOT)): length
        for owner, path in modules()
        if owner == app
        and str(path.relative_to(ROOT)) not in cohesive
        and (length := len(path.read_text().splitlines())) > 650
    }
    assert too_long == {}


def test_every_celery_task_has_a_queue_route():
    import portal.celery  # noqa: F401  (registers the apps' tasks)

    current_app.loader.import_default_modules()
    ours = sorted(name for name in current_app.tasks if not name.startswith("celery."))
    assert ours, "no task was registered"
    routes = settings.CELERY_TASK_ROUTES
    assert [name for name in ours if name not in routes] == []


def test_no_function_is_over_the_length_budget():
    """STYLE.md: a function over about 80 lines is split where a name explains a step."""
    too_long = {}
    for _, path in modules():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = node.end_lineno - node.lineno + 1
                if length > 90:
                    too_long[f"{path.relative_to(ROOT)}:{node.name}"] = length
    assert too_long == {}


def test_no_module_redefines_a_constant_of_portal_text():
    """One wording for shared messages: NUL_MESSAGE was copied into predictions once."""
    from portal import text

    constants = {name for name in text.__all__ if name.isupper()}
    copies = [
        f"{path.relative_to(ROOT)}:{target.id}"
        for _, path in modules()
        if path != ROOT / "portal" / "text.py"
        for node in ast.parse(path.read_text()).body
        if isinstance(node, ast.Assign)
        for target in node.targets
        if isinstance(target, ast.Name) and target.id in constants
    ]
    assert copies == []
