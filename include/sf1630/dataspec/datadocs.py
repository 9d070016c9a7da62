"""GX Data Docs views that compile GX's page templates once per process, not once per page.

GX's Jinja views build a new Jinja environment each time one is made, and every site build makes new views
(one per site section and one for the index), so each Data Docs site recompiled all of GX's templates
(about 0.7 s per file's site, most of the build). A data docs site names its views in its configuration
(``view: {module_name, class_name}``, GX's documented setting); :func:`view_config` names these, which are
GX's own views made once per process for each pair of custom folders and then reused, compiled templates and
all. The pages are GX's, unchanged. Imported by GX when a site is built (this module imports GX).
"""

from __future__ import annotations

import threading
from typing import Any

from great_expectations.render.view.view import DefaultJinjaIndexPageView, DefaultJinjaPageView

_MADE: dict[tuple[type, str | None, str | None], Any] = {}
_LOCK = threading.Lock()


class _OncePerProcess:
    """Makes a GX view class hand out one view per process for each pair of custom folders: GX's own
    constructor (the next class after this one) builds it the first time, later constructions return it."""

    def __new__(
        cls, custom_styles_directory: str | None = None, custom_views_directory: str | None = None
    ) -> Any:
        key = (cls, custom_styles_directory, custom_views_directory)
        with _LOCK:
            if key not in _MADE:
                view = object.__new__(cls)
                super(_OncePerProcess, view).__init__(  # type: ignore[call-arg]
                    custom_styles_directory=custom_styles_directory,
                    custom_views_directory=custom_views_directory,
                )
                _MADE[key] = view
            return _MADE[key]

    def __init__(
        self, custom_styles_directory: str | None = None, custom_views_directory: str | None = None
    ) -> None:
        """Made once, in ``__new__``; GX naming the same view again changes nothing."""


class PageView(_OncePerProcess, DefaultJinjaPageView):
    """GX's page view (validation results, expectation suites), one per process."""


class IndexPageView(_OncePerProcess, DefaultJinjaIndexPageView):
    """GX's index page view, one per process."""


def view_config(view: type) -> dict[str, str]:
    """The ``view`` entry of a data docs site's configuration that names ``view``."""
    return {"module_name": __name__, "class_name": view.__name__}


def site_config(base_directory: str) -> dict[str, Any]:
    """A local data docs site in ``base_directory`` whose every section and index use these views."""
    page = view_config(PageView)
    return {
        "class_name": "SiteBuilder",
        "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": base_directory},
        "site_index_builder": {"class_name": "DefaultSiteIndexBuilder", "view": view_config(IndexPageView)},
        "site_section_builders": {
            section: {"view": page} for section in ("expectations", "validations", "profiling")
        },
    }
