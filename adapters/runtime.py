"""The composition root: builds store, index, encoders and bot from Settings."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from logging.handlers import RotatingFileHandler
from urllib.parse import quote

from sqlalchemy.engine import Engine, make_url

from adapters.notify import RoutingNotifier
from bot.config import Settings
from bot.ranking import RankingConfig
from bot.service import Bot, SystemClock
from embeddings.encoders import build_encoders
from embeddings.index import LessonIndex
from storage import SqlStore, make_engine, upgrade


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    store: SqlStore
    index: LessonIndex
    notifier: RoutingNotifier
    bot: Bot


def build(settings: Settings) -> Runtime:
    """Create (or upgrade) the database, and wire the bot; models load lazily later."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.resolved_database_url)
    upgrade(engine)
    store = SqlStore(engine)
    encoders = build_encoders(settings.encoder_names)
    # A search first catches up with other processes when the index is this old.
    index = LessonIndex(
        store, encoders, settings.data_dir, refresh_interval=settings.index_refresh_seconds
    )
    notifier = RoutingNotifier(store)
    ranking = RankingConfig()
    bot = Bot(store=store, index=index, clock=SystemClock(), notifier=notifier, ranking=ranking)
    return Runtime(settings, engine, store, index, notifier, bot)


class RedactingFilter(logging.Filter):
    """Replaces every configured secret in log records by a marker.

    The message (with its arguments), the traceback and the stack are redacted; a secret
    is also found URL-encoded (a Telegram token's ":" in a request URL).
    """

    def __init__(self, secrets: list[str]) -> None:
        super().__init__()
        forms = {form for s in secrets if len(s) >= 4 for form in (s, quote(s, safe=""))}
        escaped = [re.escape(s) for s in sorted(forms, key=len, reverse=True)]
        self.pattern = re.compile("|".join(escaped)) if escaped else None

    def filter(self, record: logging.LogRecord) -> bool:
        if self.pattern is not None:
            try:
                message = record.getMessage()
            except Exception:  # arguments that do not fit: logging would print them raw
                message = f"{record.msg} {record.args!r}"
            record.msg = self.pattern.sub("[redacted]", message)
            record.args = None
            # A traceback can carry a secret too (an HTTP error quoting a Bot API URL).
            if record.exc_info:
                record.exc_text = logging.Formatter().formatException(record.exc_info)
                record.exc_info = None
            if record.exc_text:
                record.exc_text = self.pattern.sub("[redacted]", record.exc_text)
            if record.stack_info:
                record.stack_info = self.pattern.sub("[redacted]", record.stack_info)
        return True


def log_secrets(settings: Settings) -> list[str]:
    """What logging must never show: the configured tokens and the database password."""
    secrets = settings.secrets()
    try:
        password = make_url(settings.resolved_database_url).password
    except Exception:  # an unreadable URL fails later, where it is used
        password = None
    return [*secrets, str(password)] if password else secrets


def configure_logging(settings: Settings, *, to_stderr: bool = True) -> None:
    """Log to the data directory (and stderr), with secrets redacted."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    root = logging.getLogger()
    root.setLevel(logging.INFO)
    for handler in list(root.handlers):
        root.removeHandler(handler)
    redact = RedactingFilter(log_secrets(settings))
    file_handler = RotatingFileHandler(
        settings.data_dir / "leerlus.log", maxBytes=5_000_000, backupCount=3, encoding="utf-8"
    )
    file_handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    handlers: list[logging.Handler] = [file_handler]
    if to_stderr:
        stream = logging.StreamHandler()
        stream.setLevel(logging.WARNING)
        stream.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
        handlers.append(stream)
    for handler in handlers:
        handler.addFilter(redact)
        root.addHandler(handler)
    for noisy in ("httpx", "sentence_transformers", "faiss", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
