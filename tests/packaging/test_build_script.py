"""packaging/build.py's pieces that need no build: names, the bundle check, the archives."""

from __future__ import annotations

import importlib.util
import os
import tarfile
import tomllib
import zipfile
from fnmatch import fnmatch
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def load_packaging(name: str):
    """A module of packaging/ (a folder of scripts, not a package), loaded by path."""
    spec = importlib.util.spec_from_file_location(f"isyncsf_{name}", ROOT / "packaging" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def build():
    return load_packaging("build")


def fake_bundle(build, dist: Path, os_name: str, *, skip: str | None = None) -> None:
    executable = build.executable_path(dist, os_name)
    executable.parent.mkdir(parents=True)
    executable.write_text("#!/bin/sh\n")
    for rel in build.REQUIRED_FILES:
        if rel != skip:
            target = build.data_roots(dist, os_name)[0] / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text("{}")


@pytest.mark.parametrize(("os_name", "executable", "archive"), [
    ("linux", "isyncsf-desktop/isyncsf-desktop", "isyncsf-desktop-1.2.3-linux-x86_64.tar.gz"),
    ("windows", "iSyncSF Desktop/iSyncSF Desktop.exe", "isyncsf-desktop-1.2.3-windows-x86_64.zip"),
    ("macos", "iSyncSF Desktop.app/Contents/MacOS/iSyncSF Desktop", "isyncsf-desktop-1.2.3-macos-x86_64.zip"),
])
def test_names_per_os(build, tmp_path, os_name, executable, archive):
    assert build.executable_path(tmp_path, os_name) == tmp_path / executable
    assert build.archive_name("1.2.3", os_name, "x86_64") == archive


@pytest.mark.parametrize("os_name", ["linux", "windows", "macos"])
def test_check_bundle_names_a_missing_run_time_file(build, tmp_path, os_name):
    fake_bundle(build, tmp_path, os_name)
    build.check_bundle(tmp_path, os_name)
    other = tmp_path / "other"
    fake_bundle(build, other, os_name, skip="isyncsf_desktop/sandbox/schemas/demo.json")
    with pytest.raises(build.BuildError, match="sandbox/schemas/demo.json"):
        build.check_bundle(other, os_name)


def test_check_bundle_wants_the_executable(build, tmp_path):
    with pytest.raises(build.BuildError, match="no executable"):
        build.check_bundle(tmp_path, "linux")


def test_the_package_ships_every_run_time_file_the_bundle_is_checked_for(build):
    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    for rel in build.REQUIRED_FILES:
        if rel.startswith("isyncsf_desktop/"):
            inner = rel.removeprefix("isyncsf_desktop/")
            assert (ROOT / rel).is_file(), rel
            assert any(fnmatch(inner, pattern) for pattern in patterns["isyncsf_desktop"]), rel


@pytest.mark.skipif(os.name != "posix", reason="symlinks")
def test_the_linux_archive_keeps_links_and_modes(build, tmp_path):
    fake_bundle(build, tmp_path, "linux")
    executable = build.executable_path(tmp_path, "linux")
    executable.chmod(0o755)
    (executable.parent / "_internal" / "libQt6Core.so.6").symlink_to("PySide6/Qt/lib/libQt6Core.so.6")
    archive = build.make_archive(tmp_path, "linux", tmp_path / "app.tar.gz")
    with tarfile.open(archive) as tar:
        members = {m.name: m for m in tar.getmembers()}
    assert members["isyncsf-desktop/isyncsf-desktop"].mode & 0o111
    assert members["isyncsf-desktop/_internal/libQt6Core.so.6"].issym()
    assert "isyncsf-desktop/_internal/isyncsf_desktop/sandbox/schemas/demo.json" in members


def test_the_windows_archive_holds_the_folder(build, tmp_path):
    fake_bundle(build, tmp_path, "windows")
    archive = build.make_archive(tmp_path, "windows", tmp_path / "app.zip")
    names = zipfile.ZipFile(archive).namelist()
    assert "iSyncSF Desktop/iSyncSF Desktop.exe" in names
    assert "iSyncSF Desktop/_internal/isyncsf_desktop/data/templates/demo.json" in names


@pytest.mark.skipif(os.name != "posix", reason="symlinks")
def test_tree_size_counts_files_not_links(build, tmp_path):
    (tmp_path / "a").write_bytes(b"x" * 10)
    (tmp_path / "b").symlink_to("a")
    assert build.tree_size(tmp_path) == 10


@pytest.fixture(scope="module")
def meta():
    return load_packaging("bundle_meta")


def test_the_windows_version_file_names_the_product_version_and_company(meta):
    """PyInstaller evals the file with its versioninfo classes (Windows only): here each class records
    what it was given, so the structure and the strings are checked on any OS."""
    def recorder(kind):
        return lambda *args, **kwargs: {"kind": kind, "args": args, **kwargs}

    names = ("VSVersionInfo", "FixedFileInfo", "StringFileInfo", "StringTable", "StringStruct", "VarFileInfo",
             "VarStruct")
    info = eval(meta.windows_version_file("1.4.2rc1", "iSyncSF Desktop"), {n: recorder(n) for n in names})
    assert info["kind"] == "VSVersionInfo"
    assert info["ffi"]["filevers"] == info["ffi"]["prodvers"] == (1, 4, 2, 1)
    table = info["kids"][0]["args"][0][0]
    assert table["args"][0] == "040904B0"
    strings = {s["args"][0]: s["args"][1] for s in table["args"][1]}
    assert strings["ProductName"] == strings["FileDescription"] == "iSyncSF Desktop"
    assert strings["CompanyName"] == "iSyncSF" and strings["ProductVersion"] == "1.4.2rc1"
    assert strings["FileVersion"] == "1.4.2.1" and strings["OriginalFilename"] == "iSyncSF Desktop.exe"


@pytest.mark.parametrize(("qt", "minimum"), [("6.11.3", "13.0"), ("6.10.0", "13.0"), ("6.8.2", "12.0"),
                                            ("6.6.1", "11.0")])
def test_the_mac_app_states_the_oldest_macos_its_qt_runs_on_and_keeps_app_nap_off(meta, qt, minimum):
    plist = meta.macos_plist("0.1.0", qt)
    assert plist["LSMinimumSystemVersion"] == minimum
    assert plist["NSAppSleepDisabled"] is True and plist["CFBundleShortVersionString"] == "0.1.0"


@pytest.fixture(scope="module")
def installers():
    return load_packaging("installers")


@pytest.mark.skipif(os.name != "posix", reason="an AppDir is for Linux")
def test_the_appdir_runs_the_bundle_with_its_arguments(installers, tmp_path):
    import subprocess

    bundle = tmp_path / "dist" / "isyncsf-desktop"
    (bundle / "_internal").mkdir(parents=True)
    (bundle / "_internal" / "libQt6Core.so.6").write_text("lib")
    (bundle / "_internal" / "libQt6Core.so").symlink_to("libQt6Core.so.6")
    executable = bundle / "isyncsf-desktop"
    executable.write_text('#!/bin/sh\necho "ran with: $*"\n')
    executable.chmod(0o755)
    icons = tmp_path / "icons"
    (icons / "hicolor" / "64x64" / "apps").mkdir(parents=True)
    (icons / "hicolor" / "64x64" / "apps" / "isyncsf.png").write_bytes(b"png64")
    (icons / "isyncsf.png").write_bytes(b"png512")
    desktop = ROOT / "isyncsf_desktop" / "data" / "isyncsf-desktop.desktop"

    appdir = installers.make_appdir(bundle, tmp_path / "AppDir", desktop, icons)
    assert (appdir / "isyncsf-desktop.desktop").read_text() == desktop.read_text()
    assert (appdir / "isyncsf.png").read_bytes() == b"png512" and os.readlink(appdir / ".DirIcon") == "isyncsf.png"
    assert (appdir / "usr" / "share" / "icons" / "hicolor" / "64x64" / "apps" / "isyncsf.png").is_file()
    assert (appdir / "usr" / "lib" / "isyncsf-desktop" / "_internal" / "libQt6Core.so").is_symlink()
    ran = subprocess.run([str(appdir / "AppRun"), "--smoke", "a b"], capture_output=True, text=True, timeout=30)
    assert ran.returncode == 0 and ran.stdout.strip() == "ran with: --smoke a b"
    assert installers.appimage_name("1.2.3", "x86_64") == "isyncsf-desktop-1.2.3-linux-x86_64.AppImage"


def test_an_appimage_without_appimagetool_says_how_to_get_it(installers, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(installers.InstallerError, match="appimagetool was not found: pass --appimagetool PATH"):
        installers.make_appimage(tmp_path, tmp_path / "x.AppImage", None, "x86_64")


def test_the_windows_installer_is_per_user_with_a_fixed_app_id():
    script = (ROOT / "packaging" / "windows" / "isyncsf-desktop.iss").read_text()
    assert "PrivilegesRequired=lowest" in script and "{localappdata}\\Programs\\iSyncSF Desktop" in script
    assert "AppId={{6C0D7F2A-4E43-4E0B-9B7E-1F5C2A9D3E71}" in script and "{autoprograms}" in script
    assert "OutputBaseFilename=isyncsf-desktop-{#AppVersion}-windows-setup" in script


@pytest.fixture(scope="module")
def trim():
    return load_packaging("trim")


@pytest.mark.parametrize(("dest", "dropped"), [
    ("faker/providers/address/de_DE/__init__.py", True),
    ("faker/providers/person/zh_Hant_TW/__init__.py", False),     # not a plain locale name: kept, to be safe
    ("faker.providers.person.fr_FR", True),
    ("faker/providers/address/en_US/__init__.py", False),
    ("faker/providers/address/en/__init__.py", False),
    ("faker/providers/address/__init__.py", False),
    ("faker/providers/date_time/__init__.py", False),
    ("faker.providers.person", False),
])
def test_faker_keeps_the_locales_the_app_uses(trim, dest, dropped):
    assert trim.unused_faker_locale(dest) is dropped


@pytest.mark.parametrize(("dest", "platform", "dropped"), [
    ("PySide6/Qt/translations/qtbase_de.qm", "linux", True),
    ("PySide6\\translations\\qtbase_de.qm", "win32", True),
    ("PySide6/Qt/plugins/platforms/libqvnc.so", "linux", True),
    ("PySide6/Qt/plugins/platforms/libqxcb.so", "linux", False),
    ("PySide6/Qt/plugins/platforms/libqwayland.so", "linux", False),
    ("PySide6/Qt/plugins/platforms/libqoffscreen.so", "linux", False),
    ("PySide6/Qt/plugins/egldeviceintegrations/libqeglfs-kms-integration.so", "linux", True),
    ("libQt6EglFSDeviceIntegration.so.6", "linux", True),
    ("PySide6/Qt/lib/libQt6Gui.so.6", "linux", False),
    ("PySide6/plugins/platforms/qwindows.dll", "win32", False),
])
def test_qt_files_the_app_never_loads(trim, dest, platform, dropped):
    assert trim.unused_qt_file(dest, platform) is dropped


def test_libraries_only_the_gtk_theme_needs_are_left_out_and_shared_ones_kept(trim):
    binaries = [("PySide6/Qt/plugins/platformthemes/libqgtk3.so", "/qt/libqgtk3.so", "BINARY"),
                ("PySide6/Qt/lib/libQt6Gui.so.6", "/qt/libQt6Gui.so.6", "BINARY"),
                ("libcairo.so.2", "/usr/lib/libcairo.so.2", "BINARY"),
                ("libpixman-1.so.0", "/usr/lib/libpixman-1.so.0", "BINARY"),
                ("libglib-2.0.so.0", "/usr/lib/libglib-2.0.so.0", "BINARY"),
                ("libfreetype.so.6", "/usr/lib/libfreetype.so.6", "BINARY")]
    needs = {"/qt/libqgtk3.so": ["libcairo.so.2", "libpixman-1.so.0", "libglib-2.0.so.0", "libfreetype.so.6"],
             "/qt/libQt6Gui.so.6": ["libglib-2.0.so.0", "libfreetype.so.6"],
             "/usr/lib/libcairo.so.2": ["libpixman-1.so.0", "libfreetype.so.6"]}
    kept = trim.drop_gtk_only_libraries(binaries, lambda src: needs.get(src, []))
    assert [e[0] for e in kept] == ["PySide6/Qt/plugins/platformthemes/libqgtk3.so", "PySide6/Qt/lib/libQt6Gui.so.6",
                                    "libglib-2.0.so.0", "libfreetype.so.6"]


def test_faker_keeps_the_locales_its_providers_fall_back_to(trim):
    keep = trim.faker_locales_to_keep()
    assert {"en", "en_US", "en_GB", "la"} <= keep and "de_DE" not in keep
    assert not trim.unused_faker_locale("faker/providers/bank/en_GB/__init__.py", keep)
