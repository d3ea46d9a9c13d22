"""``/api/v1/``: the REST API, its OpenAPI schema and a docs page that works under our CSP.

The usual Swagger UI and ReDoc pages load JavaScript from a CDN and run inline scripts, which the
Content-Security-Policy forbids; the docs page here is plain server-rendered HTML built from the
same schema, without scripts or styles.
"""

from django.http import JsonResponse
from django.urls import path, re_path
from django.utils.html import format_html, format_html_join
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.utils import extend_schema
from drf_spectacular.views import SpectacularAPIView
from rest_framework import permissions
from rest_framework.renderers import StaticHTMLRenderer
from rest_framework.response import Response
from rest_framework.routers import DefaultRouter
from rest_framework.views import APIView

from anke.access.api import RoleViewSet
from anke.access.grant_api import GrantViewSet, ReviewItemViewSet, ReviewViewSet
from anke.accounts.api import TokenViewSet, UserViewSet
from anke.customers.api import ContactViewSet, CustomerViewSet
from anke.sales.api import (
    ActivityViewSet,
    DealViewSet,
    OrderViewSet,
    PipelineStageViewSet,
    TaskViewSet,
)
from anke.service.api import TicketViewSet

app_name = "api"

router = DefaultRouter()
router.register("customers", CustomerViewSet, basename="customer")
router.register("contacts", ContactViewSet, basename="contact")
router.register("deals", DealViewSet, basename="deal")
router.register("activities", ActivityViewSet, basename="activity")
router.register("tasks", TaskViewSet, basename="task")
router.register("orders", OrderViewSet, basename="order")
router.register("tickets", TicketViewSet, basename="ticket")
router.register("pipeline-stages", PipelineStageViewSet, basename="pipelinestage")
router.register("users", UserViewSet, basename="user")
router.register("tokens", TokenViewSet, basename="token")
router.register("grants", GrantViewSet, basename="grant")
router.register("reviews", ReviewViewSet, basename="review")
router.register("review-items", ReviewItemViewSet, basename="reviewitem")
router.register("roles", RoleViewSet, basename="role")

HTTP_METHODS = ("get", "post", "put", "patch", "delete")


def _parameters_html(parameters):
    if not parameters:
        return ""
    rows = format_html_join(
        "", "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td></tr>",
        ((p.get("name", ""), p.get("in", ""), _("yes") if p.get("required") else "",
          p.get("description", "")) for p in parameters),
    )
    return format_html(
        "<table><thead><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr></thead>"
        "<tbody>{}</tbody></table>",
        _("Parameter"), _("In"), _("Required"), _("Description"), rows,
    )


def _schema_name(content):
    """The component a request or response body refers to, e.g. ``CustomerRequest``."""
    for media in (content or {}).values():
        schema = media.get("schema", {})
        ref = schema.get("$ref") or schema.get("items", {}).get("$ref", "")
        if ref:
            return ref.rsplit("/", 1)[-1]
    return ""


def _operation_html(path, method, operation):
    body = _schema_name(operation.get("requestBody", {}).get("content"))
    responses = format_html_join(
        ", ", "<code>{}</code>{}",
        ((code, format_html(" → <a href=\"#{}\">{}</a>", name, name) if name else "")
         for code, response in operation.get("responses", {}).items()
         for name in [_schema_name(response.get("content"))]),
    )
    return format_html(
        "<section id=\"{}\"><h3><code>{} {}</code> {}</h3><p>{}</p>{}{}<p>{}: {}</p>"
        "</section>",
        operation.get("operationId", ""), method.upper(), path, operation.get("summary", ""),
        operation.get("description", ""),
        _parameters_html(operation.get("parameters")),
        format_html("<p>{}: <a href=\"#{}\">{}</a></p>", _("Request body"), body, body)
        if body else "",
        _("Responses"), responses,
    )


def _component_html(name, schema):
    required = set(schema.get("required", ()))
    rows = format_html_join(
        "", "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td></tr>",
        ((field, _describe_type(spec), _("read-only") if spec.get("readOnly")
          else (_("required") if field in required else ""), spec.get("description", ""))
         for field, spec in schema.get("properties", {}).items()),
    )
    return format_html(
        "<section id=\"{}\"><h3>{}</h3><p>{}</p><table><tbody>{}</tbody></table></section>",
        name, name, schema.get("description", ""), rows,
    )


def _describe_type(spec):
    if "$ref" in spec:
        return spec["$ref"].rsplit("/", 1)[-1]
    if "allOf" in spec or "oneOf" in spec:
        parts = spec.get("allOf") or spec.get("oneOf")
        return " | ".join(_describe_type(part) for part in parts)
    kind = spec.get("type", "")
    if kind == "array":
        return f"array of {_describe_type(spec.get('items', {}))}"
    if "enum" in spec:
        return " | ".join(str(v) for v in spec["enum"] if v not in ("", None))
    return f"{kind} ({spec['format']})" if "format" in spec else kind


def render_docs(schema) -> str:
    info = schema.get("info", {})
    operations = format_html_join(
        "", "{}",
        ((_operation_html(path, method, item[method]),)
         for path, item in schema.get("paths", {}).items()
         for method in HTTP_METHODS if method in item),
    )
    components = format_html_join(
        "", "{}", ((_component_html(name, spec),)
                   for name, spec in schema.get("components", {}).get("schemas", {}).items()),
    )
    return format_html(
        "<!doctype html><html lang=\"{}\"><head><meta charset=\"utf-8\"><title>{}</title>"
        "</head><body><h1>{} {}</h1><p>{}</p><p>{}</p><p><a href=\"../schema/\">{}</a></p>"
        "<h2>{}</h2>{}<h2>{}</h2>{}</body></html>",
        get_language() or "en", info.get("title", ""), info.get("title", ""),
        info.get("version", ""),
        info.get("description", ""),
        _("Authenticate with 'Authorization: Bearer <token>' or a signed-in session. Edits send "
          "the version they started from in If-Match; every error answers "
          "{\"error\": {\"code\", \"message\", \"fields\"}}."),
        _("OpenAPI schema (YAML)"), _("Operations"), operations, _("Schemas"), components,
    )


@extend_schema(exclude=True)
class ApiDocsView(APIView):
    """The API reference as plain HTML, generated from the OpenAPI schema."""

    renderer_classes = [StaticHTMLRenderer]

    def get(self, request):
        schema = SchemaGenerator().get_schema(request=None, public=True)
        return Response(render_docs(schema))


def not_found(request, *args, **kwargs):
    """Unknown API paths answer with the API's error body, not the web UI's 404 page."""
    return JsonResponse({"error": {"code": "not_found", "message": _("Not found.")}},
                        status=404)


urlpatterns = [
    # Signed-in users only: the schema maps every endpoint and field.
    path("schema/", SpectacularAPIView.as_view(permission_classes=[permissions.IsAuthenticated]),
         name="schema"),
    path("docs/", ApiDocsView.as_view(), name="docs"),
    *router.urls,
    # Last, and only for paths ending in "/", so a missing slash is still redirected first.
    re_path(r"^.*/$", not_found),
]
