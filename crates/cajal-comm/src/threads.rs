//! The in-process back end: N ranks as N threads of one process, exchanging through shared slots between
//! two barrier crossings. For tests of multi-rank behaviour without MPI, and for laptops.

use std::sync::{Arc, Mutex, PoisonError};

use crate::barrier::SpinBarrier;
use crate::{check_root, CommError, Communicator, ReduceOp};

/// What the ranks of one world share.
#[derive(Debug)]
struct Hub {
    size: usize,
    barrier: SpinBarrier,
    /// `slots[from * size + to]`: the data rank `from` sends to rank `to` in the current collective.
    slots: Vec<Mutex<Vec<u64>>>,
}

/// One rank's handle on an in-process world.
#[derive(Debug)]
pub struct ThreadsComm {
    rank: usize,
    hub: Arc<Hub>,
}

/// A world of `n` in-process ranks; hand one handle to each rank's thread.
#[must_use]
pub fn threads_world(n: usize) -> Vec<ThreadsComm> {
    let n = n.max(1);
    let hub = Arc::new(Hub {
        size: n,
        barrier: SpinBarrier::new(n),
        slots: (0..n * n).map(|_| Mutex::new(Vec::new())).collect(),
    });
    (0..n).map(|rank| ThreadsComm { rank, hub: Arc::clone(&hub) }).collect()
}

impl ThreadsComm {
    fn wait(&self) -> Result<(), CommError> {
        self.hub.barrier.wait().map_err(|_| CommError::Aborted)
    }

    fn put(&self, to: usize, data: &[u64]) {
        let mut slot = self.hub.slots[self.rank * self.hub.size + to].lock().unwrap_or_else(PoisonError::into_inner);
        slot.clear();
        slot.extend_from_slice(data);
    }

    /// Everything sent to this rank, in rank order. Call between the two barriers of a collective.
    fn take_all(&self) -> Vec<u64> {
        let mut out = Vec::new();
        for from in 0..self.hub.size {
            let slot = self.hub.slots[from * self.hub.size + self.rank].lock().unwrap_or_else(PoisonError::into_inner);
            out.extend_from_slice(&slot);
        }
        out
    }

    /// Sends `data` to every rank and returns every rank's contribution, in rank order.
    fn exchange_same(&mut self, data: &[u64]) -> Result<Vec<Vec<u64>>, CommError> {
        for to in 0..self.hub.size {
            self.put(to, data);
        }
        self.wait()?;
        let parts = (0..self.hub.size)
            .map(|from| {
                self.hub.slots[from * self.hub.size + self.rank].lock().unwrap_or_else(PoisonError::into_inner).clone()
            })
            .collect();
        self.wait()?;
        Ok(parts)
    }
}

impl Communicator for ThreadsComm {
    fn rank(&self) -> usize {
        self.rank
    }

    fn size(&self) -> usize {
        self.hub.size
    }

    fn all_to_all_v(&mut self, send: &[Vec<u64>]) -> Result<Vec<u64>, CommError> {
        if send.len() != self.hub.size {
            return Err(CommError::Transport(format!(
                "all_to_all_v needs {} buffers, got {}",
                self.hub.size,
                send.len()
            )));
        }
        for (to, data) in send.iter().enumerate() {
            self.put(to, data);
        }
        self.wait()?;
        let out = self.take_all();
        self.wait()?;
        Ok(out)
    }

    fn all_gather_u64(&mut self, local: &[u64]) -> Result<Vec<u64>, CommError> {
        Ok(self.exchange_same(local)?.concat())
    }

    fn all_reduce_u64(&mut self, values: &[u64], op: ReduceOp) -> Result<Vec<u64>, CommError> {
        let parts = self.exchange_same(values)?;
        let mut acc = parts[0].clone();
        for p in &parts[1..] {
            op.fold_u64(&mut acc, p);
        }
        Ok(acc)
    }

    fn all_reduce_f64(&mut self, values: &[f64], op: ReduceOp) -> Result<Vec<f64>, CommError> {
        let bits: Vec<u64> = values.iter().map(|v| v.to_bits()).collect();
        let parts = self.exchange_same(&bits)?;
        let as_f64 = |p: &Vec<u64>| p.iter().map(|&b| f64::from_bits(b)).collect::<Vec<f64>>();
        let mut acc = as_f64(&parts[0]);
        for p in &parts[1..] {
            op.fold_f64(&mut acc, &as_f64(p));
        }
        Ok(acc)
    }

    fn broadcast_u64(&mut self, root: usize, data: &mut Vec<u64>) -> Result<(), CommError> {
        check_root(root, self.hub.size)?;
        // The root leaves its data once, in its slot to itself; the others copy it from there.
        if self.rank == root {
            self.put(root, data);
        }
        self.wait()?;
        if self.rank != root {
            let slot = self.hub.slots[root * self.hub.size + root].lock().unwrap_or_else(PoisonError::into_inner);
            data.clear();
            data.extend_from_slice(&slot);
        }
        self.wait()
    }

    fn barrier(&mut self) -> Result<(), CommError> {
        self.wait()
    }

    fn abort(&mut self, _exit_code: i32) {
        self.hub.barrier.abort();
    }

    fn backend(&self) -> &'static str {
        "threads"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collectives_agree_across_in_process_ranks() {
        let world = threads_world(3);
        std::thread::scope(|s| {
            for mut c in world {
                s.spawn(move || {
                    let r = c.rank() as u64;
                    // Rank r sends [r, to] to each rank `to`.
                    let send: Vec<Vec<u64>> = (0..3).map(|to| vec![r, to]).collect();
                    let got = c.all_to_all_v(&send).unwrap();
                    assert_eq!(got, vec![0, r, 1, r, 2, r]);
                    assert_eq!(c.all_gather_u64(&vec![r; r as usize]).unwrap(), vec![1, 2, 2]);
                    assert_eq!(c.all_reduce_u64(&[r, 10 - r], ReduceOp::Sum).unwrap(), vec![3, 27]);
                    assert_eq!(c.all_reduce_u64(&[r + 4], ReduceOp::Min).unwrap(), vec![4]);
                    assert_eq!(c.all_reduce_f64(&[r as f64 * 0.5], ReduceOp::Max).unwrap(), vec![1.0]);
                    // Rank 1 broadcasts 10 + its rank, the others' data is dropped.
                    let mut data = vec![10 + r; 1 + r as usize];
                    c.broadcast_u64(1, &mut data).unwrap();
                    assert_eq!(data, vec![11, 11]);
                    assert_eq!(c.acts_as_root(1), r == 1);
                    c.barrier().unwrap();
                });
            }
        });
    }

    #[test]
    fn a_failing_rank_releases_the_others() {
        let mut world = threads_world(2);
        let mut failing = world.pop().unwrap();
        let mut waiting = world.pop().unwrap();
        std::thread::scope(|s| {
            let h = s.spawn(move || waiting.barrier());
            std::thread::sleep(std::time::Duration::from_millis(20));
            failing.abort(1);
            assert!(matches!(h.join().unwrap(), Err(CommError::Aborted)));
        });
    }
}
