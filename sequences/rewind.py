"""The steps a skipped message carried for invoices that may still be chased.

The tick moves each enrollment past its step when it writes the step's message. When
dispatch then skips a message that lists several invoices because one of them may not
be touched any more (paid, disputed, promised, paused), the others would lose that
step. Their enrollments go back to the step the message was for and are due at once,
so the next pass writes a message for them alone (a skipped message does not count for
the frequency cap). An enrollment that moved on since then is left as it is.
"""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Sequence as Rows
from datetime import datetime, timedelta

from sqlalchemy import and_, select, update
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from sequences.ledger import record_event
from storage.models import Enrollment, EnrollmentState, Sequence
from storage.queries import TouchTarget, touch_block_reasons

REWOUND = "step_rewound"


def message_moves(
    touches: list[tuple[int, int | None, tuple[int, int], tuple[int, int] | None]],
) -> list[list[int | None]]:
    """The payload form of a message's steps: enrollment, invoice, the step's position
    and where the enrollment moved to (None, None: it completed)."""
    return [[enrollment, invoice, *position, *(moved_to or (None, None))]
            for enrollment, invoice, position, moved_to in touches]  # fmt: skip


async def rewind_skipped(
    conn: AsyncConnection,
    skipped: Mapping[int, str],
    rows: Rows[Row],
    *,
    now: datetime,
    promise_grace: timedelta,
) -> int:
    """Put back the steps of the skipped `rows` (`skipped`: row id -> why) for invoices
    that may still be touched; how many enrollments were put back."""
    moves = [(row, move) for row in rows for move in (row.payload or {}).get("moves", [])]
    moves = [(row, move) for row, move in moves if move[1] is not None]
    if not moves:
        return 0
    found = await conn.execute(
        select(Sequence.id, Sequence.name, Sequence.kind).where(
            Sequence.id.in_({row.sequence_id for row, _ in moves})
        )
    )
    sequences = {s.id: s for s in found}
    targets = {}
    for n, (row, move) in enumerate(moves):
        sequence = sequences.get(row.sequence_id)
        targets[n] = TouchTarget(
            customer_id=row.customer_id,
            invoice_ids=(move[1],),
            sequence_name=sequence.name if sequence is not None else None,
            about_dispute=sequence is not None and sequence.kind == "disputes",
        )
    reasons = await touch_block_reasons(conn, targets, now=now, promise_grace=promise_grace)
    e = Enrollment.__table__
    rewound = 0
    for n, (row, (enrollment, invoice, step, repeat, next_step, next_repeat)) in enumerate(moves):
        if reasons[n] is not None:
            continue
        moved_there = (
            and_(e.c.state == EnrollmentState.COMPLETED, e.c.exit_reason == "completed")
            if next_step is None
            else and_(
                e.c.state == EnrollmentState.ACTIVE,
                e.c.current_step == next_step,
                e.c.repeat_count == next_repeat,
            )
        )
        done = await conn.execute(
            update(e)
            .where(e.c.id == enrollment, moved_there)
            .values(
                state=EnrollmentState.ACTIVE, current_step=step, repeat_count=repeat,
                next_action_at=now, ended_at=None, exit_reason=None,
            )
        )  # fmt: skip
        if done.rowcount:
            rewound += 1
            await record_event(
                conn, kind=REWOUND, now=now, actor="dispatch", reason=skipped.get(row.id),
                customer_id=row.customer_id, invoice_id=invoice, enrollment_id=enrollment,
                outbox_id=row.id,
            )  # fmt: skip
    return rewound
