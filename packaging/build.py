"""Build the double-clickable app for this OS: PyInstaller one-folder bundle, checks, archive, figures.

    python packaging/build.py [--smoke] [--no-archive] [--installer] [--dist DIR] [--work DIR]

1. ``pyinstaller build.spec`` from a clean work folder (the spec draws the icons from the SVG).
2. Checks the bundle holds what the app reads at run time (sandbox schemas, demo template, icon,
   desktop entry, TLS CA bundle).
3. ``--smoke``: starts the built app with ``--smoke`` in a throw-away ``ISYNCSF_HOME`` (the window on
   the demo orgs, a demo sync, exit 0) and measures the time from launch to the window.
4. Packs the bundle: ``isyncsf-desktop-VERSION-linux-ARCH.tar.gz``, ``…-windows-ARCH.zip``, or
   ``…-macos-ARCH.zip`` (made with ``ditto``, which keeps the .app's symlinks and signature).
5. ``--installer``: the installer of this OS beside the archive (packaging/installers.py): the AppImage
   (needs ``appimagetool``, ``--appimagetool PATH``), the DMG, or the Inno Setup ``setup.exe``.
6. Prints the figures as JSON and writes them to ``DIST/build-report.json``.

Exits non-zero when a step fails. Needs the project installed with its ``build`` extra.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SMOKE_TIMEOUT_S = 300
#: Files the frozen app opens at run time, relative to the bundle's data folder.
REQUIRED_FILES = (
    "isyncsf_desktop/sandbox/schemas/demo.json",
    "isyncsf_desktop/data/templates/demo.json",
    "isyncsf_desktop/data/icons/isyncsf.svg",
    "isyncsf_desktop/data/isyncsf-desktop.desktop",
    "certifi/cacert.pem",
    "simple_salesforce/metadata.wsdl",
)


class BuildError(Exception):
    """A step of the build failed; the text says which and why."""


def os_tag() -> str:
    return {"win32": "windows", "darwin": "macos"}.get(sys.platform, "linux")


def arch_tag() -> str:
    machine = platform.machine().lower()
    return {"amd64": "x86_64", "x64": "x86_64", "aarch64": "arm64"}.get(machine, machine or "unknown")


def app_name(os_name: str) -> str:
    return "isyncsf-desktop" if os_name == "linux" else "iSyncSF Desktop"


def bundle_path(dist: Path, os_name: str) -> Path:
    """What the build makes and the archive holds: the one folder, or the macOS .app."""
    name = app_name(os_name)
    return dist / (f"{name}.app" if os_name == "macos" else name)


def executable_path(dist: Path, os_name: str) -> Path:
    name = app_name(os_name)
    if os_name == "macos":
        return bundle_path(dist, os_name) / "Contents" / "MacOS" / name
    return bundle_path(dist, os_name) / (f"{name}.exe" if os_name == "windows" else name)


def data_roots(dist: Path, os_name: str) -> list[Path]:
    """Where PyInstaller puts data files: ``_internal`` beside the executable; in a .app, ``Resources``
    (linked from ``Frameworks``, the app's ``sys._MEIPASS``)."""
    if os_name == "macos":
        contents = bundle_path(dist, os_name) / "Contents"
        return [contents / "Resources", contents / "Frameworks"]
    return [bundle_path(dist, os_name) / "_internal"]


def archive_name(version: str, os_name: str, arch: str) -> str:
    suffix = ".tar.gz" if os_name == "linux" else ".zip"
    return f"isyncsf-desktop-{version}-{os_name}-{arch}{suffix}"


def tree_size(path: Path) -> int:
    """Bytes of every file under ``path``, symlinks counted once as links (as an archive holds them)."""
    total = 0
    for item in path.rglob("*"):
        if item.is_symlink():
            continue
        if item.is_file():
            total += item.stat().st_size
    return total


def check_bundle(dist: Path, os_name: str) -> None:
    executable = executable_path(dist, os_name)
    if not executable.is_file():
        raise BuildError(f"the build made no executable at {executable}")
    roots = data_roots(dist, os_name)
    missing = [rel for rel in REQUIRED_FILES if not any((root / rel).is_file() for root in roots)]
    if missing:
        raise BuildError(f"the bundle lacks files the app reads at run time: {', '.join(missing)} "
                         f"(under {roots[0]})")


def run_pyinstaller(dist: Path, work: Path) -> float:
    started = time.perf_counter()
    command = [sys.executable, "-m", "PyInstaller", "--noconfirm", "--clean", "--log-level", "WARN",
               "--distpath", str(dist), "--workpath", str(work), str(ROOT / "build.spec")]
    print("+", " ".join(command), flush=True)
    done = subprocess.run(command, cwd=ROOT, check=False)
    if done.returncode != 0:
        raise BuildError(f"PyInstaller failed (exit {done.returncode})")
    return time.perf_counter() - started


def smoke(executable: Path, timeout_s: float = SMOKE_TIMEOUT_S) -> dict:
    """Run the built app's ``--smoke``; its figures plus ``start_to_window_s`` measured from here."""
    with tempfile.TemporaryDirectory(prefix="isyncsf-build-smoke-", ignore_cleanup_errors=True) as tmp:
        report = Path(tmp) / "smoke.json"
        env = dict(os.environ, ISYNCSF_HOME=str(Path(tmp) / "home"))
        launched = time.time()
        started = time.perf_counter()
        try:
            done = subprocess.run([str(executable), "--smoke", "--smoke-report", str(report)], env=env,
                                  capture_output=True, text=True, timeout=timeout_s, check=False)
        except subprocess.TimeoutExpired as exc:
            raise BuildError(f"the built app's smoke test did not end in {timeout_s:.0f} s") from exc
        total = time.perf_counter() - started
        figures = json.loads(report.read_text()) if report.is_file() else {}
        if done.returncode != 0:
            log = Path(tmp) / "home" / "logs" / "isyncsf.log"
            tail = log.read_text(errors="replace")[-4000:] if log.is_file() else "(no log)"
            raise BuildError(f"the built app's smoke test failed (exit {done.returncode}): "
                             f"{figures.get('failure', '')}\nstdout: {done.stdout[-2000:]}\n"
                             f"stderr: {done.stderr[-4000:]}\nlog: {tail}")
    if "window_shown_at" in figures:
        figures["start_to_window_s"] = round(figures["window_shown_at"] - launched, 3)
    figures["smoke_total_s"] = round(total, 2)
    return figures


def make_archive(dist: Path, os_name: str, target: Path) -> Path:
    bundle = bundle_path(dist, os_name)
    target.unlink(missing_ok=True)
    if os_name == "macos":
        # ditto keeps the symlinks inside Qt's frameworks and the code signature; zipfile would not.
        subprocess.run(["ditto", "-c", "-k", "--sequesterRsrc", "--keepParent", str(bundle), str(target)],
                       check=True)
    elif os_name == "windows":
        with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as archive:
            for item in sorted(bundle.rglob("*")):
                archive.write(item, item.relative_to(dist).as_posix())
    else:
        with tarfile.open(target, "w:gz", compresslevel=6) as archive:   # keeps symlinks and modes
            archive.add(bundle, arcname=bundle.name)
    return target


def installers_module():  # noqa: ANN201 - packaging/ is no package: loaded by path
    import importlib.util

    spec = importlib.util.spec_from_file_location("isyncsf_installers", ROOT / "packaging" / "installers.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def make_installer(dist: Path, work: Path, os_name: str, version: str, arch: str,
                   appimagetool: str | None = None) -> Path:
    """The installer of this OS for the bundle in ``dist`` (icons from the spec's work folder)."""
    installers = installers_module()
    icons = work / "build" / "icons"
    bundle = bundle_path(dist, os_name)
    try:
        if os_name == "linux":
            appdir = installers.make_appdir(bundle, work / "AppDir", ROOT / "isyncsf_desktop" / "data" /
                                            "isyncsf-desktop.desktop", icons)
            return installers.make_appimage(appdir, dist / installers.appimage_name(version, arch), appimagetool,
                                            arch)
        if os_name == "macos":
            return installers.make_dmg(bundle, dist / installers.dmg_name(version, arch))
        return installers.make_setup(bundle, version, dist, icons / "isyncsf.ico")
    except installers.InstallerError as exc:
        raise BuildError(str(exc)) from None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build the iSyncSF Desktop app for this OS.")
    parser.add_argument("--dist", type=Path, default=ROOT / "dist", help="output folder (default: dist/)")
    parser.add_argument("--work", type=Path, default=ROOT / "build" / "pyinstaller",
                        help="PyInstaller's work folder (emptied first)")
    parser.add_argument("--smoke", action="store_true", help="run the built app's --smoke mode")
    parser.add_argument("--no-archive", action="store_true", help="skip the archive")
    parser.add_argument("--installer", action="store_true",
                        help="also make this OS's installer (AppImage, DMG or setup.exe)")
    parser.add_argument("--appimagetool", help="the appimagetool to pack the AppImage with (default: on PATH)")
    options = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    from isyncsf_desktop import __version__

    os_name, dist = os_tag(), options.dist.resolve()
    report: dict = {"version": __version__, "os": os_name, "arch": arch_tag(), "python": platform.python_version()}
    try:
        shutil.rmtree(options.work, ignore_errors=True)
        shutil.rmtree(bundle_path(dist, os_name), ignore_errors=True)
        report["build_seconds"] = round(run_pyinstaller(dist, options.work.resolve()), 1)
        check_bundle(dist, os_name)
        report["bundle"] = bundle_path(dist, os_name).name
        report["bundle_mb"] = round(tree_size(bundle_path(dist, os_name)) / 1e6, 1)
        if options.smoke:
            report["smoke"] = smoke(executable_path(dist, os_name))
        if not options.no_archive:
            archive = make_archive(dist, os_name, dist / archive_name(__version__, os_name, arch_tag()))
            report["archive"] = archive.name
            report["archive_mb"] = round(archive.stat().st_size / 1e6, 1)
        if options.installer:
            installer = make_installer(dist, options.work.resolve(), os_name, __version__, arch_tag(),
                                       options.appimagetool)
            report["installer"] = installer.name
            report["installer_mb"] = round(installer.stat().st_size / 1e6, 1)
    except (BuildError, subprocess.CalledProcessError, OSError) as exc:
        print(f"build failed: {exc}", file=sys.stderr)
        return 1
    text = json.dumps(report, indent=2, sort_keys=True)
    (dist / "build-report.json").write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
