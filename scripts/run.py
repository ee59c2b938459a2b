"""Start DeepRead's processes together (web, worker, scheduler), restart one that dies, and stop them all on Ctrl-C.

Used by `make run` (`python -m scripts.run` from the repository root). In production these run separately
(README, "Deployment").
"""

from __future__ import annotations

import os
import sys

from deepread import processes
from deepread.supervisor import Supervisor

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
    supervisor = Supervisor(commands, stop_timeout_s=float(os.environ.get("DEEPREAD_STOP_TIMEOUT_S", "15")))
    supervisor.install_signals()
    print(
        f"\nDeepRead is starting on http://{host}:{port}/ (web, worker, scheduler). A process that dies is restarted; "
        "Ctrl-C stops them all (running jobs are handed back to the queue).\n",
        flush=True,
    )
    code = supervisor.run()
    print("DeepRead stopped.")
    return code


if __name__ == "__main__":
    raise SystemExit(main())
