"""The Compare page's session keys the widgets share (grid_setup and fixed_settings
name their own fields' keys)."""

COMPARE_RESULT = "compare.result"      # the Compare page's GridResult, filled in as cells end
COMPARE_CANCEL = "compare.cancel"      # set by the Compare page's Cancel button
