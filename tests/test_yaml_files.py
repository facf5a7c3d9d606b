"""The project's YAML files (configs, the config schema, profiles, environments) hold no key
twice: PyYAML keeps the last silently, so a doubled key hides one of its two values."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
FILES = sorted(
    p
    for pattern in ("config/*.yaml", "workflow/schemas/*.yaml", "profiles/**/*.yaml", "envs/*.yaml")
    for p in ROOT.glob(pattern)
)


class _StrictLoader(yaml.SafeLoader):
    def construct_mapping(self, node, deep=False):
        seen = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None,
                    None,
                    f"key {key!r} twice (lines {seen[key]} and {key_node.start_mark.line + 1})",
                    key_node.start_mark,
                )
            seen[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep=deep)


def test_the_project_has_yaml_files_to_check():
    names = {p.relative_to(ROOT).as_posix() for p in FILES}
    assert {"config/config.yaml", "workflow/schemas/config.schema.yaml"} <= names


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_no_key_twice(path):
    yaml.load(path.read_text(), Loader=_StrictLoader)


def test_the_check_finds_a_doubled_key():
    with pytest.raises(yaml.constructor.ConstructorError, match="'detail' twice"):
        yaml.load("a:\n  detail: 1\n  detail: 2\n", Loader=_StrictLoader)
