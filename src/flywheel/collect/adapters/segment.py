from flywheel.collect.adapters.base import Adapter


class SegmentEvents(Adapter):
    name = "segment"
