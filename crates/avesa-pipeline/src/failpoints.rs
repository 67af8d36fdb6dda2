//! Failpoints (the `fail` crate) for crash-safety tests. They exist only in builds with the
//! `failpoints` feature (which the test builds turn on); elsewhere a failpoint compiles to
//! nothing and [`configure`] refuses any configuration.

/// Configures failpoints from `name=actions;name=actions` in the `fail` crate's syntax:
/// `before_commit=2*off->return` lets two passes through and aborts the process at the
/// third. The binary passes its `AVESA_FAILPOINTS` variable here.
pub fn configure(spec: &str) -> Result<(), String> {
    let spec = spec.trim();
    if spec.is_empty() {
        return Ok(());
    }
    let mut points = Vec::new();
    for part in spec.split(';').filter(|p| !p.trim().is_empty()) {
        let (name, actions) = part
            .split_once('=')
            .ok_or_else(|| format!("failpoint {part:?}: expected name=actions"))?;
        if !KNOWN.contains(&name.trim()) {
            return Err(format!(
                "unknown failpoint {:?}; known: {}",
                name.trim(),
                KNOWN.join(", ")
            ));
        }
        points.push((name.trim(), actions.trim()));
    }
    if !cfg!(feature = "failpoints") {
        return Err("failpoints are configured but this build has none \
                    (they exist only in test builds, with the failpoints feature)"
            .into());
    }
    for (name, actions) in points {
        fail::cfg(name, actions).map_err(|e| format!("failpoint {name}: {e}"))?;
    }
    Ok(())
}

/// The failpoints the pipeline has.
pub const KNOWN: &[&str] = &["before_commit", "key_scan_before_commit"];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_configurations_are_refused() {
        assert!(configure("").is_ok());
        assert!(configure("nonsense").is_err());
        assert!(configure("no_such_point=return").unwrap_err().contains("unknown failpoint"));
    }
}
