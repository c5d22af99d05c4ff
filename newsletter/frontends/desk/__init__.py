"""``newsletter desk``: the editors' desk, the daily workflow in a browser over the files under ``issues/``.

A Flask application separate from the public service (its own port, 127.0.0.1:8090 by default),
built by :func:`newsletter.frontends.desk.app.create_app` from a :class:`~newsletter.Newsletter` and its
blueprints. Every page needs a signed-in account whose role allows it (:mod:`newsletter.frontends.desk.access`).
"""
