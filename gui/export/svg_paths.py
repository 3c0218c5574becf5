"""SVG export through pyqtgraph on Qt 6.11: path closures pyqtgraph cannot read.

Qt 6.11's SVG generator ends closed sub-paths with a bare ``Z`` command, and pyqtgraph
0.14's SVG exporter, which re-reads every path as ``x,y`` pairs, fails on it ("not enough
values to unpack"). While ``pyqtgraph_svg_closures_fixed()`` is active, every path is
rewritten before pyqtgraph reads it: each ``Z``/``z`` becomes an explicit line back to the
start of its sub-path, which draws the same outline.
"""

from __future__ import annotations

import contextlib
import importlib
import re
from collections.abc import Iterator

_CLOSE = re.compile(r"[Zz]")


def explicit_closures(path_data: str) -> str:
    """Rewrite SVG path data written as space-separated ``Cx,y`` tokens so that every close
    command (``Z`` or ``z``, alone or glued to a token) becomes ``Lx,y`` back to the last
    ``M`` point; a close with no sub-path start before it is dropped."""
    tokens = path_data.split()
    result: list[str] = []
    start: str | None = None
    for token in tokens:
        closes = len(_CLOSE.findall(token))
        body = _CLOSE.sub("", token)
        if body:
            if body[0] in "Mm":
                start = body[1:]
            result.append(body)
        for _ in range(closes):
            if start is not None:
                result.append(f"L{start}")
    return " ".join(result)


def _fix_paths(node) -> None:
    for element in node.getElementsByTagName("path"):
        data = element.getAttribute("d")
        if _CLOSE.search(data):
            element.setAttribute("d", explicit_closures(data))


@contextlib.contextmanager
def pyqtgraph_svg_closures_fixed() -> Iterator[None]:
    """Within the block, pyqtgraph's SVG exporter reads paths with close commands."""
    module = importlib.import_module("pyqtgraph.exporters.SVGExporter")
    original = module.correctCoordinates

    def correct_coordinates(node, defs, item, options):
        _fix_paths(node)
        return original(node, defs, item, options)

    module.correctCoordinates = correct_coordinates
    try:
        yield
    finally:
        module.correctCoordinates = original
