"""`intake web`: the staff pages (report, review queue, corrections, exports) behind a sign-in.

Flask serves them through waitress; the pages are Jinja2 templates (autoescaped) in the GOV.UK
Design System's look, with govuk-frontend's CSS and JavaScript shipped under static/. Everything a
page shows comes from the same store/ functions as the CLI: `store.report_html.gather` for the
report, `store.review` for the queue and corrections, `store.tabular` for the exports.
"""
