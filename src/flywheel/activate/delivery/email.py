"""E-mail over SMTP (`smtplib`): one message per person, headers that mail providers expect.

- `To` is the person's address, `From` the configured sender, `Subject` UTF-8 (RFC 2047 encoded
  words), text (and an optional HTML alternative) in UTF-8.
- `Message-ID` is derived from the action's idempotency key (`message_id_for`), so a message sent
  again after a lost acknowledgement carries the same id and mail clients show it once.
- Marketing mail carries `List-Unsubscribe` (a signed HTTPS link, and a mailto when configured) and,
  with the HTTPS link, `List-Unsubscribe-Post: List-Unsubscribe=One-Click` (RFC 8058).
- A connection is kept open for many messages (`SmtpSession`); a batch uses several at once.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import re
import smtplib
import ssl
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime, formataddr, parseaddr
from urllib.parse import quote

from flywheel.activate.delivery.message import Message
from flywheel.activate.delivery.settings import DeliverySettings, EmailSettings

ADDRESS = re.compile(r"^[^@\s<>,;\"]+@[^@\s<>,;\"]+\.[^@\s<>,;\".]{2,}$")
UNSUBSCRIBE_PURPOSE = "marketing_email"
POLICY = policy.default.clone(refold_source="none")
"""Headers set raw (`List-Unsubscribe`, folded between its links) go out as written: refolding would turn
a URL longer than a line into encoded words. Subjects and names are still folded and encoded (RFC 2047)."""


def message_id_for(key: str, sender_domain: str) -> str:
    """`<fw.` + 32 hex of SHA-256(key) + `@domain>`: the same key always gives the same Message-ID."""
    return f"<fw.{hashlib.sha256(key.encode()).hexdigest()[:32]}@{sender_domain}>"


def unsubscribe_token(key: bytes, person_id: str, purpose: str = UNSUBSCRIBE_PURPOSE) -> str:
    """`person.purpose.signature` (base64url): whoever holds it may withdraw that purpose for that person."""
    body = _b64(person_id.encode()) + "." + _b64(purpose.encode())
    return body + "." + _b64(hmac.digest(key, body.encode(), "sha256")[:16])


def read_unsubscribe_token(key: bytes, token: str) -> tuple[str, str] | None:
    """(person_id, purpose) of a token this merchant signed, else None."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    body = parts[0] + "." + parts[1]
    try:
        if not hmac.compare_digest(_b64(hmac.digest(key, body.encode(), "sha256")[:16]), parts[2]):
            return None
        return _unb64(parts[0]).decode(), _unb64(parts[1]).decode()
    except (ValueError, UnicodeDecodeError):
        return None


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def build_email(settings: DeliverySettings, message: Message) -> EmailMessage:
    """The e-mail for `message` (already `prepared`), ready for `SmtpSession.send`."""
    email = settings.email
    mail = EmailMessage(policy=POLICY)
    mail["From"] = _sender(email)
    mail["To"] = message.to
    mail["Subject"] = " ".join(message.subject.split())  # a rendered template's line break is no header break
    mail["Date"] = format_datetime(dt.datetime.now(dt.timezone.utc))
    mail["Message-ID"] = message_id_for(message.id, email.domain)
    if message.marketing:
        links = []
        if email.unsubscribe_url and settings.unsubscribe_key and message.person_id:
            token = unsubscribe_token(settings.unsubscribe_key, message.person_id)
            links.append(f"<{email.unsubscribe_url.replace('{token}', quote(token, safe=''))}>")
        mailto = email.unsubscribe_mailto or email.sender_address
        links.append(f"<mailto:{mailto}?subject={quote('unsubscribe ' + (message.person_id or message.to))}>")
        mail.set_raw("List-Unsubscribe", ",\n ".join(links))
        if links[0].startswith("<https:"):
            mail["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    cte = "7bit" if message.text.isascii() else "base64"
    mail.set_content(message.text, charset="utf-8", cte=cte)
    if message.html:
        mail.add_alternative(message.html, subtype="html", charset="utf-8",
                             cte="7bit" if message.html.isascii() else "base64")
    return mail


def _sender(email: EmailSettings) -> str:
    name, address = parseaddr(email.sender)
    return formataddr((name, address)) if name else address


class SmtpSession:
    """One SMTP connection, opened on first use and reused for every later message."""

    def __init__(self, email: EmailSettings, timeout: float):
        self.email, self.timeout = email, timeout
        self.smtp: smtplib.SMTP | None = None
        self.sent_on_connection = 0

    def connection(self) -> smtplib.SMTP:
        if self.smtp is None:
            e = self.email
            if e.security == "tls":
                smtp = smtplib.SMTP_SSL(e.smtp_host, e.smtp_port, timeout=self.timeout,
                                        context=ssl.create_default_context())
            else:
                smtp = smtplib.SMTP(e.smtp_host, e.smtp_port, timeout=self.timeout)
                if e.security == "starttls":
                    smtp.starttls(context=ssl.create_default_context())
            try:
                if e.username:
                    smtp.login(e.username, e.password or "")
            except BaseException:
                _quietly_close(smtp)
                raise
            self.smtp, self.sent_on_connection = smtp, 0
        return self.smtp

    @property
    def reused(self) -> bool:
        return self.smtp is not None and self.sent_on_connection > 0

    def send(self, mail: EmailMessage, to: str) -> None:
        """Send to `to` only (not to other addresses a header may name); raises smtplib's errors."""
        self.connection().send_message(mail, from_addr=self.email.sender_address, to_addrs=[to])
        self.sent_on_connection += 1

    def drop(self) -> None:
        if self.smtp is not None:
            _quietly_close(self.smtp)
        self.smtp = None

    def close(self) -> None:
        if self.smtp is not None:
            try:
                self.smtp.quit()
            except (smtplib.SMTPException, OSError):
                pass
            self.drop()


def _quietly_close(smtp: smtplib.SMTP) -> None:
    try:
        smtp.close()
    except OSError:
        pass


def valid_address(to: str) -> bool:
    """A plain ASCII address (internationalised ones need SMTPUTF8, which is not used)."""
    return bool(to) and to.isascii() and ADDRESS.match(to) is not None
