"""What a tick sends through: the merchant's delivery settings, the channels' senders, and the
contact points opened for the sender only."""

from __future__ import annotations

from flywheel.activate.outbox import Guards
from flywheel.errors import InputError


def delivery_for(gate):
    """(guards, deliver, addresses) for a tick acting through `gate`."""

    def deliver(batch):
        raise InputError("no delivery settings: apply them with `flywheel --role owner delivery apply FILE.yaml`")

    def addresses(channel: str, person_id: str):
        return None

    return Guards(), deliver, addresses
