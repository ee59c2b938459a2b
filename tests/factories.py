import factory
from django.utils import timezone

from accounts.models import ApiKey, User
from accounts.quota import month_start
from accounts.services import api_key_create
from accounts.tiers import Tier
from ocrjobs.models import Job, JobStatus


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User

    email = factory.Sequence(lambda n: f"user{n}@example.com")
    tier = Tier.STANDARD
    password = factory.django.Password("correct horse battery staple")


class ApiKeyFactory:
    @staticmethod
    def create_with_raw(*, user: User, name: str = "test") -> tuple[ApiKey, str]:
        return api_key_create(user=user, name=name)


class JobFactory(factory.django.DjangoModelFactory):
    """A Job row written straight to the table (no services: no quota spent, no file stored, nothing enqueued).

    Defaults: a new owner, mode "ocr" with a text output, a numbered PNG filename, an upload key under the owner's
    prefix, this month's usage month and status QUEUED. Give `owner=` to add jobs to an existing account, and
    `Job.objects.bulk_create(JobFactory.build_batch(n, owner=user, ...))` for many rows in one INSERT.
    """

    class Meta:
        model = Job

    owner = factory.SubFactory(UserFactory)
    mode = "ocr"
    prompt = "p"
    output_kind = "text"
    filename = factory.Sequence(lambda n: f"file{n}.png")
    upload_key = factory.LazyAttributeSequence(lambda job, n: f"uploads/{job.owner.pk}/{n}/{job.filename}")
    usage_month = factory.LazyFunction(lambda: month_start(timezone.now()))
    status = JobStatus.QUEUED
