"""The GB/T 30428 catalogue (立结案标准) as data: sub-categories of events and components with
their 立案条件, time limits and 结案条件, imported from a city's file in versions.

Everyone else calls the functions here: :func:`entry_for` (the entry an incident is registered
under), :func:`categories` and :func:`category_labels` (what the forms and filters offer),
:func:`component_category` (a component's sub-category by its codes).
"""

from geo.catalogue.files import COMPONENT, EVENT, FIELDS, CatalogueFile, Row, read_catalogue
from geo.catalogue.store import (
    CatalogueImport,
    categories,
    category_labels,
    check_category,
    component_category,
    current_version,
    entry_for,
    event_categories,
    export_catalogue,
    import_catalogue,
    list_versions,
    version_rows,
)

__all__ = [
    "COMPONENT",
    "EVENT",
    "FIELDS",
    "CatalogueFile",
    "CatalogueImport",
    "Row",
    "categories",
    "category_labels",
    "check_category",
    "component_category",
    "current_version",
    "entry_for",
    "event_categories",
    "export_catalogue",
    "import_catalogue",
    "list_versions",
    "read_catalogue",
    "version_rows",
]
