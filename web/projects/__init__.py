"""Projects on the web (issue 15): the pages of project staff, foundation officers and a
partner's user.

- `pages`: the blueprint `projects` (list, overview, budget editor, expense entry with
  the document's file, money in, volunteer hours and rates, the report to a funder);
- `forms`: the page forms and their parsing into the use cases' arguments;
- `reads`: who may read or act on a project, and what each page shows.
"""

from __future__ import annotations

from flask import Flask


def register(app: Flask) -> None:
    """Register the projects pages and the upload size limit of their file forms."""
    from web.projects import pages

    app.register_blueprint(pages.bp)
    # Before the CSRF check, which reads the body under the limit in force.
    app.before_request_funcs.setdefault(None, []).insert(0, pages.register_upload_limit)
