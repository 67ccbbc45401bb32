from __future__ import annotations

import os
from pathlib import Path

import pytest

from airflow_provider_powerfl.exceptions import ConfigError
from airflow_provider_powerfl.runtimes import class_archive
from airflow_provider_powerfl.runtimes.command import LOCAL_DRIVER_JAVA_OPTIONS, SparkSettings, step_command


@pytest.fixture
def installation(tmp_path: Path) -> dict[str, str]:
    """A fake JDK and Spark home: the fingerprint only looks at their files."""
    java = tmp_path / "jdk" / "bin" / "java"
    java.parent.mkdir(parents=True)
    java.write_text("#!/bin/sh\n")
    jars = tmp_path / "spark" / "jars"
    jars.mkdir(parents=True)
    for name in ("spark-core.jar", "spark-sql.jar"):
        (jars / name).write_bytes(b"jar")
    return {"JAVA_HOME": str(tmp_path / "jdk"), "SPARK_HOME": str(tmp_path / "spark"), "HOME": str(tmp_path / "home")}


def test_the_archive_lives_in_the_users_cache_unless_configured(installation, tmp_path):
    assert class_archive.archive_dir(installation) == tmp_path / "home" / ".cache" / "powerfl"
    assert class_archive.archive_dir({**installation, "XDG_CACHE_HOME": "/xdg"}) == Path("/xdg/powerfl")
    assert class_archive.archive_dir({**installation, class_archive.ARCHIVE_DIR_ENV: "/here"}) == Path("/here")
    path = class_archive.archive_path(installation)
    assert path.parent == tmp_path / "home" / ".cache" / "powerfl" and path.name.startswith("spark-driver-")


def test_the_fingerprint_follows_the_jvm_the_jars_and_the_class_path_env(installation, tmp_path):
    first = class_archive.fingerprint(installation)
    assert class_archive.fingerprint(dict(installation)) == first
    assert class_archive.fingerprint({**installation, "HADOOP_CONF_DIR": "/etc/hadoop"}) != first
    (tmp_path / "spark" / "jars" / "extra.jar").write_bytes(b"jar")
    second = class_archive.fingerprint(installation)
    assert second != first
    java = tmp_path / "jdk" / "bin" / "java"
    os.utime(java, ns=(0, java.stat().st_mtime_ns + 10**9))
    assert class_archive.fingerprint(installation) != second


def test_no_archive_is_none_and_a_dumped_one_is_found(installation):
    assert class_archive.existing_archive(installation) is None
    path = class_archive.archive_path(installation)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"jsa")
    assert class_archive.existing_archive(installation) == path


def test_a_missing_jvm_or_spark_is_named(installation, tmp_path):
    with pytest.raises(ConfigError, match="java not found"):
        class_archive.fingerprint({**installation, "JAVA_HOME": str(tmp_path / "nojdk")})
    with pytest.raises(ConfigError, match="jars directory is missing"):
        class_archive.fingerprint({**installation, "SPARK_HOME": str(tmp_path / "nospark")})
    assert class_archive.existing_archive({**installation, "JAVA_HOME": str(tmp_path / "nojdk")}) is None


def test_a_local_command_maps_the_archive_and_others_do_not(tmp_path):
    archive = tmp_path / "a dir" / "driver.jsa"
    local = step_command("train", "n", SparkSettings(master="local[2]"), archive)
    assert f'spark.driver.extraJavaOptions={LOCAL_DRIVER_JAVA_OPTIONS} "-XX:SharedArchiveFile={archive}"' in local
    own = step_command("train", "n", SparkSettings(conf={"spark.driver.extraJavaOptions": "-Xss4m"}), archive)
    assert not any("SharedArchiveFile" in a for a in own)
    cluster = step_command("train", "n", SparkSettings(master="yarn"), archive)
    assert not any("SharedArchiveFile" in a for a in cluster)
