//! What the machine has and what a run may use: the host memory available, and the memory
//! budget (`--memory-budget`, else what the GPU adapter or the host offers).

use std::fmt;

use happyhorse_tensor::{bail, Device, Result};

/// Bytes of host memory available now (`MemAvailable`), when the system says.
pub fn available_host_bytes() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    kb.checked_mul(1024)
}

/// Where a memory budget came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BudgetSource {
    /// `--memory-budget`.
    Flag,
    /// The memory the GPU adapter reports.
    Adapter,
    /// The host memory available when the run started (CPU).
    HostAvailable,
}

impl fmt::Display for BudgetSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BudgetSource::Flag => "--memory-budget",
            BudgetSource::Adapter => "the GPU adapter's memory",
            BudgetSource::HostAvailable => "the available host memory",
        })
    }
}

/// The most memory a run may use on its device, in bytes, and where that figure came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemoryBudget {
    /// The budget in bytes.
    pub bytes: u64,
    /// Where it came from.
    pub source: BudgetSource,
}

/// The budget of a run on `device`: `flag` (the parsed `--memory-budget`) when given, else
/// on a GPU the memory its adapter reports, on the CPU the available host memory; an error
/// asking for `--memory-budget` when neither is known.
pub fn resolve_budget(flag: Option<u64>, device: &Device) -> Result<MemoryBudget> {
    let (bytes, source) = match flag {
        Some(bytes) => (Some(bytes), BudgetSource::Flag),
        None if device.is_cpu() => (available_host_bytes(), BudgetSource::HostAvailable),
        None => (device.memory_capacity(), BudgetSource::Adapter),
    };
    match bytes {
        Some(bytes) => Ok(MemoryBudget { bytes, source }),
        None => bail!(
            "{device} does not report how much memory it has ({source} is unknown); pass --memory-budget SIZE (for example 16GiB)"
        ),
    }
}

/// Parses a `--memory-budget` size: a number (a fraction allowed) and an optional unit,
/// case-insensitive: `B` or none (bytes), `KB`/`MB`/`GB`/`TB` (powers of 1000), `K`/`M`/`G`/`T`
/// or `KiB`/`MiB`/`GiB`/`TiB` (powers of 1024). A fraction of a byte is dropped. Zero,
/// signs, overflow and anything else are refused, naming the flag and the text.
pub fn parse_memory_size(text: &str) -> std::result::Result<u64, String> {
    let refuse = |why: &str| {
        format!("--memory-budget {text:?} {why} (expected a size such as 16GiB, 512MiB, 1.5GiB, 24GB or 800M)")
    };
    let trimmed = text.trim();
    let split = trimmed
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(trimmed.len());
    let (number, unit) = trimmed.split_at(split);
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    let digits_only = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() || !digits_only(whole) || !digits_only(fraction) {
        return Err(refuse("is not a number and a unit"));
    }
    let unit_bytes: u128 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        "tb" => 1_000_000_000_000,
        "k" | "kib" => 1 << 10,
        "m" | "mib" => 1 << 20,
        "g" | "gib" => 1 << 30,
        "t" | "tib" => 1 << 40,
        _ => return Err(refuse("has an unknown unit")),
    };
    let overflow = || refuse("is more bytes than fit in 64 bits");
    let mut scaled: u128 = 0;
    for b in whole.bytes().chain(fraction.bytes()) {
        scaled = scaled
            .checked_mul(10)
            .and_then(|v| v.checked_add(u128::from(b - b'0')))
            .ok_or_else(overflow)?;
    }
    let divisor = 10u128
        .checked_pow(fraction.len() as u32)
        .ok_or_else(overflow)?;
    let bytes = scaled.checked_mul(unit_bytes).ok_or_else(overflow)? / divisor;
    let bytes = u64::try_from(bytes).map_err(|_| overflow())?;
    if bytes == 0 {
        return Err(refuse("is zero bytes"));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_in_decimal_and_binary_units() {
        for (text, bytes) in [
            ("16GiB", 16u64 << 30),
            ("512MiB", 512 << 20),
            ("1.5GiB", 3 << 29),
            ("24GB", 24_000_000_000),
            ("800M", 800 << 20),
            ("800mb", 800_000_000),
            ("2g", 2 << 30),
            ("64k", 64 << 10),
            ("3KiB", 3 << 10),
            ("1tib", 1 << 40),
            ("4096", 4096),
            ("4096B", 4096),
            (" 16 GiB ", 16 << 30),
            ("0.5K", 512),
            ("1.0000000000000000000001B", 1),
        ] {
            assert_eq!(parse_memory_size(text), Ok(bytes), "{text}");
        }
    }

    #[test]
    fn zero_signs_overflow_and_junk_are_refused_naming_the_flag_and_the_text() {
        for (text, why) in [
            ("0", "is zero bytes"),
            ("0.1B", "is zero bytes"),
            ("0GiB", "is zero bytes"),
            ("-1GiB", "is not a number and a unit"),
            ("+1GiB", "is not a number and a unit"),
            ("", "is not a number and a unit"),
            ("GiB", "is not a number and a unit"),
            (".5G", "is not a number and a unit"),
            ("1.2.3G", "is not a number and a unit"),
            ("16 gigs", "has an unknown unit"),
            ("16GiBs", "has an unknown unit"),
            ("1e9", "has an unknown unit"),
            ("18446744073709551616", "is more bytes than fit in 64 bits"),
            ("16777216TiB", "is more bytes than fit in 64 bits"),
            (
                "99999999999999999999999999999999999999999",
                "is more bytes than fit in 64 bits",
            ),
        ] {
            let err = parse_memory_size(text).unwrap_err();
            assert!(
                err.starts_with(&format!("--memory-budget {text:?} {why}")),
                "{text}: {err}"
            );
        }
    }

    #[test]
    fn the_flag_wins_and_the_cpu_defaults_to_the_available_host_memory() {
        let flagged = resolve_budget(Some(1 << 30), &Device::Cpu).unwrap();
        assert_eq!(
            flagged,
            MemoryBudget {
                bytes: 1 << 30,
                source: BudgetSource::Flag
            }
        );
        if available_host_bytes().is_some() {
            let host = resolve_budget(None, &Device::Cpu).unwrap();
            assert_eq!(host.source, BudgetSource::HostAvailable);
            assert!(host.bytes > 0, "{host:?}");
        }
    }
}
