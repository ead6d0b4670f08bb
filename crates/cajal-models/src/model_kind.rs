//! The kinds of model a file can name (`model = "..."`) and what each can do: spiking or graded dynamics,
//! how `--scale` scales it, whether dry runs and the stimulus flags apply. Commands ask the kind, not its
//! name.

use std::fmt;

/// A model kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ModelKind {
    /// The Potjans-Diesmann cortical microcircuit.
    Microcircuit,
    /// A spiking network brought as node and edge tables.
    Connectome,
    /// Spiking populations on a sheet with distance-dependent connectivity.
    SpatialSheet,
    /// The flyvis optic lobe: graded-potential neurons on the hexagonal lattice.
    OpticLobe,
    /// A rate network on a grid (weight matrix or distance rule).
    RateNetwork,
    /// Populations and projections written out in the file, each population with its own neuron model.
    Network,
}

/// How `--scale F` changes a model.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scaling {
    /// Population sizes (N) and in-degrees (K) by F.
    SizesAndInDegrees,
    /// Population sizes only; in-degrees stay (the sheet grows).
    SizesOnly,
    /// Not scalable (its size comes from data).
    None,
}

impl ModelKind {
    /// Every kind, in the order error messages list them.
    pub const ALL: [ModelKind; 6] =
        [Self::Microcircuit, Self::OpticLobe, Self::RateNetwork, Self::SpatialSheet, Self::Connectome, Self::Network];

    /// The name model files use.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Microcircuit => "microcircuit",
            Self::Connectome => "connectome",
            Self::SpatialSheet => "spatial_sheet",
            Self::OpticLobe => "optic_lobe",
            Self::RateNetwork => "rate_network",
            Self::Network => "network",
        }
    }

    /// The kind named `name`, if any.
    #[must_use]
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.name() == name)
    }

    /// Spiking neurons exchanging spikes per window (else graded or rate neurons exchanging values every
    /// step).
    #[must_use]
    pub fn is_spiking(self) -> bool {
        matches!(self, Self::Microcircuit | Self::Connectome | Self::SpatialSheet | Self::Network)
    }

    /// Whether `--dry-run` (a spike fan-out) applies.
    #[must_use]
    pub fn supports_dry_run(self) -> bool {
        self.is_spiking()
    }

    /// Whether the visual-stimulus flags (`--params`, `--stimulus`, `--record...`) apply.
    #[must_use]
    pub fn takes_stimulus_flags(self) -> bool {
        self == Self::OpticLobe
    }

    /// What `--scale` scales.
    #[must_use]
    pub fn scaling(self) -> Scaling {
        match self {
            Self::Microcircuit => Scaling::SizesAndInDegrees,
            Self::SpatialSheet | Self::Network => Scaling::SizesOnly,
            Self::Connectome | Self::OpticLobe | Self::RateNetwork => Scaling::None,
        }
    }

    /// The names of every kind, for messages.
    #[must_use]
    pub fn known() -> String {
        Self::ALL.map(Self::name).join(", ")
    }
}

impl fmt::Display for ModelKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_is_found_by_its_name_and_only_spiking_kinds_dry_run() {
        for k in ModelKind::ALL {
            assert_eq!(ModelKind::from_name(k.name()), Some(k));
            assert_eq!(k.supports_dry_run(), k.is_spiking());
        }
        assert_eq!(ModelKind::from_name("Microcircuit"), None);
        assert!(!ModelKind::OpticLobe.is_spiking() && ModelKind::Connectome.is_spiking());
        assert_eq!(ModelKind::SpatialSheet.scaling(), Scaling::SizesOnly);
        assert_eq!(ModelKind::known(), "microcircuit, optic_lobe, rate_network, spatial_sheet, connectome, network");
    }
}
