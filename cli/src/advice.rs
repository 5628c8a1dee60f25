//! The policy change that fixes a refusal: the advice `explain` prints for one
//! request and `report` prints for each refused origin, and the edit that
//! `report --suggest` applies to the policy document. One copy, so the two
//! commands never advise differently.

use cors_gateway_core::json::Json;
use cors_gateway_core::policy::DEFAULT_METHODS;
use cors_gateway_core::Failure;
use std::borrow::Cow;

/// What failed: one of the gateway's checks, or (seen only by `explain`,
/// which plays the browser) a credentialed request the policy does not allow.
#[derive(Clone, Copy)]
pub enum Problem<'a> {
    Failure(Failure<'a>),
    Credentials,
}

/// What was refused: the page's origin, the method it asked for (the
/// `Access-Control-Request-Method` of a preflight), the request path and the
/// header that failed, where one did.
pub struct Refused<'a> {
    pub origin: &'a str,
    pub method: &'a str,
    pub path: &'a str,
    pub header: Option<&'a str>,
}

/// A fix: the advice in words and, where the change is mechanical, the edit.
pub struct Fix {
    pub text: String,
    pub edit: Option<Edit>,
}

/// One change to the policy document: a value added to a list, or a flag set.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Edit {
    /// `None`: the defaults (`cors`); `Some(i)`: `routes[i].cors`.
    pub route: Option<usize>,
    pub field: &'static str,
    /// The value added (`None`: the field is set to `true`).
    pub add: Option<String>,
}

impl Edit {
    /// The JSON path it changes, as `check` names fields.
    pub fn path(&self) -> String {
        match self.route {
            Some(i) => format!("routes[{i}].cors.{}", self.field),
            None => format!("cors.{}", self.field),
        }
    }
}

/// The fix for `problem`, on the route at index
/// `route` of the policy document `doc` (`Json::Null` when unknown: the
/// defaults are named). A field the route sets itself is changed there; any
/// other in the defaults, which is where the route takes it from.
pub fn fix(doc: &Json, route: Option<usize>, problem: Problem<'_>, r: &Refused<'_>) -> Option<Fix> {
    let own = |name: &str| match route {
        Some(i) if doc["routes"][i]["cors"].get(name).is_some() => Some(i),
        _ => None,
    };
    let edit = |field: &'static str, add: Option<&str>| Edit {
        route: own(field),
        field,
        add: add.map(str::to_string),
    };
    let add = |field: &'static str, value: &str| {
        let e = edit(field, Some(value));
        Fix {
            text: format!("add \"{value}\" to {}", e.path()),
            edit: Some(e),
        }
    };
    Some(match problem {
        Problem::Failure(Failure::OriginNotAllowed) => add("allow_origins", r.origin),
        Problem::Failure(Failure::MethodNotAllowed(_)) => add("allow_methods", r.method),
        Problem::Failure(Failure::HeaderNotAllowed(_) | Failure::AuthorizationNeedsListing) => match r.header {
            Some(h) => add("allow_headers", h),
            None => Fix {
                text: format!("add \"the header\" to {}", edit("allow_headers", None).path()),
                edit: None,
            },
        },
        Problem::Failure(Failure::PrivateNetworkNotAllowed) => {
            let e = edit("allow_private_network", None);
            Fix {
                text: format!("set {} to true", e.path()),
                edit: Some(e),
            }
        }
        Problem::Failure(Failure::NoRoute) => Fix {
            text: format!("add a route whose path_prefix covers \"{}\"", r.path),
            edit: None,
        },
        Problem::Failure(Failure::MalformedOrigin) => Fix {
            text: "the Origin is not in the form browsers send (lower case, no default port, no path)"
                .into(),
            edit: None,
        },
        Problem::Credentials => Fix {
            text: format!(
                "set {} to true (with explicit origins, not \"*\"), or have the page use credentials: 'omit'",
                edit("allow_credentials", None).path()
            ),
            edit: None,
        },
        Problem::Failure(_) => return None,
    })
}

/// Applies `edit` to the policy document. A list the document does not hold
/// yet starts from what the gateway uses without it (`allow_methods`: GET,
/// HEAD, POST), so adding one value never takes another away. Members keep
/// the document's order; a new one goes last.
pub fn apply(doc: &mut Json<'_>, edit: &Edit) -> Result<(), String> {
    let level = match edit.route {
        Some(i) => doc
            .get_mut("routes")
            .and_then(|r| match r {
                Json::Array(routes) => routes.get_mut(i),
                _ => None,
            })
            .ok_or_else(|| format!("the policy has no routes[{i}]"))?,
        None => doc,
    };
    let Json::Object(members) = level else {
        return Err("the policy is not a JSON object".into());
    };
    let Json::Object(cors) = entry(members, "cors", || Json::Object(Vec::new())) else {
        return Err(format!("{} is not an object", edit.path()));
    };
    let Some(value) = &edit.add else {
        *entry(cors, edit.field, || Json::Null) = Json::Bool(true);
        return Ok(());
    };
    let list = entry(cors, edit.field, || {
        let defaults: &[&str] = if edit.field == "allow_methods" {
            &DEFAULT_METHODS
        } else {
            &[]
        };
        Json::Array(
            defaults
                .iter()
                .map(|m| Json::Str(Cow::Borrowed(*m)))
                .collect(),
        )
    });
    let Json::Array(items) = list else {
        return Err(format!("{} is not a list", edit.path()));
    };
    if !items.iter().any(|v| v.as_str() == Some(value)) {
        items.push(Json::Str(Cow::Owned(value.clone())));
    }
    Ok(())
}

/// The member `key` of `members`, added last as `new()` when there is none.
fn entry<'t, 'a>(
    members: &'t mut Vec<(Cow<'a, str>, Json<'a>)>,
    key: &str,
    new: impl FnOnce() -> Json<'a>,
) -> &'t mut Json<'a> {
    let at = match members.iter().rposition(|(k, _)| k == key) {
        Some(at) => at,
        None => {
            members.push((Cow::Owned(key.to_string()), new()));
            members.len() - 1
        }
    };
    &mut members[at].1
}
