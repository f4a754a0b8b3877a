"""Training the match model is deterministic for given records, and a degenerate EM session is
skipped and reported instead of crashing the resolution (issue 11, defect 6: `flywheel demo
--persons 5000 --seed 11` died in Splink's EM with an m probability below 1e-300)."""

from __future__ import annotations

import json

import pytest

from flywheel.collect import ingest_paths
from flywheel.identity import resolve
from flywheel.identity.matching import match_records
from flywheel.identity.matching.synthetic import MARKETPLACE_ROLES, marketplace_buyers
from flywheel.simulate import generate


def _fingerprint(matches) -> str:
    return json.dumps({"model": matches.model.as_json(full=True), "pairs": matches.pairs.to_pylist(),
                       "warnings": list(matches.warnings)}, sort_keys=True, default=str)


def test_a_degenerate_em_session_is_skipped_and_noted(monkeypatch):
    """Splink raises a plain ValueError when EM drives an m probability below 1e-300; that session's
    estimates are dropped, another blocking rule trains those comparisons, and the model says so."""
    from splink.internals.linker_components.training import LinkerTraining

    real = LinkerTraining.estimate_parameters_using_expectation_maximisation
    sessions = []

    def first_one_degenerates(self, blocking_rule, *args, **kwargs):
        sessions.append(blocking_rule)
        if len(sessions) == 1:
            raise ValueError("m_probability value 9.6e-305 is below the minimum allowed value of 1e-300.")
        return real(self, blocking_rule, *args, **kwargs)

    monkeypatch.setattr(LinkerTraining, "estimate_parameters_using_expectation_maximisation", first_one_degenerates)
    records, truth = marketplace_buyers(600, seed=3)
    matches = match_records(records, MARKETPLACE_ROLES, "account_key")
    assert len(sessions) >= 2, "training went on with another rule"
    notes = [w for w in matches.warnings if "degenerated and was skipped" in w]
    assert len(notes) == 1 and "underflowed" in notes[0]
    assert matches.model.notes == tuple(notes)
    assert matches.model.training_rules, "the other sessions trained the model"
    assert matches.pairs.num_rows > 0


@pytest.mark.slow
@pytest.mark.parametrize(("accounts", "seed"), [(1200, 3), (3000, 11)])
def test_training_is_deterministic_for_the_same_records(accounts, seed, monkeypatch):
    """Parallel float sums in EM and seeded sampling on several threads gave a different model per
    run; the same records must give the same parameters, pairs and notes. DuckDB connections default
    to 8 threads here (whatever the machine has) unless the matcher asks for something else."""
    import duckdb

    connect = duckdb.connect
    monkeypatch.setattr(duckdb, "connect", lambda database=":memory:", config=None, **kw:
                        connect(database, config={"threads": 8, **(config or {})}, **kw))
    records, _ = marketplace_buyers(accounts, seed=seed)
    first = match_records(records, MARKETPLACE_ROLES, "account_key")
    again = match_records(records, MARKETPLACE_ROLES, "account_key")
    assert _fingerprint(first) == _fingerprint(again)


@pytest.mark.slow
def test_seed_11_at_5000_persons_resolves_and_records_the_skipped_session(warehouse, tmp_path):
    """The reported case end to end: EM on pairs agreeing on the masked phone degenerates on this
    merchant; resolution finishes and the run record names the skipped session."""
    generate(tmp_path / "sim", persons=5000, seed=11)
    ingest_paths(warehouse, [tmp_path / "sim"])
    report = resolve(warehouse, full=True)
    assert any("phone_masked degenerated" in n for n in report.notes), report.notes
    [run] = warehouse.fetch("identity_runs").to_pylist()
    assert json.loads(run["notes"]) == report.notes
