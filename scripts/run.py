"""Start DeepRead's processes together (web, worker, scheduler) and stop them all on Ctrl-C.

Used by `make run`. In production these run separately (README, "Deployment").
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from deepread import processes

PY = sys.executable
BIN = os.path.dirname(PY)


def main() -> int:
    port = os.environ.get("PORT", "8000")
    host = os.environ.get("HOST", "127.0.0.1")
    engine = os.environ.get("DEEPREAD_ENGINE", "rapidocr")
    commands = {
        "web": processes.web(BIN, bind=f"{host}:{port}", workers=int(os.environ.get("WEB_CONCURRENCY", "2"))),
        f"worker ({'gpu' if engine == 'vllm' else 'cpu'})": processes.worker(
            BIN, engine=engine, concurrency=processes.worker_concurrency(engine)
        ),
        "scheduler": processes.scheduler(BIN),
    }
    procs = {name: subprocess.Popen(cmd, start_new_session=True) for name, cmd in commands.items()}
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    print(
        f"\nDeepRead is starting on http://{host}:{port}/ (web, worker, scheduler). Ctrl-C stops them all.\n",
        flush=True,
    )
    code = 0
    while not stopping:
        for name, proc in procs.items():
            if proc.poll() is not None:
                print(f"{name} exited with {proc.returncode}; stopping the others.", file=sys.stderr)
                code, stopping = proc.returncode or 1, True
        time.sleep(0.3)
    # Each leader shuts its own children down (Celery's warm shutdown, gunicorn's graceful stop).
    for proc in procs.values():
        if proc.poll() is None:
            proc.terminate()
    deadline = time.time() + 15
    for proc in procs.values():
        try:
            proc.wait(timeout=max(0.1, deadline - time.time()))
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
    print("DeepRead stopped.")
    return code


if __name__ == "__main__":
    raise SystemExit(main())
