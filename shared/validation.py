"""What every service's marshmallow schemas share (API.md, "Common"): messages in Vietnamese,
patterns matched whole, and errors as one flat map from a field path to its messages.

Importing this module sets marshmallow's default messages to Vietnamese for every field and
validator of the process (``shared.bodies`` imports it, so every app has them): a schema that
names no message of its own still answers in Vietnamese. ``validate.Regexp`` matches the whole
value (``fullmatch``): with ``re.match`` a pattern ending in ``$`` accepts a trailing newline,
which the OpenAPI document's patterns (ECMA-262) do not.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, validate

# -- Vietnamese defaults -------------------------------------------------------------------------
FIELD_MESSAGES: dict[type, dict[str, str]] = {
    fields.Field: {
        "required": "Trường này là bắt buộc.",
        "null": "Không được là null.",
        "validator_failed": "Giá trị không hợp lệ.",
    },
    fields.String: {"invalid": "Phải là chuỗi ký tự.", "invalid_utf8": "Phải là chuỗi UTF-8 hợp lệ."},
    fields.Number: {"invalid": "Phải là một số.", "too_large": "Số quá lớn."},
    fields.Integer: {"invalid": "Phải là số nguyên."},
    fields.Float: {"special": "Không nhận NaN hay vô cực."},
    fields.Decimal: {"special": "Không nhận NaN hay vô cực."},
    fields.Boolean: {"invalid": "Phải là true hoặc false."},
    fields.Date: {"invalid": "Ngày phải có dạng YYYY-MM-DD.", "format": "Không viết được thành ngày."},
    fields.DateTime: {
        "invalid": "Phải là thời điểm ISO 8601.",
        "invalid_awareness": "Phải là thời điểm ISO 8601 có múi giờ.",
        "format": "Không viết được thành thời điểm.",
    },
    fields.Time: {"invalid": "Phải là giờ ISO 8601.", "format": "Không viết được thành giờ."},
    fields.TimeDelta: {"invalid": "Phải là một khoảng thời gian.", "format": "Không viết được thành khoảng thời gian."},
    fields.List: {"invalid": "Phải là một danh sách."},
    fields.Tuple: {"invalid": "Phải là một danh sách."},
    fields.Mapping: {"invalid": "Phải là một đối tượng JSON."},
    fields.Nested: {"type": "Phải là một đối tượng JSON."},
    fields.UUID: {"invalid_uuid": "Phải là một UUID."},
    fields.Url: {"invalid": "Phải là một URL."},
    fields.Email: {"invalid": "Phải là một địa chỉ thư điện tử."},
    fields.Enum: {"unknown": "Phải là một trong: {choices}."},
}
SCHEMA_MESSAGES = {"type": "Phải là một đối tượng JSON.", "unknown": "Trường không được phép."}


def _vietnamese() -> None:
    for cls, messages in FIELD_MESSAGES.items():
        # marshmallow merges ``default_error_messages`` along the class's MRO when a field is
        # made: updating each class's own dict reaches every field made afterwards.
        own = cls.__dict__.get("default_error_messages")
        if own is None:
            cls.default_error_messages = dict(messages)
        else:
            own.update(messages)
    for cls in (fields.DateTime, fields.NaiveDateTime, fields.AwareDateTime, fields.Date, fields.Time):
        cls.default_error_messages.setdefault("invalid", FIELD_MESSAGES[fields.DateTime]["invalid"])
    Schema._default_error_messages.update(SCHEMA_MESSAGES)
    validate.Length.message_min = "Độ dài tối thiểu {min}."
    validate.Length.message_max = "Độ dài tối đa {max}."
    validate.Length.message_all = "Độ dài phải từ {min} đến {max}."
    validate.Length.message_equal = "Độ dài phải đúng {equal}."
    validate.Range.message_min = "Phải {min_op} {{min}}."
    validate.Range.message_max = "Phải {max_op} {{max}}."
    validate.Range.message_all = "Phải {min_op} {{min}} và {max_op} {{max}}."
    validate.Range.message_gte = "lớn hơn hoặc bằng"
    validate.Range.message_gt = "lớn hơn"
    validate.Range.message_lte = "nhỏ hơn hoặc bằng"
    validate.Range.message_lt = "nhỏ hơn"
    validate.OneOf.default_message = "Phải là một trong: {choices}."
    validate.NoneOf.default_message = "Giá trị không được phép."
    validate.ContainsOnly.default_message = "Có lựa chọn không thuộc: {choices}."
    validate.ContainsNoneOf.default_message = "Có lựa chọn thuộc: {values}."
    validate.Equal.default_message = "Phải bằng {other}."
    validate.Predicate.default_message = "Giá trị không hợp lệ."
    validate.Regexp.default_message = "Không đúng dạng."
    validate.Email.default_message = "Phải là một địa chỉ thư điện tử."
    validate.URL.default_message = "Phải là một URL."


def _whole_match(self: validate.Regexp, value: Any) -> Any:
    if not isinstance(value, str | bytes) or self.regex.fullmatch(value) is None:
        raise ValidationError(self._format_error(value))
    return value


_vietnamese()
validate.Regexp.__call__ = _whole_match  # type: ignore[method-assign]


class StrictSchema(Schema):
    """The base of every input schema: an unknown field is refused (a 422), said in Vietnamese."""

    class Meta:
        unknown = RAISE

    error_messages = SCHEMA_MESSAGES


# -- one flat map of errors ----------------------------------------------------------------------
SCHEMA_KEY = "_schema"


def flat_errors(messages: Any, prefix: str = "") -> dict[str, list[str]]:
    """marshmallow's nested errors as API.md promises them: ``{field path: [message, …]}``, the
    path written ``author``, ``ballots[3].choices``, ``choices.<candidate id>``; an error of a
    nested object as a whole goes under the object's own path, of the whole body under
    ``_schema``."""
    out: dict[str, list[str]] = {}
    _walk(messages, prefix, out)
    return out


def _walk(node: Any, path: str, out: dict[str, list[str]]) -> None:
    if isinstance(node, str):
        out.setdefault(path or SCHEMA_KEY, []).append(node)
    elif isinstance(node, Mapping):
        # A Dict field's entry: its key's and its value's messages both concern that entry (so
        # no schema of the services names a field ``key`` or ``value``).
        if node and set(node) <= {"key", "value"} and path:
            for part in node.values():
                _walk(part, path, out)
            return
        for key, value in node.items():
            if key == SCHEMA_KEY:
                _walk(value, path, out)
            elif isinstance(key, int):
                _walk(value, f"{path}[{key}]", out)
            else:
                _walk(value, f"{path}.{key}" if path else str(key), out)
    elif isinstance(node, list | tuple):
        for item in node:
            _walk(item, path, out)
    elif node is not None:
        out.setdefault(path or SCHEMA_KEY, []).append(str(node))


def by_index(messages: Mapping[Any, Any]) -> dict[str, list[str]]:
    """A batch's errors keyed by the index of the item they concern (API.md): each message
    names its field within the item (``"title: Độ dài phải từ 1 đến 200."``); an error of the
    batch as a whole keeps its own key."""
    out: dict[str, list[str]] = {}
    for key, value in messages.items():
        index = str(key)
        if not (isinstance(key, int) or index.isdigit()):
            out.setdefault(index, []).extend(m for ms in flat_errors(value).values() for m in ms)
            continue
        for path, texts in flat_errors(value).items():
            where = "" if path == SCHEMA_KEY else f"{path}: "
            out.setdefault(index, []).extend(f"{where}{text}" for text in texts)
    return out


# -- what no database stores -----------------------------------------------------------------------
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def unstorable(data: Any, path: str = "") -> dict[str, list[str]]:
    """Where a loaded value holds a NUL or a lone surrogate (which neither PostgreSQL nor SQLite
    stores), as errors by field path: refused as input, never a 500 further on."""
    out: dict[str, list[str]] = {}
    if isinstance(data, str):
        if _UNSTORABLE.search(data):
            out[path or SCHEMA_KEY] = ["Chứa ký tự không lưu được (NUL hoặc surrogate đơn lẻ)."]
    elif isinstance(data, Mapping):
        for key, value in data.items():
            where = f"{path}.{key}" if path else str(key)
            if isinstance(key, str) and _UNSTORABLE.search(key):
                out[where] = ["Chứa ký tự không lưu được (NUL hoặc surrogate đơn lẻ)."]
            else:
                out.update(unstorable(value, where))
    elif isinstance(data, list | tuple):
        for i, value in enumerate(data):
            out.update(unstorable(value, f"{path}[{i}]"))
    return out
