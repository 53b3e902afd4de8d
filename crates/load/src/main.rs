//! Benchmarks against a running Banter server on loopback.
//!
//! ```text
//! banter-load idle --url http://127.0.0.1:8000 --connections 10000 --server-pid PID
//! banter-load chat --url http://127.0.0.1:8000 --groups 40 --members 10 --senders 200 \
//!     --inflight 4 --messages 200000 [--rate 200]
//! banter-load soak --url http://127.0.0.1:8000 --minutes 10 --connections 2000 --churn 50 \
//!     --logins 2 --messages 50 --server-pid PID
//! ```
//!
//! `idle` opens many idle, authenticated, subscribed WebSocket connections and reports the
//! server's resident memory per connection. `chat` (see `chat.rs`) makes `--groups` groups of
//! `--members` users, each with a subscribed WebSocket; `--senders` of them send `--messages` in
//! all over WebSocket, with `--inflight` unacknowledged each (or at `--rate` messages/s in all).
//! It reports throughput, ack latency and delivery latency (send → every member's
//! `new_message`), and checks that every member got every message exactly once, in `seq` order.
//! `soak` (see `soak.rs`) runs churn — connections, logins, messages — for minutes and prints
//! the server's RSS over time.
//!
//! Every loop is bounded in count and time; only loopback addresses are accepted.

mod chat;
mod soak;

use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use banter_protocol::{ClientFrame, ServerFrame};
use futures_util::{SinkExt as _, StreamExt as _};
use tokio_tungstenite::tungstenite::Message;

pub(crate) const STEP: Duration = Duration::from_secs(30);

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str| args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned();
    let url = arg("--url").unwrap_or_else(|| "http://127.0.0.1:8000".into());
    let host = url.trim_start_matches("http://").split('/').next().unwrap_or_default().to_owned();
    if !(host.starts_with("127.") || host.starts_with("localhost") || host.starts_with("[::1]")) {
        bail!("refusing {host}: load tests target loopback only");
    }
    let number = |name: &str, default: usize| -> anyhow::Result<usize> {
        arg(name).map_or(Ok(default), |v| v.parse().with_context(|| name.to_owned()))
    };
    match args.get(1).map(String::as_str) {
        Some("idle") => {}
        Some("chat") => {
            let rate = arg("--rate").map(|r| r.parse::<f64>().context("--rate")).transpose()?;
            let workload = chat::Workload {
                groups: number("--groups", 1)?,
                members: number("--members", number("--users", 50)?)?,
                senders: number("--senders", 10)?,
                inflight: number("--inflight", 1)?,
                messages: number("--messages", 2000)?,
                rate,
                ws_hosts: arg("--ws-hosts")
                    .map(|h| h.split(',').map(|h| h.trim().to_owned()).filter(|h| !h.is_empty()).collect())
                    .unwrap_or_default(),
            };
            if let Some(bad) = workload.ws_hosts.iter().find(|h| !h.starts_with("127.")) {
                bail!("refusing {bad}: load tests target loopback only");
            }
            return chat::run(&url, &host, workload).await;
        }
        Some("logins") => {
            return logins(&url, arg("--server-pid").as_deref(), number("--count", 1000)?, number("--concurrency", 8)?)
                .await;
        }
        Some("soak") => {
            let workload = soak::Soak {
                minutes: number("--minutes", 10)? as u64,
                connections: number("--connections", 2000)?,
                churn: number("--churn", 50)?,
                logins: number("--logins", 2)?,
                messages: number("--messages", 50)?,
                every: number("--every", 30)? as u64,
            };
            return soak::run(&url, &host, arg("--server-pid").as_deref(), workload).await;
        }
        _ => bail!(
            "usage: banter-load idle --url URL --connections N --server-pid PID\n       \
             banter-load chat --url URL --groups N --members N --senders N --inflight N --messages N [--rate R]\n       \
             banter-load logins --url URL --count N --concurrency N [--server-pid PID]\n       \
             banter-load soak --url URL --minutes M --connections N --churn N --logins N --messages N [--server-pid PID]"
        ),
    }
    let n: usize = arg("--connections").unwrap_or_else(|| "1000".into()).parse().context("--connections")?;
    let pid = arg("--server-pid");

    let token = register(&url, "idle").await?.0;
    let before = pid.as_deref().map(rss_kib).transpose()?;
    let started = Instant::now();
    let mut sockets = Vec::with_capacity(n);
    for batch in (0..n).collect::<Vec<_>>().chunks(250) {
        let opened = futures_util::future::join_all(batch.iter().map(|_| open(&host, &token))).await;
        for s in opened {
            sockets.push(s?);
        }
    }
    let elapsed = started.elapsed();
    // Let allocators settle, then measure.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = pid.as_deref().map(rss_kib).transpose()?;
    println!("connections: {}", sockets.len());
    println!("opened in: {:.1} s ({:.0}/s)", elapsed.as_secs_f64(), sockets.len() as f64 / elapsed.as_secs_f64());
    if let (Some(b), Some(a)) = (before, after) {
        let per = (a.saturating_sub(b)) as f64 / sockets.len().max(1) as f64;
        println!("server RSS: {b} KiB before, {a} KiB after: {per:.2} KiB per idle connection");
    }
    // Every connection still held and answering: a ping frame each, and its pong.
    let ping = serde_json::to_string(&ClientFrame::Ping)?;
    let mut answered = 0;
    for chunk in sockets.chunks_mut(500) {
        let pings = chunk.iter_mut().map(|ws| async {
            ws.send(Message::text(ping.clone())).await?;
            loop {
                match tokio::time::timeout(STEP, ws.next()).await.context("no pong")? {
                    Some(Ok(Message::Text(t))) if matches!(serde_json::from_str(&t), Ok(ServerFrame::Pong)) => {
                        return anyhow::Ok(());
                    }
                    Some(Ok(_)) => {}
                    other => bail!("connection lost: {other:?}"),
                }
            }
        });
        answered += futures_util::future::join_all(pings).await.into_iter().filter(Result::is_ok).count();
    }
    println!("answered a ping: {answered} of {}", sockets.len());
    Ok(())
}

/// `logins`: `count` logins of one user, `concurrency` at a time; the server's RSS before and
/// after (what password hashing leaves behind).
async fn logins(url: &str, pid: Option<&str>, count: usize, concurrency: usize) -> anyhow::Result<()> {
    let client = reqwest::Client::builder().timeout(STEP).build()?;
    let name = format!("load_logins_{}", std::process::id());
    let body =
        serde_json::json!({"username": name, "email": format!("{name}@example.com"), "password": "load-test-password"});
    client.post(format!("{url}/auth/register")).json(&body).send().await?.error_for_status()?;
    let before = pid.map(rss_kib).transpose()?;
    let started = Instant::now();
    let (mut ok, mut busy) = (0, 0);
    let ids: Vec<usize> = (0..count).collect();
    for chunk in ids.chunks(concurrency.max(1)) {
        let answers = futures_util::future::join_all(chunk.iter().map(|_| {
            let body = serde_json::json!({"username": name, "password": "load-test-password"});
            client.post(format!("{url}/auth/login")).json(&body).send()
        }))
        .await;
        for answer in answers {
            match answer?.status().as_u16() {
                200 => ok += 1,
                503 => busy += 1,
                other => bail!("login answered {other}"),
            }
        }
    }
    let elapsed = started.elapsed();
    let after = pid.map(rss_kib).transpose()?;
    println!(
        "logins: {ok} ok, {busy} busy, in {:.1} s ({:.0}/s)",
        elapsed.as_secs_f64(),
        count as f64 / elapsed.as_secs_f64()
    );
    if let (Some(b), Some(a)) = (before, after) {
        println!("server RSS: {:.1} MiB before, {:.1} MiB after", b as f64 / 1024.0, a as f64 / 1024.0);
    }
    Ok(())
}

/// Registers a fresh user; returns its access token and id.
pub(crate) async fn register(url: &str, tag: &str) -> anyhow::Result<(String, i64)> {
    let name = format!("load_{tag}_{}_{}", std::process::id(), NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
    let body =
        serde_json::json!({"username": name, "email": format!("{name}@example.com"), "password": "load-test-password"});
    let resp: serde_json::Value = reqwest::Client::new()
        .post(format!("{url}/auth/register"))
        .json(&body)
        .timeout(STEP)
        .send()
        .await?
        .json()
        .await?;
    let token =
        resp["tokens"]["access_token"].as_str().map(str::to_owned).context("register answered without a token")?;
    let id = resp["user"]["id"].as_i64().context("register answered without an id")?;
    Ok((token, id))
}

static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

pub(crate) type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Opens one connection, waits for `connected`, subscribes to all rooms.
pub(crate) async fn open(host: &str, token: &str) -> anyhow::Result<Socket> {
    let url = format!("ws://{host}/ws/{token}");
    let (mut ws, _) = tokio::time::timeout(STEP, tokio_tungstenite::connect_async_with_config(url, None, true))
        .await
        .context("connect timed out")??;
    let hello = tokio::time::timeout(STEP, ws.next()).await.context("no connected frame")?;
    match hello {
        Some(Ok(Message::Text(t))) if matches!(serde_json::from_str(&t), Ok(ServerFrame::Connected { .. })) => {}
        other => bail!("unexpected first frame: {other:?}"),
    }
    ws.send(Message::text(serde_json::to_string(&ClientFrame::SubscribeAll)?)).await?;
    Ok(ws)
}

pub(crate) fn rss_kib(pid: &str) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).context("reading the server's /proc status")?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .context("no VmRSS line")
}
