"""`biasbench view RUN_DIR`: browse every answer of a run in a local web page.

A static page (HTML, CSS and JS in one file, no CDN) served with the standard library's
``http.server`` on 127.0.0.1: nothing to install, nothing leaves the machine, and the page works
the same on a laptop and on a cluster node reached through an SSH tunnel.
"""
