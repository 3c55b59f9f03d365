//! End-to-end: the files entra-token owns (the cache directory, entries, locks, temp files) are
//! never followed through links, never served or removed when another user owns them or may
//! write them, and stale temp files are swept; the files the user names (certificate, secret,
//! federated token, config.toml, `api --input`) are followed as given (a Kubernetes projected
//! volume works) but a device, a FIFO without a writer or a huge file is exit 2 naming it, within
//! `--timeout` and without reading it whole. The foreign-owner cases run as root and give files
//! to `nobody`; as another user they are skipped (the mode cases still run).
#![cfg(unix)]

mod common;
use common::*;
use serde_json::json;
use std::os::unix::fs::{MetadataExt, PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

const NOBODY: u32 = 65534;

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

fn cache_root(env: &Env) -> PathBuf {
    env.home().join(".cache").join("entra-token")
}

fn tokens_dir(env: &Env) -> PathBuf {
    cache_root(env).join("tokens")
}

/// The one entry file after a first `get`.
fn the_entry(env: &Env) -> PathBuf {
    let mut entries = files_under(&tokens_dir(env));
    assert_eq!(entries.len(), 1, "{entries:?}");
    entries.pop().unwrap()
}

fn set_mode(p: &Path, mode: u32) {
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn mode_of(p: &Path) -> u32 {
    std::fs::symlink_metadata(p).unwrap().mode() & 0o7777
}

fn mkfifo(p: &Path) {
    rustix::fs::mkfifoat(rustix::fs::CWD, p, rustix::fs::Mode::from_raw_mode(0o600)).unwrap();
}

#[test]
fn an_entry_of_another_user_is_not_served_nor_removed() {
    if !is_root() {
        return;
    }
    let emu = Emulator::start();
    let env = Env::for_emulator(&emu);
    let planted = env.run(&["get"]).ok().token();
    let entry = the_entry(&env);
    let bytes = std::fs::read(&entry).unwrap();
    std::os::unix::fs::chown(&entry, Some(NOBODY), None).unwrap();
    let r = env.run(&["get"]);
    let served = r.ok().token();
    r.stderr_has("cache entry not served")
        .stderr_has("is owned by another user (uid 65534)");
    assert_ne!(served, planted, "the planted token is not printed");
    assert_eq!(emu.token_requests().len(), 2, "a miss: the token was fetched");
    // left alone: still there, still theirs, unchanged
    let meta = std::fs::symlink_metadata(&entry).unwrap();
    assert_eq!(meta.uid(), NOBODY);
    assert_eq!(std::fs::read(&entry).unwrap(), bytes);
    // and `cache clear` does not remove it either, and says so
    env.run(&["cache", "clear"]).ok().stderr_has("left alone");
    assert!(entry.exists());
}

#[test]
fn a_shared_cache_home_planted_by_another_user_is_not_used() {
    if !is_root() {
        return;
    }
    let emu = Emulator::start();
    let mut env = Env::for_emulator(&emu);
    // a shared, sticky cache home (like /tmp) where another user created entra-token/ first
    let shared = env.dir.path().join("shared-cache");
    std::fs::create_dir(&shared).unwrap();
    set_mode(&shared, 0o1777);
    env.set("XDG_CACHE_HOME", shared.to_str().unwrap());
    let planted = env.run(&["get"]).ok().token();
    for p in [shared.join("entra-token"), shared.join("entra-token/tokens")]
        .into_iter()
        .chain(files_under(&shared))
    {
        std::os::unix::fs::chown(&p, Some(NOBODY), None).unwrap();
    }
    let r = env.run(&["get"]);
    let served = r.ok().token();
    r.stderr_has("the token cache is off")
        .stderr_has("is owned by another user");
    assert_ne!(served, planted);
    assert_eq!(emu.token_requests().len(), 2);
    // asked for explicitly, the file store is exit 2 naming the directory
    env.run(&["get", "--cache", "file"])
        .fails(2)
        .stderr_has("--cache file")
        .stderr_has(&shared.join("entra-token").display().to_string());
    // a parent other users may write without the sticky bit is refused the same way
    let open = env.dir.path().join("open-cache");
    std::fs::create_dir(&open).unwrap();
    set_mode(&open, 0o777);
    env.set("XDG_CACHE_HOME", open.to_str().unwrap());
    env.run(&["get"])
        .ok()
        .stderr_has("other users can write to without the sticky bit");
    assert!(!open.join("entra-token").exists(), "nothing created there");
}

#[test]
fn an_entry_others_may_write_is_not_served_and_is_rewritten_private() {
    let emu = Emulator::start();
    let env = Env::for_emulator(&emu);
    env.run(&["get"]).ok();
    let entry = the_entry(&env);
    set_mode(&entry, 0o666);
    env.run(&["get"])
        .ok()
        .stderr_has("cache entry not served")
        .stderr_has("is writable by group or others (mode 0666)");
    assert_eq!(emu.token_requests().len(), 2);
    // ours, so replaced by the new token's entry, private again; then served
    assert_eq!(mode_of(&the_entry(&env)), 0o600);
    env.run(&["get", "-v"]).ok().stderr_has("cache: hit");
    assert_eq!(emu.token_requests().len(), 2);
}

#[test]
fn a_symlinked_tokens_directory_is_neither_chmoded_written_nor_cleared() {
    let emu = Emulator::start();
    let env = Env::for_emulator(&emu);
    env.run(&["get"]).ok();
    let stem_name = the_entry(&env).file_name().unwrap().to_owned();
    // tokens/ replaced by a link to someone's directory holding files with entry-like names
    let elsewhere = env.dir.path().join("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();
    set_mode(&elsewhere, 0o755);
    std::fs::write(elsewhere.join("notes.txt"), b"unrelated").unwrap();
    std::fs::write(elsewhere.join(&stem_name), b"{}").unwrap();
    std::fs::remove_dir_all(tokens_dir(&env)).unwrap();
    symlink(&elsewhere, tokens_dir(&env)).unwrap();
    let r = env.run(&["get"]);
    r.ok()
        .stderr_has("the token cache is off")
        .stderr_has("is a symbolic link");
    assert_eq!(mode_of(&elsewhere), 0o755, "the link's target is not chmod'ed");
    let mut names: Vec<_> = std::fs::read_dir(&elsewhere)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    names.sort();
    assert_eq!(
        names,
        vec![stem_name.clone(), "notes.txt".into()],
        "nothing written there"
    );
    assert_eq!(std::fs::read(elsewhere.join(&stem_name)).unwrap(), b"{}");
    // `cache clear` leaves the target's files alone
    env.run(&["cache", "clear"]).ok().stderr_has("removed 0 cache entries");
    assert!(elsewhere.join("notes.txt").exists() && elsewhere.join(&stem_name).exists());
    // with --cache file it is exit 2 naming the link
    env.run(&["get", "--cache", "file"])
        .fails(2)
        .stderr_has(&tokens_dir(&env).display().to_string())
        .stderr_has("is a symbolic link");
}

#[test]
fn cache_clear_removes_only_its_own_regular_files() {
    let emu = Emulator::start();
    let env = Env::for_emulator(&emu);
    env.run(&["get"]).ok();
    let tokens = tokens_dir(&env);
    let outside = env.dir.path().join("outside.json");
    std::fs::write(&outside, b"keep").unwrap();
    std::fs::write(tokens.join("notes.txt"), b"the user's own file").unwrap();
    symlink(&outside, tokens.join("0123456789abcdef0123456789abcdef01234567.json")).unwrap();
    std::fs::create_dir(tokens.join("fedcba9876543210fedcba9876543210fedcba98.json")).unwrap();
    env.run(&["cache", "clear"]).ok().stderr_has("removed 1 cache entry");
    assert!(tokens.join("notes.txt").exists());
    assert_eq!(std::fs::read(&outside).unwrap(), b"keep");
    assert!(
        tokens
            .join("0123456789abcdef0123456789abcdef01234567.json")
            .symlink_metadata()
            .is_ok(),
        "a link is not removed"
    );
    assert!(tokens.join("fedcba9876543210fedcba9876543210fedcba98.json").is_dir());
}

#[test]
fn a_dangling_lock_symlink_creates_nothing() {
    let emu = Emulator::start();
    let env = Env::for_emulator(&emu);
    env.run(&["get"]).ok();
    let entry = the_entry(&env);
    let stem = entry.file_stem().unwrap().to_str().unwrap().to_string();
    std::fs::remove_file(&entry).unwrap();
    let lock = cache_root(&env).join("locks").join(format!("{stem}.lock"));
    let _ = std::fs::remove_file(&lock);
    let target = env.dir.path().join("created-by-attack");
    symlink(&target, &lock).unwrap();
    env.run(&["get"])
        .ok()
        .stderr_has("cache lock not used")
        .stderr_has("is a symbolic link");
    assert!(!target.exists(), "the link's target was not created");
    assert_eq!(emu.token_requests().len(), 2);
}

#[test]
fn a_device_or_fifo_as_a_cache_entry_is_a_miss() {
    let emu = Emulator::start();
    let env = Env::for_emulator(&emu);
    env.run(&["get"]).ok();
    let entry = the_entry(&env);
    // /dev/zero through a link: not followed, so not read
    std::fs::remove_file(&entry).unwrap();
    symlink("/dev/zero", &entry).unwrap();
    let (r, rss_kib) = run_with_peak_rss(&env, &["get", "--timeout", "10"]);
    r.ok().stderr_has("cache entry not served");
    assert!(rss_kib < 200 * 1024, "bounded memory: {rss_kib} KiB");
    // replaced by the fetched token's entry (the link itself, never its target)
    assert!(std::fs::symlink_metadata(&entry).unwrap().is_file());
    // a FIFO: neither blocks the open nor is read
    std::fs::remove_file(&entry).unwrap();
    mkfifo(&entry);
    let r = timed(|| env.run(&["get", "--timeout", "10"]));
    r.ok().stderr_has("is not a regular file");
    assert!(r.elapsed < Duration::from_secs(10), "hang guard: {:?}", r.elapsed);
    assert_eq!(emu.token_requests().len(), 3);
}

/// Every file a user names, each set to `path`: the args and variables of a `get` or `api`.
fn user_named_places(env: &Env, emu: &Emulator, path: &str) -> Vec<(&'static str, Env, Vec<String>)> {
    let _ = env;
    let base = |f: &dyn Fn(&mut Env)| {
        let mut e = Env::for_emulator(emu);
        f(&mut e);
        e
    };
    let get = |extra: &[&str]| -> Vec<String> {
        ["get", "--timeout", "1"]
            .iter()
            .chain(extra)
            .map(|s| s.to_string())
            .collect()
    };
    vec![
        (
            "--certificate",
            base(&|e| {
                e.unset("AZURE_CLIENT_SECRET");
            }),
            get(&["--certificate", path]),
        ),
        (
            "--client-secret-file",
            base(&|e| {
                e.unset("AZURE_CLIENT_SECRET");
            }),
            get(&["--client-secret-file", path]),
        ),
        (
            "AZURE_FEDERATED_TOKEN_FILE",
            base(&|e| {
                e.unset("AZURE_CLIENT_SECRET");
                e.set("AZURE_FEDERATED_TOKEN_FILE", path);
            }),
            get(&["--cache", "none"]),
        ),
        ("the config file", base(&|_| {}), get(&["--profile", "ci"])),
        (
            "--input",
            base(&|_| {}),
            vec![
                "api".into(),
                "--timeout".into(),
                "1".into(),
                "--graph-url".into(),
                emu.base.clone(),
                "--input".into(),
                path.into(),
                "-X".into(),
                "POST".into(),
                "/v1.0/users".into(),
            ],
        ),
    ]
}

/// `config.toml` at `path`'s place: XDG_CONFIG_HOME/entra-token/config.toml → `target`.
fn config_pointing_at(env: &Env, target: &Path) -> String {
    let dir = env.dir.path().join("xdg-config").join("entra-token");
    std::fs::create_dir_all(&dir).unwrap();
    let _ = std::fs::remove_file(dir.join("config.toml"));
    symlink(target, dir.join("config.toml")).unwrap();
    dir.join("config.toml").display().to_string()
}

#[test]
fn dev_zero_where_a_user_names_a_file_is_exit_2_naming_it() {
    let emu = Emulator::start();
    let env = Env::new();
    for (what, e, args) in user_named_places(&env, &emu, "/dev/zero") {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let mut e = e;
        if what == "the config file" {
            let cfg = config_pointing_at(&env, Path::new("/dev/zero"));
            e.set("XDG_CONFIG_HOME", cfg.strip_suffix("/entra-token/config.toml").unwrap());
        }
        let (r, rss_kib) = run_with_peak_rss(&e, &args);
        r.fails(2).stderr_has(what).stderr_has("is a character device");
        assert!(rss_kib < 200 * 1024, "{what}: bounded memory, {rss_kib} KiB");
    }
    assert!(emu.requests().is_empty(), "nothing sent: {:#?}", emu.requests());
}

#[test]
fn a_fifo_without_a_writer_is_exit_2_at_the_timeout() {
    let emu = Emulator::start();
    let env = Env::new();
    let fifo = env.dir.path().join("never.fifo");
    mkfifo(&fifo);
    let fifo_s = fifo.display().to_string();
    for (what, e, args) in user_named_places(&env, &emu, &fifo_s) {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let mut e = e;
        if what == "the config file" {
            let cfg = config_pointing_at(&env, &fifo);
            e.set("XDG_CONFIG_HOME", cfg.strip_suffix("/entra-token/config.toml").unwrap());
        }
        let r = timed(|| e.run(&args));
        r.fails(2).stderr_has(what).stderr_has("before the time limit");
        assert!(
            r.elapsed < Duration::from_secs(10),
            "{what}: hang guard, {:?}",
            r.elapsed
        );
    }
    assert!(emu.requests().is_empty(), "nothing sent: {:#?}", emu.requests());
}

/// `decode -` reading from a pipe whose writer never finishes: exit 2 at `--timeout`.
#[test]
fn decode_from_a_pipe_that_never_finishes_is_exit_2_at_the_timeout() {
    let env = Env::new();
    let mut c = env.command(&["decode", "--timeout", "1", "-"]);
    // a writer that keeps the pipe open without ever finishing the token
    let mut writer = std::process::Command::new("sh")
        .args(["-c", "printf eyJ; sleep 30"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    c.stdin(writer.stdout.take().unwrap());
    let r = timed(|| Run::from(c.output().unwrap()));
    let _ = writer.kill();
    let _ = writer.wait();
    r.fails(2)
        .stderr_has("the token to decode")
        .stderr_has("before the time limit");
    assert!(r.stdout.is_empty());
    assert!(r.elapsed < Duration::from_secs(10), "hang guard: {:?}", r.elapsed);
}

#[test]
fn a_100_mb_certificate_is_refused_without_being_read() {
    let env = Env::new();
    let big = env.dir.path().join("huge.pem");
    // sparse: 100 MB long, no disk used
    std::fs::File::create(&big).unwrap().set_len(100 * 1024 * 1024).unwrap();
    let (r, rss_kib) = run_with_peak_rss(
        &env,
        &[
            "get",
            "--tenant",
            fx::TENANT_ID,
            "--client-id",
            fx::CLIENT_ID,
            "--certificate",
            big.to_str().unwrap(),
        ],
    );
    r.fails(2)
        .stderr_has("certificate file")
        .stderr_has("is larger than 1 MiB");
    assert!(rss_kib < 50 * 1024, "not read whole: {rss_kib} KiB");
    // the same through `cert inspect`
    env.run(&["cert", "inspect", big.to_str().unwrap()])
        .fails(2)
        .stderr_has("is larger than 1 MiB");
}

#[test]
fn stale_temp_files_of_killed_writers_are_swept_on_writes() {
    let emu = Emulator::start();
    let env = Env::for_emulator(&emu);
    env.run(&["get"]).ok();
    let entry = the_entry(&env);
    let name = entry.file_name().unwrap().to_str().unwrap().to_string();
    let tokens = tokens_dir(&env);
    let stale = tokens.join(format!(".{name}.4242.00112233aabbccdd.tmp"));
    let fresh = tokens.join(format!(".{name}.4243.8899aabbccddeeff.tmp"));
    for p in [&stale, &fresh] {
        std::fs::write(p, b"half a token").unwrap();
        set_mode(p, 0o600);
    }
    let two_minutes_ago = SystemTime::now() - Duration::from_secs(120);
    std::fs::File::options()
        .write(true)
        .open(&stale)
        .unwrap()
        .set_modified(two_minutes_ago)
        .unwrap();
    // a hit writes nothing and sweeps nothing
    env.run(&["get"]).ok();
    assert!(stale.exists());
    env.run(&["get", "--force-refresh"]).ok();
    assert!(!stale.exists(), "older than a minute: swept");
    assert!(fresh.exists(), "a writer may still be at work: kept");
    assert!(entry.exists());
}

/// A Kubernetes projected volume: `name` → `..data/name`, `..data` → `..<timestamp>/`, all
/// owned by root.
fn projected_volume(root: &Path, files: &[(&str, &[u8])]) -> PathBuf {
    let vol = root.join("projected");
    let stamp = vol.join("..2026_11_29_00_00_00.123456789");
    std::fs::create_dir_all(&stamp).unwrap();
    set_mode(&vol, 0o1777);
    for (name, content) in files {
        std::fs::write(stamp.join(name), content).unwrap();
        set_mode(&stamp.join(name), 0o644);
        symlink(format!("..data/{name}"), vol.join(name)).unwrap();
    }
    symlink("..2026_11_29_00_00_00.123456789", vol.join("..data")).unwrap();
    vol
}

#[test]
fn credentials_in_a_kubernetes_projected_volume_work() {
    let emu = Emulator::start();
    let mut env = Env::for_emulator(&emu);
    env.unset("AZURE_CLIENT_SECRET");
    let issuer = "https://oidc.example.test/cluster-1";
    let subject = "system:serviceaccount:jobs:exporter";
    emu.control(
        "POST",
        &format!("/_emulator/apps/{}/federated", fx::CLIENT_ID),
        Some(json!({"issuer": issuer, "subject": subject, "audience": "api://AzureADTokenExchange"})),
    );
    let minted = emu.control(
        "POST",
        "/_emulator/federated-token",
        Some(json!({"issuer": issuer, "subject": subject, "audience": "api://AzureADTokenExchange", "lifetime": 600})),
    );
    // a certificate made by `cert create`, registered on the app
    let made = env.dir.path().join("made");
    std::fs::create_dir(&made).unwrap();
    let pem = made.join("tls.pem");
    let crt = made.join("tls.crt");
    env.run(&[
        "cert",
        "create",
        "--subject",
        "CN=projected",
        "--out",
        pem.to_str().unwrap(),
        "--cert-out",
        crt.to_str().unwrap(),
    ])
    .ok();
    emu.control(
        "POST",
        &format!("/_emulator/apps/{}/certificates", fx::CLIENT_ID),
        Some(json!({ "pem": std::fs::read_to_string(&crt).unwrap() })),
    );
    let vol = projected_volume(
        env.dir.path(),
        &[
            ("azure-identity-token", minted["token"].as_str().unwrap().as_bytes()),
            ("tls.pem", &std::fs::read(&pem).unwrap()),
        ],
    );
    env.set(
        "AZURE_FEDERATED_TOKEN_FILE",
        vol.join("azure-identity-token").to_str().unwrap(),
    );
    let t = env.run(&["get", "--cache", "none"]).ok().token();
    assert_eq!(claims(&t)["tid"], fx::TENANT_ID);
    env.unset("AZURE_FEDERATED_TOKEN_FILE");
    let t = env
        .run(&[
            "get",
            "--cache",
            "none",
            "--certificate",
            vol.join("tls.pem").to_str().unwrap(),
        ])
        .ok()
        .token();
    assert_eq!(claims(&t)["tid"], fx::TENANT_ID);
    let reqs = emu.token_requests();
    assert_eq!(reqs.len(), 2);
    assert_eq!(
        reqs[0]["form"]["client_assertion"],
        unsigned(minted["token"].as_str().unwrap())
    );
}
