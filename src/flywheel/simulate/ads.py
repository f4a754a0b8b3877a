"""Daily ad spend per channel and campaign, and touchpoints drawn in proportion to it.

The channels' daily spend ranges describe a merchant of `SPEND_REFERENCE_PERSONS` persons; a smaller
simulated merchant spends in proportion (the same days and campaign mix for a seed, whatever the
size), so CAC and ROI come out at the scale the touches do. Touchpoints of a person fall on days and
campaigns with probability proportional to spend.
"""

from dataclasses import dataclass
from datetime import timedelta

import numpy as np

from flywheel.simulate.catalog import CHANNELS, PERIOD_DAYS, PERIOD_START

SPEND_REFERENCE_PERSONS = 3_000_000
ADS_HEADER = ("date", "channel", "campaign_id", "campaign_name", "spend", "impressions", "clicks")
_ABROAD_CHANNELS = ("google",)


@dataclass(frozen=True)
class Campaign:
    channel: str
    campaign_id: str
    campaign_name: str
    medium: str


class SpendTable:
    """Spend in cents for every (campaign, day), plus samplers for CN and abroad touchpoints."""

    def __init__(self, seed: int, persons: int = SPEND_REFERENCE_PERSONS):
        rng = np.random.default_rng([seed, 0xAD5])
        scale = persons / SPEND_REFERENCE_PERSONS
        self.campaigns: list[Campaign] = []
        rows = []
        days = np.arange(PERIOD_DAYS)
        season = 1.0 + 0.35 * np.sin(2 * np.pi * (days - 250) / 365.0)
        for c_index, channel in enumerate(CHANNELS):
            share = rng.dirichlet(np.ones(len(channel.campaigns)) * 3)
            daily = rng.uniform(channel.spend_min, channel.spend_max, size=PERIOD_DAYS) * season
            daily = np.clip(daily, channel.spend_min, channel.spend_max) * scale
            for k, name in enumerate(channel.campaigns):
                self.campaigns.append(Campaign(channel.name, f"{channel.name[:2].upper()}"
                                               f"{c_index + 1}{k + 1:03d}{seed % 1000:03d}",
                                               name, channel.medium))
                rows.append(np.round(daily * share[k] * 100).astype(np.int64))
        self.cents = np.vstack(rows)
        abroad = np.array([c.channel in _ABROAD_CHANNELS for c in self.campaigns])
        self._cum = {False: np.cumsum(np.where(abroad[:, None], 0, self.cents).ravel()),
                     True: np.cumsum(np.where(abroad[:, None], self.cents, 0).ravel())}

    def sample(self, rng: np.random.Generator, count: int, abroad: bool
               ) -> list[tuple[Campaign, float]]:
        """`count` touchpoints as (campaign, day offset with time of day), weighted by spend."""
        cum = self._cum[abroad]
        cells = np.searchsorted(cum, rng.uniform(0, cum[-1], size=count), side="right")
        offsets = rng.uniform(0.3, 0.98, size=count)
        return [(self.campaigns[int(c) // PERIOD_DAYS], float(int(c) % PERIOD_DAYS + o))
                for c, o in zip(cells, offsets)]

    def rows(self):
        """Rows of `ads/ad_spend.csv`: one per day and campaign."""
        channels = {c.name: c for c in CHANNELS}
        for day in range(PERIOD_DAYS):
            date = (PERIOD_START + timedelta(days=day)).date().isoformat()
            for k, campaign in enumerate(self.campaigns):
                cents = int(self.cents[k, day])
                channel = channels[campaign.channel]
                impressions = int(cents / 100 / channel.cpm * 1000)
                clicks = int(impressions * channel.ctr * (0.8 + 0.4 * ((day * 7 + k) % 10) / 10))
                yield (date, campaign.channel, campaign.campaign_id, campaign.campaign_name,
                       f"{cents // 100}.{cents % 100:02d}", impressions, clicks)
