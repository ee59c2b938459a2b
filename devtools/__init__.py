"""Helpers shared by the tests, the benchmarks (`bench/`) and the scripts (`scripts/`): a real DeepRead stack on
free ports (`stack`), a fake vLLM server (`fake_vllm`, with `ocr_reader` to really read what it is sent), inputs
rendered from known text (`samples`, `pdfgen`), slow HTTP clients (`slow_clients`), headless Chromium (`browser`) and
the file mailbox (`mailbox`). Not part of the service: nothing under the application packages imports it. Run the
benches and scripts as modules from the repository root (`python -m bench.ocr_accuracy`) so that it is importable."""
