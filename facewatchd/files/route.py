"""Moving files without ever losing or overwriting one.

- Same filesystem: one rename that refuses to replace an existing name
  (renameat2 RENAME_NOREPLACE, or link + unlink where that is unsupported), after
  which the file that arrived is checked to be the one expected (and put back if not).
- Across filesystems: the source is first *claimed*: renamed to a hidden name beside
  it (and that folder fsynced), so a file renamed onto its name while the copy runs is
  never mistaken for it. Then the claim is copied to a hidden temporary file beside the
  target, fsynced, renamed into place (again without replacing), the target's folder
  fsynced, and only then is the claim unlinked and its folder fsynced. The two
  filesystems commit independently, so only this order makes sure a power cut at any
  instant leaves the source (or its claim), the target, or both (then byte-identical);
  `recover` finishes or rolls back from there.

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
from collections.abc import Callable, Container
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


def free_target(directory: Path, name: str, taken: Container[Path] = ()) -> Path:
    """The first of `name`, `stem_1.ext`, `stem_2.ext`... not present in `directory`
    (nor in `taken`: names promised to other files)."""
    candidate = directory / name
    stem, dot, ext = name.rpartition(".") if "." in name.lstrip(".") else (name, "", "")
    n = 0
    while os.path.lexists(candidate) or candidate in taken:
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
        _make_folders(target.parent)
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
            fsync_dir(target.parent)
            fsync_dir(source.parent)
    except (FileExistsError, RouteError):
        raise
    except OSError as e:
        raise RouteError(f"cannot move {source} to {target}: {e.strerror or e}") from None


def rename_unsynced(source: Path, target: Path, expected: Signature) -> None:
    """`move` within one filesystem without its fsyncs, for a group of moves whose caller
    then fsyncs each folder once (`fsync_dir`) before it may call them done. The same
    refusals: FileExistsError, and RouteError with the file back at `source` (or beside
    it); an OSError of errno EXDEV, the file untouched, when `target` is across a mount
    point (a bind mount of the same filesystem too): that one is `move`'s."""
    try:
        if Signature.of(os.lstat(source)) != expected:
            raise RouteError(f"{source} changed while it was being analysed")
        _make_folders(target.parent)
        rename_noreplace(source, target)
        _check_arrived(target, source, expected)
    except FileNotFoundError:
        raise RouteError(f"{source} disappeared before it could be moved") from None
    except (FileExistsError, RouteError):
        raise
    except OSError as e:
        if e.errno == errno.EXDEV:
            raise
        raise RouteError(f"cannot move {source} to {target}: {e.strerror or e}") from None


def same_filesystem(source: Signature, folder: Path) -> bool:
    """Whether a file of `source`'s signature can be renamed into `folder` (made if
    missing, each new folder synced into its parent)."""
    try:
        _make_folders(folder)
        return os.stat(folder).st_dev == source.device
    except OSError:
        return False


def _move_across(source: Path, target: Path, tag: str, expected: Signature,
                 progress: Progress) -> None:
    claim = claim_path(source, tag)
    rename_noreplace(source, claim)
    _check_arrived(claim, source, expected)
    try:
        # The claim on disk before the target can be: else a power cut could leave the
        # file at its source name as well as at the target.
        fsync_dir(source.parent)
        _copy(claim, target, temp_path(target, tag), expected, progress)
        # The target on disk before the claim goes: else a power cut could leave neither.
        fsync_dir(target.parent)
    except BaseException:
        _put_back(claim, source)
        raise
    os.unlink(claim)
    fsync_dir(source.parent)


def _check_arrived(path: Path, source: Path, expected: Signature) -> None:
    if Signature.of(os.lstat(path)) != expected:
        _put_back(path, source)
        raise RouteError(f"{source} changed while it was being analysed")


def _put_back(path: Path, source: Path) -> Path:
    """Return a file to `source`, or to a free name beside it if that name was taken;
    on disk before this returns, as the caller then says the move did not happen (a
    put-back lost to a power cut would leave the file at a name nobody looks at)."""
    while True:
        home = free_target(source.parent, source.name)
        try:
            rename_noreplace(path, home)
        except FileExistsError:
            continue
        fsync_dir(home.parent)
        return home


def link_or_copy(existing: Path, target: Path, tag: str, progress: Progress = _nothing) -> None:
    """Make `target` another name for `existing` (a hard link, or a durable copy);
    never replaces an existing `target` (FileExistsError)."""
    _make_folders(target.parent)
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
    fsync_dir(target.parent)


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
    # Neither way is one step, so another program may rename a file onto `source` or
    # `target` in between: each name is looked at again, and removed or renamed over
    # only while it is still the file this call put or found there. What remains is the
    # instant between that look and the unlink or rename, and on a network filesystem a
    # rename made by another client that this one's cache does not show yet.
    try:
        os.link(source, target)
    except OSError as e:
        if e.errno in (errno.EEXIST, errno.EXDEV):
            raise
        _rename_over_placeholder(source, target)
        return
    if _names(source, os.lstat(target)):  # else another file took the name: not ours
        os.unlink(source)


def _rename_over_placeholder(source: Path, target: Path) -> None:
    """rename_noreplace without hard links (FAT, some network filesystems): reserve the
    name with an exclusive create, then rename over that placeholder of ours. A file that
    existed before the move began can never be replaced this way."""
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    try:
        # Open, so its inode number stays its own (FAT makes them up) while compared.
        placeholder = os.fstat(fd)
        if not _names(target, placeholder):
            raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), str(target))
        try:
            os.rename(source, target)
        except BaseException:
            if _names(target, placeholder):
                os.unlink(target)
            raise
    finally:
        os.close(fd)


def _names(path: Path, st: os.stat_result) -> bool:
    """Whether `path` is (still) a name of the file `st` was taken of."""
    try:
        now = os.lstat(path)
    except FileNotFoundError:
        return False
    return (now.st_dev, now.st_ino) == (st.st_dev, st.st_ino)


def _copy(source: Path, target: Path, temp: Path, expected: Signature, progress: Progress) -> None:
    fd = os.open(source, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        with open(temp, "xb") as dst:
            while chunk := os.read(fd, CHUNK):
                dst.write(chunk)
                progress()
            dst.flush()
            # Mode and times (photo tools date files by them) before the fsync, so they
            # reach the disk with the bytes.
            shutil.copystat(source, temp, follow_symlinks=False)
            os.fsync(dst.fileno())
        if Signature.of(os.fstat(fd)) != expected:
            raise RouteError(f"{source} changed while it was being copied")
        rename_noreplace(temp, target)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    finally:
        os.close(fd)


def _make_folders(folder: Path) -> None:
    """`mkdir -p`, each new folder synced into its parent: a power cut must not take a
    person's new folder away, with the file moved into it, once the source is gone."""
    missing = []
    while not os.path.isdir(folder):
        missing.append(folder)
        folder = folder.parent
    for new in reversed(missing):
        try:
            os.mkdir(new)
        except FileExistsError:
            pass  # made meanwhile
        fsync_dir(new.parent)


def fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def recover(source: Path, target: Path, tag: str, sha256: str) -> bool:
    """Settle a move that was under way when the process died.

    Returns True if the file is now at `target` (the move is finished), False if it
    is not (rolled back: back at `source`, to be sorted again). Never deletes the only
    copy: a claim is unlinked only when the target holds the same bytes, a temporary
    copy only when it is incomplete or its bytes are whole at the claim, the target or
    the source, and nothing at `source` is ever deleted (after a claim, that name may
    hold someone else's file).
    """
    temp, claim = temp_path(target, tag), claim_path(source, tag)
    if file_sha256(target) == sha256:
        temp.unlink(missing_ok=True)
        if os.path.lexists(claim):  # copied across filesystems, claim not yet unlinked
            os.unlink(claim)
            fsync_dir(claim.parent)
        return True
    if os.path.lexists(claim) or file_sha256(temp) != sha256 or file_sha256(source) == sha256:
        temp.unlink(missing_ok=True)
        if os.path.lexists(claim):
            _put_back(claim, source)
        return False
    # The complete copy is the only one: the claim's unlink reached the disk and the
    # rename into place did not (a power cut under an earlier version, which unlinked
    # the claim first, or a disk that does not keep its fsyncs' promises). Finish it.
    try:
        rename_noreplace(temp, target)
    except FileExistsError:
        # Another file has the target's name by now: ours goes beside it, in plain sight,
        # though the move is said not to have happened.
        _put_back(temp, target)
        return False
    fsync_dir(target.parent)
    return True


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
