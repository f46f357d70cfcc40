"""A SCIM filter (RFC 7644 §3.4.2.2) as a Django query, through scim2-filter-parser, which
leaves out the comparisons on attributes it was not told about: here they are refused."""

from __future__ import annotations

from collections.abc import Mapping

from django.db.models import Q
from scim2_filter_parser.lexer import SCIMLexer
from scim2_filter_parser.parser import SCIMParser, SCIMParserError
from scim2_filter_parser.transpilers.django_q_object import Transpiler
from scim2_models import InvalidFilterException
from sly.lex import LexError

MAX_LENGTH = 2000


class _StrictTranspiler(Transpiler):
    def visit_AttrPath(self, node):
        field = super().visit_AttrPath(node)
        if field is None:
            named = node.attr_name + (f".{node.sub_attr.value}" if node.sub_attr else "")
            raise InvalidFilterException(
                detail=f"Filtering on {named!r} is not supported; filter on "
                f"{', '.join(self.names)}."
            )
        return field


def filter_query(text: str, fields: Mapping[tuple, str], names: list[str]) -> Q:
    """The query for `text` over `fields` ((attribute, sub-attribute, URI) in lower case to a
    field or annotation; `names` as a client writes them), or InvalidFilterException saying
    what is wrong with it."""
    if len(text) > MAX_LENGTH:
        raise InvalidFilterException(detail=f"A filter is at most {MAX_LENGTH} characters.")
    try:
        tree = SCIMParser().parse(SCIMLexer().tokenize(text))
    except (SCIMParserError, LexError) as error:
        raise InvalidFilterException(detail=f"The filter {text!r} is not valid: {error}") from None
    if tree is None:
        raise InvalidFilterException(detail=f"The filter {text!r} is not valid.")
    transpiler = _StrictTranspiler(fields)
    transpiler.names = names
    try:
        query = transpiler.transpile(tree)
    except ValueError as error:
        raise InvalidFilterException(detail=f"The filter {text!r} is not valid: {error}") from None
    if query is None:
        raise InvalidFilterException(detail=f"The filter {text!r} compares nothing.")
    return query
