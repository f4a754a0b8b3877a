"""Where Spark runs and how it is tuned come from settings (FLYWHEEL_SPARK_*), not from code."""

from __future__ import annotations

import os
import re

import pytest

from flywheel.config import load_settings
from flywheel.errors import ConfigError
from flywheel.warehouse.engines import shuffle_partitions, spark_conf


def test_spark_settings_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("FLYWHEEL_SPARK_MASTER", "spark://cluster:7077")
    monkeypatch.setenv("FLYWHEEL_SPARK_PARTITIONS", "64")
    monkeypatch.setenv("FLYWHEEL_SPARK_CONF", "spark.driver.memory=8g; spark.sql.ansi.enabled=false ;a.b=x=y")
    load_settings.cache_clear()
    s = load_settings()
    assert (s.spark_master, s.spark_partitions) == ("spark://cluster:7077", 64)
    assert s.spark_conf == (("spark.driver.memory", "8g"), ("spark.sql.ansi.enabled", "false"), ("a.b", "x=y"))
    conf = spark_conf("/wh", s.spark_master, s.spark_partitions, s.spark_conf)
    assert conf["spark.master"] == "spark://cluster:7077"
    assert conf["spark.sql.shuffle.partitions"] == "64"
    assert conf["spark.driver.memory"] == "8g" and conf["a.b"] == "x=y"


def test_the_defaults_suit_a_laptop(monkeypatch):
    for name in ("FLYWHEEL_SPARK_MASTER", "FLYWHEEL_SPARK_PARTITIONS", "FLYWHEEL_SPARK_CONF"):
        monkeypatch.delenv(name, raising=False)
    load_settings.cache_clear()
    s = load_settings()
    conf = spark_conf("/wh", s.spark_master, s.spark_partitions, s.spark_conf)
    assert conf["spark.master"] == "local[*]"
    assert conf["spark.sql.shuffle.partitions"] == str(2 * (os.cpu_count() or 1))
    assert conf["spark.ui.showConsoleProgress"] == "false"  # no stage bars in the terminal


def test_extra_java_options_keep_the_metastore_and_log_settings():
    conf = spark_conf("/wh", "local[2]", 0, (("spark.driver.extraJavaOptions", "-Dmine=1"),))
    options = conf["spark.driver.extraJavaOptions"].split()
    assert "-Dmine=1" in options
    assert "-Dderby.system.home=/wh/_metastore" in options
    assert "-Dlog4j2.configurationFile=file:///wh/_spark/log4j2.properties" in options


@pytest.mark.parametrize(("master", "partitions", "expected"), [
    ("local", 0, 2), ("local[3]", 0, 6), ("local[2, 4]", 0, 4), ("local[*]", 5, 5),
    ("spark://host:7077", 0, 200), ("yarn", 12, 12),
])
def test_automatic_partitions_follow_the_cores_of_a_local_master(master, partitions, expected):
    assert shuffle_partitions(master, partitions) == expected


@pytest.mark.parametrize(("name", "value", "says"), [
    ("FLYWHEEL_SPARK_PARTITIONS", "many", "not a whole number"),
    ("FLYWHEEL_SPARK_PARTITIONS", "-1", "0 (automatic) or more"),
    ("FLYWHEEL_SPARK_MASTER", " ", "is empty"),
    ("FLYWHEEL_SPARK_CONF", "spark.driver.memory", "is not key=value"),
])
def test_bad_spark_settings_are_one_clear_error(monkeypatch, name, value, says):
    monkeypatch.setenv(name, value)
    load_settings.cache_clear()
    with pytest.raises(ConfigError, match=re.escape(says)) as raised:
        load_settings()
    assert name in str(raised.value)
