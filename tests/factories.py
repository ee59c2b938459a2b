import factory

from accounts.models import ApiKey, User
from accounts.services import api_key_create
from accounts.tiers import Tier


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
