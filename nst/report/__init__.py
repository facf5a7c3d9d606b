"""Report: contact sheets (:mod:`.sheets`), video frame strips (:mod:`.strips`), the summary table
and plots (:mod:`.summary`)."""
