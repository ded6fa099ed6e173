"""The first lines a person wrote in a reply: quoted text, attribution lines and signatures cut.

Mail clients quote the message they answer below an attribution ("On Mon, ... wrote:",
Outlook's "From: / Sent:" block, "-----Original Message-----"); what the customer wrote
is above it. The plain text part is read when there is one, else the HTML part with its
markup and quoted blocks (Gmail's `gmail_quote`, Outlook's `divRplyFwdMsg`) dropped.
"""

from __future__ import annotations

import re
from email.message import EmailMessage
from html.parser import HTMLParser

MAX_LINES = 6
MAX_CHARS = 600

# A line that starts the quoted message (attribution lines in the common languages).
_QUOTE_START = re.compile(
    r"^\s*(?:"
    r"on\b.{0,200}\bwrote\s*:"
    r"|am\b.{0,200}\bschrieb\b.{0,200}:"
    r"|le\b.{0,200}\ba écrit\s*:"
    r"|el\b.{0,200}\bescribió\s*:"
    r"|il\b.{0,200}\bha scritto\s*:"
    r"|-{2,}\s*(?:original message|ursprüngliche nachricht|message d'origine"
    r"|mensaje original|messaggio originale)\s*-{2,}"
    r"|_{10,}"
    r")\s*$",
    re.IGNORECASE,
)
# Outlook's quoted header block: "From: ..." followed closely by "Sent:" or "Date:".
_FROM_LINE = re.compile(r"^\s*\*?(?:from|von|de|da)\s*:", re.IGNORECASE)
_SENT_LINE = re.compile(r"^\s*\*?(?:sent|date|gesendet|datum|envoyé|enviado|inviato)\s*:", re.I)
# Signatures: RFC 3676's "-- " line, and the phones' one-line signatures.
_SIGNATURE = re.compile(r"^(?:--\s?|sent from my \w+.*|get outlook for \w+.*)$", re.IGNORECASE)
_SPACES = re.compile(r"\s+")


def first_lines(msg: EmailMessage) -> str:
    """The first few lines the sender wrote (at most MAX_LINES, MAX_CHARS), or ""."""
    part = msg.get_body(preferencelist=("plain", "html"))
    if part is None:
        return ""
    text = _content(part)
    if part.get_content_type() == "text/html":
        text = html_to_text(text)
    return excerpt(text)


def excerpt(text: str) -> str:
    """The lines of `text` above the quoted message and signature, bounded."""
    lines = text.splitlines()
    kept: list[str] = []
    for i, line in enumerate(lines):
        if _SIGNATURE.match(line.strip()) or _quote_starts(lines, i):
            break
        if not line.lstrip().startswith(">") and line.strip():
            kept.append(" ".join(line.split()))
        if len(kept) == MAX_LINES:
            break
    joined = "\n".join(kept)
    return joined if len(joined) <= MAX_CHARS else joined[: MAX_CHARS - 1].rstrip() + "…"


def _quote_starts(lines: list[str], i: int) -> bool:
    line = lines[i]
    if _QUOTE_START.match(line):
        return True
    # Gmail wraps a long attribution: "On Mon, 9 Feb 2026 at 10:00, Ann <ann@x.test>" / "wrote:".
    if i + 1 < len(lines) and _QUOTE_START.match(f"{line} {lines[i + 1]}"):
        return True
    return bool(_FROM_LINE.match(line)) and any(_SENT_LINE.match(n) for n in lines[i + 1 : i + 4])


def _content(part: EmailMessage) -> str:
    try:
        return str(part.get_content())
    except (LookupError, UnicodeError):  # an unknown or lying charset: keep what decodes
        payload = part.get_payload(decode=True)
        return payload.decode("utf-8", "replace") if isinstance(payload, bytes) else ""


def html_to_text(html: str) -> str:
    """The visible text of an HTML reply, one line per block, quoted blocks dropped."""
    parser = _HtmlText()
    parser.feed(html)
    parser.close()
    return "".join(parser.parts)


class _HtmlText(HTMLParser):
    BLOCKS = frozenset({"p", "div", "br", "li", "tr", "table", "h1", "h2", "h3", "h4", "pre"})
    HIDDEN = frozenset({"script", "style", "head", "title", "blockquote"})
    # Where the quoted message (or the client's signature) begins: nothing after counts.
    STOP_CLASSES = frozenset({"gmail_quote", "gmail_signature", "moz-cite-prefix"})
    STOP_IDS = frozenset({"divrplyfwdmsg", "x_divrplyfwdmsg", "appendonsend", "signature"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.hidden = 0
        self.stopped = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        classes = set((found.get("class") or "").split())
        if classes & self.STOP_CLASSES or (found.get("id") or "").lower() in self.STOP_IDS:
            self.stopped = True
        if tag in self.HIDDEN:
            self.hidden += 1
        if tag in self.BLOCKS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self.HIDDEN and self.hidden:
            self.hidden -= 1
        if tag in self.BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self.stopped and not self.hidden:
            self.parts.append(_SPACES.sub(" ", data))
