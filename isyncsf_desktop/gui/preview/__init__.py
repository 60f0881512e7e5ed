"""Preview Changes and Apply This Preview (issue 24): the preview's window and how it is applied, shared by the
Execute tab (which starts previews and runs the apply) and History (which lists previews and opens them)."""
