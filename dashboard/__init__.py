"""The operations dashboard's presentation: its tables, its SVG charts and the monthly report."""
