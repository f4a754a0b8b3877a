"""The same traits and tiers on Spark as on DuckDB, from the same small simulated merchant."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from value_merchant import link_truth

from flywheel.collect import ingest_paths
from flywheel.simulate import generate
from flywheel.value.tiers import assign_tiers, load_tiers
from flywheel.value.traits import compute_traits, default_as_of

pytestmark = pytest.mark.slow  # a minute on local Spark


COPIED = ("accounts", "identifiers", "orders", "order_items", "products", "events", "touchpoints", "referrals",
          "reviews", "consents", "person_accounts")


def _traits_and_tiers(wh, as_of=None):
    as_of = as_of or default_as_of(wh)
    traits = compute_traits(wh, as_of).to_pandas().set_index("person_id").sort_index()
    tiers = wh.fetch(assign_tiers(wh.table("person_traits"), load_tiers())).to_pandas()
    return as_of, traits, tiers.set_index("person_id")["tier"].sort_index()


@pytest.mark.spark
def test_traits_and_tiers_identical_on_duckdb_and_spark(warehouse, spark_warehouse, tmp_path):
    data = tmp_path / "data"
    generate(data, persons=120, seed=11)
    ingest_paths(warehouse, [data])
    link_truth(warehouse, data)
    for name in COPIED:  # the same canonical rows on Spark (ingestion itself is tested on both elsewhere)
        spark_warehouse.append(name, warehouse.fetch(name))
    as_of, duck, duck_tiers = _traits_and_tiers(warehouse)
    spark_as_of, spark, spark_tiers = _traits_and_tiers(spark_warehouse)
    assert spark_as_of == as_of
    assert list(spark.columns) == list(duck.columns) and list(spark.index) == list(duck.index)
    assert len(duck) > 100 and (duck["orders"] > 0).sum() > 30
    for name in duck.columns:
        a, b = duck[name], spark[name]
        if pd.api.types.is_float_dtype(a):
            np.testing.assert_allclose(b.to_numpy(dtype=float), a.to_numpy(dtype=float), rtol=1e-9, atol=1e-9,
                                       equal_nan=True, err_msg=name)
        else:
            assert ((a == b) | (a.isna() & b.isna())).all(), name
    assert (spark_tiers == duck_tiers).all()
    assert isinstance(as_of, dt.datetime)
