"""Environment for the test run, set before Django's settings are read."""

import os
import tempfile

# In-process tests use no broker server: tasks enqueued on commit go to kombu's in-memory transport. Real worker
# processes, on the embedded filesystem broker, are started by the end-to-end tests, each with its own var/.
os.environ["CELERY_BROKER_URL"] = "memory://"
os.environ["DEEPREAD_VAR_DIR"] = tempfile.mkdtemp(prefix="deepread-test-var-")
