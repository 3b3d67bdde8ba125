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
