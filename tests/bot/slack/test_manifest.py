"""app_manifest.yml and the code agree: subcommands, events, the command, scopes."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from slack_bolt.async_app import AsyncApp

from bot.slack import command_parser
from bot.slack.app import build_slack_app
from bot.slack.commands import COMMAND
from tests.bot.slack.harness import harness_settings

ROOT = Path(__file__).resolve().parents[3]
MANIFEST = yaml.safe_load((ROOT / "app_manifest.yml").read_text())
# The bot scope each Web API method needs (api.slack.com/methods; views.* need none).
SCOPE_OF_METHOD = {
    "chat_postMessage": "chat:write", "chat_update": "chat:write",
    "chat_postEphemeral": "chat:write", "files_upload_v2": "files:write",
    "files_getUploadURLExternal": "files:write", "files_completeUploadExternal": "files:write",
    "users_info": ("users:read", "users:read.email"),
    "usergroups_users_list": "usergroups:read",
    "conversations_open": "im:write", "views_open": None, "views_update": None,
    "views_push": None, "views_publish": None,
}  # fmt: skip
CLIENT_CALL = re.compile(r"\.((?:chat|files|users|usergroups|conversations|views)_\w+)\(")


def _command() -> dict[str, Any]:
    (command,) = MANIFEST["features"]["slash_commands"]
    return command


def _hint_subcommands(hint: str) -> set[str]:
    # "sequence show NAME" -> "sequence show": the leading lowercase words of each part.
    names = set()
    for part in hint.split(" | "):
        words = []
        for word in part.split():
            if not re.fullmatch(r"[a-z]+", word):
                break
            words.append(word)
        names.add(" ".join(words))
    return names


def test_every_subcommand_is_in_the_usage_hint_and_the_description_and_the_reverse():
    command = _command()
    assert command["command"] == COMMAND and command["should_escape"] is True
    assert _hint_subcommands(command["usage_hint"]) == set(command_parser.SUBCOMMANDS)
    described = {w.strip() for w in command["description"].split(":", 1)[1].split(",")}
    assert described == set(command_parser.SUBCOMMANDS)


async def _handled_event_types(app: AsyncApp) -> set[str]:
    """Event types some listener matches, found by offering each string its matchers
    close over as an event type (the matchers decide, not a list here)."""
    found = set()
    for listener in app._async_listeners:
        for matcher in listener.matchers:
            for candidate in _strings(matcher.func):
                body = {"type": "event_callback", "event": {"type": candidate}}
                if await matcher.func(body=body):
                    found.add(candidate)
    return found


def _strings(func: Any, depth: int = 0) -> set[str]:
    found: set[str] = set()
    for cell in getattr(func, "__closure__", None) or ():
        value = cell.cell_contents
        if isinstance(value, str):
            found.add(value)
        elif callable(value) and depth < 3:
            found |= _strings(value, depth + 1)
    return found


async def test_every_handled_event_is_subscribed_and_the_reverse(engine, fake_slack):
    app, _ = build_slack_app(harness_settings(fake_slack), engine)
    subscribed = set(MANIFEST["settings"]["event_subscriptions"]["bot_events"])
    assert await _handled_event_types(app) == subscribed
    commands = {
        c for listener in app._async_listeners for m in listener.matchers
        for c in _strings(m.func) if c.startswith("/") and await m.func(body={"command": c})
    }  # fmt: skip
    assert commands == {c["command"] for c in MANIFEST["features"]["slash_commands"]}


def test_interactivity_app_home_and_socket_mode_are_on():
    settings, features = MANIFEST["settings"], MANIFEST["features"]
    assert settings["interactivity"]["is_enabled"] is True
    assert settings["socket_mode_enabled"] is True
    assert features["app_home"]["home_tab_enabled"] is True


def test_the_scopes_are_those_the_web_api_methods_the_code_calls_need():
    called = set()
    for path in (ROOT / "bot").rglob("*.py"):
        called |= set(CLIENT_CALL.findall(path.read_text()))
    unknown = called - set(SCOPE_OF_METHOD)
    assert not unknown, f"add the scope of {unknown} to SCOPE_OF_METHOD and the manifest"
    needed = set()
    for method in called:
        scope = SCOPE_OF_METHOD[method]
        needed |= set(scope) if isinstance(scope, tuple) else {scope}
    needed -= {None}
    scopes = set(MANIFEST["oauth_config"]["scopes"]["bot"])
    assert needed | {"commands"} == scopes  # no more: an admin reviews every scope asked
