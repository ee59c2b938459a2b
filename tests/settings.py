"""Settings for the in-process test run: the project's settings, read with a test environment.

In-process tests use no broker server: tasks enqueued on commit go to kombu's in-memory transport. Real worker
processes on the embedded filesystem broker are started by tests/e2e, each with its own var/ directory.
"""

import os
import tempfile

os.environ["CELERY_BROKER_URL"] = "memory://"
os.environ["DEEPREAD_VAR_DIR"] = tempfile.mkdtemp(prefix="deepread-test-var-")

from deepread.settings import *  # noqa: F403
from deepread.settings import STATIC_ROOT

STATIC_ROOT.mkdir(parents=True, exist_ok=True)
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast factories; production keeps PBKDF2
