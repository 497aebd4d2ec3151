"""The HTML report: a source (a replay's batches through ``ReplayCollector``, or the
service's alerts and state topics through ``service_source``) fills the neutral per-feature
``ReportData`` (``model``), which ``page`` draws with ``figures`` (matplotlib SVG) and
``panel`` into one self-contained HTML file.
"""
