//! Message search: the words of a query, matched against the rooms the caller is a member of
//! (never any other), newest first, with the matched words marked in an excerpt.

use banter_protocol::Message;
use serde::Serialize;
use utoipa::ToSchema;

use super::{member_room, text, with_read_flags};
use crate::{
    error::{Error, Result},
    state::AppState,
    store::User,
};

/// Characters a query may have.
pub const QUERY_MAX: usize = 200;
/// Words of a query that count (the rest are ignored).
pub const WORDS_MAX: usize = 10;
pub const LIMIT_MAX: i64 = 50;

/// What was asked (as the query string has it).
#[derive(Debug, Clone, Default)]
pub struct SearchQuery {
    pub q: String,
    pub room_id: Option<i64>,
    pub limit: Option<i64>,
    pub before: Option<i64>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SearchResult {
    pub message: Message,
    pub room_id: i64,
    /// An excerpt of the content, the matched words marked.
    pub highlight: Vec<text::Fragment>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SearchPage {
    pub results: Vec<SearchResult>,
    /// Pass as `before` for the next page; `null` when this was the last.
    pub next_before: Option<i64>,
}

/// Gives messages stored before search existed their search text, in batches, oldest first
/// (at startup, in the background; new and edited messages get theirs as they are written).
pub async fn index_backlog(store: crate::store::DynStore) {
    const BATCH: i64 = 500;
    let mut after = 0;
    loop {
        let rows = match store.unindexed(after, BATCH).await {
            Ok(rows) => rows,
            Err(e) => {
                tracing::warn!(error = %e, "indexing older messages for search stopped; it resumes at the next start");
                return;
            }
        };
        let Some(&(last, _)) = rows.last() else { return };
        let texts: Vec<(i64, String)> =
            rows.into_iter().map(|(id, content)| (id, text::search_text(&content))).collect();
        if let Err(e) = store.index(&texts).await {
            tracing::warn!(error = %e, "indexing older messages for search stopped; it resumes at the next start");
            return;
        }
        tracing::info!(up_to = last, "indexed older messages for search");
        after = last;
    }
}

/// Searches the caller's rooms (or one of them).
pub async fn search(state: &AppState, user: &User, query: &SearchQuery) -> Result<SearchPage> {
    let q = query.q.trim();
    let limit = query.limit.unwrap_or(20);
    let mut errors = Vec::new();
    if let Err(p) = crate::validate::length(q, 1, QUERY_MAX) {
        errors.push(p.at(vec!["query".into(), "q".into()], q.into()));
    }
    errors.extend(super::out_of_range("limit", limit, 1, Some(LIMIT_MAX)));
    errors.extend(query.before.and_then(|b| super::out_of_range("before", b, 1, None)));
    if !errors.is_empty() {
        return Err(Error::Validation(errors));
    }
    if let Some(room_id) = query.room_id {
        member_room(state, user.id, room_id).await?;
    }
    let mut words = text::words(q);
    words.dedup();
    words.truncate(WORDS_MAX);
    if words.is_empty() {
        return Ok(SearchPage { results: Vec::new(), next_before: None });
    }
    // One more than asked, to know whether there is a next page.
    let mut rows = state.store.search(user.id, &words, query.room_id, query.before, limit + 1).await?;
    let more = rows.len() as i64 > limit;
    rows.truncate(limit as usize);
    let next_before = if more { rows.last().map(|r| r.id) } else { None };
    let mut results = Vec::with_capacity(rows.len());
    // Read flags per room, as history shows them.
    let mut rooms: Vec<i64> = rows.iter().map(|r| r.room_id).collect();
    rooms.sort_unstable();
    rooms.dedup();
    let mut by_id = std::collections::HashMap::new();
    for room in rooms {
        let in_room: Vec<_> = rows.iter().filter(|r| r.room_id == room).cloned().collect();
        for m in with_read_flags(state, room, in_room, user.id).await? {
            by_id.insert(m.id, m);
        }
    }
    for row in &rows {
        let Some(message) = by_id.remove(&row.id) else { continue };
        let highlight = text::highlight(&message.content, &words);
        results.push(SearchResult { room_id: message.room_id, highlight, message });
    }
    Ok(SearchPage { results, next_before })
}
