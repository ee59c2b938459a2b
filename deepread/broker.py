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
Everything else is kombu's own transport.
"""

from __future__ import annotations

import fcntl
import os
import uuid
from time import monotonic

from kombu.exceptions import ChannelError
from kombu.transport import filesystem
from kombu.utils.encoding import bytes_to_str, str_to_bytes
from kombu.utils.json import dumps, loads


class Channel(filesystem.Channel):
    def _put(self, queue, payload, **kwargs):
        name = f"{round(monotonic() * 1000)}_{uuid.uuid4()}.{queue}.msg"
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
    Channel = Channel
