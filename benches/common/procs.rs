//! Child processes for the cluster benchmark and tests (`tests/it/cluster.rs`, by
//! `#[path]`): a process killed when dropped, a free loopback port, and an executor's
//! flags.

use std::process::Child;

/// A process killed when dropped, pass or fail.
pub struct Proc(pub Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A loopback port free a moment ago.
pub fn free_port() -> u16 {
    free_ports::<1>()[0]
}

/// `N` distinct free loopback ports: every listener is held until all are chosen, since
/// the kernel may hand a port that was just released out again.
pub fn free_ports<const N: usize>() -> [u16; N] {
    let held: Vec<std::net::TcpListener> = (0..N).map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap()).collect();
    std::array::from_fn(|i| held[i].local_addr().unwrap().port())
}

/// `yieldlake-executor` flags for an executor on free loopback ports, registering with the
/// scheduler on `scheduler_port`.
pub fn executor_args(scheduler_port: u16) -> Vec<String> {
    let [flight, grpc] = free_ports::<2>().map(|p| p.to_string());
    let sched = scheduler_port.to_string();
    [
        "--bind-host",
        "127.0.0.1",
        "--bind-port",
        &flight,
        "--bind-grpc-port",
        &grpc,
        "--scheduler-host",
        "127.0.0.1",
        "--scheduler-port",
        &sched,
    ]
    .map(String::from)
    .to_vec()
}
