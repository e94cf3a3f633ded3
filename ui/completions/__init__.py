"""The Completions page's own widgets: its presets panel, and its notice for a model that has
no /v1/completions endpoint."""
