"""Kinesis consumer: leases, shard consumers, the cut protocol, S3 and DynamoDB writers."""
