"""The LIS side of SF1630: fetch deliveries from Serviceplatformen, validate them and load the warehouse.

Plain functions over an SFTP client, a warehouse target and the data specs, so the same code runs inside
Airflow tasks (``sf1630.receiver.dag``), in tests and in the benchmark. Only ``dag`` and ``sensor`` touch
Airflow, and they import it lazily.
"""
