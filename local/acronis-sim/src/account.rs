//! Account Management API v2 handlers (`/api/2`).

use axum::http::{StatusCode, header};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::{Value, json};

use crate::Shared;
use crate::errors::ApiError;
use crate::model::{
    APPLICATIONS, AccessPolicy, IssuedToken, OfferingItem, Quota, SimState, Tenant, User, am_time,
    is_uuid, new_uuid, usage_rows_of,
};
use crate::routes::{Api, Ctx, Reply};

/// The caller, known from its bearer token.
pub(crate) struct Principal {
    pub tenant_id: String,
}

pub(crate) fn authenticate(shared: &Shared, ctx: &Ctx, api: Api) -> Result<Principal, ApiError> {
    let rejected = || match api {
        Api::AccountManagement => ApiError::unauthorized(),
        Api::AlertManager => ApiError::AlertsUnauthorized,
    };
    let header_value = ctx
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let token = header_value
        .strip_prefix("Bearer ")
        .or_else(|| header_value.strip_prefix("bearer "))
        .ok_or_else(rejected)?;
    let now = shared.now().timestamp();
    let state = shared.state();
    let issued = state
        .tokens
        .get(token.trim())
        .filter(|t| t.expires_on > now)
        .ok_or_else(rejected)?;
    let client = state
        .clients
        .get(&issued.client_id)
        .filter(|c| c.enabled)
        .ok_or_else(rejected)?;
    state
        .live_tenant(&client.tenant_id)
        .map_err(|_| rejected())?;
    Ok(Principal {
        tenant_id: client.tenant_id.clone(),
    })
}

/// Tenants outside the caller's subtree are invisible to it, as on the platform.
fn ensure_access(state: &SimState, principal: &Principal, tenant_id: &str) -> Result<(), ApiError> {
    if state.is_within(tenant_id, &principal.tenant_id) {
        Ok(())
    } else {
        Err(ApiError::access_denied(tenant_id))
    }
}

/// Rejects bodies the spec's request schema rejects (e.g. unknown properties, wrong types).
fn validate_body(shared: &Shared, ctx: &Ctx, body: &Value) -> Result<(), ApiError> {
    crate::conformance::validate_request_body_with(
        &shared.specs,
        ctx.method.as_str(),
        &ctx.path,
        body,
    )
    .map_err(|problems| {
        ApiError::bad_request("Request body does not match the schema.")
            .with_info(problems.join("; "))
    })
}

fn uuid_param<'c>(ctx: &'c Ctx, name: &str) -> Result<&'c str, ApiError> {
    let value = ctx.param(name);
    if is_uuid(value) {
        Ok(value)
    } else {
        Err(ApiError::bad_request(format!(
            "{name} must be a UUID, got {value:?}"
        )))
    }
}

pub(crate) fn encode_cursor(position: &Value) -> String {
    URL_SAFE_NO_PAD.encode(position.to_string())
}

pub(crate) fn decode_cursor(cursor: &str) -> Result<Value, ApiError> {
    URL_SAFE_NO_PAD
        .decode(cursor.trim_end_matches('='))
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .ok_or_else(|| ApiError::bad_request("Invalid cursor."))
}

fn parse_limit(ctx: &Ctx, default: usize) -> Result<usize, ApiError> {
    match ctx.query("limit") {
        None => Ok(default),
        Some(text) => text
            .parse::<usize>()
            .ok()
            .filter(|limit| *limit >= 1)
            .ok_or_else(|| {
                ApiError::bad_request(format!("limit must be a positive integer, got {text:?}"))
            }),
    }
}

fn comma_list(value: Option<&str>) -> Option<Vec<String>> {
    value.map(|v| {
        v.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect()
    })
}

fn ok(body: Value) -> Result<Reply, ApiError> {
    Ok(Reply::Json(StatusCode::OK, body))
}

// ---------------------------------------------------------------- token and clients

pub(crate) fn issue_token(shared: &Shared, ctx: &Ctx) -> Result<Reply, ApiError> {
    let token_error = |status, error, description: &str| ApiError::Token {
        status,
        error,
        description: description.into(),
    };
    let content_type = ctx
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !content_type.starts_with("application/x-www-form-urlencoded") {
        return Err(token_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "Form body expected.",
        ));
    }
    let form = crate::routes::parse_form(&String::from_utf8_lossy(&ctx.body));
    let field = |name: &str| {
        form.iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.clone())
    };
    let Some(grant_type) = field("grant_type") else {
        return Err(token_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "grant_type is required.",
        ));
    };
    let basic = ctx
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|encoded| STANDARD.decode(encoded.trim()).ok())
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .and_then(|pair| {
            pair.split_once(':')
                .map(|(id, secret)| (id.to_string(), secret.to_string()))
        });
    let Some((client_id, client_secret)) = basic else {
        return Err(token_error(
            StatusCode::UNAUTHORIZED,
            "access_denied",
            "Client authentication failed.",
        ));
    };
    let now = shared.now();
    let mut state = shared.state();
    let client = state
        .clients
        .get(&client_id)
        .filter(|c| {
            c.client_secret == client_secret && c.enabled && state.live_tenant(&c.tenant_id).is_ok()
        })
        .ok_or_else(|| {
            token_error(
                StatusCode::UNAUTHORIZED,
                "access_denied",
                "Client authentication failed.",
            )
        })?
        .clone();
    if grant_type != "client_credentials" {
        return Err(token_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "Only client_credentials is simulated.",
        ));
    }
    let lifetime = i64::try_from(shared.config.token_lifetime.as_secs()).unwrap_or(i64::MAX / 2);
    let expires_on = now.timestamp() + lifetime;
    let jwt = |kind: &str| {
        let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"RS256","typ":"JWT"}"#);
        let claims = json!({"iss": "acronis-sim", "sub": client.client_id, "tenant_id": client.tenant_id,
            "iat": now.timestamp(), "exp": expires_on, "jti": new_uuid(), "typ": kind});
        format!(
            "{header}.{}.{}",
            URL_SAFE_NO_PAD.encode(claims.to_string()),
            URL_SAFE_NO_PAD.encode(new_uuid())
        )
    };
    let access_token = jwt("access");
    state.tokens.insert(
        access_token.clone(),
        IssuedToken {
            client_id: client.client_id.clone(),
            expires_on,
        },
    );
    ok(
        json!({"access_token": access_token, "token_type": "bearer", "expires_in": lifetime,
        "expires_on": expires_on, "id_token": jwt("id")}),
    )
}

pub(crate) fn get_client(shared: &Shared, ctx: &Ctx) -> Result<Reply, ApiError> {
    let principal = authenticate(shared, ctx, Api::AccountManagement)?;
    let client_id = uuid_param(ctx, "client_id")?;
    let state = shared.state();
    let not_found = || ApiError::http(StatusCode::NOT_FOUND, "Client not found.");
    let client = state.clients.get(client_id).ok_or_else(not_found)?;
    ensure_access(&state, &principal, &client.tenant_id).map_err(|_| not_found())?;
    let created = state
        .tenants
        .get(&client.tenant_id)
        .map(|t| am_time(t.created_at));
    ok(json!({
        "client_id": client.client_id, "tenant_id": client.tenant_id, "client_secret_expires_at": 0,
        "type": "api_client", "data": {"client_name": client.name}, "token_endpoint_auth_method": "client_secret_basic",
        "created_at": created, "created_by": client.tenant_id, "last_access_at": am_time(shared.now()),
        "last_access_from_ip": "127.0.0.1", "status": if client.enabled { "enabled" } else { "disabled" },
    }))
}

// ---------------------------------------------------------------- tenants

fn contact_from(body: Option<&Value>, now: chrono::DateTime<chrono::Utc>) -> Value {
    let mut contact = crate::model::blank_contact(now);
    if let Some(Value::Object(fields)) = body {
        for (key, value) in fields {
            if key != "tenant_id" && key != "user_id" && key != "fax" && key != "language" {
                contact[key] = value.clone();
            }
        }
    }
    contact
}

fn sibling_name_taken(state: &SimState, parent_id: &str, name: &str, except: &str) -> bool {
    state.tenants.values().any(|t| {
        t.parent_id == parent_id
            && t.id != except
            && t.deleted_at.is_none()
            && t.name.eq_ignore_ascii_case(name)
    })
}

fn child_kind_allowed(parent_kind: &str, kind: &str) -> bool {
    match parent_kind {
        "root" | "partner" | "folder" => matches!(kind, "partner" | "folder" | "customer"),
        "customer" | "unit" => kind == "unit",
        _ => false,
    }
}

fn business_rule(message: impl Into<String>) -> ApiError {
    ApiError::platform(StatusCode::BAD_REQUEST, 1027, message)
}

pub(crate) fn create_tenant(shared: &Shared, ctx: &Ctx) -> Result<Reply, ApiError> {
    let principal = authenticate(shared, ctx, Api::AccountManagement)?;
    let body = ctx.json_body()?;
    validate_body(shared, ctx, &body)?;
    let text = |key: &str| {
        body.get(key)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let (name, kind, parent_id) = (text("name"), text("kind"), text("parent_id"));
    let now = shared.now();
    let mut state = shared.state();
    let parent = state.live_tenant(&parent_id)?;
    ensure_access(&state, &principal, &parent_id)?;
    if !parent.enabled {
        return Err(ApiError::platform(
            StatusCode::BAD_REQUEST,
            1003,
            "Parent tenant is disabled.",
        ));
    }
    if !child_kind_allowed(&parent.kind, &kind) {
        return Err(business_rule(format!(
            "A {kind} tenant cannot be created under a {} tenant.",
            parent.kind
        )));
    }
    if parent.id != principal.tenant_id && !parent.ancestral_access {
        return Err(ApiError::access_denied(&parent_id));
    }
    if sibling_name_taken(&state, &parent_id, &name, "") {
        return Err(ApiError::platform(
            StatusCode::CONFLICT,
            1004,
            "Tenant with such name already exists.",
        ));
    }
    let id = new_uuid();
    let mut tenant = state.new_tenant(id.clone(), name, &kind, parent_id.clone(), now);
    tenant.enabled = body.get("enabled").and_then(Value::as_bool).unwrap_or(true);
    tenant.ancestral_access = body
        .get("ancestral_access")
        .and_then(Value::as_bool)
        .unwrap_or(true);
    tenant.internal_tag = body
        .get("internal_tag")
        .and_then(Value::as_str)
        .map(String::from);
    tenant.customer_id = body
        .get("customer_id")
        .and_then(Value::as_str)
        .map(String::from);
    tenant.update_lock = body
        .pointer("/update_lock/enabled")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    if let Some(language) = body.get("language").and_then(Value::as_str) {
        tenant.language = language.into();
    }
    tenant.contact = contact_from(body.get("contact"), now);
    state.tenants.insert(id.clone(), tenant);
    state.inherit_from_parent(&id, &parent_id, now);
    let tenant = state.live_tenant(&id)?;
    Ok(Reply::Json(StatusCode::CREATED, state.tenant_json(tenant)))
}

pub(crate) fn get_tenant(shared: &Shared, ctx: &Ctx) -> Result<Reply, ApiError> {
    let principal = authenticate(shared, ctx, Api::AccountManagement)?;
    let tenant_id = uuid_param(ctx, "tenant_id")?;
    let allow_deleted = ctx.query_bool("allow_deleted")?;
    let state = shared.state();
    let tenant = state
        .tenants
        .get(tenant_id)
        .filter(|t| allow_deleted || t.deleted_at.is_none())
        .ok_or_else(|| ApiError::tenant_not_found(tenant_id))?;
    ensure_access(&state, &principal, tenant_id)?;
    ok(state.tenant_json(tenant))
}

/// Official Python examples send `version`/`enabled` as strings ("3", "false") and succeed, so
/// the platform coerces them; do the same before checking the schema.
fn coerce_stringly_fields(body: &mut Value) {
    if let Some(Value::String(text)) = body.get("version") {
        if let Ok(number) = text.parse::<i64>() {
            body["version"] = json!(number);
        }
    }
    if let Some(Value::String(text)) = body.get("enabled") {
        if let Ok(flag) = text.parse::<bool>() {
            body["enabled"] = json!(flag);
        }
    }
}

pub(crate) fn update_tenant(shared: &Shared, ctx: &Ctx) -> Result<Reply, ApiError> {
    let principal = authenticate(shared, ctx, Api::AccountManagement)?;
    let tenant_id = uuid_param(ctx, "tenant_id")?.to_string();
    let mut body = ctx.json_body()?;
    coerce_stringly_fields(&mut body);
    validate_body(shared, ctx, &body)?;
    let given_version = body
        .get("version")
        .and_then(Value::as_i64)
        .unwrap_or_default();
    let now = shared.now();
    let mut state = shared.state();
    let current = state.live_tenant(&tenant_id)?.clone();
    ensure_access(&state, &principal, &tenant_id)?;
    if current.version != given_version {
        return Err(ApiError::version_mismatch(current.version, given_version));
    }
    let mut updated = current.clone();
    if let Some(kind) = body.get("kind").and_then(Value::as_str) {
        let switchable = |k: &str| k == "partner" || k == "folder";
        if kind != current.kind && !(switchable(kind) && switchable(&current.kind)) {
            return Err(business_rule(
                "Tenant kind may only change between partner and folder.",
            ));
        }
        updated.kind = kind.into();
    }
    if let Some(parent_id) = body.get("parent_id").and_then(Value::as_str) {
        if parent_id != current.parent_id {
            if tenant_id == principal.tenant_id {
                return Err(ApiError::access_denied(&tenant_id));
            }
            let target = state.live_tenant(parent_id)?;
            ensure_access(&state, &principal, parent_id)?;
            if state.is_within(parent_id, &tenant_id) {
                return Err(ApiError::platform(
                    StatusCode::BAD_REQUEST,
                    1007,
                    "Cannot move a tenant under its own child.",
                ));
            }
            if !matches!(target.kind.as_str(), "partner" | "folder") {
                return Err(ApiError::platform(
                    StatusCode::BAD_REQUEST,
                    1008,
                    "Tenants may only move under partners or folders.",
                ));
            }
            if !target.enabled {
                return Err(ApiError::platform(
                    StatusCode::BAD_REQUEST,
                    1013,
                    "Cannot move under a disabled tenant.",
                ));
            }
            updated.parent_id = parent_id.into();
        }
    }
    if let Some(name) = body.get("name").and_then(Value::as_str) {
        if sibling_name_taken(&state, &updated.parent_id, name, &tenant_id) {
            return Err(ApiError::platform(
                StatusCode::CONFLICT,
                1004,
                "Tenant with such name already exists.",
            ));
        }
        updated.name = name.into();
    }
    if let Some(enabled) = body.get("enabled").and_then(Value::as_bool) {
        if enabled && !state.live_tenant(&updated.parent_id)?.enabled {
            return Err(ApiError::platform(
                StatusCode::BAD_REQUEST,
                1003,
                "Parent tenant is disabled.",
            ));
        }
        updated.enabled = enabled;
    }
    if let Some(flag) = body.get("ancestral_access").and_then(Value::as_bool) {
        updated.ancestral_access = flag;
    }
    if let Some(flag) = body
        .pointer("/update_lock/enabled")
        .and_then(Value::as_bool)
    {
        updated.update_lock = flag;
    }
    if let Some(language) = body.get("language").and_then(Value::as_str) {
        updated.language = language.into();
    }
    if let Some(customer_type) = body.get("customer_type").and_then(Value::as_str) {
        updated.customer_type = customer_type.into();
    }
    if body.get("internal_tag").is_some() {
        updated.internal_tag = body
            .get("internal_tag")
            .and_then(Value::as_str)
            .map(String::from);
    }
    if body.get("customer_id").is_some() {
        updated.customer_id = body
            .get("customer_id")
            .and_then(Value::as_str)
            .map(String::from);
    }
    if let Some(Value::Object(fields)) = body.get("contact") {
        for (key, value) in fields {
            if !matches!(key.as_str(), "tenant_id" | "user_id" | "fax" | "language") {
                updated.contact[key] = value.clone();
            }
        }
        updated.contact["updated_at"] = json!(am_time(now));
    }
    updated.version += 1;
    updated.updated_at = now;
    state.tenants.insert(tenant_id.clone(), updated);
    let tenant = state.live_tenant(&tenant_id)?;
    ok(state.tenant_json(tenant))
}

pub(crate) fn delete_tenant(shared: &Shared, ctx: &Ctx) -> Result<Reply, ApiError> {
    let principal = authenticate(shared, ctx, Api::AccountManagement)?;
    let tenant_id = uuid_param(ctx, "tenant_id")?.to_string();
    let version = ctx
        .query("version")
        .ok_or_else(|| ApiError::bad_request("Query parameter version is required."))?
        .parse::<i64>()
        .map_err(|_| ApiError::bad_request("Query parameter version must be an integer."))?;
    let now = shared.now();
    let mut state = shared.state();
    let tenant = state.live_tenant(&tenant_id)?;
    ensure_access(&state, &principal, &tenant_id)?;
    if tenant_id == principal.tenant_id {
        return Err(ApiError::access_denied(&tenant_id));
    }
    if tenant.enabled {
        return Err(ApiError::platform(
            StatusCode::BAD_REQUEST,
            1006,
            "It is prohibited to delete a non-disabled tenant.",
        )
        .with_info(format!(
            "Tenant {tenant_id} must be disabled before deletion."
        ))
        .with_context(json!({"id": tenant_id})));
    }
    if tenant.version != version {
        return Err(ApiError::version_mismatch(tenant.version, version));
    }
    // Deletion cascades to the whole subtree; deleted tenants stay readable with allow_deleted.
    let subtree: Vec<String> = state
        .tenants
        .keys()
        .filter(|id| state.is_within(id, &tenant_id))
        .cloned()
        .collect();
    for id in subtree {
        if let Some(t) = state.tenants.get_mut(&id) {
            if t.deleted_at.is_none() {
                t.deleted_at = Some(now);
                t.updated_at = now;
            }
        }
    }
    Ok(Reply::Empty(StatusCode::NO_CONTENT))
}

pub(crate) fn list_children(shared: &Shared, ctx: &Ctx) -> Result<Reply, ApiError> {
    let principal = authenticate(shared, ctx, Api::AccountManagement)?;
    let tenant_id = uuid_param(ctx, "tenant_id")?;
    // The cursor carries the original order/allow_deleted, so follow-ups need only `after`.
    let (offset, order, allow_deleted) = match ctx.query("after") {
        Some(cursor) => {
            let position = decode_cursor(cursor)?;
            (
                position["offset"].as_u64().unwrap_or(0) as usize,
                position["order"].as_str().unwrap_or("as_is").to_string(),
                position["allow_deleted"].as_bool().unwrap_or(false),
            )
        }
        None => (
            0,
            ctx.query("order").unwrap_or("as_is").to_string(),
            ctx.query_bool("allow_deleted")?,
        ),
    };
    let state = shared.state();
    state.live_tenant(tenant_id)?;
    ensure_access(&state, &principal, tenant_id)?;
    let mut children: Vec<&Tenant> = state
        .tenants
        .values()
        .filter(|t| {
            t.parent_id == tenant_id
                && t.id != tenant_id
                && (allow_deleted || t.deleted_at.is_none())
        })
        .collect();
    match order.as_str() {
        "as_is" => children.sort_by_key(|t| t.sequence),
        "name" => children.sort_by_key(|t| t.name.to_lowercase()),
        "-name" => children.sort_by_key(|t| std::cmp::Reverse(t.name.to_lowercase())),
        "status" => children.sort_by_key(|t| (!t.enabled, t.sequence)),
        "-status" => children.sort_by_key(|t| (t.enabled, t.sequence)),
        other => {
            return Err(ApiError::bad_request(format!(
                "Unsupported order {other:?}."
            )));
        }
    }
    let page_size = shared.config.children_page_size.max(1);
    let page: Vec<&str> = children
        .iter()
        .skip(offset)
        .take(page_size)
        .map(|t| t.id.as_str())
        .collect();
    let mut cursors = json!({});
    if offset + page_size < children.len() {
        cursors["after"] = json!(encode_cursor(
            &json!({"offset": offset + page_size, "order": order, "allow_deleted": allow_deleted})
        ));
    }
    ok(json!({"items": page, "paging": {"cursors": cursors}}))
}

pub(crate) fn list_tenants(shared: &Shared, ctx: &Ctx) -> Result<Reply, ApiError> {
    let principal = authenticate(shared, ctx, Api::AccountManagement)?;
    let filters = match ctx.query("after") {
        Some(cursor) => decode_cursor(cursor)?,
        None => {
            let chosen = ["uuids", "parent_id", "subtree_root_id"]
                .iter()
                .filter(|k| ctx.query(k).is_some())
                .count();
            if chosen > 1 {
                return Err(ApiError::bad_request(
                    "uuids, parent_id and subtree_root_id are mutually exclusive.",
                ));
            }
            json!({
                "offset": 0, "uuids": ctx.query("uuids"), "parent_id": ctx.query("parent_id"),
                "subtree_root_id": ctx.query("subtree_root_id"), "lod": ctx.query("lod").unwrap_or("full"),
                "allow_deleted": ctx.query_bool("allow_deleted")?, "updated_since": ctx.query("updated_since"),
                "limit": parse_limit(ctx, 5000)?,
            })
        }
    };
    let lod = filters["lod"].as_str().unwrap_or("full");
    if !matches!(lod, "stamps" | "basic" | "full") {
        return Err(ApiError::bad_request(format!("Unsupported lod {lod:?}.")));
    }
    let allow_deleted = filters["allow_deleted"].as_bool().unwrap_or(false);
    let limit = filters["limit"].as_u64().unwrap_or(5000) as usize;
    let offset = filters["offset"].as_u64().unwrap_or(0) as usize;
    let state = shared.state();
    let visible = |t: &&Tenant| {
        (allow_deleted || t.deleted_at.is_none()) && state.is_within(&t.id, &principal.tenant_id)
    };
    let mut selected: Vec<&Tenant> = if let Some(uuids) = comma_list(filters["uuids"].as_str()) {
        if uuids.len() > 100 || uuids.iter().any(|u| !is_uuid(u)) {
            return Err(ApiError::bad_request("uuids must be at most 100 UUIDs."));
        }
        uuids
            .iter()
            .filter_map(|id| state.tenants.get(id))
            .filter(visible)
            .collect()
    } else if let Some(parent_id) = filters["parent_id"].as_str() {
        ensure_access(&state, &principal, parent_id)?;
        state
            .tenants
            .values()
            .filter(|t| t.parent_id == parent_id && t.id != parent_id)
            .filter(visible)
            .collect()
    } else {
        let root = filters["subtree_root_id"]
            .as_str()
            .unwrap_or(&principal.tenant_id)
            .to_string();
        ensure_access(&state, &principal, &root)?;
        state
            .tenants
            .values()
            .filter(|t| state.is_within(&t.id, &root))
            .filter(visible)
            .collect()
    };
    if let Some(since) = filters["updated_since"].as_str() {
        let since = chrono::DateTime::parse_from_rfc3339(since)
            .map_err(|_| ApiError::bad_request("updated_since must be RFC 3339."))?;
        selected.retain(|t| t.updated_at >= since);
    }
    let depth = |t: &Tenant| {
        (0..64)
            .scan(t.id.clone(), |id, _| {
                let parent = state
                    .tenants
                    .get(id)
                    .filter(|p| p.parent_id != p.id)?
                    .parent_id
                    .clone();
                *id = parent;
                Some(())
            })
            .count()
    };
    selected.sort_by_key(|t| (depth(t), t.sequence));
    let items: Vec<Value> = selected
        .iter()
        .skip(offset)
        .take(limit)
        .map(|t| {
            let full = state.tenant_json(t);
            let mut item = json!({"id": t.id, "parent_id": t.parent_id, "version": t.version,
                "created_at": full["created_at"], "updated_at": full["updated_at"], "deleted_at": full["deleted_at"],
                "contacts": [], "offering_items": []});
            if lod != "stamps" {
                item["name"] = json!(t.name);
                item["kind"] = json!(t.kind);
                item["enabled"] = json!(t.enabled);
            }
            if lod == "full" {
                if let (Value::Object(target), Value::Object(source)) = (&mut item, full) {
                    for (key, value) in source {
                        if key != "contacts" {
                            target.entry(key).or_insert(value);
                        }
                    }
                }
                item["brand_uuid"] = json!("00000000-0000-4000-8000-00000000b001");
                item["default_idp_id"] = json!("00000000-0000-4000-8000-00000000c001");
                item["barrier"] = json!(0);
            }
            item
        })
        .collect();
    let mut cursors = json!({});
    if offset + limit < selected.len() {
        let mut next = filters.clone();
        next["offset"] = json!(offset + limit);
        cursors["after"] = json!(encode_cursor(&next));
    }
    ok(json!({"timestamp": am_time(shared.now()), "items": items, "paging": {"cursors": cursors}}))
}

pub(crate) fn get_pricing(shared: &Shared, ctx: &Ctx) -> Result<Reply, ApiError> {
    let principal = authenticate(shared, ctx, Api::AccountManagement)?;
    let tenant_id = uuid_param(ctx, "tenant_id")?;
    let state = shared.state();
    let tenant = state.live_tenant(tenant_id)?;
    ensure_access(&state, &principal, tenant_id)?;
    ok(tenant.pricing_json())
}

pub(crate) fn update_pricing(shared: &Shared, ctx: &Ctx) -> Result<Reply, ApiError> {
    let principal = authenticate(shared, ctx, Api::AccountManagement)?;
    let tenant_id = uuid_param(ctx, "tenant_id")?.to_string();
    let body = ctx.json_body()?;
    validate_body(shared, ctx, &body)?;
    let now = shared.now();
    let mut state = shared.state();
    ensure_access(&state, &principal, &tenant_id)?;
    let current = state.live_tenant(&tenant_id)?.clone();
    let given = body
        .get("version")
        .and_then(Value::as_i64)
        .unwrap_or_default();
    if given != current.pricing_version {
        return Err(ApiError::version_mismatch(current.pricing_version, given));
    }
    let new_version = state.next_version_ms(now);
    let tenant = state.live_tenant_mut(&tenant_id)?;
    if let Some(mode) = body.get("mode").and_then(Value::as_str) {
        if mode == "trial" && tenant.pricing_mode != "trial" {
            return Err(business_rule("A tenant cannot go back to trial mode."));
        }
        if mode != tenant.pricing_mode {
            tenant.pricing_mode = mode.into();
            tenant.production_start_date = Some(now);
        }
    }
    tenant.pricing_version = new_version;
    tenant.updated_at = now;
    ok(tenant.pricing_json())
}

fn mfa_json(state: &SimState, tenant: &Tenant) -> Value {
    let users = state
        .users
        .values()
        .filter(|(u, _)| u.tenant_id == tenant.id)
        .count();
    json!({
        "mfa_status": if tenant.mfa_status == "disabled" { "disabled" } else { "enabled" },
        "update_allowed": matches!(tenant.kind.as_str(), "partner" | "customer"),
        "users": users, "users_with_totp_enabled": 0, "users_count": users, "users_with_totp_enabled_count": 0,
    })
}

pub(crate) fn get_mfa_status(shared: &Shared, ctx: &Ctx) -> Result<Reply, ApiError> {
    let principal = authenticate(shared, ctx, Api::AccountManagement)?;
    let tenant_id = uuid_param(ctx, "tenant_id")?;
    let state = shared.state();
    let tenant = state.live_tenant(tenant_id)?;
    ensure_access(&state, &principal, tenant_id)?;
    ok(mfa_json(&state, tenant))
}

pub(crate) fn update_mfa_status(shared: &Shared, ctx: &Ctx) -> Result<Reply, ApiError> {
    let principal = authenticate(shared, ctx, Api::AccountManagement)?;
    let tenant_id = uuid_param(ctx, "tenant_id")?.to_string();
    let body = ctx.json_body()?;
    validate_body(shared, ctx, &body)?;
    let enabled = body
        .get("enabled")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let now = shared.now();
    let mut state = shared.state();
    ensure_access(&state, &principal, &tenant_id)?;
    let tenant = state.live_tenant_mut(&tenant_id)?;
    if !matches!(tenant.kind.as_str(), "partner" | "customer") {
        return Err(ApiError::bad_request(
            "MFA cannot be managed on folder or unit tenants.",
        ));
    }
    tenant.mfa_status = if enabled { "enabled" } else { "disabled" }.into();
    tenant.updated_at = now;
    let tenant = state.live_tenant(&tenant_id)?;
    ok(mfa_json(&state, tenant))
}

// ---------------------------------------------------------------- users

fn login_acceptable(login: &str) -> bool {
    login.len() >= 3
        && login
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || ".@_-+:!#$%^*={}'`/?".contains(c))
}

fn login_taken(state: &SimState, login: &str) -> bool {
    state
        .users
        .values()
        .any(|(u, _)| u.login.eq_ignore_ascii_case(login))
}

pub(crate) fn check_login(shared: &Shared, ctx: &Ctx) -> Result<Reply, ApiError> {
    authenticate(shared, ctx, Api::AccountManagement)?;
    let login = ctx
        .query("username")
        .ok_or_else(|| ApiError::bad_request("username is required."))?;
    if !login_acceptable(login) {
        return Err(ApiError::http(
            StatusCode::NOT_ACCEPTABLE,
            "Login is not acceptable.",
        ));
    }
    if login_taken(&shared.state(), login) {
        return Err(ApiError::http(
            StatusCode::CONFLICT,
            "Login is already taken.",
        ));
    }
    Ok(Reply::Empty(StatusCode::NO_CONTENT))
}

pub(crate) fn create_user(shared: &Shared, ctx: &Ctx) -> Result<Reply, ApiError> {
    let principal = authenticate(shared, ctx, Api::AccountManagement)?;
    let body = ctx.json_body()?;
    validate_body(shared, ctx, &body)?;
    let tenant_id = body
        .get("tenant_id")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let email = body
        .pointer("/contact/email")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let login = body
        .get("login")
        .and_then(Value::as_str)
        .map(String::from)
        .unwrap_or_else(|| email.clone());
    let now = shared.now();
    let mut state = shared.state();
    let tenant = state.live_tenant(&tenant_id)?;
    ensure_access(&state, &principal, &tenant_id)?;
    // Self-service tenants: ancestors may edit tenant properties but not its users.
    if tenant_id != principal.tenant_id && !tenant.ancestral_access {
        return Err(ApiError::access_denied(&tenant_id));
    }
    if !login_acceptable(&login) {
        return Err(ApiError::platform(
            StatusCode::BAD_REQUEST,
            1033,
            "Invalid login.",
        ));
    }
    if login_taken(&state, &login) {
        return Err(ApiError::http(
            StatusCode::CONFLICT,
            "Login is already taken.",
        ));
    }
    let user = User {
        id: new_uuid(),
        tenant_id,
        login,
        email,
        firstname: body
            .pointer("/contact/firstname")
            .and_then(Value::as_str)
            .map(String::from),
        lastname: body
            .pointer("/contact/lastname")
            .and_then(Value::as_str)
            .map(String::from),
        activated: false,
        enabled: body.get("enabled").and_then(Value::as_bool).unwrap_or(true),
        version: 1,
        activation_emails_sent: 0,
        access_policies: Vec::new(),
    };
    let reply = user.to_json(now);
    state.users.insert(user.id.clone(), (user, now));
    ok(reply)
}

pub(crate) fn get_user(shared: &Shared, ctx: &Ctx) -> Result<Reply, ApiError> {
    let principal = authenticate(shared, ctx, Api::AccountManagement)?;
    let user_id = uuid_param(ctx, "user_id")?;
    let state = shared.state();
    let not_found = || ApiError::http(StatusCode::NOT_FOUND, "User not found.");
    let (user, created) = state.users.get(user_id).ok_or_else(not_found)?;
    ensure_access(&state, &principal, &user.tenant_id).map_err(|_| not_found())?;
    ok(user.to_json(*created))
}

pub(crate) fn send_activation_email(shared: &Shared, ctx: &Ctx) -> Result<Reply, ApiError> {
    let principal = authenticate(shared, ctx, Api::AccountManagement)?;
    let user_id = uuid_param(ctx, "user_id")?.to_string();
    let mut state = shared.state();
    let not_found = || ApiError::http(StatusCode::NOT_FOUND, "User not found.");
    let tenant_id = state
        .users
        .get(&user_id)
        .ok_or_else(not_found)?
        .0
        .tenant_id
        .clone();
    ensure_access(&state, &principal, &tenant_id).map_err(|_| not_found())?;
    if let Some((user, _)) = state.users.get_mut(&user_id) {
        user.activation_emails_sent += 1;
    }
    Ok(Reply::Empty(StatusCode::NO_CONTENT))
}

/// `GET /tenants/{tenant_id}/users` (FetchTenantUsers): ids of the tenant's users.
pub(crate) fn tenant_users(shared: &Shared, ctx: &Ctx) -> Result<Reply, ApiError> {
    let principal = authenticate(shared, ctx, Api::AccountManagement)?;
    let tenant_id = uuid_param(ctx, "tenant_id")?;
    let include_grand_children = ctx.query_bool("include_grand_children")?;
    // No hidden or deleted users exist in the simulator; the flags are only checked.
    ctx.query_bool("include_hidden")?;
    ctx.query_bool("allow_deleted")?;
    let order = ctx.query("order").unwrap_or("name");
    let (descending, key) = match order.strip_prefix('-') {
        Some(key) => (true, key),
        None => (false, order),
    };
    let known = [
        "as_is",
        "login",
        "status",
        "name",
        "roles",
        "level",
        "mfa_status",
        "contact_types",
    ];
    if !known.contains(&key) && !key.starts_with("usage.") {
        return Err(ApiError::bad_request(format!(
            "order must be one of {known:?} or usage.<name>, got {order:?}"
        )));
    }
    let state = shared.state();
    let tenant = state.live_tenant(tenant_id)?;
    ensure_access(&state, &principal, tenant_id)?;
    // Grandchildren: units under a customer, nested folders under anything else.
    let nested_kind = if tenant.kind == "customer" {
        "unit"
    } else {
        "folder"
    };
    let included = |id: &str| -> bool {
        if id == tenant_id {
            return true;
        }
        if !include_grand_children {
            return false;
        }
        let mut current = id.to_string();
        for _ in 0..64 {
            let Some(t) = state.tenants.get(&current) else {
                return false;
            };
            if t.deleted_at.is_some() || t.kind != nested_kind || t.parent_id == t.id {
                return false;
            }
            if t.parent_id == tenant_id {
                return true;
            }
            current = t.parent_id.clone();
        }
        false
    };
    let mut users: Vec<(&User, &chrono::DateTime<chrono::Utc>)> = state
        .users
        .values()
        .filter(|(u, _)| included(&u.tenant_id))
        .map(|(u, created)| (u, created))
        .collect();
    let name = |u: &User| match (&u.firstname, &u.lastname) {
        (None, None) => u.login.to_lowercase(),
        (first, last) => format!(
            "{} {}",
            first.as_deref().unwrap_or(""),
            last.as_deref().unwrap_or("")
        )
        .trim()
        .to_lowercase(),
    };
    // Creation order first, so every other order is stable; `roles`, `level`, `usage.*`,
    // `mfa_status` and `contact_types` are accepted and keep creation order.
    users.sort_by(|a, b| (a.1, &a.0.id).cmp(&(b.1, &b.0.id)));
    match key {
        "login" => users.sort_by_key(|(u, _)| u.login.to_lowercase()),
        "name" => users.sort_by_key(|(u, _)| name(u)),
        "status" => users.sort_by_key(|(u, _)| (u.enabled, u.activated)),
        _ => {}
    }
    if descending {
        users.reverse();
    }
    let items: Vec<&str> = users.iter().map(|(u, _)| u.id.as_str()).collect();
    ok(json!({"items": items}))
}

fn user_not_found() -> ApiError {
    ApiError::http(StatusCode::NOT_FOUND, "User not found.")
}

/// A user the caller can see: its tenant is in the caller's subtree (others are "not found").
fn visible_user<'s>(
    state: &'s SimState,
    principal: &Principal,
    user_id: &str,
) -> Result<&'s User, ApiError> {
    let (user, _) = state.users.get(user_id).ok_or_else(user_not_found)?;
    state
        .live_tenant(&user.tenant_id)
        .map_err(|_| user_not_found())?;
    ensure_access(state, principal, &user.tenant_id).map_err(|_| user_not_found())?;
    Ok(user)
}

/// Self-service tenants (`ancestral_access: false`): ancestors may not manage their users (nor
/// those of their units). The caller's own tenant is always manageable.
fn may_manage_users_of(state: &SimState, principal: &Principal, tenant_id: &str) -> bool {
    let mut current = tenant_id.to_string();
    for _ in 0..64 {
        if current == principal.tenant_id {
            return true;
        }
        match state.tenants.get(&current) {
            Some(t) if t.ancestral_access && t.parent_id != t.id => current = t.parent_id.clone(),
            _ => return false,
        }
    }
    false
}

fn access_policies_json(user: &User, now: chrono::DateTime<chrono::Utc>) -> Value {
    let items: Vec<Value> = user.access_policies.iter().map(|p| p.to_json()).collect();
    json!({"timestamp": am_time(now), "items": items})
}

pub(crate) fn get_access_policies(shared: &Shared, ctx: &Ctx) -> Result<Reply, ApiError> {
    let principal = authenticate(shared, ctx, Api::AccountManagement)?;
    let user_id = uuid_param(ctx, "user_id")?;
    // No user groups are simulated, so there are no group policies to add.
    ctx.query_bool("includeUserGroupPolicies")?;
    let state = shared.state();
    let user = visible_user(&state, &principal, user_id)?;
    ok(access_policies_json(user, shared.now()))
}

const NIL_UUID: &str = "00000000-0000-0000-0000-000000000000";

/// `PUT /users/{user_id}/access_policies`: replaces the user's policies with the body's.
pub(crate) fn put_access_policies(shared: &Shared, ctx: &Ctx) -> Result<Reply, ApiError> {
    let principal = authenticate(shared, ctx, Api::AccountManagement)?;
    let user_id = uuid_param(ctx, "user_id")?.to_string();
    let mut body = ctx.json_body()?;
    let now = shared.now();
    // SPEC-AM uses one schema for reads and writes; `timestamp`, `created_at`, `updated_at` and
    // `deleted_at` are server-set and the developer docs' request example omits them, so they are
    // optional here. Every other rule of the schema applies.
    if let Some(fields) = body.as_object_mut() {
        fields
            .entry("timestamp")
            .or_insert_with(|| json!(am_time(now)));
    }
    if let Some(items) = body.get_mut("items").and_then(Value::as_array_mut) {
        for item in items.iter_mut().filter_map(Value::as_object_mut) {
            for (key, value) in [
                ("created_at", json!(am_time(now))),
                ("updated_at", json!(am_time(now))),
                ("deleted_at", Value::Null),
            ] {
                item.entry(key).or_insert(value);
            }
        }
    }
    validate_body(shared, ctx, &body)?;
    let mut state = shared.state();
    let user = visible_user(&state, &principal, &user_id)?.clone();
    if !may_manage_users_of(&state, &principal, &user.tenant_id) {
        return Err(ApiError::access_denied(&user.tenant_id));
    }
    let requested = body["items"].as_array().cloned().unwrap_or_default();
    let mut policies: Vec<AccessPolicy> = Vec::new();
    for wanted in &requested {
        let text = |key: &str| wanted[key].as_str().unwrap_or_default().to_string();
        let (trustee_id, tenant_id, role_id) =
            (text("trustee_id"), text("tenant_id"), text("role_id"));
        if trustee_id != user_id {
            return Err(ApiError::bad_request(format!(
                "trustee_id {trustee_id:?} is not the user {user_id}."
            )));
        }
        if text("trustee_type") != "user" {
            return Err(ApiError::bad_request(
                "trustee_type must be user for a user's access policies.",
            ));
        }
        if !is_uuid(&tenant_id) {
            return Err(ApiError::bad_request(format!(
                "tenant_id must be a UUID, got {tenant_id:?}"
            )));
        }
        state.live_tenant(&tenant_id)?;
        ensure_access(&state, &principal, &tenant_id)?;
        if !state.is_within(&tenant_id, &user.tenant_id) {
            return Err(ApiError::bad_request(
                "An access policy must be on the user's tenant or a tenant below it.",
            ));
        }
        if policies
            .iter()
            .any(|p| p.role_id == role_id && p.tenant_id == tenant_id)
        {
            return Err(ApiError::http(
                StatusCode::CONFLICT,
                "Another object of the same type already exists.",
            ));
        }
        let optional = |key: &str| wanted.get(key).and_then(Value::as_str).map(String::from);
        let issuer_id = match text("issuer_id") {
            issuer if issuer.is_empty() || issuer == NIL_UUID => tenant_id.clone(),
            issuer => issuer,
        };
        let mut policy = AccessPolicy {
            id: new_uuid(),
            version: 1,
            trustee_id,
            trustee_type: "user".into(),
            issuer_id,
            tenant_id,
            role_id,
            resource_server_id: optional("resource_server_id"),
            resource_namespace: optional("resource_namespace"),
            resource_path: optional("resource_path"),
            created_at: now,
            updated_at: now,
        };
        // A policy the client read back keeps its id and creation time.
        let given_id = text("id");
        if let Some(existing) = user.access_policies.iter().find(|p| p.id == given_id) {
            policy.id = existing.id.clone();
            policy.created_at = existing.created_at;
            let same = AccessPolicy {
                version: existing.version,
                updated_at: existing.updated_at,
                ..policy.clone()
            };
            if &same == existing {
                policy = same;
            } else {
                policy.version = existing.version + 1;
            }
        }
        policies.push(policy);
    }
    let stored = state
        .users
        .get_mut(&user_id)
        .map(|(stored, _)| {
            stored.access_policies = policies;
            stored.clone()
        })
        .ok_or_else(user_not_found)?;
    ok(access_policies_json(&stored, now))
}

// ---------------------------------------------------------------- applications

pub(crate) fn list_applications(shared: &Shared, ctx: &Ctx) -> Result<Reply, ApiError> {
    authenticate(shared, ctx, Api::AccountManagement)?;
    let state = shared.state();
    let items: Vec<Value> = APPLICATIONS
        .iter()
        .map(|app| {
            let mut usages: Vec<&str> = state
                .catalogue
                .iter()
                .filter(|c| c.application_id == app.id)
                .map(|c| c.usage_name.as_str())
                .collect();
            if app.id == crate::model::CYBER_PROTECTION_APP_ID {
                usages.extend(
                    crate::usage_names::STORAGE_USAGES_WITHOUT_ITEM
                        .iter()
                        .map(|u| u.usage_name),
                );
            }
            usages.sort_unstable();
            usages.dedup();
            json!({"id": app.id, "name": app.name, "type": app.app_type, "api_base_url": app.api_base_url, "usages": usages})
        })
        .collect();
    ok(json!({"items": items}))
}

pub(crate) fn tenant_applications(shared: &Shared, ctx: &Ctx) -> Result<Reply, ApiError> {
    let principal = authenticate(shared, ctx, Api::AccountManagement)?;
    let tenant_id = uuid_param(ctx, "tenant_id")?;
    let state = shared.state();
    state.live_tenant(tenant_id)?;
    ensure_access(&state, &principal, tenant_id)?;
    let items: Vec<&str> = state
        .bindings
        .iter()
        .filter(|(_, t)| t == tenant_id)
        .map(|(a, _)| a.as_str())
        .collect();
    ok(json!({"items": items}))
}

fn application_and_tenant<'c>(
    shared: &Shared,
    ctx: &'c Ctx,
) -> Result<(Principal, &'c str, &'c str), ApiError> {
    let principal = authenticate(shared, ctx, Api::AccountManagement)?;
    let application_id = uuid_param(ctx, "application_id")?;
    let tenant_id = uuid_param(ctx, "tenant_id")?;
    if !APPLICATIONS.iter().any(|app| app.id == application_id) {
        return Err(ApiError::http(
            StatusCode::NOT_FOUND,
            "Application not found.",
        ));
    }
    Ok((principal, application_id, tenant_id))
}

pub(crate) fn bind_application(shared: &Shared, ctx: &Ctx) -> Result<Reply, ApiError> {
    let (principal, application_id, tenant_id) = application_and_tenant(shared, ctx)?;
    let mut state = shared.state();
    let parent_id = state.live_tenant(tenant_id)?.parent_id.clone();
    ensure_access(&state, &principal, tenant_id)?;
    let binding = (application_id.to_string(), tenant_id.to_string());
    if !state
        .bindings
        .iter()
        .any(|(a, t)| a == application_id && *t == parent_id)
    {
        return Err(ApiError::platform(
            StatusCode::BAD_REQUEST,
            1026,
            "The service is not available to the parent.",
        ));
    }
    if !state.bindings.contains(&binding) {
        state.bindings.push(binding);
    }
    Ok(Reply::Empty(StatusCode::NO_CONTENT))
}

pub(crate) fn unbind_application(shared: &Shared, ctx: &Ctx) -> Result<Reply, ApiError> {
    let (principal, application_id, tenant_id) = application_and_tenant(shared, ctx)?;
    let mut state = shared.state();
    state.live_tenant(tenant_id)?;
    ensure_access(&state, &principal, tenant_id)?;
    // Turning a service off removes it (and its offering items) from the whole subtree.
    let subtree: Vec<String> = state
        .tenants
        .keys()
        .filter(|id| state.is_within(id, tenant_id))
        .cloned()
        .collect();
    state
        .bindings
        .retain(|(a, t)| !(a == application_id && subtree.contains(t)));
    for item in state.offering_items.iter_mut() {
        if item.catalogue.application_id == application_id && subtree.contains(&item.tenant_id) {
            item.enabled = false;
            item.quota = Quota {
                value: None,
                overage: None,
                version: 0,
            };
        }
    }
    Ok(Reply::Empty(StatusCode::NO_CONTENT))
}

// ---------------------------------------------------------------- offering items and infra

/// `edition` filter: default is the legacy `standard`; `*` = all; items without edition always match.
fn edition_matches(item: &OfferingItem, editions: &Option<Vec<String>>) -> bool {
    match (&item.catalogue.edition, editions) {
        (None, _) | (_, None) => true,
        (Some(edition), Some(wanted)) => wanted.iter().any(|w| w == "*" || w == edition),
    }
}

pub(crate) fn list_offering_items(shared: &Shared, ctx: &Ctx) -> Result<Reply, ApiError> {
    let principal = authenticate(shared, ctx, Api::AccountManagement)?;
    let tenant_id = uuid_param(ctx, "tenant_id")?;
    let editions =
        Some(comma_list(ctx.query("edition")).unwrap_or_else(|| vec!["standard".into()]));
    let status = match ctx.query("status") {
        None => None,
        Some("0") => Some(false),
        Some("1") => Some(true),
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "status must be 0 or 1, got {other:?}"
            )));
        }
    };
    let item_type = ctx.query("type");
    if item_type.is_some_and(|t| !matches!(t, "count" | "feature" | "infra")) {
        return Err(ApiError::bad_request(
            "type must be count, feature or infra.",
        ));
    }
    let usage_names = comma_list(ctx.query("usage_names"));
    let infra_uuid = ctx.query("infra_uuid");
    let state = shared.state();
    state.live_tenant(tenant_id)?;
    ensure_access(&state, &principal, tenant_id)?;
    let items: Vec<Value> = state
        .offering_items
        .iter()
        .filter(|i| i.tenant_id == tenant_id && edition_matches(i, &editions))
        .filter(|i| status.is_none_or(|s| i.enabled == s))
        .filter(|i| item_type.is_none_or(|t| i.catalogue.item_type == t))
        .filter(|i| {
            usage_names
                .as_ref()
                .is_none_or(|names| names.contains(&i.catalogue.usage_name))
        })
        .filter(|i| infra_uuid.is_none_or(|infra| i.infra_id.as_deref() == Some(infra)))
        .map(OfferingItem::to_json)
        .collect();
    ok(json!({"timestamp": am_time(shared.now()), "items": items}))
}

pub(crate) fn update_offering_items(shared: &Shared, ctx: &Ctx) -> Result<Reply, ApiError> {
    let principal = authenticate(shared, ctx, Api::AccountManagement)?;
    let tenant_id = uuid_param(ctx, "tenant_id")?.to_string();
    let body = ctx.json_body()?;
    validate_body(shared, ctx, &body)?;
    let check_usage = body
        .get("check_usage")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let requested = body
        .get("offering_items")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let now = shared.now();
    let mut state = shared.state();
    let tenant = state.live_tenant(&tenant_id)?.clone();
    ensure_access(&state, &principal, &tenant_id)?;
    if tenant.kind == "unit" {
        return Err(business_rule(
            "Offering items cannot be changed on personal tenants.",
        ));
    }
    // Validate everything first: the platform applies a PUT entirely or not at all.
    let mut changes: Vec<(usize, bool, Quota)> = Vec::new();
    for wanted in &requested {
        let application_id = wanted["application_id"].as_str().unwrap_or_default();
        let name = wanted["name"].as_str().unwrap_or_default();
        let infra_id = wanted.get("infra_id").and_then(Value::as_str);
        let not_available = || {
            ApiError::platform(
                StatusCode::BAD_REQUEST,
                1021,
                "Offering item is not available.",
            )
            .with_context(json!({"name": name, "infra_id": infra_id}))
        };
        let index = state
            .offering_items
            .iter()
            .position(|i| i.tenant_id == tenant_id && i.key_matches(application_id, name, infra_id))
            .ok_or_else(not_available)?;
        let item = &state.offering_items[index];
        let enable = match wanted.get("status").and_then(Value::as_i64) {
            Some(status) => status == 1,
            None => item.enabled || wanted.get("quota").is_some(),
        };
        if enable && !item.enabled {
            let parent_has_it = state.offering_items.iter().any(|p| {
                p.tenant_id == tenant.parent_id
                    && p.enabled
                    && p.key_matches(application_id, name, item.infra_id.as_deref())
            });
            if !parent_has_it && tenant.parent_id != tenant.id {
                return Err(not_available());
            }
        }
        if !enable && item.enabled && check_usage {
            let used = state
                .usage_of(&tenant_id, name, item.infra_id.as_deref())
                .is_some_and(|u| u.value > 0);
            if used {
                return Err(ApiError::platform(
                    StatusCode::BAD_REQUEST,
                    1009,
                    "Offering item is in use and cannot be turned off.",
                )
                .with_context(json!({"name": name})));
            }
        }
        let mut quota = if enable && item.enabled {
            item.quota
        } else {
            Quota {
                value: None,
                overage: None,
                version: 0,
            }
        };
        if let (true, Some(requested_quota)) = (enable, wanted.get("quota")) {
            let given_version = requested_quota["version"].as_i64().unwrap_or_default();
            if given_version != quota.version {
                return Err(ApiError::version_mismatch(quota.version, given_version)
                    .with_context(json!({"name": name, "infra_id": item.infra_id})));
            }
            let value = requested_quota["value"].as_u64();
            // A null value means unlimited: overage goes too and the version resets to 0.
            quota = match value {
                None => Quota {
                    value: None,
                    overage: None,
                    version: 0,
                },
                Some(value) => Quota {
                    value: Some(value),
                    overage: requested_quota["overage"].as_u64(),
                    version: 0,
                },
            };
        }
        changes.push((index, enable, quota));
    }
    if tenant.kind == "customer" {
        let mut enabled_storages: Vec<String> = state
            .offering_items
            .iter()
            .enumerate()
            .filter(|(index, i)| {
                let enabled = changes
                    .iter()
                    .rev()
                    .find(|(c, _, _)| c == index)
                    .map_or(i.enabled, |(_, e, _)| *e);
                // The vendor guide (scenario 3) shows public cloud storages enabled beside the
                // Acronis storage and beside each other: the rule counts the other storages.
                let public_cloud = i.infra_id.as_ref().is_some_and(|id| {
                    state.infras.get(id).is_some_and(|infra| {
                        crate::usage_names::PUBLIC_CLOUD_BACKENDS
                            .contains(&infra.backend_type.as_str())
                    })
                });
                i.tenant_id == tenant_id
                    && enabled
                    && !public_cloud
                    && i.catalogue.item_type == "infra"
                    && i.catalogue.usage_name == "storage"
            })
            .filter_map(|(_, i)| i.infra_id.clone())
            .collect();
        enabled_storages.sort();
        enabled_storages.dedup();
        if enabled_storages.len() > 1 {
            return Err(ApiError::platform(
                StatusCode::BAD_REQUEST,
                1015,
                "Only one storage may be enabled for a customer.",
            )
            .with_context(json!({"infra_ids": enabled_storages})));
        }
    }
    let mut touched = Vec::new();
    for (index, enable, mut quota) in changes {
        if quota.value.is_some() {
            quota.version = state.next_version_ms(now);
        }
        let item = &mut state.offering_items[index];
        item.enabled = enable;
        item.quota = quota;
        item.updated_at = now;
        touched.push(index);
    }
    touched.dedup();
    let items: Vec<Value> = touched
        .iter()
        .map(|index| state.offering_items[*index].to_json())
        .collect();
    ok(json!({"timestamp": am_time(now), "items": items}))
}

pub(crate) fn batch_offering_items(shared: &Shared, ctx: &Ctx) -> Result<Reply, ApiError> {
    let principal = authenticate(shared, ctx, Api::AccountManagement)?;
    let filters = match ctx.query("after") {
        Some(cursor) => decode_cursor(cursor)?,
        None => {
            let root = ctx
                .query("subtree_root_tenant_id")
                .filter(|id| is_uuid(id))
                .ok_or_else(|| {
                    ApiError::bad_request("subtree_root_tenant_id (UUID) is required.")
                })?;
            json!({"offset": 0, "root": root, "usage_names": ctx.query("usage_names"), "editions": ctx.query("editions"),
                "offering_items": ctx.query("offering_items"), "limit": parse_limit(ctx, 5000)?})
        }
    };
    let root = filters["root"].as_str().unwrap_or_default();
    let usage_names = comma_list(filters["usage_names"].as_str());
    let editions = comma_list(filters["editions"].as_str());
    let names = comma_list(filters["offering_items"].as_str());
    let offset = filters["offset"].as_u64().unwrap_or(0) as usize;
    let limit = filters["limit"].as_u64().unwrap_or(5000) as usize;
    let state = shared.state();
    state.live_tenant(root)?;
    ensure_access(&state, &principal, root)?;
    let depth = |id: &str| {
        let mut depth = 0;
        let mut current = id.to_string();
        while current != root && depth < 64 {
            current = state
                .tenants
                .get(&current)
                .map_or_else(|| root.to_string(), |t| t.parent_id.clone());
            depth += 1;
        }
        depth
    };
    let mut matching: Vec<&OfferingItem> = state
        .offering_items
        .iter()
        .filter(|i| state.is_within(&i.tenant_id, root) && state.live_tenant(&i.tenant_id).is_ok())
        .filter(|i| edition_matches(i, &editions))
        .filter(|i| {
            usage_names
                .as_ref()
                .is_none_or(|u| u.contains(&i.catalogue.usage_name))
        })
        .filter(|i| names.as_ref().is_none_or(|n| n.contains(&i.catalogue.name)))
        .collect();
    matching.sort_by_cached_key(|i| {
        (
            depth(&i.tenant_id),
            state.tenants.get(&i.tenant_id).map_or(0, |t| t.sequence),
        )
    });
    let items: Vec<Value> = matching
        .iter()
        .skip(offset)
        .take(limit)
        .map(|i| i.to_json())
        .collect();
    let mut cursors = json!({});
    if offset + limit < matching.len() {
        let mut next = filters.clone();
        next["offset"] = json!(offset + limit);
        cursors["after"] = json!(encode_cursor(&next));
    }
    ok(json!({"timestamp": am_time(shared.now()), "items": items, "paging": {"cursors": cursors}}))
}

pub(crate) fn get_infras(shared: &Shared, ctx: &Ctx) -> Result<Reply, ApiError> {
    authenticate(shared, ctx, Api::AccountManagement)?;
    let uuids = comma_list(ctx.query("uuids"))
        .ok_or_else(|| ApiError::bad_request("uuids is required."))?;
    let state = shared.state();
    let items: Vec<Value> = uuids
        .iter()
        .filter_map(|id| state.infras.get(id))
        .map(|infra| infra.to_json())
        .collect();
    ok(json!({"items": items}))
}

pub(crate) fn tenant_infras(shared: &Shared, ctx: &Ctx) -> Result<Reply, ApiError> {
    let principal = authenticate(shared, ctx, Api::AccountManagement)?;
    let tenant_id = uuid_param(ctx, "tenant_id")?;
    let state = shared.state();
    state.live_tenant(tenant_id)?;
    ensure_access(&state, &principal, tenant_id)?;
    let mut items: Vec<&str> = state
        .offering_items
        .iter()
        .filter(|i| i.tenant_id == tenant_id)
        .filter_map(|i| i.infra_id.as_deref())
        .collect();
    items.sort_unstable();
    items.dedup();
    ok(json!({"items": items}))
}

// ---------------------------------------------------------------- usages

fn filtered_usages(ctx: &Ctx, rows: Vec<Value>) -> Vec<Value> {
    let usage_names = comma_list(ctx.query("usage_names"));
    let editions = comma_list(ctx.query("editions"));
    rows.into_iter()
        .filter(|row| {
            usage_names
                .as_ref()
                .is_none_or(|names| names.iter().any(|n| row["usage_name"] == json!(n)))
                && editions.as_ref().is_none_or(|eds| {
                    row["edition"].is_null()
                        || eds.iter().any(|e| e == "*" || row["edition"] == json!(e))
                })
        })
        .collect()
}

pub(crate) fn tenant_usages(shared: &Shared, ctx: &Ctx) -> Result<Reply, ApiError> {
    let principal = authenticate(shared, ctx, Api::AccountManagement)?;
    let tenant_id = uuid_param(ctx, "tenant_id")?;
    let now = shared.now();
    let state = shared.state();
    let tenant = state.live_tenant(tenant_id)?;
    ensure_access(&state, &principal, tenant_id)?;
    let rows = state.usage_rows(tenant, &SimState::range_start(now));
    ok(json!({"items": filtered_usages(ctx, rows)}))
}

pub(crate) fn batch_usages(shared: &Shared, ctx: &Ctx) -> Result<Reply, ApiError> {
    let principal = authenticate(shared, ctx, Api::AccountManagement)?;
    let tenants = comma_list(ctx.query("tenants"))
        .ok_or_else(|| ApiError::bad_request("tenants is required."))?;
    if tenants.is_empty() || tenants.iter().any(|t| !is_uuid(t)) {
        return Err(ApiError::bad_request(
            "tenants must be a comma-separated list of UUIDs.",
        ));
    }
    let range_start = SimState::range_start(shared.now());
    let state = shared.state();
    let ids: Vec<&str> = tenants.iter().map(String::as_str).collect();
    let mut by_tenant = state.items_and_usages_of(&ids);
    let mut items = Vec::new();
    for tenant_id in &tenants {
        let tenant = state.live_tenant(tenant_id)?;
        ensure_access(&state, &principal, tenant_id)?;
        let (offering_items, usages) = by_tenant.remove(tenant_id.as_str()).unwrap_or_default();
        let rows = usage_rows_of(tenant, &offering_items, &usages, &range_start);
        items.push(json!({"tenant": tenant_id, "usages": filtered_usages(ctx, rows)}));
    }
    ok(json!({"items": items}))
}
