import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "deepread.settings")

app = Celery("deepread")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
