"""The Usage page's widget keys."""

USAGE_PERIOD = "usage.period"
USAGE_DATES = "usage.dates"
USAGE_MODELS = "usage.models"
USAGE_CONNECTIONS = "usage.connections"
USAGE_PAGES = "usage.pages"
USAGE_BUCKET = "usage.bucket"
USAGE_TABLE = "usage.table"            # the request table's row selection
USAGE_TABLE_PAGE = "usage.table_page"
USAGE_CSV_BODIES = "usage.csv_bodies"
