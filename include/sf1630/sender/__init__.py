"""The fagsystem side of SF1630: each month, one CSV per kommune per LIS system, uploaded with its trigger.

Plain modules hold the logic (``plan``, ``export``, ``upload``, ``receipt``, ``ledger``, ``housekeeping``,
``summary``, ``source``) so it can be tested and benchmarked without Airflow; the configuration
is :mod:`sf1630.registry`. The Airflow face (DAG factory, delivery operator, deadline callback) is
:mod:`sf1630.airflow.sender`, with :mod:`sf1630.airflow.arrival` for the deferred receipt wait.
"""
