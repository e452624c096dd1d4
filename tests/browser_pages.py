"""What both browser tests (the Flask example, the Django app) need of Selenium beyond its API."""

from __future__ import annotations

from typing import Any


def page_gone(element: Any) -> bool:
    """Whether the page ``element`` was on has gone. Mid-navigation Chromium may answer with a
    plain WebDriverException that the node "does not belong to the document": gone as well."""
    from selenium.common.exceptions import StaleElementReferenceException, WebDriverException

    try:
        element.is_enabled()
    except StaleElementReferenceException:
        return True
    except WebDriverException as exc:
        if "does not belong to the document" in str(exc):
            return True
        raise
    return False
