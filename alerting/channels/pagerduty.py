"""The `pagerduty` channel: each notification is one Events API v2 event (render/pagerduty.py says which).

A send makes one request, the outbox does every retry: PagerDuty asks for another try on 429 and 5xx, and
refuses for good with 400 `{"status": "invalid event", "errors": [...]}`, whose errors name the field; the
reason quotes them. The routing key is a secret: masked in every reason, as the URL's credentials are.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from alerting.channels import ChannelEnv
from alerting.channels.http import Endpoint, NoAnswer, Poster, Unsendable, user_agent
from alerting.channels.settings import PagerDutyChannelConfig
from alerting.model import Delivered, Notification, Permanent, Retry
from alerting.render.pagerduty import encoded, event
from alerting.render.text import clip

REASON_CHARS = 300  # of what PagerDuty said, in a reason


class PagerDutyChannel:
    def __init__(self, name: str, config: PagerDutyChannelConfig, env: ChannelEnv) -> None:
        self.name = name
        self._routing_key = config.routing_key
        self._endpoint = endpoint = Endpoint.parse(config.url)
        self._redact = env.redact.extended([config.routing_key, *endpoint.secrets])
        self._shown = self._redact(endpoint.shown)
        self._headers = {**user_agent(), "Content-Type": "application/json"}
        self._http = Poster(env.timeout)

    def send(self, notification: Notification, thread: Mapping[str, str] | None) -> Delivered:
        """POST the event; PagerDuty threads by `dedup_key`, so `thread` is ignored."""
        body = encoded(event(notification, self._routing_key))
        try:
            answer = self._http.post(self._endpoint, body, self._headers)
        except NoAnswer as exc:
            raise Retry(self._reason(f"no answer from {self._shown}", str(exc))) from None
        except Unsendable as exc:
            raise Permanent(self._reason(f"{self._shown}: {exc}")) from None
        if not answer.ok:
            raise answer.refusal(self._reason(answer.status_line, _said(answer.body)))
        return Delivered(None)

    def close(self) -> None:
        """Each send opens its own connection: nothing is held open."""

    def _reason(self, what: str, said: str = "") -> str:
        """Masked before it is cut, so no half secret slips through; on one line and short."""
        said = clip(" ".join(self._redact(said).split()), REASON_CHARS)
        return f"pagerduty {self.name}: {what}" + (f": {said}" if said else "")


def _said(body: str) -> str:
    """PagerDuty's own words: `invalid event: 'payload.summary' is missing or blank; ...`, else the body."""
    try:
        answer = json.loads(body)
    except ValueError:
        return body
    if not isinstance(answer, dict):
        return body
    errors = answer.get("errors")
    details = "; ".join(str(error) for error in errors) if isinstance(errors, list) else ""
    status = str(answer.get("status") or answer.get("message") or "")
    return ": ".join(part for part in (status, details) if part) or body
