"""A moto S3 server on 127.0.0.1 for the test suite, reached over real HTTP by boto3 and pyarrow.

moto and boto3 are imported only when a test asks for the server, so runs that need no S3 pay
nothing. Authentication is off (any credentials pass) unless a test calls `require_auth()`.
The server runs in the test process, which lets `S3Lake.seed` store thousands of objects
directly in its backend; the code under test still reaches them only over HTTP.
"""

from __future__ import annotations

import json
import logging
import urllib.request
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

# Dummy credentials found by boto3 through the standard chain (environment); the secret is
# distinctive so tests can prove it never shows up in a message.
DUMMY_ENV = {
    "AWS_ACCESS_KEY_ID": "AKIADEMONTESTKEY0000",
    "AWS_SECRET_ACCESS_KEY": "demon-test-secret-Zq8vW3xK",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
}
# IAM policies of the test users. Listing a bucket needs the IAM action `s3:ListBucket` on AWS, and on
# moto up to 5.2.5; moto 5.2.6 checks the operation's name, `s3:ListObjectsV2`, instead (a regression of
# its request routing, which dropped S3's operation-to-action map). `s3:List*` is a valid AWS policy that
# grants both, and still denies reads.
LIST_ONLY = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": "s3:List*", "Resource": "*"}]}
LIST_AND_READ = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": ["s3:List*", "s3:GetObject"], "Resource": "*"}]}
# Variables that would let a developer's own AWS setup leak into a test.
FOREIGN_ENV = ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_ENDPOINT_URL",
               "AWS_ENDPOINT_URL_S3", "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE")


@dataclass
class MotoServer:
    """A running `ThreadedMotoServer`; `endpoint_url` is `http://127.0.0.1:PORT`."""

    server: Any
    endpoint_url: str

    def post(self, path: str, body: bytes = b"") -> None:
        request = urllib.request.Request(f"{self.endpoint_url}{path}", data=body, method="POST",
                                         headers={"Content-Type": "text/plain"})
        with urllib.request.urlopen(request, timeout=30) as response:
            json.loads(response.read())

    def reset(self) -> None:
        """Forget every bucket and user, and accept any credentials again."""
        self.post("/moto-api/reset")
        self.post("/moto-api/reset-auth", b"inf")

    def require_auth(self) -> None:
        """From the next request on, check signatures and IAM policies like AWS does."""
        self.post("/moto-api/reset-auth", b"0")

    def stop(self) -> None:
        self.server.stop()


def start_moto() -> MotoServer:
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # not one line per request
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    return MotoServer(server=server, endpoint_url=f"http://{host}:{port}")


@dataclass
class S3Lake:
    """What a test needs of the server: its endpoint, a boto3 client, buckets with objects, IAM users."""

    moto: MotoServer
    client: Any = field(init=False)

    def __post_init__(self) -> None:
        import boto3

        self.client = boto3.session.Session().client("s3", endpoint_url=self.endpoint_url)

    @property
    def endpoint_url(self) -> str:
        return self.moto.endpoint_url

    def bucket(self, name: str, objects: Mapping[str, bytes] | None = None) -> None:
        self.client.create_bucket(Bucket=name)
        self.put(name, objects or {})

    def put(self, bucket: str, objects: Mapping[str, bytes]) -> None:
        """Upload in parallel (the client is thread-safe): thousands of objects take seconds, not minutes."""
        with ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(lambda item: self.client.put_object(Bucket=bucket, Key=item[0], Body=item[1]),
                          objects.items()))

    def seed(self, bucket: str, objects: Mapping[str, bytes]) -> None:
        """Store objects in an existing bucket without HTTP: 0.1 ms each instead of 6 ms, for big listings."""
        from moto.core.models import DEFAULT_ACCOUNT_ID
        from moto.s3.models import s3_backends

        backend = s3_backends[DEFAULT_ACCOUNT_ID]["aws"]
        for key, body in objects.items():
            backend.put_object(bucket, key, body)

    def user(self, name: str, policy: Mapping[str, Any] | None = None) -> tuple[str, str]:
        """A new IAM user's (access key id, secret key), allowed what `policy` allows (nothing if None)."""
        import boto3

        iam = boto3.session.Session().client("iam", endpoint_url=self.endpoint_url)
        iam.create_user(UserName=name)
        if policy is not None:
            iam.put_user_policy(UserName=name, PolicyName=f"{name}-policy", PolicyDocument=json.dumps(policy))
        key = iam.create_access_key(UserName=name)["AccessKey"]
        return str(key["AccessKeyId"]), str(key["SecretAccessKey"])


@dataclass
class Topics:
    """moto's SNS and SQS through boto3: topics, queues subscribed to them, and what reached the queues."""

    moto: MotoServer
    sns: Any = field(init=False)
    sqs: Any = field(init=False)

    def __post_init__(self) -> None:
        import boto3

        session = boto3.session.Session()
        self.sns = session.client("sns", endpoint_url=self.moto.endpoint_url, region_name="us-east-1")
        self.sqs = session.client("sqs", endpoint_url=self.moto.endpoint_url, region_name="us-east-1")

    def topic(self, name: str) -> str:
        """A topic; a FIFO one (no content-based deduplication) when the name ends in `.fifo`."""
        fifo = name.endswith(".fifo")
        attributes = {"FifoTopic": "true", "ContentBasedDeduplication": "false"} if fifo else {}
        return str(self.sns.create_topic(Name=name, Attributes=attributes)["TopicArn"])

    def queue(self, name: str, topic: str, raw: bool, policy: Mapping[str, Any] | None = None) -> str:
        """A queue subscribed to `topic`, with raw delivery or the SNS envelope, and a filter policy."""
        fifo = name.endswith(".fifo")
        queue = self.sqs.create_queue(QueueName=name, Attributes={"FifoQueue": "true"} if fifo else {})
        url = str(queue["QueueUrl"])
        found = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
        arn = found["Attributes"]["QueueArn"]
        attributes = {"RawMessageDelivery": str(raw).lower()}
        if policy is not None:
            attributes["FilterPolicy"] = json.dumps(policy)
        self.sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn, Attributes=attributes,
                           ReturnSubscriptionArn=True)
        return url

    def receive(self, url: str, wait: int = 1) -> list[dict[str, Any]]:
        """Up to 10 messages of the queue, deleted once read."""
        got = self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=wait,
                                       MessageAttributeNames=["All"], AttributeNames=["All"])
        messages: list[dict[str, Any]] = got.get("Messages", [])
        for message in messages:
            self.sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        return messages

    def drain(self, url: str) -> list[dict[str, Any]]:
        """Every message in the queue (moto delivers during Publish, so nothing is still on its way)."""
        found: list[dict[str, Any]] = []
        while batch := self.receive(url, wait=0):
            found += batch
        return found
