"""Local storage endpoints: DeepRead stands in for S3's signed PUT, POST form and GET.

They are authenticated by their signature alone (no API key) and read uploads with the size cap enforced while
reading, so an oversized body is never held whole. Every refusal is a `core.errors` member (InvalidSignature 403,
TooLarge 413, BodyCutOff and InvalidInput 400, the upload service's NotFound/Conflict, StorageFault 503), mapped
once, by `_answers_errors`, to `{"detail": message}` with its status.
"""

from __future__ import annotations

import functools
import hmac
import io
import logging
import mimetypes
import re
from urllib.parse import unquote_plus

from django.conf import settings
from django.core.exceptions import RequestAborted
from django.core.files.storage import default_storage
from django.core.files.uploadhandler import FileUploadHandler, StopUpload
from django.http import FileResponse, HttpRequest, JsonResponse
from django.http.multipartparser import MultiPartParser, MultiPartParserError
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from core import parsers
from core.error_formats import detail_body, retry_headers
from core.errors import ApplicationError, BodyCutOff, InvalidInput, NotFound, PermissionDenied, TooLarge
from ocrjobs import services
from ocrjobs.models import Job
from storage import signing
from storage.keys import safe_filename

logger = logging.getLogger(__name__)
CHUNK = 64 * 1024
FORM_FIELDS_ROOM = 64 * 1024  # a POST form's fields beside its file


CUT_OFF = "The upload was cut off; upload it again."


def _too_large() -> TooLarge:
    """The 413 of a file over DEEPREAD_MAX_UPLOAD_BYTES, naming the limit in MB (S3's answer names it too)."""
    limit_mb = settings.DEEPREAD_MAX_UPLOAD_BYTES / (1024 * 1024)
    return TooLarge(f"The file is larger than the {limit_mb:g} MB upload limit.")


def _answers_errors(view):
    """Decorator: the view's `ApplicationError` is answered `{"detail": message}` with its status (and
    Retry-After when it has one); nothing else is caught."""

    @functools.wraps(view)
    def wrapped(request: HttpRequest, *args, **kwargs):
        """The view's answer, or its ApplicationError as `{"detail"}`."""
        try:
            return view(request, *args, **kwargs)
        except ApplicationError as exc:
            if isinstance(exc, BodyCutOff):
                logger.info("An upload to %s was cut off before its declared length", request.path)
            return JsonResponse(detail_body(exc), status=exc.status_code, headers=retry_headers(exc) or None)

    return wrapped


def _read_capped(request: HttpRequest, cap: int) -> bytes:
    """The whole body, refused past `cap` bytes (at once when the declared length says so) or when it is shorter
    than its declared Content-Length (the client's connection closed mid-upload).

    Raises TooLarge (413) past `cap` bytes and BodyCutOff (400) for a body shorter than its Content-Length."""
    declared = request.META.get("CONTENT_LENGTH")
    if declared and declared.isascii() and declared.isdigit() and int(declared) > cap:
        raise _too_large()
    chunks, total = [], 0
    try:
        while chunk := request.read(CHUNK):
            total += len(chunk)
            if total > cap:
                raise _too_large()
            chunks.append(chunk)
    except (RequestAborted, OSError) as exc:  # the server saw the client go away mid-body
        raise BodyCutOff(CUT_OFF) from exc
    if declared and declared.isascii() and declared.isdigit() and total < int(declared):
        raise BodyCutOff(CUT_OFF)
    return b"".join(chunks)


def _receive(*, job_id: str, filename: str, data: bytes) -> JsonResponse:
    """Hand the file to the upload service; its refusals (NotFound, Conflict, InvalidInput, TooLarge) propagate."""
    job = services.job_upload_receive(job_id=job_id, filename=filename, data=data)
    return JsonResponse({"job_id": str(job.id), "key": job.upload_key, "status": job.public_status}, status=200)


@csrf_exempt
@require_http_methods(["PUT"])
@_answers_errors
def upload_put(request: HttpRequest, job_id: str) -> JsonResponse:
    """PUT to a signed local upload URL: store the body as the job's upload and queue it.

    Answers JSON errors: 403 bad/expired signature or Content-Type, 400 empty or cut-off body, 413 over
    DEEPREAD_MAX_UPLOAD_BYTES.
    """
    q = request.GET
    key, content_type = q.get("key", ""), q.get("content_type", "")
    signing.verify_put(
        job_id=job_id,
        key=key,
        content_type=content_type,
        expires=q.get("expires", ""),
        signature=q.get("signature", ""),
    )
    if request.META.get("CONTENT_LENGTH") in (None, "", "0") and "chunked" not in request.headers.get(
        "Transfer-Encoding", ""
    ):
        raise InvalidInput("The file is empty.")
    sent_type = (request.content_type or "").lower()
    if content_type and sent_type != content_type:
        raise PermissionDenied(
            f"This URL was signed for Content-Type {content_type}; the request sent {sent_type or 'none'}."
        )
    data = _read_capped(request, settings.DEEPREAD_MAX_UPLOAD_BYTES)
    name = key.rsplit("/", 1)[-1]
    return _receive(job_id=job_id, filename="" if name == services.FILENAME_PLACEHOLDER else name, data=data)


class _CappedUploadHandler(FileUploadHandler):
    """Counts bytes as the multipart parser streams them and stops at the cap."""

    def __init__(self, request: HttpRequest, cap: int) -> None:
        super().__init__(request)
        self.cap, self.total, self.exceeded = cap, 0, False
        self.chunks: list[bytes] = []

    def handle_raw_input(self, input_data, META, content_length, boundary, encoding=None):  # noqa: N803
        """Refuse (StopUpload) a body whose declared length is over the cap plus room for the form fields."""
        # A body larger than the cap plus room for the form fields is refused before anything is read.
        if content_length and content_length > self.cap + FORM_FIELDS_ROOM:
            self.exceeded = True
            raise StopUpload(connection_reset=False)
        return

    def receive_data_chunk(self, raw_data: bytes, start: int) -> None:
        """Keep a chunk of the file; stops the upload once the file passes the cap (bytes).

        Raises StopUpload (the request is answered 413) past the cap.
        """
        self.total += len(raw_data)
        if self.total > self.cap:
            self.exceeded = True
            raise StopUpload(connection_reset=False)
        self.chunks.append(raw_data)

    def file_complete(self, file_size: int):
        """The file as an in-memory upload."""
        from django.core.files.uploadedfile import SimpleUploadedFile

        return SimpleUploadedFile(self.file_name or "upload", b"".join(self.chunks), self.content_type)


@csrf_exempt
@require_POST
@_answers_errors
def upload_post(request: HttpRequest) -> JsonResponse:
    """POST form upload to local storage (S3's form shape): check the signed policy, store the file and queue the job.

    Answers JSON errors: 400 cut-off or malformed form, 403 bad policy, 413 over the size cap.
    """
    handler = _CappedUploadHandler(request, settings.DEEPREAD_MAX_UPLOAD_BYTES)
    # The body is read whole first (capped as the handler would cap it) so that a form cut off mid-file is told
    # apart from a complete one: the multipart parser alone would hand on whatever part of the file had arrived.
    body = _read_capped(request, settings.DEEPREAD_MAX_UPLOAD_BYTES + FORM_FIELDS_ROOM)
    try:
        fields, files = MultiPartParser(request.META, io.BytesIO(body), [handler], request.encoding).parse()
    except MultiPartParserError as exc:
        raise InvalidInput("The body is not a complete multipart/form-data form.") from exc
    if handler.exceeded:
        raise _too_large()
    policy = signing.verify_post_policy(
        policy=fields.get("policy", ""),
        signature=fields.get("signature", ""),
        access_key_id=fields.get("AWSAccessKeyId", ""),
    )
    upload = files.get("file")
    if upload is None:
        raise InvalidInput("The form has no 'file' field; send the file as the last field, named 'file'.")
    key = fields.get("key", "")
    if not key.startswith(policy.key_prefix):
        raise PermissionDenied("The key does not match the signed policy's prefix.")
    if upload.size > policy.max_bytes:
        raise _too_large()
    if upload.size < 1:
        raise InvalidInput("The file is empty.")
    filename = safe_filename(key[len(policy.key_prefix) :].replace("${filename}", upload.name or "upload"))
    return _receive(job_id=policy.job_id, filename=filename, data=upload.read())


@require_GET
@_answers_errors
def download(request: HttpRequest) -> FileResponse | JsonResponse:
    """GET a signed local download URL: the stored file inline; 403 bad or expired signature, 404 missing file."""
    q = request.GET
    key = q.get("key", "")
    signing.verify_download(key=key, expires=q.get("expires", ""), signature=q.get("signature", ""))
    if not default_storage.exists(key):
        raise NotFound("No such file.")
    name = key.rsplit("/", 1)[-1]
    job = Job.objects.filter(result_key=key).only("filename").first()
    if job is not None and key.endswith(".json"):
        name = f"{safe_filename(job.filename).rsplit('.', 1)[0]}.json"
    content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
    return FileResponse(default_storage.open(key), content_type=content_type, as_attachment=False, filename=name)


_UPLOAD_KEY = re.compile(r"^uploads/\d+/([0-9a-f-]{36})/[^/]+$")


@csrf_exempt
@require_POST
@_answers_errors
def s3_events(request: HttpRequest) -> JsonResponse:
    """The bucket-notification hook: S3 (or RGW) posts `ObjectCreated` events here, and the uploads they name start
    at once instead of at the next sweep. Off unless DEEPREAD_S3_HOOK_SECRET is set; the secret comes in
    `X-DeepRead-Hook-Secret`. Keys are checked against their jobs, so a forged event can only start a job whose file
    really is in storage."""
    secret = settings.DEEPREAD_S3_HOOK_SECRET
    if not secret:
        raise NotFound("Not found.")
    if not hmac.compare_digest(request.headers.get("X-DeepRead-Hook-Secret", "").encode(), secret.encode()):
        raise PermissionDenied("Wrong or missing hook secret.")
    try:
        records = parsers.loads(request.body or b"{}").get("Records", [])
    except (ValueError, AttributeError) as exc:
        raise InvalidInput("The body is not an S3 event notification.") from exc
    queued = 0
    for record in records if isinstance(records, list) else []:
        key = unquote_plus(str(((record or {}).get("s3") or {}).get("object", {}).get("key", "")))
        match = _UPLOAD_KEY.match(key)
        if match and default_storage.exists(key) and services.job_upload_found(job_id=match.group(1), key=key):
            queued += 1
    return JsonResponse({"queued": queued})
