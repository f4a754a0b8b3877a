"""The pipeline: stages in order, with progress, and a run record of each stage's time and memory.

    record, results = run_pipeline("demo", demo_stages(out_dir, persons=20_000, seed=7), settings)

`flywheel demo`, the test fixtures and `flywheel run` compose the same stages (`stages.py`).
"""

from flywheel.pipeline.record import RunRecord, StageRecord
from flywheel.pipeline.run import RunContext, Stage, run_pipeline
from flywheel.pipeline.stages import (
    demo_stages,
    identity_stage,
    ingest_stage,
    insight_stage,
    report_stage,
    run_stages,
    simulate_stage,
    value_stage,
)

__all__ = ["RunContext", "RunRecord", "Stage", "StageRecord", "demo_stages", "identity_stage", "ingest_stage",
           "insight_stage", "report_stage", "run_pipeline", "run_stages", "simulate_stage", "value_stage"]
