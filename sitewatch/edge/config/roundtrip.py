"""Edit ``configs/cameras.yaml`` in place: the operator's comments, key order, quoting and layout
are kept (a ruamel.yaml round trip); only the values that change are written anew.

:func:`edit_text` loads the text, lets a function change the document (plain ``dict``/``list``
operations on ruamel's commented containers), and dumps it with the indentation it guessed
from the file. The helpers below change a value only where it differs from what is there, so
an unchanged zone or camera keeps its comments. New strings are quoted where PyYAML (which
reads the file back, :mod:`sitewatch.edge.config.load`) would take them for something else,
such as ``yes`` or ``1.0``. The caller validates the result; this module checks nothing.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Mapping, MutableMapping, MutableSequence
from typing import Any

import yaml
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.scalarstring import DoubleQuotedScalarString
from ruamel.yaml.util import load_yaml_guess_indent

__all__ = ["Document", "edit_text", "merge_into", "node", "set_items", "set_value"]

Document = MutableMapping[str, Any]


def edit_text(text: str, edit: Callable[[Document], None]) -> str:
    """``text`` with ``edit`` applied to its document, everything else as it was.

    Raises ``ValueError`` when the text is no YAML mapping (ruamel's own errors are
    ``ValueError`` subclasses too).
    """
    _, indent, seq_offset = load_yaml_guess_indent(_without_comment_lines(text))
    rt = YAML()  # round trip
    rt.preserve_quotes = True
    rt.width = 4096  # long lines stay as the operator wrote them
    offset = seq_offset or 0
    rt.indent(mapping=max(2, indent - offset), sequence=indent, offset=offset)
    doc = rt.load(text)
    if not isinstance(doc, CommentedMap):
        raise ValueError(f"expected a YAML mapping at the top of the file, got {type(doc)}")
    edit(doc)
    out = io.StringIO()
    rt.dump(doc, out)
    return out.getvalue()


def _without_comment_lines(text: str) -> str:
    """``text`` without its whole-line comments: ruamel's indent guess reads lines, and takes
    a comment that ends in ``:`` for a key (``# like this:`` above a list made it guess the
    list's indent wrong, and the dump was no YAML)."""
    return "".join(
        line for line in text.splitlines(keepends=True) if not line.lstrip().startswith("#")
    )


def node(value: Any) -> Any:
    """Plain ``value`` as ruamel containers: lists without mappings inside in flow style
    (``[[0.1, 0.2], [0.3, 0.4]]``), the rest in block style; strings quoted where PyYAML
    would misread them."""
    if isinstance(value, Mapping):
        return CommentedMap((k, node(v)) for k, v in value.items())
    if isinstance(value, list | tuple):
        seq = CommentedSeq(node(v) for v in value)
        if not _has_mapping(value):
            seq.fa.set_flow_style()
        return seq
    if isinstance(value, str) and _misread(value):
        return DoubleQuotedScalarString(value)
    return value


def _has_mapping(value: Any) -> bool:
    if isinstance(value, Mapping):
        return True
    return isinstance(value, list | tuple) and any(_has_mapping(v) for v in value)


def set_value(mapping: Document, key: str, value: Any) -> None:
    """``mapping[key] = value``, unless it already holds that value (its node then stays);
    ``None`` deletes the key. A list of as many items as the one there changes item by item
    (a moved corner rewrites that corner only, in the list's own style)."""
    if value is None:
        mapping.pop(key, None)
    elif key not in mapping:
        mapping[key] = node(value)
    else:
        _update(mapping, key, value)


def _update(container: Any, key: Any, value: Any) -> None:
    here = container[key]
    if _plain(here) == value:
        return
    if (
        isinstance(here, MutableSequence)
        and isinstance(value, list | tuple)
        and len(here) == len(value)
        and not _has_mapping(value)
    ):
        for i, item in enumerate(value):
            _update(here, i, item)
    else:
        container[key] = node(value)


def merge_into(mapping: Document, override: Mapping[str, Any]) -> None:
    """``override`` merged over ``mapping`` in place: mappings key by key, the rest replaced."""
    for key, value in override.items():
        here = mapping.get(key)
        if isinstance(value, Mapping) and isinstance(here, MutableMapping):
            merge_into(here, value)
        else:
            set_value(mapping, key, value)


def set_items(seq: MutableSequence[Any], items: list[dict[str, Any]], key: str = "id") -> None:
    """Make ``seq`` (mappings with ``key``) hold ``items``, in their order. An item whose
    ``key`` is there already updates that mapping in place (:func:`set_value` per key, keys
    it lacks deleted), so what does not change keeps its comments."""
    old = {m.get(key): m for m in seq if isinstance(m, MutableMapping)}
    new = []
    for item in items:
        there = old.get(item[key])
        if there is None:
            new.append(node(item))
            continue
        for k in [k for k in there if k not in item]:
            del there[k]
        for k, v in item.items():
            set_value(there, k, v)
        new.append(there)
    seq[:] = new


def _plain(value: Any) -> Any:
    """ruamel's containers and scalars as plain Python, for comparing."""
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _misread(text: str) -> bool:
    """Whether PyYAML reads ``text`` written plain as anything but that string."""
    try:
        return bool(yaml.safe_load(text) != text)
    except yaml.YAMLError:
        return True
