"""The Models page's own widgets: the model check, and the buttons that open a model on
another page."""
