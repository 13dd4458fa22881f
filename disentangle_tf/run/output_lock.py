"""The lock of an output directory: one command at a time writes to it.

A command that writes a directory (a training run, an ensemble, a comparison of methods)
holds ``DIR/.lock`` for as long as it writes: the file names its process (pid, host and
command) and is locked with ``flock``, which the operating system releases when the
process ends, however it ends. A second command on the same directory is refused while
the first is alive, before it writes anything, ``--overwrite`` or not; a lock file left
by a process that was killed is not locked by anyone and is taken over. On a file system
without ``flock`` the file's pid decides: a lock naming a process that is not alive on
this host is taken over.

Each directory has its own lock: an ensemble's members, written in sub-directories of the
ensemble's, hold their own, and the ensemble's lock does not block them.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import json
import os
import pathlib
import socket
import time
from typing import Iterator

from ..errors import ConfigError
from .writes import EDQUOT, write_error

try:
    import fcntl
except ImportError:  # not a POSIX system: the pid decides
    fcntl = None

#: The lock file inside a locked directory.
LOCK_NAME = ".lock"

#: How long a command waits for a lock that another one is taking or releasing.
_SETTLE_SECONDS = 1.0

#: Descriptors of the lock files this process holds.
_held: set[int] = set()


@dataclasses.dataclass(frozen=True)
class LockHolder:
    """The process a lock file names.

    Attributes:
        pid: its process id (None if the file does not say).
        host: the host it runs on.
        command: what it does (``"training"``, ``"reproduce run"``).
    """

    pid: int | None
    host: str
    command: str

    def describe(self) -> str:
        """``training (pid 123)``, with the host when it is another one."""
        where = f"pid {self.pid}" if self.pid is not None else "pid unknown"
        if self.host and self.host != socket.gethostname():
            where += f" on {self.host}"
        return f"{self.command} ({where})"

    def alive(self) -> bool:
        """Whether the process may be alive: it runs on this host, or on another one
        (which this process cannot tell)."""
        if self.host and self.host != socket.gethostname():
            return True
        if self.pid is None:
            return False
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:  # another user's process
            return True
        except OSError:
            return False
        return True


def _read_holder(fd: int) -> LockHolder | None:
    """The holder written in an open lock file, or None if it is empty or unreadable."""
    try:
        text = os.pread(fd, 4096, 0).decode("utf-8", "replace")
        fields = json.loads(text)
        pid = fields.get("pid")
        return LockHolder(pid=pid if isinstance(pid, int) else None, host=str(fields.get("host", "")),
                          command=str(fields.get("command", "command")))
    except (OSError, ValueError, AttributeError):
        return None


def _ours(path: pathlib.Path) -> bool:
    """Whether this process holds the lock file at ``path``."""
    try:
        status = os.stat(path)
    except OSError:
        return False
    return any(os.path.samestat(os.fstat(fd), status) for fd in _held)


def lock_holder(output_dir: str | os.PathLike) -> LockHolder | None:
    """The live process that holds ``output_dir``'s lock, or None: no lock file, one that
    nobody holds (left by a killed process), or this process's own.

    Args:
        output_dir: a directory (it need not exist).

    Returns:
        The :class:`LockHolder` named by the lock file; its ``pid`` is None if the holder
        has not written it yet.
    """
    path = pathlib.Path(output_dir) / LOCK_NAME
    if _ours(path):
        return None
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        holder = _read_holder(fd)
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                return holder or LockHolder(pid=None, host="", command="command")
            except OSError:
                pass  # no flock here: the pid decides
            else:
                return None
        return holder if holder is not None and holder.alive() else None
    finally:
        os.close(fd)


def busy_message(output_dir: str | os.PathLike, holder: LockHolder) -> str:
    """The one-line refusal of a directory that ``holder`` is writing to."""
    return f"--output-dir {output_dir}: another {holder.describe()} is writing to it"


def check_not_locked(output_dir: str | os.PathLike) -> None:
    """Refuse ``output_dir`` while another live process writes to it; writes nothing.

    Raises:
        ConfigError: ``--output-dir DIR: another training (pid N) is writing to it``.
    """
    holder = lock_holder(output_dir)
    if holder is not None:
        raise ConfigError(busy_message(output_dir, holder))


@contextlib.contextmanager
def hold_output_dir(output_dir: str | os.PathLike | None, command: str = "training") -> Iterator[None]:
    """Hold ``output_dir``'s lock for the block, creating the directory if needed; the
    lock is released (its file removed) when the block ends, by an error or
    KeyboardInterrupt too, and a directory made for it that is still empty is removed.
    ``output_dir`` None holds nothing.

    Args:
        output_dir: the directory the block writes to.
        command: what the block does, as a refused command names it (``training``).

    Raises:
        ConfigError: if another live process holds the lock (:func:`busy_message`), or
            the directory cannot be created or the lock file written.
        WriteError: if the lock file cannot be written for want of room (a full disk, a
            quota); no lock is left.
    """
    if output_dir is None:
        yield
        return
    output_dir = pathlib.Path(output_dir)
    created = not output_dir.exists()
    fd, path = _acquire(output_dir, command)
    _held.add(fd)
    try:
        yield
    finally:
        _held.discard(fd)
        try:
            if os.path.samestat(os.fstat(fd), os.stat(path)):
                os.unlink(path)  # before the lock is released, so that no one takes a removed file
        except OSError:
            pass
        os.close(fd)
        if created:
            with contextlib.suppress(OSError):
                output_dir.rmdir()  # made for the lock and left empty (the block refused to write)


def _acquire(output_dir: pathlib.Path, command: str) -> tuple[int, pathlib.Path]:
    """The open, locked lock file of ``output_dir`` (created), with this process written in it."""
    try:
        output_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ConfigError(f"--output-dir {output_dir}: cannot create ({error.strerror})") from None
    path = output_dir / LOCK_NAME
    if _ours(path):
        raise ConfigError(f"--output-dir {output_dir}: this process is already writing to it")
    deadline = time.monotonic() + _SETTLE_SECONDS
    while True:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as error:
            if error.errno in (errno.ENOSPC, EDQUOT):
                raise write_error(error, path) from None
            raise ConfigError(f"--output-dir {output_dir}: cannot write its lock file {LOCK_NAME} "
                              f"({error.strerror})") from None
        locked = _lock(fd)
        if locked is None:  # no flock on this file system: the pid in the file decides
            holder = _read_holder(fd)
            if holder is not None and holder.alive():
                os.close(fd)
                raise ConfigError(busy_message(output_dir, holder))
            locked = True
        if locked:
            try:
                same = os.path.samestat(os.fstat(fd), os.stat(path))
            except OSError:
                same = False
            if same:  # not a file that its holder removed between our open and our lock
                break
        os.close(fd)
        # Held, or being released: refuse once the holder has said who it is (or after a
        # moment, if it never does); a lock being released is tried again.
        holder = lock_holder(output_dir)
        if holder is not None and (holder.pid is not None or time.monotonic() > deadline):
            raise ConfigError(busy_message(output_dir, holder))
        if time.monotonic() > deadline + 10 * _SETTLE_SECONDS:
            raise ConfigError(f"--output-dir {output_dir}: cannot lock it; another command may be writing to it")
        time.sleep(0.02)
    record = {"pid": os.getpid(), "host": socket.gethostname(), "command": command}
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(record) + "\n").encode(), 0)
    except OSError as error:  # no room for the record: no lock is taken
        with contextlib.suppress(OSError):
            os.unlink(path)
        os.close(fd)
        raise write_error(error, path) or error from None
    return fd, path


def _lock(fd: int) -> bool | None:
    """Lock ``fd`` exclusively: True, False if another process holds it, None without flock."""
    if fcntl is None:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    except OSError:
        return None
    return True
