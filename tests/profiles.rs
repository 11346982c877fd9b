//! Vendor profiles: every built-in loads, `extends` merges, and a mistake in a profile file is
//! reported at its place (golden files in `tests/fixtures/invalid-profiles/`).
//!
//! Set `REFEREE_BLESS=1` to rewrite the golden `.stderr` files from the current output.

use referee::profile::{HookName, Profile, ProfileError};
use std::path::{Path, PathBuf};

const FIXTURES: &str = "tests/fixtures/invalid-profiles";

fn crate_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn every_builtin_loads_and_is_named_after_its_file() {
    let mut files: Vec<String> = std::fs::read_dir(crate_root().join("profiles"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    files.sort();
    assert_eq!(Profile::builtin_names(), files, "profiles/ and the compiled-in list differ");
    assert!(files.len() >= 17, "{files:?}");
    for name in Profile::builtin_names() {
        let p = Profile::load(name).unwrap_or_else(|e| panic!("built-in {name}:\n{e}"));
        assert_eq!(p.name, name);
        assert!(!p.description.is_empty(), "{name} has no description");
        assert_eq!(p.source, PathBuf::from(format!("<builtin>/{name}.yaml")));
        // The file on disk is the same profile (loaded as a path).
        let from_file = Profile::load(&format!("profiles/{name}.yaml")).unwrap();
        assert_eq!((from_file.declares, from_file.hooks), (p.declares.clone(), p.hooks.clone()), "{name}");
        if name != "strict" {
            assert!(p.declared("referrers_api").is_some(), "{name} says nothing about the referrers API");
        }
    }
}

#[test]
fn the_sixteen_profiles_say_what_the_design_says() {
    let d = |name: &str, key: &str| Profile::load(name).unwrap().declared(key).map(str::to_string);
    assert_eq!(d("strict", "referrers_api"), None);
    assert!(Profile::load("strict").unwrap().declares.is_empty());
    assert_eq!(d("harbor", "on_subject_delete").as_deref(), Some("cascade"));
    assert_eq!(d("harbor", "locked_push_status").as_deref(), Some("412:PRECONDITION"));
    assert_eq!(d("harbor", "fallback_tag_lockable").as_deref(), Some("true"));
    assert_eq!(d("quay", "locked_push_status").as_deref(), Some("409:TAG_IMMUTABLE"));
    assert_eq!(d("quay", "missing_subject_query").as_deref(), Some("400"));
    assert_eq!(d("zot", "orphan_referrer_gc").as_deref(), Some("after:retention.delay"));
    assert_eq!(d("olareg", "manifest_delete").as_deref(), Some("disabled:405"));
    assert_eq!(d("trow", "referrers_api").as_deref(), Some("declared:partial"));
    assert_eq!(d("container-registry-crate", "index_referrer").as_deref(), Some("reject:400"));
    assert_eq!(d("gitlab", "fallback_tag_read").as_deref(), Some("tag-resolves-digest"));
    assert_eq!(d("distribution-2.8", "untagged_referrer_gc").as_deref(), Some("collected"));
    // `unknown` is kept in the map but is not a declaration.
    let acr = Profile::load("acr").unwrap();
    assert_eq!(acr.declares.get("locked_push_status").map(String::as_str), Some("unknown"));
    assert_eq!(acr.declared("locked_push_status"), None);
    // ⚠ values carry their marker in the file.
    let ecr = std::fs::read_to_string(crate_root().join("profiles/ecr.yaml")).unwrap();
    let line = ecr.lines().find(|l| l.trim_start().starts_with("locked_push_status:")).unwrap();
    assert!(line.contains("# unverified: from docs/issues"), "{line}");
}

#[test]
fn extends_inherits_and_overrides() {
    let v2 = Profile::load("distribution-2.8").unwrap();
    let v3 = Profile::load("distribution-3").unwrap();
    assert_eq!(v3.declared("referrers_api"), Some("unsupported"), "inherited");
    assert_eq!(v3.declared("mount_with_from"), Some("201"), "inherited");
    assert_eq!(v2.declared("tag_delete"), Some("400"));
    assert_eq!(v3.declared("tag_delete"), Some("202"), "overridden");
    // Only what a tagged fallback index lists survives v3's GC (2.8 collects that too).
    assert_eq!(v3.declared("untagged_referrer_gc"), Some("protected-if-listed-in-tagged-index"), "overridden");
    assert_eq!(v3.declares.len(), v2.declares.len());
    assert!(v3.hook(HookName::Gc).unwrap().run.starts_with("registry garbage-collect"), "hook overridden");
    // Both gc hooks read the registry's config file from a variable only the user can set.
    for p in [&v2, &v3] {
        assert_eq!(p.hook(HookName::Gc).unwrap().needs_env, ["REFEREE_REGISTRY_CONFIG"], "{}", p.name);
    }

    // A user's file extending a built-in, and a file extending a file next to it.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("base.yaml"),
        "name: base\nextends: distribution-2.8\ndescription: ours\nhooks:\n  restart: { run: \"systemctl restart registry\", timeout_s: 60 }\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("mine.yaml"),
        "name: mine\nextends: ./base.yaml\ndeclares:\n  conditional_put: etag-412\n",
    )
    .unwrap();
    let mine = Profile::load(dir.path().join("mine.yaml").to_str().unwrap()).unwrap();
    assert_eq!(mine.name, "mine");
    assert_eq!(mine.description, "ours", "the nearest description");
    assert_eq!(mine.declared("conditional_put"), Some("etag-412"));
    assert_eq!(mine.declared("tag_delete"), Some("400"));
    assert_eq!(mine.hook(HookName::Restart).unwrap().timeout_s, 60);
    let gc = mine.hook(HookName::Gc).unwrap();
    assert_eq!(gc.run, "docker-registry garbage-collect --delete-untagged \"$REFEREE_REGISTRY_CONFIG\"");
    assert_eq!(gc.timeout_s, 120);
    assert_eq!(gc.needs_env, ["REFEREE_REGISTRY_CONFIG"], "inherited with its hook");
    // A hook given again replaces the whole entry, what it needs included.
    assert!(mine.hook(HookName::Restart).unwrap().needs_env.is_empty());
}

/// A shipped hook that reads a variable referee does not set for it (`$REFEREE_REGISTRY_CONFIG`)
/// declares it in `needs_env`, so a run without it stops before sending anything.
#[test]
fn shipped_hooks_declare_the_variables_the_user_must_set() {
    let set = referee::exec::hooks::SET_FOR_EVERY_HOOK;
    let mut needing = vec![];
    for name in Profile::builtin_names() {
        for (hook, h) in &Profile::load(name).unwrap().hooks {
            for part in h.run.split('$').skip(1) {
                let var: String =
                    part.trim_start_matches('{').chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
                if var.is_empty() || set.contains(&var.as_str()) {
                    continue;
                }
                assert!(h.needs_env.contains(&var), "{name}: the {hook} hook reads ${var} but does not declare it in needs_env");
                needing.push(format!("{name}.{hook}"));
            }
            for var in &h.needs_env {
                assert!(h.run.contains(&format!("${var}")) || h.run.contains(&format!("${{{var}}}")), "{name}: {hook} needs {var} it does not read");
            }
        }
    }
    assert_eq!(needing, ["distribution-2.8.gc", "distribution-3.gc"]);
}

#[test]
fn extends_is_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let chain = |n: usize| {
        for i in 0..n {
            let ext = if i + 1 < n { format!("extends: p{}.yaml\n", i + 1) } else { String::new() };
            std::fs::write(dir.path().join(format!("p{i}.yaml")), format!("name: p{i}\n{ext}")).unwrap();
        }
        Profile::load(dir.path().join("p0.yaml").to_str().unwrap())
    };
    // Eight `extends` are fine, a ninth is not.
    assert_eq!(chain(9).unwrap().name, "p0");
    match chain(10) {
        Err(ProfileError::Invalid(d)) => {
            assert!(d[0].message.contains("deeper than 8"), "{}", d[0]);
            assert!(d[0].file.ends_with("p8.yaml"), "{}", d[0]);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn embedded_hooks_call_referee_admin() {
    let p = Profile::load("embedded").unwrap();
    for h in HookName::ALL {
        let hook = p.hook(h).unwrap_or_else(|| panic!("embedded has no {h} hook"));
        assert!(hook.run.starts_with("\"$REFEREE_BIN\" admin "), "{h}: {}", hook.run);
        assert!(hook.run.contains("--target \"$REFEREE_TARGET\""), "{h}: {}", hook.run);
        assert_eq!(hook.timeout_s, 30);
    }
    assert!(
        p.hook(HookName::LockTag)
            .unwrap()
            .run
            .contains("lock-tag --target \"$REFEREE_TARGET\" --repo \"$REFEREE_REPO\" --tag \"$REFEREE_TAG\"")
    );
    assert_eq!(p.declared("tag_locking"), Some("embedded-lock"));
    assert_eq!(p.declared("fallback_tag_lockable"), Some("false"));
    assert_eq!(p.declared("mount_without_from"), Some("201-auto-discovery"));
    let d28 = Profile::load("distribution-2.8").unwrap();
    assert!(d28.hook(HookName::Restart).is_none(), "restart is the user's to give");
}

#[test]
fn invalid_profiles_match_their_golden_stderr() {
    let bless = std::env::var_os("REFEREE_BLESS").is_some();
    let mut files: Vec<PathBuf> = std::fs::read_dir(crate_root().join(FIXTURES))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    assert!(files.len() >= 6, "{files:?}");
    let mut failures = vec![];
    for path in files {
        // Relative to the crate root (cargo runs tests there), as a user would type it.
        let rel = path.strip_prefix(crate_root()).unwrap();
        let err = match Profile::load(rel.to_str().unwrap()) {
            Err(e @ ProfileError::Invalid(_)) => e,
            other => panic!("{}: expected an invalid profile, got {other:?}", rel.display()),
        };
        let got = err.to_string();
        let golden_path = path.with_extension("stderr");
        if bless {
            std::fs::write(&golden_path, &got).unwrap();
            continue;
        }
        let golden = std::fs::read_to_string(&golden_path)
            .unwrap_or_else(|e| panic!("{}: {e} (REFEREE_BLESS=1 writes it)", golden_path.display()));
        if got != golden {
            failures.push(format!("{}:\n--- expected\n{golden}--- got\n{got}", rel.display()));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn an_unknown_builtin_suggests_the_nearest() {
    match Profile::load("zott") {
        Err(ProfileError::NotFound { name, did_you_mean, known }) => {
            assert_eq!(name, "zott");
            assert_eq!(did_you_mean.as_deref(), Some("zot"));
            assert!(known.iter().any(|k| k == "harbor"), "{known:?}");
            let text = Profile::load("zott").unwrap_err().to_string();
            assert!(
                text.starts_with("unknown profile 'zott' (did you mean 'zot'?); built-in profiles: acr, "),
                "{text}"
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(Profile::load("no-such-file.yaml"), Err(ProfileError::Io { .. })));
}

/// The current directory is global to the process, so this runs in a child process of this test
/// binary, started in an empty directory.
#[test]
fn builtins_load_from_any_directory() {
    const CHILD: &str = "REFEREE_PROFILES_TEST_CHILD";
    if std::env::var_os(CHILD).is_some() {
        assert!(!Path::new("profiles").exists());
        let zot = Profile::load("zot").unwrap();
        assert_eq!(zot.declared("referrers_api"), Some("required"));
        assert_eq!(Profile::load("distribution-3").unwrap().declared("referrers_api"), Some("unsupported"));
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "builtins_load_from_any_directory", "--nocapture", "--test-threads=1"])
        .env(CHILD, "1")
        .current_dir(dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("1 passed"), "{stdout}");
}
