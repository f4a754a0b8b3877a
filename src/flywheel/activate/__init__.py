"""Activation: segments, journeys and the delivery that reaches people (see docs/activation.md).

Delivery's entry points are in `flywheel.activate.delivery`; the most used are named here too.
"""

from flywheel.lazy import lazy_exports

_EXPORTS = {
    "Message": "flywheel.activate.delivery.message", "Outcome": "flywheel.activate.delivery.message",
    "deliver": "flywheel.activate.delivery.dispatch", "deliver_many": "flywheel.activate.delivery.dispatch",
    "load_delivery": "flywheel.activate.delivery.store", "wecom_allows": "flywheel.activate.delivery.rules",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
