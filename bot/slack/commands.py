"""The `/ar` slash command: ack at once, check the role, parse, run the subcommand's handler.

`HANDLERS` maps each subcommand (its `command_parser.USAGE` name) to its handler in
`command_handlers`; a feature adds or replaces an entry there (the builder takes
"sequence new"). Every answer is ephemeral. Known user errors (usage, unknown
customer/invoice/sequence, a refusal of the ledger) become a message with the usage
line; anything else is logged and the user is told, without the exception's text.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.slack import command_handlers as h
from bot.slack import command_parser as p
from bot.slack.app import SlackContext
from bot.slack.client import slack_client
from bot.slack.command_handlers import Call
from bot.slack.command_replies import Reply, plain, problem, refusal
from bot.slack.roles import allows, roles_of
from sequences.ledger import LedgerError
from sequences.lookup import CustomerLookupError
from storage.models import Role

log = logging.getLogger("arseq.slack")

COMMAND = "/ar"

Handler = Callable[[Call], Awaitable[Reply | None]]

HANDLERS: dict[str, Handler] = {
    "help": h.help_,
    "status": h.status,
    "sequences": h.sequences,
    "sequence show": h.sequence_show,
    "sequence new": h.sequence_new,
    "enroll": h.enroll_,
    "unenroll": h.unenroll_,
    "pause": h.pause,
    "resume": h.resume,
    "dispute": h.dispute,
    "resolve": h.resolve,
    "promise": h.promise,
    "tasks": h.tasks,
    "kpi": h.kpi,
    "preview": h.preview,
    "link": h.link,
    "checklist": h.checklist,
}


def needed_role(command: Any) -> Role:
    """Managers build sequences and pause whole ones; collectors do everything else."""
    if isinstance(command, p.SequenceNew):
        return Role.MANAGER
    if isinstance(command, p.Pause | p.Resume) and command.target.sequence is not None:
        return Role.MANAGER
    return Role.COLLECTOR


async def run_command(
    ctx: SlackContext, body: dict[str, Any], client: AsyncWebClient
) -> Reply | None:
    """The answer to one `/ar` request (None: the handler answered itself)."""
    user = str(body.get("user_id") or "")
    role = await roles_of(ctx, client).role_of(user)
    if role == Role.VIEWER:
        return refusal(managers_only=False)
    try:
        command = p.parse(str(body.get("text") or ""))
    except p.UsageError as exc:
        return problem(exc.message, exc.usage)
    if not allows(role, needed_role(command)):
        return refusal(managers_only=True)
    usage = p.USAGE[command.name]
    try:
        return await HANDLERS[command.name](Call(command, user, role, ctx, body, client))
    except CustomerLookupError as exc:
        return problem(str(exc), usage, exc.matches)
    except LedgerError as exc:
        return problem(str(exc), usage)
    except Exception:
        log.exception("/ar %s failed", command.name)
        return plain("Sorry, that failed on our side and was logged; nothing was changed. "
                     "Try again in a moment.")  # fmt: skip


def register(app: AsyncApp, ctx: SlackContext) -> None:
    """The `/ar` listener: ack within Slack's 3 seconds, then work and respond ephemerally."""
    client = app.client if app.client is not None else slack_client(ctx.settings)

    @app.command(COMMAND)
    async def ar(ack: Any, body: dict[str, Any], respond: Any) -> None:
        await ack()
        reply = await run_command(ctx, body, client)
        if reply is not None:
            await respond(response_type="ephemeral", text=reply.text, blocks=reply.blocks)
