//! The send pipeline: every validated send, REST or WebSocket, waits in one bounded queue per
//! node; a single writer takes everything waiting (up to [`BATCH_MAX`]), writes it in one
//! transaction ([`MessageStore::append_messages`](crate::store::MessageStore)), and only after
//! the commit answers each sender and publishes the new messages.
//!
//! Changes to messages (edits, deletions, reactions) wait in the same queue and are written by
//! the same writer, each in a transaction of its own, in queue order between the batches: every
//! room event this node commits is then published in commit order, so a room's `new_message`
//! and `message_updated` frames leave the node in `seq` order.
//!
//! Why one writer: a batch costs one commit whatever its size, so throughput grows with load
//! instead of being capped by commit latency; and because batches commit and publish one after
//! another, each room's `new_message` frames leave this node in `seq` order without any lock.
//!
//! Back-pressure: when the writer falls behind, the queue fills and a send waits at most
//! [`SUBMIT_WAIT`] for room, then fails with "server busy" (503, or an `error` frame) — memory
//! stays bounded, and a retry with the same `client_id` is safe.

use std::{sync::Arc, time::Duration};

use banter_protocol::{Message, ServerFrame};
use tokio::sync::{mpsc, oneshot};

use super::to_message;
use crate::{
    error::Error,
    events::{Broker, Event},
    store::{
        Append, AppendBatch, Appended, AttachmentRow, ChangeOutcome, ChangeRequest, DynStore, MessageRow, StoreError,
    },
};

/// The most sends one transaction carries.
pub const BATCH_MAX: usize = 256;

/// How long a queued send waits for its answer before it is told "busy" (the database has
/// stopped answering: statements on PostgreSQL time out well before this).
pub const ANSWER_WAIT: Duration = Duration::from_secs(30);

/// What became of a send.
#[derive(Debug)]
pub enum Sent {
    /// Stored now.
    New(Message),
    /// The sender had already sent this `client_id`: the original, nothing stored.
    Existing(Message),
    NoRoom,
    NotGroup,
    NotMember,
    /// `reply_to_id` names no message of the same room.
    BadReply,
    /// `attachment_ids` names something other than the sender's own unsent uploads.
    BadAttachments,
    /// A DM whose other member deleted their account.
    NoRecipient,
}

/// Why a batch failed; every send in it gets the same answer.
#[derive(Debug, Clone)]
enum Failure {
    Unavailable,
    Internal(Arc<str>),
}

struct Job {
    append: Append,
    sender_username: String,
    sender_full_name: Option<String>,
    reply: oneshot::Sender<Result<Sent, Failure>>,
}

/// A change to a message, waiting for the writer.
struct ChangeJob {
    request: ChangeRequest,
    reply: oneshot::Sender<Result<ChangeOutcome, Failure>>,
}

/// What waits in the queue.
enum Work {
    Send(Job),
    Change(ChangeJob),
}

/// The queue in front of this node's writer. Cheap to clone.
#[derive(Clone)]
pub struct Pipeline {
    tx: mpsc::Sender<Work>,
    /// How long a send waits for room in a full queue.
    wait: Duration,
    /// Sends queued and not yet answered.
    pending: Arc<std::sync::atomic::AtomicUsize>,
}

impl Pipeline {
    /// Starts the writer; it runs until every `Pipeline` clone is gone and the queue is empty.
    /// (Should it fail to start, every send answers 503: `send` sees the queue closed.)
    pub fn start(store: DynStore, broker: Arc<dyn Broker>, queue: usize, wait: Duration) -> Self {
        let (tx, rx) = mpsc::channel(queue.max(1));
        let (written_tx, written_rx) = mpsc::channel(16);
        tokio::spawn(publish_loop(written_rx, broker));
        // A thread of its own: the writer is one task that every send waits on, and on the
        // shared runtime it would queue behind hundreds of connection tasks at every statement.
        let thread = std::thread::Builder::new().name("banter-writer".into()).spawn(move || {
            match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                Ok(rt) => rt.block_on(write_loop(rx, store, written_tx)),
                Err(e) => tracing::error!(error = %e, "the send writer could not start"),
            }
        });
        if let Err(e) = thread {
            tracing::error!(error = %e, "the send writer thread could not start");
        }
        Self { tx, wait, pending: Arc::default() }
    }

    /// Sends queued or being written, not yet answered.
    pub fn pending(&self) -> usize {
        self.pending.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Whether the writer is running (it stops only if its thread could not start or panicked).
    pub fn is_running(&self) -> bool {
        !self.tx.is_closed()
    }

    /// Queues one send and waits for its outcome (after the commit).
    pub async fn send(
        &self,
        append: Append,
        sender_username: &str,
        sender_full_name: Option<&str>,
    ) -> Result<Sent, Error> {
        let (reply, outcome) = oneshot::channel();
        let job = Job {
            append,
            sender_username: sender_username.to_owned(),
            sender_full_name: sender_full_name.map(str::to_owned),
            reply,
        };
        self.submit(Work::Send(job), outcome).await
    }

    /// Queues a change to a message and waits for its outcome (after the commit; a change that
    /// did something is published first).
    pub async fn change(&self, request: ChangeRequest) -> Result<ChangeOutcome, Error> {
        let (reply, outcome) = oneshot::channel();
        self.submit(Work::Change(ChangeJob { request, reply }), outcome).await
    }

    async fn submit<T>(&self, work: Work, outcome: oneshot::Receiver<Result<T, Failure>>) -> Result<T, Error> {
        match self.tx.send_timeout(work, self.wait).await {
            Ok(()) => {}
            Err(mpsc::error::SendTimeoutError::Timeout(_)) => {
                tracing::warn!("send queue full; refusing a send");
                return Err(busy());
            }
            Err(mpsc::error::SendTimeoutError::Closed(_)) => {
                tracing::error!("the send writer has stopped; refusing a send");
                return Err(busy());
            }
        }
        let counted = Pending::new(&self.pending);
        let answer = tokio::time::timeout(ANSWER_WAIT, outcome).await;
        drop(counted);
        match answer {
            Ok(Ok(Ok(sent))) => Ok(sent),
            Ok(Ok(Err(Failure::Unavailable))) => Err(busy()),
            Ok(Ok(Err(Failure::Internal(why)))) => Err(Error::Internal(anyhow::anyhow!("send failed: {why}"))),
            Ok(Err(_)) => Err(Error::Internal(anyhow::anyhow!("the send pipeline stopped"))),
            // Stuck behind a database that stopped answering. It may still be stored later (and
            // then published): a retry with the same client_id returns it, never a second copy.
            Err(_) => {
                tracing::error!("a queued send got no answer in time");
                Err(busy())
            }
        }
    }
}

/// Counts one send as pending while it lives.
struct Pending<'a>(&'a std::sync::atomic::AtomicUsize);

impl<'a> Pending<'a> {
    fn new(count: &'a std::sync::atomic::AtomicUsize) -> Self {
        count.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Self(count)
    }
}

impl Drop for Pending<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
}

fn busy() -> Error {
    Error::Unavailable("Server busy, please retry".into())
}

/// Each room's members at a batch's commit.
type Members = std::collections::HashMap<i64, Vec<i64>>;

/// A written batch, on its way to the publisher: one answer per job, in order.
struct Written {
    jobs: Vec<Job>,
    answers: Vec<Result<Sent, Failure>>,
    members: Members,
}

/// What the writer hands the publisher, in commit order.
enum Done {
    Batch(Written),
    /// Boxed: as large as a message, and far rarer than batches.
    Change(Box<(ChangeJob, Result<ChangeOutcome, Failure>)>),
}

/// How often a batch that met a concurrent write (deadlock, lock timeout, SQLite busy) is tried
/// again before its senders are told to retry.
const CONFLICT_ATTEMPTS: u32 = 3;

async fn write_loop(mut rx: mpsc::Receiver<Work>, store: DynStore, done: mpsc::Sender<Done>) {
    let mut waiting: Vec<Work> = Vec::with_capacity(BATCH_MAX);
    // `recv_many` takes whatever is waiting, up to the limit, after waiting for the first.
    while rx.recv_many(&mut waiting, BATCH_MAX).await > 0 {
        // Sends are written together; a change ends the batch before it and is written alone,
        // so everything commits (and is published) in queue order.
        let mut sends: Vec<Job> = Vec::new();
        for work in waiting.drain(..) {
            match work {
                Work::Send(job) => sends.push(job),
                Work::Change(job) => {
                    if !flush(&store, &mut sends, &done).await {
                        return;
                    }
                    let result = change(&store, &job).await;
                    if done.send(Done::Change(Box::new((job, result)))).await.is_err() {
                        return;
                    }
                }
            }
        }
        if !flush(&store, &mut sends, &done).await {
            return;
        }
    }
}

/// Writes the sends gathered so far as one batch; `false` once the publisher has gone.
async fn flush(store: &DynStore, sends: &mut Vec<Job>, done: &mpsc::Sender<Done>) -> bool {
    if sends.is_empty() {
        return true;
    }
    let written = write(store, std::mem::take(sends)).await;
    let stored = written.answers.iter().filter(|a| matches!(a, Ok(Sent::New(_)))).count();
    if stored > 0 {
        crate::metrics::batch_committed(stored);
    }
    done.send(Done::Batch(written)).await.is_ok()
}

/// Writes one change, trying again (briefly) after a conflict. A change whose requester has gone
/// is still written: a request that reached the queue is carried out, as a send's is not only
/// because nobody could be told its seq.
async fn change(store: &DynStore, job: &ChangeJob) -> Result<ChangeOutcome, Failure> {
    let mut attempt = 1;
    loop {
        match store.change_message(&job.request).await {
            Ok(outcome) => return Ok(outcome),
            Err(StoreError::Conflict(e)) if attempt < CONFLICT_ATTEMPTS => {
                tracing::debug!(error = %e, attempt, "a message change met a concurrent write; trying again");
                tokio::time::sleep(Duration::from_millis(5 << (2 * attempt))).await;
                attempt += 1;
            }
            Err(e) => return Err(failure(e)),
        }
    }
}

/// Writes one batch. Sends whose sender has gone (a closed request, or one answered "busy"
/// after [`ANSWER_WAIT`]) are not written: nobody could be told they were.
///
/// A batch the database refuses for a reason that concerns its rows — one it will refuse
/// again, such as a constraint, or a duplicate `client_id` stored by another node meanwhile —
/// is written again one send per transaction, so one bad send never fails the others. A batch
/// that failed because the database is down, slow or busy (after its retries) is not split:
/// every send in it is told to retry.
async fn write(store: &DynStore, mut jobs: Vec<Job>) -> Written {
    jobs.retain(|job| !job.reply.is_closed());
    let started = std::time::Instant::now();
    let unavailable = |jobs: &[Job]| jobs.iter().map(|_| Err(Failure::Unavailable)).collect::<Vec<_>>();
    if jobs.is_empty() {
        return Written { jobs, answers: Vec::new(), members: Members::new() };
    }
    match write_batch(store, &jobs).await {
        Ok((answers, members)) => Written { jobs, answers, members },
        Err(e @ (StoreError::Unavailable(_) | StoreError::Conflict(_))) => {
            tracing::error!(error = %e, batch = jobs.len(), "a send batch failed; its senders may retry");
            let answers = unavailable(&jobs);
            Written { jobs, answers, members: Members::new() }
        }
        Err(e) if jobs.len() > 1 => {
            tracing::warn!(error = %e, batch = jobs.len(), "a send batch failed; writing its sends one by one");
            let mut answers = Vec::with_capacity(jobs.len());
            let mut members = Members::new();
            let mut down = false;
            for job in &jobs {
                // Within the time a sender waits, and only while the database answers.
                if down || job.reply.is_closed() || started.elapsed() >= ANSWER_WAIT {
                    answers.push(Err(Failure::Unavailable));
                    continue;
                }
                match write_batch(store, std::slice::from_ref(job)).await {
                    Ok((mut one, room)) => {
                        answers.push(one.pop().unwrap_or(Err(Failure::Unavailable)));
                        members.extend(room);
                    }
                    Err(e) => {
                        down = matches!(e, StoreError::Unavailable(_) | StoreError::Conflict(_));
                        answers.push(Err(failure(e)));
                    }
                }
            }
            Written { jobs, answers, members }
        }
        Err(e) => {
            let answers = vec![Err(failure(e))];
            Written { jobs, answers, members: Members::new() }
        }
    }
}

/// Writes `jobs` in one transaction, trying again (briefly) after a conflict.
async fn write_batch(store: &DynStore, jobs: &[Job]) -> Result<(Vec<Result<Sent, Failure>>, Members), StoreError> {
    let batch: Vec<Append> = jobs.iter().map(|j| j.append.clone()).collect();
    let mut attempt = 1;
    loop {
        let started = std::time::Instant::now();
        match store.append_messages(&batch).await {
            Ok(done) => {
                tracing::debug!(size = batch.len(), micros = started.elapsed().as_micros(), "send batch written");
                let members = done.members.clone();
                let sent = resolve(jobs, done);
                return Ok((sent.into_iter().map(Ok).collect(), members));
            }
            Err(StoreError::Conflict(e)) if attempt < CONFLICT_ATTEMPTS => {
                tracing::debug!(error = %e, attempt, "a send batch met a concurrent write; trying again");
                tokio::time::sleep(Duration::from_millis(5 << (2 * attempt))).await;
                attempt += 1;
            }
            Err(e) => return Err(e),
        }
    }
}

/// What a sender is told when its own write failed.
fn failure(e: StoreError) -> Failure {
    match e {
        // Rolled back: a retry (with the same client_id) is safe and expected to work.
        StoreError::Unavailable(_) | StoreError::Conflict(_) | StoreError::UniqueViolation(_) => {
            tracing::warn!(error = %e, "a send failed; its sender may retry");
            Failure::Unavailable
        }
        other => {
            tracing::error!(error = %other, "a send failed");
            Failure::Internal(other.to_string().into())
        }
    }
}

/// Publishes written batches, in the order they were written, and answers their senders. It
/// runs on the server's runtime, beside the connections it wakes (from the writer's thread,
/// every one of those wake-ups would be a cross-thread one).
async fn publish_loop(mut written: mpsc::Receiver<Done>, broker: Arc<dyn Broker>) {
    while let Some(done) = written.recv().await {
        let Written { jobs, answers, mut members } = match done {
            Done::Batch(written) => written,
            Done::Change(change) => {
                let (job, result) = *change;
                if let Ok(ChangeOutcome::Changed { seq, message, is_read, members }) = &result {
                    let room_id = message.room_id;
                    let message = to_message(message.clone(), *is_read);
                    let frames = vec![ServerFrame::MessageUpdated { room_id, seq: *seq, message }];
                    broker.publish(Event::Messages { room_id, members: members.clone(), frames });
                }
                let _ = job.reply.send(result);
                continue;
            }
        };
        // Published before anyone is answered, so a sender's own devices do not see the ack
        // before the message it acknowledges (with several nodes, unless the room waits on a
        // gap fill: docs/ARCHITECTURE.md); one event per room, in seq order. Only new
        // messages: a resend's original was published when it was stored (and should that
        // publication have been lost with a crashed node, this node's connections went with
        // it and catch up with `sync`; with several nodes, the others must fill such a gap
        // from the room's seq, as they must for any lost publication).
        let mut by_room: Vec<(i64, Vec<ServerFrame>)> = Vec::new();
        for answer in &answers {
            let Ok(Sent::New(message)) = answer else { continue };
            let frame = ServerFrame::new_message(message.clone());
            match by_room.iter_mut().find(|(room, _)| *room == message.room_id) {
                Some((_, frames)) => frames.push(frame),
                None => by_room.push((message.room_id, vec![frame])),
            }
        }
        for (room_id, mut frames) in by_room {
            frames.sort_by_key(|f| f.seq().unwrap_or(0));
            let members = members.remove(&room_id).unwrap_or_default();
            broker.publish(Event::Messages { room_id, members, frames });
        }
        for (job, answer) in jobs.into_iter().zip(answers) {
            // The sender may have gone (a closed request): the message stays stored.
            let _ = job.reply.send(answer);
        }
    }
}

/// Turns a batch's outcomes into what each sender is told.
fn resolve(jobs: &[Job], done: AppendBatch) -> Vec<Sent> {
    let AppendBatch { outcomes, created_at, replies, members, uploads } = done;
    let mut sent: Vec<Sent> = Vec::with_capacity(outcomes.len());
    for (job, outcome) in jobs.iter().zip(outcomes) {
        let a = &job.append;
        sent.push(match outcome {
            Appended::New { id, seq } => Sent::New(to_message(
                MessageRow {
                    id,
                    room_id: a.room_id,
                    seq,
                    sender_id: Some(a.sender_id),
                    sender_username: Some(job.sender_username.clone()),
                    sender_full_name: job.sender_full_name.clone(),
                    content: a.content.clone(),
                    client_id: a.client_id.clone(),
                    created_at,
                    edited_at: None,
                    deleted_at: None,
                    reply: a.reply_to_id.and_then(|id| replies.get(&id).cloned()).unwrap_or_default(),
                    reactions: Vec::new(),
                    // As the batch stored them: those who are members.
                    mentions: {
                        let room = members.get(&a.room_id);
                        let mut m: Vec<i64> =
                            a.mentions.iter().copied().filter(|u| room.is_some_and(|r| r.contains(u))).collect();
                        m.sort_unstable();
                        m
                    },
                    // In the order given, now sent with this message.
                    attachments: a
                        .attachment_ids
                        .iter()
                        .filter_map(|f| uploads.get(f))
                        .map(|f| AttachmentRow { message_id: Some(id), ..f.clone() })
                        .collect(),
                },
                false,
            )),
            Appended::Existing(row) => Sent::Existing(to_message(*row, false)),
            Appended::SameAs(first) => match sent.get(first) {
                Some(Sent::New(m) | Sent::Existing(m)) => Sent::Existing(m.clone()),
                _ => Sent::NotMember,
            },
            Appended::NoRoom => Sent::NoRoom,
            Appended::NotGroup => Sent::NotGroup,
            Appended::NotMember => Sent::NotMember,
            Appended::BadReply => Sent::BadReply,
            Appended::BadAttachments => Sent::BadAttachments,
            Appended::NoRecipient => Sent::NoRecipient,
        });
    }
    sent
}
