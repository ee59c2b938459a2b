"""Every operation of the OpenAPI schema carries examples (a request example where it takes a body, one for each
response with a body), and every success example validates against the schema it illustrates."""

from __future__ import annotations

import copy
from typing import Any

import jsonschema
import pytest
from drf_spectacular.generators import SchemaGenerator

METHODS = {"get", "post", "put", "patch", "delete"}


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    return SchemaGenerator().get_schema(request=None, public=True)


def _operations(schema):
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            if method in METHODS:
                yield path, method, operation


def _json_schema(node: Any, components: dict[str, Any]) -> Any:
    """OpenAPI 3.0 → JSON Schema: references inlined, `nullable` spelled as a null alternative."""
    if isinstance(node, list):
        return [_json_schema(n, components) for n in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        return _json_schema(components[node["$ref"].rsplit("/", 1)[-1]], components)
    out = {k: _json_schema(v, components) for k, v in node.items() if k not in ("nullable", "readOnly", "writeOnly")}
    if node.get("nullable"):
        return {"anyOf": [out, {"type": "null"}]}
    return out


def _examples(content: dict[str, Any]):
    for media in content.values():
        if "example" in media:
            yield media["schema"], media["example"]
        for example in media.get("examples", {}).values():
            yield media["schema"], example["value"]


def test_every_operation_has_request_and_response_examples(schema):
    missing = []
    for path, method, operation in _operations(schema):
        body = operation.get("requestBody", {}).get("content")
        if body and not list(_examples(body)):
            missing.append(f"{method.upper()} {path} request")
        for status, response in operation["responses"].items():
            if response.get("content") and not list(_examples(response["content"])):
                missing.append(f"{method.upper()} {path} {status}")
    assert missing == []
    assert len(list(_operations(schema))) >= 20


def test_success_examples_match_their_schemas(schema):
    components = copy.deepcopy(schema["components"]["schemas"])
    checked = 0
    for path, method, operation in _operations(schema):
        for status, response in operation["responses"].items():
            if not status.startswith("2") or not response.get("content"):
                continue
            for media_schema, value in _examples(response["content"]):
                try:
                    jsonschema.validate(value, _json_schema(media_schema, components))
                except jsonschema.ValidationError as exc:
                    pytest.fail(f"{method.upper()} {path} {status}: {exc.message} at {list(exc.absolute_path)}")
                checked += 1
    assert checked >= 20
