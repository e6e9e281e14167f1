"""Rapport's one HTTP application: public pages, the staff console (and, merged, the API).

`build_web_app` (rapport.bot.web.app) makes the FastAPI application;
`WebService` (rapport.bot.web.service) serves it with uvicorn inside
`rapport run`'s event loop, on one port. One module per area: `public`
(unsubscribe), `opt_in` (subscribe and confirmation), `signin`, `inbox`,
`customer`, `campaigns`, `segments`, `reports`, `admin`; templates and static
files (htmx, vendored: Rapport works offline) ship inside the package.
"""

from rapport.bot.web.service import WebService as WebService
from rapport.bot.web.service import web_factory as web_factory
