"""One party's own deployment: the starter ``sf1630 init`` writes, and the checks ``sf1630 preflight`` runs.

A vendor deploys the sender side, a LIS team the receiver side, each in its own Airflow. What needs no
Airflow lives here (the templates and the checks over an SFTP session, a database, a store, an SMTP
server); :mod:`sf1630.airflow.preflight` resolves the Airflow connections and runs these checks over them.
"""
