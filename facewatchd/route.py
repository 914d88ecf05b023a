"""Moving files without ever losing or overwriting one.

- Same filesystem: one rename that refuses to replace an existing name
  (renameat2 RENAME_NOREPLACE, or link + unlink where that is unsupported).
- Across filesystems: copy to a hidden temporary file beside the target, fsync it,
  rename it into place (again without replacing), fsync the folder, and only then
  unlink the source. A crash at any instant leaves the source, the target, or both
  (then byte-identical); `recover` finishes or rolls back from there.

The caller journals the intent (source, target, hash) before `move` and marks it
done after, so `recover` knows what was under way.
"""

from __future__ import annotations

import ctypes
import errno
import hashlib
import os
import shutil
import stat
from pathlib import Path

from .errors import RouteError
from .report import Signature

NAME_MAX = 255  # bytes, on every filesystem this runs on
_libc = ctypes.CDLL(None, use_errno=True)
_renameat2 = getattr(_libc, "renameat2", None)
_AT_FDCWD = -100
_RENAME_NOREPLACE = 1


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


def move(source: Path, target: Path, tag: str, expected: Signature | None = None) -> None:
    """Move `source` to `target`; never replaces an existing `target`.

    Raises FileExistsError if `target` appeared meanwhile (pick another name),
    RouteError if the file changed since it was analysed or cannot be moved.
    On failure the source is where it was.
    """
    try:
        st = os.lstat(source)
    except FileNotFoundError:
        raise RouteError(f"{source} disappeared before it could be moved") from None
    if not stat.S_ISREG(st.st_mode):
        raise RouteError(f"{source} is no longer a regular file")
    if expected is not None and Signature.of(st) != expected:
        raise RouteError(f"{source} changed while it was being analysed")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            rename_noreplace(source, target)
        except OSError as e:
            if e.errno != errno.EXDEV:
                raise
            _copy_across(source, target, temp_path(target, tag), Signature.of(st))
            os.unlink(source)
        _fsync_dir(target.parent)
        _fsync_dir(source.parent)
    except FileExistsError:
        raise
    except OSError as e:
        raise RouteError(f"cannot move {source} to {target}: {e.strerror or e}") from None


def link_or_copy(existing: Path, target: Path, tag: str) -> None:
    """Make `target` another name for `existing` (a hard link, or a durable copy)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(existing, target)
    except FileExistsError:
        raise
    except OSError as e:
        if e.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP):
            raise RouteError(f"cannot link {existing} to {target}: {e.strerror}") from None
        try:
            _copy_across(existing, target, temp_path(target, tag), Signature.of(os.lstat(existing)))
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
        if os.path.lexists(target):  # no hard links either: the last, racy resort
            raise FileExistsError(errno.EEXIST, "target exists", str(target)) from None
        os.rename(source, target)
        return
    os.unlink(source)


def _copy_across(source: Path, target: Path, temp: Path, expected: Signature) -> None:
    fd = os.open(source, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        with os.fdopen(fd, "rb", closefd=False) as src, open(temp, "xb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
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
    is at `source` (rolled back, to be sorted again). Never deletes the only copy:
    the source is unlinked only when the target holds the same bytes.
    """
    temp_path(target, tag).unlink(missing_ok=True)
    if not os.path.lexists(target):
        return False
    if not os.path.lexists(source):
        return True
    if file_sha256(target) == sha256:  # copied across filesystems, source not yet unlinked
        os.unlink(source)
        return True
    return False  # that name belongs to another file: ours never got there


def identify(path: Path) -> tuple[Signature, str] | None:
    """The signature and content hash of a regular file, never following a link."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            return None
        digest = hashlib.sha256()
        while chunk := os.read(fd, 1 << 20):
            digest.update(chunk)
        return Signature.of(st), digest.hexdigest()
    finally:
        os.close(fd)


def file_sha256(path: Path) -> str:
    """The content hash of a regular file; "" for anything else."""
    identity = identify(path)
    return identity[1] if identity else ""
