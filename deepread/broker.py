"""kombu's `filesystem://` transport with atomic publishing.

kombu writes a message file in place (open, lock, write), while a consumer moves any `.msg` file it lists
without taking the lock; under load a consumer can take a file that is still empty and crash on decoding it.
Here a message is written to a staging folder first and renamed into the queue folder, which is atomic on one
file system, so a consumer only ever sees whole messages. Everything else is kombu's own transport.
"""

from __future__ import annotations

import os
import uuid
from time import monotonic

from kombu.exceptions import ChannelError
from kombu.transport import filesystem
from kombu.utils.encoding import str_to_bytes
from kombu.utils.json import dumps


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


class Transport(filesystem.Transport):
    Channel = Channel
