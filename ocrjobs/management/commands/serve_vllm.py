"""`manage.py serve_vllm`: run `vllm serve deepseek-ai/DeepSeek-OCR` with the recipe's flags (inference/serve.py)."""

from __future__ import annotations

import os
import shlex

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from inference.serve import MODELS, VllmNotInstalled, pin_for, serve_command, serve_env, vllm_executable


class Command(BaseCommand):
    """`manage.py serve_vllm`: run (or print) the `vllm serve` command for the configured model."""

    help = "Serve DeepSeek-OCR with vLLM (needs `pip install '.[vllm]'` and a GPU). --print shows the command."

    def add_arguments(self, parser):
        """--model, --served-model-name, --host, --port, --max-num-seqs, --gpu-memory-utilization, --print, extra
        flags.
        """
        parser.add_argument(
            "--model",
            default=settings.VLLM_MODEL,
            help=f"one of {', '.join(MODELS)} (default: VLLM_MODEL); a local path is served as it is",
        )
        parser.add_argument("--served-model-name", default=None, help="the name workers ask for (VLLM_MODEL)")
        parser.add_argument("--host", default="0.0.0.0")  # noqa: S104
        parser.add_argument("--port", type=int, default=8001)
        parser.add_argument("--max-num-seqs", type=int, default=None, help="vLLM's batch size (its default: 256)")
        parser.add_argument("--gpu-memory-utilization", type=float, default=None)
        parser.add_argument("--print", action="store_true", help="print the command instead of running it")
        parser.add_argument("extra", nargs="*", help="more flags passed to `vllm serve` as they are")

    def handle(self, *args, **options):
        """Replace this process with `vllm serve` (or print the command); CommandError when vLLM is not installed."""
        try:
            executable = "vllm" if options["print"] else vllm_executable()
        except VllmNotInstalled as exc:
            raise CommandError(str(exc)) from exc
        command = serve_command(
            model=options["model"],
            host=options["host"],
            port=options["port"],
            max_num_seqs=options["max_num_seqs"],
            gpu_memory_utilization=options["gpu_memory_utilization"],
            served_model_name=options["served_model_name"],
            executable=executable,
            extra=options["extra"],
        )
        env = serve_env(options["model"])
        runner = " ".join(f"{k}={env[k]}" for k in ("VLLM_USE_V2_MODEL_RUNNER",))
        if options["print"]:
            self.stdout.write(f"{runner} {shlex.join(command)}")
            return
        self.stderr.write(
            f"Starting ({pin_for(options['model'])} is the tested release): {runner} {shlex.join(command)}"
        )
        os.execve(command[0], command, env)  # noqa: S606 - replaces this process, as a service manager expects
