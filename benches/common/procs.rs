//! Child processes for the cluster benchmark and tests (`tests/it/cluster.rs`, by
//! `#[path]`): a process killed when dropped, and a free loopback port.

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
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}
