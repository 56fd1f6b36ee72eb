"""The `teams` channel: each notification is one Adaptive Card POSTed to a Teams incoming webhook (or a
Workflows webhook, which takes the same message). Webhooks cannot thread: every event is its own card.

A send makes one request, the outbox does every retry (429, 5xx). The older Office 365 connector webhooks
may answer 200 and say in the body that Teams refused (`... returned HTTP error 429 ...`): that status
counts. The webhook URL is the secret: reasons name the channel, never the URL.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from alerting.channels import ChannelEnv
from alerting.channels.http import Answer, Endpoint, NoAnswer, Poster, Unsendable, user_agent
from alerting.channels.settings import TeamsChannelConfig
from alerting.model import Delivered, Notification, Permanent, Retry
from alerting.render.teams import card_message, encoded
from alerting.render.text import clip

REASON_CHARS = 300  # of what Teams said, in a reason
_REFUSED_IN_BODY = re.compile(r"returned HTTP error (\d{3})")


class TeamsChannel:
    def __init__(self, name: str, config: TeamsChannelConfig, env: ChannelEnv) -> None:
        self.name = name
        self._endpoint = endpoint = Endpoint.parse(config.webhook_url)
        self._redact = env.redact.extended(endpoint.secrets)
        self._headers = {**user_agent(), "Content-Type": "application/json"}
        self._http = Poster(env.timeout)

    def send(self, notification: Notification, thread: Mapping[str, str] | None) -> Delivered:
        """POST the card; `thread` is ignored."""
        body = encoded(card_message(notification))
        try:
            answer = _as_said(self._http.post(self._endpoint, body, self._headers))
        except NoAnswer as exc:
            raise Retry(self._reason("no answer", str(exc))) from None
        except Unsendable as exc:
            raise Permanent(self._reason(str(exc))) from None
        if not answer.ok:
            raise answer.refusal(self._reason(answer.status_line, answer.body))
        return Delivered(None)

    def close(self) -> None:
        """Each send opens its own connection: nothing is held open."""

    def _reason(self, what: str, said: str = "") -> str:
        """Masked before it is cut, so no half secret slips through; on one line and short."""
        said = clip(" ".join(self._redact(said).split()), REASON_CHARS)
        return f"teams {self.name}: {what}" + (f": {said}" if said else "")


def _as_said(answer: Answer) -> Answer:
    """A 2xx whose body says Teams refused, as the status it names."""
    refused = _REFUSED_IN_BODY.search(answer.body) if answer.ok else None
    return Answer(int(refused[1]), answer.body, answer.retry_after) if refused else answer
