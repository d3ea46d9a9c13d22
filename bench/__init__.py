"""Anke's benchmark: seed the demo company, serve it with gunicorn, time real HTTP requests.

Run ``make bench`` or ``python -m bench --help``; see bench/README.md.
"""
