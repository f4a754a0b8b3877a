"""Export-format adapters and the registry that finds one for a file."""

from __future__ import annotations

from flywheel.collect.adapters.ad_spend import AdSpendReport
from flywheel.collect.adapters.base import Adapter, Batch, ReadContext
from flywheel.collect.adapters.douyin import DouyinOrders
from flywheel.collect.adapters.generic import GenericMapped
from flywheel.collect.adapters.jd import JdOrders
from flywheel.collect.adapters.segment import SegmentEvents
from flywheel.collect.adapters.shopify import ShopifyOrders
from flywheel.collect.adapters.taobao import TaobaoOrders
from flywheel.collect.adapters.wecom import WeComContacts
from flywheel.errors import UnknownFormatError

REGISTRY: dict[str, Adapter] = {}


def register(adapter: Adapter) -> Adapter:
    """Add an adapter; later registrations of the same name replace earlier ones."""
    REGISTRY[adapter.name] = adapter
    return adapter


for _adapter in (ShopifyOrders(), TaobaoOrders(), JdOrders(), DouyinOrders(), WeComContacts(), AdSpendReport(),
                 SegmentEvents(), GenericMapped()):
    register(_adapter)


def known() -> str:
    names = list(REGISTRY)
    return ", ".join(n if n != "generic" else "generic (needs --mapping)" for n in names)


def adapter_named(name: str) -> Adapter:
    try:
        return REGISTRY[name]
    except KeyError:
        raise UnknownFormatError(f"No adapter named {name!r}. Known: {known()}.") from None


def detect(header: list[str]) -> Adapter:
    for adapter in REGISTRY.values():
        if adapter.matches(header):
            return adapter
    raise UnknownFormatError(f"No adapter for this header. Known: {known()}.")


__all__ = ["Adapter", "Batch", "ReadContext", "REGISTRY", "adapter_named", "detect", "known", "register"]
