"""The fagsystem side of SF1630: each month, one CSV per kommune per LIS system, uploaded with its trigger.

Plain modules hold the logic (``config``, ``plan``, ``export``, ``upload``, ``receipt``, ``ledger``,
``housekeeping``, ``summary``) so it can be tested and benchmarked without Airflow; ``dag``,
``receipt_watch`` and ``deadline`` are the Airflow-facing parts.
"""
