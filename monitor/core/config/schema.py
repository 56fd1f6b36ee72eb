"""The JSON Schema of `demon.yml`, for editors (yaml-language-server) and `demon schema`."""

from __future__ import annotations

from typing import Any

from monitor.core.config.models import Plugins, config_model

DRAFT = "https://json-schema.org/draft/2020-12/schema"
TITLE = "demon configuration (demon.yml, version 1)"


def config_json_schema(plugins: Plugins) -> dict[str, Any]:
    """Keys by alias (`schema`, `continue`), as written in the file; names of mappings are closed too."""
    schema = config_model(plugins).model_json_schema(by_alias=True, mode="validation")
    _close_named_mappings(schema)
    return {"$schema": DRAFT, **schema, "title": TITLE}


def _close_named_mappings(node: Any) -> None:
    """Pydantic lists allowed names as `patternProperties` only; other names must be rejected as well."""
    if isinstance(node, dict):
        if "patternProperties" in node:
            node.setdefault("additionalProperties", False)
        for value in node.values():
            _close_named_mappings(value)
    elif isinstance(node, list):
        for value in node:
            _close_named_mappings(value)
