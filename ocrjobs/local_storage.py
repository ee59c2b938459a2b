"""Local storage endpoints: DeepRead stands in for S3's signed PUT, POST form and GET.

They are authenticated by their signature alone (no API key), answer errors as {"detail": ...} and read uploads
with the size cap enforced while reading, so an oversized body is never held whole.
"""

from __future__ import annotations

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
from core.errors import ApplicationError
from ocrjobs import services
from ocrjobs.models import Job
from storage import signing
from storage.keys import safe_filename

logger = logging.getLogger(__name__)
CHUNK = 64 * 1024
FORM_FIELDS_ROOM = 64 * 1024  # a POST form's fields beside its file


def _error(message: str, status: int) -> JsonResponse:
    return JsonResponse({"detail": message}, status=status)


def _too_large() -> JsonResponse:
    limit_mb = settings.DEEPREAD_MAX_UPLOAD_BYTES / (1024 * 1024)
    return _error(f"The file is larger than the {limit_mb:g} MB upload limit.", 413)


CUT_OFF = "The upload was cut off; upload it again."


class _TooLarge(Exception):
    pass


class _CutOff(Exception):
    """The body ended before the length its Content-Length declared: the connection closed early."""


def _read_capped(request: HttpRequest, cap: int) -> bytes:
    """The whole body, refused past `cap` bytes (at once when the declared length says so) or when it is shorter
    than its declared Content-Length (the client's connection closed mid-upload)."""
    declared = request.META.get("CONTENT_LENGTH")
    if declared and declared.isascii() and declared.isdigit() and int(declared) > cap:
        raise _TooLarge
    chunks, total = [], 0
    try:
        while chunk := request.read(CHUNK):
            total += len(chunk)
            if total > cap:
                raise _TooLarge
            chunks.append(chunk)
    except (RequestAborted, OSError) as exc:  # the server saw the client go away mid-body
        raise _CutOff from exc
    if declared and declared.isascii() and declared.isdigit() and total < int(declared):
        raise _CutOff
    return b"".join(chunks)


def _receive(*, job_id: str, filename: str, data: bytes) -> JsonResponse:
    try:
        job = services.job_upload_receive(job_id=job_id, filename=filename, data=data)
    except ApplicationError as exc:
        return _error(exc.message, exc.status_code)
    return JsonResponse({"job_id": str(job.id), "key": job.upload_key, "status": job.public_status}, status=200)


@csrf_exempt
@require_http_methods(["PUT"])
def upload_put(request: HttpRequest, job_id: str) -> JsonResponse:
    """PUT to a signed local upload URL: store the body as the job's upload and queue it.

    Answers JSON errors: 403 bad/expired signature or Content-Type, 400 empty or cut-off body, 413 over
    DEEPREAD_MAX_UPLOAD_BYTES.
    """
    q = request.GET
    key, content_type = q.get("key", ""), q.get("content_type", "")
    try:
        signing.verify_put(
            job_id=job_id,
            key=key,
            content_type=content_type,
            expires=q.get("expires", ""),
            signature=q.get("signature", ""),
        )
    except signing.SignatureError as exc:
        return _error(exc.message, 403)
    if request.META.get("CONTENT_LENGTH") in (None, "", "0") and "chunked" not in request.headers.get(
        "Transfer-Encoding", ""
    ):
        return _error("The file is empty.", 400)
    sent_type = (request.content_type or "").lower()
    if content_type and sent_type != content_type:
        return _error(
            f"This URL was signed for Content-Type {content_type}; the request sent {sent_type or 'none'}.",
            403,
        )
    try:
        data = _read_capped(request, settings.DEEPREAD_MAX_UPLOAD_BYTES)
    except _TooLarge:
        return _too_large()
    except _CutOff:
        logger.info("Upload for job %s was cut off before its declared length", job_id)
        return _error(CUT_OFF, 400)
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
def upload_post(request: HttpRequest) -> JsonResponse:
    """POST form upload to local storage (S3's form shape): check the signed policy, store the file and queue the job.

    Answers JSON errors: 400 cut-off or malformed form, 403 bad policy, 413 over the size cap.
    """
    handler = _CappedUploadHandler(request, settings.DEEPREAD_MAX_UPLOAD_BYTES)
    # The body is read whole first (capped as the handler would cap it) so that a form cut off mid-file is told
    # apart from a complete one: the multipart parser alone would hand on whatever part of the file had arrived.
    try:
        body = _read_capped(request, settings.DEEPREAD_MAX_UPLOAD_BYTES + FORM_FIELDS_ROOM)
    except _TooLarge:
        return _too_large()
    except _CutOff:
        logger.info("A form upload was cut off before its declared length")
        return _error(CUT_OFF, 400)
    try:
        fields, files = MultiPartParser(request.META, io.BytesIO(body), [handler], request.encoding).parse()
    except MultiPartParserError:
        return _error("The body is not a complete multipart/form-data form.", 400)
    if handler.exceeded:
        return _too_large()
    try:
        policy = signing.verify_post_policy(
            policy=fields.get("policy", ""),
            signature=fields.get("signature", ""),
            access_key_id=fields.get("AWSAccessKeyId", ""),
        )
    except signing.SignatureError as exc:
        return _error(exc.message, 403)
    upload = files.get("file")
    if upload is None:
        return _error("The form has no 'file' field; send the file as the last field, named 'file'.", 400)
    key = fields.get("key", "")
    if not key.startswith(policy.key_prefix):
        return _error("The key does not match the signed policy's prefix.", 403)
    if upload.size > policy.max_bytes:
        return _too_large()
    if upload.size < 1:
        return _error("The file is empty.", 400)
    filename = safe_filename(key[len(policy.key_prefix) :].replace("${filename}", upload.name or "upload"))
    return _receive(job_id=policy.job_id, filename=filename, data=upload.read())


@require_GET
def download(request: HttpRequest) -> FileResponse | JsonResponse:
    """GET a signed local download URL: the stored file inline; 403 bad or expired signature, 404 missing file."""
    q = request.GET
    key = q.get("key", "")
    try:
        signing.verify_download(key=key, expires=q.get("expires", ""), signature=q.get("signature", ""))
    except signing.SignatureError as exc:
        return _error(exc.message, 403)
    if not default_storage.exists(key):
        return _error("No such file.", 404)
    name = key.rsplit("/", 1)[-1]
    job = Job.objects.filter(result_key=key).only("filename").first()
    if job is not None and key.endswith(".json"):
        name = f"{safe_filename(job.filename).rsplit('.', 1)[0]}.json"
    content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
    return FileResponse(default_storage.open(key), content_type=content_type, as_attachment=False, filename=name)


_UPLOAD_KEY = re.compile(r"^uploads/\d+/([0-9a-f-]{36})/[^/]+$")


@csrf_exempt
@require_POST
def s3_events(request: HttpRequest) -> JsonResponse:
    """The bucket-notification hook: S3 (or RGW) posts `ObjectCreated` events here, and the uploads they name start
    at once instead of at the next sweep. Off unless DEEPREAD_S3_HOOK_SECRET is set; the secret comes in
    `X-DeepRead-Hook-Secret`. Keys are checked against their jobs, so a forged event can only start a job whose file
    really is in storage."""
    secret = settings.DEEPREAD_S3_HOOK_SECRET
    if not secret:
        return _error("Not found.", 404)
    if not hmac.compare_digest(request.headers.get("X-DeepRead-Hook-Secret", "").encode(), secret.encode()):
        return _error("Wrong or missing hook secret.", 403)
    try:
        records = parsers.loads(request.body or b"{}").get("Records", [])
    except (ValueError, AttributeError):
        return _error("The body is not an S3 event notification.", 400)
    queued = 0
    for record in records if isinstance(records, list) else []:
        key = unquote_plus(str(((record or {}).get("s3") or {}).get("object", {}).get("key", "")))
        match = _UPLOAD_KEY.match(key)
        if match and default_storage.exists(key) and services.job_upload_found(job_id=match.group(1), key=key):
            queued += 1
    return JsonResponse({"queued": queued})
