"""Sending the jobs app's Celery tasks by name.

Services, leases and webhooks enqueue work through these functions and never import `ocrjobs.tasks`, which imports
them: the dependency points one way (tasks → services). Celery applies the same routes (CELERY_TASK_ROUTES: the
job queue) to a task sent by name as to `.delay()`. Call them inside `transaction.on_commit` where the row that the
task reads is written in the same transaction.
"""

from __future__ import annotations

from celery import current_app

JOB_PROCESS = "ocrjobs.tasks.job_process"
JOB_PAGE_PROCESS = "ocrjobs.tasks.job_page_process"
WEBHOOK_DELIVER = "ocrjobs.tasks.webhook_deliver"
JOB_IMAGES_DRAW = "ocrjobs.tasks.job_images_draw"


def job_process_send(job_id: str) -> None:
    """Enqueue `job_process(job_id)`: run (or resume) one job."""
    current_app.send_task(JOB_PROCESS, args=[job_id])


def job_page_process_send(job_id: str, page: int) -> None:
    """Enqueue `job_page_process(job_id, page)`: recognise one page (1-based) of a fanned-out job."""
    current_app.send_task(JOB_PAGE_PROCESS, args=[job_id, page])


def webhook_deliver_send(delivery_id: int, *, countdown: float | None = None) -> None:
    """Enqueue `webhook_deliver(delivery_id)`, after `countdown` seconds if given."""
    current_app.send_task(WEBHOOK_DELIVER, args=[delivery_id], countdown=countdown)


def job_images_draw_send(job_id: str) -> None:
    """Enqueue `job_images_draw(job_id)`: draw a completed job's missing page images and annotated images."""
    current_app.send_task(JOB_IMAGES_DRAW, args=[job_id])
