"""Airflow DAG: one ``fusion`` monitoring run a day, and a notification when it found alerts.

Copy this file into the Airflow ``dags/`` folder of a deployment whose workers have fusion
installed (``FUSION_BIN``) and the pipeline definitions (``FUSION_PIPELINE``). Tasks:

``fusion_run``
    ``fusion --log-format json run --pipeline …``: the task log holds one JSON object per line
    (ship it to Loki, CloudWatch or Elasticsearch as is); the last line is the run's summary
    (``run_id``, ``status``, ``new_alerts``, ``out``, ``exit_code``), which ``BashOperator``
    pushes to XCom. Exit 1 (failed) fails the task and Airflow retries it; exit 75 (another
    run still holds the output folder) skips it: the next interval's window covers these days.
``new_alerts``
    Short-circuits unless the summary reports new confirmed alerts.
``notify``
    Placeholder for your notification (e-mail, chat webhook, ticket).

The module imports without Airflow (its helpers are tested with the fusion test suite).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shlex

FUSION_BIN = os.environ.get("FUSION_BIN", "/opt/fusion/.venv/bin/fusion")
FUSION_PIPELINE = os.environ.get("FUSION_PIPELINE", "/opt/fusion/pipelines/congo-earth-search.yaml")
EXIT_BUSY = 75
"""fusion's exit code when another run holds the output folder (fusion.exit_codes)."""


def run_command(pipeline: str = FUSION_PIPELINE, fusion: str = FUSION_BIN) -> str:
    """The shell command of the ``fusion_run`` task."""
    return f"{shlex.quote(fusion)} --log-format json run --pipeline {shlex.quote(pipeline)}"


def has_new_alerts(summary: str | None) -> bool:
    """True when a run's JSON summary line (the task's XCom) reports new confirmed alerts."""
    if not summary:
        return False
    return int(json.loads(summary).get("new_alerts", 0)) > 0


try:
    from airflow import DAG
except ImportError:  # not on an Airflow deployment: tests and linters import the helpers
    DAG = None

if DAG is not None:
    try:  # Airflow 3
        from airflow.providers.standard.operators.bash import BashOperator
        from airflow.providers.standard.operators.python import ShortCircuitOperator
    except ImportError:  # Airflow 2
        from airflow.operators.bash import BashOperator
        from airflow.operators.python import ShortCircuitOperator

    with DAG(
        dag_id="fusion_congo_yangambi",
        schedule="30 2 * * *",
        start_date=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
        catchup=False,  # each run covers its own last_days window: no backfill needed
        max_active_runs=1,
        default_args={"retries": 2, "retry_delay": dt.timedelta(minutes=30)},
        tags=["fusion", "monitoring"],
    ) as dag:
        run = BashOperator(
            task_id="fusion_run",
            bash_command=run_command(),
            skip_on_exit_code=EXIT_BUSY,
            do_xcom_push=True,
            execution_timeout=dt.timedelta(hours=6),
        )
        check = ShortCircuitOperator(
            task_id="new_alerts",
            python_callable=has_new_alerts,
            op_args=["{{ ti.xcom_pull(task_ids='fusion_run') }}"],
        )
        notify = BashOperator(
            task_id="notify",
            bash_command="echo \"new alerts: {{ ti.xcom_pull(task_ids='fusion_run') }}\"",
        )
        run >> check >> notify
