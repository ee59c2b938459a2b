"""The embedded broker under concurrent publishing: every message arrives whole, once. Eight publishers in one
process bind the same queue on a fresh control folder while publishing, so both kombu races are in play: a consumer
taking a half-written message, and a publisher routing by an exchange table another thread has not written yet."""

import threading

from kombu import Connection


def test_concurrent_publishers_never_hand_a_consumer_a_partial_message(tmp_path):
    options = {
        "data_folder_in": str(tmp_path),
        "data_folder_out": str(tmp_path),
        "control_folder": str(tmp_path / "control"),
        "store_processed": False,
    }
    sent = 1600
    received: list[dict] = []
    done = threading.Event()

    def publish(worker: int) -> None:
        with Connection(transport="deepread.broker:Transport", transport_options=options) as conn:
            queue = conn.SimpleQueue("q")
            for n in range(sent // 8):
                queue.put({"worker": worker, "n": n, "pad": "x" * 20_000})
            queue.close()

    def consume() -> None:
        with Connection(transport="deepread.broker:Transport", transport_options=options) as conn:
            queue = conn.SimpleQueue("q")
            while len(received) < sent and not done.is_set():
                try:
                    message = queue.get(timeout=0.2)
                except queue.Empty:
                    continue
                received.append(message.payload)
                message.ack()
            queue.close()

    consumer = threading.Thread(target=consume)
    consumer.start()
    publishers = [threading.Thread(target=publish, args=(w,)) for w in range(8)]
    for thread in publishers:
        thread.start()
    for thread in publishers:
        thread.join()
    consumer.join(timeout=60)
    done.set()
    assert len(received) == sent
    assert len({(m["worker"], m["n"]) for m in received}) == sent
    assert all(len(m["pad"]) == 20_000 for m in received)


CONSUMER = """
import sys, time
from kombu import Connection
options = {"data_folder_in": sys.argv[1], "data_folder_out": sys.argv[1], "control_folder": sys.argv[2]}
with Connection(transport="deepread.broker:Transport", transport_options=options) as conn:
    queue = conn.SimpleQueue("q")
    message = queue.get(timeout=60)  # taken, never acknowledged
    print(message.payload["n"], flush=True)
    time.sleep(600)
"""


def test_a_message_taken_by_a_consumer_that_dies_is_delivered_again(tmp_path):
    """A worker SIGKILLed while it holds a message (acks_late) does not lose it: another consumer gets it back,
    first, and an acknowledged message leaves nothing behind."""
    import os
    import signal
    import subprocess
    import sys

    options = {"data_folder_in": str(tmp_path / "q"), "data_folder_out": str(tmp_path / "q"),
               "control_folder": str(tmp_path / "control")}  # fmt: skip
    (tmp_path / "q").mkdir()
    with Connection(transport="deepread.broker:Transport", transport_options=options) as conn:
        queue = conn.SimpleQueue("q")
        for n in range(3):
            queue.put({"n": n})
        dying = subprocess.Popen(
            [sys.executable, "-c", CONSUMER, options["data_folder_in"], options["control_folder"]],
            stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert dying.stdout.readline().strip() == "0"
        os.kill(dying.pid, signal.SIGKILL)
        dying.wait()
        got = []
        for _ in range(3):
            message = queue.get(timeout=60)
            got.append(message.payload["n"])
            message.ack()
        assert sorted(got) == [0, 1, 2]  # the dead consumer's message(s) too, each once
        queue.put({"n": 3})
        message = queue.get(timeout=60)
        message.reject(requeue=True)
        again = queue.get(timeout=60)
        assert again.payload == {"n": 3}
        again.ack()
        queue.close()
    assert not list((tmp_path / "q").glob("*.msg"))
    assert not list((tmp_path / "control" / "unacked").glob("*/*.msg"))
