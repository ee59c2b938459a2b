"""Integration tests against the real services of a production deployment: PostgreSQL and Redis on this machine
(`.ci/run` starts them when they are down). Without them, these tests are skipped with the reason."""

from __future__ import annotations

import uuid

import pytest

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"
REDIS = "redis://127.0.0.1:6379"


def _postgres_reason() -> str | None:
    try:
        import psycopg

        with psycopg.connect(PG_ADMIN, connect_timeout=2):
            return None
    except Exception as exc:
        return f"PostgreSQL is not reachable at 127.0.0.1:5432 ({type(exc).__name__})"


def _redis_reason() -> str | None:
    try:
        import redis

        redis.Redis.from_url(REDIS, socket_connect_timeout=2).ping()
        return None
    except Exception as exc:
        return f"Redis is not reachable at 127.0.0.1:6379 ({type(exc).__name__})"


@pytest.fixture(scope="session")
def postgres_url():
    reason = _postgres_reason()
    if reason:
        pytest.skip(reason)
    import psycopg

    name = f"deepread_it_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield f"postgresql://postgres@127.0.0.1:5432/{name}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def redis_urls():
    """A broker database and a cache database of their own, emptied before and after."""
    reason = _redis_reason()
    if reason:
        pytest.skip(reason)
    import redis

    broker, cache = f"{REDIS}/11", f"{REDIS}/12"
    for url in (broker, cache):
        redis.Redis.from_url(url).flushdb()
    yield broker, cache
    for url in (broker, cache):
        redis.Redis.from_url(url).flushdb()


@pytest.fixture
def production_env(postgres_url, redis_urls):
    broker, cache = redis_urls
    return {
        "DATABASE_URL": postgres_url,
        "CELERY_BROKER_URL": broker,
        "REDIS_URL": cache,
        "DEEPREAD_BURST_PER_MINUTE": "100000",
    }


RGW_ENDPOINT = "http://127.0.0.1:7480"
RGW_KEYS = {
    "AWS_ACCESS_KEY_ID": "deepread-test-access",
    "AWS_SECRET_ACCESS_KEY": "deepread-test-secret-0123456789abcdef",
}


def _rgw_reason() -> str | None:
    import requests

    try:
        requests.get(RGW_ENDPOINT, timeout=2)
        return None
    except requests.RequestException:
        return f"No Ceph RADOS Gateway at {RGW_ENDPOINT}: `scripts/rgw.sh up` starts one (.ci/run does)"


@pytest.fixture(scope="session")
def s3_bucket():
    """A fresh bucket on the RADOS Gateway (scripts/rgw.sh), with the AWS_* variables for DeepRead."""
    reason = _rgw_reason()
    if reason:
        pytest.skip(reason)
    import boto3
    from botocore.config import Config

    client = boto3.client(
        "s3",
        endpoint_url=RGW_ENDPOINT,
        region_name="us-east-1",
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
        aws_access_key_id=RGW_KEYS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=RGW_KEYS["AWS_SECRET_ACCESS_KEY"],
    )
    bucket = f"deepread-it-{uuid.uuid4().hex[:10]}"
    client.create_bucket(Bucket=bucket)
    yield (
        client,
        bucket,
        {
            "DEEPREAD_STORAGE": "s3",
            "AWS_STORAGE_BUCKET_NAME": bucket,
            "AWS_S3_ENDPOINT_URL": RGW_ENDPOINT,
            "AWS_S3_REGION_NAME": "us-east-1",
            **RGW_KEYS,
        },
    )
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for item in page.get("Contents", []):
            client.delete_object(Bucket=bucket, Key=item["Key"])
    client.delete_bucket(Bucket=bucket)
