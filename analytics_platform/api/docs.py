"""The interactive API docs, served with their own Swagger UI files.

FastAPI's default /docs page pulls Swagger UI from a CDN; behind a closed network (CI
here, many production clusters) it renders blank. The `fastapi-offline` wheel ships
Swagger UI 5 (the first to read OpenAPI 3.1), so the API serves those files itself.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

# Only the files are used, not the package's code.
SWAGGER_UI_FILES = Path(importlib.util.find_spec("fastapi_offline").origin).parent / "static"

DOCS_ASSETS = "/docs-assets"


def install_docs(app: FastAPI) -> None:
    """Serve /docs (Swagger UI) from local files; the app must be built with docs_url=None."""
    app.mount(DOCS_ASSETS, StaticFiles(directory=str(SWAGGER_UI_FILES)), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title=f"{app.title} - docs",
            swagger_js_url=f"{DOCS_ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{DOCS_ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{DOCS_ASSETS}/favicon.png",
        )
