"""Parameter playground: the entry point. Run with ``streamlit run app.py``.

The pages are in ``pages/``; ``ui/pages.py`` lists them and runs the navigation.
"""

from ui import pages

pages.run_app()
