//! `--log-level`: a known level, or a filter directive whose every part names a known level.
//!
//! `tracing`'s own parser reads a bare unknown word (`warning`, `verbose`) as a *target* name
//! and turns every other log line off; such a value is refused here instead, before logging
//! starts, and clap exits with status 2 listing the levels.

use tracing_subscriber::EnvFilter;

/// The levels `--log-level` takes on its own.
pub const LEVELS: [&str; 6] = ["off", "error", "warn", "info", "debug", "trace"];

fn is_level(word: &str) -> bool {
    LEVELS.iter().any(|l| l.eq_ignore_ascii_case(word.trim()))
}

fn refused(value: &str, why: &str) -> String {
    format!(
        "{value:?} {why}: use one of {} (e.g. --log-level info), or a filter whose parts are \
         TARGET=LEVEL or a level (e.g. executionbackup=debug,warn)",
        LEVELS.join(", ")
    )
}

/// Checks a `--log-level` value (clap's value parser); returns it unchanged when usable.
pub fn parse(value: &str) -> Result<String, String> {
    let parts: Vec<&str> = value.split(',').map(str::trim).collect();
    if parts.iter().all(|p| p.is_empty()) {
        return Err(refused(value, "is empty"));
    }
    for part in parts.iter().filter(|p| !p.is_empty()) {
        if is_level(part) {
            continue;
        }
        match part.rsplit_once('=') {
            Some((target, level)) if !target.trim().is_empty() && is_level(level) => {}
            Some((_, level)) => {
                return Err(refused(value, &format!("has {level:?}, not a log level")))
            }
            None => return Err(refused(value, &format!("has {part:?}, not a log level"))),
        }
    }
    EnvFilter::try_new(value).map_err(|e| refused(value, &format!("is not a filter ({e})")))?;
    Ok(value.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_and_directives_pass() {
        for ok in [
            "info",
            "WARN",
            "off",
            "trace",
            "executionbackup=debug",
            "executionbackup=debug,warn",
            "executionbackup::handlers::voted=trace, info",
        ] {
            assert_eq!(parse(ok).as_deref(), Ok(ok), "{ok}");
        }
    }

    #[test]
    fn unknown_words_are_refused_with_the_list() {
        for bad in [
            "warning",
            "verbose",
            "",
            " , ",
            "executionbackup=loud",
            "=info",
            "info,chatty",
        ] {
            let err = parse(bad).expect_err(bad);
            assert!(
                err.contains("off, error, warn, info, debug, trace"),
                "{bad}: {err}"
            );
        }
    }
}
