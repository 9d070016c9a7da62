"""Data specs: one YAML file per extract from which schema, GX suite, DDL, export SQL and test data derive.

Import the submodules directly (``sf1630.dataspec.spec``, ``.schema`` …); this package stays light so that
loading a spec never pulls in polars or Great Expectations.
"""

from sf1630.dataspec.spec import DataSpec, list_specs, load_spec, load_spec_file

__all__ = ["DataSpec", "list_specs", "load_spec", "load_spec_file"]
