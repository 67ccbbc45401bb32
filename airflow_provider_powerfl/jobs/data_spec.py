"""One input table of a task spec: where it is, its format and which columns mean what."""

from __future__ import annotations

import math
import re
from typing import Annotated, Any, Literal, get_args

from pydantic import AfterValidator, BeforeValidator, Field, PlainSerializer, StrictBool, StrictInt, StrictStr, model_validator

from airflow_provider_powerfl.validation import Contract, Text, field_error, parse

Format = Literal["csv", "libsvm", "parquet", "orc", "hive"]  # hive: a metastore table, uri hive://<db>.<table>
FORMATS = get_args(Format)
# Tokens read as a missing value in text inputs unless the spec lists its own.
DEFAULT_MISSING_VALUES = ("", "NA", "NaN", "nan", "null", "NULL", "None")

_TEXT_ONLY = ("delimiter", "header", "columns")
_LIBSVM_ONLY = ("index_base", "num_features")
_TABULAR_ONLY = ("id_column", "features", "exclude", "delimiter", "header", "columns")
_COLUMNAR = _LIBSVM_ONLY + _TEXT_ONLY
UNUSED_WITH = {"csv": _LIBSVM_ONLY, "parquet": _COLUMNAR, "orc": _COLUMNAR, "hive": _COLUMNAR, "libsvm": _TABULAR_ONLY}
HIVE_URI = re.compile(r"^hive://[A-Za-z_][A-Za-z0-9_]*\.[A-Za-z_][A-Za-z0-9_]*$")


class MissingPolicy(Contract):
    """What to do with a missing feature value: ``error``, ``drop`` the row, or ``fill:<value>`` (as a file writes it)."""

    action: Literal["error", "drop", "fill"] = "error"
    fill_value: float | None = None

    @classmethod
    def parse(cls, text: Any) -> MissingPolicy:
        """The policy a spec file writes as ``error``, ``drop`` or ``fill:<number>``; ValueError otherwise."""
        if isinstance(text, MissingPolicy):
            return text
        if text in ("error", "drop"):
            return cls(action=text)
        if not isinstance(text, str) or not text.startswith("fill:"):
            raise ValueError(f"expected error|drop|fill:<number>, got {text!r}")
        try:
            value = float(text[5:])
        except ValueError:
            raise ValueError(f"fill value is not a number in {text!r}") from None
        if not math.isfinite(value):
            raise ValueError(f"fill value must be finite, got {text!r}")
        return cls(action="fill", fill_value=value)

    def __str__(self) -> str:
        return f"fill:{self.fill_value!r}" if self.action == "fill" else self.action


def _unique(names: tuple[str, ...]) -> tuple[str, ...]:
    for i, name in enumerate(names):
        if name in names[:i]:
            raise field_error((i,), f"duplicate {name!r}", name)
    return names


Names = Annotated[tuple[Text, ...], AfterValidator(_unique)]  # column names, each once
Missing = Annotated[MissingPolicy, BeforeValidator(MissingPolicy.parse), PlainSerializer(str)]


class DataSpec(Contract):
    """One input table.

    ``label_column`` for libsvm only says whether each line carries a label after its id (any name will do;
    the column read is always ``label``). ``features``/``exclude`` pick feature columns of csv/parquet;
    neither means every column but id and label. ``index_base``/``num_features`` are for libsvm only; a key
    its format does not read is refused (``not used with format X``).
    """

    uri: Text
    format: Format
    id_column: Text = "id"
    label_column: Text | None = None
    features: Annotated[Names, Field(min_length=1)] | None = None
    exclude: Names = ()
    delimiter: Annotated[StrictStr, Field(min_length=1, max_length=1)] = ","  # may be whitespace ("\t")
    header: StrictBool = True
    columns: Names | None = None  # the names of a file without a header
    missing: Missing = MissingPolicy()
    missing_values: tuple[StrictStr, ...] = DEFAULT_MISSING_VALUES
    index_base: Annotated[StrictInt, Field(ge=0, le=1)] = 1
    num_features: Annotated[StrictInt, Field(ge=1)] | None = None

    @model_validator(mode="after")
    def _consistent(self) -> DataSpec:
        """Only the format's keys; features or exclude; columns only without a header; id, label and features apart."""
        for key in UNUSED_WITH[self.format]:
            if key in self.model_fields_set:
                raise field_error(key, f"not used with format {self.format}", getattr(self, key))
        if self.features is not None and self.exclude:
            raise field_error("exclude", "give features or exclude, not both", self.exclude)
        if (self.format == "hive") != self.uri.startswith("hive://") or (self.format == "hive" and not HIVE_URI.match(self.uri)):
            raise field_error("uri", "a hive:// uri is a table (hive://<db>.<table>) and needs format hive", self.uri)
        if self.columns is not None and self.header:
            raise field_error("columns", "only for files without a header (header: false)", self.columns)
        if self.format != "libsvm":
            self._check_roles()
        return self

    def _check_roles(self) -> None:
        """The id and label columns are neither each other nor features, and a header-less file names them."""
        if self.label_column == self.id_column:
            raise field_error("label_column", f"is the id column {self.id_column!r}", self.label_column)
        for key, names in (("features", self.features or ()), ("exclude", self.exclude)):
            for i, name in enumerate(names):
                if name in (self.id_column, self.label_column):
                    raise field_error((key, i), f"{name!r} is the id or label column", name)
        for name in (self.id_column, self.label_column, *(self.features or ())):
            if self.columns is not None and name is not None and name not in self.columns:
                raise field_error("columns", f"does not name column {name!r}", self.columns)

    @classmethod
    def from_dict(cls, data: Any, path: str = "input") -> DataSpec:
        return parse(cls, data, path)

    def to_dict(self) -> dict[str, Any]:
        """The keys its format reads, as a spec file writes them."""
        return self.model_dump(mode="json", exclude_none=True, exclude=set(UNUSED_WITH[self.format]))
