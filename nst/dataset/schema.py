"""The config's JSON schema, and one-sentence errors from it that name the key.

There is one schema file, ``workflow/schemas/config.schema.yaml``: the workflow validates the
whole config with it, and the package ships it as ``nst/config.schema.yaml`` (a link in the
repository, a copy in a built package) so that ``nst fetch`` checks its section with the same
file, wherever nst is installed.
"""

from __future__ import annotations

import difflib
import functools
from importlib import resources

import jsonschema
import yaml

from nst.errors import SettingsError

SCHEMA_FILE = "config.schema.yaml"
TYPE_WORDS = {
    "boolean": "true or false",
    "integer": "a whole number",
    "number": "a number",
    "string": "a string",
    "object": "a mapping",
    "array": "a list",
    "null": "empty",
}
BOUND_WORDS = {
    "minimum": "at least",
    "exclusiveMinimum": "greater than",
    "maximum": "at most",
    "exclusiveMaximum": "less than",
}


@functools.cache
def load_schema() -> dict:
    text = resources.files("nst").joinpath(SCHEMA_FILE).read_text(encoding="utf-8")
    return yaml.safe_load(text)


def validate_section(values, section: str, key: str) -> None:
    """Check ``values``, the config's ``section`` as the user wrote it under ``key`` ("" for a
    file that holds only that section); raise :class:`SettingsError` for the first violation."""
    schema = load_schema()
    validator = jsonschema.Draft202012Validator(
        {**schema["properties"][section], "$defs": schema["$defs"]}
    )
    error = jsonschema.exceptions.best_match(validator.iter_errors(values))
    if error is not None:
        raise SettingsError(describe(error, key))


def key_path(prefix: str, parts) -> str:
    """``dataset.sources.content[2].url`` from a prefix and the parts of a path."""
    text = prefix
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text = f"{text}.{part}" if text else str(part)
    return text


def _value(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def describe(error: jsonschema.ValidationError, prefix: str) -> str:
    """One sentence for a schema violation: the key, the value and the fix."""
    where = key_path(prefix, error.absolute_path)
    value, kind, expected = error.instance, error.validator, error.validator_value
    if kind == "type":
        types = [expected] if isinstance(expected, str) else list(expected)
        wanted = " or ".join(TYPE_WORDS.get(t, t) for t in types)
        if isinstance(value, str) and not {"string", "null"} & set(types):
            return (
                f"{where} = {_value(value)} is a quoted string, but must be {wanted}; "
                "write it without quotes."
            )
        return f"{where} = {_value(value)} must be {wanted}; fix its type in the config."
    if kind == "additionalProperties":
        known = sorted(error.schema.get("properties", {}))
        name = sorted(set(value) - set(known))[0]
        close = difflib.get_close_matches(str(name), known, n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        return (
            f"unknown key {key_path(where, [name])}{hint}; "
            f"the keys {'of ' + where if where else 'here'} are {', '.join(known)}."
        )
    if kind == "required":
        missing = [name for name in expected if name not in value][0]
        return f"{where or 'the config'} has no {missing}; add it."
    if kind in BOUND_WORDS:
        return f"{where} = {_value(value)} must be {BOUND_WORDS[kind]} {expected}."
    if kind == "minLength":
        return f"{where} must not be empty; write a value or leave the key out."
    if kind in ("minItems", "minProperties"):
        return f"{where} must not be empty; add an entry."
    if kind == "enum":
        return f"{where} = {_value(value)} must be one of {', '.join(map(repr, expected))}."
    return f"{where or 'the config'} = {_value(value)} is not valid ({error.message})."
