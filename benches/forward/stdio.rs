//! Newline-delimited JSON-RPC over pipes: sequential latency and pipelined throughput.

use super::*;

// ---------------------------------------------------------------------------------------------
// Measurements

pub(crate) fn call_line(id: u64, tool: &str) -> String {
    format!(
        r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"{tool}","arguments":{{"message":"{MESSAGE}"}}}}}}"#
    )
}

pub(crate) fn check_echo(msg: &Value) -> Result<()> {
    let text = msg["result"]["content"][0]["text"].as_str();
    if text != Some(&format!("Echo: {MESSAGE}")) || msg["result"]["isError"] == json!(true) {
        bail!("unexpected echo answer: {msg}");
    }
    Ok(())
}

#[derive(Clone, Copy, Debug)]
pub(crate) struct Latency {
    pub(crate) p50_us: f64,
    pub(crate) p99_us: f64,
    pub(crate) mean_us: f64,
    pub(crate) max_us: f64,
}

pub(crate) fn latency(
    server: &mut Server,
    tool: &str,
    hub: Option<u32>,
    upstream: u32,
) -> Result<(Latency, CpuUse)> {
    timed_calls(hub, upstream, |_| {
        let id = server.next_id;
        server.next_id += 1;
        let line = call_line(id, tool);
        let t0 = Instant::now();
        {
            let w = server.stdin.as_mut().unwrap();
            w.write_all(line.as_bytes())?;
            w.write_all(b"\n")?;
            w.flush()?;
        }
        let msg = server.response(id)?;
        let dt = t0.elapsed();
        check_echo(&msg)?;
        Ok(dt)
    })
}

/// `WARMUP` untimed then `SEQ_CALLS` timed sequential calls; `call(i)` makes call `i` and
/// returns its duration. CPU use is measured over the timed calls only.
pub(crate) fn timed_calls(
    hub: Option<u32>,
    upstream: u32,
    mut call: impl FnMut(usize) -> Result<Duration>,
) -> Result<(Latency, CpuUse)> {
    let mut samples = Vec::with_capacity(SEQ_CALLS);
    let mut probe = None;
    let mut client0 = 0;
    for i in 0..WARMUP + SEQ_CALLS {
        if i == WARMUP {
            probe = Some(CpuProbe::start(hub, upstream));
            client0 = thread_cpu_ns();
        }
        let dt = call(i)?;
        if i >= WARMUP {
            samples.push(dt.as_nanos() as f64 / 1000.0);
        }
    }
    let cpu = probe.unwrap().finish(SEQ_CALLS, thread_cpu_ns() - client0);
    Ok((summarize(samples), cpu))
}

pub(crate) fn summarize(mut samples: Vec<f64>) -> Latency {
    samples.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let pct =
        |p: f64| samples[((samples.len() as f64 * p).ceil() as usize).clamp(1, samples.len()) - 1];
    Latency {
        p50_us: pct(0.50),
        p99_us: pct(0.99),
        mean_us: samples.iter().sum::<f64>() / samples.len() as f64,
        max_us: *samples.last().unwrap(),
    }
}

/// `PIPE_CALLS` calls with `IN_FLIGHT` outstanding; returns calls/s and CPU use (`hub`: the
/// hub's pid when measuring through it; `upstream`: the demo_server's).
pub(crate) fn throughput(
    server: &mut Server,
    tool: &str,
    hub: Option<u32>,
    upstream: u32,
) -> Result<(f64, CpuUse)> {
    let first = server.next_id;
    server.next_id += PIPE_CALLS as u64;
    let mut stdin = server.stdin.take().unwrap();
    let mut stdout = server.stdout.take().unwrap();
    let (permit_tx, permit_rx) = mpsc::channel::<()>();
    for _ in 0..IN_FLIGHT {
        permit_tx.send(()).unwrap();
    }
    let tool = tool.to_string();
    let label = server.label;
    let probe = CpuProbe::start(hub, upstream);
    let reader_cpu0 = thread_cpu_ns();
    let (result, stdin, stdout) = std::thread::scope(|s| {
        let writer = s.spawn(move || -> Result<(BufWriter<ChildStdin>, u64)> {
            let cpu0 = thread_cpu_ns();
            let mut sent = 0usize;
            while sent < PIPE_CALLS {
                permit_rx
                    .recv_timeout(Duration::from_secs(30))
                    .map_err(|_| {
                        anyhow!("{label}: no answer within 30 s during the pipelined run")
                    })?;
                let mut batch = 1;
                while sent + batch < PIPE_CALLS && permit_rx.try_recv().is_ok() {
                    batch += 1;
                }
                for k in 0..batch {
                    stdin.write_all(call_line(first + (sent + k) as u64, &tool).as_bytes())?;
                    stdin.write_all(b"\n")?;
                }
                stdin.flush()?;
                sent += batch;
            }
            Ok((stdin, thread_cpu_ns() - cpu0))
        });
        let reader = (|| -> Result<()> {
            let mut pending: HashSet<u64> = (first..first + PIPE_CALLS as u64).collect();
            let mut line = String::new();
            while !pending.is_empty() {
                line.clear();
                if stdout.read_line(&mut line)? == 0 {
                    bail!("{label}: stdout closed during the pipelined run");
                }
                let msg: Value = serde_json::from_str(line.trim())?;
                if msg.get("method").is_some() {
                    continue; // notifications / server requests are not part of this test
                }
                let id = msg["id"]
                    .as_u64()
                    .ok_or_else(|| anyhow!("{label}: answer without id: {msg}"))?;
                if !pending.remove(&id) {
                    bail!("{label}: unexpected or duplicate id {id}");
                }
                check_echo(&msg)?;
                let _ = permit_tx.send(());
            }
            Ok(())
        })();
        drop(permit_tx);
        let stdin = writer.join().expect("writer thread panicked");
        (reader, stdin, stdout)
    });
    let reader_cpu = thread_cpu_ns() - reader_cpu0;
    server.stdout = Some(stdout);
    let mut writer_cpu = 0;
    match stdin {
        Ok((w, cpu)) => {
            server.stdin = Some(w);
            writer_cpu = cpu;
        }
        Err(e) if result.is_ok() => return Err(e),
        Err(_) => {}
    }
    result?;
    let cpu = probe.finish(PIPE_CALLS, reader_cpu + writer_cpu);
    Ok((PIPE_CALLS as f64 / cpu.wall_s, cpu))
}
