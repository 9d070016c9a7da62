"""What a LIS team and a sender see of their months, as plain data: the Loads matrix, the Deliveries
table and a delivery's validation report.

Plain Python over the warehouse ledgers, the sender ledgers and an index of Airflow's task instances
(given by the Airflow face, :mod:`sf1630.airflow.ui`); nothing here imports Airflow, so the same code
serves the UI plugin, the benchmark and the unit tests.
"""
