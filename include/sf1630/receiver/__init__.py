"""The LIS side of SF1630: fetch deliveries from Serviceplatformen, validate them and load the warehouse.

Plain functions over an SFTP client, a :class:`~sf1630.database.Database` and the data specs, so the same
code runs inside Airflow tasks, in tests and in the benchmark. Nothing here imports Airflow, not even
lazily: the DAGs, tasks, sensor and Deadline Alert callback that drive it are in
:mod:`sf1630.airflow.receiver` and :mod:`sf1630.airflow.completeness`.
"""
