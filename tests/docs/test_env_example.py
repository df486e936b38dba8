"""The committed .env.example lists exactly what queue_max.config reads, with the real defaults."""

from __future__ import annotations

import dataclasses
import importlib.util
from pathlib import Path

from queue_max.config import ENV_VARS, Settings, load_settings

ROOT = Path(__file__).resolve().parents[2]
ENV_EXAMPLE = ROOT / ".env.example"


def _render() -> str:
    spec = importlib.util.spec_from_file_location("gen_env_example", ROOT / "scripts" / "gen_env_example.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    text: str = module.render()
    return text


def _assignments(text: str) -> list[tuple[str, str]]:
    pairs = []
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, value = line.partition("=")
            pairs.append((name.strip(), value.strip()))
    return pairs


def test_the_committed_env_example_is_what_the_generator_prints():
    # Given the generator's output from config.ENV_VARS
    expected = _render()
    # Then the committed file is byte for byte the same
    # (if this fails: python scripts/gen_env_example.py > .env.example)
    assert ENV_EXAMPLE.read_text(encoding="utf-8") == expected


def test_env_example_sets_every_variable_once_in_config_order():
    names = [name for name, _value in _assignments(ENV_EXAMPLE.read_text(encoding="utf-8"))]
    assert names == list(ENV_VARS)


def test_every_variable_is_explained_by_the_comment_above_it():
    lines = ENV_EXAMPLE.read_text(encoding="utf-8").splitlines()
    for name, (_field, _parse, _default, meaning) in ENV_VARS.items():
        index = next(i for i, line in enumerate(lines) if line.startswith(f"{name}="))
        assert lines[index - 1] == f"# {meaning}", name


def test_the_defaults_written_in_env_example_are_the_defaults_the_code_uses():
    # Given every variable set to the value .env.example shows
    environ = dict(_assignments(ENV_EXAMPLE.read_text(encoding="utf-8")))
    # When settings are loaded from them
    loaded = load_settings(environ)
    # Then they equal the settings of an empty environment (NUM_SHARDS only marks shards explicit)
    assert dataclasses.replace(loaded, shards_explicit=False) == Settings()
    assert load_settings({}) == Settings()
