"""The base of every model of the job contract, and the one place a pydantic error becomes a ConfigError.

Every document a user or a peer writes (job conf, pipeline, task spec, step parameters) is a
:class:`Contract`: unknown keys are refused, so a typo never passes silently. Errors name the exact
path (``dag_run.conf.common-args.train.max_iters``) and, for an unknown key, the nearest known one.
"""

from __future__ import annotations

import difflib
import typing
from collections.abc import Iterable
from typing import Annotated, Any, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, StrictStr, ValidationError
from pydantic_core import InitErrorDetails, PydanticCustomError

from airflow_provider_powerfl.exceptions import ConfigError

ModelT = TypeVar("ModelT", bound=BaseModel)
_TYPE_TAGS = frozenset({"tagged-union", "union", "str", "int", "float", "bool", "none", "dict", "list", "tuple"})


class Contract(BaseModel):
    """A document of the job contract: unknown keys refused, values immutable once validated."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be empty")
    return value


Text = Annotated[StrictStr, AfterValidator(_not_blank)]  # a name, path or key: a string with something in it


def field_error(loc: str | tuple[str | int, ...], message: str, value: Any = None) -> ValidationError:
    """A rule across fields, raised in a model's validator, naming the field at fault (``loc``, relative to the model).

    pydantic puts the location of a ValidationError raised in a validator under the model's own, so the
    ConfigError names the exact path (``parties[1].role``) where a ValueError would name only the model.
    """
    error = PydanticCustomError("value_error", "{message}", {"message": message})
    where = loc if isinstance(loc, tuple) else (loc,)
    return ValidationError.from_exception_data("contract", [InitErrorDetails(type=error, loc=where, input=value)])


def path_of(where: str, loc: Iterable[Any]) -> str:
    """``where`` extended by a pydantic location: keys joined with dots, list positions in brackets."""
    out = where
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif isinstance(part, str) and (part.startswith("function-") or "[" in part or part in _TYPE_TAGS):
            continue  # a validator's or a union member's name (``literal['x']``, ``int``), not a key of the document
        else:
            out = f"{out}.{part}" if out else str(part)
    return out


def unknown_key(where: str, key: str, known: Iterable[str]) -> ConfigError:
    """The error for a key no model takes: names it and suggests the nearest known one."""
    known = sorted(set(known))
    close = difflib.get_close_matches(key, known, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else f" (known: {', '.join(known)})"
    return ConfigError(f"{path_of(where, [key])}: unknown key{hint}")


def parse(model: type[ModelT], data: Any, where: str, context: dict[str, Any] | None = None) -> ModelT:
    """Validate ``data`` as ``model`` once, where it enters; the ConfigError names the first bad path."""
    try:
        return model.model_validate(data, context=context)
    except ValidationError as exc:
        raise config_error(exc, where, model) from None


def config_error(exc: ValidationError, where: str, model: type[BaseModel] | None = None) -> ConfigError:
    """The first error of a ValidationError as a ConfigError naming its path; an unknown key (a typo) before the
    key it left missing."""
    errors = exc.errors(include_url=False)
    first = next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])
    loc = tuple(first["loc"])
    if first["type"] == "extra_forbidden" and loc:
        return unknown_key(path_of(where, loc[:-1]), str(loc[-1]), _fields_at(model, loc[:-1]))
    message = first["msg"].removeprefix("Value error, ")
    # a missing key's input is its parent, which may hold a password
    if first["type"] not in ("value_error", "assertion_error", "missing") and "input" in first:
        message += f", got {shown(first['input'])}"
    return ConfigError(f"{path_of(where, loc) or 'value'}: {message}")


def _fields_at(model: type[BaseModel] | None, loc: tuple[Any, ...]) -> list[str]:
    """The field names of the (sub)model at ``loc``, for the "did you mean" of an unknown key."""
    keyed = False  # the next part of loc is a key of a dict of models
    for part in loc:
        if model is None:
            return []
        if keyed:
            keyed = False
            continue
        if isinstance(part, int):  # a list position: the model is the item's
            continue
        field = next((f for name, f in model.model_fields.items() if str(part) in (name, f.alias)), None)
        model, keyed = _inner_model(field.annotation if field else None)
    return [] if model is None or keyed else [f.alias or name for name, f in model.model_fields.items()]


def _inner_model(annotation: Any) -> tuple[type[BaseModel] | None, bool]:
    """The model inside ``X``, ``X | None`` or ``dict[str, X]``, and whether it sits behind a dict key."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation, False
    args = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
    if typing.get_origin(annotation) is dict and len(args) == 2:
        return _inner_model(args[1])[0], True
    for arg in args:
        found = _inner_model(arg)
        if found[0] is not None:
            return found
    return None, False


def shown(value: Any) -> str:
    """repr, short: an int past Python's 4300-digit str limit would make repr raise inside the error itself."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 64:
        return f"<a {value.bit_length()}-bit integer>"
    text = repr(value)
    return text if len(text) <= 200 else text[:200] + "..."
