//! The METIS balancer across ranks: rank 0 streams the whole synapse graph, partitions it and sends the
//! owner table to the others, so the graph is generated and held once per run rather than once per rank.

use cajal_comm::{Communicator, ReduceOp};
use cajal_core::Gid;
use cajal_net::{metis_owners, Decomposition, NetError, SynapseGraph};

use crate::SimError;

/// The METIS decomposition, computed on rank 0 and shared. Collective: every rank calls it.
pub fn metis_decomposition(
    comm: &mut dyn Communicator,
    n: Gid,
    cost: impl Fn(Gid) -> f64,
    edges: &SynapseGraph<'_>,
) -> Result<Decomposition, SimError> {
    let size = comm.size();
    if size == 1 {
        return Ok(Decomposition::from_owners(n, 1, vec![0; n as usize])?);
    }
    // Message: [failed, owner of gid 0, owner of gid 1, ...]; the other ranks add zeros.
    let mut message = vec![0u64; n as usize + 1];
    let mut failure = None;
    if comm.rank() == 0 {
        match metis_owners(n, size, cost, edges) {
            Ok(owners) => message[1..].iter_mut().zip(owners).for_each(|(m, o)| *m = u64::from(o)),
            Err(e) => {
                message[0] = 1;
                failure = Some(e);
            }
        }
    }
    let shared = comm.all_reduce_u64(&message, ReduceOp::Sum)?;
    drop(message);
    if let Some(e) = failure {
        return Err(e.into());
    }
    if shared[0] != 0 {
        return Err(NetError::Invalid("rank 0 could not partition the synapse graph (its log says why)".into()).into());
    }
    let owners = shared[1..].iter().map(|&o| u32::try_from(o).unwrap_or(u32::MAX)).collect();
    Ok(Decomposition::from_owners(n, size, owners)?)
}
