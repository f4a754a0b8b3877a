"""`flywheel.identity.resolve(wh)` does what its docstring says: probabilistic matching runs unless
the caller opts out, without importing internal modules (issue 11, defect 7)."""

from __future__ import annotations

from identity_world import World

import flywheel.identity.probabilistic as probabilistic
from flywheel.identity import resolve


def _world(wh) -> None:
    w = World(wh)
    w.account("taobao", "tb_1", phone="13912340001")
    w.account("jd", "pin_1", phone="13912340001")
    w.land()


def test_resolve_runs_the_match_model_by_default_and_not_when_told(warehouse, monkeypatch):
    calls = []

    def spy(wh, nodes, persons, rules):
        calls.append(rules.match_threshold)
        return None

    monkeypatch.setattr(probabilistic, "match_accounts", spy)
    _world(warehouse)
    resolve(warehouse)
    assert calls == [0.99], "the public entry point runs the shipped matcher"
    resolve(warehouse, full=True, matcher=None)
    assert calls == [0.99], "matcher=None opts out"


def test_the_matcher_is_public():
    import flywheel.identity as identity

    assert identity.match_accounts is probabilistic.match_accounts
    assert "match_accounts" in identity.__all__
