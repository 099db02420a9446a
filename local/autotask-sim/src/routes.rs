//! The single table of served routes. The HTTP dispatcher only answers what is listed here, and
//! the conformance test checks every entry against the swagger.

use crate::entities::{ENTITIES, EntityDef};
use std::sync::LazyLock;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpdateMode {
    Patch,
    Put,
}

#[derive(Debug, Clone, Copy)]
pub enum Action {
    ZoneInformation,
    VersionInformation,
    ThresholdInformation,
    EntityInformation(&'static EntityDef),
    FieldInformation(&'static EntityDef),
    UdfInformation(&'static EntityDef),
    Query(&'static EntityDef),
    QueryCount(&'static EntityDef),
    QueryNextPage(&'static EntityDef),
    GetById(&'static EntityDef),
    Create(&'static EntityDef),
    Update(&'static EntityDef, UpdateMode),
    Delete(&'static EntityDef),
    ChildList(&'static EntityDef),
    ChildGetById(&'static EntityDef),
    ChildCreate(&'static EntityDef),
    ChildUpdate(&'static EntityDef, UpdateMode),
}

impl Action {
    /// Thread limiting counts per object endpoint (notes §4); this is the object.
    pub fn endpoint_object(&self) -> &'static str {
        match self {
            Action::ZoneInformation => "ZoneInformation",
            Action::VersionInformation => "VersionInformation",
            Action::ThresholdInformation => "ThresholdInformation",
            Action::EntityInformation(e)
            | Action::FieldInformation(e)
            | Action::UdfInformation(e)
            | Action::Query(e)
            | Action::QueryCount(e)
            | Action::QueryNextPage(e)
            | Action::GetById(e)
            | Action::Create(e)
            | Action::Update(e, _)
            | Action::Delete(e)
            | Action::ChildList(e)
            | Action::ChildGetById(e)
            | Action::ChildCreate(e)
            | Action::ChildUpdate(e, _) => e.name,
        }
    }

    /// Zone and version lookups are unauthenticated and exempt from limits (notes §1.3).
    pub fn needs_auth(&self) -> bool {
        !matches!(self, Action::ZoneInformation | Action::VersionInformation)
    }
}

#[derive(Debug, Clone)]
pub struct Route {
    pub method: &'static str,
    /// Swagger-style template under the REST root, e.g. `/V1.0/Companies/{id}`.
    pub template: String,
    pub action: Action,
    /// False only for routes listed in [`crate::conformance::ROUTES_DOCUMENTED_OUTSIDE_SWAGGER`].
    pub in_swagger: bool,
}

static ROUTES: LazyLock<Vec<Route>> = LazyLock::new(build_routes);

/// Every route the simulator serves.
pub fn served_routes() -> &'static [Route] {
    &ROUTES
}

fn build_routes() -> Vec<Route> {
    let mut routes = Vec::new();
    let mut add = |method: &'static str, template: String, action: Action| {
        let in_swagger = !template.ends_with("/query/next");
        routes.push(Route {
            method,
            template,
            action,
            in_swagger,
        });
    };
    add(
        "GET",
        "/V1.0/ZoneInformation".into(),
        Action::ZoneInformation,
    );
    add(
        "GET",
        "/VersionInformation".into(),
        Action::VersionInformation,
    );
    add(
        "GET",
        "/V1.0/ThresholdInformation".into(),
        Action::ThresholdInformation,
    );
    for def in &ENTITIES {
        let root = format!("/V1.0/{}", def.name);
        add(
            "GET",
            format!("{root}/entityInformation"),
            Action::EntityInformation(def),
        );
        add(
            "GET",
            format!("{root}/entityInformation/fields"),
            Action::FieldInformation(def),
        );
        add(
            "GET",
            format!("{root}/entityInformation/userDefinedFields"),
            Action::UdfInformation(def),
        );
        if def.query {
            add("GET", format!("{root}/query"), Action::Query(def));
            add("POST", format!("{root}/query"), Action::Query(def));
            add(
                "GET",
                format!("{root}/query/count"),
                Action::QueryCount(def),
            );
            add(
                "POST",
                format!("{root}/query/count"),
                Action::QueryCount(def),
            );
            add(
                "POST",
                format!("{root}/query/next"),
                Action::QueryNextPage(def),
            );
            add("GET", format!("{root}/{{id}}"), Action::GetById(def));
        }
        if def.root_create {
            add("POST", root.clone(), Action::Create(def));
        }
        if def.root_update {
            add(
                "PATCH",
                root.clone(),
                Action::Update(def, UpdateMode::Patch),
            );
            add("PUT", root.clone(), Action::Update(def, UpdateMode::Put));
        }
        if def.delete {
            add("DELETE", format!("{root}/{{id}}"), Action::Delete(def));
        }
        if let Some(child) = &def.child {
            let base = format!("/V1.0/{}/{{parentId}}/{}", child.parent, child.segment);
            add(
                "GET",
                format!("{base}/entityInformation"),
                Action::EntityInformation(def),
            );
            add(
                "GET",
                format!("{base}/entityInformation/fields"),
                Action::FieldInformation(def),
            );
            add(
                "GET",
                format!("{base}/entityInformation/userDefinedFields"),
                Action::UdfInformation(def),
            );
            if child.list {
                add("GET", base.clone(), Action::ChildList(def));
                add("GET", format!("{base}/{{id}}"), Action::ChildGetById(def));
            }
            if child.create {
                add("POST", base.clone(), Action::ChildCreate(def));
            }
            if child.update {
                add(
                    "PATCH",
                    base.clone(),
                    Action::ChildUpdate(def, UpdateMode::Patch),
                );
                add(
                    "PUT",
                    base.clone(),
                    Action::ChildUpdate(def, UpdateMode::Put),
                );
            }
        }
    }
    routes
}

/// The outcome of matching a request path against the table.
pub enum RouteMatch<'r> {
    Found {
        route: &'r Route,
        params: Vec<String>,
    },
    /// The path exists but not with this method (ASP.NET answers 405).
    WrongMethod,
    NotFound,
}

/// Matches a path below the REST root (`/V1.0/...`), ignoring letter case. Literal segments win
/// over placeholders so `/Companies/query` is the query route, not `/Companies/{id}`.
pub fn match_route<'r>(routes: &'r [Route], method: &str, path: &str) -> RouteMatch<'r> {
    let wanted: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let mut best_score: Option<usize> = None;
    let mut candidates: Vec<(&Route, Vec<String>)> = Vec::new();
    for route in routes {
        let segments: Vec<&str> = route
            .template
            .split('/')
            .filter(|s| !s.is_empty())
            .collect();
        if segments.len() != wanted.len() {
            continue;
        }
        let mut score = 0;
        let mut params = Vec::new();
        let matches = segments.iter().zip(&wanted).all(|(t, w)| {
            if t.starts_with('{') {
                params.push((*w).to_string());
                true
            } else if t.eq_ignore_ascii_case(w) {
                score += 1;
                true
            } else {
                false
            }
        });
        if !matches {
            continue;
        }
        match best_score {
            Some(best) if score < best => {}
            Some(best) if score == best => candidates.push((route, params)),
            _ => {
                best_score = Some(score);
                candidates = vec![(route, params)];
            }
        }
    }
    if candidates.is_empty() {
        return RouteMatch::NotFound;
    }
    match candidates
        .into_iter()
        .find(|(route, _)| route.method.eq_ignore_ascii_case(method))
    {
        Some((route, params)) => RouteMatch::Found { route, params },
        None => RouteMatch::WrongMethod,
    }
}
