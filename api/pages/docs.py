"""The interactive API docs (Swagger UI) at /docs, from the pinned npm package swagger-ui-dist
served by wangge itself: no CDN, so the docs work offline and under the Content-Security-Policy."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse

from maps import assets

router = APIRouter(include_in_schema=False)

SWAGGER = "swagger-ui-dist"


@router.get("/docs", response_class=HTMLResponse)
def docs(request: Request) -> HTMLResponse:
    if assets.installed_version(SWAGGER) != assets.pinned().get(SWAGGER):
        message = f"The API docs' assets are not installed. Run the set-up command, {assets.SETUP_COMMAND}, or: npm ci --prefix maps/assets"
        return HTMLResponse(
            f'<!DOCTYPE html><title>wangge API</title><p>{message}</p><p><a href="{request.app.openapi_url}">{request.app.openapi_url}</a></p>',
            status_code=503,
        )
    return get_swagger_ui_html(
        openapi_url=request.app.openapi_url,
        title=f"{request.app.title} API",
        swagger_js_url=assets.vendor_url(SWAGGER, "swagger-ui-bundle.js"),
        swagger_css_url=assets.vendor_url(SWAGGER, "swagger-ui.css"),
        swagger_favicon_url=assets.FAVICON,
        # No badge from the public validator: the docs ask no host but this one.
        swagger_ui_parameters={"validatorUrl": None},
    )
