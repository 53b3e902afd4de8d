//! `banter-load chat`: message throughput and latency through a group, end to end.

use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use banter_protocol::{ClientFrame, ServerFrame};
use futures_util::{SinkExt as _, StreamExt as _};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

use crate::{open, register, Socket};

/// The whole run must finish within this.
const DEADLINE: Duration = Duration::from_secs(300);

pub async fn run(url: &str, host: &str, users: usize, senders: usize, messages: usize) -> anyhow::Result<()> {
    if users < 2 || senders == 0 || senders > users || messages == 0 {
        bail!("need users >= 2, 1 <= senders <= users, messages >= 1");
    }
    let mut accounts = Vec::with_capacity(users);
    for _ in 0..users {
        accounts.push(register(url, "chat").await?);
    }
    let member_ids: Vec<i64> = accounts.iter().skip(1).map(|(_, id)| *id).collect();
    let created: serde_json::Value = reqwest::Client::new()
        .post(format!("{url}/groups/create"))
        .bearer_auth(&accounts[0].0)
        .json(&serde_json::json!({"name": "load", "member_ids": member_ids}))
        .send()
        .await?
        .json()
        .await?;
    let room = created["group"]["id"].as_i64().context("group not created")?;

    let start = Instant::now();
    let mut receivers = Vec::new();
    let mut ack_channels = Vec::new();
    let mut sinks = Vec::new();
    for (i, (token, _)) in accounts.iter().enumerate() {
        let ws = open(host, token).await?;
        let (sink, stream) = ws.split();
        let (ack_tx, ack_rx) = mpsc::channel(16);
        let acks = (i < senders).then_some((ack_tx, messages / senders));
        receivers.push(tokio::spawn(receive(stream, start, (messages / senders) * senders, acks)));
        if i < senders {
            ack_channels.push(ack_rx);
            sinks.push(sink);
        }
    }
    // Every receiver subscribed before the first send (the subscribe_all in `open` is answered
    // in order before any message frame, and sends only start now).
    let per_sender = messages / senders;
    let total = per_sender * senders;
    let began = Instant::now();
    let mut send_tasks = Vec::new();
    for (s, (mut sink, mut acks)) in sinks.into_iter().zip(ack_channels).enumerate() {
        send_tasks.push(tokio::spawn(async move {
            let mut ack_latencies = Vec::with_capacity(per_sender);
            for n in 0..per_sender {
                let sent_at = start.elapsed().as_micros();
                let frame = ClientFrame::Message {
                    room_id: room.into(),
                    content: format!("{sent_at} load message {s}/{n}"),
                    client_id: Some(format!("load-{s}-{n}")),
                };
                let t = Instant::now();
                sink.send(Message::text(serde_json::to_string(&frame)?)).await?;
                tokio::time::timeout(DEADLINE, acks.recv()).await?.context("connection ended before the ack")?;
                ack_latencies.push(t.elapsed());
            }
            anyhow::Ok(ack_latencies)
        }));
    }
    let mut acks = Vec::with_capacity(total);
    for task in send_tasks {
        acks.extend(tokio::time::timeout(DEADLINE, task).await???);
    }
    let send_time = began.elapsed();
    let mut deliveries = Vec::with_capacity(total * users);
    for task in receivers {
        deliveries.extend(tokio::time::timeout(DEADLINE, task).await???);
    }
    let all_delivered = began.elapsed();

    println!("users: {users} in one group, senders: {senders}, messages: {total}");
    println!(
        "sent and acknowledged in {:.2} s: {:.0} messages/s, {:.0} deliveries/s",
        send_time.as_secs_f64(),
        total as f64 / send_time.as_secs_f64(),
        (total * users) as f64 / all_delivered.as_secs_f64()
    );
    println!("ack latency      {}", percentiles(&mut acks));
    println!("delivery latency {}", percentiles(&mut deliveries));
    println!("every member received every message exactly once, in seq order");
    Ok(())
}

/// Reads one connection's frames until it has seen `expected` messages (and, on a sender's
/// connection, its acks); checks each message arrives once, in seq order; returns each message's
/// delivery latency. Forwards acks to the sender.
async fn receive(
    mut stream: futures_util::stream::SplitStream<Socket>,
    start: Instant,
    expected: usize,
    acks: Option<(mpsc::Sender<()>, usize)>,
) -> anyhow::Result<Vec<Duration>> {
    let mut latencies = Vec::with_capacity(expected);
    let mut last_seq = 0;
    let mut acks_seen = 0;
    let acks_expected = acks.as_ref().map_or(0, |(_, n)| *n);
    while latencies.len() < expected || acks_seen < acks_expected {
        let frame = tokio::time::timeout(DEADLINE, stream.next()).await?.context("connection closed")??;
        let Message::Text(text) = frame else { continue };
        match serde_json::from_str::<ServerFrame>(&text)? {
            ServerFrame::NewMessage { seq, content, .. } => {
                if seq <= last_seq {
                    bail!("message seq {seq} out of order or duplicated (after {last_seq})");
                }
                last_seq = seq;
                let sent: u128 = content.split(' ').next().and_then(|t| t.parse().ok()).context("timestamp")?;
                let now = start.elapsed().as_micros();
                latencies.push(Duration::from_micros(u64::try_from(now.saturating_sub(sent)).unwrap_or(u64::MAX)));
            }
            ServerFrame::Ack { .. } => {
                acks_seen += 1;
                if let Some((tx, _)) = &acks {
                    tx.send(()).await.ok();
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
