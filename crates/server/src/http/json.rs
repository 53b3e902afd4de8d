//! Request input the way the seed's FastAPI app reads it, with its 422 answers.
//!
//! - [`read_body`], a middleware on every route that takes a JSON body, reads the body *before*
//!   any extractor runs and refuses malformed JSON at once — FastAPI parses the body before its
//!   dependencies, so a malformed body is a 422 even without credentials, while a well-formed
//!   body with bad fields is checked only after them (no credentials: 403).
//! - [`Json<T>`] then reads the fields of that body through [`FromFields`], collecting every
//!   problem (`loc: ["body", "username"]`) instead of stopping at the first; [`Query<T>`] does
//!   the same for the query string and [`Id`] for a numeric path segment.
//! - Integers are read in Pydantic's lax mode: `5`, `"5"` and `5.0` are all 5.

use std::sync::Arc;

use axum::{
    body::Body,
    extract::{FromRequestParts, RawPathParams, Request},
    http::{header, request::Parts, Method},
    middleware::Next,
    response::{IntoResponse, Response},
};
use serde::Serialize;
use serde_json::{json, Map, Value};

use crate::{
    error::{Error, FieldError},
    validate::Problem,
};

/// What [`read_body`] found in the request body.
#[derive(Clone, Debug)]
enum RawBody {
    Missing,
    Json(Arc<Value>),
    /// A body sent with a content type that is not JSON: never parsed (so an HTML form on
    /// another site cannot post to the API), refused as FastAPI refuses it.
    NotJson(Arc<str>),
}

/// FastAPI's rule: no content type, `application/json`, or `application/*+json` is JSON.
fn is_json(content_type: Option<&str>) -> bool {
    let Some(ct) = content_type else { return true };
    let essence = ct.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    match essence.split_once('/') {
        Some(("application", sub)) => sub == "json" || sub.ends_with("+json"),
        _ => false,
    }
}

/// Reads and parses a JSON body ahead of the extractors (see the module docs).
pub async fn read_body(req: Request, next: Next) -> Response {
    if matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
        return next.run(req).await;
    }
    let (mut parts, body) = req.into_parts();
    let bytes = match axum::body::to_bytes(body, super::MAX_BODY).await {
        Ok(bytes) => bytes,
        Err(e) => {
            // The length limit, or the client went away mid-body (nobody to answer, then).
            let too_large = std::error::Error::source(&e).is_some_and(|s| s.to_string().contains("length limit"))
                || e.to_string().contains("length limit");
            return if too_large {
                Error::PayloadTooLarge.into_response()
            } else {
                Error::BadRequest("Could not read the request body".into()).into_response()
            };
        }
    };
    let content_type = parts.headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
    let raw = if bytes.is_empty() {
        RawBody::Missing
    } else if is_json(content_type) {
        match serde_json::from_slice::<Value>(&bytes) {
            Ok(value) => RawBody::Json(Arc::new(value)),
            Err(e) => return Error::validation(json_invalid(&bytes, &e)).into_response(),
        }
    } else {
        RawBody::NotJson(String::from_utf8_lossy(&bytes).into())
    };
    parts.extensions.insert(raw);
    next.run(Request::from_parts(parts, Body::empty())).await
}

/// FastAPI's answer to a body that is not JSON: `loc: ["body", <character offset>]`.
fn json_invalid(bytes: &[u8], e: &serde_json::Error) -> FieldError {
    // serde_json counts lines from 1 and bytes within the line from 1; Python counts characters
    // from the start of the text.
    let byte: usize = bytes.split(|b| *b == b'\n').take(e.line().saturating_sub(1)).map(|l| l.len() + 1).sum::<usize>()
        + e.column().saturating_sub(1);
    let offset = String::from_utf8_lossy(&bytes[..byte.min(bytes.len())]).chars().count();
    let why = e.to_string();
    let why = why.split(" at line ").next().unwrap_or(&why).to_owned();
    FieldError::new("json_invalid", vec!["body".into(), offset.into()], "JSON decode error", json!({}))
        .with_ctx(json!({ "error": why }))
}

/// A JSON object being read field by field; `loc` says where it came from (`body`, `query`).
pub struct Fields<'a> {
    source: &'static str,
    object: &'a Map<String, Value>,
    whole: &'a Value,
    errors: Vec<FieldError>,
}

impl<'a> Fields<'a> {
    fn new(source: &'static str, object: &'a Map<String, Value>, whole: &'a Value) -> Self {
        Self { source, object, whole, errors: Vec::new() }
    }

    /// Whether the object has field `name` at all.
    pub fn has(&self, name: &str) -> bool {
        self.object.contains_key(name)
    }

    fn loc(&self, name: &str) -> Vec<Value> {
        vec![self.source.into(), name.into()]
    }

    fn missing(&mut self, name: &str) {
        self.errors.push(FieldError::new("missing", self.loc(name), "Field required", self.whole.clone()));
    }

    /// Records `problem` about field `name`, whose value was `input`.
    pub fn problem(&mut self, name: &str, input: &Value, problem: Problem) {
        let loc = self.loc(name);
        self.errors.push(problem.at(loc, input.clone()));
    }

    /// A required field, read by `read`.
    pub fn required<T>(&mut self, name: &str, read: impl FnOnce(&Value) -> Result<T, Problem>) -> Option<T> {
        let Some(value) = self.object.get(name) else {
            self.missing(name);
            return None;
        };
        match read(value) {
            Ok(v) => Some(v),
            Err(problem) => {
                self.problem(name, value, problem);
                None
            }
        }
    }

    /// An optional field: absent and `null` are `None`.
    pub fn optional<T>(&mut self, name: &str, read: impl FnOnce(&Value) -> Result<T, Problem>) -> Option<Option<T>> {
        match self.object.get(name) {
            None | Some(Value::Null) => Some(None),
            Some(value) => match read(value) {
                Ok(v) => Some(Some(v)),
                Err(problem) => {
                    self.problem(name, value, problem);
                    None
                }
            },
        }
    }

    pub fn string(&mut self, name: &str) -> Option<String> {
        self.required(name, string)
    }

    pub fn opt_string(&mut self, name: &str) -> Option<Option<String>> {
        self.optional(name, string)
    }

    pub fn int(&mut self, name: &str) -> Option<i64> {
        self.required(name, lax_int)
    }

    pub fn opt_int(&mut self, name: &str) -> Option<Option<i64>> {
        self.optional(name, lax_int)
    }

    /// How many items field `name` holds, if it is a list (0 otherwise): for rules about one
    /// field that depend on another.
    pub fn list_len(&self, name: &str) -> usize {
        self.object.get(name).and_then(Value::as_array).map_or(0, Vec::len)
    }

    /// An optional list of integers: absent and `null` are empty.
    pub fn opt_int_list(&mut self, name: &str) -> Option<Vec<i64>> {
        match self.object.get(name) {
            None | Some(Value::Null) => Some(Vec::new()),
            Some(_) => self.int_list(name, 0),
        }
    }

    /// Message content ([`crate::validate::message_content`]): it may be empty when the body's
    /// `attachment_ids` lists files.
    pub fn message_content(&mut self) -> Option<String> {
        let files = self.list_len("attachment_ids");
        self.required("content", |v| {
            let s = string(v)?;
            crate::validate::message_content(&s, files)?;
            Ok(s)
        })
    }

    /// A list of integers with at least `min` items; each bad item is reported at its index.
    pub fn int_list(&mut self, name: &str, min: usize) -> Option<Vec<i64>> {
        let Some(value) = self.object.get(name) else {
            self.missing(name);
            return None;
        };
        let Value::Array(items) = value else {
            self.problem(name, value, Problem::new("list_type", "Input should be a valid list"));
            return None;
        };
        let mut ids = Vec::with_capacity(items.len());
        let mut ok = true;
        for (i, item) in items.iter().enumerate() {
            match lax_int(item) {
                Ok(id) => ids.push(id),
                Err(p) => {
                    ok = false;
                    let loc = vec![self.source.into(), name.into(), i.into()];
                    self.errors.push(FieldError::new(p.kind, loc, p.msg, item.clone()));
                }
            }
        }
        if ok && ids.len() < min {
            let error = FieldError::new(
                "too_short",
                self.loc(name),
                format!("List should have at least {min} item after validation, not {}", ids.len()),
                value.clone(),
            )
            .with_ctx(json!({"field_type": "List", "min_length": min, "actual_length": ids.len()}));
            self.errors.push(error);
            return None;
        }
        ok.then_some(ids)
    }

    fn finish<T>(self, parsed: Option<T>) -> Result<T, Error> {
        match parsed {
            Some(v) if self.errors.is_empty() => Ok(v),
            _ if self.errors.is_empty() => {
                Err(Error::Internal(anyhow::anyhow!("a field was refused without a reason")))
            }
            _ => Err(Error::Validation(self.errors)),
        }
    }
}

/// A string field checked at once by `rule`, so that one 422 lists every bad field, type errors
/// and rule errors alike, as Pydantic does. (The domain checks the same rule again: it is the
/// one place a rule is enforced, whoever calls it.)
pub fn checked<T>(rule: fn(&str) -> crate::validate::Rule<T>) -> impl Fn(&Value) -> Result<String, Problem> {
    move |v| {
        let s = string(v)?;
        rule(&s)?;
        Ok(s)
    }
}

/// Pydantic's `str`: only a JSON string (a number is not silently turned into one).
/// A boolean as Pydantic reads one in lax mode: `true`/`false`, `0`/`1`, and the strings
/// `true`, `false`, `1`, `0`, `yes`, `no`, `on`, `off` in any case.
pub fn boolean(v: &Value) -> Result<bool, Problem> {
    let refused = || Problem::new("bool_parsing", "Input should be a valid boolean, unable to interpret input");
    match v {
        Value::Bool(b) => Ok(*b),
        Value::Number(n) if n.as_f64() == Some(0.0) => Ok(false),
        Value::Number(n) if n.as_f64() == Some(1.0) => Ok(true),
        Value::Number(_) => Err(refused()),
        Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" | "t" | "y" => Ok(true),
            "false" | "0" | "no" | "off" | "f" | "n" => Ok(false),
            _ => Err(refused()),
        },
        _ => Err(Problem::new("bool_type", "Input should be a valid boolean")),
    }
}

pub fn string(v: &Value) -> Result<String, Problem> {
    match v {
        Value::String(s) => Ok(s.clone()),
        _ => Err(Problem::new("string_type", "Input should be a valid string")),
    }
}

/// Pydantic's lax `int`: an integer, a float without a fractional part, or a string holding an
/// integer.
pub fn lax_int(v: &Value) -> Result<i64, Problem> {
    match v {
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                return Ok(i);
            }
            match n.as_f64() {
                #[allow(clippy::cast_possible_truncation)]
                Some(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Ok(f as i64),
                Some(f) if f.fract() != 0.0 => Err(Problem::new(
                    "int_from_float",
                    "Input should be a valid integer, got a number with a fractional part",
                )),
                _ => Err(Problem::new(
                    "int_parsing",
                    "Input should be a valid integer, unable to parse string as an integer",
                )),
            }
        }
        Value::String(s) => s.parse().map_err(|_| {
            Problem::new("int_parsing", "Input should be a valid integer, unable to parse string as an integer")
        }),
        _ => Err(Problem::new("int_type", "Input should be a valid integer")),
    }
}

/// A request body's fields; implemented by each request type.
pub trait FromFields: Sized {
    /// Reads every field, recording problems in `f`; `None` if any field was refused.
    fn from_fields(f: &mut Fields<'_>) -> Option<Self>;
}

/// The JSON body, read through [`FromFields`]. Needs [`read_body`] on its route.
pub struct Json<T>(pub T);

fn model_attributes_type(input: Value) -> Error {
    Error::validation(FieldError::new(
        "model_attributes_type",
        vec!["body".into()],
        "Input should be a valid dictionary or object to extract fields from",
        input,
    ))
}

impl<S: Send + Sync, T: FromFields> FromRequestParts<S> for Json<T> {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Error> {
        let raw = parts.extensions.get::<RawBody>().cloned().ok_or_else(|| {
            Error::Internal(anyhow::anyhow!("route {} reads a JSON body without the read_body layer", parts.uri.path()))
        })?;
        let value = match raw {
            // `null` is no body, for FastAPI.
            RawBody::Json(value) if value.is_null() => {
                return Err(Error::validation(FieldError::new(
                    "missing",
                    vec!["body".into()],
                    "Field required",
                    Value::Null,
                )))
            }
            RawBody::Missing => {
                return Err(Error::validation(FieldError::new(
                    "missing",
                    vec!["body".into()],
                    "Field required",
                    Value::Null,
                )))
            }
            RawBody::NotJson(text) => return Err(model_attributes_type(Value::from(&*text))),
            RawBody::Json(value) => value,
        };
        let Value::Object(object) = &*value else { return Err(model_attributes_type((*value).clone())) };
        let mut fields = Fields::new("body", object, &value);
        let parsed = T::from_fields(&mut fields);
        fields.finish(parsed).map(Json)
    }
}

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

/// The query string, read through [`FromFields`] (every value is a string; integers are read
/// laxly, so `?limit=5` is 5). A repeated parameter counts once, with its last value.
pub struct Query<T>(pub T);

impl<S: Send + Sync, T: FromFields> FromRequestParts<S> for Query<T> {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Error> {
        let pairs = axum::extract::Query::<Vec<(String, String)>>::from_request_parts(parts, state)
            .await
            .map(|q| q.0)
            .unwrap_or_default();
        let object: Map<String, Value> = pairs.into_iter().map(|(k, v)| (k, Value::String(v))).collect();
        let whole = Value::Object(object);
        let Value::Object(object) = &whole else { unreachable!("built as an object") };
        let mut fields = Fields::new("query", object, &whole);
        let parsed = T::from_fields(&mut fields);
        fields.finish(parsed).map(Query)
    }
}

/// A route's one numeric path parameter (`/groups/{group_id}/messages`), read laxly; anything
/// else is a 422 at `["path", "group_id"]`.
pub struct Id(pub i64);

impl<S: Send + Sync> FromRequestParts<S> for Id {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Error> {
        let params = RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(|e| Error::Internal(anyhow::anyhow!("path parameters: {e}")))?;
        let Some((name, value)) = params.iter().next() else {
            return Err(Error::Internal(anyhow::anyhow!("route has no path parameter")));
        };
        let input = Value::String(value.to_owned());
        lax_int(&input).map(Id).map_err(|p| {
            Error::validation(FieldError::new(p.kind, vec!["path".into(), name.into()], p.msg, input.clone()))
        })
    }
}

/// A route's numeric path parameter followed by a text one (`/messages/{message_id}/reactions/
/// {emoji}`), the text percent-decoded. A bad number is a 422 as for [`Id`].
pub struct IdAndText(pub i64, pub String);

impl<S: Send + Sync> FromRequestParts<S> for IdAndText {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Error> {
        let params = RawPathParams::from_request_parts(parts, state).await.map_err(|e| {
            // Not UTF-8 once decoded: a client's mistake, not the server's.
            Error::validation(FieldError::new(
                "string_unicode",
                vec!["path".into()],
                format!("Input should be a valid string: {e}"),
                Value::Null,
            ))
        })?;
        let mut iter = params.iter();
        let (Some((name, id)), Some((_, text))) = (iter.next(), iter.next()) else {
            return Err(Error::Internal(anyhow::anyhow!("route has no two path parameters")));
        };
        let input = Value::String(id.to_owned());
        let id = lax_int(&input).map_err(|p| {
            Error::validation(FieldError::new(p.kind, vec!["path".into(), name.into()], p.msg, input.clone()))
        })?;
        Ok(Self(id, text.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lax_integers() {
        assert_eq!(lax_int(&json!(5)), Ok(5));
        assert_eq!(lax_int(&json!("5")), Ok(5));
        assert_eq!(lax_int(&json!(5.0)), Ok(5));
        assert_eq!(lax_int(&json!("abc")).expect_err("refused").kind, "int_parsing");
        assert_eq!(lax_int(&json!(5.5)).expect_err("refused").kind, "int_from_float");
        assert_eq!(lax_int(&json!(null)).expect_err("refused").kind, "int_type");
        assert_eq!(lax_int(&json!([1])).expect_err("refused").kind, "int_type");
    }

    struct Body {
        name: String,
        ids: Vec<i64>,
    }

    impl FromFields for Body {
        fn from_fields(f: &mut Fields<'_>) -> Option<Self> {
            let name = f.string("name");
            let ids = f.int_list("ids", 1);
            Some(Self { name: name?, ids: ids? })
        }
    }

    fn errors(body: Value) -> Vec<(String, Vec<Value>)> {
        let Value::Object(o) = &body else { panic!("object") };
        let mut f = Fields::new("body", o, &body);
        let parsed = Body::from_fields(&mut f);
        match f.finish(parsed) {
            Ok(b) => panic!("expected errors, got {} {:?}", b.name, b.ids),
            Err(Error::Validation(e)) => e.into_iter().map(|e| (e.kind.to_owned(), e.loc)).collect(),
            Err(other) => panic!("{other:?}"),
        }
    }

    #[test]
    fn every_field_is_reported() {
        assert_eq!(
            errors(json!({})),
            vec![
                ("missing".into(), vec![json!("body"), json!("name")]),
                ("missing".into(), vec![json!("body"), json!("ids")])
            ]
        );
        assert_eq!(
            errors(json!({"name": 5, "ids": [1, "x"]})),
            vec![
                ("string_type".into(), vec![json!("body"), json!("name")]),
                ("int_parsing".into(), vec![json!("body"), json!("ids"), json!(1)])
            ]
        );
        assert_eq!(
            errors(json!({"name": "n", "ids": []})),
            vec![("too_short".into(), vec![json!("body"), json!("ids")])]
        );
    }

    #[test]
    fn json_error_offsets_count_characters() {
        let bytes = "{\"a\": \"éé\",}".as_bytes();
        let e = serde_json::from_slice::<Value>(bytes).expect_err("refused");
        // Python: "Expecting property name enclosed in double quotes: line 1 column 12 (char 11)".
        assert_eq!(json_invalid(bytes, &e).loc, vec![json!("body"), json!(11)]);
    }

    #[test]
    fn json_errors_point_at_the_character() {
        let bytes = b"{\"a\": }";
        let e = serde_json::from_slice::<Value>(bytes).expect_err("refused");
        let f = json_invalid(bytes, &e);
        assert_eq!(f.kind, "json_invalid");
        assert_eq!(f.loc, vec![json!("body"), json!(6)]);
        assert_eq!(f.url, None);
    }

    #[test]
    fn json_content_types() {
        assert!(is_json(None));
        assert!(is_json(Some("application/json")));
        assert!(is_json(Some("application/json; charset=utf-8")));
        assert!(is_json(Some("application/vnd.api+json")));
        assert!(!is_json(Some("text/plain")));
        assert!(!is_json(Some("application/x-www-form-urlencoded")));
    }
}
