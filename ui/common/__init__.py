"""What every page shares: the sidebar and its connection, the navigation, the parameter
widgets, the result and token views, the running total, errors, and the shared session keys."""
