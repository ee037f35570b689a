//! B13: a 100 MiB file up and down through Ferry over loopback, against the physical
//! limit here: the disk's own speed writing (and fsyncing) the same bytes in the same
//! folder the server keeps its files in. And the memory the server holds meanwhile,
//! sampled every 20 ms: it streams chunks (4 MiB at most per request) and never holds a
//! whole file. Ferry only: the Socket.IO peer has no file transfer to compare.

use std::io::Write;
use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use ferry_client::api::Api;
use ferry_proto::NewUpload;
use sha2::{Digest, Sha256};

use crate::report::Outcome;
use crate::scenarios::Run;
use crate::setup;
use crate::target::Server;
use crate::wire::Target;

const MIB: f64 = 1024.0 * 1024.0;

/// The server's peak resident memory while `work` runs, sampled every 20 ms.
async fn peak_rss<T>(server: &Server, work: impl Future<Output = T>) -> (T, u64) {
    let mut peak = server.usage().rss_bytes;
    let mut work = std::pin::pin!(work);
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    loop {
        tokio::select! {
            out = &mut work => return (out, peak.max(server.usage().rss_bytes)),
            _ = tick.tick() => peak = peak.max(server.usage().rss_bytes),
        }
    }
}

pub async fn b13(run: &Run) -> anyhow::Result<Outcome> {
    let size = if run.quick { 20 } else { 100 } * 1024 * 1024;
    let mut o = Outcome::new("B13", Target::Ferry);
    o.param("file_mib", size as f64 / MIB);
    let name = "ferry_bench_b13";
    let url = setup::fresh_database(&run.admin_url, name).await?;
    let server = Server::start(Target::Ferry, &run.addr, &url, 1).await?;
    o.start(&server);
    let bytes = ferry_testkit::noise(size, 13);
    let sha256 = hex::encode(Sha256::digest(&bytes));

    // The disk: the same bytes into the folder the server's files go to, made durable.
    // Three times, the median kept: on a virtual disk one write's speed swings by 5×
    // (its host's cache takes a flush or not).
    let folder = std::env::temp_dir();
    let baseline = folder.join(format!("ferry-bench-b13-{}", std::process::id()));
    let mut speeds = Vec::new();
    for _ in 0..3 {
        let started = Instant::now();
        {
            let mut file = std::fs::File::create(&baseline)?;
            file.write_all(&bytes)?;
            file.sync_all()?;
        }
        speeds.push(size as f64 / MIB / started.elapsed().as_secs_f64());
        std::fs::remove_file(&baseline)?;
    }
    speeds.sort_by(f64::total_cmp);
    let disk = speeds[1];
    o.figure("disk_write_mib_s", disk);
    o.figure("disk_write_slowest_mib_s", speeds[0]);
    o.figure("disk_write_fastest_mib_s", speeds[2]);

    let api = Api::new(&format!("http://{}", run.addr))?;
    let alice = api
        .register(&ferry_proto::RegisterRequest {
            username: "b13alice".into(),
            password: "correct horse battery".into(),
            display_name: "Alice".into(),
            email: None,
            device_name: None,
        })
        .await?;
    let api = api.with_token(&alice.access_token);
    let idle = server.usage().rss_bytes;
    o.figure("server_rss_idle_mib", idle as f64 / MIB);

    let upload = async {
        let declared = NewUpload {
            name: "b13.bin".into(),
            size: size as u64,
            content_type: "application/octet-stream".into(),
            sha256: sha256.clone(),
        };
        let mut state = api.create_upload(&declared).await?;
        while state.attachment.is_none() {
            let end = (state.offset + state.chunk_size).min(size as u64) as usize;
            let chunk = bytes[state.offset as usize..end].to_vec();
            state = api.upload_chunk(state.id, state.offset, chunk).await?;
        }
        anyhow::Ok(state.attachment.context("stored")?)
    };
    let started = Instant::now();
    let (stored, upload_peak) = peak_rss(&server, upload).await;
    let stored = stored?;
    let up = size as f64 / MIB / started.elapsed().as_secs_f64();
    o.figure("upload_mib_s", up);
    o.figure("upload_vs_disk", up / disk);
    o.figure("server_rss_peak_upload_mib", upload_peak as f64 / MIB);

    let download = async {
        let mut response = api.download(stored.id, 0).await?;
        let mut hasher = Sha256::new();
        let mut got = 0usize;
        while let Some(piece) = response.chunk().await? {
            got += piece.len();
            hasher.update(&piece);
        }
        anyhow::Ok((got, hex::encode(hasher.finalize())))
    };
    let started = Instant::now();
    let (downloaded, download_peak) = peak_rss(&server, download).await;
    let (got, hash) = downloaded?;
    let down = size as f64 / MIB / started.elapsed().as_secs_f64();
    o.figure("download_mib_s", down);
    o.figure("download_vs_disk", down / disk);
    o.figure("server_rss_peak_download_mib", download_peak as f64 / MIB);
    ensure!(got == size, "downloaded {got} of {size} bytes");
    if hash != sha256 {
        o.problem("the downloaded file differs from the uploaded one".into());
    }
    // Streaming, not buffering: the server may grow by a few chunks, never by the file.
    let growth = upload_peak.max(download_peak).saturating_sub(idle);
    o.figure("server_rss_growth_mib", growth as f64 / MIB);
    if growth as usize > size / 2 {
        o.problem(format!(
            "the server grew by {:.0} MiB for a {:.0} MiB file: it buffers files",
            growth as f64 / MIB,
            size as f64 / MIB
        ));
    }
    o.end(&server);
    server.stop().await;
    let _ = setup::drop_database(&run.admin_url, name).await;
    Ok(o)
}
