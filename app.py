"""Parameter playground: the entry point. Run with ``streamlit run app.py``.

The pages are in ``pages/``; ``ui/common/pages.py`` lists them and runs the navigation.
"""

from ui.common import pages

pages.run_app()
