//! Logs through `tracing` on stderr, one line per event, every line naming its rank: text
//! (`[rank N] time LEVEL target: message fields`) or JSON (`--log-format json`, one object per line). The
//! level comes from `--log-level`, else `RUST_LOG`, else `CAJAL_LOG`, else warn.

use std::io::IsTerminal;

use tracing::field::{Field, Visit};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::EnvFilter;

/// How to log.
#[derive(Clone, Debug, Default)]
pub struct LogConfig {
    /// A level or filter (`info`, `debug`, `cajal_sim=debug`, ...).
    pub level: Option<String>,
    pub json: bool,
}

thread_local! {
    /// The rank of an in-process rank's thread (several ranks share one process with `--ranks`).
    static THREAD_RANK: std::cell::Cell<Option<usize>> = const { std::cell::Cell::new(None) };
}

/// Marks the calling thread as running rank `rank` (for the log lines).
pub fn set_thread_rank(rank: usize) {
    THREAD_RANK.with(|r| r.set(Some(rank)));
}

fn rank_of_thread(default: usize) -> usize {
    THREAD_RANK.with(std::cell::Cell::get).unwrap_or(default)
}

/// Prefixes every text line with the rank, whichever thread logs it.
struct RankPrefix<F> {
    rank: usize,
    inner: F,
}

impl<S, N, F> FormatEvent<S, N> for RankPrefix<F>
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
    F: FormatEvent<S, N>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &tracing::Event<'_>,
    ) -> std::fmt::Result {
        write!(writer, "[rank {}] ", rank_of_thread(self.rank))?;
        self.inner.format_event(ctx, writer, event)
    }
}

/// One JSON object per event: time, level, target, rank, message and fields.
struct JsonLines {
    rank: usize,
}

#[derive(Default)]
struct Fields(serde_json::Map<String, serde_json::Value>);

impl Visit for Fields {
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.insert(field.name().to_owned(), serde_json::json!(value));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().to_owned(), serde_json::json!(value));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().to_owned(), serde_json::json!(value));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().to_owned(), serde_json::json!(value));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), serde_json::json!(value));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_owned(), serde_json::json!(format!("{value:?}")));
    }
}

impl<S, N> FormatEvent<S, N> for JsonLines
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &tracing::Event<'_>,
    ) -> std::fmt::Result {
        let mut fields = Fields::default();
        event.record(&mut fields);
        let meta = event.metadata();
        let time = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64());
        let mut line = serde_json::Map::new();
        line.insert("time".into(), serde_json::json!(time));
        line.insert("level".into(), serde_json::json!(meta.level().as_str()));
        line.insert("target".into(), serde_json::json!(meta.target()));
        line.insert("rank".into(), serde_json::json!(rank_of_thread(self.rank)));
        line.extend(fields.0);
        writeln!(writer, "{}", serde_json::Value::Object(line))
    }
}

/// Installs the subscriber (once per process; later calls keep the first).
pub fn init_logging(rank: usize, config: &LogConfig) {
    let filter = config
        .level
        .as_deref()
        .and_then(|l| EnvFilter::try_new(l).ok())
        .or_else(|| EnvFilter::try_from_env("RUST_LOG").ok())
        .or_else(|| EnvFilter::try_from_env("CAJAL_LOG").ok())
        .unwrap_or_else(|| "warn".into());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let _ = if config.json {
        builder.with_ansi(false).event_format(JsonLines { rank }).try_init()
    } else {
        let ansi = std::io::stderr().is_terminal();
        builder
            .with_ansi(ansi)
            .event_format(RankPrefix { rank, inner: tracing_subscriber::fmt::format().with_ansi(ansi) })
            .try_init()
    };
}
