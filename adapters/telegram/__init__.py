"""The Telegram adapter: python-telegram-bot wiring, inbound and outbound translation."""
