"""DeepRead settings: one place, read from the environment with embedded defaults (core/env.py's readers).

With nothing set, DeepRead runs fully embedded: SQLite (WAL) under var/, kombu's filesystem broker under var/,
local file storage under var/ and the RapidOCR CPU engine. Production changes only environment variables:
DATABASE_URL, CELERY_BROKER_URL, REDIS_URL, DEEPREAD_STORAGE=s3 with the AWS_* variables, DEEPREAD_ENGINE=vllm.

Each concern's settings live in a module of deepread/settings_parts/, composed here (as Zulip's
zproject/settings.py composes its parts). A part that needs another's value imports it by name; every setting has
one home, so look it up there:

- base: paths (BASE_DIR, VAR_DIR), secret key, hosts, HTTPS, apps, middleware, templates, static files, logging
- database: DATABASE_URL and the cache (REDIS_URL)
- accounts: the user model, passwords, log-in throttling, e-mail, the trial
- storage: local files or S3, signed URLs, the S3 upload sweep
- engine: DEEPREAD_ENGINE, the vLLM client, page shortcuts, document limits (pixels, PDF pages, DPI)
- ocr: the synchronous OCR API (/v1/ocr): model names, admission
- limits: request bodies, uploads, fetching image URLs, burst limits
- jobs: leases, retries, sweeps, cancellation, idempotency, webhooks, event streams
- celery: broker, queues, time limits, worker concurrency, the beat schedule
- api: DRF and drf-spectacular
"""

from deepread.settings_parts.accounts import *  # noqa: F403
from deepread.settings_parts.api import *  # noqa: F403
from deepread.settings_parts.base import *  # noqa: F403
from deepread.settings_parts.celery import *  # noqa: F403
from deepread.settings_parts.database import *  # noqa: F403
from deepread.settings_parts.engine import *  # noqa: F403
from deepread.settings_parts.jobs import *  # noqa: F403
from deepread.settings_parts.limits import *  # noqa: F403
from deepread.settings_parts.ocr import *  # noqa: F403
from deepread.settings_parts.storage import *  # noqa: F403
