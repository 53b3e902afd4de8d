//! `Json<T>`, the body extractor every handler uses: its rejections are Banter's [`Error`] in
//! FastAPI's 422 shape, naming the field (`loc: ["body", "username"]`), instead of axum's plain
//! text.

use axum::{
    body::Bytes,
    extract::{FromRequest, Request},
    response::{IntoResponse, Response},
};
use serde::{de::DeserializeOwned, Serialize};
use serde_json::Value;

use crate::error::{Error, FieldError};

pub struct Json<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Json<T> {
    type Rejection = Error;

    async fn from_request(req: Request, state: &S) -> Result<Self, Error> {
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                Error::PayloadTooLarge
            } else {
                Error::BadRequest(rejection.body_text())
            }
        })?;
        parse(&bytes).map(Json)
    }
}

/// Parses a JSON body, turning the first problem into a 422 that names its field.
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Error> {
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let inner = e.inner();
        let mut loc: Vec<Value> = vec!["body".into()];
        loc.extend(e.path().iter().filter_map(|seg| match seg {
            serde_path_to_error::Segment::Seq { index } => Some(Value::from(*index)),
            serde_path_to_error::Segment::Map { key } => Some(Value::from(key.as_str())),
            serde_path_to_error::Segment::Enum { variant } => Some(Value::from(variant.as_str())),
            serde_path_to_error::Segment::Unknown => None,
        }));
        let text = inner.to_string();
        let field = if inner.is_syntax() || inner.is_eof() {
            FieldError { kind: "json_invalid", loc: vec!["body".into()], msg: format!("JSON decode error: {text}") }
        } else if let Some(name) = text.strip_prefix("missing field `").and_then(|rest| rest.split('`').next()) {
            loc.push(name.into());
            FieldError { kind: "missing", loc, msg: "Field required".into() }
        } else {
            // "invalid type: integer `5`, expected a string at line 1 column 20": drop the position.
            let msg = text.split(" at line ").next().unwrap_or(&text).to_owned();
            FieldError { kind: "type_error", loc, msg }
        };
        Error::validation(field)
    })
}

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

/// `Query<T>` whose rejection is a 422 naming the parameter (`loc: ["query", "limit"]`).
pub struct Query<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> axum::extract::FromRequestParts<S> for Query<T> {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, state: &S) -> Result<Self, Error> {
        axum::extract::Query::<T>::from_request_parts(parts, state).await.map(|q| Query(q.0)).map_err(|rejection| {
            // axum says "Failed to deserialize query string: limit: invalid digit found in string".
            let text = rejection.body_text();
            let detail = text.split_once(": ").map_or(text.as_str(), |(_, rest)| rest);
            let mut loc: Vec<Value> = vec!["query".into()];
            let msg = match detail.split_once(": ") {
                Some((field, msg)) if !field.contains(' ') => {
                    loc.push(field.into());
                    msg.to_owned()
                }
                _ => {
                    if let Some(name) = detail.strip_prefix("missing field `").and_then(|r| r.split('`').next()) {
                        loc.push(name.into());
                    }
                    detail.to_owned()
                }
            };
            Error::validation(FieldError { kind: "value_error", loc, msg })
        })
    }
}

/// `Path<T>` whose rejection is a 422 (`loc: ["path", ...]`), as FastAPI answers `/groups/abc`.
pub struct Path<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> axum::extract::FromRequestParts<S> for Path<T> {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, state: &S) -> Result<Self, Error> {
        axum::extract::Path::<T>::from_request_parts(parts, state).await.map(|p| Path(p.0)).map_err(|rejection| {
            Error::validation(FieldError { kind: "int_parsing", loc: vec!["path".into()], msg: rejection.body_text() })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Body {
        name: String,
        ids: Vec<i64>,
    }

    fn loc(bytes: &str) -> (String, Vec<Value>) {
        match parse::<Body>(bytes.as_bytes()) {
            Err(Error::Validation(f)) => (f[0].kind.to_owned(), f[0].loc.clone()),
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[test]
    fn names_the_field() {
        assert_eq!(loc(r#"{"ids": []}"#), ("missing".into(), vec!["body".into(), "name".into()]));
        assert_eq!(loc(r#"{"name": 5, "ids": []}"#), ("type_error".into(), vec!["body".into(), "name".into()]));
        assert_eq!(
            loc(r#"{"name": "x", "ids": [1, "a"]}"#),
            ("type_error".into(), vec!["body".into(), "ids".into(), 1.into()])
        );
        assert_eq!(loc("{nope").0, "json_invalid");
        assert_eq!(loc("").0, "json_invalid");
    }
}
