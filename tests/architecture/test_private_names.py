"""No portal module uses another portal module's private names.

A leading underscore says a name (or a module) is its module's own business, free to change
without notice; a module that needs it elsewhere gets a public, documented name instead. Read
from the code with ``ast``, every import counted (function-level and ``TYPE_CHECKING`` ones
too): ``from portal.x import _y`` (relative imports as well), ``import portal.x._y``, and
``x._y`` where ``x`` names a portal module.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "portal"


def is_private(name: str) -> bool:
    """``_name`` is private; ``__name__`` (``__version__``, ``__all__``...) is not."""
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _in_portal(module: str) -> bool:
    return module == "portal" or module.startswith("portal.")


def _source(node: ast.ImportFrom, package: str) -> str:
    """The absolute name of the module a ``from ... import`` reads from."""
    if node.level == 0:
        return node.module or ""
    parts = package.split(".")
    base = parts[: len(parts) - node.level + 1]  # one dot is the package itself
    return ".".join([*base, node.module] if node.module else base)


def _dotted(node: ast.expr) -> str | None:
    """``a.b.c`` for a chain of names, None for anything else (a call, a subscript...)."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        owner = _dotted(node.value)
        return None if owner is None else f"{owner}.{node.attr}"
    return None


def private_uses(path: Path, root: Path = PACKAGE) -> list[str]:
    """Where the module at ``path`` takes a private name from another module of ``root``."""
    module = module_name(path, root)
    modules = {module_name(p, root) for p in root.rglob("*.py")}
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    tree = ast.parse(path.read_text(), str(path))
    aliases: dict[str, str] = {}  # a local name -> the portal module it is bound to
    found: list[str] = []

    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if not _in_portal(alias.name):
                    continue
                if any(is_private(part) for part in alias.name.split(".")):
                    found.append(f"{module}:{node.lineno} imports {alias.name}")
                if alias.asname:
                    aliases[alias.asname] = alias.name
                else:
                    aliases["portal"] = "portal"  # ``import portal.x.y`` binds ``portal``
        elif isinstance(node, ast.ImportFrom):
            source = _source(node, package)
            if not _in_portal(source) or source == module:
                continue
            if any(is_private(part) for part in source.split(".")):
                found.append(f"{module}:{node.lineno} imports from {source}")
            for alias in node.names:
                if is_private(alias.name):
                    found.append(f"{module}:{node.lineno} imports {alias.name} from {source}")
                if f"{source}.{alias.name}" in modules:
                    aliases[alias.asname or alias.name] = f"{source}.{alias.name}"

    for node in ast.walk(tree):
        if not (isinstance(node, ast.Attribute) and is_private(node.attr)):
            continue
        owner = _dotted(node.value)
        if owner is None:
            continue
        head, _, rest = owner.partition(".")
        if head not in aliases:
            continue
        target = f"{aliases[head]}.{rest}" if rest else aliases[head]
        if target in modules and target != module:
            found.append(f"{module}:{node.lineno} reads {target}.{node.attr}")
    return found


def test_no_module_uses_another_modules_private_names() -> None:
    found = [use for path in sorted(PACKAGE.rglob("*.py")) for use in private_uses(path)]
    assert found == [], "give these a public, documented name:\n" + "\n".join(found)


def test_the_checker_sees_each_way_of_reaching_in(tmp_path: Path) -> None:
    """The rule above must be able to fail, and must leave a module's own names alone."""
    root = tmp_path / "portal"
    (root / "crypto").mkdir(parents=True)
    (root / "__init__.py").write_text("__version__ = '1'\n")
    (root / "crypto" / "__init__.py").write_text("")
    (root / "crypto" / "keyring.py").write_text("_HEADER = 1\nHEADER = 2\n")
    (root / "crypto" / "_formats.py").write_text("")
    (root / "crypto" / "streaming.py").write_text(
        "from portal.crypto.keyring import HEADER, _HEADER\n"
        "from .keyring import _HEADER as header\n"
        "from portal.crypto import keyring\n"
        "import portal.crypto.keyring\n"
        "import portal.crypto.keyring as kr\n"
        "from portal.crypto import _formats\n"
        "from portal import __version__\n"
        "_OWN = 1\n"
        "def f():\n"
        "    return keyring._HEADER, portal.crypto.keyring._HEADER, kr._HEADER, _OWN, HEADER\n"
    )
    found = private_uses(root / "crypto" / "streaming.py", root)
    assert found == [
        "portal.crypto.streaming:1 imports _HEADER from portal.crypto.keyring",
        "portal.crypto.streaming:2 imports _HEADER from portal.crypto.keyring",
        "portal.crypto.streaming:6 imports _formats from portal.crypto",
        "portal.crypto.streaming:10 reads portal.crypto.keyring._HEADER",
        "portal.crypto.streaming:10 reads portal.crypto.keyring._HEADER",
        "portal.crypto.streaming:10 reads portal.crypto.keyring._HEADER",
    ]
