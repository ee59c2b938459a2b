"""The ASGI application the web server runs (`deepread.webserver`): Django behind the body guard
(`core.asgi_guard`) and the engine's admission control for `POST /v1/ocr` (`ocr.admission`: a call with
no room is refused on the event loop, before it gets a thread), with the engine warmed when the process starts."""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "deepread.settings")
os.environ["DEEPREAD_WEB_SERVER"] = "asgi"  # settings: no per-thread persistent DB connections under ASGI

from django.conf import settings
from django.core.asgi import get_asgi_application

from core.asgi_guard import RequestBodyGuard
from core.bodylimit import body_cap

django_application = get_asgi_application()

from ocr.admission import EngineAdmission  # noqa: E402 - needs the apps loaded

application = RequestBodyGuard(
    EngineAdmission(django_application),
    max_body_bytes=body_cap,  # each route's own cap (core/bodylimit.py), at most DEEPREAD_MAX_REQUEST_BYTES
    body_timeout_s=settings.DEEPREAD_BODY_TIMEOUT_S,
    min_rate=settings.DEEPREAD_BODY_MIN_RATE,
)

if settings.DEEPREAD_SYNC_WARM:
    # POST /v1/ocr runs the engine for this process; load it now, in the background, not on the first call.
    from ocr.services import warm_in_background

    warm_in_background()
