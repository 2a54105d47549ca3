"""Settings shared by every process: AWS location and resource names.

Each entrypoint builds its own settings object once (never at import); tests build it from
keyword arguments. Environment variables use the ``LAMBDALYTICS_`` prefix; AWS endpoints
follow the SDK's own convention (``AWS_ENDPOINT_URL``, ``AWS_ENDPOINT_URL_KINESIS``, …),
which botocore resolves by itself when ``aws_endpoint_url`` is not set.
"""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from lambdalytics.resources import Resources, resources


class CommonSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LAMBDALYTICS_", extra="ignore", frozen=True)

    resource_prefix: str = Field("lambdalytics", min_length=1, max_length=40)
    archive_bucket: str | None = None
    aws_region: str | None = Field(None, description="AWS region; default: the SDK's own chain")
    aws_endpoint_url: str | None = Field(
        None, description="one endpoint for every AWS service (tests, emulators)"
    )
    aws_endpoint_url_kinesis: str | None = Field(
        None, description="Kinesis's endpoint, over aws_endpoint_url (`lambdalytics local` runs "
                          "the stream on an emulator of its own)"
    )
    athena_workgroup: str | None = Field(
        None, description="Athena workgroup of the reports and `--engine athena` (default: "
                          "the deployment's, resources(prefix).athena.workgroup)")
    athena_database: str | None = Field(
        None, description="Glue database of the archive's tables and views (default: the "
                          "deployment's)")
    athena_output_location: str | None = Field(
        None, description="s3:// location for Athena's results, when the workgroup sets none")
    log_level: str = "INFO"
    log_format: str = Field("json", pattern="^(json|text)$")
    # CloudWatch embedded metric format, one line a minute (lambdalytics.emf)
    emf: bool = Field(False, description="write CloudWatch embedded-metric-format lines to "
                      "stdout once a minute (the AWS task definitions turn it on)")

    def endpoint_url(self, service: str) -> str | None:
        """The endpoint these settings name for ``service``; None: the SDK's own chain."""
        if service == "kinesis" and self.aws_endpoint_url_kinesis:
            return self.aws_endpoint_url_kinesis
        return self.aws_endpoint_url

    @property
    def resources(self) -> Resources:
        return resources(self.resource_prefix, archive_bucket=self.archive_bucket)
