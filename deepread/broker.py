"""kombu's `filesystem://` transport with atomic publishing and atomic exchange tables.

kombu writes a message file in place (open, lock, write), while a consumer moves any `.msg` file it lists
without taking the lock; under load a consumer can take a file that is still empty and crash on decoding it.
Here a message is written to a staging folder first and renamed into the queue folder, which is atomic on one
file system, so a consumer only ever sees whole messages.

The exchange tables (which queue an exchange routes to) have the same flaw: kombu creates the table file with
`open("wb")`, which empties it before the lock is taken, so a publisher reading it then fails to decode it, and two
processes binding at once can each write a table without the other's queue, after which that queue's messages
are routed nowhere. Here a binding is added under an exclusive lock on a separate lock file, written to a
temporary file and renamed over the table, so a reader always sees a whole table with every binding made so far.

kombu's transport also forgets a message the moment a worker takes it: a worker killed before it acknowledged the
message (acks_late) lost it for good, and its job waited for the sweep. Here a taken message is moved into the
taking process's own `control/unacked/<id>/` folder and deleted only when acknowledged (or put back when rejected). Each
process holds an exclusive `flock` on its folder's lock file for as long as it lives; the kernel releases it when
the process dies, however it dies, and any other consumer that finds the lock free (it looks every
`UNACKED_SCAN_S` seconds) moves the dead one's messages back into the queue, under their original names, so they
are delivered again first. Everything else is kombu's own transport.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import uuid
from pathlib import Path
from queue import Empty
from time import monotonic, monotonic_ns

from kombu.exceptions import ChannelError
from kombu.transport import filesystem
from kombu.utils.encoding import bytes_to_str, str_to_bytes
from kombu.utils.json import dumps, loads

UNACKED_SCAN_S = 2.0


class Channel(filesystem.Channel):
    """Kombu filesystem channel that keeps unacknowledged messages on disk, so a dead worker's tasks are redelivered."""

    _unacked: tuple[int, Path, object] | None = None  # (pid, this process's folder, its locked file)
    _unacked_files: dict[str, Path]
    _last_scan = 0.0

    def _unacked_root(self) -> Path:
        return Path(self.transport_options.get("unacked_folder") or Path(self.control_folder) / "unacked")

    def _my_unacked(self) -> Path:
        """This process's folder of taken, unacknowledged messages, created and locked on first use (again in a
        forked child: a lock belongs to the process that took it)."""
        if self._unacked is None or self._unacked[0] != os.getpid():
            root = self._unacked_root()
            folder = root / f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
            folder.mkdir(parents=True, exist_ok=True)
            lock = open(root / f"{folder.name}.lock", "a")  # noqa: SIM115 - held open for the process's lifetime
            fcntl.flock(lock, fcntl.LOCK_EX)
            self._unacked, self._unacked_files = (os.getpid(), folder, lock), {}
        return self._unacked[1]

    def _recover_dead_consumers(self) -> None:
        """Put back the messages of consumers that died holding them (their lock file is free)."""
        self._last_scan = monotonic()
        root, mine = self._unacked_root(), self._my_unacked()
        for lock_path in root.glob("*.lock"):
            folder = lock_path.with_suffix("")
            if folder == mine:
                continue
            try:
                with open(lock_path, "a") as lock:
                    fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)  # held: its owner lives
                    for message in sorted(folder.glob("*.msg")) if folder.is_dir() else []:
                        os.replace(message, Path(self.data_folder_in) / message.name)
                    shutil.rmtree(folder, ignore_errors=True)
                    lock_path.unlink()
            except BlockingIOError:
                continue
            except OSError:  # another consumer is recovering it at the same moment
                continue

    def _get(self, queue):
        """Take the oldest message of `queue` into this process's unacked folder (atomic rename: one taker)."""
        folder = self._my_unacked()
        if monotonic() - self._last_scan > UNACKED_SCAN_S:
            self._recover_dead_consumers()
        wanted = f"{queue}.msg"
        for filename in sorted(os.listdir(self.data_folder_in)):
            if filename.partition(".")[2] != wanted:
                continue
            taken = folder / filename
            try:
                os.replace(os.path.join(self.data_folder_in, filename), taken)
            except OSError:  # another consumer took it
                continue
            try:
                payload = loads(bytes_to_str(taken.read_bytes()))
            except OSError as exc:
                raise ChannelError(f"Cannot read file {filename!r} from queue.") from exc
            tag = payload.get("properties", {}).get("delivery_tag")
            if tag:
                self._unacked_files[tag] = taken
            else:
                taken.unlink()
            return payload
        raise Empty()

    def _forget(self, delivery_tag) -> None:
        path = self._unacked_files.pop(delivery_tag, None) if self._unacked else None
        if path is not None:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()

    def basic_ack(self, delivery_tag, multiple=False):
        """Acknowledge and forget the delivery's bookkeeping entry."""
        super().basic_ack(delivery_tag, multiple=multiple)
        self._forget(delivery_tag)

    def _restore(self, message):
        """A rejected (requeue) or restored message is published again by kombu; its taken copy goes."""
        super()._restore(message)
        self._forget(message.delivery_tag)

    def basic_reject(self, delivery_tag, requeue=False):
        """Reject (optionally requeue) and forget the delivery's bookkeeping entry."""
        super().basic_reject(delivery_tag, requeue=requeue)
        self._forget(delivery_tag)

    def _put(self, queue, payload, **kwargs):
        # Nanoseconds, zero-padded: the names sort in the order they were published, even several in one millisecond
        # (which kombu's milliseconds left to the random part) and however many digits the clock has grown to.
        name = f"{monotonic_ns():020d}_{uuid.uuid4()}.{queue}.msg"
        staging = os.path.join(self.data_folder_out, ".staging")
        try:
            os.makedirs(staging, exist_ok=True)
            temporary = os.path.join(staging, name)
            with open(temporary, "wb") as fh:
                fh.write(str_to_bytes(dumps(payload)))
            os.replace(temporary, os.path.join(self.data_folder_out, name))
        except OSError as exc:
            raise ChannelError(f"Cannot add message {name!r} to the queue folder") from exc

    def get_table(self, exchange):
        """Queues bound to `exchange`, read from its file; [] when there is none.

        Raises ChannelError when the file exists but cannot be read.
        """
        file = self._exchange_file(exchange)
        try:
            text = file.read_bytes()
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise ChannelError(f"Cannot open {file}") from exc
        return [filesystem.exchange_queue_t(*q) for q in loads(bytes_to_str(text))]

    def queue_bind(self, queue, exchange=None, routing_key="", arguments=None, **kwargs):
        """kombu records a binding in the process's memory before writing it to the table, and skips the write when
        memory says it is done: another thread of the same process could then publish while the table is still
        being written and have its message routed nowhere. The table on disk is brought up to date first, always
        (a binding already there costs one locked read)."""
        exchange = exchange or "amq.direct"
        meta = self.typeof(exchange).prepare_bind(queue, exchange, routing_key, arguments)
        self._queue_bind(exchange, *meta)
        super().queue_bind(queue, exchange, routing_key, arguments, **kwargs)

    def _queue_bind(self, exchange, routing_key, pattern, queue):
        file = self._exchange_file(exchange)
        binding = filesystem.exchange_queue_t(routing_key or "", pattern or "", queue or "")
        try:
            self.control_folder.mkdir(parents=True, exist_ok=True)
            with open(file.with_name(f".{file.name}.lock"), "a") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                table = self.get_table(exchange)
                if binding in table:
                    return
                temporary = file.with_name(f".{file.name}.{uuid.uuid4().hex}")
                temporary.write_bytes(str_to_bytes(dumps([binding, *table])))
                os.replace(temporary, file)
        except OSError as exc:
            raise ChannelError(f"Cannot bind {queue!r} in {file}") from exc


class Transport(filesystem.Transport):
    """Kombu filesystem transport using the redelivering Channel."""

    Channel = Channel
