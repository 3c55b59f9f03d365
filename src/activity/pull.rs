//! `activity pull` without its command line: the plan (per content type, the windows of at most
//! 24 h from where the state's cursor or `--since` says), the listing (every page, following
//! `NextPageUri` on the Management API's origin only), and the delivery: content blobs fetched
//! with bounded concurrency and written in listing order, each blob's events together as NDJSON,
//! then the state saved.
//!
//! Write protocol: events are written and flushed, and only then is the state that covers them
//! saved (temp file, fsync, rename, fsync of the directory). When several fetched blobs are
//! ready at once they are written and flushed together and covered by one save (never more than
//! `--concurrency` blobs). So a kill can repeat at most that many blobs and never loses one.
//! A window's end becomes the cursor only after every blob listed in it was delivered.
//!
//! Memory is bounded by the concurrency: at most `--concurrency` blob bodies are held (fetched
//! or being fetched) besides the one being written, and the listing holds one page of ids.

use super::Progress;
use super::feed::{ContentRef, ManagementApi, UrlRule, blob_events, parse_listing};
use super::state::StateFile;
use super::times::{self, Window};
use crate::error::{Error, Result};
use futures_util::future::{FutureExt, LocalBoxFuture};
use futures_util::stream::{self, Stream, StreamExt};
use std::cell::Cell;
use std::collections::{HashMap, HashSet, VecDeque};
use std::io::Write;
use url::Url;

/// `--concurrency` default.
pub(crate) const DEFAULT_CONCURRENCY: usize = 4;
/// `--concurrency` maximum (memory is bounded by it, and the service throttles anyway).
pub(crate) const MAX_CONCURRENCY: usize = 64;

/// `--concurrency N`: 1 to [`MAX_CONCURRENCY`], exit 2 otherwise.
pub(crate) fn check_concurrency(n: usize) -> Result<usize> {
    if (1..=MAX_CONCURRENCY).contains(&n) {
        Ok(n)
    } else {
        Err(Error::usage(format!(
            "--concurrency {n} is out of range: give 1 to {MAX_CONCURRENCY}"
        )))
    }
}

/// What to list, already validated.
#[derive(Debug, Clone)]
pub(crate) struct PullOptions {
    /// Canonical content type names, in the order they are pulled.
    pub(crate) content_types: Vec<String>,
    /// An explicit `--since`.
    pub(crate) since: Option<i64>,
    /// An explicit `--until` (default now).
    pub(crate) until: Option<i64>,
    /// `--overlap` in seconds.
    pub(crate) overlap: i64,
    pub(crate) now: i64,
}

/// The windows to list for one content type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TypePlan {
    pub(crate) content_type: String,
    pub(crate) windows: Vec<Window>,
}

/// Checks `--since` (no older than the 7 days the service keeps) and `--until`, then works out
/// each content type's windows from the state's cursor. Everything here happens before anything
/// is sent; the checks of `--since`/`--until` do not need the state and can run before the token
/// is fetched too ([`times::check_since`], [`times::resolve_until`]).
pub(crate) fn plan(opts: &PullOptions, state: Option<&StateFile>, progress: &dyn Progress) -> Result<Vec<TypePlan>> {
    if let Some(since) = opts.since {
        times::check_since(since, opts.now)?;
    }
    let until = times::resolve_until(opts.until, opts.since, opts.now)?;
    Ok(opts
        .content_types
        .iter()
        .map(|ct| {
            let cursor = state.and_then(|s| s.listed_until(ct));
            let start = times::listing_start(opts.since, cursor, opts.overlap, opts.now);
            if let Some(stale) = start.stale_cursor {
                progress.warning(&format!(
                    "the state's cursor for {ct} ({}) is older than the 7 days the service keeps; \
                     listing from {} (content in between can no longer be retrieved)",
                    times::rfc3339(stale),
                    times::rfc3339(start.start)
                ));
            }
            TypePlan {
                content_type: ct.clone(),
                windows: times::windows(start.start, until),
            }
        })
        .collect())
}

/// What a run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Summary {
    /// Windows listed to the end (every page).
    pub(crate) windows: u64,
    /// Blobs fetched and written.
    pub(crate) blobs: u64,
    /// Blobs listed again but delivered before (state) or earlier in this run.
    pub(crate) skipped: u64,
    /// Events written.
    pub(crate) events: u64,
    /// stdout was closed by the reader (`| head`): the run stopped early, successfully.
    pub(crate) stdout_closed: bool,
}

/// One unit of work in listing order.
enum Step {
    Blob(ContentRef),
    /// Every blob listed in `window` precedes this marker.
    WindowDone {
        content_type: String,
        window: Window,
    },
}

/// A step whose blob was fetched.
enum Done {
    Blob(ContentRef, Vec<u8>),
    WindowDone { content_type: String, window: Window },
}

/// Lists one page at a time, handing out blobs not delivered yet.
struct Lister<'a, A> {
    api: &'a A,
    rule: &'a UrlRule,
    plan: &'a [TypePlan],
    progress: &'a dyn Progress,
    skipped: &'a Cell<u64>,
    now: i64,
    type_index: usize,
    window_index: usize,
    /// The first page of the current window was requested.
    listing: bool,
    next_page: Option<Url>,
    /// Pages requested in the current window: a `NextPageUri` back to one would loop.
    pages: HashSet<Url>,
    listed_in_window: usize,
    queue: VecDeque<ContentRef>,
    /// Per content type: ids delivered (state) or handed out in this run.
    seen: HashMap<String, HashSet<String>>,
    failed: bool,
}

impl<A: ManagementApi> Lister<'_, A> {
    async fn next_step(&mut self) -> Option<Result<Step>> {
        if self.failed {
            return None;
        }
        let step = self.advance().await;
        if let Some(Err(_)) = &step {
            self.failed = true;
        }
        step
    }

    async fn advance(&mut self) -> Option<Result<Step>> {
        loop {
            if let Some(r) = self.queue.pop_front() {
                return Some(Ok(Step::Blob(r)));
            }
            let tp = self.plan.get(self.type_index)?;
            let Some(&window) = tp.windows.get(self.window_index) else {
                self.type_index += 1;
                self.window_index = 0;
                continue;
            };
            if self.listing && self.next_page.is_none() {
                self.listing = false;
                self.window_index += 1;
                self.pages.clear();
                self.progress
                    .window_listed(&tp.content_type, window, std::mem::take(&mut self.listed_in_window));
                return Some(Ok(Step::WindowDone {
                    content_type: tp.content_type.clone(),
                    window,
                }));
            }
            self.listing = true;
            let page = self.next_page.take();
            if let Err(e) = self.list_page(tp, window, page).await {
                return Some(Err(e));
            }
        }
    }

    async fn list_page(&mut self, tp: &TypePlan, window: Window, page: Option<Url>) -> Result<()> {
        let reply = self.api.list(&tp.content_type, window, page.as_ref()).await?;
        let refs = parse_listing(&reply.body, self.rule, self.now)?;
        if let Some(raw) = reply.next_page_uri.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
            let next = self.rule.accept(raw, "NextPageUri")?;
            if let Some(p) = page {
                self.pages.insert(p);
            }
            if self.pages.contains(&next) {
                return Err(Error::network(format!(
                    "the Management Activity API's NextPageUri leads back to a page already listed ({next})"
                )));
            }
            self.next_page = Some(next);
        }
        let seen = self.seen.entry(tp.content_type.clone()).or_default();
        for mut r in refs {
            self.listed_in_window += 1;
            if seen.contains(&r.content_id) {
                self.skipped.set(self.skipped.get() + 1);
                self.progress.blob_skipped(&tp.content_type);
                continue;
            }
            seen.insert(r.content_id.clone());
            // the state is keyed by the name the run asked for
            r.content_type.clone_from(&tp.content_type);
            self.queue.push_back(r);
        }
        Ok(())
    }
}

/// A pull or delivery run: the API, the rule for the URLs the service hands out (a `contentUri`
/// or `NextPageUri` off the Management API's origin stops the run with exit 4 and is not
/// fetched), how many blobs are
/// fetched at once, the time the run works with (state pruning), and where progress goes.
pub(crate) struct Engine<'a, A> {
    api: &'a A,
    rule: UrlRule,
    concurrency: usize,
    now: i64,
    progress: &'a dyn Progress,
}

impl<'a, A: ManagementApi> Engine<'a, A> {
    /// Exit 2 when `concurrency` is out of range.
    pub(crate) fn new(
        api: &'a A,
        rule: UrlRule,
        concurrency: usize,
        now: i64,
        progress: &'a dyn Progress,
    ) -> Result<Self> {
        Ok(Engine {
            api,
            rule,
            concurrency: check_concurrency(concurrency)?,
            now,
            progress,
        })
    }

    /// Pulls every window of `plan`, writing events to `out` (NDJSON) and, with a state file,
    /// recording each delivered blob and each window's end.
    pub(crate) async fn pull<W: Write>(
        &self,
        plan: &[TypePlan],
        state: Option<&mut StateFile>,
        out: &mut W,
    ) -> Result<Summary> {
        let skipped = Cell::new(0);
        let mut seen: HashMap<String, HashSet<String>> = HashMap::new();
        if let Some(s) = state.as_deref() {
            for tp in plan {
                seen.insert(
                    tp.content_type.clone(),
                    s.delivered_ids(&tp.content_type).map(str::to_string).collect(),
                );
            }
        }
        let lister = Lister {
            api: self.api,
            rule: &self.rule,
            plan,
            progress: self.progress,
            skipped: &skipped,
            now: self.now,
            type_index: 0,
            window_index: 0,
            listing: false,
            next_page: None,
            pages: HashSet::new(),
            listed_in_window: 0,
            queue: VecDeque::new(),
            seen,
            failed: false,
        };
        let steps = stream::unfold(lister, |mut l| async move { l.next_step().await.map(|s| (s, l)) });
        let mut summary = self.deliver(steps, state, out).await?;
        summary.skipped += skipped.get();
        Ok(summary)
    }

    /// Fetches and writes blobs already known (webhook notifications, deduplicated by
    /// [`super::webhook::Notifications::undelivered`]), recording them in the state.
    pub(crate) async fn deliver_notified<W: Write>(
        &self,
        mut refs: Vec<ContentRef>,
        state: Option<&mut StateFile>,
        out: &mut W,
    ) -> Result<Summary> {
        for r in &mut refs {
            r.content_uri = self.rule.accept(r.content_uri.as_str(), "contentUri")?;
        }
        let steps = stream::iter(refs.into_iter().map(|r| Ok(Step::Blob(r))));
        self.deliver(steps, state, out).await
    }

    /// Runs `steps` through at most `concurrency` concurrent fetches and writes the results in
    /// order.
    async fn deliver<W: Write>(
        &self,
        steps: impl Stream<Item = Result<Step>> + 'a,
        mut state: Option<&mut StateFile>,
        out: &mut W,
    ) -> Result<Summary> {
        let (api, progress, concurrency, now) = (self.api, self.progress, self.concurrency, self.now);
        let fetched = steps
            .map(move |step| -> LocalBoxFuture<'a, Result<Done>> {
                match step {
                    Err(e) => std::future::ready(Err(e)).boxed_local(),
                    Ok(Step::WindowDone { content_type, window }) => {
                        std::future::ready(Ok(Done::WindowDone { content_type, window })).boxed_local()
                    }
                    Ok(Step::Blob(r)) => async move {
                        let body = api.fetch(&r.content_uri).await?;
                        Ok(Done::Blob(r, body))
                    }
                    .boxed_local(),
                }
            })
            .buffered(concurrency);
        let mut fetched = std::pin::pin!(fetched);
        let mut summary = Summary::default();
        let mut writer = EventWriter::default();
        let mut next = fetched.next().await;
        while let Some(first) = next.take() {
            // Write what is ready (this one, and any that finished meanwhile), flush, then save.
            let mut batch = Batch::default();
            let mut item = Some(first);
            let mut failure = None;
            while let Some(done) = item.take() {
                match done {
                    Err(e) => {
                        failure = Some(e);
                        break;
                    }
                    Ok(Done::WindowDone { content_type, window }) => {
                        summary.windows += 1;
                        batch.windows.push((content_type, window.end));
                    }
                    Ok(Done::Blob(r, body)) => {
                        let events = blob_events(&body, &r.content_uri);
                        let events = match events {
                            Ok(ev) => ev,
                            Err(e) => {
                                failure = Some(e);
                                break;
                            }
                        };
                        if !writer.write_blob(out, &events)? {
                            summary.stdout_closed = true;
                            return Ok(summary);
                        }
                        summary.blobs += 1;
                        summary.events += events.len() as u64;
                        progress.blob_written(&r.content_type, events.len());
                        batch.blobs.push((r.content_type, r.content_id, r.created));
                    }
                }
                if batch.len() < concurrency {
                    match fetched.next().now_or_never() {
                        Some(Some(done)) => item = Some(done),
                        Some(None) => break,
                        None => {}
                    }
                }
            }
            if !writer.flush(out)? {
                summary.stdout_closed = true;
                return Ok(summary);
            }
            if let Some(s) = state.as_deref_mut() {
                batch.apply(s);
                if !batch.is_empty() {
                    s.save(now)?;
                }
            }
            if let Some(e) = failure {
                return Err(e);
            }
            next = fetched.next().await;
        }
        Ok(summary)
    }
}

/// What one flush covers, applied to the state only after the flush succeeded.
#[derive(Default)]
struct Batch {
    blobs: Vec<(String, String, i64)>,
    windows: Vec<(String, i64)>,
}

impl Batch {
    fn len(&self) -> usize {
        self.blobs.len() + self.windows.len()
    }
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    fn apply(&self, state: &mut StateFile) {
        for (ct, id, created) in &self.blobs {
            state.mark_delivered(ct, id, *created);
        }
        for (ct, end) in &self.windows {
            state.advance_listed_until(ct, *end);
        }
    }
}

/// Writes a blob's events as NDJSON in one piece; `false` once the reader closed stdout.
#[derive(Default)]
struct EventWriter {
    buf: Vec<u8>,
}

impl EventWriter {
    fn write_blob<W: Write>(&mut self, out: &mut W, events: &[&serde_json::value::RawValue]) -> Result<bool> {
        self.buf.clear();
        for ev in events {
            let text = ev.get();
            if text.contains(['\n', '\r']) {
                // keep one event per line: drop the layout whitespace, nothing else
                crate::output::reformat_json(text, None, 0, &mut self.buf);
            } else {
                self.buf.extend_from_slice(text.as_bytes());
            }
            self.buf.push(b'\n');
        }
        io_result(out.write_all(&self.buf))
    }

    fn flush<W: Write>(&mut self, out: &mut W) -> Result<bool> {
        io_result(out.flush())
    }
}

fn io_result(r: std::io::Result<()>) -> Result<bool> {
    match r {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(false),
        Err(e) => Err(Error::usage("could not write the events to stdout").cause(e)),
    }
}

#[cfg(test)]
mod tests;
