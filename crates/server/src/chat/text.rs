//! What the server reads in message text: the words search matches (folded the same way for
//! what is stored and what is asked, on both backends), and who a message mentions.

use unicode_normalization::{char::is_combining_mark, UnicodeNormalization};

/// `s` as search compares it: compatibility-decomposed, accents (combining marks) removed,
/// lower case (a final sigma as any other). "Café" and "CAFE" fold alike, "ΟΔΟΣ" and "οδός".
pub fn fold(s: &str) -> String {
    s.nfkd()
        .filter(|c| !is_combining_mark(*c))
        .flat_map(char::to_lowercase)
        .map(|c| if c == 'ς' { 'σ' } else { c })
        .collect()
}

/// Whether `c` belongs to a word: a letter, a digit, or a mark on one (an accent written as
/// a character of its own).
fn in_word(c: char) -> bool {
    c.is_alphanumeric() || is_combining_mark(c)
}

/// The folded words of `s` (runs of letters and digits), in order.
pub fn words(s: &str) -> Vec<String> {
    fold(s).split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).map(str::to_owned).collect()
}

/// What the search index stores for a message: its folded words, separated by single spaces
/// (so that both backends' tokenizers see the same words).
pub fn search_text(content: &str) -> String {
    words(content).join(" ")
}

/// One piece of a search result's excerpt.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct Fragment {
    pub text: String,
    /// One of the words searched for (or a word starting with one).
    #[serde(rename = "match")]
    #[schema(rename = "match")]
    pub matched: bool,
}

/// Characters of context kept before the first match.
const LEAD: usize = 60;
/// Characters an excerpt holds at most.
const EXCERPT: usize = 240;

/// An excerpt of `content` around its first match of `terms` (folded words), cut into
/// fragments with each matching word marked.
pub fn highlight(content: &str, terms: &[String]) -> Vec<Fragment> {
    // Each word of the content: its char range, and whether it matches.
    let chars: Vec<char> = content.chars().collect();
    let mut spans: Vec<(usize, usize)> = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        if !in_word(chars[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < chars.len() && in_word(chars[i]) {
            i += 1;
        }
        let word: String = chars[start..i].iter().collect();
        let folded = fold(&word);
        if terms.iter().any(|t| folded.starts_with(t.as_str())) {
            spans.push((start, i));
        }
    }
    let first = spans.first().map_or(0, |(s, _)| *s);
    let from = first.saturating_sub(LEAD);
    let to = (from + EXCERPT).min(chars.len());
    let mut out = Vec::new();
    let mut push = |text: String, matched: bool| {
        if !text.is_empty() {
            out.push(Fragment { text, matched });
        }
    };
    let mut at = from;
    if from > 0 {
        push("…".into(), false);
    }
    for (s, e) in spans.into_iter().filter(|(s, _)| *s >= from && *s < to) {
        let e = e.min(to);
        push(chars[at..s].iter().collect(), false);
        push(chars[s..e].iter().collect(), true);
        at = e;
    }
    push(chars[at..to].iter().collect(), false);
    if to < chars.len() {
        push("…".into(), false);
    }
    out
}

/// The members `content` mentions: each `@` followed by a member's username (any case), the
/// longest that fits, ending at the end of the text or at a character that cannot continue a
/// name (not a letter, digit or `_`). `members` are (user id, username). At most the first 50
/// `@`s count.
pub fn mentions(content: &str, members: &[(i64, String)]) -> Vec<i64> {
    let mut found: Vec<i64> = Vec::new();
    for (at, _) in content.match_indices('@').take(50) {
        let rest = &content[at + 1..];
        // The longest name; between names that differ only in case, the one written exactly,
        // then the oldest account.
        let best = members
            .iter()
            .filter_map(|(id, name)| prefix_len(rest, name).map(|len| (len, rest[..len] == **name, *id)))
            .filter(|(len, _, _)| rest[*len..].chars().next().is_none_or(|c| !(c.is_alphanumeric() || c == '_')))
            .max_by_key(|(len, exact, id)| (*len, *exact, std::cmp::Reverse(*id)));
        if let Some((_, _, id)) = best {
            if !found.contains(&id) {
                found.push(id);
            }
        }
    }
    found
}

/// The bytes of `text` that spell `name` at its start, ignoring case; `None` if it does not.
fn prefix_len(text: &str, name: &str) -> Option<usize> {
    if name.is_empty() {
        return None;
    }
    let mut wanted = name.chars().flat_map(char::to_lowercase);
    let mut next = wanted.next();
    for (i, c) in text.char_indices() {
        let Some(_) = next else { return Some(i) };
        for lc in c.to_lowercase() {
            if next != Some(lc) {
                return None;
            }
            next = wanted.next();
        }
        if next.is_none() {
            return Some(i + c.len_utf8());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_fold_case_and_accents() {
        assert_eq!(words("Café au LAIT, s'il vous plaît!"), ["cafe", "au", "lait", "s", "il", "vous", "plait"]);
        assert_eq!(search_text("Ünïcødé — naïve"), "unicøde naive");
        assert_eq!(fold("ÅNGSTRÖM"), "angstrom");
        assert_eq!(words("ΟΔΟΣ οδός"), ["οδοσ", "οδοσ"]);
    }

    #[test]
    fn highlights_mark_the_matching_words() {
        let f = highlight("We meet at the Café at noon", &["cafe".into()]);
        let marked: Vec<&str> = f.iter().filter(|f| f.matched).map(|f| f.text.as_str()).collect();
        assert_eq!(marked, ["Café"]);
        assert_eq!(f.iter().map(|f| f.text.as_str()).collect::<String>(), "We meet at the Café at noon");
        let long = format!("{} needle {}", "x ".repeat(200), "y ".repeat(200));
        let f = highlight(&long, &["need".into()]);
        assert_eq!(f.first().map(|f| f.text.as_str()), Some("…"));
        assert!(f.iter().any(|f| f.matched && f.text == "needle"));
        assert!(f.iter().map(|f| f.text.chars().count()).sum::<usize>() <= EXCERPT + 2);
        // An accent written as a character of its own stays with its word.
        let f = highlight("un cafe\u{301} cre\u{300}me", &["creme".into(), "cafe".into()]);
        let marked: Vec<&str> = f.iter().filter(|f| f.matched).map(|f| f.text.as_str()).collect();
        assert_eq!(marked, ["cafe\u{301}", "cre\u{300}me"]);
    }

    #[test]
    fn mentions_take_the_longest_member_name() {
        let members = vec![(1, "bob".to_owned()), (2, "bob smith".to_owned()), (3, "Ann".to_owned())];
        assert_eq!(mentions("hi @Bob and @ann!", &members), [1, 3]);
        assert_eq!(mentions("ask @bob smith, please", &members), [2]);
        assert_eq!(mentions("@bobby is not bob", &members), Vec::<i64>::new());
        assert_eq!(mentions("mail bob@example.com", &members), Vec::<i64>::new());
        assert_eq!(mentions("@ANN @ann", &members), [3]);
        assert_eq!(mentions("@", &members), Vec::<i64>::new());
        let twins = vec![(4, "Kim".to_owned()), (5, "kim".to_owned())];
        assert_eq!(mentions("@kim", &twins), [5]);
        assert_eq!(mentions("@Kim", &twins), [4]);
        assert_eq!(mentions("@KIM", &twins), [4], "neither exact: the older account");
    }
}
