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
import functools
import hashlib
import hmac
import re
import smtplib
import ssl
from email.header import Header
from email.utils import format_datetime, formataddr, parseaddr
from urllib.parse import quote

from flywheel.activate.delivery.message import Message
from flywheel.activate.delivery.settings import DeliverySettings, EmailSettings

ADDRESS = re.compile(r"^[^@\s<>,;\"]+@[^@\s<>,;\"]+\.[^@\s<>,;\".]{2,}$")
UNSUBSCRIBE_PURPOSE = "marketing_email"


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


def build_email(settings: DeliverySettings, message: Message) -> bytes:
    """The e-mail for `message` (already `prepared`) as the bytes `SmtpSession.send` transmits.

    Written directly rather than through `email.message.EmailMessage`, whose generator costs a few
    milliseconds a message (it would cap one core at a few hundred e-mails per second): headers in
    ASCII with RFC 2047 encoded words for UTF-8 text, bodies in base64, CRLF line ends."""
    email = settings.email
    headers = [("From", _sender(email.sender)), ("To", message.to), ("Subject", _unstructured(message.subject, "Subject")),
               ("Date", format_datetime(dt.datetime.now(dt.timezone.utc))),
               ("Message-ID", message_id_for(message.id, email.domain)), ("MIME-Version", "1.0")]
    if message.marketing:
        links = []
        if email.unsubscribe_url and settings.unsubscribe_key and message.person_id:
            token = unsubscribe_token(settings.unsubscribe_key, message.person_id)
            links.append(f"<{email.unsubscribe_url.replace('{token}', quote(token, safe=''))}>")
        mailto = email.unsubscribe_mailto or email.sender_address
        links.append(f"<mailto:{mailto}?subject={quote('unsubscribe ' + (message.person_id or message.to))}>")
        headers.append(("List-Unsubscribe", ",\r\n ".join(links)))
        if links[0].startswith("<https:"):
            headers.append(("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"))
    text = _part("plain", message.text)
    if message.html:
        boundary = "fw-alt-" + hashlib.sha256(message.id.encode()).hexdigest()[:16]  # never in base64 lines
        headers.append(("Content-Type", f'multipart/alternative; boundary="{boundary}"'))
        body = (f"--{boundary}\r\n".encode() + text + f"\r\n--{boundary}\r\n".encode() + _part("html", message.html)
                + f"\r\n--{boundary}--\r\n".encode())
    else:
        head, _, body = text.partition(b"\r\n\r\n")
        headers += [tuple(line.split(": ", 1)) for line in head.decode().split("\r\n")]
    return "".join(f"{name}: {value}\r\n" for name, value in headers).encode("ascii") + b"\r\n" + body


def _part(subtype: str, content: str) -> bytes:
    encoded = base64.encodebytes(content.encode("utf-8")).replace(b"\n", b"\r\n")
    return (f'Content-Type: text/{subtype}; charset="utf-8"\r\nContent-Transfer-Encoding: base64\r\n\r\n'
            .encode() + encoded)


@functools.lru_cache(maxsize=4096)  # a journey step's subject is often the same for everyone: encode it once
def _unstructured(text: str, name: str) -> str:
    """Header text as ASCII: as written when it is plain and short, else RFC 2047 encoded words
    (folded at 76 characters). Line breaks of a rendered template become spaces."""
    text = " ".join(text.split())
    if text.isascii() and len(text) < 900 and "=?" not in text:
        return text
    return Header(text, "utf-8", header_name=name).encode(linesep="\r\n")


@functools.lru_cache(maxsize=64)
def _sender(sender: str) -> str:
    name, address = parseaddr(sender)
    return formataddr((name, address), charset="utf-8") if name else address


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

    def send(self, mail: bytes, to: str) -> None:
        """Send to `to` only (not to other addresses a header may name); raises smtplib's errors."""
        self.connection().sendmail(self.email.sender_address, [to], mail)
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
