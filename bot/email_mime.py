"""Building a reminder email: multipart text and HTML, tracked links, the headers providers need.

Pure functions: the channel (`bot.email`) stores the link tokens and hands them in.
Every http(s) URL the message shows (the pay links in the HTML and the text) is
replaced by its click-tracked `/r/TOKEN` link, the HTML gets the `/o/TOKEN` open
pixel, and the headers carry one-click unsubscribe (RFC 8058).
"""

from __future__ import annotations

import hashlib
import html
import re
from email.charset import QP, Charset
from email.header import Header
from email.message import Message
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.policy import Compat32
from email.utils import format_datetime

from sequences.channels import OutgoingMessage
from sequences.engagement_links import MessageLinks

_HREF = re.compile(r"""(\bhref\s*=\s*)(["'])(.*?)\2""", re.IGNORECASE | re.DOTALL)
_TEXT_URL = re.compile(r"""https?://[^\s<>"']+""")
_TRAILING = ".,;:!?)]}"
_BODY_END = re.compile(r"</body\s*>", re.IGNORECASE)


class _Wire(Compat32):
    """compat32 with CRLF (what SMTP carries), writing a header that fits on one line as is.

    The compat32 classes build a message about four times faster than EmailMessage (whose
    headers are each parsed into objects), but compat32 still runs every header through
    `email.header.Header` to fold it: most of the cost of a message. A short ASCII value
    folds to itself, so it is written directly; anything else is folded as before.
    """

    def _fold(self, name: str, value: object, sanitize: bool) -> str:
        if (
            isinstance(value, str)
            and value.isascii()
            and len(name) + 2 + len(value) <= (self.max_line_length or 0)
            and "\n" not in value
            and "\r" not in value
        ):
            return f"{name}: {value}{self.linesep}"
        return super()._fold(name, value, sanitize)  # type: ignore[misc]


_WIRE = _Wire(linesep="\r\n")
_UTF8_QP = Charset("utf-8")
_UTF8_QP.body_encoding = QP
_LAYOUT = (
    '<!DOCTYPE html>\n<html>\n<body style="font-family: Arial, Helvetica, sans-serif; '
    'font-size: 15px; line-height: 1.5; color: #222;">\n{paragraphs}\n</body>\n</html>\n'
)


def message_id(idempotency_key: str, from_address: str) -> str:
    """The Message-ID of an outbox row, with angle brackets: the same on every retry."""
    digest = hashlib.sha256(idempotency_key.encode()).hexdigest()[:32]
    return f"<arseq.{digest}@{from_address.rpartition('@')[2]}>"


def _text_urls(text: str) -> list[tuple[int, int, str]]:
    """(start, end, url) of each URL in plain text, closing punctuation left outside."""
    found = []
    for match in _TEXT_URL.finditer(text):
        url = match.group().rstrip(_TRAILING)
        found.append((match.start(), match.start() + len(url), url))
    return found


def shown_urls(text: str, html_part: str) -> list[str]:
    """The http(s) URLs a reader can follow: the HTML's links, then the text's, once each."""
    hrefs = [html.unescape(m.group(3)).strip() for m in _HREF.finditer(html_part)]
    urls = [u for u in hrefs if u.lower().startswith(("http://", "https://"))]
    urls += [url for _, _, url in _text_urls(text)]
    return list(dict.fromkeys(urls))


def text_to_html(text: str) -> str:
    """A template without HTML: its text escaped into a minimal layout, URLs made links."""
    paragraphs = []
    for block in re.split(r"\n\s*\n", text.strip()):
        out, last = [], 0
        for start, end, url in _text_urls(block):
            out += [html.escape(block[last:start]), _anchor(url)]
            last = end
        out.append(html.escape(block[last:]))
        paragraphs.append("<p>" + "".join(out).replace("\n", "<br>\n") + "</p>")
    return _LAYOUT.format(paragraphs="\n".join(paragraphs))


def _anchor(url: str) -> str:
    escaped = html.escape(url, quote=True)
    return f'<a href="{escaped}">{escaped}</a>'


def track_text(text: str, clicks: dict[str, str]) -> str:
    """The text with each URL replaced by its tracked link."""
    out, last = [], 0
    for start, end, url in _text_urls(text):
        out += [text[last:start], clicks.get(url, url)]
        last = end
    out.append(text[last:])
    return "".join(out)


def track_html(html_part: str, links: MessageLinks) -> str:
    """The HTML with tracked hrefs and the open pixel before `</body>`."""

    def swap(match: re.Match[str]) -> str:
        url = html.unescape(match.group(3)).strip()
        if url not in links.clicks:
            return match.group()
        quote = match.group(2)
        return f"{match.group(1)}{quote}{html.escape(links.clicks[url], quote=True)}{quote}"

    tracked = _HREF.sub(swap, html_part)
    pixel = (
        f'<img src="{html.escape(links.open, quote=True)}" width="1" height="1" alt="" '
        'style="display:block;border:0;width:1px;height:1px;">'
    )
    matches = list(_BODY_END.finditer(tracked))
    if not matches:
        return tracked + pixel
    at = matches[-1].start()
    return tracked[:at] + pixel + "\n" + tracked[at:]


def build_email(
    message: OutgoingMessage,
    *,
    sender: str,
    reply_to: str | None,
    html_part: str,
    links: MessageLinks,
) -> Message:
    """The MIME message for one outbox row; `html_part` is untracked, `links` its tokens."""
    if not message.address:
        raise ValueError("an email needs the contact's address")
    # A boundary of our own: the generator would otherwise draw a random one and compile a
    # regex per message to check it against the text. "=_" never occurs in the parts,
    # which are quoted-printable (a literal "=" is written "=3D").
    boundary = "=_arseq_" + hashlib.sha256(message.idempotency_key.encode()).hexdigest()[:16]
    mail = MIMEMultipart("alternative", boundary=boundary, policy=_WIRE)
    subject = message.subject or ""
    headers: list[tuple[str, str | Header]] = [
        ("From", sender),
        ("To", message.address),
        ("Subject", subject if subject.isascii() else Header(subject, "utf-8")),
        ("Date", format_datetime(message.scheduled_for)),
        ("Message-ID", message_id(message.idempotency_key, sender)),
        *([("Reply-To", reply_to)] if reply_to else []),
        ("List-Unsubscribe", f"<{links.unsubscribe}>"),
        ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),
        ("Auto-Submitted", "auto-generated"),
        ("X-ARSeq-Idempotency-Key", message.idempotency_key),
    ]
    for name, value in headers:
        mail[name] = value
    text = track_text(message.body, links.clicks)
    mail.attach(MIMEText(text, "plain", _UTF8_QP, policy=_WIRE))  # type: ignore[arg-type]
    mail.attach(MIMEText(track_html(html_part, links), "html", _UTF8_QP, policy=_WIRE))  # type: ignore[arg-type]
    return mail
