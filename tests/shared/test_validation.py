"""The validation every service shares (shared/validation.py, shared/cursors.py): flat errors,
Vietnamese defaults, patterns matched whole, bounded typed cursors."""

from __future__ import annotations

import base64

import pytest
from flask import Flask
from marshmallow import Schema, fields, validate

from shared.cursors import decode_cursor, encode_cursor
from shared.problems import Problem
from shared.refusals import Invalid
from shared.validation import by_index, flat_errors, unstorable


class Inner(Schema):
    code = fields.String(validate=validate.Length(1, 64))


class Outer(Schema):
    author = fields.Nested(Inner)
    items = fields.List(fields.Nested(Inner))
    choices = fields.Dict(keys=fields.String(validate=validate.Length(1, 64)), values=fields.Integer())
    month = fields.String(validate=validate.Regexp(r"^\d{4}-\d{2}$"))


def test_nested_errors_become_one_flat_map_of_vietnamese_lists() -> None:
    errors = Outer().validate({"author": {"code": ""}, "items": [{}, {"code": 5}], "choices": {"": "x"},
                               "month": "2025-01\n", "extra": 1})
    flat = flat_errors(errors)
    assert set(flat) == {"author.code", "items[1].code", "choices.", "month", "extra"}
    assert all(isinstance(m, str) for ms in flat.values() for m in ms)
    assert flat["author.code"] == ["Độ dài phải từ 1 đến 64."]
    assert flat["extra"] == ["Trường không được phép."]
    assert flat["month"] == ["Không đúng dạng."]  # a trailing newline: the pattern matches whole
    assert flat_errors({"_schema": ["x"], "author": {"_schema": ["y"]}}) == {"_schema": ["x"], "author": ["y"]}
    assert by_index({3: {"title": ["a"], "author": {"_schema": ["b"]}}}) == {"3": ["title: a", "author: b"]}
    assert unstorable({"a": ["ok", "x\x00"], "\ud800": 1}) == {
        "a[1]": ["Chứa ký tự không lưu được (NUL hoặc surrogate đơn lẻ)."],
        "\ud800": ["Chứa ký tự không lưu được (NUL hoặc surrogate đơn lẻ)."]}


def test_a_problem_is_always_flat_and_a_503_says_when_to_retry() -> None:
    p = Problem(422, "x", errors={"deeds": {0: {"author": {"_schema": ["Cần đúng một."]}}}})
    assert p.errors == {"deeds[0].author": ["Cần đúng một."]}
    assert Problem(503, "x").headers["Retry-After"] and Problem(429, "x").headers["Retry-After"]
    with Flask(__name__).app_context():
        assert b"\\ud800" in Problem(422, "x", errors={"\ud800": ["y"]}).response().get_data()


def test_cursors_are_typed_and_bounded() -> None:
    with Flask(__name__).app_context():
        for value, kind in (("CAH-DM", str), (17, int), ("0190c-uuid", str), (["2024-05-01T00:00:00+07:00", "x"], None),
                            ("12", str)):
            assert decode_cursor(encode_cursor(value), kind) == value
        deep = "~" + base64.urlsafe_b64encode(b"[" * 1200).decode().rstrip("=")
        for token, kind in ((deep, None), ("CAH-DM", int), ("1" * 10, int), ("~" + "A" * 700, None), ("a b", str),
                            ("~" + base64.urlsafe_b64encode(b'"\\u0000"').decode(), str)):
            with pytest.raises(Invalid) as refused:
                decode_cursor(token, kind)
            assert Problem.of(refused.value).status == 422 and list(refused.value.errors) == ["cursor"]


def test_a_list_of_keys_is_a_cursor_of_its_own_form() -> None:
    with Flask(__name__).app_context():
        token = encode_cursor(["2024-Q2", "CAH-DM", "0190c0de-0000-7000-8000-000000000000"])
        assert token.count("!") == 2
        assert decode_cursor(token, (str, str, str)) == token.split("!")
        with pytest.raises(Invalid):
            decode_cursor("a!b", (str, str, str))
