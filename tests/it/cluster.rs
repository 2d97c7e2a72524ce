//! The same SQL on Apache DataFusion Ballista: `yieldlake-scheduler` and two
//! `yieldlake-executor`s as separate processes on loopback ports. The query suite gives
//! what the embedded engine gives, through the library, `yieldlake sql --cluster` and
//! `yieldlake serve --cluster`; a limited token reads only its lots there too; an
//! executor killed mid-query leaves the query complete or failed with a clear error, and
//! the cluster serving; a bad address is refused clearly; the deployment examples in
//! `contrib/cluster/` use only flags the binaries take.

#[path = "../../benches/common/procs.rs"]
mod procs;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use arrow::array::RecordBatch;
use yieldlake::query::{self, QueryConfig};

use procs::{Proc, executor_args, free_port};

use super::serve::{ALL, client, count, local, make_token, remote, rows, rt, same, sample_lake, start, suite, texts};

fn exe(name: &str) -> PathBuf {
    assert_cmd::cargo::cargo_bin(name)
}

/// Spawns `name` and forwards each stderr line to `lines` (the processes log there).
fn spawn(name: &str, args: &[String], lines: mpsc::Sender<(usize, String)>, id: usize) -> Proc {
    let mut child = Command::new(exe(name))
        .args(args)
        .env("YIELDLAKE_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    let err = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for l in BufReader::new(err).lines().map_while(Result::ok) {
            if lines.send((id, l)).is_err() {
                break;
            }
        }
    });
    Proc(child)
}

struct Cluster {
    url: String,
    _scheduler: Proc,
    executors: Vec<Proc>,
    lines: mpsc::Receiver<(usize, String)>,
    log: Vec<(usize, String)>,
}

impl Cluster {
    /// One scheduler and `n` executors, each executor registered before this returns.
    fn start(n: usize) -> Cluster {
        let (tx, rx) = mpsc::channel();
        let port = free_port();
        let scheduler = spawn(
            "yieldlake-scheduler",
            &["--bind-host", "127.0.0.1", "--bind-port", &port.to_string(), "--executor-timeout-seconds", "6"].map(String::from),
            tx.clone(),
            0,
        );
        let mut c =
            Cluster { url: format!("df://127.0.0.1:{port}"), _scheduler: scheduler, executors: Vec::new(), lines: rx, log: Vec::new() };
        c.wait_for(0, "listening on", Duration::from_secs(60));
        for i in 1..=n {
            let mut args = executor_args(port);
            args.extend(["--vcores", "2", "--executor-heartbeat-interval-seconds", "1"].map(String::from));
            c.executors.push(spawn("yieldlake-executor", &args, tx.clone(), i));
            c.wait_for(i, "registration succeed", Duration::from_secs(60));
        }
        c
    }

    /// Waits until process `id` logs a line containing `what`.
    fn wait_for(&mut self, id: usize, what: &str, limit: Duration) {
        let end = Instant::now() + limit;
        if self.log.iter().any(|(i, l)| *i == id && l.contains(what)) {
            return;
        }
        while let Some(left) = end.checked_duration_since(Instant::now()) {
            match self.lines.recv_timeout(left) {
                Ok((i, l)) => {
                    let hit = i == id && l.contains(what);
                    self.log.push((i, l));
                    if hit {
                        return;
                    }
                }
                Err(_) => break,
            }
        }
        panic!("process {id} did not log {what:?} within {limit:?}; its log:\n{}", self.log_of(id));
    }

    fn log_of(&self, id: usize) -> String {
        self.log.iter().filter(|(i, _)| *i == id).map(|(_, l)| l.as_str()).collect::<Vec<_>>().join("\n")
    }

    fn config(&self) -> QueryConfig {
        QueryConfig { cluster: Some(self.url.clone()), ..Default::default() }
    }
}

async fn on_cluster(lake: &Path, cfg: &QueryConfig, sql: &str) -> datafusion::error::Result<Vec<RecordBatch>> {
    let ctx = query::session(lake, cfg).await?;
    query::query(&ctx, sql, false).await?.collect().await
}

#[test]
fn the_suite_on_a_cluster_equals_the_embedded_engine() {
    let dir = tempfile::tempdir().unwrap();
    let lake = sample_lake(dir.path(), ALL);
    let mut c = Cluster::start(2);
    let cfg = c.config();
    rt().block_on(async {
        for (name, sql) in suite() {
            let want = local(&lake, &sql).await;
            let got = on_cluster(&lake, &cfg, &sql).await.unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(!rows(&want).is_empty(), "{name}: the suite's query returns rows");
            assert!(same(&rows(&got), &rows(&want)), "{name}: the cluster's rows differ from the embedded engine's");
        }
        // Our functions on the executors, and views over tables with no files yet.
        let sql = "SELECT test_num, robust_sigma(result) AS s, cpk(avg(result), stddev(result), min(lo_limit), max(hi_limit)) AS c \
                   FROM results GROUP BY test_num ORDER BY test_num";
        let want = local(&lake, sql).await;
        assert!(same(&rows(&on_cluster(&lake, &cfg, sql).await.unwrap()), &rows(&want)));
        let sql = "SELECT count(*) FROM pat_final_parts";
        assert!(same(&rows(&on_cluster(&lake, &cfg, sql).await.unwrap()), &rows(&local(&lake, sql).await)));
        // Read-only there too.
        let e = on_cluster(&lake, &cfg, "CREATE TABLE x AS SELECT 1").await.unwrap_err();
        assert!(e.to_string().contains(query::READ_ONLY), "{e}");
    });
    // The two executors both ran tasks.
    while let Ok(l) = c.lines.try_recv() {
        c.log.push(l);
    }
    for i in 1..=2 {
        assert!(c.log.iter().any(|(id, l)| *id == i && l.contains("Execute task")), "executor {i} ran no task:\n{}", c.log_of(i));
    }

    // The CLI, as a user runs it: `sql --cluster` prints what the embedded `sql` prints.
    let q = "SELECT lot_id, count(*) AS n FROM final_parts GROUP BY lot_id ORDER BY lot_id";
    let run = |extra: &[&str]| {
        let o = Command::new(exe("yieldlake"))
            .args(["sql", "--lake", lake.to_str().unwrap(), "--format", "csv", q])
            .args(extra)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8(o.stdout).unwrap()
    };
    let embedded = run(&[]);
    assert!(embedded.lines().count() > 2, "{embedded}");
    assert_eq!(run(&["--cluster", &c.url]), embedded);

    // `serve --cluster`: a Flight SQL client gets the cluster's answer.
    let serve = start(&lake, &["--cluster", &c.url]);
    rt().block_on(async {
        let mut flight = client(&serve.addr, None).await;
        let (name, sql) = suite().into_iter().find(|(n, _)| n.contains("yield_by")).expect("the suite has a table function");
        let got = remote(&mut flight, &sql).await.unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(same(&rows(&got), &rows(&local(&lake, &sql).await)), "{name} through serve --cluster");
    });
}

#[test]
fn an_executor_killed_mid_query_leaves_the_cluster_serving() {
    let dir = tempfile::tempdir().unwrap();
    let lake = sample_lake(dir.path(), ALL);
    let mut c = Cluster::start(2);
    let cfg = c.config();
    // Long enough to be caught running: every pair of results of one test (~10^8).
    let heavy = "SELECT count(*) AS n FROM results a JOIN results b ON a.test_num = b.test_num";
    let rt = rt();
    let (lake2, cfg2) = (lake.clone(), cfg.clone());
    let running = rt.spawn(async move { on_cluster(&lake2, &cfg2, heavy).await });
    // Kill executor 1 once it runs a task of the query.
    c.wait_for(1, "Execute task", Duration::from_secs(120));
    assert!(!running.is_finished(), "the query ended before the kill: make it heavier");
    let mut victim = c.executors.remove(0);
    victim.0.kill().unwrap();
    victim.0.wait().unwrap();
    let outcome = rt.block_on(async { tokio::time::timeout(Duration::from_secs(300), running).await });
    let outcome = outcome.expect("the query ends (completes or fails) within 5 minutes").unwrap();
    eprintln!("the query after the kill: {:?}", outcome.as_ref().map(|b| rows(b)));
    match outcome {
        Ok(got) => {
            let want = rt.block_on(local(&lake, heavy));
            assert!(same(&rows(&got), &rows(&want)), "completed on the other executor with the embedded engine's count");
        }
        Err(e) => {
            let msg = e.to_string();
            assert!(msg.len() > 20 && !msg.contains("panicked"), "a clear error: {msg}");
        }
    }
    // The cluster keeps serving on the executor left.
    let sql = "SELECT lot_id, count(*) FROM parts GROUP BY lot_id ORDER BY lot_id";
    let want = rt.block_on(local(&lake, sql));
    let got = rt.block_on(async {
        let end = Instant::now() + Duration::from_secs(120);
        loop {
            match on_cluster(&lake, &cfg, sql).await {
                Ok(b) => break b,
                Err(e) if Instant::now() < end => {
                    eprintln!("after the kill: {e}; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                Err(e) => panic!("the cluster stopped serving after an executor was killed: {e}\n{}", c.log_of(0)),
            }
        }
    });
    assert!(same(&rows(&got), &rows(&want)));
}

#[test]
fn a_bad_cluster_address_is_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let lake = sample_lake(dir.path(), &["v4-2007"]);
    for (url, why) in
        [("http://127.0.0.1:50050", "df://"), ("df://127.0.0.1", "no port"), ("df://:50050", "no host"), ("df://h:99999", "port")]
    {
        let o =
            Command::new(exe("yieldlake")).args(["sql", "--lake", lake.to_str().unwrap(), "--cluster", url, "SELECT 1"]).output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success() && err.contains(url) && err.contains(why), "{url}: {err}");
    }
    // Nothing listening: an error naming the scheduler, not a hang.
    let url = format!("df://127.0.0.1:{}", free_port());
    let o = Command::new(exe("yieldlake"))
        .args(["sql", "--lake", lake.to_str().unwrap(), "--cluster", &url, "SELECT count(*) FROM parts"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("127.0.0.1"), "{err}");
}

#[test]
fn a_limited_token_reads_only_its_lots_on_a_cluster() {
    let dir = tempfile::tempdir().unwrap();
    let lake = sample_lake(dir.path(), ALL);
    let c = Cluster::start(1);
    let (entry, token) = make_token("ws", &["--product", "YL-AMS2400"]);
    let tokens = dir.path().join("tokens.toml");
    std::fs::write(&tokens, entry).unwrap();
    let serve = start(&lake, &["--cluster", &c.url, "--tokens", tokens.to_str().unwrap()]);
    let lots = ["YL2026-01", "YL2026-V7"];
    rt().block_on(async {
        let mut t = client(&serve.addr, Some(&token)).await;
        for table in ["parts", "results", "files", "final_parts", "results_final", "final_dies"] {
            let seen = texts(&remote(&mut t, &format!("SELECT DISTINCT CAST(lot_id AS VARCHAR) FROM {table}")).await.unwrap());
            assert!(!seen.is_empty() && seen.iter().all(|l| lots.contains(&l.as_str())), "{table}: {seen:?}");
        }
        let want = local(&lake, "SELECT count(*) FROM parts WHERE lot_id IN ('YL2026-01', 'YL2026-V7')").await;
        assert_eq!(count(&remote(&mut t, "SELECT count(*) FROM parts").await.unwrap()), count(&want));
        // Table functions are computed on the scheduler without the limit, and filtered
        // after: nothing of another lot comes back.
        for sql in [
            "SELECT count(*) FROM yield_by('lot') WHERE grp = 'YL2026-P01'",
            "SELECT count(*) FROM yield_by('wafer') WHERE grp LIKE 'YL2026-P01%'",
        ] {
            assert_eq!(count(&remote(&mut t, sql).await.unwrap()), 0, "{sql}");
        }
        assert!(count(&local(&lake, "SELECT count(*) FROM yield_by('lot') WHERE grp = 'YL2026-P01'").await) > 0);
    });
}

#[test]
fn the_deployment_examples_use_flags_the_binaries_take() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("contrib/cluster");
    let help = |name: &str| {
        let o = Command::new(exe(name)).arg("--help").output().unwrap();
        assert!(o.status.success());
        String::from_utf8(o.stdout).unwrap()
    };
    let (sched, exec) = (help("yieldlake-scheduler"), help("yieldlake-executor"));
    let mut checked = 0;
    for f in ["yieldlake-scheduler.service", "yieldlake-executor@.service", "docker-compose.yml"] {
        let text = std::fs::read_to_string(dir.join(f)).unwrap();
        for line in text.lines().filter(|l| !l.trim_start().starts_with('#')) {
            let help = if line.contains("yieldlake-scheduler") || f.contains("scheduler") { &sched } else { &exec };
            for flag in
                line.split(|c: char| c.is_whitespace() || c == '"' || c == ',' || c == '[' || c == '\'').filter(|w| w.starts_with("--"))
            {
                assert!(
                    help.contains(&format!("{flag} ")) || help.contains(&format!("{flag}\n")),
                    "{f}: {flag} is not a flag of the binary"
                );
                checked += 1;
            }
        }
    }
    assert!(checked >= 20, "only {checked} flags found in contrib/cluster");
}
