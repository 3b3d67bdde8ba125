"""The `fathom/*` requests' params, typed and checked in one place.

Each request's params are structured into an attrs class by a strict converter:
a string where a number belongs is an error, not a number. Any failure becomes
one `InvalidParams` naming the fields at fault, which the server answers -32602.
"""
from __future__ import annotations

import attrs
import cattrs
import cattrs.gen
import cattrs.v

MAX_LIMIT = 200


class InvalidParams(ValueError):
    pass


def _limit(_instance, attribute, value: int) -> None:
    if not 1 <= value <= MAX_LIMIT:
        raise ValueError(f"'{attribute.name}' must be an integer from 1 to {MAX_LIMIT}")


def _not_blank(_instance, attribute, value: str) -> None:
    if not value.strip():
        raise ValueError(f"'{attribute.name}' must be a non-empty string")


@attrs.frozen
class SearchParams:
    query: str = attrs.field(validator=_not_blank)
    limit: int = attrs.field(default=20, validator=_limit)
    workspace: str | None = None  # a folder URI; the first folder when absent
    paths: list[str] | None = None  # globs the results' paths must match
    # `includeTests` on the wire: absent ranks test code below the project's own
    # (unless the query asks for tests), false leaves it out, true ranks it as any code.
    include_tests: bool | None = None
    language: list[str] | None = None  # grammar names: python, typescript, go…
    kind: list[str] | None = None  # function, method, class…
    exclude: list[str] | None = None  # globs the results' paths must not match


@attrs.frozen
class TextDocument:
    uri: str


@attrs.frozen
class Position:
    line: int
    character: int = 0


@attrs.frozen
class SimilarParams:
    """`{textDocument, position}`: like the definition there; `{text}`: like a snippet."""

    text_document: TextDocument | None = None
    position: Position | None = None
    text: str | None = None
    limit: int = attrs.field(default=20, validator=_limit)
    workspace: str | None = None  # for `text`: a folder URI; the first folder when absent

    def __attrs_post_init__(self):
        if self.text is not None and not self.text.strip():
            raise ValueError("'text' must be a non-empty string")
        if self.text is None and (self.text_document is None or self.position is None):
            raise ValueError("give 'textDocument' and 'position', or 'text'")
        if self.position is not None and self.position.line < 0:
            raise ValueError("'position.line' must be 0 or more")


@attrs.frozen
class ReindexParams:
    workspace: str | None = None
    full: bool = False  # read and chunk every file again, whatever its stat says


def _exactly(kind: type, name: str):
    def structure(value, _type):
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise TypeError(f"must be {name}")
        return value
    return structure


_converter = cattrs.Converter(forbid_extra_keys=False)
_converter.register_structure_hook(str, _exactly(str, "a string"))
_converter.register_structure_hook(int, _exactly(int, "an integer"))
_converter.register_structure_hook(bool, _exactly(bool, "a boolean"))


def _strings(value, _type) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(x, str) for x in value):
        raise TypeError("must be a list of strings")
    return value


_converter.register_structure_hook_func(lambda t: t == list[str], _strings)
_converter.register_structure_hook(SearchParams, cattrs.gen.make_dict_structure_fn(
    SearchParams, _converter, include_tests=cattrs.gen.override(rename="includeTests")))
_converter.register_structure_hook(SimilarParams, cattrs.gen.make_dict_structure_fn(
    SimilarParams, _converter, text_document=cattrs.gen.override(rename="textDocument")))


def parse(params, cls: type):
    """Params as they arrive (a namedtuple from pygls, a dict, or anything) -> `cls`."""
    raw = _plain(params) if params is not None else {}
    if not isinstance(raw, dict):
        raise InvalidParams("params must be an object")
    try:
        return _converter.structure(raw, cls)
    except cattrs.ClassValidationError as error:
        raise InvalidParams("; ".join(cattrs.transform_error(error, format_exception=_describe)[:3])) from None
    except (TypeError, ValueError) as error:
        raise InvalidParams(str(error)) from None


def _describe(error: BaseException, type_) -> str:
    if isinstance(error, ValueError) and str(error).startswith("'"):
        return str(error)  # a validator's own words
    return cattrs.v.format_exception(error, type_)


def _plain(value):
    if hasattr(value, "_asdict"):
        return {k: _plain(v) for k, v in value._asdict().items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value
