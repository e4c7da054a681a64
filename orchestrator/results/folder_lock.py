"""One driver per folder: the lock a command holds while it drives an experiment or an
annotation project (`run`, `resume`, `propose`, ...).

    from orchestrator.results.folder_lock import driver_lock
    with driver_lock(folder_path, "propose", log=print):
        ...  # nobody else drives the folder meanwhile

The lock is `DIR/.scaf-al.lock`, held with POSIX `flock` by the driver process only (the
descriptor is not inherited by the processes it starts: Ray workers, the warm-up child).
The file also says who holds it (pid, host, command, start time), so a second driver is
refused with one line naming the holder. The kernel (or the NFS lock manager) drops the
lock when its process dies, so a lock left by a killed driver is free to take; the new
holder says it took it over (the killed driver's note is still in the file). On a file
system without `flock` the note alone decides: a holder on this host whose pid is gone is
stale and taken over; one on another host is refused (remove the file if it is gone).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import socket
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

LOCK_FILE = ".scaf-al.lock"


class FolderBusyError(RuntimeError):
    """Another driver holds the folder's lock (the message names it)."""


@dataclass(frozen=True)
class LockHolder:
    """Who holds (or held) a folder's lock."""

    pid: int
    host: str
    command: str
    started: str

    def describe(self) -> str:
        return (f"`scaf-al {self.command}` (pid {self.pid} on {self.host}, "
                f"started {self.started})")

    def alive_here(self) -> bool:
        """True when this host runs a process with the holder's pid (False elsewhere)."""
        if self.host != socket.gethostname():
            return False
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True


def _read_holder(fd: int) -> LockHolder | None:
    os.lseek(fd, 0, os.SEEK_SET)
    raw = os.read(fd, 4096)
    try:
        doc = json.loads(raw.decode("utf-8"))
        return LockHolder(int(doc["pid"]), str(doc["host"]), str(doc["command"]),
                          str(doc["started"]))
    except (ValueError, KeyError, TypeError):
        return None  # empty (released cleanly) or not ours


def _write_holder(fd: int, holder: LockHolder) -> None:
    os.ftruncate(fd, 0)
    os.lseek(fd, 0, os.SEEK_SET)
    os.write(fd, (json.dumps(asdict(holder)) + "\n").encode("utf-8"))
    os.fsync(fd)


def _busy(lock: Path, holder: LockHolder | None, hint: str = "") -> FolderBusyError:
    who = holder.describe() if holder else "another scaf-al process"
    return FolderBusyError(f"{lock.parent} is in use by {who}; wait for it to finish or stop "
                           f"it{hint}")


def _acquire(lock: Path) -> tuple[int, LockHolder | None]:
    """Open and lock `lock`: (descriptor, the note of a previous holder that did not release,
    i.e. a stale lock now taken over)."""
    while True:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder(fd)
            os.close(fd)
            raise _busy(lock, holder) from None
        except OSError as e:
            if e.errno not in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS):
                os.close(fd)
                raise
            holder = _read_holder(fd)  # no flock here: the note alone decides
            if holder is not None and (holder.alive_here()
                                       or holder.host != socket.gethostname()):
                os.close(fd)
                raise _busy(lock, holder, f" (or remove {lock} if it is gone)") from None
            return fd, holder
        # The file may have been removed and re-created while we waited: lock the live one.
        try:
            if os.fstat(fd).st_ino == os.stat(lock).st_ino:
                return fd, _read_holder(fd)
        except FileNotFoundError:
            pass
        os.close(fd)


@contextlib.contextmanager
def driver_lock(folder: str | os.PathLike, command: str,
                log: Callable[[str], object] | None = None) -> Iterator[LockHolder]:
    """Hold `folder`'s driver lock for the `with` block (the folder is created if missing,
    and removed again when the block leaves nothing else in it).

    Args:
        folder: the experiment or project folder.
        command: what drives it ("run", "resume", "propose", ...), named to a second driver.
        log: told when a stale lock of a killed driver is taken over.

    Yields:
        This process's note in the lock file.

    Raises:
        FolderBusyError: another live process holds the lock (one line naming it).
        NotADirectoryError: `folder` is a file.
    """
    path = Path(folder)
    if path.exists() and not path.is_dir():
        raise NotADirectoryError(f"{path} is a file, not a folder; nothing was started")
    created = not path.exists()
    path.mkdir(parents=True, exist_ok=True)
    lock = path / LOCK_FILE
    fd, stale = _acquire(lock)
    try:
        if stale is not None and log is not None:
            log(f"took over the lock of {stale.describe()}, which stopped without "
                "releasing it")
        me = LockHolder(os.getpid(), socket.gethostname(), command,
                        datetime.now(UTC).isoformat(timespec="seconds"))
        _write_holder(fd, me)
        yield me
    finally:
        os.ftruncate(fd, 0)  # released cleanly: an empty file is no one's lock
        if created and [p.name for p in path.iterdir()] == [LOCK_FILE]:
            lock.unlink()
            with contextlib.suppress(OSError):
                path.rmdir()
        os.close(fd)  # closing drops the flock
