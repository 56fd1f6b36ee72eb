"""The webhook channel: one JSON POST per notification, with an `Idempotency-Key` for receivers that dedupe.

The outbox retries, so a send makes one request and sorts the answer: worth another try later (rate limits,
server errors, no connection) or never (the receiver refuses this request). Webhook URLs often carry a token
in their path or query, and headers a bearer token: reasons name only the URL's scheme and host, and mask
anything of the URL or the headers a receiver echoes back.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from alerting.channels import ChannelEnv
from alerting.channels.http import Endpoint, NoAnswer, Poster, Unsendable, user_agent
from alerting.channels.settings import WebhookChannelConfig
from alerting.model import Delivered, Notification, Permanent, Retry
from alerting.render.text import clip, render_text

BODY_SHOWN = 200  # characters of an error response shown in a reason


class WebhookChannel:
    def __init__(self, name: str, config: WebhookChannelConfig, env: ChannelEnv) -> None:
        self.name = name
        self._endpoint = endpoint = Endpoint.parse(config.url)
        self._shown = env.redact(endpoint.shown)
        self._redact = env.redact.extended([*endpoint.secrets, *config.headers.values()])
        self._headers = {**user_agent(), **config.headers, "Content-Type": "application/json"}
        self._http = Poster(env.timeout)

    def send(self, notification: Notification, thread: Mapping[str, str] | None) -> Delivered:
        """POST the notification; webhooks cannot thread, so `thread` is ignored."""
        body, headers = self._body(notification), {**self._headers, "Idempotency-Key": notification.key}
        try:
            answer = self._http.post(self._endpoint, body, headers)
        except NoAnswer as exc:
            raise Retry(self._reason("no answer", str(exc))) from None
        except Unsendable as exc:
            raise Permanent(self._reason(str(exc))) from None
        if not answer.ok:
            raise answer.refusal(self._reason(answer.status_line, answer.body))
        return Delivered(None)

    def close(self) -> None:
        """Each send opens its own connection: nothing is held open."""

    def _body(self, notification: Notification) -> bytes:
        try:
            return json.dumps(
                {"notification": notification.to_dict(), "text": render_text(notification)},
                allow_nan=False, ensure_ascii=False,
            ).encode()
        except (TypeError, ValueError) as exc:
            raise Permanent(self._reason("notification is not JSON", str(exc))) from None

    def _reason(self, what: str, said: str = "") -> str:
        """demon's words as they are; what the receiver or the network said masked (before it is cut, so
        no half secret slips through), on one line and short."""
        said = clip(" ".join(self._redact(said).split()), BODY_SHOWN)
        return f"webhook {self._shown}: {what}" + (f": {said}" if said else "")
