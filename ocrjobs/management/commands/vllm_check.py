"""`manage.py vllm_check`: ask each configured vLLM server for its version and probe its n-gram guard, as a gpu
worker does at start; exit 1 (with the reason) when a server would be refused."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from inference.registry import get_engine
from ocr import runtime


class Command(BaseCommand):
    """`manage.py vllm_check`: exit 1 unless the vLLM servers' repetition guard works."""

    help = "Check that the vLLM server(s) in VLLM_BASE_URLS run a release and setup whose repetition guard works."

    def handle(self, *args, **options):
        """Ask the vLLM server whether the n-gram repetition guard is active; CommandError (exit 1) when it is not."""
        engine = get_engine("vllm", **runtime.vllm_engine_options())
        verdict = engine.check_guard()
        if not verdict.ok:
            raise CommandError(verdict.message)
        self.stdout.write(verdict.message)
