"""Replies as plain text: for the console, notices and any platform without rich UI."""

from __future__ import annotations

from bot.replies import File, Form, LessonCard, Reply, Text


def card_lines(card: LessonCard) -> tuple[str, list[str]]:
    """A lesson card as a heading (its title, or its source) and body lines."""
    labels = card.labels
    meta = [card.source] if card.title else []
    if card.incident_title:
        meta.append(f"{labels.get('incident', 'Incident')}: {card.incident_title}")
    if card.date:
        meta.append(card.date.strftime("%d-%m-%Y"))
    lines = [" · ".join(meta)] if meta else []
    lines.append(f"{labels.get('lesson', 'Les')}: {card.lesson}")
    if card.went_well:
        lines.append(f"{labels.get('went_well', '+')}: {card.went_well}")
    if card.improve:
        lines.append(f"{labels.get('improve', '-')}: {card.improve}")
    return card.title or card.source, lines


def render_plain(reply: Reply) -> str:
    """One reply as plain text, choices listed by label."""
    if isinstance(reply, Text):
        body = reply.body
        choices = reply.choices
    elif isinstance(reply, LessonCard):
        heading, lines = card_lines(reply)
        body = "\n".join([heading, *lines])
        choices = reply.choices
    elif isinstance(reply, Form):
        body = reply.title + "\n" + "\n".join(f"- {f.label}" for f in reply.fields)
        choices = ()
    elif isinstance(reply, File):  # where no file can be sent, its text is the message
        body = f"{reply.caption}\n{reply.name}:\n{reply.content.decode('utf-8', 'replace')}"
        choices = ()
    if choices:
        body += "\n" + " | ".join(f"{c.label} ({c.command})" for c in choices)
    return body
