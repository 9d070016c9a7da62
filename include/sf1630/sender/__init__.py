"""The fagsystem side of SF1630: each month, one CSV per kommune per LIS system, uploaded with its trigger.

Plain modules hold the logic (``config``, ``plan``, ``export``, ``upload``, ``receipt``, ``ledger``,
``housekeeping``, ``summary``) so it can be tested and benchmarked without Airflow; ``dag`` and
``deadline`` are the Airflow-facing parts (with :mod:`sf1630.arrival`, the deferred receipt wait).
"""
