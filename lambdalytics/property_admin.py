"""Managing properties: the store and retention together, for the admin API and the CLI.

Every change that affects retention re-applies the property's lifecycle rules (idempotent,
so a failed apply is mended by retrying the same call). Deleting a property goes in an order
that can be resumed after any failure: disable it (collectors stop forwarding its hits within
their cache TTL), delete its data, remove its lifecycle rules, and only then its items.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lambdalytics.properties import Created, NewSecret, Property, PropertyStore

if TYPE_CHECKING:
    from lambdalytics.retention import Retention

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class DeletedProperty:
    property: Property
    objects: int
    rollups: int


class PropertyAdmin:
    def __init__(self, store: PropertyStore, retention: Retention | None) -> None:
        self.store = store
        self.retention = retention

    async def _apply(self, prop: Property) -> None:
        if self.retention is not None:
            await self.retention.apply(prop)

    async def create(self, name: str, **kwargs: Any) -> Created:
        created = await self.store.create(name, **kwargs)
        await self._apply(created.property)
        log.info("created property %s", created.property.property_id)
        return created

    async def import_(self, name: str, tracking_ids: list[str], **kwargs: Any) -> Property:
        prop = await self.store.register(name, tracking_ids, **kwargs)
        await self._apply(prop)
        log.info("imported property %s (%d ids)", prop.property_id, len(prop.tracking_ids))
        return prop

    async def update(self, property_id: str, changes: Mapping[str, Any]) -> Property:
        prop = await self.store.update(property_id, changes)
        await self._apply(prop)
        return prop

    async def set_enabled(self, property_id: str, enabled: bool) -> Property:
        await self.store.set_enabled(property_id, enabled)
        return await self.store.require(property_id)

    async def add_tracking_ids(self, property_id: str, tracking_ids: list[str],
                               issue: list[str]) -> Property:
        prop = await self.store.add_tracking_ids(property_id, tracking_ids, issue=issue)
        log.info("property %s has %d tracking ids now", property_id, len(prop.tracking_ids))
        return prop

    async def remove_tracking_id(self, property_id: str, tracking_id: str) -> Property:
        prop = await self.store.remove_tracking_id(property_id, tracking_id)
        log.info("removed tracking id %s from property %s", tracking_id, property_id)
        return prop

    async def add_secret(self, property_id: str, *, label: str = "",
                         secret: str | None = None) -> NewSecret:
        made = await self.store.add_secret(property_id, label=label, secret=secret)
        log.info("added API secret %s to property %s", made.record.secret_id, property_id)
        return made

    async def revoke_secret(self, property_id: str, secret_id: str) -> None:
        await self.store.revoke_secret(property_id, secret_id)
        log.info("revoked API secret %s of property %s", secret_id, property_id)

    async def delete(self, property_id: str) -> DeletedProperty:
        await self.store.require(property_id)
        await self.store.set_enabled(property_id, False)
        objects = rollups = 0
        if self.retention is not None:
            deleted = await self.retention.delete_data(property_id)
            objects, rollups = deleted.objects, deleted.rollups
            await self.retention.remove(property_id)
        prop = await self.store.delete(property_id)
        log.info("deleted property %s", property_id)
        return DeletedProperty(prop, objects, rollups)
