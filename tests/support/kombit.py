"""KOMBIT's published SFTP schema (``../shared/reference/kombit-sftp-xsd``), loaded for conformance tests.

The files are never copied into the project; a test that needs them skips when the reference folder is not
beside the checkout. KOMBIT's ``FileContentDescriptor`` wildcard (``<any namespace="##other"/>``) is strict:
an element of another namespace is valid only where the validator holds a declaration for it. The simple
pattern's ``FilType``/``SF`` are declared in the project's namespace (``sf1630-file-content.xsd``), so a
validator of KOMBIT's schema for the simple pattern loads that file beside KOMBIT's, never editing them.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import pytest
from sf1630.protocol import FILE_CONTENT_NAMESPACE, NAMESPACE

REPO_ROOT = Path(__file__).resolve().parents[2]
KOMBIT_XSD_DIR = REPO_ROOT / ".." / "shared" / "reference" / "kombit-sftp-xsd"
FILE_CONTENT_XSD = REPO_ROOT / "include" / "sf1630" / "protocol" / "schema" / "sf1630-file-content.xsd"


@cache
def _compile(with_file_content: bool) -> Any:
    from lxml import etree

    parser = etree.XMLParser(no_network=True, resolve_entities=False)
    kombit = KOMBIT_XSD_DIR / "SFTPTypes.xsd"
    if not with_file_content:
        return etree.XMLSchema(etree.parse(str(kombit), parser))
    imports = ((NAMESPACE, kombit), (FILE_CONTENT_NAMESPACE, FILE_CONTENT_XSD))
    wrapper = (
        '<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema">'
        + "".join(
            f'<xs:import namespace="{namespace}" schemaLocation="{path.resolve().as_uri()}"/>'
            for namespace, path in imports
        )
        + "</xs:schema>"
    )
    return etree.XMLSchema(etree.fromstring(wrapper.encode(), parser))


def kombit_reference_schema(*, with_file_content: bool = True) -> Any:
    """KOMBIT's schema (an ``lxml.etree.XMLSchema``), with the project's file-content namespace beside it.

    Skips the calling test when the reference folder is missing. Not thread-safe: one test at a time.
    """
    if not (KOMBIT_XSD_DIR / "SFTPTypes.xsd").is_file():
        pytest.skip(f"KOMBIT reference schema not found at {KOMBIT_XSD_DIR.resolve()}")
    return _compile(with_file_content)
