//! The OpenAPI 3 document (generated from the route annotations) and the interactive API page.

use axum::Router;
use utoipa::Modify;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa_swagger_ui::SwaggerUi;

/// Document-level facts; the paths come from the routes (see `routes`).
#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "petri",
        description = "The petri daemon: submit lab pipelines of sandboxed WebAssembly stages, follow them, fetch their artifacts and provenance. Every `/v1/` route needs `Authorization: Bearer <token>` (`petri token create`); a token sees only its research group's runs and artifacts. Every successful state-changing call is written to a hash-chained audit log; say why in the optional `X-Petri-Reason` header.",
        license(name = "Apache-2.0 OR MIT")
    ),
    modifiers(&BearerAuth),
    tags(
        (name = "runs", description = "Pipeline runs"),
        (name = "modules", description = "Stage components"),
        (name = "blobs", description = "Uploaded files"),
        (name = "artifacts", description = "Downloads by digest"),
        (name = "instruments", description = "Instruments: state and maintenance windows"),
        (name = "tokens", description = "API tokens (admins)"),
        (name = "usage", description = "A research group's usage against its quotas"),
        (name = "audit", description = "The audit log of every state-changing call (admins)"),
        (name = "triggers", description = "Webhook triggers: signed deliveries submit a configured pipeline"),
        (name = "notifications", description = "A group's webhooks on its runs' events: signed, retried, with delivery state"),
        (name = "health", description = "Liveness, readiness, metrics"),
    )
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, api: &mut utoipa::openapi::OpenApi) {
        let components = api.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// `/openapi.json` and the Swagger UI at `/docs` (served from the binary; no network).
pub fn docs(api: utoipa::openapi::OpenApi) -> Router {
    SwaggerUi::new("/docs").url("/openapi.json", api).into()
}
