"""Data Docs views made once per process: the same view object serves every site, and the pages are the ones
GX's default views write. The views' module imports GX, so the tests import it when they run: collecting
this module on every xdist worker would otherwise pay GX's import there."""

from __future__ import annotations

import re
from pathlib import Path

from sf1630.dataspec import load_spec
from sf1630.dataspec.corrupt import corrupt
from sf1630.dataspec.synth import synthesize
from sf1630.dataspec.validation import default_validator

from tests.support.dataspec import AUTHORITY, PERIOD

#: What differs between two builds of the same pages: element ids (uuid4), link timestamps, the site name.
_VOLATILE = re.compile(
    r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|\?d=\d{8}T\d{6}\.\d+Z|site_[ab]"
)


def test_each_view_is_made_once_per_process() -> None:
    from sf1630.dataspec.datadocs import IndexPageView, PageView

    assert PageView() is PageView(custom_styles_directory=None, custom_views_directory=None)
    assert IndexPageView() is IndexPageView()
    assert PageView() is not IndexPageView()
    assert PageView(custom_styles_directory="/elsewhere") is not PageView()


def test_the_pages_are_gx_defaults(tmp_path: Path) -> None:
    from great_expectations.data_context.types.resource_identifiers import ExpectationSuiteIdentifier
    from sf1630.dataspec.datadocs import site_config

    spec = load_spec("ky")
    frame = synthesize(spec, 20, AUTHORITY, PERIOD, seed=5)
    validator = default_validator()
    validated = validator.validate_bytes(corrupt(frame, spec, "wrong_type"), spec, name="bad.csv")
    gx_default = {
        "class_name": "SiteBuilder",
        "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(tmp_path / "a")},
        "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
    }
    for name, config in (("site_a", gx_default), ("site_b", site_config(str(tmp_path / "b")))):
        validator.context.add_data_docs_site(site_name=name, site_config=config)
        identifiers = [validated.key, ExpectationSuiteIdentifier(name=validated.suite)]
        validator.context.build_data_docs(site_names=[name], resource_identifiers=identifiers)
        validator.context.delete_data_docs_site(name)
    pages = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*.html"))
    assert len(pages) == 3  # the index, the suite, the validation result
    assert pages == sorted(p.relative_to(tmp_path / "b") for p in (tmp_path / "b").rglob("*.html"))
    for page in pages:
        ours, theirs = ((tmp_path / side / page).read_text(encoding="utf-8") for side in "ba")
        assert _VOLATILE.sub("", ours) == _VOLATILE.sub("", theirs), page
