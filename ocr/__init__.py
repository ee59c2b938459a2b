"""Recognition now: the engine runtime of a process, admission control, and the synchronous `/v1/ocr` API."""
