"""The Usage page's widgets: its data from the ledger, filters, figures and the request table.

No other page reaches in: the session's running total in the sidebar is in ``ui.common``.
"""
