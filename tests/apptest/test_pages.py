"""Every page loads with the shared sidebar."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from ui.common import pages, state

APP = str(pages.__file__).replace("ui/common/pages.py", "app.py")


@pytest.mark.parametrize("path, title", [(path, title) for path, title, _ in pages.ALL])
def test_every_page_loads_with_the_sidebar(app, path, title):
    app.switch_page(path).run()
    assert not app.exception, app.exception
    assert [heading.value for heading in app.title] == [title]
    assert app.sidebar.selectbox(key=state.CONNECTION_NAME).value == "Local models"
    assert app.sidebar.selectbox(key=state.MODEL).value


def test_the_app_opens_on_completions_with_the_local_models(app):
    assert app.title[0].value == "Completions"
    models = app.sidebar.selectbox(key=state.MODEL)
    assert {"smollm2-135m-instruct", "gemma-3-270m"} <= set(models.options)
    assert not app.error


def test_a_page_run_without_app_py_still_has_its_sidebar(local_env, data_dir, clean_environment):
    """The first request of a server process may run a page file alone (older multipage
    mode, see ui/common/pages.py); AppTest's switch_page does the same without the shim, and the
    page runs through the app's navigation all the same."""
    at = AppTest.from_file(APP, default_timeout=120).run()
    at.switch_page(pages.MODELS).run()
    assert not at.exception, at.exception
    assert at.title[0].value == "Models"
    assert at.sidebar.selectbox(key=state.CONNECTION_NAME).value == "Local models"
