"""The synchronous OCR service behind `POST /v1/ocr` (API.md §2).

The caller waits, so the call is not a job; where its engine work runs depends on the engine:
- with vLLM the call is I/O (an HTTP request to the GPU server): it runs on the request's thread (waiting holds no
  CPU), and skipping the broker saves its round trip (9–95 ms on the embedded filesystem broker);
- with the CPU engine, OCR is CPU work: it runs in engine processes owned by this web process
  (`inference.procpool`), never on the threads or under the GIL that serve pages.
Admission (`ocr.admission`): `DEEPREAD_SYNC_CONCURRENCY` calls run at once per web process, a short bounded
queue waits, and anything beyond is refused at once with 503 `engine_unavailable` and Retry-After (under ASGI,
before the request gets a thread). The engine is loaded in the background when the web process starts
(`warm_in_background`); until it is ready, calls get 503 with Retry-After rather than waiting behind the load.

Order of work: every check on the request and the image first, then a slot, then one request of the quota (with a
hold, `accounts.quota_holds`), then the engine. An engine failure, or an engine process that dies, gives the request
back at once; a web process that dies mid-call leaves the hold, which the scheduler's sweep refunds. Refused input
spends nothing.
"""

from __future__ import annotations

import base64
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.models import User
from accounts.quota import QuotaStatus
from accounts.quota_holds import quota_hold_create, quota_hold_release
from accounts.services import quota_consume, quota_require
from core.errors import InvalidInput, NotFound, ServiceUnavailable, TooLarge
from inference.annotate import annotate_png
from inference.base import Engine, EngineError, ModeSpec, PageResult, Usage
from inference.documents import DocumentInfo, InputError, PageImage
from inference.oneshot import recognize_pages
from inference.procpool import EngineProcessPool
from inference.registry import get_engine
from ocr.admission import engine_gate
from ocr.engine_errors import from_engine_error, inspect_upload
from ocr.inputs import (  # re-exported: callers name them through ocr.services
    OcrRequest,
    inspect_input,
    load_image_bytes,
    servable_mode,
)
from ocr.pages import parse_pages, select_pages
from ocr.runtime import check_mode_servable, engine_options

logger = logging.getLogger(__name__)


PageCallback = Callable[[PageImage, PageResult], None]


@dataclass(frozen=True)
class OcrOutcome:
    """A synchronous OCR answer: the response body and the quota after spending its request."""

    body: dict[str, Any]
    quota: QuotaStatus


SEED_MODEL = "deepseek-ocr"  # the name every documented client sends


# --- models -----------------------------------------------------------------------------------------------------
def served_model() -> str:
    """What really runs, named without loading it."""
    if settings.DEEPREAD_ENGINE == "vllm":
        return settings.VLLM_MODEL
    from inference.rapid import MODEL_NAME

    return MODEL_NAME


def model_aliases() -> dict[str, str]:
    """Other names clients may send, each mapped to the served model.

    `deepseek-ocr`, the name every documented client sends, resolves to the engine that serves, whichever it is
    (the answer's `model` still names what ran), unless DEEPREAD_MODEL_STRICT is set: then a CPU-only server
    answers only to its own name and to the names the operator lists in DEEPREAD_MODEL_ALIASES.
    """
    served = served_model()
    aliases = {}
    if settings.DEEPREAD_ENGINE == "vllm" or not settings.DEEPREAD_MODEL_STRICT:
        aliases[SEED_MODEL] = served
    for alias in settings.DEEPREAD_MODEL_ALIASES:
        aliases[alias] = served
    aliases.pop(served, None)
    return aliases


def model_list() -> list[dict[str, Any]]:
    """The /v1/models list: the served model and its aliases, `created` being the server's start (Unix seconds)."""
    created = int(settings.DEEPREAD_STARTED_AT)
    names = [served_model(), *model_aliases()]
    return [{"id": name, "object": "model", "created": created, "owned_by": "deepread"} for name in names]


def resolve_model(name: str | None) -> str:
    """The served model for a requested name (None, the name itself, or an alias).

    Raises NotFound (404 `model_not_found`, param `model`) for any other name.
    """
    served = served_model()
    if name is None or name == served or model_aliases().get(name) == served:
        return served
    raise NotFound(f"The model {name!r} does not exist on this server.", code="model_not_found", param="model")


# --- the engine, loaded once per web process ----------------------------------------------------------------------
class InThreadRunner:
    """The engine called on the request's own thread: for vLLM, where a call is an HTTP request to the GPU server
    (waiting on it holds no CPU), and for tests that hold an engine with an event."""

    ready = True

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def run(self, data: bytes, info: DocumentInfo, spec: ModeSpec, **kwargs: Any) -> list[tuple[PageImage, PageResult]]:
        """Read every page of the document with the engine: `[(page image, page result)]` in page order."""
        return recognize_pages(self.engine, data, info, spec, **kwargs)


_state_lock = threading.Lock()
_loader: threading.Thread | None = None
_runner: InThreadRunner | EngineProcessPool | None = None
_load_error: str | None = None


def _sync_engine_options() -> dict[str, object]:
    options = engine_options()
    if settings.DEEPREAD_ENGINE == "vllm":
        options["retries"] = min(1, settings.DEEPREAD_VLLM_RETRIES)  # a caller is waiting: fail fast, say 503
    else:
        # Each engine process gets the cores it would have as one process of the worker pool.
        options["threads"] = max(1, (os.cpu_count() or 1) // max(1, settings.DEEPREAD_SYNC_CONCURRENCY))
    return options


def _load() -> None:
    global _runner, _load_error
    try:
        if settings.DEEPREAD_ENGINE == "vllm":
            runner: InThreadRunner | EngineProcessPool = InThreadRunner(
                get_engine(settings.DEEPREAD_ENGINE, **_sync_engine_options())
            )
        else:
            # CPU work for a waiting caller runs in engine processes owned by this web process, never on the
            # threads (or under the GIL) that serve pages.
            runner = EngineProcessPool(
                settings.DEEPREAD_ENGINE, _sync_engine_options(), size=settings.DEEPREAD_SYNC_CONCURRENCY
            )
            runner.start()
            if not runner.wait_ready(timeout=300):
                raise EngineError(runner.load_error() or "The engine process did not start.")
    except Exception as exc:
        logger.exception("Could not load the %s engine", settings.DEEPREAD_ENGINE)
        _load_error = str(exc) or type(exc).__name__
        return
    _runner = runner


def warm_in_background() -> None:
    """Start loading the engine without blocking start-up (web processes call this once)."""
    global _loader
    with _state_lock:
        if _runner is None and (_loader is None or not _loader.is_alive()):
            _loader = threading.Thread(target=_load, name="engine-loader", daemon=True)
            _loader.start()


def wait_until_loaded(timeout: float = 120.0) -> bool:
    """Start loading the engine if needed and wait up to `timeout` seconds; True once it is loaded."""
    warm_in_background()
    if _loader is not None:
        _loader.join(timeout)
    return _runner is not None


LOADING_RETRY_AFTER_S = 5


def _ready_runner() -> InThreadRunner | EngineProcessPool:
    """The loaded engine runner; ServiceUnavailable (503 `engine_unavailable`, retry after 5 s) while it loads."""
    if _runner is not None:
        return _runner
    warm_in_background()
    raise ServiceUnavailable(
        "The OCR engine is still loading; retry in a few seconds.",
        code="engine_unavailable",
        retry_after=LOADING_RETRY_AFTER_S,
    )


# --- the call -----------------------------------------------------------------------------------------------------
def ocr_sync(*, user: User, req: OcrRequest) -> OcrOutcome:
    """Recognise one image (or a short PDF) now. Order: mode, image (fetched, decoded, inspected), model name,
    quota, engine, so a bad image gets its own error whatever model it names. Returns the `ocr.completion` body
    (API.md §2) and the quota after the call.

    Raises InvalidInput (400) for a bad mode, page list, image or base64; TooLarge (413) past the upload, pixel or
    page limits; NotFound (404 `model_not_found`); QuotaExceeded (403); ServiceUnavailable (503) while the engine
    loads or is busy; InternalError (500) when the engine fails. Nothing is spent unless the engine ran.
    """
    spec = servable_mode(user=user, name=req.mode or "ocr")
    asked = parse_pages(req.pages)  # InvalidInput naming `pages`
    data = load_image_bytes(req)
    info = inspect_input(data, max_pages=settings.DEEPREAD_MAX_PDF_PAGES if asked else settings.DEEPREAD_SYNC_MAX_PAGES)
    try:
        wanted = select_pages(req.pages, info.page_count)
    except InputError as exc:
        raise InvalidInput(exc.message, param="pages") from exc
    if len(wanted) > settings.DEEPREAD_SYNC_MAX_PAGES:
        raise TooLarge(
            f"{len(wanted)} pages asked for; /v1/ocr reads at most {settings.DEEPREAD_SYNC_MAX_PAGES} per call.",
            param="pages",
        )
    skip = frozenset(range(1, info.page_count + 1)).difference(wanted)
    model = resolve_model(req.model)
    texts, usage, finish, annotated = [], Usage(), "stop", None

    def on_page(page: PageImage, result: PageResult) -> None:
        """Collect one page's text and token usage; the first page's annotated PNG when `return_image` is asked."""
        nonlocal usage, finish, annotated
        texts.append(result.text)
        usage = Usage(
            usage.prompt_tokens + result.usage.prompt_tokens,
            usage.completion_tokens + result.usage.completion_tokens,
        )
        if result.finish_reason != "stop":
            finish = result.finish_reason
        if req.return_image and annotated is None:  # the first page: the input as the client sent it
            annotated = annotate_png(page.image, result.blocks)

    quota = ocr_pages(user=user, spec=spec, data=data, info=info, on_page=on_page, skip=skip)
    body: dict[str, Any] = {
        "id": f"ocr-{uuid.uuid4().hex}",
        "object": "ocr.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "text": "\n\n".join(t for t in texts if t), "finish_reason": finish}],
    }
    if annotated is not None:
        body["result_image_base64"] = base64.b64encode(annotated).decode("ascii")
    body["usage"] = usage.as_dict()
    return OcrOutcome(body=body, quota=quota)


def ocr_pages(
    *,
    user: User,
    spec: ModeSpec,
    data: bytes,
    info: DocumentInfo,
    on_page: PageCallback,
    skip: frozenset[int] = frozenset(),
    param: str = "image",
) -> QuotaStatus:
    """Spend one request of `user`'s quota and recognise the pages of an already inspected file, calling
    `on_page(page, result)` for each in order (page numbers from 1; those in `skip` are left out) while the engine
    slot is held, so page images need not outlive the call. An engine failure gives the request back.
    Raises QuotaExceeded (403), ServiceUnavailable (503: the engine loading, EngineBusy, a retryable engine
    failure), InvalidInput (400, unreadable pixels, naming `param`) and InternalError (500, an engine error)."""
    now = timezone.now()
    if _runner is None:
        quota_require(user=user, now=now)  # an exhausted quota is a 403 even while the engine loads
    runner = _ready_runner()
    with engine_gate().admitted_call():  # a slot first, so a busy engine spends nothing
        with transaction.atomic():
            quota = quota_consume(user=user, now=now)
            hold = quota_hold_create(user=user, now=now)
        try:
            _run(runner, spec, data, info, on_page=on_page, skip=skip, param=param)
        except BaseException:
            quota_hold_release(hold_id=hold.pk, refund=True)
            raise
        quota_hold_release(hold_id=hold.pk, refund=False)
    return quota


def _run(runner, spec: ModeSpec, data: bytes, info: DocumentInfo, *, on_page: PageCallback,
         skip: frozenset[int], param: str) -> None:  # fmt: skip
    try:
        pages = runner.run(
            data, info, spec, dpi=settings.DEEPREAD_PDF_DPI, max_pixels=settings.DEEPREAD_MAX_PIXELS, skip=skip
        )
    except (EngineError, InputError) as exc:
        raise from_engine_error(exc, param=param) from exc
    for page, result in pages:
        on_page(page, result)


@dataclass(frozen=True)
class Preview:
    """A mode editor preview: text, blocks, the annotated first page as PNG bytes, the model, usage and a note."""

    text: str
    blocks: list
    annotated_png: bytes
    model: str
    usage: Usage
    note: str


def ocr_preview(*, prompt: str, output_kind: str, data: bytes) -> Preview:
    """Run a prompt on a sample image for the prompt editor: the first page only, no job, no quota (the preview
    is rate-limited by its view instead). `data` is the sample file's bytes.

    Raises InvalidInput (400: an output kind this engine cannot serve, a file it cannot read), TooLarge (413, past
    the upload or pixel limits), ServiceUnavailable (503, the engine loading or busy, a retryable engine failure)
    and InternalError (500, an engine error), like the synchronous endpoint."""
    spec = ModeSpec("preview", "Preview", "", prompt, output_kind)
    try:
        check_mode_servable(spec)
    except InvalidInput as exc:
        raise InvalidInput(exc.message, code="unsupported_capability", param="output_kind") from exc
    info = inspect_upload(data, max_pages=settings.DEEPREAD_MAX_PDF_PAGES, param="image", noun="sample")
    runner = _ready_runner()
    try:
        with engine_gate().admitted_call():
            pages = runner.run(
                data, info, spec, dpi=settings.DEEPREAD_PDF_DPI, max_pixels=settings.DEEPREAD_MAX_PIXELS, max_pages=1
            )
    except (EngineError, InputError) as exc:
        raise from_engine_error(exc, param="image") from exc
    ((page, result),) = pages
    note = ""
    if settings.DEEPREAD_ENGINE != "vllm":
        note = (
            "This server runs the CPU engine, which reads every page the same way and serves only the output kind; "
            "the prompt takes effect with DeepSeek-OCR."
        )
    return Preview(
        text=result.text,
        blocks=result.blocks,
        annotated_png=annotate_png(page.image, result.blocks),
        model=served_model(),
        usage=result.usage,
        note=note,
    )
