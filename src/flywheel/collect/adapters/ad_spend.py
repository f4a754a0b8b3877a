from flywheel.collect.adapters.base import Adapter


class AdSpendReport(Adapter):
    name = "ad_spend"
