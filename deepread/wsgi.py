import os

from django.conf import settings
from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "deepread.settings")
application = get_wsgi_application()

if settings.DEEPREAD_SYNC_WARM:
    # POST /v1/ocr runs the engine in this process; load it now, in the background, not on the first call.
    from ocr.services import warm_in_background

    warm_in_background()
