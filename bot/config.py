"""Settings, read once from the environment (and a `.env` file) in the composition root."""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_ENCODERS = "e5,minilm"


def _env(*names: str) -> AliasChoices:
    return AliasChoices(*names)


class Settings(BaseSettings):
    """Every configuration variable of the spec, with its default."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True)

    database_url: str | None = Field(None, validation_alias=_env("LEERLUS_DATABASE_URL"))
    data_dir: Path = Field(Path("./data"), validation_alias=_env("LEERLUS_DATA_DIR"))
    http_host: str = Field("127.0.0.1", validation_alias=_env("LEERLUS_HTTP_HOST"))
    http_port: int = Field(8080, validation_alias=_env("LEERLUS_HTTP_PORT"))
    api_token: str | None = Field(None, validation_alias=_env("LEERLUS_API_TOKEN"))
    timezone: str = Field("Europe/Amsterdam", validation_alias=_env("LEERLUS_TIMEZONE"))
    locale: str = Field("nl", validation_alias=_env("LEERLUS_LOCALE"))
    embedding_model: str = Field(DEFAULT_ENCODERS, validation_alias=_env("LEERLUS_EMBEDDING_MODEL"))
    # Seconds between refreshes of each process's search index from the database.
    index_refresh_seconds: float = Field(
        1.0, gt=0, validation_alias=_env("LEERLUS_INDEX_REFRESH_SECONDS")
    )
    # Seconds `leerlus run` gives work it already accepted to finish when it is stopped.
    shutdown_timeout: float = Field(10.0, ge=0, validation_alias=_env("LEERLUS_SHUTDOWN_TIMEOUT"))

    slack_bot_token: str | None = Field(None, validation_alias=_env("SLACK_BOT_TOKEN"))
    slack_app_token: str | None = Field(None, validation_alias=_env("SLACK_APP_TOKEN"))
    slack_signing_secret: str | None = Field(None, validation_alias=_env("SLACK_SIGNING_SECRET"))
    slack_api_url: str | None = Field(None, validation_alias=_env("SLACK_API_URL"))

    telegram_bot_token: str | None = Field(None, validation_alias=_env("TELEGRAM_BOT_TOKEN"))
    telegram_api_url: str | None = Field(None, validation_alias=_env("TELEGRAM_API_URL"))
    telegram_webhook_url: str | None = Field(None, validation_alias=_env("TELEGRAM_WEBHOOK_URL"))
    telegram_webhook_secret: str | None = Field(
        None, validation_alias=_env("TELEGRAM_WEBHOOK_SECRET")
    )

    @property
    def resolved_database_url(self) -> str:
        """The database URL; a SQLite file in the data directory when none is set."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'leerlus.db').resolve()}"

    @property
    def encoder_names(self) -> list[str]:
        """The encoders to use, from `LEERLUS_EMBEDDING_MODEL` (comma-separated)."""
        return [n.strip() for n in self.embedding_model.split(",") if n.strip()]

    def secrets(self) -> list[str]:
        """Every configured secret, so logging can keep them out."""
        values = [
            self.api_token,
            self.slack_bot_token,
            self.slack_app_token,
            self.slack_signing_secret,
            self.telegram_bot_token,
            self.telegram_webhook_secret,
        ]
        return [v for v in values if v]
