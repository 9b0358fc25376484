# devstack test bed: a before-notebook.d hook (sourced by start.sh), standing in for the pyspark-notebook image's
# 10spark-config.sh (a link to Spark's sbin/spark-config.sh there): Spark's conf dir, unless one is set already
# (devstack's compose sets SPARK_CONF_DIR for Jupyter, stream-features and the Spark master and worker).
# Spark's own spark-config.sh is not linked: its PYTHONPATH line would put the pip pyspark's python/ directory,
# which holds a partial `pyspark` package (shell.py only), in front of the real one.
export SPARK_CONF_DIR="${SPARK_CONF_DIR:-$SPARK_HOME/conf}"
