"""The app icon in every format a platform wants, rendered from the one SVG.

``render_png`` rasterises the SVG with Qt's own renderer (no other imaging library); ``write_ico``
(Windows) and ``write_icns`` (macOS) pack those PNGs into the container formats. The build
(``build.spec``) makes its icons with these, and ``--install-desktop-entry`` its hicolor PNGs.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Mapping
from pathlib import Path

from PySide6.QtCore import QBuffer, QByteArray, QIODevice, Qt
from PySide6.QtGui import QImage, QPainter
from PySide6.QtSvg import QSvgRenderer

from .. import paths

#: Sizes of a Windows .ico (256 is the largest the format holds).
ICO_SIZES = (16, 24, 32, 48, 64, 128, 256)
#: Sizes of the freedesktop hicolor theme the Linux desktop entry installs.
HICOLOR_SIZES = (16, 22, 24, 32, 48, 64, 128, 256, 512)
#: macOS icon types holding PNG data, and the pixel size of each (the @2x types are double).
ICNS_TYPES = (("icp4", 16), ("icp5", 32), ("icp6", 64), ("ic07", 128), ("ic08", 256), ("ic09", 512),
              ("ic10", 1024), ("ic11", 32), ("ic12", 64), ("ic13", 256), ("ic14", 512))


def app_svg() -> Path:
    """The app icon shipped in the package (pip-installed and frozen alike)."""
    return paths.package_data("data", "icons", "isyncsf.svg")


def render_png(svg: Path, size: int) -> bytes:
    """``svg`` drawn on a transparent ``size`` x ``size`` square, as PNG bytes."""
    renderer = QSvgRenderer(str(svg))
    if not renderer.isValid():
        raise ValueError(f"{svg} is not an SVG image Qt can draw")
    image = QImage(size, size, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    renderer.render(painter)
    painter.end()
    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    if not image.save(buffer, "PNG"):
        raise RuntimeError("Qt could not encode a PNG")
    buffer.close()
    return bytes(data.data())


def render_sizes(svg: Path, sizes: Iterable[int]) -> dict[int, bytes]:
    """PNG bytes of ``svg`` for each size."""
    return {size: render_png(svg, size) for size in sorted(set(sizes))}


def write_ico(path: Path, pngs: Mapping[int, bytes]) -> Path:
    """A Windows icon holding one PNG-compressed image per size (Windows Vista and later read these)."""
    sizes = sorted(pngs)
    if not sizes or sizes[-1] > 256:
        raise ValueError("an .ico holds images of 1 to 256 pixels")
    header = struct.pack("<HHH", 0, 1, len(sizes))          # reserved, type 1 = icon, count
    offset = len(header) + 16 * len(sizes)
    entries, images = b"", b""
    for size in sizes:
        data = pngs[size]
        # width, height (0 means 256), colours, reserved, planes, bits per pixel, bytes, offset
        entries += struct.pack("<BBBBHHII", size % 256, size % 256, 0, 0, 1, 32, len(data), offset)
        images += data
        offset += len(data)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(header + entries + images)
    return path


def write_icns(path: Path, pngs: Mapping[int, bytes]) -> Path:
    """A macOS icon: every :data:`ICNS_TYPES` entry whose size is in ``pngs``, PNG data each."""
    chunks = b""
    for kind, size in ICNS_TYPES:
        if size in pngs:
            chunks += kind.encode("ascii") + struct.pack(">I", 8 + len(pngs[size])) + pngs[size]
    if not chunks:
        raise ValueError("no size of an .icns was given")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"icns" + struct.pack(">I", 8 + len(chunks)) + chunks)
    return path


def build_icon_set(svg: Path, out_dir: Path) -> dict[str, Path]:
    """Everything a build needs in ``out_dir``: ``isyncsf.ico``, ``isyncsf.icns``, ``isyncsf.png``
    (512 px) and ``hicolor/NxN/apps/isyncsf.png``; returns the three top-level files by suffix."""
    pngs = render_sizes(svg, set(ICO_SIZES) | set(HICOLOR_SIZES) | {size for _, size in ICNS_TYPES})
    out_dir.mkdir(parents=True, exist_ok=True)
    for size in HICOLOR_SIZES:
        target = out_dir / "hicolor" / f"{size}x{size}" / "apps" / "isyncsf.png"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(pngs[size])
    png = out_dir / "isyncsf.png"
    png.write_bytes(pngs[512])
    return {"ico": write_ico(out_dir / "isyncsf.ico", {s: pngs[s] for s in ICO_SIZES}),
            "icns": write_icns(out_dir / "isyncsf.icns", pngs),
            "png": png}
