"""Inbound: a Telegram update becomes the text that `parse_command` reads, or nothing.

Private chat: every message counts (plain text is a question or a flow answer).
Groups: only commands (addressed to this bot, or to no bot in particular), mentions of
the bot and replies to its messages. A button press sends back the `Choice.command`
that the core put in its callback data.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from telegram import CallbackQuery, Chat, ChatMemberUpdated, Message, Update, User

from bot import commands as c
from bot.commands import clean
from bot.models import Identity

PLATFORM = "telegram"
MAX_NAME = 200


@dataclass(frozen=True)
class Incoming:
    """One user action, in the terms the core understands."""

    identity: Identity
    name: str
    locale: str  # for users who are not members yet
    chat_id: int
    text: str
    group: bool = False
    reply_to: int | None = None  # in groups the answer quotes the message it answers
    thread_id: int | None = None  # forum topic of the message
    callback_id: str | None = None


@dataclass(frozen=True)
class Reachability:
    """A private chat was blocked (or unblocked) by the user."""

    identity: Identity
    reachable: bool


def identity_of(user: User) -> Identity:
    """The platform identity of a Telegram user."""
    return Identity(PLATFORM, str(user.id))


def name_of(user: User) -> str:
    """A user's name as the members table keeps it: no control characters, not too long."""
    return clean(str(user.full_name)).strip()[:MAX_NAME] or str(user.id)


def _text(value: object) -> str:
    """Message text or callback data; anything but a string (never sent by Telegram) is ""."""
    return value if isinstance(value, str) else ""


def locale_of(user: User) -> str:
    """The bot's language for a user who has not chosen one: their Telegram language."""
    return "en" if _text(user.language_code).lower().startswith("en") else "nl"


def problem(update: Update) -> str | None:
    """What makes an update unusable, or None. PTB's `de_json` checks no types, so a
    malformed body can give a message without a chat or a user whose id is text."""
    if not _is_int(update.update_id):
        return "update_id"
    query = update.callback_query
    if query is not None:
        if not _user_ok(query.from_user) or not isinstance(query.id, str):
            return "callback_query"
        message = query.message
        return "callback_query.message" if message and not _chat_ok(message.chat) else None
    change = update.my_chat_member
    if change is not None:
        status = getattr(change.new_chat_member, "status", None)
        ok = _chat_ok(change.chat) and _user_ok(change.from_user) and isinstance(status, str)
        return None if ok else "my_chat_member"
    message = update.message
    if message is None:
        return None
    if not _chat_ok(message.chat) or not _is_int(message.message_id):
        return "message"
    if message.from_user is not None and not _user_ok(message.from_user):
        return "message.from"
    thread = message.message_thread_id
    topic = message.is_topic_message
    if not (thread is None or _is_int(thread)) or not (topic is None or isinstance(topic, bool)):
        return "message.message_thread_id"
    replied = message.reply_to_message
    if replied is not None and replied.from_user is not None and not _user_ok(replied.from_user):
        return "message.reply_to_message"
    return None


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _user_ok(user: object) -> bool:
    return isinstance(user, User) and _is_int(user.id) and isinstance(user.is_bot, bool)


def _chat_ok(chat: object) -> bool:
    return isinstance(chat, Chat) and _is_int(chat.id) and isinstance(chat.type, str)


def read_update(update: Update, bot_username: str, bot_id: int) -> Incoming | Reachability | None:
    """Translate an update; None when it is not meant for the bot (or is malformed)."""
    if problem(update) is not None:
        return None
    if update.callback_query is not None:
        return _callback(update.callback_query)
    if update.my_chat_member is not None:
        return _membership(update.my_chat_member)
    message = update.message
    if message is None or message.from_user is None or message.from_user.is_bot:
        return None
    private = message.chat.type == Chat.PRIVATE
    text = _text(message.text) or _text(message.caption)
    if not private:
        addressed = _addressed_text(message, text, bot_username, bot_id)
        if addressed is None:
            return None
        text = addressed
    user = message.from_user
    return Incoming(
        identity=identity_of(user),
        name=name_of(user),
        locale=locale_of(user),
        chat_id=message.chat.id,
        text=text,
        group=not private,
        reply_to=None if private else message.message_id,
        thread_id=message.message_thread_id if message.is_topic_message else None,
    )


def _addressed_text(message: Message, text: str, username: str, bot_id: int) -> str | None:
    """The text of a group message meant for the bot, without the mention; else None."""
    if text.startswith("/"):
        word = text.split(maxsplit=1)[0]
        _, _, target = word.partition("@")
        return text if not target or target.lower() == username.lower() else None
    mention = re.compile(rf"@{re.escape(username)}\b", re.IGNORECASE) if username else None
    if mention is not None and mention.search(text):
        return re.sub(r"\s+([,.:;!?])", r"\1", " ".join(mention.sub(" ", text).split()))
    replied = message.reply_to_message
    if replied is not None and replied.from_user is not None and replied.from_user.id == bot_id:
        return text
    return None


def _callback(query: CallbackQuery) -> Incoming:
    message = query.message
    chat = message.chat if message is not None else None
    group = chat is not None and chat.type != Chat.PRIVATE
    return Incoming(
        identity=identity_of(query.from_user),
        name=name_of(query.from_user),
        locale=locale_of(query.from_user),
        chat_id=chat.id if chat is not None else query.from_user.id,
        text=_text(query.data),
        group=group,
        callback_id=query.id,
    )


def _membership(change: ChatMemberUpdated) -> Reachability | None:
    if change.chat.type != Chat.PRIVATE:
        return None
    status = change.new_chat_member.status
    return Reachability(identity_of(change.from_user), status not in ("kicked", "left"))


def command_for_member(text: str) -> c.Command:
    """Parse the text of a member; Telegram's bare /start (the Start button) means help."""
    command = c.parse_command(text)
    if isinstance(command, c.Invalid) and command.key == "join.usage":
        return c.Help()
    return command


def join_code(text: str) -> str | None:
    """The invite code of `/start CODE` (also from the deep link t.me/<bot>?start=CODE)."""
    command = c.parse_command(text)
    return command.code if isinstance(command, c.Join) else None
