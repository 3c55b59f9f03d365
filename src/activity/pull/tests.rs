//! The pull engine against a fake Management Activity API (no network): windows, pages, order,
//! bounded concurrency, the state protocol and the origin rule.

use super::*;
use crate::activity::feed::{ListReply, UrlRule};
use crate::activity::times::{DAY, HOUR, MINUTE};
use serde_json::json;
use std::cell::RefCell;
use std::collections::BTreeSet;
use std::rc::Rc;
use std::time::Duration;

const NOW: i64 = 1_795_000_000; // 2026-11-18T11:06:40Z
const TENANT: &str = "41463f53-8812-40f4-890f-865bf6e35190";
const ORIGIN: &str = "https://manage.office.com";

#[derive(Clone)]
struct FakeBlob {
    ct: String,
    id: String,
    created: i64,
    events: usize,
}

/// A Management Activity API in memory: lists by `contentCreated` in `[start, end)`, pages of
/// `page_size` linked by `NextPageUri`, blobs of `{"blob":id,"n":k}` events that finish in an
/// order other than the listing's.
struct Fake {
    blobs: RefCell<Vec<FakeBlob>>,
    page_size: usize,
    log: RefCell<Vec<String>>,
    in_flight: Cell<usize>,
    max_in_flight: Cell<usize>,
    fetches_started: Rc<Cell<usize>>,
    fail_fetch: RefCell<HashSet<String>>,
    /// Replaces the `contentUri` of this id.
    uri_override: RefCell<HashMap<String, String>>,
    /// Replaces every `NextPageUri`.
    next_override: RefCell<Option<String>>,
}

impl Fake {
    fn new(page_size: usize) -> Fake {
        Fake {
            blobs: RefCell::new(Vec::new()),
            page_size,
            log: RefCell::new(Vec::new()),
            in_flight: Cell::new(0),
            max_in_flight: Cell::new(0),
            fetches_started: Rc::new(Cell::new(0)),
            fail_fetch: RefCell::new(HashSet::new()),
            uri_override: RefCell::new(HashMap::new()),
            next_override: RefCell::new(None),
        }
    }

    fn add(&self, ct: &str, created: i64, events: usize) -> String {
        let mut blobs = self.blobs.borrow_mut();
        let id = format!("{created}${}${:04}", ct.replace('.', "_"), blobs.len());
        blobs.push(FakeBlob {
            ct: ct.to_string(),
            id: id.clone(),
            created,
            events,
        });
        id
    }

    fn uri(id: &str) -> String {
        format!("{ORIGIN}/api/v1.0/{TENANT}/activity/feed/audit/{id}")
    }

    fn lists(&self) -> Vec<String> {
        self.log
            .borrow()
            .iter()
            .filter(|l| l.starts_with("list"))
            .cloned()
            .collect()
    }

    fn fetched(&self) -> Vec<String> {
        self.log
            .borrow()
            .iter()
            .filter_map(|l| l.strip_prefix("fetch ").map(str::to_string))
            .collect()
    }

    fn listed_order(&self, ct: &str, start: i64, end: i64) -> Vec<String> {
        let mut v: Vec<FakeBlob> = self
            .blobs
            .borrow()
            .iter()
            .filter(|b| b.ct == ct && b.created >= start && b.created < end)
            .cloned()
            .collect();
        v.sort_by(|a, b| (a.created, &a.id).cmp(&(b.created, &b.id)));
        v.into_iter().map(|b| b.id).collect()
    }
}

impl ManagementApi for Fake {
    async fn list(&self, content_type: &str, window: Window, next_page: Option<&Url>) -> Result<ListReply> {
        let page: usize = next_page
            .and_then(|u| {
                u.query_pairs()
                    .find(|(k, _)| k == "page")
                    .map(|(_, v)| v.parse().unwrap())
            })
            .unwrap_or(0);
        self.log
            .borrow_mut()
            .push(format!("list {content_type} {} {} p{page}", window.start, window.end));
        let ids = self.listed_order(content_type, window.start, window.end);
        let blobs = self.blobs.borrow();
        let chunk: Vec<_> = ids
            .iter()
            .skip(page * self.page_size)
            .take(self.page_size)
            .map(|id| {
                let b = blobs.iter().find(|b| &b.id == id).unwrap();
                let uri = self.uri_override.borrow().get(id).cloned().unwrap_or_else(|| Fake::uri(id));
                json!({"contentType": b.ct, "contentId": b.id, "contentUri": uri,
                       "contentCreated": format!("{}.000Z", crate::activity::times::rfc3339(b.created).trim_end_matches('Z')),
                       "contentExpiration": crate::activity::times::rfc3339(b.created + 7 * DAY)})
            })
            .collect();
        let more = ids.len() > (page + 1) * self.page_size;
        let next = if let Some(o) = self.next_override.borrow().clone() {
            Some(o)
        } else {
            more.then(|| {
                format!(
                    "{ORIGIN}/api/v1/{TENANT}/activity/feed/subscriptions/content?contentType={content_type}\
                     &startTime={}&endTime={}&page={}",
                    window.start,
                    window.end,
                    page + 1
                )
            })
        };
        Ok(ListReply {
            body: serde_json::to_vec(&chunk).unwrap(),
            next_page_uri: next,
        })
    }

    async fn fetch(&self, content_uri: &Url) -> Result<Vec<u8>> {
        let id = content_uri.path().rsplit('/').next().unwrap().to_string();
        self.log.borrow_mut().push(format!("fetch {id}"));
        self.fetches_started.set(self.fetches_started.get() + 1);
        self.in_flight.set(self.in_flight.get() + 1);
        self.max_in_flight
            .set(self.max_in_flight.get().max(self.in_flight.get()));
        // later blobs of a group of three finish first
        let index: u64 = id.rsplit('$').next().unwrap().parse().unwrap_or(0);
        tokio::time::sleep(Duration::from_millis(1 + 3 * (2 - index % 3))).await;
        self.in_flight.set(self.in_flight.get() - 1);
        if self.fail_fetch.borrow().contains(&id) {
            return Err(Error::network(format!("fetching {id} failed")));
        }
        let events = self.blobs.borrow().iter().find(|b| b.id == id).map_or(0, |b| b.events);
        let body: Vec<_> = (0..events).map(|n| json!({"blob": id, "n": n})).collect();
        Ok(serde_json::to_vec(&body).unwrap())
    }
}

/// Records what a run reports.
#[derive(Default)]
struct Recorder {
    warnings: RefCell<Vec<String>>,
    windows: RefCell<Vec<(String, Window, usize)>>,
    written: Cell<usize>,
    skipped: Cell<usize>,
}

impl Progress for Recorder {
    fn window_listed(&self, content_type: &str, window: Window, blobs: usize) {
        self.windows
            .borrow_mut()
            .push((content_type.to_string(), window, blobs));
    }
    fn blob_written(&self, _content_type: &str, _events: usize) {
        self.written.set(self.written.get() + 1);
    }
    fn blob_skipped(&self, _content_type: &str) {
        self.skipped.set(self.skipped.get() + 1);
    }
    fn warning(&self, message: &str) {
        self.warnings.borrow_mut().push(message.to_string());
    }
}

fn origin() -> UrlRule {
    UrlRule::new(&Url::parse(ORIGIN).unwrap())
}

fn opts(cts: &[&str], since: Option<i64>, now: i64) -> PullOptions {
    PullOptions {
        content_types: cts.iter().map(|s| s.to_string()).collect(),
        since,
        until: None,
        overlap: DAY,
        now,
    }
}

/// Every event line as (blob id, n).
fn events(out: &[u8]) -> Vec<(String, u64)> {
    String::from_utf8(out.to_vec())
        .unwrap()
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            (v["blob"].as_str().unwrap().to_string(), v["n"].as_u64().unwrap())
        })
        .collect()
}

/// Blob ids in the order their events appear, checking each blob's events are together and
/// complete (0..n in order).
fn blob_order(out: &[u8], fake: &Fake) -> Vec<String> {
    let mut order: Vec<String> = Vec::new();
    let mut expect_n = 0;
    for (blob, n) in events(out) {
        if order.last() != Some(&blob) {
            assert!(!order.contains(&blob), "{blob}'s events are split or repeated");
            if let Some(prev) = order.last() {
                let total = fake.blobs.borrow().iter().find(|b| &b.id == prev).unwrap().events as u64;
                assert_eq!(expect_n, total, "{prev} incomplete");
            }
            order.push(blob);
            expect_n = 0;
        }
        assert_eq!(n, expect_n, "events of a blob in order");
        expect_n += 1;
    }
    if let Some(last) = order.last() {
        let total = fake.blobs.borrow().iter().find(|b| &b.id == last).unwrap().events as u64;
        assert_eq!(expect_n, total, "{last} incomplete");
    }
    order
}

fn run<A: ManagementApi, W: Write>(
    api: &A,
    plan: &[TypePlan],
    state: Option<&mut StateFile>,
    out: &mut W,
    progress: &dyn Progress,
    concurrency: usize,
    now: i64,
) -> Result<Summary> {
    let engine = Engine::new(api, origin(), concurrency, now, progress)?;
    crate::rt::block_on(engine.pull(plan, state, out))
}

fn open_state(dir: &tempfile::TempDir, now: i64) -> StateFile {
    StateFile::open(&dir.path().join("state.json"), TENANT, Duration::from_secs(1), now).unwrap()
}

#[test]
fn sixty_hours_in_windows_with_pages_every_event_once_in_listing_order() {
    let fake = Fake::new(4);
    let since = NOW - 60 * HOUR;
    for i in 0..25 {
        fake.add("Audit.General", since + i * (60 * HOUR / 25), 3 + (i as usize % 4));
    }
    fake.add("Audit.Exchange", NOW - 2 * HOUR, 2);
    fake.add("Audit.Exchange", NOW - 70 * HOUR, 2); // before --since: not listed
    let rec = Recorder::default();
    let plan = plan(
        &opts(&["Audit.General", "Audit.Exchange"], Some(since), NOW),
        None,
        &rec,
    )
    .unwrap();
    assert_eq!(plan.len(), 2);

    // the writer checks that fetching never runs far ahead of writing (memory is bounded)
    struct BoundedReadAhead {
        out: Vec<u8>,
        started: Rc<Cell<usize>>,
        blobs_written: usize,
        concurrency: usize,
    }
    impl Write for BoundedReadAhead {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.blobs_written += 1;
            let ahead = self.started.get() - self.blobs_written;
            assert!(ahead <= self.concurrency, "{ahead} blobs fetched ahead of the writer");
            self.out.extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut out = BoundedReadAhead {
        out: Vec::new(),
        started: fake.fetches_started.clone(),
        blobs_written: 0,
        concurrency: 3,
    };
    let summary = run(&fake, &plan, None, &mut out, &rec, 3, NOW).unwrap();

    // windows: at most 24 h, contiguous from --since to now, per content type
    let lists = fake.lists();
    let mut windows: Vec<(String, i64, i64)> = lists
        .iter()
        .filter(|l| l.ends_with(" p0"))
        .map(|l| {
            let p: Vec<&str> = l.split(' ').collect();
            (p[1].to_string(), p[2].parse().unwrap(), p[3].parse().unwrap())
        })
        .collect();
    windows.dedup();
    let general: Vec<_> = windows.iter().filter(|w| w.0 == "Audit.General").collect();
    assert_eq!(general.len(), 3, "{lists:?}");
    assert_eq!(general[0].1, since);
    assert_eq!(general.last().unwrap().2, NOW);
    assert!(general.iter().all(|w| w.2 - w.1 <= DAY));
    assert!(general.windows(2).all(|p| p[0].2 == p[1].1));
    // NextPageUri was followed: 25 blobs in pages of 4 over three windows
    assert!(lists.iter().any(|l| l.ends_with(" p2")), "{lists:?}");

    // every blob once, in listing order (window by window, page by page), events together
    let mut expected = Vec::new();
    for (ct, s, e) in &windows {
        expected.extend(fake.listed_order(ct, *s, *e));
    }
    let order = blob_order(&out.out, &fake);
    assert_eq!(order, expected);
    assert_eq!(order.len(), 26);
    let total_events: usize = fake
        .blobs
        .borrow()
        .iter()
        .filter(|b| b.created >= since)
        .map(|b| b.events)
        .sum();
    assert_eq!(events(&out.out).len(), total_events);
    assert_eq!(
        summary,
        Summary {
            windows: 3 + 3,
            blobs: 26,
            skipped: 0,
            events: total_events as u64,
            stdout_closed: false
        }
    );
    // concurrency was used, and bounded
    assert_eq!(fake.max_in_flight.get(), 3);
    assert_eq!(rec.written.get(), 26);
    assert_eq!(rec.windows.borrow().len(), 6);
    assert_eq!(rec.windows.borrow().iter().map(|w| w.2).sum::<usize>(), 26);
    assert!(rec.warnings.borrow().is_empty());
}

#[test]
fn concurrency_one_fetches_one_at_a_time() {
    let fake = Fake::new(10);
    for i in 0..5 {
        fake.add("DLP.All", NOW - HOUR + i * MINUTE, 1);
    }
    let plan = plan(&opts(&["DLP.All"], None, NOW), None, &()).unwrap();
    let mut out = Vec::new();
    let s = run(&fake, &plan, None, &mut out, &(), 1, NOW).unwrap();
    assert_eq!(s.blobs, 5);
    assert_eq!(fake.max_in_flight.get(), 1);
    for bad in [0, MAX_CONCURRENCY + 1] {
        let e = Engine::new(&fake, origin(), bad, NOW, &()).err().unwrap();
        assert_eq!(e.exit_code(), 2);
        assert!(e.message.contains("--concurrency"), "{}", e.message);
    }
}

#[test]
fn two_runs_with_state_late_blob_nothing_repeated_nothing_lost() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Fake::new(3);
    let first: Vec<String> = (0..7)
        .map(|i| fake.add("Audit.General", NOW - 30 * HOUR + i * 4 * HOUR, 2))
        .collect();

    let mut state = open_state(&dir, NOW);
    let plan1 = plan(&opts(&["Audit.General"], Some(NOW - 30 * HOUR), NOW), Some(&state), &()).unwrap();
    let mut out1 = Vec::new();
    let s1 = run(&fake, &plan1, Some(&mut state), &mut out1, &(), 4, NOW).unwrap();
    assert_eq!(s1.blobs, 7);
    drop(state);
    assert_eq!(blob_order(&out1, &fake), first);

    // content that shows up late, inside the first run's span, and content after it
    let later = NOW + 3 * HOUR;
    let late = fake.add("Audit.General", NOW - 2 * HOUR, 2);
    let new = fake.add("Audit.General", NOW + HOUR, 2);

    let mut state = open_state(&dir, later);
    assert_eq!(state.listed_until("Audit.General"), Some(NOW));
    let rec = Recorder::default();
    let plan2 = plan(&opts(&["Audit.General"], None, later), Some(&state), &rec).unwrap();
    // from the cursor minus the overlap
    assert_eq!(plan2[0].windows[0].start, NOW - DAY);
    let mut out2 = Vec::new();
    let s2 = run(&fake, &plan2, Some(&mut state), &mut out2, &rec, 4, later).unwrap();
    let order2 = blob_order(&out2, &fake);
    assert_eq!(order2, [late.clone(), new.clone()]);
    // the blobs of the first run inside the overlap were listed again and skipped
    let relisted = first
        .iter()
        .filter(|id| id.split('$').next().unwrap().parse::<i64>().unwrap() >= NOW - DAY);
    assert_eq!(s2.skipped as usize, relisted.count());
    assert_eq!(rec.skipped.get() as u64, s2.skipped);
    drop(state);

    // union: every blob exactly once
    let mut all = blob_order(&out1, &fake);
    all.extend(order2);
    let unique: BTreeSet<_> = all.iter().collect();
    assert_eq!(unique.len(), all.len());
    assert_eq!(all.len(), fake.blobs.borrow().len());

    let state = open_state(&dir, later);
    assert_eq!(state.listed_until("Audit.General"), Some(later));
    assert!(state.is_delivered("Audit.General", &late) && state.is_delivered("Audit.General", &new));
    // a third run finds nothing new
    let mut state = state;
    let plan3 = plan(&opts(&["Audit.General"], None, later + 60), Some(&state), &()).unwrap();
    let mut out3 = Vec::new();
    let s3 = run(&fake, &plan3, Some(&mut state), &mut out3, &(), 4, later + 60).unwrap();
    assert!(out3.is_empty());
    assert_eq!(s3.blobs, 0);
}

/// A writer that, at every write, compares the events written so far with the state on disk: the
/// state never covers a blob whose events were not written before it, and the blobs written but
/// not yet in the state (what a kill at this instant would repeat) are at most `concurrency`.
struct StateWatcher {
    path: std::path::PathBuf,
    out: Vec<u8>,
    concurrency: usize,
    checks: usize,
}

impl StateWatcher {
    fn on_disk(&self) -> BTreeSet<String> {
        match std::fs::read(&self.path) {
            Err(_) => BTreeSet::new(),
            Ok(b) => {
                let v: serde_json::Value = serde_json::from_slice(&b).unwrap();
                v["content"]
                    .as_object()
                    .into_iter()
                    .flat_map(|m| m.values())
                    .flat_map(|c| c["delivered"].as_object().unwrap().keys().cloned())
                    .collect()
            }
        }
    }
}

impl Write for StateWatcher {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let saved = self.on_disk();
        let written: BTreeSet<String> = events(&self.out).into_iter().map(|e| e.0).collect();
        let incoming: BTreeSet<String> = events(buf).into_iter().map(|e| e.0).collect();
        assert!(
            saved.is_subset(&written),
            "the state covers blobs not written: {saved:?} vs {written:?}"
        );
        assert!(
            saved.is_disjoint(&incoming),
            "the state was saved before the blob's events"
        );
        assert!(written.difference(&saved).count() <= self.concurrency);
        self.checks += 1;
        self.out.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn events_are_written_before_the_state_that_covers_them() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Fake::new(5);
    for i in 0..40 {
        fake.add("Audit.SharePoint", NOW - 40 * HOUR + i * HOUR, 1 + i as usize % 3);
    }
    let mut state = open_state(&dir, NOW);
    let plan = plan(
        &opts(&["Audit.SharePoint"], Some(NOW - 40 * HOUR), NOW),
        Some(&state),
        &(),
    )
    .unwrap();
    let mut w = StateWatcher {
        path: dir.path().join("state.json"),
        out: Vec::new(),
        concurrency: 4,
        checks: 0,
    };
    run(&fake, &plan, Some(&mut state), &mut w, &(), 4, NOW).unwrap();
    assert_eq!(w.checks, 40);
    assert_eq!(w.on_disk().len(), 40, "all recorded at the end");
}

#[test]
fn a_failed_blob_stops_the_run_and_a_rerun_delivers_the_rest_once() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Fake::new(4);
    let ids: Vec<String> = (0..12)
        .map(|i| fake.add("Audit.Exchange", NOW - 10 * HOUR + i * 30 * MINUTE, 2))
        .collect();
    fake.fail_fetch.borrow_mut().insert(ids[6].clone());

    let mut state = open_state(&dir, NOW);
    let plan1 = plan(
        &opts(&["Audit.Exchange"], Some(NOW - 10 * HOUR), NOW),
        Some(&state),
        &(),
    )
    .unwrap();
    let mut out1 = Vec::new();
    let e = run(&fake, &plan1, Some(&mut state), &mut out1, &(), 3, NOW).unwrap_err();
    assert_eq!(e.exit_code(), 4);
    drop(state);
    assert_eq!(blob_order(&out1, &fake), ids[..6]);
    let state = open_state(&dir, NOW);
    let saved: Vec<&String> = ids
        .iter()
        .filter(|id| state.is_delivered("Audit.Exchange", id))
        .collect();
    assert_eq!(
        saved,
        ids[..6].iter().collect::<Vec<_>>(),
        "what was written is recorded"
    );
    assert_eq!(
        state.listed_until("Audit.Exchange"),
        None,
        "the window was not finished"
    );

    fake.fail_fetch.borrow_mut().clear();
    let mut state = state;
    let plan2 = plan(&opts(&["Audit.Exchange"], None, NOW + 60), Some(&state), &()).unwrap();
    let mut out2 = Vec::new();
    run(&fake, &plan2, Some(&mut state), &mut out2, &(), 3, NOW + 60).unwrap();
    assert_eq!(blob_order(&out2, &fake), ids[6..]);
}

#[test]
fn a_closed_stdout_stops_quietly_and_records_only_what_was_flushed() {
    struct ClosesAfter(usize, Vec<u8>);
    impl Write for ClosesAfter {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            if self.0 == 0 {
                return Err(std::io::ErrorKind::BrokenPipe.into());
            }
            self.0 -= 1;
            self.1.extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let fake = Fake::new(50);
    let ids: Vec<String> = (0..10).map(|i| fake.add("Audit.General", NOW - HOUR + i, 1)).collect();
    let mut state = open_state(&dir, NOW);
    let plan = plan(&opts(&["Audit.General"], None, NOW), Some(&state), &()).unwrap();
    let mut out = ClosesAfter(3, Vec::new());
    let s = run(&fake, &plan, Some(&mut state), &mut out, &(), 2, NOW).unwrap();
    assert!(s.stdout_closed);
    assert_eq!(blob_order(&out.1, &fake), ids[..3]);
    drop(state);
    let state = open_state(&dir, NOW);
    let recorded: Vec<&String> = ids
        .iter()
        .filter(|id| state.is_delivered("Audit.General", id))
        .collect();
    assert!(recorded.iter().all(|id| ids[..3].contains(id)), "{recorded:?}");
    assert_eq!(state.listed_until("Audit.General"), None);
}

#[test]
fn a_content_uri_off_the_management_origin_is_never_fetched() {
    let fake = Fake::new(10);
    let good = fake.add("Audit.General", NOW - 3 * HOUR, 1);
    let evil = fake.add("Audit.General", NOW - 2 * HOUR, 1);
    fake.uri_override.borrow_mut().insert(
        evil.clone(),
        format!("https://attacker.example/api/v1.0/{TENANT}/activity/feed/audit/{evil}"),
    );
    let plan = plan(&opts(&["Audit.General"], None, NOW), None, &()).unwrap();
    let mut out = Vec::new();
    let e = run(&fake, &plan, None, &mut out, &(), 4, NOW).unwrap_err();
    assert_eq!(e.exit_code(), 4);
    assert!(e.message.contains("another origin"), "{}", e.message);
    // the whole page was refused before any of its blobs was fetched
    assert!(fake.fetched().is_empty(), "{:?}", fake.fetched());
    assert!(out.is_empty());
    let _ = good;
}

#[test]
fn a_next_page_off_origin_or_back_to_a_listed_page_is_refused() {
    let fake = Fake::new(1);
    fake.add("Audit.General", NOW - 3 * HOUR, 1);
    fake.add("Audit.General", NOW - 2 * HOUR, 1);
    *fake.next_override.borrow_mut() = Some("http://manage.office.com/api/v1/next?page=1".into());
    let plan = plan(&opts(&["Audit.General"], None, NOW), None, &()).unwrap();
    let e = run(&fake, &plan, None, &mut Vec::new(), &(), 2, NOW).unwrap_err();
    assert_eq!(e.exit_code(), 4);
    assert!(e.message.contains("NextPageUri"), "{}", e.message);
    assert_eq!(fake.lists().len(), 1, "the off-origin page was not requested");

    let fake = Fake::new(1);
    fake.add("Audit.General", NOW - 3 * HOUR, 1);
    *fake.next_override.borrow_mut() = Some(format!("{ORIGIN}/api/v1/loop?page=0"));
    let e = run(&fake, &plan, None, &mut Vec::new(), &(), 2, NOW).unwrap_err();
    assert_eq!(e.exit_code(), 4);
    assert!(e.message.contains("already listed"), "{}", e.message);
    assert_eq!(fake.lists().len(), 2);
}

#[test]
fn since_older_than_seven_days_is_refused_before_anything_is_sent() {
    let rec = Recorder::default();
    let e = plan(&opts(&["Audit.General"], Some(NOW - 9 * DAY), NOW), None, &rec).unwrap_err();
    assert_eq!(e.exit_code(), 2);
    assert!(e.message.contains("the service keeps 7 days"), "{}", e.message);
}

#[test]
fn a_stale_cursor_is_clamped_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let mut state = open_state(&dir, NOW - 9 * DAY);
    state.advance_listed_until("Audit.General", NOW - 9 * DAY);
    state.save(NOW - 9 * DAY).unwrap();
    drop(state);
    let state = open_state(&dir, NOW);
    let rec = Recorder::default();
    let p = plan(&opts(&["Audit.General", "DLP.All"], None, NOW), Some(&state), &rec).unwrap();
    assert_eq!(p[0].windows[0].start, NOW - 7 * DAY + 5 * MINUTE);
    assert_eq!(p[0].windows.len(), 7);
    assert_eq!(p[1].windows[0].start, NOW - DAY, "no cursor: --since default");
    let warnings = rec.warnings.borrow();
    assert_eq!(warnings.len(), 1);
    assert!(
        warnings[0].contains("Audit.General") && warnings[0].contains("older than the 7 days"),
        "{warnings:?}"
    );
}

#[test]
fn pretty_printed_events_become_one_line_each_and_compact_ones_stay_verbatim() {
    struct Pretty;
    impl ManagementApi for Pretty {
        async fn list(&self, _: &str, w: Window, _: Option<&Url>) -> Result<ListReply> {
            Ok(ListReply {
                body: serde_json::to_vec(&json!([{"contentType": "Audit.General", "contentId": "x",
                    "contentUri": Fake::uri("x"), "contentCreated": crate::activity::times::rfc3339(w.start)}]))
                .unwrap(),
                next_page_uri: None,
            })
        }
        async fn fetch(&self, _: &Url) -> Result<Vec<u8>> {
            Ok(b"[\n  {\n    \"A\": \"x y\",\n    \"B\": [1, 2]\n  },\n  {\"C\":1.50,\"D\": \"a\\nb\"}\n]".to_vec())
        }
    }
    let plan = plan(&opts(&["Audit.General"], Some(NOW - HOUR), NOW), None, &()).unwrap();
    let mut out = Vec::new();
    run(&Pretty, &plan, None, &mut out, &(), 2, NOW).unwrap();
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "{\"A\":\"x y\",\"B\":[1,2]}\n{\"C\":1.50,\"D\": \"a\\nb\"}\n"
    );
}

#[test]
fn a_blob_that_is_not_an_array_stops_the_run_after_what_came_before() {
    struct Bad;
    impl ManagementApi for Bad {
        async fn list(&self, _: &str, w: Window, _: Option<&Url>) -> Result<ListReply> {
            let item = |id: &str| {
                json!({"contentType": "Audit.General", "contentId": id,
                "contentUri": Fake::uri(id), "contentCreated": crate::activity::times::rfc3339(w.start)})
            };
            Ok(ListReply {
                body: serde_json::to_vec(&json!([item("ok"), item("html")])).unwrap(),
                next_page_uri: None,
            })
        }
        async fn fetch(&self, uri: &Url) -> Result<Vec<u8>> {
            Ok(if uri.path().ends_with("ok") {
                b"[{\"a\":1}]".to_vec()
            } else {
                b"<html>proxy</html>".to_vec()
            })
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let mut state = open_state(&dir, NOW);
    let plan = plan(&opts(&["Audit.General"], Some(NOW - HOUR), NOW), Some(&state), &()).unwrap();
    let mut out = Vec::new();
    let e = run(&Bad, &plan, Some(&mut state), &mut out, &(), 2, NOW).unwrap_err();
    assert_eq!(e.exit_code(), 4);
    assert!(e.message.contains("not a JSON array"), "{}", e.message);
    assert_eq!(out, b"{\"a\":1}\n");
    drop(state);
    let state = open_state(&dir, NOW);
    assert!(state.is_delivered("Audit.General", "ok") && !state.is_delivered("Audit.General", "html"));
}

#[test]
fn notified_blobs_are_delivered_once_with_the_state() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Fake::new(10);
    let a = fake.add("Audit.SharePoint", NOW - HOUR, 2);
    let b = fake.add("Audit.SharePoint", NOW - HOUR + 1, 1);
    let refs = |ids: &[&String]| -> Vec<ContentRef> {
        ids.iter()
            .map(|id| ContentRef {
                content_type: "Audit.SharePoint".into(),
                content_id: id.to_string(),
                content_uri: Url::parse(&Fake::uri(id)).unwrap(),
                created: NOW - HOUR,
            })
            .collect()
    };
    let mut state = open_state(&dir, NOW);
    let engine = Engine::new(&fake, origin(), 4, NOW, &()).unwrap();
    let mut out = Vec::new();
    crate::rt::block_on(engine.deliver_notified(refs(&[&a]), Some(&mut state), &mut out)).unwrap();
    assert_eq!(blob_order(&out, &fake), [a.as_str()]);
    assert!(state.is_delivered("Audit.SharePoint", &a));

    // the service retries the notification, now with b: only b is fetched
    let notified = crate::activity::webhook::Notifications {
        content: refs(&[&a, &b]),
        ..Default::default()
    };
    let todo = notified.undelivered(|ct, id| state.is_delivered(ct, id));
    let mut out = Vec::new();
    crate::rt::block_on(engine.deliver_notified(todo, Some(&mut state), &mut out)).unwrap();
    assert_eq!(blob_order(&out, &fake), [b.as_str()]);
    assert_eq!(fake.fetched(), [a, b]);

    // refs must be on the Management origin too
    let mut evil = refs(&[&"x".to_string()]);
    evil[0].content_uri = Url::parse("https://attacker.example/x").unwrap();
    let e = crate::rt::block_on(engine.deliver_notified(evil, None, &mut Vec::new())).unwrap_err();
    assert_eq!(e.exit_code(), 4);
}
