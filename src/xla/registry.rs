//! Process-wide registry of problem patterns for the XLA FFI handlers.
//!
//! A jitted computation only carries integer/string attributes, so the CSR
//! pattern and cones are registered once from Python (`register_pattern`) and
//! the handlers refer to them by id.  The `Family` (symbolic KKT analysis) is
//! built lazily, once per (pattern id, settings string), and shared through an
//! `Arc` by all threads XLA calls the handlers from.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock, RwLock};

use crate::batch::Family;
use crate::error::SolverError;
use crate::problem::ProblemPattern;
use crate::settings::{SettingValue, Settings};

/// A family ready to solve, with the settings it was built for.
pub struct Entry {
    pub family: Family,
    pub settings: Settings,
}

#[derive(Default)]
struct Registry {
    patterns: Vec<Arc<ProblemPattern>>,
    entries: HashMap<(i64, String), Arc<Entry>>,
}

fn registry() -> &'static RwLock<Registry> {
    static REG: OnceLock<RwLock<Registry>> = OnceLock::new();
    REG.get_or_init(|| RwLock::new(Registry::default()))
}

/// Register a validated pattern; returns its id (>= 1).  Ids are never reused,
/// so a compiled executable can never see another pattern under its id.
pub fn register_pattern(pattern: ProblemPattern) -> i64 {
    let mut reg = registry().write().unwrap_or_else(|e| e.into_inner());
    reg.patterns.push(Arc::new(pattern));
    reg.patterns.len() as i64
}

/// Parse the settings attribute: `key=T:value` pairs joined by `;`, with T one
/// of b (bool 0/1), i (int), f (float), s (string).  Written by moreau_jax._jax.
pub fn parse_settings(text: &str) -> Result<Settings, SolverError> {
    let mut settings = Settings::default();
    for item in text.split(';').filter(|s| !s.is_empty()) {
        let bad = || SolverError::Settings(format!("malformed settings attribute entry {item:?}"));
        let (key, rest) = item.split_once('=').ok_or_else(bad)?;
        let (kind, value) = rest.split_once(':').ok_or_else(bad)?;
        let v = match kind {
            "b" => SettingValue::Bool(value == "1"),
            "i" => SettingValue::Int(value.parse().map_err(|_| bad())?),
            "f" => SettingValue::Float(value.parse().map_err(|_| bad())?),
            "s" => SettingValue::Str(value.to_string()),
            _ => return Err(bad()),
        };
        settings.set(key, &v)?;
    }
    Ok(settings)
}

/// The family for `id` under `settings`, built on first use.
pub fn lookup(id: i64, settings: &str) -> Result<Arc<Entry>, SolverError> {
    let key = (id, settings.to_string());
    if let Some(e) = registry().read().unwrap_or_else(|e| e.into_inner()).entries.get(&key) {
        return Ok(e.clone());
    }
    let pattern = {
        let reg = registry().read().unwrap_or_else(|e| e.into_inner());
        usize::try_from(id - 1)
            .ok()
            .and_then(|k| reg.patterns.get(k).cloned())
            .ok_or_else(|| SolverError::Internal(format!("unknown moreau pattern id {id}")))?
    };
    // Build outside the lock: the symbolic analysis may take a while and other
    // patterns must stay usable meanwhile.  If two threads race, the first wins.
    let parsed = parse_settings(settings)?;
    let family = Family::new((*pattern).clone(), &parsed)?;
    let entry = Arc::new(Entry { family, settings: parsed });
    let mut reg = registry().write().unwrap_or_else(|e| e.into_inner());
    Ok(reg.entries.entry(key).or_insert(entry).clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_round_trip() {
        let s = parse_settings("max_iter=i:37;tol_gap_abs=f:1e-7;verbose=b:0;direct_solve_method=s:qdldl").unwrap();
        assert_eq!(s.max_iter, 37);
        assert_eq!(s.tol_gap_abs, 1e-7);
        assert!(parse_settings("max_iter=x:3").is_err());
        assert!(parse_settings("no_such_key=i:3").is_err());
    }
}
