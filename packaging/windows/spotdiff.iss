; Inno Setup script: spotdiff's Windows installer (spotdiff-VERSION-windows-x64-setup.exe).
; Build on Windows, after the one-folder app (packaging/README.md, "Windows"):
;   iscc /DAppVersion=0.1.0 /DDistDir=..\..\build\packaging\dist\spotdiff packaging\windows\spotdiff.iss
; Installs for all users (admin) or, if the user picks so, for the current user only; adds a Start-menu
; entry, an optional desktop icon, and optionally the folder to PATH (spotdiff.exe, spotdiff-gui.exe).
; Not buildable on the Linux build machines; kept in step with packaging/spotdiff.spec by hand.

#ifndef AppVersion
  #error Pass the version: iscc /DAppVersion=0.1.0 ...
#endif
#ifndef DistDir
  #define DistDir "..\..\build\packaging\dist\spotdiff"
#endif

[Setup]
AppId={{6C1E0B8A-4F2D-4B7E-9D3A-51A7C0E2D9F4}
AppName=spotdiff
AppVersion={#AppVersion}
AppVerName=spotdiff {#AppVersion}
AppPublisher=spotdiff
DefaultDirName={autopf}\spotdiff
DefaultGroupName=spotdiff
DisableProgramGroupPage=yes
PrivilegesRequired=admin
PrivilegesRequiredOverridesAllowed=dialog
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
OutputDir=..\..\dist
OutputBaseFilename=spotdiff-{#AppVersion}-windows-x64-setup
SetupIconFile=..\icons\spotdiff.ico
UninstallDisplayIcon={app}\spotdiff-gui.exe
; ~1.2 GB of files: lzma2 at its normal level keeps the build to minutes
Compression=lzma2
SolidCompression=yes
ChangesEnvironment=yes
WizardStyle=modern

[Tasks]
Name: "desktopicon"; Description: "{cm:CreateDesktopIcon}"; GroupDescription: "{cm:AdditionalIcons}"; Flags: unchecked
Name: "addtopath"; Description: "Add spotdiff to PATH (the spotdiff command in any terminal)"; Flags: unchecked

[Files]
Source: "{#DistDir}\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs

[Icons]
Name: "{autoprograms}\spotdiff"; Filename: "{app}\spotdiff-gui.exe"; Comment: "How do two sets of images differ?"
Name: "{autodesktop}\spotdiff"; Filename: "{app}\spotdiff-gui.exe"; Tasks: desktopicon

[Registry]
; per-user PATH in a per-user install, the machine's in an all-users install
Root: HKCU; Subkey: "Environment"; ValueType: expandsz; ValueName: "Path"; ValueData: "{olddata};{app}"; \
  Check: not IsAdminInstallMode and NeedsAddPath(ExpandConstant('{app}')); Tasks: addtopath
Root: HKLM; Subkey: "SYSTEM\CurrentControlSet\Control\Session Manager\Environment"; ValueType: expandsz; \
  ValueName: "Path"; ValueData: "{olddata};{app}"; Check: IsAdminInstallMode and NeedsAddPath(ExpandConstant('{app}')); \
  Tasks: addtopath

[Run]
Filename: "{app}\spotdiff-gui.exe"; Description: "{cm:LaunchProgram,spotdiff}"; Flags: nowait postinstall skipifsilent

[Code]
function NeedsAddPath(Dir: string): Boolean;
var
  Path: string;
  RootKey: Integer;
  SubKey: string;
begin
  if IsAdminInstallMode then begin
    RootKey := HKEY_LOCAL_MACHINE;
    SubKey := 'SYSTEM\CurrentControlSet\Control\Session Manager\Environment';
  end else begin
    RootKey := HKEY_CURRENT_USER;
    SubKey := 'Environment';
  end;
  if not RegQueryStringValue(RootKey, SubKey, 'Path', Path) then begin
    Result := True;
    exit;
  end;
  Result := Pos(';' + Uppercase(Dir) + ';', ';' + Uppercase(Path) + ';') = 0;
end;
