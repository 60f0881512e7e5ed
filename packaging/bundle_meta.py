"""What the built app says about itself to each OS: Windows version information, macOS Info.plist keys.

Read by build.spec (loaded by path: this folder is not a package) and by tests/packaging/test_build_script.py.
"""

from __future__ import annotations

import re

PRODUCT = "iSyncSF Desktop"
COMPANY = "iSyncSF"
DESCRIPTION = "iSyncSF Desktop: copy Salesforce records between orgs and undo it"
COPYRIGHT = "Copyright iSyncSF"


def version_tuple(version: str) -> tuple[int, int, int, int]:
    """``1.2.3`` (or ``1.2.3rc1``, ``1.2``) as the four numbers Windows wants."""
    numbers = [int(n) for n in re.findall(r"\d+", version.split("+")[0])[:4]]
    return tuple((numbers + [0, 0, 0, 0])[:4])  # type: ignore[return-value]


def windows_version_file(version: str, exe_name: str) -> str:
    """The text of a PyInstaller version file (``EXE(version=...)``): file description, product name and
    version, company, shown by Explorer's Properties → Details and by the Installed apps list."""
    numbers = version_tuple(version)
    dotted = ".".join(str(n) for n in numbers)
    strings = {
        "CompanyName": COMPANY,
        "FileDescription": PRODUCT,
        "FileVersion": dotted,
        "InternalName": exe_name,
        "LegalCopyright": COPYRIGHT,
        "OriginalFilename": f"{exe_name}.exe",
        "ProductName": PRODUCT,
        "ProductVersion": version,
        "Comments": DESCRIPTION,
    }
    table = ",\n          ".join(f"StringStruct({key!r}, {value!r})" for key, value in strings.items())
    return f"""VSVersionInfo(
  ffi=FixedFileInfo(filevers={numbers}, prodvers={numbers}, mask=0x3f, flags=0x0, OS=0x40004,
                    fileType=0x1, subtype=0x0, date=(0, 0)),
  kids=[
    StringFileInfo([
      StringTable('040904B0', [
          {table}])]),
    VarFileInfo([VarStruct('Translation', [1033, 1200])])
  ]
)
"""


def macos_minimum(qt_version: str) -> str:
    """The oldest macOS the bundled Qt runs on (Qt's supported configurations), for LSMinimumSystemVersion."""
    major, minor = (int(n) for n in qt_version.split(".")[:2])
    if (major, minor) >= (6, 10):
        return "13.0"
    if (major, minor) >= (6, 8):
        return "12.0"
    return "11.0"


def macos_plist(version: str, qt_version: str) -> dict[str, object]:
    """The Info.plist keys of the .app beyond PyInstaller's own."""
    return {
        "CFBundleName": PRODUCT,
        "CFBundleDisplayName": PRODUCT,
        "CFBundleShortVersionString": version,
        "CFBundleVersion": version,
        "LSApplicationCategoryType": "public.app-category.developer-tools",
        "LSMinimumSystemVersion": macos_minimum(qt_version),
        "NSHighResolutionCapable": True,
        "NSRequiresAquaSystemAppearance": False,
        # App Nap would throttle a long sync while the window is hidden or covered: the app's timers and
        # threads slow to a crawl. A sync tool is doing the user's work when nobody looks at it.
        "NSAppSleepDisabled": True,
        "NSHumanReadableCopyright": COPYRIGHT,
    }


__all__ = ["macos_minimum", "macos_plist", "version_tuple", "windows_version_file"]
