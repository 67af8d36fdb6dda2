//! The OpenAPI 3.1 document of the API, `GET /api/openapi.json`, and its interactive page,
//! `GET /api/docs`.
//!
//! The document cannot drift from the code: every route is registered through
//! [`utoipa_axum::router::OpenApiRouter`], which adds a route to the axum router and its
//! operation to the document in one step; handlers describe themselves with
//! `#[utoipa::path]` and return typed bodies that derive [`utoipa::ToSchema`]; the entity
//! routes' record schemas are built from the same [`Projection`] the warehouse builds
//! records from. [`finish`] then adds what every operation shares by rule: the error
//! shape for each status the layers can answer, and the bearer scheme.
//!
//! The docs page is Swagger UI (`swagger-ui-dist` from npm, bundled into the UI build at
//! `/api-docs/`), served by the binary, with no request leaving the server's origin.

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::Value;
use utoipa::openapi::content::ContentBuilder;
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::path::{HttpMethod, OperationBuilder, ParameterBuilder, ParameterIn, Paths};
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::schema::{
    AdditionalProperties, ArrayBuilder, KnownFormat, ObjectBuilder, Schema, SchemaFormat,
    SchemaType, Type,
};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::tag::TagBuilder;
use utoipa::openapi::{InfoBuilder, OpenApi, Ref, RefOr, Required};
use utoipa::{PartialSchema, ToSchema};

use avesa_model::{CanonicalTable, ColumnType};
use avesa_warehouse::present::{Projection, joins_company};

use crate::error::ErrorCode;

/// Where the document is served.
pub const SPEC_PATH: &str = "/api/openapi.json";
/// Where the interactive docs page is served.
pub const DOCS_PATH: &str = "/api/docs";
/// The security scheme every authenticated operation names.
pub const BEARER: &str = "bearer";

/// Every error's body: `{"error": {"code", "message", "details"?}}`.
#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorObject,
}

/// One error. `code` alone decides the HTTP status.
#[derive(Serialize, ToSchema)]
pub struct ErrorObject {
    pub code: ErrorCode,
    /// What went wrong, for a person.
    pub message: String,
    /// Where: `{"param": …}` for a query parameter, `{"field": …}` for a body field.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub details: Option<Value>,
}

/// A list answer: `{"items": [...]}`.
macro_rules! items {
    ($(#[$doc:meta])* $name:ident, $item:ty) => {
        $(#[$doc])*
        #[derive(serde::Serialize, utoipa::ToSchema)]
        pub struct $name {
            pub items: Vec<$item>,
        }
    };
}
pub(crate) use items;

/// The name of a table's record schema.
fn record_name(table: CanonicalTable, history: bool) -> String {
    let base = match table {
        CanonicalTable::Companies => "Company",
        CanonicalTable::Contacts => "Contact",
        CanonicalTable::Tickets => "Ticket",
        CanonicalTable::TimeEntries => "TimeEntry",
        CanonicalTable::Members => "Member",
    };
    if history { format!("{base}Version") } else { base.to_owned() }
}

fn nullable(ty: Type) -> SchemaType {
    SchemaType::from_iter([ty, Type::Null])
}

fn column_schema(ty: ColumnType, null: bool) -> ObjectBuilder {
    let (t, format) = match ty {
        ColumnType::Text => (Type::String, None),
        ColumnType::Int => (Type::Integer, Some(KnownFormat::Int64)),
        ColumnType::Float => (Type::Number, Some(KnownFormat::Double)),
        ColumnType::Bool => (Type::Boolean, None),
        ColumnType::Timestamp => (Type::String, Some(KnownFormat::DateTime)),
    };
    let b = ObjectBuilder::new().schema_type(if null { nullable(t) } else { t.into() });
    match format {
        Some(f) => b.format(Some(SchemaFormat::KnownFormat(f))),
        None => b,
    }
}

/// A record of `table` as the API returns it: built from the warehouse's own
/// [`Projection`], so the schema names exactly the keys a record has.
pub fn record_schema(table: CanonicalTable, history: bool) -> Schema {
    let mut b = ObjectBuilder::new()
        .schema_type(Type::Object)
        .description(Some(format!(
            "A {} record{}. `id` is `<service>:<source id>`; timestamps are RFC 3339 UTC.",
            table.name(),
            if history {
                " version (SCD Type 2: valid from, valid to, deleted, current)"
            } else {
                ""
            }
        )))
        .property(
            "id",
            ObjectBuilder::new().schema_type(Type::String).examples(["connectwise:250"]),
        )
        .required("id")
        .additional_properties(Some(AdditionalProperties::<Schema>::FreeForm(false)));
    for field in Projection::new(table, history).fields() {
        let null = !matches!(
            field.name,
            "source_service" | "source_id" | "valid_from" | "is_deleted" | "is_current"
        );
        b = b.property(field.name, column_schema(field.ty, null)).required(field.name);
    }
    if !history {
        for (_, id, _, name) in crate::entities::REFERENCE_NAMES.iter().filter(|r| r.0 == table) {
            let described = column_schema(ColumnType::Text, true)
                .description(Some(format!("The name of the record `{id}` names (null: none).")));
            b = b.property(*name, described).required(*name);
        }
    }
    Schema::Object(b.build())
}

fn schema_ref(name: &str) -> RefOr<Schema> {
    RefOr::Ref(Ref::from_schema_name(name))
}

fn json_response(description: &str, schema: RefOr<Schema>) -> utoipa::openapi::Response {
    ResponseBuilder::new()
        .description(description)
        .content("application/json", ContentBuilder::new().schema(Some(schema)).build())
        .build()
}

fn query_param(name: &str, description: &str, schema: ObjectBuilder) -> ParameterBuilder {
    ParameterBuilder::new()
        .name(name)
        .parameter_in(ParameterIn::Query)
        .required(Required::False)
        .description(Some(description))
        .schema(Some(schema.build()))
}

fn id_param() -> ParameterBuilder {
    ParameterBuilder::new()
        .name("id")
        .parameter_in(ParameterIn::Path)
        .required(Required::True)
        .description(Some("The record's id, `<service>:<source id>` (e.g. `connectwise:250`)."))
        .schema(Some(ObjectBuilder::new().schema_type(Type::String).examples(["connectwise:250"])))
}

fn as_of_param() -> ParameterBuilder {
    query_param(
        "as_of",
        "Answer as the data stood at this instant (RFC 3339, e.g. 2024-05-01T12:00:00Z).",
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime))),
    )
}

/// Schemas by name, as a router's routes bring them.
pub(crate) type NamedSchemas = Vec<(String, RefOr<Schema>)>;

/// The list, detail and history operations of one entity route, and the schemas they
/// name, in the shape [`utoipa_axum::router::OpenApiRouter::routes`] takes (its method
/// router is the caller's).
pub(crate) fn entity_operations(
    segment: &str,
    table: CanonicalTable,
) -> [(NamedSchemas, Paths); 4] {
    use crate::entities::{
        DEFAULT_PAGE_SIZE, MAX_PAGE, MAX_PAGE_SIZE, MAX_RESULT_WINDOW, MAX_SEARCH_LEN,
    };
    let record = record_name(table, false);
    let version = record_name(table, true);
    let page_name = format!("{record}Page");
    let history_name = format!("{version}List");
    let plural = table.name().replace('_', " ");

    let page = ObjectBuilder::new()
        .schema_type(Type::Object)
        .property("items", ArrayBuilder::new().items(schema_ref(&record)).build())
        .property("page", ObjectBuilder::new().schema_type(Type::Integer).minimum(Some(1)))
        .property("page_size", ObjectBuilder::new().schema_type(Type::Integer).minimum(Some(1)))
        .property(
            "total",
            ObjectBuilder::new()
                .schema_type(Type::Integer)
                .minimum(Some(0))
                .description(Some("Records matching, over all pages.")),
        )
        .required("items")
        .required("page")
        .required("page_size")
        .required("total")
        .additional_properties(Some(AdditionalProperties::<Schema>::FreeForm(false)));
    let history_list = ObjectBuilder::new()
        .schema_type(Type::Object)
        .property("items", ArrayBuilder::new().items(schema_ref(&version)).build())
        .required("items")
        .additional_properties(Some(AdditionalProperties::<Schema>::FreeForm(false)));

    let mut sorts: Vec<&str> = vec!["id", "source_id"];
    if joins_company(table) {
        sorts.push("company_name");
    }
    sorts.extend(table.columns().iter().map(|c| c.name));

    let mut list = OperationBuilder::new()
        .operation_id(Some(format!("list_{}", table.name())))
        .tag("entities")
        .summary(Some(format!("List {plural}")))
        .description(Some(format!(
            "The tenant's current {plural} (or as they stood at `as_of`), a page at a time. \
             Paging reaches the first {MAX_RESULT_WINDOW} records (`page × page_size`); narrow \
             with `q` or sort the other way beyond."
        )))
        .parameter(query_param(
            "page",
            "1-based page number.",
            ObjectBuilder::new()
                .schema_type(Type::Integer)
                .minimum(Some(1))
                .maximum(Some(MAX_PAGE))
                .default(Some(1.into())),
        ))
        .parameter(query_param(
            "page_size",
            "Records per page.",
            ObjectBuilder::new()
                .schema_type(Type::Integer)
                .minimum(Some(1))
                .maximum(Some(MAX_PAGE_SIZE))
                .default(Some(DEFAULT_PAGE_SIZE.into())),
        ))
        .parameter(query_param(
            "q",
            "Case-insensitive search: every word in the record's id, its searched columns (a ticket's number and summary, a contact's names and e-mail …) or the name of a record it refers to.",
            ObjectBuilder::new().schema_type(Type::String).max_length(Some(MAX_SEARCH_LEN)),
        ))
        .parameter(query_param(
            "sort",
            "The column to order by (`id`: the source id, numerically).",
            ObjectBuilder::new().schema_type(Type::String).enum_values(Some(sorts)),
        ))
        .parameter(query_param(
            "order",
            "Ascending (default) or descending.",
            ObjectBuilder::new().schema_type(Type::String).enum_values(Some(["asc", "desc"])),
        ))
        .parameter(as_of_param())
        .parameter(query_param(
            "tz",
            "The IANA time zone local dates in date filters are read in (default: the tenant's, UTC unless set).",
            ObjectBuilder::new().schema_type(Type::String),
        ));
    for name in avesa_analytics::filters::names_for(table) {
        list = list.parameter(query_param(
            &name,
            &avesa_analytics::filters::describe(&name).unwrap_or_default(),
            ObjectBuilder::new().schema_type(Type::String),
        ));
    }
    let list = list
        .response("200", json_response(&format!("A page of {plural}."), schema_ref(&page_name)))
        .security(SecurityRequirement::new::<_, [&str; 0], &str>(BEARER, []))
        .build();
    // The export takes the list's parameters but its paging.
    let mut export = OperationBuilder::new()
        .operation_id(Some(format!("export_{}", table.name())))
        .tag("entities")
        .summary(Some(format!("Export {plural} as CSV")))
        .description(Some(
            "Every record the list with the same parameters holds (all pages, not one), as \
             CSV with a header row, streamed as it is read, each batch as of one instant \
             (`as_of`, or when the export starts). The columns: the record's fields and the \
             names of what it refers to; text a spreadsheet would run as a formula starts \
             with `'`. `page` and `page_size` are refused (400). See docs/api.md for its \
             limits.",
        ));
    for p in list.parameters.iter().flatten() {
        if let RefOr::T(p) = p
            && p.name != "page"
            && p.name != "page_size"
        {
            export = export.parameter(p.clone());
        }
    }
    let export = export
        .response(
            "200",
            utoipa::openapi::ResponseBuilder::new()
                .description(format!("The {plural}, one per row."))
                .content(
                    "text/csv",
                    utoipa::openapi::ContentBuilder::new()
                        .schema(Some(ObjectBuilder::new().schema_type(Type::String)))
                        .build(),
                )
                .build(),
        )
        .security(SecurityRequirement::new::<_, [&str; 0], &str>(BEARER, []))
        .build();
    let detail = OperationBuilder::new()
        .operation_id(Some(format!("get_{}", table.name())))
        .tag("entities")
        .summary(Some(format!("One of the {plural}")))
        .description(Some(
            "The record as it is now, or as it stood at `as_of`. A record of another tenant \
             answers exactly like one that does not exist.",
        ))
        .parameter(id_param())
        .parameter(as_of_param())
        .response("200", json_response("The record.", schema_ref(&record)))
        .response("404", error_response("No such record in the caller's tenant."))
        .security(SecurityRequirement::new::<_, [&str; 0], &str>(BEARER, []))
        .build();
    let history = OperationBuilder::new()
        .operation_id(Some(format!("history_{}", table.name())))
        .tag("entities")
        .summary(Some(format!("Every version of one of the {plural}")))
        .description(Some("Oldest first: each version with the interval it was current."))
        .parameter(id_param())
        .response("200", json_response("The versions.", schema_ref(&history_name)))
        .response("404", error_response("No such record in the caller's tenant."))
        .security(SecurityRequirement::new::<_, [&str; 0], &str>(BEARER, []))
        .build();

    let schemas = vec![
        (record.clone(), RefOr::T(record_schema(table, false))),
        (version.clone(), RefOr::T(record_schema(table, true))),
        (page_name, RefOr::T(Schema::Object(page.build()))),
        (history_name, RefOr::T(Schema::Object(history_list.build()))),
    ];
    let one = |path: String, op| {
        let mut p = Paths::new();
        p.add_path_operation(path, vec![HttpMethod::Get], op);
        p
    };
    [
        (schemas, one(format!("/api/{segment}"), list)),
        (Vec::new(), one(format!("/api/{segment}/{{id}}"), detail)),
        (Vec::new(), one(format!("/api/{segment}/{{id}}/history"), history)),
        (Vec::new(), one(format!("/api/{segment}/export.csv"), export)),
    ]
}

fn error_response(description: &str) -> utoipa::openapi::Response {
    json_response(description, schema_ref("ErrorBody"))
}

fn retry_after() -> utoipa::openapi::header::Header {
    HeaderBuilder::new()
        .schema(Some(ObjectBuilder::new().schema_type(Type::Integer).minimum(Some(1))))
        .description(Some("Seconds to wait before trying again."))
        .build()
}

/// Completes the document the router collected: title, the bearer scheme, the error
/// schema, and on every operation the errors the shared layers can answer — 400 (a bad
/// parameter or body), 401 and 403 (authenticated routes), 404 (routes with an id or a
/// `tenant` parameter),
/// 429 (the read gate, the login limiter, run quotas), 503 (the request deadline, an
/// overloaded or unavailable backend) — unless the operation documents them itself.
pub fn finish(mut doc: OpenApi) -> OpenApi {
    doc.info = InfoBuilder::new()
        .title("AVESA API")
        .version(env!("CARGO_PKG_VERSION"))
        .description(Some(
            "Tenant-isolated access to a tenant's canonical data (companies, contacts, \
             tickets, time entries, members), its analytics and its operations. Sign in with \
             `POST /auth/login` and send the access token as `Authorization: Bearer <token>`; \
             the tenant is always the token's. Every error is `{\"error\": {\"code\", \
             \"message\", \"details\"?}}` with a code from a closed set; every response \
             carries `X-Request-Id`.",
        ))
        .build();
    doc.tags = Some(
        [
            ("auth", "Signing in: access and refresh tokens, sessions."),
            ("analytics", "The tenant's figures."),
            (
                "settings",
                "The tenant's time zone, members' capacities, goals and calculated metrics.",
            ),
            (
                "entities",
                "The tenant's records: lists, one record now or as of an instant, its versions.",
            ),
            (
                "views",
                "The caller's saved views of the web app's pages (every role; each user's own).",
            ),
            (
                "reports",
                "Client reports: a company's report as a branded PDF, e-mailed now or on a \
                 schedule; the branding they carry.",
            ),
            ("runs", "Sync runs and backfills: start, follow, stop (tenant admins)."),
            (
                "services",
                "The tenant's vendor services: credentials, schedules, freshness (tenant admins).",
            ),
            ("users", "The tenant's users (tenant admins)."),
            ("tenants", "Tenants (platform admins)."),
            ("health", "Liveness, backends, metrics."),
            ("meta", "This document and its page."),
        ]
        .into_iter()
        .map(|(name, about)| TagBuilder::new().name(name).description(Some(about)).build())
        .collect(),
    );
    let components = doc.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        BEARER,
        SecurityScheme::Http(
            HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("JWT").build(),
        ),
    );
    let mut schemas = vec![(ErrorBody::name().into_owned(), ErrorBody::schema())];
    ErrorBody::schemas(&mut schemas);
    components.schemas.extend(schemas);

    for (path, item) in doc.paths.paths.iter_mut() {
        let ops = [
            (HttpMethod::Get, &mut item.get),
            (HttpMethod::Post, &mut item.post),
            (HttpMethod::Put, &mut item.put),
            (HttpMethod::Patch, &mut item.patch),
            (HttpMethod::Delete, &mut item.delete),
        ];
        for (method, op) in ops {
            let Some(op) = op.as_mut() else { continue };
            let secured = op.security.as_ref().is_some_and(|s| !s.is_empty());
            // Parameters with a closed set of values (metric ids, named periods …) say so.
            for p in op.parameters.iter_mut().flatten() {
                if let RefOr::T(p) = p
                    && let Some(values) = crate::kpi::parameter_values(&p.name)
                {
                    p.schema = Some(RefOr::T(Schema::Object(
                        ObjectBuilder::new()
                            .schema_type(Type::String)
                            .enum_values(Some(values))
                            .build(),
                    )));
                }
            }
            let mut add = |status: &str, description: &str, retry: bool| {
                if op.responses.responses.contains_key(status) {
                    return;
                }
                let mut r = error_response(description);
                if retry {
                    r.headers.insert("Retry-After".into(), RefOr::T(retry_after()));
                }
                op.responses.responses.insert(status.to_owned(), RefOr::T(r));
            };
            add(
                "400",
                "The request is malformed or a parameter is invalid (`details` names it).",
                false,
            );
            if secured {
                add("401", "No valid access token, or its session has ended.", false);
                add("403", "The caller's role may not do this.", false);
            }
            let names_tenant = op
                .parameters
                .iter()
                .flatten()
                .any(|p| matches!(p, RefOr::T(p) if p.name == "tenant"));
            if path.contains('{') {
                add("404", "No such record in the caller's tenant.", false);
            } else if names_tenant {
                add("404", "No such tenant (or not the caller's).", false);
            }
            let read = method == HttpMethod::Get && path.starts_with("/api/");
            let limited = read
                || path == "/auth/login"
                || (path == "/api/admin/runs" && method == HttpMethod::Post);
            if limited {
                add(
                    "429",
                    "Too many requests at once (or attempts); retry after `Retry-After`.",
                    true,
                );
            }
            add(
                "503",
                "The request ran past its deadline, or a backend is overloaded or unavailable.",
                true,
            );
        }
    }
    doc
}

/// Serves the document (built once, at start-up).
pub(crate) fn document_response(json: bytes::Bytes) -> Response {
    ([(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], json).into_response()
}

/// The operation of `GET /api/openapi.json` (its handler is the router's: it serves the
/// document made from the router).
pub(crate) fn spec_paths() -> Paths {
    let op = OperationBuilder::new()
        .operation_id(Some("openapi"))
        .tag("meta")
        .summary(Some("This document"))
        .response(
            "200",
            json_response(
                "The OpenAPI 3.1 document of the API.",
                RefOr::T(Schema::Object(ObjectBuilder::new().schema_type(Type::Object).build())),
            ),
        )
        .build();
    let mut p = Paths::new();
    p.add_path_operation(SPEC_PATH, vec![HttpMethod::Get], op);
    p
}

/// The interactive API documentation (Swagger UI on `/api/openapi.json`).
#[utoipa::path(
    get,
    path = "/api/docs",
    tag = "meta",
    responses((status = 200, description = "An HTML page.", body = String, content_type = "text/html"))
)]
pub(crate) async fn docs_page(headers: axum::http::HeaderMap) -> Response {
    crate::ui::page("api-docs/index.html", &headers)
}

/// The operations the document lists, `(METHOD, path)`, for tests and tools.
pub fn operations(doc: &OpenApi) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (path, item) in &doc.paths.paths {
        let ops = [
            ("GET", item.get.is_some()),
            ("POST", item.post.is_some()),
            ("PUT", item.put.is_some()),
            ("PATCH", item.patch.is_some()),
            ("DELETE", item.delete.is_some()),
        ];
        for (m, present) in ops {
            if present {
                out.push((m.to_owned(), path.clone()));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use avesa_warehouse::present::Cell;

    /// The keys a record schema lists are exactly those the warehouse's presentation
    /// gives a record and, outside history, the names of its references the API adds,
    /// all required.
    #[test]
    fn record_schemas_name_exactly_the_keys_of_a_record() {
        for table in CanonicalTable::ALL {
            for history in [false, true] {
                let projection = Projection::new(table, history);
                let mut cells = vec![Cell::Text("connectwise".into()), Cell::Text("7".into())];
                cells.resize(projection.fields().len(), Cell::Null);
                let record = projection.record(cells).unwrap();
                let Schema::Object(schema) = record_schema(table, history) else {
                    panic!("{table}: not an object schema")
                };
                let mut want: Vec<&String> = record.keys().collect();
                let names: Vec<String> = crate::entities::REFERENCE_NAMES
                    .iter()
                    .filter(|r| r.0 == table && !history)
                    .map(|r| r.3.to_owned())
                    .collect();
                want.extend(names.iter());
                let props: Vec<&String> = schema.properties.keys().collect();
                want.sort();
                assert_eq!(props, want, "{table} history={history}");
                let mut required: Vec<&String> = schema.required.iter().collect();
                required.sort();
                assert_eq!(required, want, "{table} history={history}");
            }
        }
    }

    #[test]
    fn every_operation_gets_the_shared_errors() {
        let mut paths = Paths::new();
        let op = OperationBuilder::new()
            .response("200", json_response("ok", schema_ref("X")))
            .security(SecurityRequirement::new::<_, [&str; 0], &str>(BEARER, []))
            .build();
        paths.add_path_operation("/api/things/{id}", vec![HttpMethod::Get], op);
        let mut doc = OpenApi::new(InfoBuilder::new().title("t").version("0").build(), paths);
        doc = finish(doc);
        let op = doc.paths.paths["/api/things/{id}"].get.as_ref().unwrap();
        let codes: Vec<&String> = op.responses.responses.keys().collect();
        assert_eq!(codes, ["200", "400", "401", "403", "404", "429", "503"]);
        let json = serde_json::to_value(&doc).unwrap();
        assert_eq!(json["openapi"], "3.1.0");
        assert!(json["components"]["schemas"]["ErrorBody"].is_object(), "{json}");
        assert!(json["components"]["schemas"]["ErrorCode"].is_object(), "{json}");
        assert_eq!(json["components"]["securitySchemes"]["bearer"]["scheme"], "bearer");
    }
}
