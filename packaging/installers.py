"""Installers around the PyInstaller bundle: the AppImage (Linux), the DMG (macOS), the setup.exe (Windows).

Loaded by packaging/build.py (``--installer``) by path, like bundle_meta.py. Each maker takes the bundle
folder build.py made and writes one file next to the archive:

* Linux: ``isyncsf-desktop-VERSION-linux-ARCH.AppImage``: an AppDir (``AppRun``, the desktop entry and icon
  at its root, the bundle under ``usr/lib``) packed by ``appimagetool`` (named by ``--appimagetool`` or
  found on PATH; the release workflow downloads it). Built on an old glibc so it runs on newer ones.
* macOS: ``isyncsf-desktop-VERSION-macos-ARCH.dmg``: the .app beside a link to /Applications, the window
  a user drags the app across; ``hdiutil`` makes it (compressed, read-only).
* Windows: ``isyncsf-desktop-VERSION-windows-setup.exe``: Inno Setup's ``iscc`` compiles
  packaging/windows/isyncsf-desktop.iss (per-user, Start menu, uninstaller, upgrade in place).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
APP_RUN = """#!/bin/sh
# AppImage entry: run the bundled app with the arguments given (the AppImage's own path is in $APPIMAGE).
HERE="$(dirname "$(readlink -f "$0")")"
exec "$HERE/usr/lib/isyncsf-desktop/isyncsf-desktop" "$@"
"""


class InstallerError(Exception):
    """An installer could not be made; the text says why."""


def appimage_name(version: str, arch: str) -> str:
    return f"isyncsf-desktop-{version}-linux-{arch}.AppImage"


def dmg_name(version: str, arch: str) -> str:
    return f"isyncsf-desktop-{version}-macos-{arch}.dmg"


def setup_name(version: str) -> str:
    return f"isyncsf-desktop-{version}-windows-setup.exe"


def make_appdir(bundle: Path, out: Path, desktop_file: Path, icons: Path) -> Path:
    """The AppDir: ``AppRun``, ``isyncsf-desktop.desktop``, ``isyncsf.png`` and ``.DirIcon`` at the root,
    the bundle in ``usr/lib/isyncsf-desktop`` (symlinks kept), the icon sizes under ``usr/share/icons``."""
    shutil.rmtree(out, ignore_errors=True)
    lib = out / "usr" / "lib" / "isyncsf-desktop"
    shutil.copytree(bundle, lib, symlinks=True)
    app_run = out / "AppRun"
    app_run.write_text(APP_RUN)
    app_run.chmod(0o755)
    shutil.copy2(desktop_file, out / "isyncsf-desktop.desktop")
    shutil.copy2(icons / "isyncsf.png", out / "isyncsf.png")
    (out / ".DirIcon").symlink_to("isyncsf.png")
    hicolor = icons / "hicolor"
    if hicolor.is_dir():
        shutil.copytree(hicolor, out / "usr" / "share" / "icons" / "hicolor")
    return out


def make_appimage(appdir: Path, target: Path, tool: str | None, arch: str) -> Path:
    """Pack ``appdir`` with appimagetool (extracted and run in place: containers have no FUSE)."""
    found = tool or shutil.which("appimagetool")
    if found is None:
        raise InstallerError("appimagetool was not found: pass --appimagetool PATH (the release workflow "
                             "downloads it) or put it on PATH")
    target.unlink(missing_ok=True)
    env = dict(os.environ, ARCH={"arm64": "aarch64"}.get(arch, arch), APPIMAGE_EXTRACT_AND_RUN="1")
    subprocess.run([found, "--no-appstream", str(appdir), str(target)], env=env, check=True)
    return target


def make_dmg(app: Path, target: Path, volume: str = "iSyncSF Desktop") -> Path:
    """A compressed DMG whose window shows the app beside a link to /Applications."""
    target.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory(prefix="isyncsf-dmg-") as tmp:
        staging = Path(tmp) / volume
        staging.mkdir()
        subprocess.run(["ditto", str(app), str(staging / app.name)], check=True)   # keeps links and signature
        (staging / "Applications").symlink_to("/Applications")
        subprocess.run(["hdiutil", "create", "-volname", volume, "-srcfolder", str(staging), "-fs", "HFS+",
                        "-format", "UDZO", "-ov", str(target)], check=True)
    return target


def iscc_path() -> str | None:
    """Inno Setup's compiler: on PATH, or where its installer puts it (GitHub's Windows images have it)."""
    found = shutil.which("iscc")
    if found:
        return found
    for base in (os.environ.get("ProgramFiles(x86)"), os.environ.get("ProgramFiles")):
        if base and (Path(base) / "Inno Setup 6" / "ISCC.exe").is_file():
            return str(Path(base) / "Inno Setup 6" / "ISCC.exe")
    return None


def make_setup(bundle: Path, version: str, out_dir: Path, icon: Path | None) -> Path:
    """Compile the Inno Setup script for ``bundle``; returns the setup.exe."""
    iscc = iscc_path()
    if iscc is None:
        raise InstallerError("Inno Setup 6 (iscc) was not found: install it (choco install innosetup)")
    command = [iscc, f"/DAppVersion={version}", f"/DBundleDir={bundle}", f"/DOutputDir={out_dir}"]
    if icon is not None and icon.is_file():
        command.append(f"/DIconFile={icon}")
    subprocess.run([*command, str(HERE / "windows" / "isyncsf-desktop.iss")], check=True)
    target = out_dir / setup_name(version)
    if not target.is_file():
        raise InstallerError(f"iscc ended without making {target.name}")
    return target


__all__ = ["InstallerError", "appimage_name", "dmg_name", "make_appdir", "make_appimage", "make_dmg",
           "make_setup", "setup_name"]
