//! Graded-potential dynamics of the optic lobe, integrated by explicit Euler on one process:
//! tau_i dV_i/dt = -V_i + b_i + sum_j w_ij relu(V_j) + x_i(t), V <- V + dt (-V + b + I + x) / max(tau, dt).
//! V at step t+1 uses relu(V) at step t. This is the reference the distributed engine is checked against.

use crate::optic_lobe::params::{index, Params};
use crate::optic_lobe::Connectome;

/// A network ready to integrate: per neuron bias and time constant, synapses in expansion order.
#[derive(Clone, Debug)]
pub struct GradedNetwork {
    pub bias: Vec<f64>,
    pub tau: Vec<f64>,
    /// (source, target, weight) in expansion order (the order input sums follow).
    pub synapses: Vec<(u32, u32, f64)>,
    /// Whether each neuron receives the stimulus.
    pub is_input: Vec<bool>,
}

impl GradedNetwork {
    /// The network of `c` with parameters `p`.
    #[must_use]
    pub fn new(c: &Connectome, p: &Params) -> Self {
        let idx = index(c);
        let weights = p.weights(&idx);
        let mut synapses = Vec::with_capacity(weights.len());
        let mut k = 0;
        c.for_each_synapse(|s| {
            synapses.push((s.source, s.target, weights[k]));
            k += 1;
        });
        let n = c.neurons() as usize;
        let (mut bias, mut tau, mut is_input) = (vec![0.0; n], vec![0.0; n], vec![false; n]);
        for (t, ty) in c.types.iter().enumerate() {
            for g in ty.first..ty.first + ty.count {
                bias[g as usize] = p.nodes_bias[t];
                tau[g as usize] = p.nodes_time_const[t];
                is_input[g as usize] = c.inputs.contains(&t);
            }
        }
        Self { bias, tau, synapses, is_input }
    }

    /// Integrates `steps` steps of `dt` seconds from V = bias with constant `input` on the input neurons;
    /// calls `observe(step, V)` after every step.
    pub fn run(&self, dt: f64, steps: usize, input: f64, mut observe: impl FnMut(usize, &[f64])) {
        let mut v = self.bias.clone();
        let mut current = vec![0.0; v.len()];
        for step in 0..steps {
            current.iter_mut().for_each(|c| *c = 0.0);
            for &(s, t, w) in &self.synapses {
                current[t as usize] += w * v[s as usize].max(0.0);
            }
            for i in 0..v.len() {
                let x = if self.is_input[i] { input } else { 0.0 };
                v[i] += dt * (-v[i] + self.bias[i] + current[i] + x) / self.tau[i].max(dt);
            }
            observe(step, &v);
        }
    }
}
