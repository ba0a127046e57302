"""Each service image installs its own packages' pyproject dependencies and nothing else
(infrastructure/docker), so every third-party module a package imports must be declared, directly, in that
package's pyproject; and nothing is declared that the package does not import."""

import ast
import re
import sys
import tomllib
from functools import cache
from importlib.metadata import distributions
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
# Package folder -> the source folders it ships.
SHIPPED = {"contracts": ("aiops_contracts", "migrations"), "api": ("aiops_api",), "worker": ("aiops_worker",)}
FIRST_PARTY = {f"aiops_{name}": f"aiops-{name}" for name in SHIPPED}
# Declared although no module imports them: libraries load them by name.
LOADED_BY_NAME = {"api": {"python-multipart"},  # FastAPI parses the login form (OAuth2PasswordRequestForm) with it
                  "worker": {"ansible-core"}}  # ansible-runner runs its ansible-playbook command


def imported_modules(folder: Path) -> set[str]:
    """Dotted names of everything imported in the folder (`from a import b` gives `a.b`, which may be a
    function of module `a`: `distributions_of` falls back to the longest prefix that is a module)."""
    found: set[str] = set()
    for path in folder.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


@cache
def module_owners() -> dict[str, set[str]]:
    """Module name -> the installed distributions whose files define it (namespace packages included)."""
    owners: dict[str, set[str]] = {}
    for dist in distributions():
        name = canonicalize_name(dist.metadata["Name"])
        for file in dist.files or ():
            if file.suffix not in {".py", ".so", ".pyd"} or ".." in file.parts:
                continue
            parts = [*file.parts[:-1], file.name.split(".")[0]]
            if parts[-1] == "__init__":
                parts.pop()
            if parts:
                owners.setdefault(".".join(parts), set()).add(name)
    return owners


def distributions_of(module: str) -> tuple[set[str], str]:
    """The distribution(s) providing `module`, and the module they define (its longest prefix that is one);
    no distribution for the standard library."""
    top = module.split(".")[0]
    if top in sys.stdlib_module_names:
        return set(), top
    if top in FIRST_PARTY:
        return {FIRST_PARTY[top]}, top
    parts = module.split(".")
    for end in range(len(parts), 0, -1):
        prefix = ".".join(parts[:end])
        if found := module_owners().get(prefix):
            return found, prefix
    raise AssertionError(f"{module} is imported but no installed distribution provides it")


def declared(package: str) -> set[str]:
    project = tomllib.loads((ROOT / "services" / package / "pyproject.toml").read_text())["project"]
    return {canonicalize_name(Requirement(spec).name) for spec in project["dependencies"]}


def required(package: str) -> dict[frozenset[str], set[str]]:
    """Distributions (any one of them will do) -> the modules of theirs that `package` imports."""
    needs: dict[frozenset[str], set[str]] = {}
    for folder in SHIPPED[package]:
        for name in imported_modules(ROOT / "services" / package / folder):
            owners, module = distributions_of(name)
            if owners := frozenset(owners - {f"aiops-{package}"}):
                needs.setdefault(owners, set()).add(module)
    return needs


@pytest.mark.parametrize("package", SHIPPED)
def test_every_third_party_import_is_declared_in_the_package_pyproject(package: str) -> None:
    have = declared(package)
    missing = {" or ".join(sorted(owners)): sorted(modules)
               for owners, modules in required(package).items() if not owners & have}
    assert missing == {}, f"declare in services/{package}/pyproject.toml: {missing}"


@pytest.mark.parametrize("package", SHIPPED)
def test_nothing_is_declared_that_the_package_does_not_import(package: str) -> None:
    used = set().union(*required(package))
    unused = declared(package) - used - LOADED_BY_NAME.get(package, set())
    assert unused == set(), f"services/{package}/pyproject.toml declares what nothing imports: {unused}"


@pytest.mark.parametrize("service", ["api", "worker"])
def test_a_service_image_installs_its_own_packages_and_their_dependencies_only(service: str) -> None:
    dockerfile = (ROOT / "infrastructure" / "docker" / f"{service}.Dockerfile").read_text()
    assert "requirements.txt" not in dockerfile
    installs = [command.rstrip(" \\") for command in re.findall(r"pip install (.*)", dockerfile)]  # a line may go on
    assert f"-c constraints.txt -e services/contracts -e services/{service}" in installs
