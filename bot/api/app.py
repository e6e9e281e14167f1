"""A FastAPI app holding only the API: for tests and benchmarks, until the web app hosts it."""

from __future__ import annotations

from fastapi import FastAPI

from rapport.bot.api.deps import ApiDeps
from rapport.bot.api.router import install_api


def build_api_app(deps: ApiDeps) -> FastAPI:
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
    install_api(app, deps)
    return app
