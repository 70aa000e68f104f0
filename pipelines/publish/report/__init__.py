"""The monthly outcome report: suppressed figures from the published warehouse as HTML and PDF.

data.py reads (reporting, reference and meta schemas only), charts.py draws inline SVG,
render.py fills the Jinja template, pdf.py prints it in chromium, asset.py is the Dagster asset.
"""
