"""Parameter playground: the entry point. Run with ``streamlit run app.py``.

Each page draws the shared sidebar itself (see ``ui/sidebar.py`` for why).
"""

import streamlit as st

from ui import pages

st.set_page_config(page_title="Parameter playground", page_icon=":material/tune:",
                   layout="wide")

navigation = st.navigation(
    [st.Page(path, title=title, icon=icon, default=path == pages.COMPLETIONS)
     for path, title, icon in pages.ALL]
)
navigation.run()
