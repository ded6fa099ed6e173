"""The fake Slack Web API answers the real slack_sdk client as Slack does."""

from __future__ import annotations

import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.web.async_client import AsyncWebClient

from tests.fakes.slack_api import FakeSlackApi


def _client(fake: FakeSlackApi, **kw) -> AsyncWebClient:
    return AsyncWebClient(token="xoxb-test", base_url=fake.base_url, **kw)


async def test_messages_are_posted_updated_and_recorded(fake_slack: FakeSlackApi) -> None:
    client = _client(fake_slack)
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "*hi*"}}]
    posted = await client.chat_postMessage(channel="C0TASKS01", text="hi", blocks=blocks)
    await client.chat_update(channel="C0TASKS01", ts=posted["ts"], text="done", blocks=[])
    await client.chat_postEphemeral(channel="C0TASKS01", user="U0ANNA01", text="psst")

    (message,) = fake_slack.channel_messages("C0TASKS01")
    assert (message.text, message.blocks, message.history[0]["blocks"]) == ("done", [], blocks)
    assert fake_slack.calls_to("chat.postMessage")[0].token == "xoxb-test"
    assert fake_slack.ephemeral[0]["user"] == "U0ANNA01"
    with pytest.raises(SlackApiError, match="message_not_found"):
        await client.chat_update(channel="C0TASKS01", ts="1.2", text="x")


async def test_files_upload_v2_goes_through_the_three_steps(fake_slack: FakeSlackApi) -> None:
    client = _client(fake_slack)
    result = await client.files_upload_v2(
        channel="C0DIGEST1", content=b"\x89PNG data", filename="a.png", title="Aging"
    )

    (file,) = fake_slack.files.values()
    assert (file.data, file.channel, file.title) == (b"\x89PNG data", "C0DIGEST1", "Aging")
    assert result["file"]["id"] == file.id
    methods = [c.method for c in fake_slack.calls]
    assert methods == ["files.getUploadURLExternal", "upload", "files.completeUploadExternal"]


async def test_users_groups_views_and_auth(fake_slack: FakeSlackApi) -> None:
    client = _client(fake_slack)
    fake_slack.add_user("U0ANNA01", real_name="Anna")
    fake_slack.usergroups["S0MANAGE1"] = ["U0ANNA01"]

    assert (await client.users_info(user="U0ANNA01"))["user"]["real_name"] == "Anna"
    assert (await client.usergroups_users_list(usergroup="S0MANAGE1"))["users"] == ["U0ANNA01"]
    assert (await client.auth_test())["user_id"] == "U0ARSEQ01"
    opened = await client.views_open(trigger_id="t", view={"type": "modal", "blocks": []})
    await client.views_update(view_id=opened["view"]["id"], view={"type": "modal", "blocks": [1]})
    await client.views_publish(user_id="U0ANNA01", view={"type": "home", "blocks": []})
    assert fake_slack.views[opened["view"]["id"]]["blocks"] == [1]
    assert fake_slack.views["home:U0ANNA01"]["type"] == "home"
    with pytest.raises(SlackApiError, match="user_not_found"):
        await client.users_info(user="U0NOBODY1")


async def test_a_429_with_retry_after_is_retried_by_the_client(fake_slack: FakeSlackApi) -> None:
    fake_slack.fail("chat.postMessage", status=429, retry_after=0)
    client = _client(fake_slack, retry_handlers=[AsyncRateLimitErrorRetryHandler(1)])

    await client.chat_postMessage(channel="C0TASKS01", text="hi")

    assert len(fake_slack.calls_to("chat.postMessage")) == 2
    assert len(fake_slack.messages) == 1


async def test_errors_and_a_wrong_token() -> None:
    async with FakeSlackApi(token="xoxb-right") as fake:
        with pytest.raises(SlackApiError, match="invalid_auth"):
            await _client(fake).auth_test()
        fake.fail("chat.postMessage", error="channel_not_found")
        right = AsyncWebClient(token="xoxb-right", base_url=fake.base_url)
        with pytest.raises(SlackApiError, match="channel_not_found"):
            await right.chat_postMessage(channel="C0GONE001", text="x")
