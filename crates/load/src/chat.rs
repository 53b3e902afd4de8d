//! `banter-load chat`: message throughput and latency through groups, end to end, with every
//! delivery checked.
//!
//! `--groups G --members M` makes G groups of M users each (every user in one group, each with
//! one subscribed WebSocket). `--senders S` of them (spread over the groups) send `--messages N`
//! in all over WebSocket, each keeping `--inflight K` messages unacknowledged at most (closed
//! loop), or — with `--rate R` — sending R messages a second in all, on a fixed schedule (open
//! loop, for latency at a given load). Every member checks it receives every message of its
//! group exactly once, in `seq` order; the run fails otherwise.

use std::{
    collections::HashMap,
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::{bail, Context as _};
use banter_protocol::{ClientFrame, ServerFrame};
use futures_util::{SinkExt as _, StreamExt as _};
use tokio::sync::{mpsc, Semaphore};
use tokio_tungstenite::tungstenite::Message;

use crate::{open, register, Socket};

/// The whole run must finish within this.
const DEADLINE: Duration = Duration::from_secs(600);

#[derive(Debug, Clone)]
pub struct Workload {
    pub groups: usize,
    pub members: usize,
    pub senders: usize,
    pub inflight: usize,
    pub messages: usize,
    /// Messages per second in all (open loop), or `None` (closed loop).
    pub rate: Option<f64>,
    /// Where the WebSockets go, spread round-robin (several nodes of one cluster); empty: the
    /// `--url` host.
    pub ws_hosts: Vec<String>,
}

pub async fn run(url: &str, host: &str, w: Workload) -> anyhow::Result<()> {
    if w.groups == 0 || w.members < 2 || w.senders == 0 || w.senders > w.groups * w.members || w.messages == 0 {
        bail!("need groups >= 1, members >= 2, 1 <= senders <= groups * members, messages >= 1");
    }
    if w.inflight == 0 || w.messages < w.senders {
        bail!("need inflight >= 1 and messages >= senders");
    }
    let users = w.groups * w.members;
    let registered = Arc::new(Semaphore::new(8));
    let mut accounts = Vec::with_capacity(users);
    let mut pending = Vec::with_capacity(users);
    for _ in 0..users {
        let (url, permits) = (url.to_owned(), registered.clone());
        pending.push(tokio::spawn(async move {
            let _permit = permits.acquire_owned().await?;
            register(&url, "chat").await
        }));
    }
    for p in pending {
        accounts.push(p.await??);
    }
    // Group g is users g*M .. (g+1)*M; its first member creates it.
    let client = reqwest::Client::new();
    let mut rooms = Vec::with_capacity(w.groups);
    for g in 0..w.groups {
        let members = &accounts[g * w.members..(g + 1) * w.members];
        let ids: Vec<i64> = members.iter().skip(1).map(|(_, id)| *id).collect();
        // A request names at most 256 users: create with the first, add the rest in chunks.
        let mut chunks = ids.chunks(200);
        let first = chunks.next().unwrap_or_default();
        let created: serde_json::Value = client
            .post(format!("{url}/groups/create"))
            .bearer_auth(&members[0].0)
            .json(&serde_json::json!({"name": format!("load {g}"), "member_ids": first}))
            .send()
            .await?
            .json()
            .await?;
        let room = created["group"]["id"].as_i64().with_context(|| format!("group not created: {created}"))?;
        for chunk in chunks {
            let added = client
                .post(format!("{url}/groups/{room}/members"))
                .bearer_auth(&members[0].0)
                .json(&serde_json::json!({"user_ids": chunk}))
                .send()
                .await?;
            if !added.status().is_success() {
                bail!("adding members failed: {}", added.text().await?);
            }
        }
        rooms.push(room);
    }
    // Senders: spread over the groups, round robin (sender s is member s / G of group s % G).
    let sender_of = |s: usize| (s % w.groups) * w.members + s / w.groups;
    let per_sender = w.messages / w.senders;
    let total = per_sender * w.senders;
    let mut expected_per_group = vec![0usize; w.groups];
    for s in 0..w.senders {
        expected_per_group[s % w.groups] += per_sender;
    }

    let start = Instant::now();
    let mut receivers = Vec::with_capacity(users);
    let mut sinks: HashMap<usize, (futures_util::stream::SplitSink<Socket, Message>, mpsc::Receiver<Instant>)> =
        HashMap::new();
    let senders: std::collections::HashSet<usize> = (0..w.senders).map(sender_of).collect();
    for (u, (token, _)) in accounts.iter().enumerate() {
        let ws_host = if w.ws_hosts.is_empty() { host } else { w.ws_hosts[u % w.ws_hosts.len()].as_str() };
        let ws = open(ws_host, token).await?;
        let (sink, stream) = ws.split();
        let group = u / w.members;
        let (ack_tx, ack_rx) = mpsc::channel(per_sender.max(1));
        let acks = senders.contains(&u).then_some((ack_tx, per_sender));
        receivers.push(tokio::spawn(receive(stream, start, expected_per_group[group], acks)));
        if senders.contains(&u) {
            sinks.insert(u, (sink, ack_rx));
        }
    }
    // Every connection has sent subscribe_all before the first message; the server answers
    // frames in order, so each is subscribed before any message reaches it.
    let began = Instant::now();
    let mut send_tasks = Vec::new();
    for s in 0..w.senders {
        let u = sender_of(s);
        let (mut sink, mut acks) = sinks.remove(&u).context("sender socket")?;
        // Acks carry the time they arrived: latency is arrival − send, however late it is read.
        let room = rooms[s % w.groups];
        let (inflight, rate, senders_n) = (w.inflight, w.rate, w.senders);
        send_tasks.push(tokio::spawn(async move {
            let mut ack_latencies = Vec::with_capacity(per_sender);
            let mut sent_at: std::collections::VecDeque<Instant> = std::collections::VecDeque::new();
            // Open loop: this sender's share of the rate, offset so senders interleave.
            let interval = rate.map(|r| Duration::from_secs_f64(senders_n as f64 / r));
            let mut next_send =
                Instant::now() + interval.map_or(Duration::ZERO, |i| i.mul_f64(s as f64 / senders_n as f64));
            for n in 0..per_sender {
                if let Some(i) = interval {
                    tokio::time::sleep_until(next_send.into()).await;
                    next_send += i;
                }
                while sent_at.len() >= inflight {
                    let at =
                        tokio::time::timeout(DEADLINE, acks.recv()).await?.context("connection ended before an ack")?;
                    ack_latencies.push(at - sent_at.pop_front().context("ack without a send")?);
                }
                let frame = ClientFrame::Message {
                    room_id: room.into(),
                    content: format!("{} load message {s}/{n}", start.elapsed().as_micros()),
                    client_id: Some(format!("load-{s}-{n}")),
                    reply_to_id: None,
                    attachment_ids: Vec::new(),
                };
                sent_at.push_back(Instant::now());
                sink.send(Message::text(serde_json::to_string(&frame)?)).await?;
                // Take acks that have already arrived (open loop: never block on them).
                while let Ok(at) = acks.try_recv() {
                    ack_latencies.push(at - sent_at.pop_front().context("ack without a send")?);
                }
            }
            while let Some(t) = sent_at.pop_front() {
                let at =
                    tokio::time::timeout(DEADLINE, acks.recv()).await?.context("connection ended before an ack")?;
                ack_latencies.push(at - t);
            }
            anyhow::Ok(ack_latencies)
        }));
    }
    let mut acks = Vec::with_capacity(total);
    for task in send_tasks {
        acks.extend(tokio::time::timeout(DEADLINE, task).await???);
    }
    let send_time = began.elapsed();
    let mut deliveries = Vec::with_capacity(total * w.members);
    for task in receivers {
        deliveries.extend(tokio::time::timeout(DEADLINE, task).await???);
    }
    let all_delivered = began.elapsed();
    let delivered = deliveries.len();

    let mode = match w.rate {
        Some(r) => format!("open loop at {r:.0} messages/s"),
        None => format!("{} in flight per sender", w.inflight),
    };
    println!(
        "{} group(s) of {} members ({} users), {} senders, {mode}, {total} messages",
        w.groups, w.members, users, w.senders
    );
    println!(
        "acknowledged {total} in {:.2} s: {:.0} messages/s; {delivered} deliveries in {:.2} s: {:.0} deliveries/s",
        send_time.as_secs_f64(),
        total as f64 / send_time.as_secs_f64(),
        all_delivered.as_secs_f64(),
        delivered as f64 / all_delivered.as_secs_f64()
    );
    println!("ack latency      {}", percentiles(&mut acks));
    println!("delivery latency {}", percentiles(&mut deliveries));
    println!("every member received every message of its group exactly once, in seq order");
    Ok(())
}

/// The `seq`, and the send time written at the start of `content`, of a `new_message` frame,
/// read without parsing the whole frame (a million deliveries a second must not be limited by
/// the load tool's JSON parser). `None` for any other frame.
fn new_message_fields(text: &str) -> Option<(i64, u128)> {
    let rest = text.strip_prefix(r#"{"type":"new_message","#)?;
    let content = &rest[rest.find(r#""content":""#)? + 11..];
    let sent: u128 = content[..content.find(' ')?].parse().ok()?;
    let seq_at = rest.find(r#","seq":"#)? + 7;
    let digits = &rest[seq_at..];
    let seq: i64 = digits[..digits.find(|c: char| !c.is_ascii_digit())?].parse().ok()?;
    Some((seq, sent))
}

/// Reads one connection's frames until it has seen `expected` messages (and, on a sender's
/// connection, its acks); checks each message arrives once, in seq order; returns each message's
/// delivery latency. Forwards acks to the sender.
async fn receive(
    mut stream: futures_util::stream::SplitStream<Socket>,
    start: Instant,
    expected: usize,
    acks: Option<(mpsc::Sender<Instant>, usize)>,
) -> anyhow::Result<Vec<Duration>> {
    let mut latencies = Vec::with_capacity(expected);
    let mut last_seq = 0;
    let mut acks_seen = 0;
    let acks_expected = acks.as_ref().map_or(0, |(_, n)| *n);
    while latencies.len() < expected || acks_seen < acks_expected {
        let frame = tokio::time::timeout(DEADLINE, stream.next()).await?.context("connection closed")??;
        let Message::Text(text) = frame else { continue };
        if let Some((seq, sent)) = new_message_fields(&text) {
            if seq <= last_seq {
                bail!("message seq {seq} out of order or duplicated (after {last_seq})");
            }
            last_seq = seq;
            let now = start.elapsed().as_micros();
            latencies.push(Duration::from_micros(u64::try_from(now.saturating_sub(sent)).unwrap_or(u64::MAX)));
            continue;
        }
        match serde_json::from_str::<ServerFrame>(&text)? {
            ServerFrame::NewMessage { .. } => bail!("a new_message frame the fast reader could not read: {text}"),
            ServerFrame::Ack { .. } => {
                acks_seen += 1;
                if let Some((tx, _)) = &acks {
                    tx.send(Instant::now()).await.ok();
                }
            }
            ServerFrame::Error { message, .. } => bail!("server error: {message}"),
            _ => {}
        }
    }
    Ok(latencies)
}

fn percentiles(samples: &mut [Duration]) -> String {
    samples.sort_unstable();
    let at = |p: f64| {
        let i = ((samples.len() as f64 - 1.0) * p).round() as usize;
        samples.get(i).map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    };
    format!("p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms ({} samples)", at(0.5), at(0.99), at(1.0), samples.len())
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_a_new_message_frame_without_parsing_it() {
        let frame = banter_protocol::ServerFrame::new_message(banter_protocol::Message {
            id: 9,
            chat_room_id: 3,
            sender_id: Some(1),
            content: "12345 load message 0/1".into(),
            is_read: false,
            created_at: banter_protocol::time::parse("2026-11-30T16:34:18").expect("time"),
            sender_username: "u".into(),
            sender_full_name: None,
            room_id: 3,
            seq: 42,
            client_id: None,
            edited_at: None,
            deleted_at: None,
            reactions: Vec::new(),
            reply_to: None,
            mentions: Vec::new(),
            attachments: Vec::new(),
        });
        let text = serde_json::to_string(&frame).expect("json");
        assert_eq!(super::new_message_fields(&text), Some((42, 12345)));
        assert_eq!(super::new_message_fields(r#"{"type":"pong"}"#), None);
    }
}
