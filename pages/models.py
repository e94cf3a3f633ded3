"""Models: the connection's models in a searchable table, one model in detail, and prices."""

import pandas as pd
import streamlit as st

from playground import catalog
from playground.errors import PlaygroundError
from ui.common import models, pages, sidebar, state
from ui.common.errors import show_error
from ui.common.text import plain
from ui.models import model_check, open_in

SEND_TO = (("Completions", pages.COMPLETIONS, "completions"),
           ("Chat", pages.CHAT, "chat"),
           ("Compare", pages.COMPARE, None))
PRICE_COLUMNS = {
    "input_per_million": st.column_config.NumberColumn("Input $/1M", format="%.3f", min_value=0),
    "output_per_million": st.column_config.NumberColumn("Output $/1M", format="%.3f", min_value=0),
}

pages.within_app()  # first: a page opened by a link on a fresh server
conn, chosen = sidebar.render()
st.title("Models")
st.caption(plain(f"What {conn.name} serves, and what the playground knows about each model."))

try:
    listed = models.models_of(conn)
except PlaygroundError as exc:
    show_error(exc)
    st.stop()

price_table = catalog.PriceTable()
try:
    prices = price_table.load()
except PlaygroundError as exc:
    show_error(exc)
    prices = dict(catalog.SEED_PRICES)

query = st.text_input("Search", key="models.search", persist_state=state.PERSIST,
                      placeholder="id, owner or description", icon=":material/search:")
rows = catalog.search(catalog.model_rows(listed, prices), query)
st.dataframe(
    pd.DataFrame(rows, columns=list(catalog.MODEL_COLUMNS)),
    hide_index=True,
    column_config={
        "id": st.column_config.TextColumn("Model", pinned=True),
        "owned_by": "Owner",
        "created": st.column_config.DatetimeColumn("Created", format="YYYY-MM-DD"),
        "context_length": st.column_config.NumberColumn("Context", format="localized"),
        "endpoints": "Endpoints",
        "description": "Description",
        **PRICE_COLUMNS,
    },
)
st.caption(f"{len(rows)} of {len(listed)} models. Click a column header to sort.")
if not rows:
    st.stop()

ids = [row["id"] for row in rows]
model_id = st.selectbox("Inspect model", ids, index=ids.index(chosen) if chosen in ids else 0)
model = {catalog.model_id(entry): entry for entry in listed}[model_id]
try:
    model = catalog.combined(model, models.details_of(conn, model_id))
except PlaygroundError as exc:
    show_error(exc)
known = catalog.details(model, prices)
facts = catalog.facts(model)

cells = st.columns(3)
context = known["context_length"]
cells[0].metric("Context length", f"{context:,}" if context else "unknown")
for cell, label, column in ((cells[1], "Input $/1M tokens", "input_per_million"),
                            (cells[2], "Output $/1M tokens", "output_per_million")):
    cell.metric(label, "unknown" if known[column] is None else f"${known[column]:.3f}",
                help="From the price list below: estimates you can edit.")
st.caption(plain(f"Endpoints: {', '.join(known['endpoints']) or 'not reported'}"))
engine = model.get("engine")
if isinstance(engine, dict) and engine.get("settings"):  # the local server's engine settings
    st.caption(plain(f"Engine settings: {engine['settings']}, because "
                     f"{engine.get('reason') or 'the server gave no reason'}."))
if caption := models.how_it_runs(model):
    st.caption(plain(caption))

base = models.is_base_model(model)
if base:
    st.info(models.BASE_MODEL_NOTE, icon=":material/notes:")
buttons = st.columns(len(SEND_TO))
for cell, (title, page, endpoint) in zip(buttons, SEND_TO):
    usable = endpoint is None or facts.supports(endpoint)
    if cell.button(f"Open in {title}", key=f"models.send.{title}", disabled=not usable,
                   width="stretch",
                   help=None if usable else f"{model_id} has no {endpoint} endpoint."):
        open_in.open_in(page, model_id, base)

model_check.render(conn, model_id, page="Models")

with st.expander("Everything the endpoint returns for this model", expanded=True):
    st.json({name: value for name, value in model.items() if name != "gguf"})
if known["gguf"]:
    with st.expander("GGUF metadata"):
        st.dataframe(pd.DataFrame(sorted(known["gguf"].items()), columns=["key", "value"]),
                     hide_index=True)

st.subheader("Prices per million tokens")
st.caption("Estimates from the providers' public price lists when this was written; prices "
           "change, so edit them here. Saved as prices.csv in the data folder.")
edited = st.data_editor(pd.DataFrame(catalog.price_rows(prices)), key="models.prices",
                        num_rows="dynamic", hide_index=True,
                        column_config={"model": "Model", **PRICE_COLUMNS})
if st.button("Save prices", icon=":material/save:"):
    try:
        price_table.save(edited.to_dict("records"))
        st.success("Prices saved.")
    except PlaygroundError as exc:
        show_error(exc)
