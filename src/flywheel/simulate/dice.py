"""Buffered random draws for the hot loops.

A numpy Generator call costs about a microsecond of overhead; events and receivers need millions of
single draws, so they come from refilled blocks of one seeded generator instead (same seed, same
sequence).
"""

import numpy as np

_BLOCK = 8192


class Dice:
    """Uniform floats, bounded integers and 16-byte strings drawn block-wise from `rng`."""

    def __init__(self, rng: np.random.Generator):
        self._rng = rng
        self._floats: list[float] = []
        self._bytes = b""
        self._byte_pos = 0

    def random(self) -> float:
        if not self._floats:
            self._floats = self._rng.random(_BLOCK).tolist()
            self._floats.reverse()
        return self._floats.pop()

    def below(self, n: int) -> int:
        """An integer in [0, n)."""
        return min(int(self.random() * n), n - 1)

    def between(self, low: float, high: float) -> float:
        return low + (high - low) * self.random()

    def pick(self, values):
        return values[self.below(len(values))]

    def bytes16(self) -> bytes:
        if self._byte_pos + 16 > len(self._bytes):
            self._bytes, self._byte_pos = self._rng.bytes(16 * _BLOCK), 0
        self._byte_pos += 16
        return self._bytes[self._byte_pos - 16:self._byte_pos]

    def weighted(self, cumulative: np.ndarray) -> int:
        """An index drawn with probabilities given as a cumulative array ending at 1."""
        return min(int(np.searchsorted(cumulative, self.random(), side="right")),
                   len(cumulative) - 1)

    def poisson(self, mean: float) -> int:
        """Knuth's product-of-uniforms method; fine for the small means used here."""
        limit, count, product = np.exp(-mean), 0, self.random()
        while product > limit:
            count += 1
            product *= self.random()
        return count

    def integer(self, low: int, high: int) -> int:
        """An integer in [low, high)."""
        return low + self.below(high - low)
