from flywheel.collect.adapters.base import Adapter


class GenericMapped(Adapter):
    name = "generic"
