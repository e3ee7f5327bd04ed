"""SqlStore: the SQLAlchemy implementation of `bot.ports.Store`.

The methods live in four parts, each a base of the next, so each module stays short:
`people` (organisations, members, incidents), `lessons` (reflections, visibility,
embeddings), `activity` (kudos, prompts, conversations and the rest) and `delivery`
(claiming prompts and digests for the scheduler). `session` holds the transaction
handling they share.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from storage.delivery import DeliveryStore

if TYPE_CHECKING:
    from bot.ports import Store


class SqlStore(DeliveryStore):
    """A Store on SQLite or PostgreSQL: `SqlStore(make_engine(url))` after `upgrade(url)`."""


if TYPE_CHECKING:
    # mypy checks here that SqlStore satisfies the port, signature by signature.
    def _conforms(store: SqlStore) -> Store:
        return store
