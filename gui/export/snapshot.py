"""Snapshots: a widget (the whole window or one panel) as PNG or SVG, and the state of a
run as ``.npz`` with a JSON side file.

- PNG: the widget rendered at ``scale`` times its size (high-DPI rendering, so text and
  curves stay sharp), written atomically.
- SVG: every plot inside the widget exported as vectors by pyqtgraph and placed where it
  sits in the widget, plus the text of its labels; ids are made unique per plot.
- PNG and SVG draw the time curves at their full width (the window draws them one pixel
  wide: gui.panels.line_widths) and put the window's widths back afterwards.
- State: weights (``Trainer.state_dict`` stored by the one state writer,
  ``backend.trainer_state``, under ``weights``: ``weights/theta``, …), the configuration
  and the current metrics (every array of the MetricSnapshot) in ``NAME.npz``, which
  ``backend.trainer_state.read_state_export`` reads back; the configuration, the scalars
  and a description of every array in ``NAME.json``. Both files appear together or not at
  all.
"""

from __future__ import annotations

import io
import json
import math
import re
import xml.etree.ElementTree as ET
from dataclasses import fields
from pathlib import Path
from typing import Any

import numpy as np
import pyqtgraph as pg
import pyqtgraph.exporters  # noqa: F401 - registers pg.exporters
from PyQt6.QtCore import QBuffer, QIODevice, QPoint, Qt
from PyQt6.QtGui import QImage, QPainter
from PyQt6.QtWidgets import QLabel, QWidget

from backend.trainer_state import STATE_EXPORT_FORMAT as STATE_FORMAT
from backend.trainer_state import STATE_EXPORT_VERSION as STATE_VERSION
from backend.trainer_state import WEIGHTS_PREFIX, state_members
from gui import theme
from gui.export.output_files import ExportError, atomic_output, atomic_outputs, check_output_path
from gui.export.svg_paths import pyqtgraph_svg_closures_fixed
from gui.panels.line_widths import full_widths

PNG_SUFFIXES = (".png",)
SVG_SUFFIXES = (".svg",)
STATE_SUFFIXES = (".npz",)
IMAGE_SUFFIXES = PNG_SUFFIXES + SVG_SUFFIXES
MIN_SCALE, MAX_SCALE = 0.25, 8.0
MAX_PIXELS = 16384 * 16384

SVG_NS = "http://www.w3.org/2000/svg"
XLINK_NS = "http://www.w3.org/1999/xlink"


# ============================================================================ PNG
def render_widget(widget: QWidget, scale: float = 1.0) -> QImage:
    """The widget painted into an image of ``scale`` times its size (in logical pixels)."""
    scale = check_scale(scale)
    width = max(1, round(widget.width() * scale))
    height = max(1, round(widget.height() * scale))
    if width * height > MAX_PIXELS:
        raise ExportError(
            f"a {width}×{height} picture is too large; choose a smaller scale than {scale:g}"
        )
    image = QImage(width, height, QImage.Format.Format_ARGB32_Premultiplied)
    image.setDevicePixelRatio(scale)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    try:
        with full_widths(widget):
            widget.render(painter)
    finally:
        painter.end()
    return image


def check_scale(scale: float) -> float:
    """Refuse a scale outside [0.25, 8] with a message."""
    scale = float(scale)
    if not (math.isfinite(scale) and MIN_SCALE <= scale <= MAX_SCALE):
        raise ExportError(f"scale {scale:g} is out of range; choose a scale between "
                          f"{MIN_SCALE:g} and {MAX_SCALE:g} (2 doubles the resolution)")
    return scale


def png_bytes(image: QImage) -> bytes:
    """The image encoded as PNG."""
    buffer = QBuffer()
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    if not image.save(buffer, "PNG"):
        raise ExportError("the picture could not be encoded as PNG; try a smaller scale")
    return bytes(buffer.data())


def save_png(widget: QWidget, path: str | Path, scale: float = 1.0) -> Path:
    """Write ``widget`` as a PNG picture at ``scale``; returns the path written."""
    path = check_output_path(path, PNG_SUFFIXES, "PNG picture")
    data = png_bytes(render_widget(widget, scale))
    with atomic_output(path) as temporary:
        temporary.write_bytes(data)
    return path


# ============================================================================ SVG
def svg_document(widget: QWidget) -> str:
    """An SVG document of every visible plot in ``widget`` at its place, with label text."""
    ET.register_namespace("", SVG_NS)
    ET.register_namespace("xlink", XLINK_NS)
    width, height = max(1, widget.width()), max(1, widget.height())
    root = ET.Element(f"{{{SVG_NS}}}svg", {
        "version": "1.1", "width": str(width), "height": str(height),
        "viewBox": f"0 0 {width} {height}",
    })
    ET.SubElement(root, f"{{{SVG_NS}}}title").text = widget.windowTitle() or "Irrep Studio"
    ET.SubElement(root, f"{{{SVG_NS}}}rect", {
        "width": str(width), "height": str(height), "fill": theme.BACKGROUND})
    views = _visible_children(widget, pg.GraphicsView)
    if not views:
        raise ExportError("this view holds no plot to write as SVG; export it as PNG instead")
    with pyqtgraph_svg_closures_fixed(), full_widths(widget):
        for number, view in enumerate(views):
            root.append(_plot_svg(view, widget, f"p{number}_"))
    for label in _visible_children(widget, QLabel):
        text = _plain_text(label)
        if text:
            root.append(_label_svg(label, widget, text))
    return ET.tostring(root, encoding="unicode", xml_declaration=True)


def save_svg(widget: QWidget, path: str | Path) -> Path:
    """Write ``widget``'s plots as an SVG document; returns the path written."""
    path = check_output_path(path, SVG_SUFFIXES, "SVG picture")
    data = svg_document(widget).encode("utf-8")
    with atomic_output(path) as temporary:
        temporary.write_bytes(data)
    return path


def save_picture(widget: QWidget, path: str | Path, scale: float = 1.0) -> Path:
    """PNG or SVG, chosen by the file name's suffix."""
    suffix = Path(path).suffix.lower()
    if suffix in SVG_SUFFIXES:
        return save_svg(widget, path)
    if suffix in PNG_SUFFIXES:
        return save_png(widget, path, scale)
    raise ExportError(f"cannot tell the picture format from {Path(path).name!r}; end the "
                      "file name with .png or .svg")


def _visible_children(widget: QWidget, kind: type) -> list:
    found = [widget] if isinstance(widget, kind) else []
    found += widget.findChildren(kind)
    return [child for child in found if (child is widget or child.isVisibleTo(widget))
            and child.width() > 0 and child.height() > 0]


def _plot_svg(view: pg.GraphicsView, root: QWidget, prefix: str) -> ET.Element:
    """The plot's SVG (from pyqtgraph) as a group translated to where the view sits."""
    exporter = pg.exporters.SVGExporter(view.scene())
    text = exporter.export(toBytes=True).decode("utf-8")
    document = ET.fromstring(_unique_ids(text, prefix))
    corner = view.mapTo(root, QPoint(0, 0)) if view is not root else QPoint(0, 0)
    group = ET.Element(f"{{{SVG_NS}}}g", {
        "transform": f"translate({corner.x()} {corner.y()})",
        "class": type(view).__name__,
    })
    for child in document:
        tag = child.tag.split("}")[-1]
        if tag in ("title", "desc", "style"):
            continue
        if tag == "rect" and child.get("width") == "100%":
            child.set("width", str(view.width()))
            child.set("height", str(view.height()))
        group.append(child)
    return group


def _unique_ids(text: str, prefix: str) -> str:
    text = re.sub(r'\bid="([^"]+)"', lambda m: f'id="{prefix}{m.group(1)}"', text)
    text = re.sub(r"url\(#([^)]+)\)", lambda m: f"url(#{prefix}{m.group(1)})", text)
    return re.sub(r'href="#([^"]+)"', lambda m: f'href="#{prefix}{m.group(1)}"', text)


def _plain_text(label: QLabel) -> str:
    text = label.text()
    if label.textFormat() != Qt.TextFormat.PlainText and "<" in text:
        text = re.sub(r"<[^>]+>", "", text)
    return " ".join(text.split())


def _label_svg(label: QLabel, root: QWidget, text: str) -> ET.Element:
    corner = label.mapTo(root, QPoint(0, 0)) if label is not root else QPoint(0, 0)
    size = label.font().pointSizeF()
    pixels = size * 96 / 72 if size > 0 else float(label.font().pixelSize())
    element = ET.Element(f"{{{SVG_NS}}}text", {
        "x": str(corner.x() + 2),
        "y": f"{corner.y() + (label.height() + pixels) / 2 - 2:.1f}",
        "font-family": label.font().family() or "sans-serif",
        "font-size": f"{pixels:.1f}",
        "fill": theme.FOREGROUND,
    })
    element.text = text
    return element


# ============================================================================ state
def save_state(
    path: str | Path,
    config: Any,
    state: dict | None,
    snapshot: Any,
    orbit_labels: tuple[str, ...] | list[str] | None = None,
) -> tuple[Path, Path]:
    """Write ``NAME.npz`` (weights and metric arrays) and ``NAME.json`` (configuration,
    scalars, array descriptions); returns both paths."""
    path = check_output_path(path, STATE_SUFFIXES, "state file")
    if snapshot is None and state is None:
        raise ExportError("there is nothing to export yet: the run has no weights and no "
                          "metrics; train at least one step first")
    side = path.with_suffix(".json")
    arrays: dict[str, np.ndarray] = {}
    weights = None
    if state is not None:
        stored = state_members({k: v for k, v in state.items() if k != "config"},
                               WEIGHTS_PREFIX)
        weights = json.loads(str(stored.pop(WEIGHTS_PREFIX).item()))
        arrays.update(stored)
    metrics = _metric_fields(snapshot, arrays) if snapshot is not None else {}
    if snapshot is not None and orbit_labels is not None:
        counts = np.asarray(snapshot.orbit_counts).tolist()
        metrics["orbit_counts_by_label"] = dict(zip(map(str, orbit_labels), counts, strict=False))
    description = {
        "format": STATE_FORMAT,
        "version": STATE_VERSION,
        "arrays_file": path.name,
        "config": config.to_dict() if hasattr(config, "to_dict") else dict(config),
        "step": None if snapshot is None else int(snapshot.step),
        "metrics": metrics,
        "weights": weights,
        "arrays": {name: {"shape": list(array.shape), "dtype": str(array.dtype)}
                   for name, array in arrays.items()},
    }
    text = json.dumps(_json_safe(description), indent=2, ensure_ascii=False) + "\n"
    arrays.update({"format": np.array(STATE_FORMAT), "version": np.array(STATE_VERSION),
                   "config": np.array(_config_text(config)),
                   WEIGHTS_PREFIX: np.array(json.dumps(weights))})
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    with atomic_outputs([path, side]) as (npz_temporary, json_temporary):
        npz_temporary.write_bytes(buffer.getvalue())
        json_temporary.write_bytes(text.encode("utf-8"))
    return path, side


def _config_text(config: Any) -> str:
    """The configuration as TOML text (a RunConfig, or the dictionary a state carries)."""
    if hasattr(config, "to_toml_text"):
        return config.to_toml_text()
    from backend.config import RunConfig

    return RunConfig.from_dict(dict(config)).to_toml_text()


def _metric_fields(snapshot: Any, arrays: dict) -> dict[str, Any]:
    scalars: dict[str, Any] = {}
    for spec in fields(snapshot):
        value = getattr(snapshot, spec.name)
        if isinstance(value, np.ndarray):
            arrays[f"metrics/{spec.name}"] = value.copy()
        else:
            scalars[spec.name] = value
    for name in ("mean_sparsity", "mean_alignment", "mean_abs_sin_phase"):
        if hasattr(snapshot, name):
            scalars[name] = getattr(snapshot, name)
    return scalars


def _json_safe(value: Any) -> Any:
    """Plain JSON values; NaN and infinities become null."""
    if isinstance(value, dict):
        return {str(key): _json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(item) for item in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, complex):
        return [_json_safe(value.real), _json_safe(value.imag)]
    if value is None or isinstance(value, bool | int | str):
        return value
    return str(value)
