"""Reading a file a user or administrator wrote (task spec, pipeline, registry, policy): every way it can fail
is a ConfigError naming the file.

Why one place: PyYAML's scalar constructors raise ValueError or KeyError (``2001-02-30``, ``!!bool maybe``),
both parsers recurse once per nesting level, and a file may not be UTF-8; each reader that caught only
``yaml.YAMLError`` crashed on those (found by tests/adversarial/fuzz).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from airflow_provider_powerfl.exceptions import ConfigError


def load_config_file(path: Path, what: str) -> Any:
    """The document in ``path``: JSON when it ends in ``.json``, YAML otherwise; ConfigError names ``what`` and the file."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{what} {path}: cannot read ({exc.strerror or exc})") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{what} {path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    is_json = path.suffix == ".json"
    try:
        return json.loads(text) if is_json else yaml.safe_load(text)
    except (yaml.YAMLError, ValueError, KeyError, RecursionError) as exc:
        raise ConfigError(f"{what} {path}: not valid {'JSON' if is_json else 'YAML'}: {exc}") from exc
