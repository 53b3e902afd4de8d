//! `soak`: a long run with churn, to see whether the server's memory stops growing.
//!
//! Holds `--connections` idle subscribed sockets for the whole run; every second opens
//! `--churn` new connections and closes as many of the oldest churned ones, logs in `--logins`
//! times, and sends `--messages` group messages over REST (delivered to every held socket of
//! the group's members). Every `--every` seconds it prints one row: elapsed time, the server's
//! RSS, connections open, and totals so far. Bounded by `--minutes`.

use std::{
    collections::VecDeque,
    time::{Duration, Instant},
};

use anyhow::Context as _;
use futures_util::StreamExt as _;

use crate::{open, register, rss_kib, Socket, STEP};

pub struct Soak {
    pub minutes: u64,
    pub connections: usize,
    pub churn: usize,
    pub logins: usize,
    pub messages: usize,
    pub every: u64,
}

pub async fn run(url: &str, host: &str, pid: Option<&str>, s: Soak) -> anyhow::Result<()> {
    let client = reqwest::Client::builder().timeout(STEP).build()?;
    // A handful of users in one group: every message reaches every held socket.
    let mut users = Vec::new();
    for _ in 0..10 {
        users.push(register(url, "soak").await?);
    }
    let member_ids: Vec<i64> = users.iter().skip(1).map(|(_, id)| *id).collect();
    let group: serde_json::Value = client
        .post(format!("{url}/groups/create"))
        .bearer_auth(&users[0].0)
        .json(&serde_json::json!({"name": "soak", "member_ids": member_ids}))
        .send()
        .await?
        .json()
        .await?;
    let group_id = group["group"]["id"].as_i64().context("group id")?;
    let login_name = format!("soak_login_{}", std::process::id());
    let body = serde_json::json!({"username": login_name, "email": format!("{login_name}@example.com"), "password": "soak-password-1"});
    client.post(format!("{url}/auth/register")).json(&body).send().await?.error_for_status()?;

    let mut held = Vec::with_capacity(s.connections);
    for (i, batch) in (0..s.connections).collect::<Vec<_>>().chunks(250).enumerate() {
        let token = &users[i % users.len()].0;
        for socket in futures_util::future::join_all(batch.iter().map(|_| open(host, token))).await {
            held.push(drain(socket?));
        }
    }
    let mut churned: VecDeque<tokio::task::JoinHandle<()>> = VecDeque::new();
    let (mut logins, mut sent, mut opened, mut busy) = (0usize, 0usize, 0usize, 0usize);
    let started = Instant::now();
    let end = started + Duration::from_secs(s.minutes * 60);
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut next_report = started;
    println!("| elapsed | server RSS | open sockets | logins | messages | connections opened |");
    println!("|---|---|---|---|---|---|");
    while Instant::now() < end {
        tick.tick().await;
        // Churn: new connections in, the oldest churned ones out.
        let token = &users[opened % users.len()].0;
        for socket in futures_util::future::join_all((0..s.churn).map(|_| open(host, token))).await {
            churned.push_back(drain(socket?));
            opened += 1;
        }
        while churned.len() > s.churn * 5 {
            if let Some(old) = churned.pop_front() {
                old.abort();
            }
        }
        // Logins and messages, concurrently.
        let login = (0..s.logins).map(|_| {
            let body = serde_json::json!({"username": login_name, "password": "soak-password-1"});
            client.post(format!("{url}/auth/login")).json(&body).send()
        });
        let send = (0..s.messages).map(|i| {
            let (token, _) = &users[i % users.len()];
            let body = serde_json::json!({"group_id": group_id, "content": format!("soak {sent} {i}")});
            client.post(format!("{url}/groups/send")).bearer_auth(token).json(&body).send()
        });
        let (login, send) = tokio::join!(futures_util::future::join_all(login), futures_util::future::join_all(send));
        for answer in login.into_iter().chain(send) {
            match answer?.status().as_u16() {
                200 | 201 => {}
                503 => busy += 1,
                other => anyhow::bail!("unexpected status {other}"),
            }
        }
        logins += s.logins;
        sent += s.messages;
        if Instant::now() >= next_report {
            next_report += Duration::from_secs(s.every);
            let rss = pid.map(rss_kib).transpose()?.map_or("-".into(), |k| format!("{:.1} MiB", k as f64 / 1024.0));
            println!(
                "| {:>4} s | {rss} | {} | {logins} | {sent} | {opened} |",
                started.elapsed().as_secs(),
                held.len() + churned.len()
            );
        }
    }
    println!("busy answers (503): {busy}");
    for h in held.into_iter().chain(churned) {
        h.abort();
    }
    Ok(())
}

/// Keeps reading a socket (so the server never sees it as slow; tungstenite answers pings as
/// it reads) until it closes or is aborted.
fn drain(mut socket: Socket) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move { while let Some(Ok(_)) = socket.next().await {} })
}
