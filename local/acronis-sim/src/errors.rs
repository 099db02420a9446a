//! Error bodies in the shapes each API uses on the wire.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// Account Management's platform error domain.
pub const PLATFORM_DOMAIN: &str = "PlatformAccountServer";
pub const ALERT_DOMAIN: &str = "AlertManager";

/// nginx's page: Alert Manager answers 401 with this, as text/plain, not JSON.
pub const ALERTS_UNAUTHORIZED_PAGE: &str = "<html>\r\n<head><title>401 Authorization Required</title></head>\r\n<body>\r\n<center><h1>401 Authorization Required</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n";

#[derive(Debug, Clone, PartialEq)]
pub enum ApiError {
    /// `{"error": {code, domain, message, details, context}}` (SPEC-AM `errorScheme`).
    Platform {
        status: StatusCode,
        code: Value,
        message: String,
        info: Option<String>,
        context: Value,
    },
    /// `{"error", "error_description"}` of `/idp/token` (SPEC-AM `tokenError`).
    Token {
        status: StatusCode,
        error: &'static str,
        description: String,
    },
    /// `{domain, code, context}` (SPEC-AL `Error`).
    Alerts {
        status: StatusCode,
        code: &'static str,
        reason: String,
    },
    AlertsUnauthorized,
}

impl ApiError {
    pub fn platform(status: StatusCode, code: i64, message: impl Into<String>) -> ApiError {
        ApiError::Platform {
            status,
            code: json!(code),
            message: message.into(),
            info: None,
            context: json!({}),
        }
    }

    pub fn with_info(mut self, text: impl Into<String>) -> ApiError {
        if let ApiError::Platform { info, .. } = &mut self {
            *info = Some(text.into());
        }
        self
    }

    pub fn with_context(mut self, value: Value) -> ApiError {
        if let ApiError::Platform { context, .. } = &mut self {
            *context = value;
        }
        self
    }

    /// Plain HTTP errors carry the HTTP status as their code.
    pub fn http(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError::platform(status, i64::from(status.as_u16()), message)
    }

    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::http(StatusCode::BAD_REQUEST, message)
    }

    pub fn unauthorized() -> ApiError {
        ApiError::http(
            StatusCode::UNAUTHORIZED,
            "Method required an authenticated user.",
        )
    }

    pub fn access_denied(tenant_id: &str) -> ApiError {
        ApiError::platform(StatusCode::FORBIDDEN, 1002, "Access denied.")
            .with_context(json!({"id": tenant_id}))
    }

    pub fn tenant_not_found(tenant_id: &str) -> ApiError {
        ApiError::platform(StatusCode::NOT_FOUND, 1005, "Tenant not found.")
            .with_context(json!({"id": tenant_id}))
    }

    pub fn version_mismatch(expected: i64, given: i64) -> ApiError {
        ApiError::platform(StatusCode::CONFLICT, 1001, "Version mismatch.")
            .with_info(format!(
                "Current version is {expected}, request carries {given}."
            ))
            .with_context(json!({"version": given}))
    }

    pub fn alert_bad_request(reason: impl Into<String>) -> ApiError {
        ApiError::Alerts {
            status: StatusCode::BAD_REQUEST,
            code: "BadRequest",
            reason: reason.into(),
        }
    }

    /// SPEC-AL 403: "an issue with tenant security claim: invalid tenant in the access token,
    /// tenant resolution failed and etc."
    pub fn alert_forbidden(reason: impl Into<String>) -> ApiError {
        ApiError::Alerts {
            status: StatusCode::FORBIDDEN,
            code: "Forbidden",
            reason: reason.into(),
        }
    }

    pub fn alert_not_found(id: &str) -> ApiError {
        ApiError::Alerts {
            status: StatusCode::NOT_FOUND,
            code: "NotFound",
            reason: format!("alert {id} not found"),
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Platform { status, .. }
            | ApiError::Token { status, .. }
            | ApiError::Alerts { status, .. } => *status,
            ApiError::AlertsUnauthorized => StatusCode::UNAUTHORIZED,
        }
    }

    pub fn body(&self) -> Option<Value> {
        match self {
            ApiError::Platform {
                code,
                message,
                info,
                context,
                ..
            } => Some(json!({"error": {
                "code": code, "domain": PLATFORM_DOMAIN, "message": message,
                "details": {"info": info}, "context": context,
            }})),
            ApiError::Token {
                error, description, ..
            } => Some(json!({"error": error, "error_description": description})),
            ApiError::Alerts { code, reason, .. } => {
                Some(json!({"domain": ALERT_DOMAIN, "code": code, "reason": reason, "context": {}}))
            }
            ApiError::AlertsUnauthorized => None,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        match self.body() {
            Some(body) => (status, axum::Json(body)).into_response(),
            None => {
                let mut response = (status, ALERTS_UNAUTHORIZED_PAGE).into_response();
                response
                    .headers_mut()
                    .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
                response
            }
        }
    }
}
