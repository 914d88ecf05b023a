"""ExifTool, kept running (`-stay_open`): how XMP sidecars are read and written.

Why ExifTool: real-world sidecars come from digiKam, Lightroom, darktable, Picasa and
phones, in every form RDF/XML allows (properties as attributes or elements, structs as
parseType="Resource" or nested descriptions, odd namespaces), and a merge must keep
every property of theirs. ExifTool reads and writes all of them, and it reads the XMP
embedded in JPEG, HEIC, AVIF, TIFF and RAW files too; pyexiv2 would need a C++ build,
and an XML parser of our own would be one more parser of a format others get wrong.
Kept running, a call costs a pipe round trip, not a Perl start.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import IO, Any

from ..errors import MediaError, UnavailableError

_READY = "{ready}"


def available() -> bool:
    return shutil.which("exiftool") is not None


class ExifTool:
    """One ExifTool process, started at the first call; `close` ends it."""

    def __init__(self) -> None:
        self._proc: subprocess.Popen[str] | None = None
        self._errors: IO[str] | None = None

    def read(self, path: Path, *tags: str) -> dict[str, Any]:
        """The tags (ExifTool's names, e.g. "XMP-mwg-rs:RegionInfo") of the file at
        `path`, structs as dicts; {} where it has none. Raises MediaError if unreadable."""
        out = self._run(["-j", "-struct", "-n", *(f"-{t}" for t in tags), os.fsdecode(path)])
        found = json.loads(out) if out.strip() else [{}]
        values: dict[str, Any] = found[0]
        values.pop("SourceFile", None)
        return values

    def write(self, path: Path, tags: dict[str, Any]) -> None:
        """Set `tags` (ExifTool's names, structs and lists as JSON has them) in the XMP
        file at `path`, in place, keeping every other property; a missing file is made."""
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
            json.dump([{"SourceFile": os.fsdecode(path), **tags}], f)
        try:
            self._run(["-overwrite_original", "-n", f"-json={f.name}", os.fsdecode(path)])
        finally:
            os.unlink(f.name)

    def _run(self, args: list[str]) -> str:
        proc = self._started()
        assert proc.stdin is not None and proc.stdout is not None and self._errors is not None
        self._errors.seek(0)
        self._errors.truncate()
        try:
            proc.stdin.write("\n".join(args) + "\n-execute\n")
            proc.stdin.flush()
            lines = []
            while (line := proc.stdout.readline()) and line.rstrip("\n") != _READY:
                lines.append(line)
        except OSError as e:
            self.close()
            raise UnavailableError(f"exiftool stopped: {e}") from None
        if not line:
            self.close()
            raise UnavailableError("exiftool stopped unexpectedly")
        self._errors.seek(0)
        errors = [e for e in self._errors.read().splitlines() if e.startswith("Error")]
        if errors:
            raise MediaError(f"exiftool: {errors[0]}")
        return "".join(lines)

    def _started(self) -> subprocess.Popen[str]:
        if self._proc is None or self._proc.poll() is not None:
            if not available():
                raise UnavailableError("exiftool is not installed (Debian package libimage-exiftool-perl)")
            self._errors = tempfile.TemporaryFile("w+")
            self._proc = subprocess.Popen(
                ["exiftool", "-stay_open", "True", "-@", "-"],  # -q would silence {ready} too
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._errors, text=True,
                encoding="utf-8", errors="surrogateescape", close_fds=True)
        return self._proc

    def close(self) -> None:
        if self._proc is not None:
            if self._proc.poll() is None and self._proc.stdin is not None:
                try:
                    self._proc.stdin.write("-stay_open\nFalse\n")
                    self._proc.stdin.close()
                    self._proc.wait(5)
                except (OSError, subprocess.TimeoutExpired):
                    self._proc.kill()
                    self._proc.wait()
            self._proc = None
        if self._errors is not None:
            self._errors.close()
            self._errors = None
