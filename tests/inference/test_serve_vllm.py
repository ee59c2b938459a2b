import shlex

import pytest
from django.core.management import CommandError, call_command

from inference.serve import LOGITS_PROCESSOR


def test_the_serve_command_has_the_recipe_flags(capsys):
    call_command("serve_vllm", "--print", "--port", "8011", "--max-num-seqs", "128")
    runner, *command = shlex.split(capsys.readouterr().out)
    assert runner == "VLLM_USE_V2_MODEL_RUNNER=0"
    assert command[:3] == ["vllm", "serve", "deepseek-ai/DeepSeek-OCR"]
    assert command[command.index("--logits_processors") + 1] == LOGITS_PROCESSOR
    assert LOGITS_PROCESSOR == "vllm.model_executor.models.deepseek_ocr:NGramPerReqLogitsProcessor"
    assert "--no-enable-prefix-caching" in command
    assert command[command.index("--mm-processor-cache-gb") + 1] == "0"
    assert command[command.index("--port") + 1] == "8011"
    assert command[command.index("--max-num-seqs") + 1] == "128"


def test_without_vllm_installed_it_says_how_to_install_it(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(CommandError, match=r"pip install '\.\[vllm\]'"):
        call_command("serve_vllm")
