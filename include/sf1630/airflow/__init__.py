"""The Airflow face of the project: DAG factories, operators, sensors, triggers and callbacks.

Everything that imports Airflow lives in this subpackage, with one set of idioms (public names from
``airflow.sdk``, module-level tasks keyed by a sender code or an SFTP user, DAGs built only when the DAG
processor or a task process asks for them). The rest of ``sf1630`` is plain Python that a unit test
imports without Airflow. Each module imports Airflow at the top, so import them from DAG files and tasks,
not from the plain packages.
"""
