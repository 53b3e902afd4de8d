//! Input rules, in one place: each rule turns raw client input into a value known to be valid,
//! or says what is wrong as a [`Problem`] in Pydantic's terms (kind, message, parameters), which
//! the caller places (`["body", "username"]`) as a [`FieldError`]. A [`Checker`] collects every
//! problem of a request before answering, as the seed's Pydantic models do.

use serde_json::{json, Value};

use crate::error::{Error, FieldError};

/// What is wrong with one value.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    pub kind: &'static str,
    pub msg: String,
    pub ctx: Option<Value>,
    /// Pydantic links the errors it raises itself to its documentation; a custom error type (the
    /// email check's) has no link.
    pub linked: bool,
}

impl Problem {
    pub fn new(kind: &'static str, msg: impl Into<String>) -> Self {
        Self { kind, msg: msg.into(), ctx: None, linked: true }
    }

    /// A problem found by one of Banter's own checks, shaped as Pydantic shapes a `ValueError`
    /// raised in a validator: "Value error, …", with an (empty) `ctx.error`.
    pub fn value(msg: &str) -> Self {
        Self::new("value_error", format!("Value error, {msg}")).ctx(json!({ "error": {} }))
    }

    fn ctx(mut self, ctx: Value) -> Self {
        self.ctx = Some(ctx);
        self
    }

    /// This problem at `loc`, about the value `input`.
    pub fn at(self, loc: Vec<Value>, input: Value) -> FieldError {
        let mut error = FieldError::new(self.kind, loc, self.msg, input);
        if let Some(ctx) = self.ctx {
            error = error.with_ctx(ctx);
        }
        if !self.linked {
            error.url = None;
        }
        error
    }

    /// This problem as the field error of body field `field`, whose value was `input`.
    pub fn field(self, field: &str, input: impl Into<Value>) -> FieldError {
        self.at(vec!["body".into(), field.into()], input.into())
    }
}

pub type Rule<T> = Result<T, Problem>;

/// Collects field errors across a request; `finish` turns any into a 422.
#[derive(Default)]
pub struct Checker {
    errors: Vec<FieldError>,
}

impl Checker {
    pub fn push(&mut self, error: FieldError) {
        self.errors.push(error);
    }

    /// Runs `rule` on body field `field` (whose value was `input`), recording its problem.
    pub fn check<T>(&mut self, field: &str, input: &str, rule: impl FnOnce() -> Rule<T>) -> Option<T> {
        match rule() {
            Ok(v) => Some(v),
            Err(problem) => {
                self.errors.push(problem.field(field, input));
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

/// Length in characters (Unicode scalar values), as Python counts it.
fn chars(s: &str) -> usize {
    s.chars().count()
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// Pydantic's `min_length`/`max_length` for strings, with its messages.
pub fn length(s: &str, min: usize, max: usize) -> Rule<()> {
    let n = chars(s);
    if n < min {
        return Err(Problem::new(
            "string_too_short",
            format!("String should have at least {min} character{}", plural(min)),
        )
        .ctx(json!({ "min_length": min })));
    }
    if n > max {
        return Err(Problem::new(
            "string_too_long",
            format!("String should have at most {max} character{}", plural(max)),
        )
        .ctx(json!({ "max_length": max })));
    }
    Ok(())
}

pub const USERNAME_MIN: usize = 3;
pub const USERNAME_MAX: usize = 50;
pub const PASSWORD_MIN: usize = 8;
pub const PASSWORD_MAX: usize = 100;
pub const FULL_NAME_MAX: usize = 100;
pub const EMAIL_MAX: usize = 254;

/// Characters that change how the text around them is shown rather than showing themselves:
/// control characters, bidirectional embeddings, overrides and isolates (which can make a name
/// read backwards), and line or paragraph separators.
fn unsafe_to_display(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{2028}' | '\u{2029}')
}

/// Characters that draw nothing: whitespace, and the invisible formatting characters that
/// otherwise look like an empty name.
fn invisible(c: char) -> bool {
    c.is_whitespace()
        || matches!(
            c,
            '\u{00AD}'
                | '\u{034F}'
                | '\u{115F}'
                | '\u{1160}'
                | '\u{180E}'
                | '\u{200B}'..='\u{200F}'
                | '\u{2060}'..='\u{2064}'
                | '\u{3164}'
                | '\u{FE00}'..='\u{FE0F}'
                | '\u{FEFF}'
                | '\u{FFA0}'
        )
}

/// Text people will see as a name: nothing that rearranges or hides the text around it, and
/// something visible.
pub fn visible(s: &str, what: &str) -> Rule<()> {
    if s.chars().any(unsafe_to_display) {
        return Err(Problem::value(&format!("{what} must not contain control characters")));
    }
    if s.chars().all(invisible) {
        return Err(Problem::value(&format!("{what} must contain a visible character")));
    }
    Ok(())
}

/// [`visible`], and no whitespace at either end (it would make two names look alike).
pub fn displayable(s: &str, what: &str) -> Rule<()> {
    visible(s, what)?;
    if s.starts_with(char::is_whitespace) || s.ends_with(char::is_whitespace) {
        return Err(Problem::value(&format!("{what} must not start or end with whitespace")));
    }
    Ok(())
}

/// 3–50 characters, as the seed allows — any script, any punctuation (`o'brien`, `josé`) — as
/// long as it can be shown safely ([`displayable`]). Case matters: `Alice` and `alice` are two
/// names, as in the seed.
pub fn username(s: &str) -> Rule<String> {
    length(s, USERNAME_MIN, USERNAME_MAX)?;
    displayable(s, "Username")?;
    // Shown in place of a deleted account's name: nobody may pose as one.
    if s.to_lowercase() == crate::store::DELETED_USER.to_lowercase() {
        return Err(Problem::value("This username is reserved"));
    }
    Ok(s.to_owned())
}

pub const CONTENT_MAX: usize = 5000;
pub const GROUP_NAME_MAX: usize = 100;

/// Message content: 1–5,000 characters (the seed's limits and messages), not only whitespace,
/// no NUL. Stored byte-exact.
pub fn content(s: &str) -> Rule<()> {
    length(s, 1, CONTENT_MAX)?;
    if s.contains('\0') {
        return Err(Problem::value("Message content must not contain NUL characters"));
    }
    if s.trim().is_empty() {
        return Err(Problem::value("Message content must not be only whitespace"));
    }
    Ok(())
}

/// A message's content when it carries `files` uploads: it may then be empty (a file on its
/// own); otherwise as [`content`].
pub fn message_content(s: &str, files: usize) -> Rule<()> {
    if files > 0 && s.is_empty() {
        return Ok(());
    }
    content(s)
}

/// The most bytes one reaction's emoji may take.
pub const EMOJI_MAX_BYTES: usize = 32;

/// A reaction: exactly one emoji as Unicode lists them (skin tones, flags and ZWJ sequences
/// included), at most 32 bytes. Returned fully qualified, so `❤` and `❤️` are one reaction.
pub fn emoji(s: &str) -> Rule<String> {
    let too_long = || Problem::value(&format!("emoji must be at most {EMOJI_MAX_BYTES} bytes"));
    if s.len() > EMOJI_MAX_BYTES {
        return Err(too_long());
    }
    let emoji = emojis::get(s).ok_or_else(|| Problem::value("emoji must be exactly one emoji"))?.as_str();
    // Fully qualified it may be longer than as sent.
    if emoji.len() > EMOJI_MAX_BYTES {
        return Err(too_long());
    }
    Ok(emoji.to_owned())
}

/// A group's name: 1–100 characters, as the seed allows, kept as written (spaces around it
/// too); refused if it cannot be shown safely or shows nothing.
pub fn group_name(s: &str) -> Rule<String> {
    length(s, 1, GROUP_NAME_MAX)?;
    visible(s, "Group name")?;
    Ok(s.to_owned())
}

/// 8–100 characters; every character counts (argon2 has no silent length cut-off).
pub fn password(s: &str) -> Rule<String> {
    length(s, PASSWORD_MIN, PASSWORD_MAX)?;
    Ok(s.to_owned())
}

/// Up to 100 characters, kept exactly as given (the seed's client sends `""` for "no name",
/// and gets `""` back); control characters are refused.
pub fn full_name(s: Option<&str>) -> Rule<Option<String>> {
    match s {
        None => Ok(None),
        Some(s) => {
            length(s, 0, FULL_NAME_MAX)?;
            if s.chars().any(unsafe_to_display) {
                return Err(Problem::value("Full name must not contain control characters"));
            }
            Ok(Some(s.to_owned()))
        }
    }
}

/// Top-level domains no mail can be delivered to.
const SPECIAL_USE: [&str; 6] = ["arpa", "invalid", "local", "localhost", "onion", "test"];

fn bad_email(why: &str) -> Problem {
    let mut p =
        Problem::new("value_error", format!("value is not a valid email address: {why}")).ctx(json!({ "reason": why }));
    p.linked = false;
    p
}

/// A syntactically valid address (`local@domain.tld`, no spaces, sensible lengths), normalised
/// as the seed's email-validator does: the domain lower-cased, the local part kept as written
/// (`Foo@Example.COM` → `Foo@example.com`). Deliverability is not checked (that would need
/// mail).
pub fn email(s: &str) -> Rule<String> {
    if s.len() > EMAIL_MAX {
        return Err(bad_email("The email address is too long."));
    }
    let Some((local, domain)) = s.rsplit_once('@') else {
        return Err(bad_email("The email address is not valid. It must have exactly one @-sign."));
    };
    if local.is_empty() || local.contains('@') {
        return Err(bad_email("The email address is not valid. It must have exactly one @-sign."));
    }
    if local.len() > 64 {
        return Err(bad_email("The email address is too long before the @-sign."));
    }
    if s.chars().any(|c| {
        c.is_whitespace()
            || c.is_control()
            || matches!(c, '<' | '>' | '(' | ')' | ',' | ';' | ':' | '\\' | '"' | '[' | ']')
    }) {
        return Err(bad_email("The email address contains invalid characters."));
    }
    if local.starts_with('.') || local.ends_with('.') || local.contains("..") {
        return Err(bad_email("The email address contains a period in a position that is not allowed."));
    }
    let labels: Vec<&str> = domain.split('.').collect();
    let label_ok = |l: &&str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.chars().all(|c| c.is_alphanumeric() || c == '-')
    };
    if labels.len() < 2 {
        return Err(bad_email("The part after the @-sign is not valid. It should have a period."));
    }
    if !labels.iter().all(label_ok) || labels.last().is_some_and(|tld| tld.chars().all(|c| c.is_ascii_digit())) {
        return Err(bad_email("The part after the @-sign is not valid."));
    }
    // email-validator (the seed's) refuses the special-use names of RFC 6761 and friends.
    if labels.last().is_some_and(|tld| SPECIAL_USE.contains(&tld.to_lowercase().as_str())) {
        return Err(bad_email(
            "The part after the @-sign is a special-use or reserved name that cannot be used with email.",
        ));
    }
    Ok(format!("{local}@{}", domain.to_lowercase()))
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_reaction_is_one_emoji_in_its_fully_qualified_form() {
        for ok in ["👍", "👍🏽", "🇫🇷", "👩‍💻", "❤️", "1️⃣"] {
            assert!(super::emoji(ok).is_ok(), "{ok}");
        }
        assert_eq!(super::emoji("❤").as_deref(), Ok("❤️"));
        for bad in ["", "a", "👍👍", "👍 ", ":+1:", "\u{1F44D}\u{0301}", &"👍".repeat(9)] {
            assert!(super::emoji(bad).is_err(), "{bad:?}");
        }
    }

    use super::*;

    #[test]
    fn usernames_take_what_the_seed_takes_if_it_displays_safely() {
        for ok in ["abc", "john_doe", "o'brien", "josé", "Ünïcødé", "李小龙", "a b", "bob@example.com", &"x".repeat(50)]
        {
            assert_eq!(username(ok), Ok(ok.to_owned()), "{ok}");
        }
        for bad in [
            "ab",
            "Deleted User",
            "deleted user",
            &"x".repeat(51),
            "",
            " lead",
            "trail ",
            "tab\tin",
            "nul\0x",
            "bell\u{7}",
            "\u{200B}\u{200B}\u{200B}",
            "   ",
            "\u{3164}\u{3164}\u{3164}",
            "evil\u{202E}gnp.exe",
        ] {
            assert!(username(bad).is_err(), "{bad:?}");
        }
        assert_eq!(username("ab").expect_err("refused").kind, "string_too_short");
        assert_eq!(username(" lead").expect_err("refused").kind, "value_error");
    }

    #[test]
    fn length_messages_are_pydantics() {
        let p = length("ab", 3, 50).expect_err("refused");
        assert_eq!(p.msg, "String should have at least 3 characters");
        assert_eq!(p.ctx, Some(json!({"min_length": 3})));
        assert_eq!(length("", 1, 5).expect_err("refused").msg, "String should have at least 1 character");
        let p = length("abcdef", 1, 5).expect_err("refused");
        assert_eq!((p.kind, p.msg.as_str()), ("string_too_long", "String should have at most 5 characters"));
    }

    #[test]
    fn passwords_count_characters_not_bytes() {
        assert!(password("1234567").is_err());
        assert!(password("12345678").is_ok());
        assert!(password(&"é".repeat(100)).is_ok());
        assert!(password(&"é".repeat(101)).is_err());
    }

    #[test]
    fn emails_are_checked_and_their_domain_lowercased() {
        assert_eq!(email("Foo@Example.COM"), Ok("Foo@example.com".into()));
        for ok in ["john@example.com", "a.b+tag@sub.example.org", "x@xn--d1acufc.xn--p1ai"] {
            assert_eq!(email(ok), Ok(ok.to_owned()), "{ok}");
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
            "a@example.test",
            "a@printer.local",
            "a@foo.localhost",
        ] {
            let p = email(bad).expect_err("refused");
            assert!(p.msg.starts_with("value is not a valid email address: "), "{bad}: {}", p.msg);
            assert!(p.ctx.is_some());
        }
    }

    #[test]
    fn full_names_are_kept_as_given() {
        assert_eq!(full_name(Some("")), Ok(Some(String::new())));
        assert_eq!(full_name(Some(" Ada Lovelace ")), Ok(Some(" Ada Lovelace ".into())));
        assert_eq!(full_name(None), Ok(None));
        assert!(full_name(Some(&"n".repeat(101))).is_err());
        assert!(full_name(Some("bell\u{7}")).is_err());
    }
}
