"""The JSON HTTP API under /api/v1: routers, their models, key authentication, docs.

`install_api(app, deps)` mounts it on a FastAPI app (the web app of
`rapport run`, or `build_api_app` in tests); docs/api.md describes it.
"""
