//! The METIS balancer across ranks: rank 0 streams the whole synapse graph, partitions it and sends the
//! owner table to the others, so the graph is generated and held once per run rather than once per rank.

use cajal_comm::{Communicator, ReduceOp};
use cajal_core::Gid;
use cajal_net::{metis_owners, Decomposition, NetError, SynapseGraph};

use crate::SimError;

/// Bytes rank 0 needs per synapse while METIS partitions: the graph holds 8 (4 per end), METIS' coarsened
/// graphs and work arrays about four times more (measured: 20.8 GiB peak for 499 M synapses).
const METIS_BYTES_PER_SYNAPSE: f64 = 42.0;

/// The METIS decomposition, computed on rank 0 and shared; `expected_synapses` sizes the memory check.
/// Collective: every rank calls it.
pub fn metis_decomposition(
    comm: &mut dyn Communicator,
    n: Gid,
    cost: impl Fn(Gid) -> f64,
    expected_synapses: f64,
    edges: &SynapseGraph<'_>,
) -> Result<Decomposition, SimError> {
    let size = comm.size();
    if size == 1 {
        return Ok(Decomposition::from_owners(n, 1, vec![0; n as usize])?);
    }
    if comm.backend() == "dry-run" {
        // One process stands in for every rank and its collectives only model the others: partition here.
        return Ok(Decomposition::from_owners(n, size, metis_owners(n, size, cost, edges)?)?);
    }
    // Message: [failed, owner of gid 0, owner of gid 1, ...]; the other ranks send zeros.
    let mut message = vec![0u64; n as usize + 1];
    let mut failure = None;
    if comm.rank() == 0 {
        let what = format!(
            "METIS partitioning of the {expected_synapses:.0}-synapse graph on rank 0 (use --balancer spatial or \
             cost-blocks instead)"
        );
        let owners = crate::resources::check_fits(&what, (expected_synapses * METIS_BYTES_PER_SYNAPSE) as u64)
            .and_then(|()| Ok(metis_owners(n, size, cost, edges)?));
        match owners {
            Ok(owners) => message[1..].iter_mut().zip(owners).for_each(|(m, o)| *m = u64::from(o)),
            Err(e) => {
                message[0] = 1;
                failure = Some(e);
            }
        }
    }
    let shared = comm.all_reduce_u64(&message, ReduceOp::Max)?;
    drop(message);
    if let Some(e) = failure {
        return Err(e);
    }
    if shared[0] != 0 {
        return Err(NetError::Invalid("rank 0 could not partition the synapse graph (its log says why)".into()).into());
    }
    let owners = shared[1..].iter().map(|&o| u32::try_from(o).unwrap_or(u32::MAX)).collect();
    Ok(Decomposition::from_owners(n, size, owners)?)
}
