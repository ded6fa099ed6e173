"""Building the MIME message: links found and tracked, the fallback layout, Message-ID."""

from __future__ import annotations

import email
import email.policy
from datetime import UTC, datetime

import pytest

from bot.email_mime import (
    build_email,
    message_id,
    shown_urls,
    text_to_html,
    track_html,
    track_text,
)
from sequences.channels import OutgoingMessage
from sequences.engagement_links import MessageLinks

WHEN = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
PAY = "https://pay.test/p?invoice=INV-1&amount=10.00"
LINKS = MessageLinks(
    open="https://ar.test/o/OPEN", unsubscribe="https://ar.test/u/UNSUB",
    clicks={PAY: "https://ar.test/r/CLICK"},
)  # fmt: skip


def _message(**changes: object) -> OutgoingMessage:
    values: dict[str, object] = dict(
        outbox_id=1, idempotency_key="touch:abc", channel="email", kind="customer_message",
        address="ap@customer.test", subject="Überfällig: INV-1", body=f"Pay: {PAY}.\n",
        scheduled_for=WHEN,
    )  # fmt: skip
    values.update(changes)
    return OutgoingMessage(**values)  # type: ignore[arg-type]


def test_the_message_id_is_stable_per_row_and_uses_the_sender_domain():
    first = message_id("touch:abc", "ar@billing.acme.test")
    assert first == message_id("touch:abc", "ar@billing.acme.test")
    assert first != message_id("touch:abc:fallback:email", "ar@billing.acme.test")
    assert first.startswith("<arseq.") and first.endswith("@billing.acme.test>")


def test_shown_urls_are_the_html_links_and_the_text_urls_once_each():
    html = f'<a href="{PAY.replace("&", "&amp;")}">Pay</a> <a href="mailto:ar@x.test">mail</a>'
    text = f"Pay at {PAY}. Or see (https://help.test/faq)."
    assert shown_urls(text, html) == [PAY, "https://help.test/faq"]


def test_tracking_replaces_every_shown_url_and_adds_the_pixel_before_body_end():
    html = f"<html><body><a href='{PAY.replace('&', '&amp;')}'>Pay</a></body></html>"
    tracked = track_html(html, LINKS)
    assert "href='https://ar.test/r/CLICK'" in tracked and "pay.test" not in tracked
    assert tracked.index('<img src="https://ar.test/o/OPEN"') < tracked.index("</body>")
    assert track_text(f"Pay: {PAY}.", LINKS.clicks) == "Pay: https://ar.test/r/CLICK."


def test_text_without_html_is_escaped_into_paragraphs_with_links():
    html = text_to_html("Hi <b>you</b> & co,\nline two\n\nSee https://x.test/a?b=1&c=2.")
    assert "<p>Hi &lt;b&gt;you&lt;/b&gt; &amp; co,<br>\nline two</p>" in html
    assert '<a href="https://x.test/a?b=1&amp;c=2">https://x.test/a?b=1&amp;c=2</a>.' in html


def test_the_built_message_parses_back_with_non_ascii_subject():
    mail = build_email(
        _message(), sender="ar@acme.test", reply_to=None,
        html_part=text_to_html(_message().body), links=LINKS,
    )  # fmt: skip
    parsed = email.message_from_bytes(mail.as_bytes(), policy=email.policy.default)
    assert parsed["Subject"] == "Überfällig: INV-1" and parsed["Reply-To"] is None
    assert parsed["Date"] == "Mon, 02 Mar 2026 09:30:00 +0000"
    assert "https://ar.test/r/CLICK" in parsed.get_body(("plain",)).get_content()


def test_a_message_without_an_address_is_refused():
    with pytest.raises(ValueError, match="address"):
        build_email(_message(address=None), sender="ar@acme.test", reply_to=None,
                    html_part="<p>x</p>", links=LINKS)  # fmt: skip


def test_short_headers_are_written_as_they_are_and_long_ones_folded():
    """The fast path of the wire policy gives what `email.header.Header` would."""
    long_key = "touch:" + "k" * 90
    message = _message(subject="Invoice INV-1 is past due", idempotency_key=long_key)
    mail = build_email(message, sender="ar@acme.test", reply_to="collector@acme.test",
                       html_part=text_to_html(message.body), links=LINKS)  # fmt: skip
    wire = mail.as_bytes()
    head = wire.split(b"\r\n\r\n", 1)[0]
    assert b"\r\nSubject: Invoice INV-1 is past due\r\n" in head
    assert b"X-ARSeq-Idempotency-Key: \r\n touch:kkk" in head  # too long: folded
    assert all(len(line) <= 78 or b" " not in line.strip() for line in head.split(b"\r\n"))
    parsed = email.message_from_bytes(wire, policy=email.policy.default)
    assert parsed["X-ARSeq-Idempotency-Key"].strip() == long_key
    assert parsed["Reply-To"] == "collector@acme.test"


def test_the_boundary_is_the_rows_own_and_never_in_a_part():
    """Parts are quoted-printable, so the boundary's "=_" cannot occur in them."""
    body = "Odd text: --=_arseq_ and =_ signs.\n"
    first = build_email(_message(body=body), sender="ar@acme.test", reply_to=None,
                        html_part=text_to_html(body), links=LINKS)  # fmt: skip
    again = build_email(_message(body=body), sender="ar@acme.test", reply_to=None,
                        html_part=text_to_html(body), links=LINKS)  # fmt: skip
    boundary = first.get_boundary()
    assert boundary is not None and boundary == again.get_boundary()
    parsed = email.message_from_bytes(first.as_bytes(), policy=email.policy.default)
    parts = list(parsed.iter_parts())
    assert len(parts) == 2 and parts[0].get_content().replace("\r\n", "\n") == body
    assert all(boundary.encode() not in p.as_bytes() for p in parts)
