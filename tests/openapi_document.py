"""openapi.json as a yardstick: whether a request as it went over the wire,
or an answer, is what the document says (JSON Schema 2020-12, formats
checked). Used by the Schemathesis hooks and by
tests/openapi_from_answers.py.

Two extensions of the document say what OpenAPI cannot: an operation with
`x-parameter-names-any-case` matches its query parameters' names in any case
(eSMS), and one with `x-query-string-body` reads its body's fields from the
query string when the body is empty (ThaiBulkSMS)."""

import email.parser
import email.policy
import json
import pathlib
import urllib.parse

import jsonschema

PATH = pathlib.Path(__file__).resolve().parent.parent / "openapi.json"


class Document:
    def __init__(self, raw=None):
        self.raw = raw if raw is not None else json.loads(PATH.read_text())
        # One validator per schema of the document, by identity.
        self._validators = {}

    def operation(self, method, path):
        """The operation of `method` at `path`, the path matched as OpenAPI
        matches a templated one: a `{name}` segment is any one segment."""
        item = self.raw["paths"].get(path)
        if item is None:
            segments = path.split("/")
            for template, candidate in self.raw["paths"].items():
                parts = template.split("/")
                if len(parts) == len(segments) and all(
                        t == s or (t.startswith("{") and t.endswith("}") and s)
                        for t, s in zip(parts, segments)):
                    item = candidate
                    break
        return (item or {}).get(method.lower())

    def resolve(self, node):
        while isinstance(node, dict) and "$ref" in node and len(node) == 1:
            target = self.raw
            for part in node["$ref"].removeprefix("#/").split("/"):
                target = target[part]
            node = target
        return node

    def errors(self, schema, instance):
        """Every way `instance` breaks `schema`, as text; none when it fits."""
        validator = self._validators.get(id(schema), (None, None))[1]
        if validator is None:
            # The schema's references point into the document's components.
            rooted = dict(schema, components=self.raw["components"])
            validator = jsonschema.Draft202012Validator(
                rooted, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
            )
            # The schema is kept beside it, so that its id is not reused.
            self._validators[id(schema)] = (schema, validator)
        return [
            f"{'/'.join(map(str, e.absolute_path)) or '(whole)'}: {e.message}"
            for e in validator.iter_errors(instance)
        ]

    def request_errors(self, method, path, query, headers, body, succeeded=False):
        """How a request as sent breaks the document: `query` the raw query
        string, `headers` a dict (names in any case), `body` bytes. For a
        request that `succeeded`, a parameter the document marks
        `x-required-for-success` (eSMS's, which takes any request over HTTP
        and refuses in CodeResult) counts as required."""
        operation = self.operation(method, path)
        if operation is None:
            return [f"{method} {path}: no such operation"]
        headers = {k.lower(): v for k, v in headers.items()}
        parameters = [self.resolve(p) for p in operation.get("parameters", [])]
        any_case = operation.get("x-parameter-names-any-case", False)
        pairs = urllib.parse.parse_qsl(query or "", keep_blank_values=True)
        found = []
        for parameter in parameters:
            name = parameter["name"]
            if parameter["in"] == "query":
                values = [v for k, v in pairs if k == name or (any_case and k.lower() == name.lower())]
            elif parameter["in"] == "header":
                values = [headers[name.lower()]] if name.lower() in headers else []
            else:
                continue
            if len(values) > 1:
                found.append(f"{name}: given {len(values)} times")
                continue
            if not values:
                if parameter.get("required") or (succeeded and parameter.get("x-required-for-success")):
                    found.append(f"{name}: missing")
                continue
            found += [f"{name}: {e}" for e in self.errors(parameter["schema"], _typed(self.resolve(parameter["schema"]), values[0]))]
        request_body = operation.get("requestBody")
        if request_body is None:
            return found
        content_type = headers.get("content-type", "")
        media_type = content_type.split(";")[0].strip().lower() or "application/json"
        if not body and operation.get("x-query-string-body"):
            media_type, body = "application/x-www-form-urlencoded", (query or "").encode()
        content = request_body["content"].get(media_type)
        if content is None:
            return found + [f"body: media type {media_type!r} not documented"]
        schema = content["schema"]
        try:
            fields = _parse_body(media_type, content_type, body or b"")
        except ValueError as e:
            return found + [f"body: {e}"]
        if isinstance(fields, _Fields):
            properties = _property_names(self, schema)
            twice = sorted(n for n in fields.repeated if n in properties)
            found += [f"body {n}: given more than once" for n in twice]
            fields = fields.values
        return found + [f"body {e}" for e in self.errors(schema, fields)]


class _Fields:
    """Named text fields (a form, multipart parts); names given twice kept apart."""

    def __init__(self, pairs):
        self.values, self.repeated = {}, set()
        for name, value in pairs:
            if name in self.values:
                self.repeated.add(name)
            else:
                self.values[name] = value


def _parse_body(media_type, content_type, body):
    if media_type == "application/json":
        try:
            return json.loads(body)
        except (ValueError, UnicodeDecodeError) as e:
            raise ValueError(f"not JSON ({e})") from None
    if media_type == "application/x-www-form-urlencoded":
        try:
            text = body.decode()
        except UnicodeDecodeError:
            raise ValueError("not UTF-8") from None
        return _Fields(urllib.parse.parse_qsl(text, keep_blank_values=True, errors="strict"))
    if media_type == "multipart/form-data":
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body
        )
        if not message.is_multipart() or message.defects:
            raise ValueError("not multipart/form-data with a boundary")
        pairs = []
        for part in message.iter_parts():
            if "\\" in str(part.get("content-disposition", "")):
                raise ValueError("a part's name with a backslash, which parsers unescape apart")
            name = part.get_param("name", header="content-disposition")
            if name is None:
                raise ValueError("a part without a name")
            pairs.append((name, part.get_payload(decode=True).decode()))
        return _Fields(pairs)
    raise ValueError(f"no parser for {media_type}")


def _property_names(document, schema):
    """Every property a schema names, through references and `allOf`/`oneOf`."""
    schema = document.resolve(schema)
    names = set(schema.get("properties", {}))
    for key in ("allOf", "oneOf", "anyOf"):
        for sub in schema.get(key, []):
            names |= _property_names(document, sub)
    return names


def _typed(schema, text):
    """A query or header value as its schema's type reads it."""
    if schema.get("type") == "integer":
        try:
            return int(text)
        except ValueError:
            return text
    return text
