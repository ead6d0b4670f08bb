//! `cajal export-connectome MODEL.toml --format csv --out DIR`: the generated network as a node table, an
//! edge table and a `model.toml` that runs it again (`cajal run DIR/model.toml` gives the same spikes).

use std::io::Write;
use std::path::Path;

use rayon::prelude::*;

use cajal_checkpoint::{CheckpointStore, Manifest};
use cajal_models::build_model;
use cajal_net::neuron_params::{INITIAL_V_COLUMN, MODEL_COLUMN};
use cajal_net::{Background, Distribution, NeuronSet, PopulationNetwork, Query, Recipe};

use crate::checkpoint_weights::CheckpointWeights;
use crate::cli::ExportArgs;
use crate::error::AppError;

/// Targets per chunk of the edge table written in one piece.
const CHUNK: u32 = 4096;

pub fn run(args: &ExportArgs) -> Result<(), AppError> {
    let (doc, checkpoint) = match &args.from_checkpoint {
        Some(url) => {
            let (doc, m, store) = checkpoint_document(url, args)?;
            (doc, Some((m, store)))
        }
        None => {
            let path = args.model.as_ref().ok_or_else(|| AppError::bad("a model file or --from-checkpoint URL"))?;
            (cajal_models::ModelDocument::read(path)?, None)
        }
    };
    let mut doc = doc;
    let model_file = doc.file().to_owned();
    let mut overrides =
        args.set.iter().map(|s| cajal_models::Override::parse(&model_file, s)).collect::<Result<Vec<_>, _>>()?;
    if let Some(f) = args.scale {
        overrides.extend(crate::run_options::scale_overrides(doc.model_kind()?, f, &model_file)?);
    }
    for o in &overrides {
        doc.apply(o)?;
    }
    // Recording tables ([[record]], [spikes]) are the run's, not the network's: the export leaves them out.
    let kind = doc.model_kind()?;
    let model = build_model(&crate::run_options::split_run_document(doc, kind)?.doc)?;
    let net = &model.network;
    let weights = match &checkpoint {
        Some((m, store)) => Some(CheckpointWeights::read(m, store, net.num_neurons())?),
        None => None,
    };
    if !net.plastic_classes().is_empty() && args.format == "parquet" {
        return Err(AppError::bad(
            "--format parquet: the network has plastic synapses, whose f64 weights and types the CSV tables keep; use --format csv",
        ));
    }
    std::fs::create_dir_all(&args.out)
        .map_err(|source| AppError::InputFile { what: format!("creating {}", args.out.display()), source })?;
    let ext = args.format.as_str();
    let toml = model_text(net, &model.simulation, ext)?;
    net.prepare();
    // An imported network answers queries only about the neurons a rank loaded: the export loads them all
    // (it writes the whole network anyway).
    net.prepare_rank(&NeuronSet::strided(0, 1, net.num_neurons())).map_err(AppError::from)?;
    let edges = if ext == "parquet" {
        write_nodes_parquet(net, &args.out.join("nodes.parquet"))?;
        write_edges_parquet(net, &args.out.join("edges.parquet"))?
    } else {
        write_nodes(net, &args.out.join("nodes.csv"))?;
        write_edges(net, &args.out.join("edges.csv"), weights.as_ref())?
    };
    let model_path = args.out.join("model.toml");
    std::fs::write(&model_path, toml).map_err(|e| AppError::output(format!("writing {}", model_path.display()), e))?;
    println!("{} nodes, {edges} edges -> {}", net.num_neurons(), args.out.display());
    Ok(())
}

/// The model document a checkpoint stores (parsed as if it were the original file, so relative paths
/// resolve as they did), its manifest and its store.
fn checkpoint_document(
    url: &str,
    args: &ExportArgs,
) -> Result<(cajal_models::ModelDocument, Manifest, CheckpointStore), AppError> {
    let mut options = crate::checkpointing::store_options(8 << 20, args.storage_config.as_deref())?;
    options.create = false;
    let store = CheckpointStore::open(url, options)?;
    let m = Manifest::latest(&store)?;
    let model_path = std::path::PathBuf::from(&m.model_file);
    let name = model_path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let source = model_path.with_file_name(format!("{name} (as stored in checkpoint {})", m.name));
    let doc = cajal_models::ModelDocument::parse(&source, &m.model_text)?;
    Ok((doc, m, store))
}

/// The node-table columns of neurons that carry values of their own (an imported node table's `model`,
/// parameter or `V_m` columns).
#[derive(Default)]
struct NeuronColumns {
    /// Each neuron's model, when some neuron's differs from its population's.
    models: Option<Vec<&'static str>>,
    /// (name, value per neuron; None where the neuron's model lacks the parameter).
    values: Vec<(&'static str, Vec<Option<f64>>)>,
}

/// Every parameter of every class (in class order, each name once) when any neuron has its own parameters,
/// with the `model` column when models mix, and `V_m` when the neurons have their own initial potentials.
/// Values in gid order.
fn neuron_columns(net: &PopulationNetwork) -> Result<NeuronColumns, AppError> {
    let (own_parameters, own_potentials) = net.has_neuron_columns();
    let n = net.num_neurons();
    let mut columns = NeuronColumns::default();
    if own_parameters {
        let classes: Vec<Vec<(&'static str, f64)>> =
            (0..net.num_classes()).map(|c| net.neuron_class(c).values()).collect();
        let model = |c: usize| net.neuron_class(c).model().name();
        let pops = net.populations().len();
        let mixed = net.extra_neuron_classes().iter().enumerate().any(|(k, (p, _))| model(pops + k) != model(*p));
        if mixed {
            columns.models = Some((0..n).map(|g| model(net.dynamics_of(g))).collect());
        }
        let mut names: Vec<&'static str> = Vec::new();
        for (name, _) in classes.iter().flatten() {
            if !names.contains(name) {
                names.push(name);
            }
        }
        for name in names {
            let value = |class: &[(&str, f64)]| class.iter().find(|(n, _)| *n == name).map(|(_, v)| *v);
            columns.values.push((name, (0..n).map(|g| value(&classes[net.dynamics_of(g)])).collect()));
        }
    }
    if own_potentials {
        let v: Vec<f64> = (0..n).map(|g| net.initial_v_m(g)).collect::<Result<_, _>>()?;
        columns.values.push((INITIAL_V_COLUMN, v.into_iter().map(Some).collect()));
    }
    Ok(columns)
}

/// An output file that could not be written.
fn output_error(path: &Path) -> impl FnOnce(std::io::Error) -> AppError + '_ {
    move |e| AppError::output(format!("writing {}", path.display()), e)
}

fn write_nodes(net: &PopulationNetwork, path: &Path) -> Result<(), AppError> {
    let columns = neuron_columns(net)?;
    write_node_rows(net, path, &columns).map_err(output_error(path))
}

/// The node table as CSV: a cell is empty where a neuron's model lacks the column's parameter.
fn write_node_rows(net: &PopulationNetwork, path: &Path, columns: &NeuronColumns) -> std::io::Result<()> {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path)?);
    let placed = net.populations().iter().all(|p| p.placement.is_some());
    write!(f, "{}", if placed { "id,population,x,y,z" } else { "id,population" })?;
    if columns.models.is_some() {
        write!(f, ",{MODEL_COLUMN}")?;
    }
    for (name, _) in &columns.values {
        write!(f, ",{name}")?;
    }
    writeln!(f)?;
    for p in net.populations() {
        for g in p.first_gid..p.first_gid + p.size {
            match net.position(g) {
                Some([x, y, z]) if placed => write!(f, "{g},{},{x},{y},{z}", p.name)?,
                _ => write!(f, "{g},{}", p.name)?,
            }
            if let Some(models) = &columns.models {
                write!(f, ",{}", models[g as usize])?;
            }
            for (_, values) in &columns.values {
                match values[g as usize] {
                    Some(v) => write!(f, ",{v:?}")?,
                    None => write!(f, ",")?,
                }
            }
            writeln!(f)?;
        }
    }
    f.flush()?;
    Ok(())
}

/// The node table as Parquet (one row group).
fn write_nodes_parquet(net: &PopulationNetwork, path: &Path) -> Result<(), AppError> {
    let placed = net.populations().iter().all(|p| p.placement.is_some());
    let (mut ids, mut names, mut xyz) = (Vec::new(), Vec::new(), [Vec::new(), Vec::new(), Vec::new()]);
    for p in net.populations() {
        for g in p.first_gid..p.first_gid + p.size {
            ids.push(g);
            names.push(p.name.clone());
            let pos = net.position(g).unwrap_or([0.0; 3]);
            for a in 0..3 {
                xyz[a].push(pos[a]);
            }
        }
    }
    let columns = neuron_columns(net)?;
    // NaN where a neuron's model lacks the parameter (read back as no value for that neuron).
    let values = columns.values.into_iter().map(|(n, v)| (n, v.into_iter().map(|v| v.unwrap_or(f64::NAN)).collect()));
    let mut batch = cajal_net::parquet_tables::node_batch(ids, names, placed.then_some(xyz), values.collect())?;
    if let Some(models) = columns.models {
        batch = cajal_net::imported::with_text_column(&batch, MODEL_COLUMN, models)?;
    }
    // Writing fails on the output's side (a full disk), not on the network's.
    cajal_net::parquet_tables::TableWriter::create(path, &batch).and_then(|w| w.finish()).map_err(AppError::run)?;
    Ok(())
}

/// The edge table as Parquet, one row group per chunk of targets.
fn write_edges_parquet(net: &PopulationNetwork, path: &Path) -> Result<u64, AppError> {
    let dt = net.resolution().dt_ms();
    let n = net.num_neurons();
    let mut writer = None;
    let mut total = 0;
    for chunk_start in (0..n).step_by(CHUNK as usize) {
        let (mut pre, mut post, mut weight, mut delay) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for target in chunk_start..n.min(chunk_start + CHUNK) {
            net.connections_to(target, Query::Full, |c| {
                pre.push(c.source);
                post.push(target);
                weight.push(c.weight as f32);
                delay.push(f64::from(c.delay) * dt);
            })?;
        }
        total += pre.len() as u64;
        let batch = cajal_net::parquet_tables::edge_batch(pre, post, weight, delay)?;
        match &mut writer {
            None => writer = Some(cajal_net::parquet_tables::TableWriter::create(path, &batch).map_err(AppError::run)?),
            Some(w) => w.write(&batch).map_err(AppError::run)?,
        }
    }
    match writer {
        Some(w) => w.finish().map_err(AppError::run)?,
        None => {
            let empty = cajal_net::parquet_tables::edge_batch(Vec::new(), Vec::new(), Vec::new(), Vec::new())?;
            cajal_net::parquet_tables::TableWriter::create(path, &empty)
                .and_then(|w| w.finish())
                .map_err(AppError::run)?;
        }
    }
    Ok(total)
}

/// Every target's incoming synapses in the recipe's order (the order a target sums them), delays as whole
/// steps in ms, static weights in shortest f32 form, plastic ones as f64 (from `checkpoint` if given) with
/// their type in a `synapse` column: read back, the network is the same bit for bit.
fn write_edges(net: &PopulationNetwork, path: &Path, checkpoint: Option<&CheckpointWeights>) -> Result<u64, AppError> {
    let file = std::fs::File::create(path).map_err(output_error(path))?;
    let mut f = std::io::BufWriter::new(file);
    let classes = net.plastic_classes();
    let header = if classes.is_empty() { "pre,post,weight,delay_ms" } else { "pre,post,weight,delay_ms,synapse" };
    writeln!(f, "{header}").map_err(output_error(path))?;
    let dt = net.resolution().dt_ms();
    let n = net.num_neurons();
    let mut total = 0;
    for chunk_start in (0..n).step_by(CHUNK as usize) {
        let targets: Vec<u32> = (chunk_start..n.min(chunk_start + CHUNK)).collect();
        let texts: Vec<(String, u64)> = targets
            .par_iter()
            .map(|&post| {
                let mut conns = Vec::new();
                net.connections_to(post, Query::Full, |c| conns.push(c))?;
                if let Some(w) = checkpoint {
                    w.apply(post, &mut conns)?;
                }
                let mut text = String::new();
                for c in &conns {
                    let delay_ms = f64::from(c.delay) * dt;
                    match c.synapse {
                        0 if classes.is_empty() => {
                            text.push_str(&format!("{},{post},{},{delay_ms}\n", c.source, c.weight as f32));
                        }
                        0 => text.push_str(&format!("{},{post},{},{delay_ms},\n", c.source, c.weight as f32)),
                        k => {
                            let name = &classes[usize::from(k) - 1].name;
                            text.push_str(&format!("{},{post},{:?},{delay_ms},{name}\n", c.source, c.weight));
                        }
                    }
                }
                Ok::<_, AppError>((text, conns.len() as u64))
            })
            .collect::<Result<_, _>>()?;
        for (text, count) in texts {
            f.write_all(text.as_bytes()).map_err(output_error(path))?;
            total += count;
        }
    }
    f.flush().map_err(output_error(path))?;
    Ok(total)
}

/// A `connectome` model file for the tables: the simulation settings, the shared neuron model and
/// parameters (with I_e per population), initial voltages and background per population, and the plastic
/// synapse types the edge table names.
fn model_text(net: &PopulationNetwork, sim: &cajal_models::SimulationSettings, ext: &str) -> Result<String, AppError> {
    let pops = net.populations();
    let shared = |p: &cajal_net::PopulationSpec| -> Vec<(&'static str, u64)> {
        p.neuron.params().values().into_iter().filter(|(n, _)| *n != "I_e").map(|(n, v)| (n, v.to_bits())).collect()
    };
    let first = &pops[0].neuron;
    let mut cols: [Vec<String>; 6] = Default::default();
    for p in pops {
        let same_model = p.neuron.params().model().name() == first.params().model().name();
        if !same_model || shared(p) != shared(&pops[0]) || p.neuron.tau_minus_ms() != first.tau_minus_ms() {
            return Err(AppError::bad(format!(
                "population {}: export needs one neuron model and parameters shared by all populations (but I_e)",
                p.name
            )));
        }
        let i_e = p.neuron.params().values().into_iter().find(|(n, _)| *n == "I_e").map_or(0.0, |(_, v)| v);
        let (mean, std) = match p.v_init {
            Distribution::Normal { mean, std, min, max } if !min.is_finite() && !max.is_finite() => (mean, std),
            Distribution::Constant(v) => (v, 0.0),
            _ => {
                return Err(AppError::bad(format!(
                    "population {}: export needs constant or unbounded normal initial voltages",
                    p.name
                )))
            }
        };
        let (rate, weight, delay) = match p.background {
            Background::Poisson { rate_hz, weight_pa, delay_ms } => (rate_hz, weight_pa, delay_ms),
            Background::None => (0.0, 0.0, 1.0),
        };
        for (c, v) in cols.iter_mut().zip([mean, std, i_e, rate, weight, delay]) {
            c.push(format!("{v:?}"));
        }
    }
    let mut neuron = format!("model = \"{}\"\ntau_minus = {:?}\n", first.params().model().name(), first.tau_minus_ms());
    for (name, v) in first.params().values() {
        match name {
            "I_e" => neuron.push_str("I_e = 0.0\n"),
            // Flags are numbers in values(), booleans in model files.
            "refractory_input" => neuron.push_str(&format!("{name} = {}\n", v != 0.0)),
            // An infinite value is a model's default (V_min = -inf): left out, the model takes it.
            _ if !v.is_finite() => {}
            _ => neuron.push_str(&format!("{name} = {v:?}\n")),
        }
    }
    let mut types = String::new();
    for class in net.plastic_classes() {
        types.push_str(&format!("\n[synapse_types.\"{}\"]\nsynapse_model = \"{}\"\n", class.name, class.rule.name()));
        for (name, v) in class.rule.values() {
            types.push_str(&format!("{name} = {v:?}\n"));
        }
    }
    let names: Vec<String> = pops.iter().map(|p| format!("\"{}\"", p.name)).collect();
    Ok(format!(
        "# Exported by `cajal export-connectome`: run it with `cajal run model.toml`.\n\
         model = \"connectome\"\n\n[simulation]\ndt_ms = {:?}\nt_presim_ms = {:?}\nt_sim_ms = {:?}\nseed = {}\n\n\
         [tables]\nnodes = \"nodes.{ext}\"\nedges = \"edges.{ext}\"\n\n[neuron]\n{neuron}\n\
         [populations]\nnames = [{}]\nV0_mean = [{}]\nV0_std = [{}]\nI_e = [{}]\nbg_rate_hz = [{}]\nbg_weight_pA = [{}]\nbg_delay_ms = [{}]\n{types}",
        sim.dt_ms, sim.t_presim_ms, sim.t_sim_ms, sim.seed,
        names.join(", "), cols[0].join(", "), cols[1].join(", "), cols[2].join(", "), cols[3].join(", "),
        cols[4].join(", "), cols[5].join(", ")
    ))
}
