"""Moving files without ever losing or overwriting one.

- Same filesystem: one rename that refuses to replace an existing name
  (renameat2 RENAME_NOREPLACE, or link + unlink where that is unsupported), after
  which the file that arrived is checked to be the one expected (and put back if not).
- Across filesystems: the source is first *claimed*: renamed to a hidden name beside
  it, so a file renamed onto its name while the copy runs is never mistaken for it.
  Then the claim is copied to a hidden temporary file beside the target, fsynced,
  renamed into place (again without replacing), the folder fsynced, and only then is
  the claim unlinked. A crash at any instant leaves the source (or its claim), the
  target, or both (then byte-identical); `recover` finishes or rolls back from there.

The caller journals the intent (source, target, hash) before `move` and marks it
done after, so `recover` knows what was under way; the hidden names are derived from
the journal's tag, so recovery finds them.

Long copies and hashes call `progress()` between 1 MiB chunks, so the daemon can tell
its watchdog that it is working, not hung.
"""

from __future__ import annotations

import ctypes
import errno
import hashlib
import os
import shutil
import stat
from collections.abc import Callable
from pathlib import Path

from ..engine.report import Signature
from ..errors import RouteError

NAME_MAX = 255  # bytes, on every filesystem this runs on
CHUNK = 1 << 20
_libc = ctypes.CDLL(None, use_errno=True)
_renameat2 = getattr(_libc, "renameat2", None)
_AT_FDCWD = -100
_RENAME_NOREPLACE = 1

Progress = Callable[[], None]


def _nothing() -> None:
    pass


def free_target(directory: Path, name: str) -> Path:
    """The first of `name`, `stem_1.ext`, `stem_2.ext`... not present in `directory`."""
    candidate = directory / name
    stem, dot, ext = name.rpartition(".") if "." in name.lstrip(".") else (name, "", "")
    n = 0
    while os.path.lexists(candidate):
        n += 1
        suffix = f"_{n}{dot}{ext}"
        room = NAME_MAX - len(os.fsencode(suffix))
        trimmed = os.fsdecode(os.fsencode(stem)[:room]) if len(os.fsencode(stem)) > room else stem
        candidate = directory / f"{trimmed}{suffix}"
    return candidate


def temp_path(target: Path, tag: str) -> Path:
    """Where the copy for `target` is written before it is renamed into place."""
    return target.parent / f".facewatchd-{tag}.tmp"


def claim_path(source: Path, tag: str) -> Path:
    """The hidden name a source is renamed to while it is copied to another filesystem."""
    return source.parent / f".facewatchd-{tag}.claim"


def move(source: Path, target: Path, tag: str, expected: Signature | None = None,
         progress: Progress = _nothing) -> None:
    """Move `source` to `target`; never replaces an existing `target`, and never removes
    a file but the one it moved.

    Raises FileExistsError if `target` appeared meanwhile (pick another name),
    RouteError if the file changed since it was analysed or cannot be moved.
    On failure the file is back at `source` (or, if its name was taken meanwhile, at
    a free name beside it).
    """
    try:
        st = os.lstat(source)
    except FileNotFoundError:
        raise RouteError(f"{source} disappeared before it could be moved") from None
    if not stat.S_ISREG(st.st_mode):
        raise RouteError(f"{source} is no longer a regular file")
    expected = expected or Signature.of(st)
    if Signature.of(st) != expected:
        raise RouteError(f"{source} changed while it was being analysed")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            rename_noreplace(source, target)
        except OSError as e:
            if e.errno != errno.EXDEV:
                raise
            _move_across(source, target, tag, expected, progress)
        else:
            # Whatever was at `source` when the rename ran is what moved: make sure it
            # is the file that was analysed.
            _check_arrived(target, source, expected)
        _fsync_dir(target.parent)
        _fsync_dir(source.parent)
    except (FileExistsError, RouteError):
        raise
    except OSError as e:
        raise RouteError(f"cannot move {source} to {target}: {e.strerror or e}") from None


def _move_across(source: Path, target: Path, tag: str, expected: Signature,
                 progress: Progress) -> None:
    claim = claim_path(source, tag)
    rename_noreplace(source, claim)
    _check_arrived(claim, source, expected)
    try:
        _copy(claim, target, temp_path(target, tag), expected, progress)
    except BaseException:
        _put_back(claim, source)
        raise
    os.unlink(claim)


def _check_arrived(path: Path, source: Path, expected: Signature) -> None:
    if Signature.of(os.lstat(path)) != expected:
        _put_back(path, source)
        raise RouteError(f"{source} changed while it was being analysed")


def _put_back(path: Path, source: Path) -> Path:
    """Return a file to `source`, or to a free name beside it if that name was taken."""
    while True:
        home = free_target(source.parent, source.name)
        try:
            rename_noreplace(path, home)
            return home
        except FileExistsError:
            continue


def link_or_copy(existing: Path, target: Path, tag: str, progress: Progress = _nothing) -> None:
    """Make `target` another name for `existing` (a hard link, or a durable copy);
    never replaces an existing `target` (FileExistsError)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(existing, target)
    except FileExistsError:
        raise
    except OSError as e:
        if e.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP):
            raise RouteError(f"cannot link {existing} to {target}: {e.strerror}") from None
        try:
            _copy(existing, target, temp_path(target, tag), Signature.of(os.lstat(existing)), progress)
        except OSError as e:
            if isinstance(e, FileExistsError):
                raise
            raise RouteError(f"cannot copy {existing} to {target}: {e.strerror or e}") from None
    _fsync_dir(target.parent)


def rename_noreplace(source: Path, target: Path) -> None:
    """rename(2) that fails with FileExistsError instead of replacing `target`."""
    if _renameat2 is not None:
        if _renameat2(_AT_FDCWD, os.fsencode(source), _AT_FDCWD, os.fsencode(target),
                      _RENAME_NOREPLACE) == 0:
            return
        err = ctypes.get_errno()
        if err not in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP):
            raise OSError(err, os.strerror(err), str(source), None, str(target))
    # No RENAME_NOREPLACE on this filesystem: link() refuses to replace as well.
    try:
        os.link(source, target)
    except OSError as e:
        if e.errno in (errno.EEXIST, errno.EXDEV):
            raise
        # No hard links either (FAT, some network filesystems): reserve the name with an
        # exclusive create, then rename over that placeholder of ours. A file that
        # existed before the move began can never be replaced this way.
        os.close(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600))
        try:
            os.rename(source, target)
        except BaseException:
            os.unlink(target)
            raise
        return
    os.unlink(source)


def _copy(source: Path, target: Path, temp: Path, expected: Signature, progress: Progress) -> None:
    fd = os.open(source, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        with open(temp, "xb") as dst:
            while chunk := os.read(fd, CHUNK):
                dst.write(chunk)
                progress()
            dst.flush()
            os.fsync(dst.fileno())
        if Signature.of(os.fstat(fd)) != expected:
            raise RouteError(f"{source} changed while it was being copied")
        shutil.copystat(source, temp, follow_symlinks=False)  # keep mode and times
        rename_noreplace(temp, target)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    finally:
        os.close(fd)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def recover(source: Path, target: Path, tag: str, sha256: str) -> bool:
    """Settle a move that was under way when the process died.

    Returns True if the file is now at `target` (the move is finished), False if it
    is back at `source` (rolled back, to be sorted again). Never deletes the only copy:
    a claim is unlinked only when the target holds the same bytes, and nothing at
    `source` is ever deleted (after a claim, that name may hold someone else's file).
    """
    temp_path(target, tag).unlink(missing_ok=True)
    claim = claim_path(source, tag)
    if os.path.lexists(target) and file_sha256(target) == sha256:
        if os.path.lexists(claim):  # copied across filesystems, claim not yet unlinked
            os.unlink(claim)
        return True
    if os.path.lexists(claim):
        _put_back(claim, source)
    return False


def identify(path: Path, progress: Progress = _nothing) -> tuple[Signature, str] | None:
    """The signature and content hash of a regular file, never following a link."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            return None
        return Signature.of(st), hash_fd(fd, progress)
    finally:
        os.close(fd)


def hash_fd(fd: int, progress: Progress = _nothing) -> str:
    """The SHA-256 of an open file's content; the descriptor is left at its start."""
    digest = hashlib.sha256()
    os.lseek(fd, 0, os.SEEK_SET)
    while chunk := os.read(fd, CHUNK):
        digest.update(chunk)
        progress()
    os.lseek(fd, 0, os.SEEK_SET)
    return digest.hexdigest()


def file_sha256(path: Path, progress: Progress = _nothing) -> str:
    """The content hash of a regular file; "" for anything else."""
    identity = identify(path, progress)
    return identity[1] if identity else ""
