; Inno Setup script: the Windows installer of iSyncSF Desktop.
;   iscc /DAppVersion=1.2.3 /DBundleDir=<dist>\iSyncSF Desktop /DOutputDir=<dist> /DIconFile=<work>\icons\isyncsf.ico isyncsf-desktop.iss
; packaging/build.py --installer runs it on Windows. Per-user: no administrator rights, installs under
; %LOCALAPPDATA%\Programs, a Start-menu shortcut, an entry in Settings > Apps > Installed apps with its
; uninstaller, and a newer version installs over an older one in place (same AppId).

#ifndef AppVersion
  #error Pass /DAppVersion=X.Y.Z
#endif
#ifndef BundleDir
  #error Pass /DBundleDir=<the PyInstaller folder>
#endif
#ifndef OutputDir
  #define OutputDir "."
#endif

[Setup]
; The AppId ties every version together: never change it, or upgrades install side by side.
AppId={{6C0D7F2A-4E43-4E0B-9B7E-1F5C2A9D3E71}
AppName=iSyncSF Desktop
AppVersion={#AppVersion}
AppVerName=iSyncSF Desktop {#AppVersion}
AppPublisher=iSyncSF
VersionInfoVersion={#AppVersion}
VersionInfoProductName=iSyncSF Desktop
DefaultDirName={localappdata}\Programs\iSyncSF Desktop
DefaultGroupName=iSyncSF Desktop
DisableProgramGroupPage=yes
DisableDirPage=auto
PrivilegesRequired=lowest
PrivilegesRequiredOverridesAllowed=dialog
ArchitecturesAllowed=x64compatible arm64
ArchitecturesInstallIn64BitMode=x64compatible arm64
OutputDir={#OutputDir}
OutputBaseFilename=isyncsf-desktop-{#AppVersion}-windows-setup
Compression=lzma2/max
SolidCompression=yes
WizardStyle=modern
UninstallDisplayName=iSyncSF Desktop
UninstallDisplayIcon={app}\iSyncSF Desktop.exe
; The app running holds its files: ask to close it before an upgrade or an uninstall.
CloseApplications=yes
RestartApplications=no
#ifdef IconFile
SetupIconFile={#IconFile}
#endif

[Languages]
Name: "english"; MessagesFile: "compiler:Default.isl"

[Tasks]
Name: "desktopicon"; Description: "{cm:CreateDesktopIcon}"; GroupDescription: "{cm:AdditionalIcons}"; Flags: unchecked

[Files]
; An upgrade replaces the old bundle's files; files the new version no longer has are removed first.
Source: "{#BundleDir}\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs

[InstallDelete]
Type: filesandordirs; Name: "{app}\_internal"

[Icons]
Name: "{autoprograms}\iSyncSF Desktop"; Filename: "{app}\iSyncSF Desktop.exe"
Name: "{autodesktop}\iSyncSF Desktop"; Filename: "{app}\iSyncSF Desktop.exe"; Tasks: desktopicon

[Run]
Filename: "{app}\iSyncSF Desktop.exe"; Description: "{cm:LaunchProgram,iSyncSF Desktop}"; Flags: nowait postinstall skipifsilent

; The user's data (orgs, templates, the journal) lives in their profile, not in {app}: an uninstall keeps
; it, so a reinstall finds every job and can still roll them back.
