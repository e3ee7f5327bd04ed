"""Slack users as members: workspace -> organisation, created on first sight, names cached.

A user of a workspace that is mapped to an organisation (`leerlus org add … --slack-team T…`)
becomes a member of it on first contact, named after their Slack display name. Mentioned
users (`<@U…>`, a person picked in a modal) are created the same way, so the core can
resolve `@slack:U…` to them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.worker import CoreRunner
from bot.commands import clean
from bot.models import Identity, Member, Organisation
from bot.ports import Store
from bot.service import Bot

log = logging.getLogger(__name__)

PLATFORM = "slack"
MAX_NAME = 200  # characters of a name kept, as for Telegram names


@dataclass(frozen=True)
class SlackUser:
    """What users.info told us about a user."""

    id: str
    name: str
    team: str


def name_of(user: str, data: dict[str, Any]) -> str:
    """A user's name as the members table keeps it: the first name Slack has that is left
    after dropping control characters (a NUL, RTL marks), at most MAX_NAME characters."""
    profile = data.get("profile")
    profile = profile if isinstance(profile, dict) else {}
    for given in (
        profile.get("display_name"),
        profile.get("real_name"),
        data.get("real_name"),
        data.get("name"),
    ):
        name = clean(given).strip()[:MAX_NAME].strip() if isinstance(given, str) else ""
        if name:
            return name
    return user


class People:
    """Finds or creates the member behind a Slack user."""

    def __init__(self, bot: Bot, store: Store, client: AsyncWebClient, run: CoreRunner) -> None:
        self.bot = bot
        self.run = run
        self.store = store
        self.client = client
        self._users: dict[str, SlackUser] = {}
        # One creation at a time per user, so two quick first messages make one member.
        self._locks: dict[str, asyncio.Lock] = {}

    async def member(self, team: str, user: str) -> Member | None:
        """The member behind a user of `team`; None when the workspace is not mapped."""
        identity = Identity(PLATFORM, user)
        found = await self.run(self.bot.member_for, identity)
        if found is not None:
            return found
        async with self._locks.setdefault(user, asyncio.Lock()):
            org = await self.run(self._org, team)
            if org is None:
                return None
            info = await self.info(user)
            return await self.run(self.bot.ensure_member, identity, org, info.name)

    async def ensure(self, users: Iterable[str], team: str) -> None:
        """Make mentioned users members of their own workspace's organisation, if mapped."""
        for user in users:
            identity = Identity(PLATFORM, user)
            if await self.run(self.bot.member_for, identity) is not None:
                continue
            try:
                info = await self.info(user)
            except SlackApiError:
                continue  # the core answers "unknown person", which is true
            async with self._locks.setdefault(user, asyncio.Lock()):
                org = await self.run(self._org, info.team or team)
                if org is not None:
                    await self.run(self.bot.ensure_member, identity, org, info.name)

    async def info(self, user: str) -> SlackUser:
        """A user's display name and workspace, from users.info once, then from the cache."""
        cached = self._users.get(user)
        if cached is not None:
            return cached
        response = await self.client.users_info(user=user)
        data = response.get("user")
        data = data if isinstance(data, dict) else {}
        found = SlackUser(user, name_of(user, data), str(data.get("team_id") or ""))
        self._users[user] = found
        return found

    def _org(self, team: str) -> Organisation | None:
        with self.store.transaction():
            return self.store.org_by_slack_team(team) if team else None
