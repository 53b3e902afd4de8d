//! Input rules, in one place: each `check_*` turns raw client input into a value known to be
//! valid, or records a [`FieldError`] in FastAPI's shape. Rules collect every problem of a
//! request before answering, as the seed's Pydantic models do.

use crate::error::{Error, FieldError};

/// Collects field errors across a request; `finish` turns any into a 422.
#[derive(Default)]
pub struct Checker {
    errors: Vec<FieldError>,
}

impl Checker {
    pub fn push(&mut self, error: FieldError) {
        self.errors.push(error);
    }

    /// Runs `rule` on `value`, recording its error against `field` (in the body).
    pub fn check<T>(&mut self, field: &str, rule: impl FnOnce() -> Result<T, (&'static str, String)>) -> Option<T> {
        match rule() {
            Ok(v) => Some(v),
            Err((kind, msg)) => {
                self.errors.push(FieldError::body(kind, field, msg));
                None
            }
        }
    }

    pub fn finish(self) -> Result<(), Error> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(Error::Validation(self.errors))
        }
    }
}

type Rule<T> = Result<T, (&'static str, String)>;

/// Length in characters (Unicode scalar values), as Python counts it.
fn chars(s: &str) -> usize {
    s.chars().count()
}

fn length(s: &str, min: usize, max: usize) -> Rule<()> {
    let n = chars(s);
    if n < min {
        let plural = if min == 1 { "" } else { "s" };
        return Err(("string_too_short", format!("String should have at least {min} character{plural}")));
    }
    if n > max {
        return Err(("string_too_long", format!("String should have at most {max} characters")));
    }
    Ok(())
}

pub const USERNAME_MIN: usize = 3;
pub const USERNAME_MAX: usize = 50;
pub const PASSWORD_MIN: usize = 8;
pub const PASSWORD_MAX: usize = 100;
pub const FULL_NAME_MAX: usize = 100;
pub const EMAIL_MAX: usize = 254;

/// 3–50 ASCII letters, digits, `_`, `.` or `-`. ASCII keeps case-insensitive uniqueness
/// identical on both backends and rules out look-alike names.
pub fn username(s: &str) -> Rule<String> {
    length(s, USERNAME_MIN, USERNAME_MAX)?;
    if !s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')) {
        return Err(("string_pattern_mismatch", "Username may contain only letters, digits, '_', '.' and '-'".into()));
    }
    Ok(s.to_owned())
}

/// 8–100 characters; every character counts (argon2 has no silent length cut-off).
pub fn password(s: &str) -> Rule<String> {
    length(s, PASSWORD_MIN, PASSWORD_MAX)?;
    Ok(s.to_owned())
}

pub fn full_name(s: Option<&str>) -> Rule<Option<String>> {
    match s {
        None => Ok(None),
        Some(s) => {
            length(s, 0, FULL_NAME_MAX)?;
            if s.chars().any(char::is_control) {
                return Err(("value_error", "Full name must not contain control characters".into()));
            }
            let trimmed = s.trim();
            Ok((!trimmed.is_empty()).then(|| trimmed.to_owned()))
        }
    }
}

/// A syntactically valid address: `local@domain.tld`, no spaces, sensible lengths. Deliverability
/// is not checked (that would need mail).
pub fn email(s: &str) -> Rule<String> {
    let invalid = |why: &str| Err(("value_error", format!("value is not a valid email address: {why}")));
    let s = s.trim();
    if s.len() > EMAIL_MAX {
        return invalid("it is too long");
    }
    let Some((local, domain)) = s.rsplit_once('@') else {
        return invalid("an email address must have an @-sign");
    };
    if local.is_empty() || local.len() > 64 || local.contains('@') {
        return invalid("the part before the @-sign is not valid");
    }
    if s.chars().any(|c| {
        c.is_whitespace()
            || c.is_control()
            || matches!(c, '<' | '>' | '(' | ')' | ',' | ';' | ':' | '\\' | '"' | '[' | ']')
    }) {
        return invalid("it contains a character that is not allowed");
    }
    if local.starts_with('.') || local.ends_with('.') || local.contains("..") {
        return invalid("the part before the @-sign is not valid");
    }
    let labels: Vec<&str> = domain.split('.').collect();
    let label_ok = |l: &&str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.chars().all(|c| c.is_alphanumeric() || c == '-')
    };
    if labels.len() < 2
        || !labels.iter().all(label_ok)
        || labels.last().is_some_and(|tld| tld.chars().all(|c| c.is_ascii_digit()))
    {
        return invalid("the domain name is not valid");
    }
    Ok(s.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames() {
        for ok in ["abc", "john_doe", "a.b-c", &"x".repeat(50)] {
            assert!(username(ok).is_ok(), "{ok}");
        }
        for bad in ["ab", "has space", "émile", "semi;colon", &"x".repeat(51), ""] {
            assert!(username(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn passwords_count_characters_not_bytes() {
        assert!(password("1234567").is_err());
        assert!(password("12345678").is_ok());
        assert!(password(&"é".repeat(100)).is_ok());
        assert!(password(&"é".repeat(101)).is_err());
    }

    #[test]
    fn emails() {
        for ok in ["john@example.com", "a.b+tag@sub.example.org", "x@xn--d1acufc.xn--p1ai"] {
            assert!(email(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "plain",
            "@example.com",
            "a@",
            "a@b",
            "a b@example.com",
            "a@-x.com",
            "a..b@example.com",
            "a@example.123",
            "a@@example.com",
        ] {
            assert!(email(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn full_names() {
        assert_eq!(full_name(Some("  Ada Lovelace ")), Ok(Some("Ada Lovelace".into())));
        assert_eq!(full_name(Some("   ")), Ok(None));
        assert!(full_name(Some(&"n".repeat(101))).is_err());
        assert!(full_name(Some("bell\u{7}")).is_err());
    }
}
