"""The Airflow face of the project: DAG factories, operators, sensors, triggers and callbacks.

Everything that imports Airflow lives in this subpackage, with one set of idioms (module-level tasks keyed
by a sender code or an SFTP user, DAGs built only when the DAG processor or a task process asks for them).
Authoring uses the names ``airflow.sdk`` publishes; beside them come the providers' hooks and notifiers, a
trigger (``airflow.triggers.base``, the documented base for custom triggers), ``AIRFLOW_HOME`` from
``airflow.configuration`` (:mod:`~sf1630.airflow.store`), and in :mod:`~sf1630.airflow.ui` the plugin
interface and the api-server's authentication (``airflow.api_fastapi``); the views read task instances
and DAG params through Airflow's public REST API (``/api/v2``) as the logged-in user
(:mod:`~sf1630.airflow.rest`), never from its metadata database. The rest of ``sf1630`` is plain Python
that a unit test imports without Airflow. Each module imports Airflow at the top, so import them from DAG
files and tasks, not from the plain packages.
"""
