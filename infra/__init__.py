"""The Pulumi program that deploys Lambdalytics on AWS (issue 24; DESIGN.md "AWS").

One :class:`pulumi.ComponentResource` per concern, each taking a frozen ``<Name>Args``
dataclass: storage (the S3 archive, its second-region replica, the Athena results bucket),
data (Kinesis and DynamoDB), athena (Glue catalog and workgroup), network, edge, services,
operations. ``__main__.py`` only reads the stack configuration and wires them (``program.py``);
IAM documents come from pure functions, and every name derives from the stack's ``prefix``
through :func:`lambdalytics.resources.resources`, so the services find what was deployed.
Tested under Pulumi's own mocks (``tests/infra``): no CLI, no AWS account.
"""
