"""The worker's YAML configuration files (automations.yml, notifications.yml, the topology file): read with the
node tree kept, so that an error names the file's line."""

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError


def read_yaml(path: Path, error: type[ValueError]) -> tuple[Any, Any]:
    """The file's node tree (for line_of) and its data ({} when empty); `error` naming the file if it is not YAML."""
    text = path.read_text()
    try:
        return yaml.compose(text, Loader=yaml.SafeLoader), yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise error(f"{path}: {exc}") from exc


def invalid(path: Path | str, root: Any, exc: ValidationError) -> str:
    """`<file>:<line>: <field>: <why>` of the first validation error of the whole file's model."""
    error = exc.errors()[0]
    where = ".".join(str(p) for p in error["loc"]) or "file"
    return f"{path}:{line_of(root, tuple(error['loc']))}: {where}: {error['msg']}"


def line_of(node: Any, path: tuple) -> int:
    """1-based line of the deepest node along `path` that exists in the composed YAML."""
    for part in path:
        child = None
        if isinstance(node, yaml.MappingNode):
            child = next((v for k, v in node.value if k.value == part), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            child = node.value[part]
        if child is None:
            break
        node = child
    return node.start_mark.line + 1 if node is not None else 1
