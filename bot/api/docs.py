"""/api/docs: a reference page rendered on the server from the OpenAPI document.

No Swagger UI or ReDoc bundle and no CDN: Rapport must work offline, and a
plain page of routes, parameters and schemas (with the machine-readable
document linked for tools that want it) serves integrators well enough.
"""

from __future__ import annotations

from html import escape
from typing import Any

METHODS = ("get", "post", "put", "patch", "delete")

STYLE = """
body{font:15px/1.5 system-ui,sans-serif;max-width:60rem;margin:auto;padding:1rem;color:#222}
code,pre{font-family:ui-monospace,monospace;font-size:13px}
.op{border:1px solid #ddd;border-radius:6px;padding:.5rem 1rem;margin:1rem 0}
.m{display:inline-block;min-width:4rem;font-weight:bold;text-transform:uppercase}
.get{color:#1a6} .post{color:#26c} .delete{color:#c33}
table{border-collapse:collapse;width:100%} td,th{border-bottom:1px solid #eee;
padding:.2rem .4rem;text-align:left;vertical-align:top} .scope{color:#555}
"""


def _type(schema: dict[str, Any]) -> str:
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return f'<a href="#schema-{escape(name)}">{escape(name)}</a>'
    if "anyOf" in schema:
        return " | ".join(_type(s) for s in schema["anyOf"])
    kind = str(schema.get("type", "any"))
    if kind == "array":
        return f"array of {_type(schema.get('items', {}))}"
    if "enum" in schema:
        return " | ".join(escape(repr(v)) for v in schema["enum"])
    if "const" in schema:
        return escape(repr(schema["const"]))
    if "format" in schema:
        return f"{escape(kind)} ({escape(str(schema['format']))})"
    return escape(kind)


def _operation(path: str, method: str, op: dict[str, Any]) -> str:
    parts = [
        f'<div class="op" id="{escape(op.get("operationId", ""))}">',
        f'<p><span class="m {method}">{method}</span> <code>{escape(path)}</code> '
        f"— {escape(op.get('summary', ''))}</p>",
    ]
    for paragraph in str(op.get("description", "")).split("\n\n"):
        if paragraph.strip():
            parts.append(f"<p>{escape(paragraph.strip())}</p>")
    params = op.get("parameters", [])
    if params:
        parts.append("<table><tr><th>parameter</th><th>in</th><th>type</th><th></th></tr>")
        for p in params:
            parts.append(
                f"<tr><td><code>{escape(p['name'])}</code>{' *' if p.get('required') else ''}"
                f"</td><td>{escape(p['in'])}</td><td>{_type(p.get('schema', {}))}</td>"
                f"<td>{escape(p.get('description', ''))}</td></tr>"
            )
        parts.append("</table>")
    body = op.get("requestBody", {}).get("content", {}).get("application/json")
    if body:
        parts.append(f"<p>Body: {_type(body.get('schema', {}))}</p>")
    answers = []
    for status, response in sorted(op.get("responses", {}).items()):
        schema = response.get("content", {}).get("application/json", {}).get("schema")
        shown = f" {_type(schema)}" if schema else ""
        answers.append(
            f"<code>{escape(status)}</code>{shown} {escape(response.get('description', ''))}"
        )
    parts.append("<p>Responses: " + "; ".join(answers) + "</p></div>")
    return "".join(parts)


def _schema(name: str, schema: dict[str, Any]) -> str:
    required = set(schema.get("required", []))
    rows = "".join(
        f"<tr><td><code>{escape(prop)}</code>{' *' if prop in required else ''}</td>"
        f"<td>{_type(spec)}</td><td>{escape(str(spec.get('description', '')))}</td></tr>"
        for prop, spec in schema.get("properties", {}).items()
    )
    doc = escape(str(schema.get("description", "")))
    return (
        f'<h3 id="schema-{escape(name)}">{escape(name)}</h3><p>{doc}</p>'
        f"<table><tr><th>field</th><th>type</th><th></th></tr>{rows}</table>"
    )


def reference_page(document: dict[str, Any], document_url: str) -> str:
    info = document.get("info", {})
    operations = [
        _operation(path, method, item[method])
        for path, item in document.get("paths", {}).items()
        for method in METHODS
        if method in item
    ]
    schemas = [_schema(n, s) for n, s in document.get("components", {}).get("schemas", {}).items()]
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        '<meta name=viewport content="width=device-width,initial-scale=1">'
        f"<title>{escape(info.get('title', 'API'))}</title><style>{STYLE}</style></head><body>"
        f"<h1>{escape(info.get('title', 'API'))} v{escape(str(info.get('version', '')))}</h1>"
        f"<p>{escape(info.get('description', ''))}</p>"
        f'<p>Machine-readable: <a href="{escape(document_url)}">OpenAPI document</a>. '
        "* marks a required field.</p>"
        f"<h2>Routes</h2>{''.join(operations)}<h2>Schemas</h2>{''.join(schemas)}</body></html>"
    )
