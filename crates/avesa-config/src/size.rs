//! Sizes as people write them: `256MB`, `2GB`, `1.5GiB`, `512kb`.

/// Bytes in a size such as `256MB` (decimal units: kB = 1000) or `1.5GiB` (binary units:
/// KiB = 1024). `None` if it is not one.
pub fn parse_size(s: &str) -> Option<u64> {
    let s = s.trim();
    let number = s.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let unit = s[number.len()..].to_ascii_lowercase();
    let number = number.trim();
    if number.is_empty() || !number.chars().all(|c| c.is_ascii_digit() || c == '.') {
        return None;
    }
    let n: f64 = number.parse().ok()?;
    let factor: f64 = match unit.as_str() {
        "b" => 1.0,
        "kb" => 1e3,
        "mb" => 1e6,
        "gb" => 1e9,
        "tb" => 1e12,
        "kib" => 1024.0,
        "mib" => 1024.0 * 1024.0,
        "gib" => 1024.0 * 1024.0 * 1024.0,
        "tib" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
        _ => return None,
    };
    let bytes = n * factor;
    (bytes.is_finite() && bytes < u64::MAX as f64).then_some(bytes as u64)
}

#[cfg(test)]
mod tests {
    use super::parse_size;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("256MB"), Some(256_000_000));
        assert_eq!(parse_size("2GB"), Some(2_000_000_000));
        assert_eq!(parse_size("1.5GiB"), Some(1_610_612_736));
        assert_eq!(parse_size(" 512kb "), Some(512_000));
        assert_eq!(parse_size("10 MiB"), Some(10 * 1024 * 1024));
        for bad in ["", "MB", "12", "lots", "1.2.3GB", "-5MB", "5 parsecs", "1'; DROP x; --GB"] {
            assert_eq!(parse_size(bad), None, "{bad}");
        }
    }
}
