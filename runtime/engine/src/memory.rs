//! The node's guest-memory budget: every running guest's linear memory is charged here as it
//! grows (the store's limiter sees every grow) and released when its store is dropped. A grow
//! that would pass the node's budget, or the tenant's share of it, fails that guest instead of
//! letting the kernel's OOM killer pick a victim among every tenant on the node. While the
//! committed total is above the high-water mark, new invocations wait for memory to be released.

use geyser_core::TenantId;
use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::Notify;

/// Why a grow within the function's own limit was still refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemoryShortage {
    /// Every running guest together would pass the node's budget.
    Node,
    /// The tenant's running guests together would pass its share of the node's budget.
    TenantShare,
}

impl MemoryShortage {
    pub fn as_str(self) -> &'static str {
        match self {
            MemoryShortage::Node => "node",
            MemoryShortage::TenantShare => "tenant_share",
        }
    }
}

/// The committed guest memory of a node, against its budget.
#[derive(Debug)]
pub struct NodeMemory {
    budget: u64,
    high_water: u64,
    committed: AtomicU64,
    /// The highest `committed` has been since the node started.
    peak: AtomicU64,
    /// Committed bytes by tenant (entries at zero are removed).
    tenants: Mutex<HashMap<TenantId, u64>>,
    released: Notify,
    /// Grows refused because of the node's budget, the tenant's share; invocations refused
    /// because the node stayed above its high-water mark.
    refused_node: AtomicU64,
    refused_share: AtomicU64,
    refused_high_water: AtomicU64,
}

/// One store's claim on the node's memory: who it runs for and how much of the budget the
/// tenant's running guests may hold together.
#[derive(Debug, Clone)]
pub struct MemoryAccount {
    pub node: std::sync::Arc<NodeMemory>,
    pub tenant: TenantId,
    pub share_bytes: u64,
}

impl NodeMemory {
    /// A budget of `budget_bytes`; new invocations wait while more than `high_water_percent` of
    /// it is committed.
    pub fn new(budget_bytes: u64, high_water_percent: u8) -> NodeMemory {
        NodeMemory {
            budget: budget_bytes,
            high_water: budget_bytes / 100 * u64::from(high_water_percent.min(100)),
            committed: AtomicU64::new(0),
            peak: AtomicU64::new(0),
            tenants: Mutex::new(HashMap::new()),
            released: Notify::new(),
            refused_node: AtomicU64::new(0),
            refused_share: AtomicU64::new(0),
            refused_high_water: AtomicU64::new(0),
        }
    }

    pub fn budget_bytes(&self) -> u64 {
        self.budget
    }

    pub fn committed_bytes(&self) -> u64 {
        self.committed.load(Ordering::Relaxed)
    }

    /// The most guest memory committed at once since the node started.
    pub fn peak_bytes(&self) -> u64 {
        self.peak.load(Ordering::Relaxed)
    }

    /// Bytes a tenant's running guests hold now.
    pub fn tenant_bytes(&self, tenant: TenantId) -> u64 {
        self.lock().get(&tenant).copied().unwrap_or(0)
    }

    /// `percent` of the budget: a tenant's share.
    pub fn share_of(&self, percent: u64) -> u64 {
        if percent >= 100 {
            self.budget
        } else {
            self.budget / 100 * percent
        }
    }

    /// Refusals so far: grows refused by the node's budget, by a tenant's share, and
    /// invocations that waited in vain for the node to go below its high-water mark.
    pub fn refusals(&self) -> [(&'static str, u64); 3] {
        [
            (
                MemoryShortage::Node.as_str(),
                self.refused_node.load(Ordering::Relaxed),
            ),
            (
                MemoryShortage::TenantShare.as_str(),
                self.refused_share.load(Ordering::Relaxed),
            ),
            (
                "high_water",
                self.refused_high_water.load(Ordering::Relaxed),
            ),
        ]
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<TenantId, u64>> {
        // A panic while holding the lock leaves only plain counters behind: still usable.
        self.tenants.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Charges `bytes` to `tenant`, unless that would pass the node's budget or `share_bytes`.
    pub(crate) fn charge(
        &self,
        tenant: TenantId,
        share_bytes: u64,
        bytes: u64,
    ) -> Result<(), MemoryShortage> {
        let mut tenants = self.lock();
        let held = tenants.get(&tenant).copied().unwrap_or(0);
        if held.saturating_add(bytes) > share_bytes {
            self.refused_share.fetch_add(1, Ordering::Relaxed);
            return Err(MemoryShortage::TenantShare);
        }
        // Every change of `committed` happens under the lock: check and add are one step.
        let committed = self.committed.load(Ordering::Relaxed);
        if committed.saturating_add(bytes) > self.budget {
            self.refused_node.fetch_add(1, Ordering::Relaxed);
            return Err(MemoryShortage::Node);
        }
        self.committed.store(committed + bytes, Ordering::Relaxed);
        self.peak.fetch_max(committed + bytes, Ordering::Relaxed);
        tenants.insert(tenant, held + bytes);
        Ok(())
    }

    /// Gives back what a store held (its limiter's total) when the store is dropped.
    pub(crate) fn release(&self, tenant: TenantId, bytes: u64) {
        if bytes == 0 {
            return;
        }
        {
            let mut tenants = self.lock();
            let committed = self.committed.load(Ordering::Relaxed);
            self.committed
                .store(committed.saturating_sub(bytes), Ordering::Relaxed);
            if let Some(held) = tenants.get_mut(&tenant) {
                *held = held.saturating_sub(bytes);
                if *held == 0 {
                    tenants.remove(&tenant);
                }
            }
        }
        self.released.notify_waiters();
    }

    /// Waits (at most `wait`) until the committed total is at or below the high-water mark.
    /// False if it stayed above it; the refusal is counted.
    pub async fn wait_below_high_water(&self, wait: Duration) -> bool {
        let below = async {
            loop {
                let released = self.released.notified();
                if self.committed_bytes() <= self.high_water {
                    return;
                }
                released.await;
            }
        };
        if self.committed_bytes() <= self.high_water
            || tokio::time::timeout(wait, below).await.is_ok()
        {
            return true;
        }
        self.refused_high_water.fetch_add(1, Ordering::Relaxed);
        false
    }
}

/// The default budget: 75 % of the memory this process may use — the cgroup's limit when
/// there is one, else the machine's memory. `None` when neither can be read.
pub fn default_budget_bytes() -> Option<u64> {
    let machine = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|text| meminfo_total(&text));
    let cgroup = std::fs::read_to_string("/sys/fs/cgroup/memory.max")
        .ok()
        .and_then(|text| text.trim().parse::<u64>().ok());
    let limit = match (machine, cgroup) {
        (Some(m), Some(c)) => m.min(c),
        (m, c) => m.or(c)?,
    };
    Some(limit / 4 * 3)
}

/// `MemTotal` of `/proc/meminfo`, in bytes.
fn meminfo_total(text: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1 << 20;

    #[test]
    fn charges_within_the_budget_and_the_share_and_refuses_beyond() {
        let node = NodeMemory::new(100 * MIB, 90);
        let (a, b) = (TenantId(1), TenantId(2));
        let share = node.share_of(50);
        assert_eq!(share, 50 * MIB);
        node.charge(a, share, 40 * MIB).unwrap();
        assert_eq!(
            node.charge(a, share, 20 * MIB),
            Err(MemoryShortage::TenantShare)
        );
        node.charge(b, node.share_of(100), 50 * MIB).unwrap();
        assert_eq!(
            node.charge(b, node.share_of(100), 20 * MIB),
            Err(MemoryShortage::Node)
        );
        assert_eq!(node.committed_bytes(), 90 * MIB);
        node.release(a, 40 * MIB);
        assert_eq!(node.tenant_bytes(a), 0);
        assert_eq!(node.committed_bytes(), 50 * MIB);
        assert_eq!(node.peak_bytes(), 90 * MIB, "the peak outlives the release");
        let counts = node.refusals();
        assert_eq!(counts[0], ("node", 1));
        assert_eq!(counts[1], ("tenant_share", 1));
    }

    #[tokio::test]
    async fn waits_for_a_release_below_the_high_water_mark() {
        let node = std::sync::Arc::new(NodeMemory::new(100 * MIB, 50));
        let tenant = TenantId(1);
        node.charge(tenant, 100 * MIB, 80 * MIB).unwrap();
        assert!(!node.wait_below_high_water(Duration::from_millis(20)).await);
        assert_eq!(node.refusals()[2], ("high_water", 1));
        let releaser = node.clone();
        let waiter =
            tokio::spawn(async move { node.wait_below_high_water(Duration::from_secs(30)).await });
        tokio::task::yield_now().await;
        releaser.release(tenant, 40 * MIB);
        assert!(waiter.await.unwrap());
    }

    #[test]
    fn reads_the_machine_memory() {
        assert_eq!(
            meminfo_total("MemTotal:       24000000 kB\nMemFree: 1 kB\n"),
            Some(24_000_000 * 1024)
        );
        assert!(default_budget_bytes().is_some_and(|b| b > 0));
    }
}
