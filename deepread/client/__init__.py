"""DeepRead's Python SDK and the `deepread` command (`deepread.client.cli`)."""

from deepread.client.sdk import (
    ApiError,
    Cancelled,
    Client,
    JobList,
    JobResult,
    JobSummary,
    Mode,
    RetryPolicy,
    Upload,
)

__all__ = ["ApiError", "Cancelled", "Client", "JobList", "JobResult", "JobSummary", "Mode", "RetryPolicy", "Upload"]
