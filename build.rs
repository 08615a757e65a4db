//! Build script: rebuild when anything under `assets/` changes, because rust-embed compiles
//! those files into the binary and cargo cannot see a newly added file on its own; stamp
//! the binary with the git commit and build date that `bookchat --version` shows; and, in
//! static glibc builds only, link `build/static_nss.c` (see there why).

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=assets");
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=SOURCE_DATE_EPOCH");
    let manifest_dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    let commit = git_commit(&manifest_dir).unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=BOOKCHAT_GIT_COMMIT={commit}");
    println!("cargo:rustc-env=BOOKCHAT_BUILD_DATE={}", build_date());
    if is_static_glibc() {
        link_static_nss();
    }
}

/// `make static`: glibc linked in (`-C target-feature=+crt-static` on a gnu target).
fn is_static_glibc() -> bool {
    let var = |name| std::env::var(name).unwrap_or_default();
    var("CARGO_CFG_TARGET_ENV") == "gnu"
        && var("CARGO_CFG_TARGET_FEATURE")
            .split(',')
            .any(|f| f == "crt-static")
}

/// Compiles the shim and links it whole: nothing refers to its constructor, so a plain
/// static library would be dropped by the linker.
fn link_static_nss() {
    println!("cargo:rerun-if-changed=build/static_nss.c");
    cc::Build::new()
        .file("build/static_nss.c")
        .cargo_metadata(false)
        .compile("bookchat_static_nss");
    let out = std::env::var("OUT_DIR").unwrap_or_default();
    println!("cargo:rustc-link-search=native={out}");
    println!("cargo:rustc-link-lib=static:+whole-archive=bookchat_static_nss");
}

/// The checkout's HEAD as 12 hex digits, or `None` where git is missing or this is not a
/// git checkout of BookChat itself (a crate tarball unpacked inside some other repository
/// must not claim that repository's commit).
fn git_commit(manifest_dir: &Path) -> Option<String> {
    let toplevel = git(manifest_dir, &["rev-parse", "--show-toplevel"])?;
    if Path::new(&toplevel).canonicalize().ok()? != manifest_dir.canonicalize().ok()? {
        return None;
    }
    let commit = git(manifest_dir, &["rev-parse", "--short=12", "HEAD"])?;
    watch_head(manifest_dir);
    Some(commit)
}

/// Reruns this script when HEAD moves: a checkout rewrites HEAD, a commit rewrites the
/// branch's ref. `--git-path` finds both in a worktree too, whose `.git` is a file and
/// whose refs live in the main repository's git directory. A path that does not exist
/// would make cargo rerun on every build, so only existing ones are named; a branch whose
/// ref is packed (after `git gc`) has no file of its own until the next commit writes one,
/// so then its folder is watched, which that commit changes.
fn watch_head(manifest_dir: &Path) {
    let mut paths = vec!["HEAD".to_string(), "packed-refs".to_string()];
    if let Some(branch) = git(manifest_dir, &["symbolic-ref", "-q", "HEAD"]) {
        paths.push(branch);
    }
    for path in paths {
        let Some(found) = git(manifest_dir, &["rev-parse", "--git-path", &path]) else {
            continue;
        };
        let found = manifest_dir.join(found);
        let watched = if found.exists() {
            Some(found.as_path())
        } else {
            found.parent().filter(|folder| folder.is_dir())
        };
        if let Some(watched) = watched {
            println!("cargo:rerun-if-changed={}", watched.display());
        }
    }
}

/// One line of git's output, or `None` when git is absent or fails.
fn git(dir: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    let line = text.trim();
    (out.status.success() && !line.is_empty()).then(|| line.to_string())
}

/// The UTC date of `SOURCE_DATE_EPOCH` when set (reproducible builds), otherwise of now.
fn build_date() -> String {
    let seconds = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.trim().parse::<i64>().ok())
        .unwrap_or_else(|| {
            let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
            now.map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(0))
        });
    let (year, month, day) = civil_from_days(seconds.div_euclid(86_400));
    format!("{year:04}-{month:02}-{day:02}")
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm), so
/// the build script needs no date crate of its own.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}
