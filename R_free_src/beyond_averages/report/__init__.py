"""Presentation: tables and figures built from tidy results. All display formatting lives here.

``tables`` holds the shared helpers (display labels, estimate-with-CI strings, HTML tables without the index);
the other modules hold the figures and tables of one strand each.
"""
