"""Icons drawn from the SVG (.ico, .icns, hicolor PNGs) and the per-user Linux desktop entry."""

from __future__ import annotations

import configparser
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest
from PySide6.QtGui import QImage, QImageReader

from isyncsf_desktop import paths
from isyncsf_desktop.gui import desktop_entry
from isyncsf_desktop.gui.app import main
from isyncsf_desktop.gui.icons import (HICOLOR_SIZES, ICNS_TYPES, ICO_SIZES, app_svg, build_icon_set, render_png,
                                       write_ico)

pytestmark = pytest.mark.gui
ROOT = Path(__file__).resolve().parents[2]
BLUE = "#0b5cab"   # the icon's background
# Desktop entries are a Linux (freedesktop) thing; their paths are POSIX paths.
posix_paths = pytest.mark.skipif(sys.platform == "win32", reason="freedesktop entries hold POSIX paths")


def read_all(path: Path) -> list[QImage]:
    reader = QImageReader(str(path))
    images = []
    for index in range(reader.imageCount()):
        assert reader.jumpToImage(index)
        images.append(reader.read())
    return images


def test_the_build_svg_and_the_shipped_svg_are_the_same_file():
    assert (ROOT / "resources" / "isyncsf.svg").read_bytes() == app_svg().read_bytes()


def test_render_png_draws_the_svg_at_the_size_asked(qapp):
    image = QImage.fromData(render_png(app_svg(), 48), "PNG")
    assert (image.width(), image.height()) == (48, 48)
    assert image.pixelColor(24, 24).name() == BLUE
    assert image.pixelColor(0, 0).alpha() == 0   # rounded corners stay transparent


def test_render_png_refuses_what_is_not_svg(qapp, tmp_path):
    bad = tmp_path / "bad.svg"
    bad.write_text("not an svg")
    with pytest.raises(ValueError, match="not an SVG"):
        render_png(bad, 16)


def test_the_icon_set_holds_every_size_in_every_format(qapp, tmp_path):
    icons = build_icon_set(app_svg(), tmp_path)
    ico = read_all(icons["ico"])
    assert sorted(image.width() for image in ico) == list(ICO_SIZES)
    assert all(image.pixelColor(image.width() // 2, image.height() // 2).name() == BLUE for image in ico)

    data = icons["icns"].read_bytes()
    assert data[:4] == b"icns" and struct.unpack(">I", data[4:8])[0] == len(data)
    kinds, offset = [], 8
    while offset < len(data):
        kind, length = data[offset:offset + 4].decode(), struct.unpack(">I", data[offset + 4:offset + 8])[0]
        assert data[offset + 8:offset + 16] == b"\x89PNG\r\n\x1a\n"
        kinds.append(kind)
        offset += length
    assert offset == len(data) and kinds == [kind for kind, _ in ICNS_TYPES]
    if b"icns" in [bytes(f.data()) for f in QImageReader.supportedImageFormats()]:
        assert sorted({image.width() for image in read_all(icons["icns"])}) == [16, 32, 64, 128, 256, 512, 1024]

    assert QImage(str(icons["png"])).width() == 512
    for size in HICOLOR_SIZES:
        assert QImage(str(tmp_path / "hicolor" / f"{size}x{size}" / "apps" / "isyncsf.png")).width() == size


def test_an_ico_cannot_hold_more_than_256_pixels(tmp_path):
    with pytest.raises(ValueError):
        write_ico(tmp_path / "x.ico", {512: b""})


@pytest.mark.parametrize(("arg", "quoted"), [
    ("/opt/isyncsf/isyncsf-desktop", "/opt/isyncsf/isyncsf-desktop"),
    ("/home/ann/iSyncSF Desktop/iSyncSF Desktop", '"/home/ann/iSyncSF Desktop/iSyncSF Desktop"'),
    ("/home/ann/$HOME/100%", '"/home/ann/\\\\$HOME/100%%"'),
    ('/a"b', '"/a\\\\"b"'),
])
def test_exec_arguments_are_quoted_as_the_spec_says(arg, quoted):
    assert desktop_entry.quote_exec_arg(arg) == quoted


def parse_entry(path: Path) -> dict[str, str]:
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str   # keys are case-sensitive
    parser.read(path, encoding="utf-8")
    return dict(parser["Desktop Entry"])


def validate(path: Path) -> None:
    validator = shutil.which("desktop-file-validate")
    if validator is None:
        pytest.skip("desktop-file-validate is not installed (Debian: desktop-file-utils)")
    done = subprocess.run([validator, str(path)], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0 and not done.stdout.strip(), done.stdout + done.stderr


def test_the_shipped_entry_is_valid():
    validate(paths.package_data("data", "isyncsf-desktop.desktop"))


@posix_paths
def test_install_writes_the_entry_and_the_hicolor_icons_and_uninstall_removes_them(qapp, tmp_path):
    launcher = tmp_path / "apps dir" / "iSyncSF Desktop"
    written = desktop_entry.install(tmp_path / "share", [str(launcher)])
    entry_file = tmp_path / "share" / "applications" / "isyncsf-desktop.desktop"
    assert written == desktop_entry.installed_files(tmp_path / "share") and entry_file in written
    assert all(path.is_file() for path in written)
    entry = parse_entry(entry_file)
    assert entry["Exec"] == f'"{launcher}"' and entry["TryExec"] == str(launcher)
    assert entry["Icon"] == "isyncsf" and entry["Name"] == "iSyncSF Desktop"
    for size in HICOLOR_SIZES:
        png = tmp_path / "share" / "icons" / "hicolor" / f"{size}x{size}" / "apps" / "isyncsf.png"
        assert QImage(str(png)).width() == size
    svg = tmp_path / "share" / "icons" / "hicolor" / "scalable" / "apps" / "isyncsf.svg"
    assert svg.read_bytes() == app_svg().read_bytes()
    validate(entry_file)

    assert sorted(desktop_entry.uninstall(tmp_path / "share")) == sorted(written)
    assert not any(path.exists() for path in written)


def test_the_pip_installed_launcher_is_the_environments_script():
    command = desktop_entry.launcher_command()
    assert (len(command) == 1 and Path(command[0]).stem.lower() == "isyncsf-desktop") or command[1:] == [
        "-m", "isyncsf_desktop"]
    assert Path(command[0]).is_absolute()


def test_inside_an_appimage_the_menu_starts_the_appimage_not_its_temporary_mount(tmp_path, monkeypatch):
    appimage = tmp_path / "isyncsf-desktop-1.0.0-linux-x86_64.AppImage"
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setenv("APPIMAGE", str(appimage))
    assert desktop_entry.launcher_command() == [str(appimage.resolve())]
    monkeypatch.delenv("APPIMAGE")
    assert desktop_entry.launcher_command() == [str(Path(sys.executable).resolve())]


def test_a_python_launcher_has_no_try_exec():
    text = desktop_entry.desktop_entry_text(["/usr/bin/python3", "-m", "isyncsf_desktop"])
    assert "Exec=/usr/bin/python3 -m isyncsf_desktop\n" in text and "TryExec" not in text


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="desktop entries are for Linux")
def test_the_command_line_option_installs_in_xdg_data_home(qapp, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert main(["isyncsf-desktop", "--install-desktop-entry"]) == 0
    entry = tmp_path / "applications" / "isyncsf-desktop.desktop"
    assert str(entry) in capsys.readouterr().out.splitlines()
    assert parse_entry(entry)["Exec"].split()[0] == desktop_entry.launcher_command()[0]
    assert main(["isyncsf-desktop", "--uninstall-desktop-entry"]) == 0
    assert not entry.exists()
