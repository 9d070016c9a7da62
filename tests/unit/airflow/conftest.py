"""The views app harness for the tests of ``sf1630.airflow.ui`` (see ``tests/support/views_app.py``)."""

from tests.support.views_app import views_app, web

__all__ = ["views_app", "web"]
