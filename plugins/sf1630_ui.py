"""Airflow plugin: the SF1630 Loads and Deliveries views and the validation report tab.

Only wiring; the app and its views live in the package (``sf1630.airflow.ui``, ``sf1630.lis_view``).
"""

from sf1630.airflow.ui import Sf1630UiPlugin

__all__ = ["Sf1630UiPlugin"]
