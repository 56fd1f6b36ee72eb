"""The `sns` channel over real HTTP: moto's SNS and SQS for deliveries, a scripted stdlib server for errors.

moto checks neither the byte size nor the subject rules of AWS, so these tests do: sizes are computed here in
UTF-8 bytes, subjects checked for printable ASCII on one line under 100 characters.
"""

from __future__ import annotations

import hashlib
import json
import socket
from collections.abc import Iterator
from dataclasses import dataclass, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alerting.channels import ChannelEnv, open_channel
from alerting.channels.settings import SnsChannelConfig
from alerting.channels.sns import SnsChannel
from alerting.model import (
    Context,
    Delivered,
    EventKind,
    FailingRule,
    Member,
    Notification,
    Permanent,
    Retry,
    RootCause,
)
from alerting.render.sns import MAX_BYTES, publish_request, size, subject
from alerting.render.text import headline, render_text
from monitor.core.redact import Redactor
from tests.httpserver import reply, serving
from tests.motoserver import DUMMY_ENV, MotoServer, Topics

ACCOUNT_ARN = "arn:aws:sns:us-east-1:123456789012"
SECRETS = (DUMMY_ENV["AWS_SECRET_ACCESS_KEY"], DUMMY_ENV["AWS_ACCESS_KEY_ID"])


def make_notification(**changes: Any) -> Notification:
    context: Context = {
        "check": "fact_orders.volume", "dataset": "fact_orders", "kind": "volume", "source": "warehouse",
        "outcome": "fail", "message": "12 rows, expected at least 1000", "value": 12.0, "unit": "rows",
        "thresholds": {"min": 1000.0}, "owner": "sales-analytics", "tags": ["sales"],
        "trend": [{"at": "2024-05-01T10:00:00Z", "outcome": "pass", "value": 1500.0}],
        "last_passed_at": "2024-05-01T10:00:00Z", "statements": ["SELECT count(*) FROM fact_orders"],
    }
    base = Notification(
        key="42:1:pager", channel="pager", incident=42, incident_key="fact_orders.volume",
        event=EventKind.OPENED, outcome="fail", severity="critical", title="fact_orders.volume failed",
        opened_at="2024-05-01T11:00:00Z", at="2024-05-01T11:00:00Z", context=context)
    return replace(base, **changes)


def wire_size(request: dict[str, Any]) -> int:
    """AWS's count, computed here independently of `size`: message plus attribute names, types, values."""
    parts = [request["Message"]]
    for name, value in request["MessageAttributes"].items():
        parts += [name, value["DataType"], value["StringValue"]]
    return sum(len(part.encode("utf-8")) for part in parts)


def assert_valid(request: dict[str, Any]) -> dict[str, Any]:
    """What AWS demands of a publish that moto does not check; returns the incident JSON."""
    assert wire_size(request) == size(request) <= MAX_BYTES
    assert_subject(request["Subject"])
    assert 0 < len(request["MessageAttributes"]) <= 10
    assert all(value["StringValue"] for value in request["MessageAttributes"].values())
    structure = json.loads(request["Message"])
    assert set(structure) == {"default", "email"}
    incident: dict[str, Any] = json.loads(structure["default"])
    assert structure["email"] == incident["text"]
    return incident


def assert_subject(text: str) -> None:
    assert 0 < len(text) <= 99
    assert text.isascii() and text.isprintable()


@dataclass
class Aws(Topics):
    """moto's SNS and SQS, plus channels publishing to it."""

    tmp_path: Path = Path()

    def channel(self, topic: str, endpoint_url: str | None = None) -> SnsChannel:
        config = SnsChannelConfig(kind="sns", topic_arn=topic, region="us-east-1",
                                  endpoint_url=endpoint_url or self.moto.endpoint_url)
        return SnsChannel("pager", config, ChannelEnv(base_dir=self.tmp_path, redact=Redactor(), timeout=30))


@pytest.fixture
def aws(aws_env: MotoServer, tmp_path: Path) -> Aws:
    return Aws(aws_env, tmp_path)


# --- deliveries through moto --------------------------------------------------------------------------------


def test_raw_and_wrapped_queues_get_the_incident_json_and_attributes(aws: Aws) -> None:
    topic = aws.topic("data-incidents")
    raw, wrapped = aws.queue("raw", topic, raw=True), aws.queue("wrapped", topic, raw=False)
    notification = make_notification(root=RootCause(incident=7, key="raw_orders.freshness", title="raw late"))
    channel = aws.channel(topic)

    assert channel.send(notification, None) == Delivered(None)

    [message] = aws.receive(raw)
    incident = json.loads(message["Body"])
    assert incident["key"] == "42:1:pager" and incident["incident"] == 42
    assert incident["context"]["check"] == "fact_orders.volume" and "truncated" not in incident["context"]
    assert incident["root"] == {"incident": 7, "key": "raw_orders.freshness", "title": "raw late",
                                "dataset": None}
    assert incident["text"] == render_text(notification)
    assert "probable root cause: raw late (incident #7)" in incident["text"]
    assert Notification.from_dict({k: v for k, v in incident.items() if k != "text"}) == notification
    got = {name: value["StringValue"] for name, value in message["MessageAttributes"].items()}
    assert got == {"severity": "critical", "dataset": "fact_orders", "owner": "sales-analytics",
                   "outcome": "fail", "check": "fact_orders.volume", "event": "opened",
                   "incident": "fact_orders.volume", "idempotency_key": "42:1:pager",
                   "root_cause": "raw_orders.freshness"}

    [message] = aws.receive(wrapped)
    envelope = json.loads(message["Body"])
    assert envelope["Type"] == "Notification" and envelope["TopicArn"] == topic
    assert envelope["Subject"] == "[demon] [critical] fact_orders.volume failed (opened)"
    assert json.loads(envelope["Message"]) == incident  # the envelope's Message is parsed a second time
    assert envelope["MessageAttributes"]["severity"] == {"Type": "String", "Value": "critical"}
    assert envelope["MessageAttributes"]["idempotency_key"] == {"Type": "String", "Value": "42:1:pager"}
    channel.close()


def test_email_gets_compact_text_and_the_json_appears_once(aws: Aws) -> None:
    request = publish_request(make_notification(), f"{ACCOUNT_ARN}:data-incidents")
    incident = assert_valid(request)
    assert json.loads(request["Message"])["email"].startswith(headline(make_notification()))
    assert request["Message"].count('key\\": \\"42:1:pager') == 1  # inside `default` only
    assert incident["event"] == "opened"
    assert "MessageGroupId" not in request and "MessageDeduplicationId" not in request


def test_a_filter_policy_on_severity_receives_only_matching_notifications(aws: Aws) -> None:
    topic = aws.topic("data-incidents")
    everything = aws.queue("everything", topic, raw=True)
    critical = aws.queue("critical", topic, raw=True, policy={"severity": ["critical"]})
    channel = aws.channel(topic)
    channel.send(make_notification(severity="low", key="43:1:pager", incident=43), None)
    channel.send(make_notification(), None)

    assert [json.loads(m["Body"])["key"] for m in aws.receive(critical)] == ["42:1:pager"]
    assert aws.receive(critical, wait=0) == []
    assert sorted(json.loads(m["Body"])["severity"] for m in aws.receive(everything)) == ["critical", "low"]


def test_empty_attribute_values_are_left_out(aws: Aws) -> None:
    """moto, like AWS, refuses an empty attribute value: the publish going through proves none was sent."""
    topic = aws.topic("data-incidents")
    raw = aws.queue("raw", topic, raw=True)
    context: Context = {"owner": "", "dataset": " ", "check": "\x00"}
    aws.channel(topic).send(make_notification(context=context, incident_key="source:warehouse"), None)

    [message] = aws.receive(raw)
    assert set(message["MessageAttributes"]) == {"severity", "outcome", "event", "incident",
                                                 "idempotency_key"}


def test_fifo_topic_sets_group_and_dedup_ids_and_delivers_a_repeat_once(aws: Aws) -> None:
    topic = aws.topic("data-incidents.fifo")
    queue = aws.queue("incidents.fifo", topic, raw=True)
    channel = aws.channel(topic)
    first = make_notification()
    channel.send(first, None)
    channel.send(first, None)  # demon died after sending, before marking it sent: the outbox sends again
    channel.send(make_notification(key="42:2:pager", event=EventKind.RESOLVED, outcome="pass"), None)

    messages = aws.receive(queue)
    assert [json.loads(m["Body"])["key"] for m in messages] == ["42:1:pager", "42:2:pager"]
    assert [m["Attributes"]["MessageDeduplicationId"] for m in messages] == ["42:1:pager", "42:2:pager"]
    assert {m["Attributes"]["MessageGroupId"] for m in messages} == {"fact_orders.volume"}


def test_fifo_ids_outside_aws_rules_are_hashed(aws: Aws) -> None:
    topic = aws.topic("data-incidents.fifo")
    queue = aws.queue("incidents.fifo", topic, raw=True)
    key = "42:1:" + "p" * 200
    notification = make_notification(key=key, incident_key="source:ware house ü")
    request = publish_request(notification, topic)
    assert request["MessageDeduplicationId"] == hashlib.sha256(key.encode()).hexdigest()
    assert request["MessageGroupId"] == hashlib.sha256("source:ware house ü".encode()).hexdigest()
    aws.channel(topic).send(notification, None)
    aws.channel(topic).send(notification, None)

    [message] = aws.receive(queue)
    assert message["Attributes"]["MessageDeduplicationId"] == request["MessageDeduplicationId"]
    assert json.loads(message["Body"])["key"] == key


@pytest.mark.parametrize("title", ["", "\n", "line one\nline two\r\n\tend", "Übergröße ✓ 数据 façade",
                                   "x" * 500, "\x00\x07\u2028\u200b", "a" * 98 + "é"])
def test_any_title_gives_a_valid_subject(aws: Aws, title: str) -> None:
    topic = aws.topic("data-incidents")
    wrapped = aws.queue("wrapped", topic, raw=False)
    notification = make_notification(title=title)
    assert_subject(subject(notification))
    aws.channel(topic).send(notification, None)

    [message] = aws.receive(wrapped)
    envelope = json.loads(message["Body"])
    assert envelope["Subject"] == subject(notification)
    assert json.loads(envelope["Message"])["title"] == title


def test_subject_keeps_what_ascii_can_say() -> None:
    expected = "[demon] [critical] Ubergro?e facade ? (opened)"
    assert subject(make_notification(title="Übergröße\nfaçade ✓")) == expected
    assert subject(make_notification(title="x" * 500)).endswith("more characters")


# --- the size limit -----------------------------------------------------------------------------------------


def _rows(count: int) -> list[dict[str, Any]]:
    return [{"id": i, "name": f"Zoë <!channel> «{i}»\n", "note": "é" * 40} for i in range(count)]


HOSTILE: dict[str, Context] = {
    "10k sample rows": {"failing_rules": [{"rule": "not_null", "column": "name", "failing_rows": 10_000,
                                           "failing_pct": 1.0, "sample": _rows(10_000)}]},
    "a 2 MB message": {"message": "é\n\"\\" * 500_000, "trend": [
        {"at": "2024-05-01T10:00:00Z", "outcome": "pass", "value": 1.0}]},
    "long trend and statements": {
        "trend": [{"at": f"2024-05-01T10:{i % 60:02}:00Z", "outcome": "fail", "value": float(i)}
                  for i in range(20_000)],
        "statements": ["SELECT '" + "✓" * 200_000 + "'"] * 3},
    "everything at once": {
        "message": "\x00\x01" * 200_000, "members": [f"check_{i}" for i in range(50_000)],
        "schema": {"added": [f"c{i}" for i in range(30_000)], "removed": [], "retyped": []},
        "upstream": [{"dataset": "d" * 1000, "outcome": "fail", "failing": ["x" * 1000] * 200,
                      "incident": 1}],
        "downstream": ["d" * 5000] * 100, "tags": ["t" * 9000] * 100, "description": "ü" * 300_000,
        "failing_rules": [{"rule": "r" * 50_000, "column": None, "failing_rows": 1, "failing_pct": None,
                           "sample": []}] * 20,
        "thresholds": {"k" * 20_000: 1.0}, "value": float("nan"), "owner": "o" * 100_000},
}


CUT = {  # what each hostile context loses, in the order cut; only parts that were there are named
    "10k sample rows": ["samples"],
    "a 2 MB message": ["long_strings"],
    "long trend and statements": ["long_strings", "trend"],
    "everything at once": ["long_strings", "failing_rules", "members", "schema", "upstream", "details"],
}


@pytest.mark.parametrize("name", list(HOSTILE))
def test_a_hostile_context_is_trimmed_within_the_byte_limit(aws: Aws, name: str) -> None:
    topic = aws.topic("data-incidents")
    raw = aws.queue("raw", topic, raw=True)
    notification = make_notification(context={"check": "fact_orders.quality", **HOSTILE[name]})
    request = publish_request(notification, topic)
    incident = assert_valid(request)
    truncated = incident["context"]["truncated"]
    assert truncated == CUT[name]

    aws.channel(topic).send(notification, None)
    [message] = aws.receive(raw)
    assert json.loads(message["Body"])["context"]["truncated"] == truncated
    assert message["MessageAttributes"]["check"]["StringValue"] == "fact_orders.quality"


def test_trimming_cuts_the_least_needed_part_first() -> None:
    huge = HOSTILE["10k sample rows"]
    context: Context = {**huge, "trend": [{"at": "2024-05-01T10:00:00Z", "outcome": "pass", "value": 5.0}]}
    incident = assert_valid(publish_request(make_notification(context=context), f"{ACCOUNT_ARN}:t"))
    assert incident["context"]["truncated"] == ["samples"]
    [rule] = incident["context"]["failing_rules"]
    assert rule["sample"] == [{"id": i, "name": f"Zoë <!channel> «{i}»", "note": "é" * 40} for i in range(3)]
    assert rule["failing_rows"] == 10_000
    assert incident["context"]["trend"] == context["trend"]
    assert "rule not_null on name: 10000 failing rows" in incident["text"]

    long = make_notification(context=HOSTILE["a 2 MB message"])
    message = assert_valid(publish_request(long, f"{ACCOUNT_ARN}:t"))
    assert message["context"]["truncated"] == ["long_strings"]
    assert message["context"]["trend"] == HOSTILE["a 2 MB message"]["trend"]
    assert message["context"]["message"].endswith("more characters")


def test_a_huge_group_is_cut_before_the_leads_evidence_saying_how_many() -> None:
    member = Member(incident=50, key="fact_orders.quality", event="opened", outcome="fail",
                    title="fact_orders.quality failed",
                    headline="8 duplicated order_id values in fact_orders",
                    message="m" * 2000, query="SELECT " + "x" * 2000)
    rules = [{"rule": "field_uniqueness", "column": "order_id", "failing_rows": 8, "failing_pct": 0.00087,
              "sample": []}]
    notification = make_notification(group=[member] * 200, context={
        **make_notification().context, "failing_rules": rules, "headline": "fact_orders has 12 rows"})
    incident = assert_valid(publish_request(notification, f"{ACCOUNT_ARN}:t"))
    assert incident["context"]["truncated"] == ["trend", "statements", "group"]
    assert [(m["message"], m["query"]) for m in incident["group"]] == [("", None)] * 200
    assert incident["context"]["failing_rules"] == rules
    assert "fact_orders: 201 checks failing — fact_orders has 12 rows" in incident["text"]
    assert "rule field_uniqueness on order_id: 8 failing rows (0.087%)" in incident["text"]

    many = replace(notification, group=[member] * 5000)
    emptied = assert_valid(publish_request(many, f"{ACCOUNT_ARN}:t"))
    assert emptied["context"]["truncated"] == ["trend", "statements", "group", "group (5000 more checks)"]
    assert emptied["group"] == [] and emptied["context"]["failing_rules"] == rules

    small = make_notification(group=[member] * 2, context={**make_notification().context, "headline": "h"})
    kept = assert_valid(publish_request(small, f"{ACCOUNT_ARN}:t"))
    assert len(kept["group"]) == 2
    assert "- 8 duplicated order_id values in fact_orders (incident #50)" in kept["text"]


def test_nan_and_lone_surrogates_still_give_json_and_utf8() -> None:
    context: Context = {"value": float("inf"), "message": "bad \ud800 half",
                        "thresholds": {"max": float("nan")},
                        "trend": [{"at": "x", "outcome": "fail", "value": float("-inf")}]}
    request = publish_request(make_notification(context=context, title="t \udfff"), f"{ACCOUNT_ARN}:t")
    incident = assert_valid(request)
    assert incident["context"]["value"] is None and incident["context"]["thresholds"] == {"max": None}
    assert incident["context"]["message"] == "bad ? half"
    json.loads(request["Message"], parse_constant=lambda name: pytest.fail(f"{name} is not JSON"))


_text = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]) | st.sampled_from("\n\x00\"\\é✓"),
                max_size=300)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(title=_text, message=_text, owner=_text, cell=_text, repeat=st.integers(1, 3000))
def test_any_text_gives_a_valid_request(title: str, message: str, owner: str, cell: str, repeat: int) -> None:
    rule: FailingRule = {"rule": "r", "column": "c", "failing_rows": repeat, "failing_pct": None,
                         "sample": [{"c": cell}] * repeat}
    context: Context = {"message": message * repeat, "owner": owner, "dataset": owner,
                        "failing_rules": [rule]}
    notification = make_notification(title=title, context=context, incident_key=title)
    for topic in (f"{ACCOUNT_ARN}:t", f"{ACCOUNT_ARN}:t.fifo"):
        assert_valid(publish_request(notification, topic))


# --- failures -----------------------------------------------------------------------------------------------


def test_a_missing_topic_fails_for_good(aws: Aws) -> None:
    with pytest.raises(Permanent) as failure:
        aws.channel(f"{ACCOUNT_ARN}:no-such-topic").send(make_notification(), None)
    assert failure.value.reason.startswith("NotFound:")
    assert not any(secret in failure.value.reason for secret in SECRETS)


def test_a_bad_region_fails_the_send_not_the_channel(aws: Aws) -> None:
    config = SnsChannelConfig(kind="sns", topic_arn=f"{ACCOUNT_ARN}:t", region="not a region!")
    channel = open_channel("pager", config, ChannelEnv(base_dir=aws.tmp_path, redact=Redactor()))
    assert isinstance(channel, SnsChannel)
    with pytest.raises(Permanent, match="InvalidRegionError"):
        channel.send(make_notification(), None)


def test_missing_credentials_retry_and_are_found_later(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> None:
    topic = aws.topic("data-incidents")
    raw = aws.queue("raw", topic, raw=True)
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    channel = aws.channel(topic)
    with pytest.raises(Retry, match="NoCredentialsError"):
        channel.send(make_notification(), None)

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", DUMMY_ENV["AWS_ACCESS_KEY_ID"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", DUMMY_ENV["AWS_SECRET_ACCESS_KEY"])
    assert channel.send(make_notification(), None) == Delivered(None)
    assert len(aws.receive(raw)) == 1


def test_connection_refused_is_retried(aws: Aws) -> None:
    with socket.socket() as closed:  # bound, never listening: refused, and no other process can take it
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
        channel = aws.channel(f"{ACCOUNT_ARN}:t", endpoint_url=f"http://127.0.0.1:{port}")
        with pytest.raises(Retry) as failure:
            channel.send(make_notification(), None)
    assert "EndpointConnectionError" in failure.value.reason
    assert failure.value.after is None


class ScriptedSns(ThreadingHTTPServer):
    """Answers every request with one scripted SNS XML error, counting the attempts."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.answer: tuple[int, str, str, dict[str, str]] = (200, "", "", {})
        self.attempts = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    server: ScriptedSns

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        self.server.attempts += 1
        status, code, message, headers = self.server.answer
        body = (f'<ErrorResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><Error><Type>Sender</Type>'
                f"<Code>{code}</Code><Message>{message}</Message></Error><RequestId>r</RequestId>"
                "</ErrorResponse>").encode()
        reply(self, status, {"Content-Type": "text/xml", **headers}, body)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the tests count attempts instead."""


@pytest.fixture
def scripted() -> Iterator[ScriptedSns]:
    with serving(ScriptedSns()) as server:
        yield server


OTHER_KEY_ID = "AKIAIOSFODNN7EXAMPLE"  # an access key id demon does not know: masked by its shape
LEAK = f"key {SECRETS[1]} secret {SECRETS[0]} other {OTHER_KEY_ID}"


@pytest.mark.parametrize(("status", "code", "raised", "attempts"), [
    (400, "Throttling", Retry, 2),
    (429, "Throttled", Retry, 2),
    (500, "InternalError", Retry, 2),
    (503, "ServiceUnavailable", Retry, 2),
    (502, "BadGateway", Retry, 2),
    (400, "KMSThrottling", Retry, 1),
    (400, "InvalidParameter", Permanent, 1),
    (403, "AuthorizationError", Permanent, 1),
    (403, "InvalidClientTokenId", Permanent, 1),
    (404, "NotFound", Permanent, 1),
])
def test_sns_errors_map_to_retry_or_permanent(aws: Aws, scripted: ScriptedSns, status: int, code: str,
                                              raised: type[Exception], attempts: int) -> None:
    scripted.answer = (status, code, f"refused: {LEAK}", {})
    channel = aws.channel(f"{ACCOUNT_ARN}:t", endpoint_url=scripted.url)
    with pytest.raises(raised) as failure:
        channel.send(make_notification(), None)
    reason = failure.value.reason  # type: ignore[attr-defined]
    assert reason.startswith(f"{code}: refused")
    assert not any(secret in reason for secret in (*SECRETS, OTHER_KEY_ID)), reason
    assert scripted.attempts == attempts  # botocore retries once at most; the outbox does the rest


def test_a_retry_after_header_is_passed_on(aws: Aws, scripted: ScriptedSns) -> None:
    scripted.answer = (429, "Throttled", "slow down", {"Retry-After": "7"})
    with pytest.raises(Retry) as failure:
        aws.channel(f"{ACCOUNT_ARN}:t", endpoint_url=scripted.url).send(make_notification(), None)
    assert failure.value.after == 7.0
    assert scripted.attempts == 2


def test_a_redactor_from_the_config_masks_its_secrets_too(aws: Aws, scripted: ScriptedSns) -> None:
    scripted.answer = (400, "InvalidParameter", "topic owned by hunter2-secret-value", {})
    config = SnsChannelConfig(kind="sns", topic_arn=f"{ACCOUNT_ARN}:t", endpoint_url=scripted.url)
    env = ChannelEnv(base_dir=aws.tmp_path, redact=Redactor(["hunter2-secret-value"]))
    channel = SnsChannel("pager", config, env)
    with pytest.raises(Permanent) as failure:
        channel.send(make_notification(), None)
    assert failure.value.reason == "InvalidParameter: topic owned by ***"
