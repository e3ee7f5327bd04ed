"""Secrets never reach a log line, not even inside a traceback."""

from __future__ import annotations

import logging

from adapters.runtime import RedactingFilter


def test_secrets_are_redacted_from_messages_and_tracebacks() -> None:
    token = "123456:SECRET-telegram-token"
    records: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(self.format(record))

    log = logging.getLogger("test.redaction")
    handler = Keep()
    handler.addFilter(RedactingFilter([token]))
    log.addHandler(handler)
    try:
        log.warning("calling https://api.telegram.org/bot%s/getMe", token)
        try:
            raise ConnectionError(f"https://api.telegram.org/bot{token}/sendMessage failed")
        except ConnectionError:
            log.exception("send failed")
    finally:
        log.removeHandler(handler)
    assert len(records) == 2
    assert all(token not in line for line in records)
    assert "[redacted]" in records[0] and "ConnectionError" in records[1]
    assert "[redacted]" in records[1]
