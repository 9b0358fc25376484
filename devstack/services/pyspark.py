"""What Spark's two hosts share (the Spark services and JupyterLab, whose kernel is the driver): one image and
Spark's least heap. One place, so the driver and the executors cannot drift apart."""

from __future__ import annotations

from devstack.services.base import Image

SPARK_VERSION = "4.0.1"
# JupyterLab's image, which Spark's master and worker run as well: executors then have the driver's Python minor
# (3.13) and libraries, without which a Python UDF fails; apache/spark:4.0.1 is Ubuntu's Python 3.10
PYSPARK_NOTEBOOK = Image(f"quay.io/jupyter/pyspark-notebook:spark-{SPARK_VERSION}")
# Spark refuses a driver or an executor whose heap is under 450 MiB ("System memory ... must be at least
# 471859200"): 512 MiB is the least either is given, and the master makes room for it at the floor.
SPARK_MIN_HEAP = 512
