//! The content behind the emulator's Office 365 Management Activity API, after the caller has
//! authenticated the request: subscriptions per tenant and content type (start, stop, list; a
//! webhook's settings are kept and a validation notice is queued for delivery, which this module
//! does not do), content blobs (a generated baseline, seeded series and late content whose
//! `contentCreated` lies inside a window that was already listed), listing by window with
//! `NextPageUri` paging, blob retrieval, a throttle that answers `AF429` with `Retry-After`, the
//! `PublisherIdentifier` of every call, and the `AFnnnnn` errors of Microsoft's "Office 365
//! Management Activity API reference". Also the `/_emulator/activity` control endpoints.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::clock::{iso8601, parse_iso_time};
use crate::fixtures as fx;
use crate::reply::ApiReply;

/// The content types the API knows.
pub(crate) const CONTENT_TYPES: &[&str] = &[
    "Audit.AzureActiveDirectory",
    "Audit.Exchange",
    "Audit.SharePoint",
    "Audit.General",
    "DLP.All",
];

const HOUR: u64 = 3_600;
const DAY: u64 = 86_400;
/// Content older than this is expired, and windows may not start earlier.
const RETENTION: u64 = 7 * DAY;
/// Largest number of blobs one control call may add.
const MAX_SEED_BLOBS: u64 = 100_000;
/// Largest number of events per seeded blob.
const MAX_EVENTS_PER_BLOB: u64 = 10_000;

const WINDOW_RULE: &str = "Start time and end time must both be specified (or both omitted) and must be less than or equal to 24 hours apart, with the start time no more than 7 days in the past.";

/// An error in the API's shape: `{"error":{"code":"AFnnnnn","message":...}}`.
pub(crate) fn af(status: u16, code: &str, message: &str) -> ApiReply {
    ApiReply::json(status, json!({"error": {"code": code, "message": message}}))
}

/// `2015-05-23T17:35:00.000Z`, how the API writes `contentCreated`.
fn api_time(epoch: u64) -> String {
    iso8601(epoch as i64).replace('Z', ".000Z")
}

/// A webhook registered with a subscription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Webhook {
    pub(crate) address: String,
    pub(crate) auth_id: Option<String>,
    pub(crate) expiration: Option<String>,
}

impl Webhook {
    fn view(&self) -> Value {
        json!({
            "status": "enabled",
            "address": self.address,
            "authId": self.auth_id,
            "expiration": self.expiration,
        })
    }
}

/// A started subscription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Subscription {
    pub(crate) webhook: Option<Webhook>,
}

/// What the webhook deliverer (not part of this module) has to send.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Notification {
    /// `/start` registered a webhook: the validation request to send to it.
    Validation {
        tenant: String,
        content_type: String,
        webhook: Webhook,
    },
    /// New content for a subscription with a webhook: the notification body's blobs.
    Content {
        tenant: String,
        content_type: String,
        webhook: Webhook,
        blobs: Vec<Value>,
    },
}

/// Where a blob's events come from.
#[derive(Debug, Clone, PartialEq)]
enum Events {
    /// Generated on retrieval: this many.
    Generated(u64),
    /// Given by the control API.
    Given(Vec<Value>),
}

/// A blob added through the control API.
#[derive(Debug, Clone, PartialEq)]
struct StoredBlob {
    serial: u64,
    tenant: String,
    content_type: String,
    /// `contentCreated`.
    created: u64,
    /// When the blob starts to be listed and served.
    available_at: u64,
    events: Events,
}

/// A blob as listed: stored, or from the generated baseline.
#[derive(Debug, Clone, PartialEq)]
struct Blob {
    key: BlobKey,
    content_type: String,
    created: u64,
    available_at: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum BlobKey {
    Baseline(u64),
    Stored(u64),
}

impl Blob {
    fn id(&self) -> String {
        let stamp = iso8601(self.created as i64)
            .chars()
            .filter(char::is_ascii_digit)
            .collect::<String>();
        let key = match self.key {
            BlobKey::Baseline(i) => format!("b{i}"),
            BlobKey::Stored(n) => format!("s{n}"),
        };
        format!(
            "{stamp}000{key:0>8}${stamp}000{key:0>8}${}${}${key}",
            self.content_type.to_ascii_lowercase().replace('.', "_"),
            self.content_type.replace('.', "_"),
        )
    }

    fn view(&self, origin: &str, tenant: &str) -> Value {
        let id = self.id();
        json!({
            "contentType": self.content_type,
            "contentId": id,
            "contentUri": format!("{origin}/api/v1.0/{tenant}/activity/feed/audit/{id}"),
            "contentCreated": api_time(self.created),
            "contentExpiration": api_time(self.created + RETENTION),
        })
    }
}

/// The generated baseline: `per_type` blobs of each content type (3 events each) spread over
/// the 22 hours that end an hour before the feed was made, so the default window (the last 24
/// hours) lists all of them for the first hour of a run. `/_emulator/config`'s `content_blobs`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Baseline {
    pub(crate) per_type: u64,
    /// Blobs per listing page (`content_page_size`).
    pub(crate) page_size: u64,
}

/// One authenticated API call, as this module needs it.
pub(crate) struct FeedRequest<'a> {
    pub(crate) method: &'a str,
    /// The tenant id in the URL, lower case, already checked against the token.
    pub(crate) tenant: &'a str,
    /// The path after `/activity/feed/`.
    pub(crate) rest: &'a [&'a str],
    pub(crate) params: Vec<(String, String)>,
    pub(crate) body: &'a [u8],
    /// `scheme://host[:port]` for `contentUri` and `NextPageUri`.
    pub(crate) origin: &'a str,
    pub(crate) now: u64,
}

impl FeedRequest<'_> {
    fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// All Management Activity API state.
#[derive(Debug)]
pub(crate) struct Feed {
    /// tenant id → content type → subscription.
    subscriptions: BTreeMap<String, BTreeMap<String, Subscription>>,
    blobs: Vec<StoredBlob>,
    next_serial: u64,
    /// When the feed was made: the baseline ends an hour before.
    anchor: u64,
    /// Blob requests still to answer with AF429, and the `Retry-After` to send.
    throttle: Option<(u32, String)>,
    /// `PublisherIdentifier` → calls ("" for calls without one).
    publishers: BTreeMap<String, u64>,
    /// Notifications for the webhook deliverer, oldest first.
    outbox: Vec<Notification>,
}

impl Feed {
    /// An empty feed anchored at `anchor` (epoch seconds).
    pub(crate) fn new(anchor: u64) -> Self {
        Feed {
            subscriptions: BTreeMap::new(),
            blobs: Vec::new(),
            next_serial: 1,
            anchor,
            throttle: None,
            publishers: BTreeMap::new(),
            outbox: Vec::new(),
        }
    }

    /// The fixture: `Audit.General` started in `tenant`, anchored at `now`.
    pub(crate) fn fixture(tenant: &str, now: u64) -> Self {
        let mut f = Feed::new(now);
        f.subscriptions
            .entry(tenant.to_ascii_lowercase())
            .or_default()
            .insert("Audit.General".into(), Subscription { webhook: None });
        f
    }

    /// Takes the queued notifications (for webhook delivery).
    pub(crate) fn take_notifications(&mut self) -> Vec<Notification> {
        std::mem::take(&mut self.outbox)
    }

    fn subscription(&self, tenant: &str, ct: &str) -> Option<&Subscription> {
        self.subscriptions.get(tenant)?.get(ct)
    }

    // ---- the API ---------------------------------------------------------------------------

    /// Answers one authenticated request.
    pub(crate) fn handle(&mut self, req: &FeedRequest<'_>, baseline: Baseline) -> ApiReply {
        let publisher = req.param("PublisherIdentifier").unwrap_or("").to_string();
        *self.publishers.entry(publisher).or_default() += 1;
        match (req.method, req.rest) {
            ("POST", ["subscriptions", "start"]) => self.start(req),
            ("POST", ["subscriptions", "stop"]) => {
                let ct = match checked_type(req) {
                    Ok(ct) => ct,
                    Err(e) => return e,
                };
                let removed = self.subscriptions.get_mut(req.tenant).and_then(|s| s.remove(&ct));
                if removed.is_none() {
                    return no_subscription();
                }
                ApiReply::json(200, Value::Null)
            }
            ("GET", ["subscriptions", "list"]) => {
                let list: Vec<Value> = self
                    .subscriptions
                    .get(req.tenant)
                    .into_iter()
                    .flatten()
                    .map(|(ct, s)| {
                        json!({
                            "contentType": ct,
                            "status": "enabled",
                            "webhook": s.webhook.as_ref().map(Webhook::view),
                        })
                    })
                    .collect();
                ApiReply::json(200, Value::Array(list))
            }
            ("GET", ["subscriptions", "notifications"]) => {
                let ct = match checked_type(req) {
                    Ok(ct) => ct,
                    Err(e) => return e,
                };
                if self.subscription(req.tenant, &ct).is_none() {
                    return no_subscription();
                }
                // delivery attempts are the webhook deliverer's to record
                ApiReply::json(200, json!([]))
            }
            ("GET", ["subscriptions", "content"]) => self.list_content(req, baseline),
            ("GET", ["audit", content_id]) => self.blob(req, baseline, content_id),
            _ => af(
                404,
                "AF20000",
                &format!(
                    "The Management Activity API stand-in has no {} .../activity/feed/{}.",
                    req.method,
                    req.rest.join("/")
                ),
            ),
        }
    }

    fn start(&mut self, req: &FeedRequest<'_>) -> ApiReply {
        let ct = match checked_type(req) {
            Ok(ct) => ct,
            Err(e) => return e,
        };
        let webhook = match webhook_from_body(req.body, req.now) {
            Ok(w) => w,
            Err(e) => return e,
        };
        let subs = self.subscriptions.entry(req.tenant.to_string()).or_default();
        let next = Subscription {
            webhook: webhook.clone(),
        };
        if subs.get(&ct) == Some(&next) {
            return af(
                400,
                "AF20024",
                "The subscription is already enabled. No property change.",
            );
        }
        subs.insert(ct.clone(), next);
        if let Some(w) = &webhook {
            self.outbox.push(Notification::Validation {
                tenant: req.tenant.to_string(),
                content_type: ct.clone(),
                webhook: w.clone(),
            });
        }
        ApiReply::json(
            200,
            json!({
                "contentType": ct,
                "status": "enabled",
                "webhook": webhook.as_ref().map(Webhook::view),
            }),
        )
    }

    /// Every blob of `tenant` and `ct` available at `now`, in the order they became available.
    fn available(&self, tenant: &str, ct: &str, baseline: Baseline, now: u64) -> Vec<Blob> {
        let mut out: Vec<Blob> = (0..baseline.per_type)
            .map(|i| {
                let created = self.baseline_created(i, baseline.per_type);
                Blob {
                    key: BlobKey::Baseline(i),
                    content_type: ct.to_string(),
                    created,
                    available_at: created,
                }
            })
            .collect();
        out.extend(
            self.blobs
                .iter()
                .filter(|b| b.tenant == tenant && b.content_type == ct)
                .map(|b| Blob {
                    key: BlobKey::Stored(b.serial),
                    content_type: b.content_type.clone(),
                    created: b.created,
                    available_at: b.available_at,
                }),
        );
        out.retain(|b| b.available_at <= now);
        out.sort_by_key(|b| (b.available_at, b.created, b.key));
        out
    }

    fn baseline_created(&self, i: u64, n: u64) -> u64 {
        let span = 22 * HOUR;
        self.anchor.saturating_sub(23 * HOUR) + span * i / n.max(1)
    }

    fn list_content(&self, req: &FeedRequest<'_>, baseline: Baseline) -> ApiReply {
        let ct = match checked_type(req) {
            Ok(ct) => ct,
            Err(e) => return e,
        };
        if self.subscription(req.tenant, &ct).is_none() {
            return no_subscription();
        }
        let (start, end) = match window(req) {
            Ok(w) => w,
            Err(e) => return e,
        };
        let page = match req.param("nextPage") {
            None => 0,
            Some(p) => match decode_page(p) {
                Some(n) => n,
                None => return af(400, "AF20031", &format!("Invalid nextPage Input: {p}.")),
            },
        };
        let listed: Vec<Blob> = self
            .available(req.tenant, &ct, baseline, req.now)
            .into_iter()
            .filter(|b| start <= b.created && b.created < end)
            .collect();
        let size = baseline.page_size.max(1);
        let total = listed.len() as u64;
        let first = page.saturating_mul(size).min(total);
        let last = first.saturating_add(size).min(total);
        let items: Vec<Value> = listed[first as usize..last as usize]
            .iter()
            .map(|b| b.view(req.origin, req.tenant))
            .collect();
        let mut reply = ApiReply::json(200, Value::Array(items));
        if last < total {
            let q = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
            let t = |e: u64| iso8601(e as i64).trim_end_matches('Z').to_string();
            let mut uri = format!(
                "{}/api/v1/{}/activity/feed/subscriptions/content?contentType={}&startTime={}&endTime={}",
                req.origin,
                req.tenant,
                q(&ct),
                q(&t(start)),
                q(&t(end)),
            );
            if let Some(p) = req.param("PublisherIdentifier") {
                uri.push_str(&format!("&PublisherIdentifier={}", q(p)));
            }
            uri.push_str(&format!("&nextPage={}", encode_page(page + 1)));
            reply = reply.header("NextPageUri", uri);
        }
        reply
    }

    fn blob(&mut self, req: &FeedRequest<'_>, baseline: Baseline, content_id: &str) -> ApiReply {
        if let Some((left, retry_after)) = &mut self.throttle {
            *left -= 1;
            let retry_after = retry_after.clone();
            if *left == 0 {
                self.throttle = None;
            }
            let publisher = req.param("PublisherIdentifier").unwrap_or("");
            return af(
                429,
                "AF429",
                &format!("Too many requests. Method={}, PublisherId={publisher}", req.method),
            )
            .header("Retry-After", retry_after);
        }
        let Some((ct, key)) = parse_content_id(content_id) else {
            return af(
                400,
                "AF20052",
                &format!("Content ID {content_id} in the URL is invalid."),
            );
        };
        let stored = match key {
            BlobKey::Stored(n) => self
                .blobs
                .iter()
                .find(|b| b.serial == n && b.tenant == req.tenant && b.content_type == ct),
            BlobKey::Baseline(_) => None,
        };
        let found = match key {
            BlobKey::Baseline(i) if i < baseline.per_type => {
                let created = self.baseline_created(i, baseline.per_type);
                Some((created, created, Events::Generated(3)))
            }
            BlobKey::Baseline(_) => None,
            BlobKey::Stored(_) => stored.map(|b| (b.created, b.available_at, b.events.clone())),
        };
        let Some((created, _, events)) = found.filter(|(_, at, _)| *at <= req.now) else {
            return af(
                404,
                "AF20050",
                &format!("The specified content ({content_id}) does not exist."),
            );
        };
        if created + RETENTION < req.now {
            return af(
                400,
                "AF20051",
                &format!(
                    "Content requested with the key {content_id} has already expired. Content older than 7 days cannot be retrieved."
                ),
            );
        }
        if self.subscription(req.tenant, &ct).is_none() {
            return no_subscription();
        }
        let events = match events {
            Events::Given(list) => list,
            Events::Generated(n) => (0..n)
                .map(|k| generated_event(req.tenant, &ct, key, created, k, n))
                .collect(),
        };
        ApiReply::json(200, Value::Array(events))
    }

    // ---- control ---------------------------------------------------------------------------

    /// Adds a blob; queues a notification for a subscription with a webhook.
    fn add(&mut self, tenant: &str, ct: &str, created: u64, available_at: u64, events: Events, origin: &str) -> Value {
        let serial = self.next_serial;
        self.next_serial += 1;
        let blob = Blob {
            key: BlobKey::Stored(serial),
            content_type: ct.to_string(),
            created,
            available_at,
        };
        let view = blob.view(origin, tenant);
        self.blobs.push(StoredBlob {
            serial,
            tenant: tenant.to_string(),
            content_type: ct.to_string(),
            created,
            available_at,
            events,
        });
        if let Some(w) = self.subscription(tenant, ct).and_then(|s| s.webhook.clone()) {
            let mut note = view.clone();
            note["tenantId"] = json!(tenant);
            self.outbox.push(Notification::Content {
                tenant: tenant.to_string(),
                content_type: ct.to_string(),
                webhook: w,
                blobs: vec![note],
            });
        }
        view
    }

    /// `/_emulator/activity[/...]`: `rest` is the path after `/_emulator/activity`.
    /// Returns the status and the JSON answer. `home_tenant` is the default `tenant`.
    pub(crate) fn control(
        &mut self,
        method: &str,
        rest: &str,
        body: &[u8],
        home_tenant: &str,
        origin: &str,
        now: u64,
    ) -> (u16, Value) {
        let parsed = || -> Result<serde_json::Map<String, Value>, String> {
            if body.iter().all(u8::is_ascii_whitespace) {
                return Ok(serde_json::Map::new());
            }
            match serde_json::from_slice(body) {
                Ok(Value::Object(o)) => Ok(o),
                Ok(_) => Err("expected a JSON object".into()),
                Err(e) => Err(format!("invalid JSON: {e}")),
            }
        };
        let bad = |msg: String| (400, json!({"error": "bad_request", "message": msg}));
        match (method, rest) {
            ("GET", "") => (200, self.summary()),
            ("POST", "/seed") => match parsed().and_then(|o| self.seed(&o, home_tenant, origin, now)) {
                Ok(v) => (200, v),
                Err(msg) => bad(msg),
            },
            ("POST", "/content") => match parsed().and_then(|o| self.late(&o, home_tenant, origin, now)) {
                Ok(v) => (201, v),
                Err(msg) => bad(msg),
            },
            ("DELETE", "/content") => {
                self.blobs.clear();
                (200, json!({"ok": true}))
            }
            ("POST", "/throttle") => match parsed().and_then(|o| throttle_from(&o)) {
                Ok(t) => {
                    self.throttle = Some(t);
                    (200, json!({"ok": true}))
                }
                Err(msg) => bad(msg),
            },
            ("DELETE", "/throttle") => {
                self.throttle = None;
                (200, json!({"ok": true}))
            }
            (_, "" | "/seed" | "/content" | "/throttle") => (
                405,
                json!({"error": "method_not_allowed", "message": format!("{method} is not supported on /_emulator/activity{rest}")}),
            ),
            _ => (
                404,
                json!({"error": "not_found", "message": format!("no control endpoint /_emulator/activity{rest}")}),
            ),
        }
    }

    fn summary(&self) -> Value {
        let subs: BTreeMap<&String, Vec<Value>> = self
            .subscriptions
            .iter()
            .map(|(t, m)| {
                let list = m
                    .iter()
                    .map(|(ct, s)| json!({"contentType": ct, "webhook": s.webhook.as_ref().map(Webhook::view)}))
                    .collect();
                (t, list)
            })
            .collect();
        json!({
            "subscriptions": subs,
            "stored_blobs": self.blobs.len(),
            "throttled_blob_requests": self.throttle.as_ref().map_or(0, |(n, _)| *n),
            "publishers": self.publishers,
            "pending_notifications": self.outbox.len(),
        })
    }

    /// `{"blobs": N, "events_per_blob"?: M, "content_types"?: [...], "tenant"?, "start"?, "end"?,
    /// "hours"?}`: N blobs of each content type, evenly spaced over `[start, end)` (default: the
    /// `hours` (default 24) before `end`, default now), each available from its creation.
    fn seed(
        &mut self,
        o: &serde_json::Map<String, Value>,
        home: &str,
        origin: &str,
        now: u64,
    ) -> Result<Value, String> {
        let tenant = tenant_from(o, home)?;
        let n = o
            .get("blobs")
            .and_then(Value::as_u64)
            .filter(|n| (1..=MAX_SEED_BLOBS).contains(n))
            .ok_or_else(|| format!("\"blobs\" must be a number between 1 and {MAX_SEED_BLOBS}"))?;
        let per_blob = events_per_blob(o)?;
        let types = content_types_from(o)?;
        let end = match o.get("end") {
            None | Some(Value::Null) => now,
            Some(v) => time_from(v).ok_or("\"end\" must be an ISO 8601 time or epoch seconds")?,
        };
        let start = match (o.get("start"), o.get("hours")) {
            (Some(v), _) if !v.is_null() => {
                time_from(v).ok_or("\"start\" must be an ISO 8601 time or epoch seconds")?
            }
            (_, Some(h)) if !h.is_null() => {
                let h = h
                    .as_u64()
                    .filter(|h| (1..=24 * 365).contains(h))
                    .ok_or("\"hours\" must be a whole number of hours between 1 and 8760")?;
                end.saturating_sub(h * HOUR)
            }
            _ => end.saturating_sub(24 * HOUR),
        };
        if start >= end {
            return Err("\"start\" must be before \"end\"".into());
        }
        let total = n * types.len() as u64;
        if self.blobs.len() as u64 + total > MAX_SEED_BLOBS * 5 {
            return Err(format!("at most {} stored blobs", MAX_SEED_BLOBS * 5));
        }
        for ct in &types {
            for j in 0..n {
                let created = start + (end - start) * j / n;
                self.add(&tenant, ct, created, created, Events::Generated(per_blob), origin);
            }
        }
        Ok(json!({
            "added": total,
            "content_types": types,
            "tenant": tenant,
            "first_created": api_time(start),
            "last_created": api_time(start + (end - start) * (n - 1) / n),
            "events_per_blob": per_blob,
        }))
    }

    /// Late content: `{"content_type", "created", "available_at"? (default now), "events"? |
    /// "events_per_blob"?, "tenant"?}`.
    fn late(
        &mut self,
        o: &serde_json::Map<String, Value>,
        home: &str,
        origin: &str,
        now: u64,
    ) -> Result<Value, String> {
        let tenant = tenant_from(o, home)?;
        let ct = o
            .get("content_type")
            .and_then(Value::as_str)
            .and_then(canonical_type)
            .ok_or_else(|| format!("\"content_type\" must be one of {}", CONTENT_TYPES.join(", ")))?;
        let created = o
            .get("created")
            .and_then(time_from)
            .ok_or("\"created\" must be an ISO 8601 time or epoch seconds")?;
        let available_at = match o.get("available_at") {
            None | Some(Value::Null) => now,
            Some(v) => time_from(v).ok_or("\"available_at\" must be an ISO 8601 time or epoch seconds")?,
        };
        let events = match o.get("events") {
            None | Some(Value::Null) => Events::Generated(events_per_blob(o)?),
            Some(Value::Array(list)) if !list.is_empty() && list.iter().all(Value::is_object) => {
                Events::Given(list.clone())
            }
            Some(_) => return Err("\"events\" must be a non-empty array of JSON objects".into()),
        };
        let mut view = self.add(&tenant, ct, created, available_at, events, origin);
        view["availableAt"] = json!(api_time(available_at));
        Ok(view)
    }
}

fn no_subscription() -> ApiReply {
    af(400, "AF20022", "No subscription found for the specified content type.")
}

fn canonical_type(ct: &str) -> Option<&'static str> {
    CONTENT_TYPES.iter().find(|k| k.eq_ignore_ascii_case(ct)).copied()
}

fn checked_type(req: &FeedRequest<'_>) -> Result<String, ApiReply> {
    let Some(ct) = req.param("contentType").filter(|c| !c.is_empty()) else {
        return Err(af(400, "AF20001", "Missing parameter: contentType."));
    };
    canonical_type(ct)
        .map(str::to_string)
        .ok_or_else(|| af(400, "AF20020", "The specified content type is not valid."))
}

/// The listing window `[start, end)`: both given or neither (then the last 24 hours). The
/// documented code for a window over 24 hours or starting more than 7 days ago is AF20030; the
/// service answers AF20055 with the same text, so the emulator does too.
fn window(req: &FeedRequest<'_>) -> Result<(u64, u64), ApiReply> {
    let now = req.now;
    match (req.param("startTime"), req.param("endTime")) {
        (None, None) => Ok((now.saturating_sub(DAY), now)),
        (Some(s), Some(e)) => {
            let start = parse_iso_time(s).ok_or_else(|| {
                af(
                    400,
                    "AF20002",
                    "Invalid parameter type: startTime. Expected type: datetime",
                )
            })?;
            let end = parse_iso_time(e).ok_or_else(|| {
                af(
                    400,
                    "AF20002",
                    "Invalid parameter type: endTime. Expected type: datetime",
                )
            })?;
            if end <= start || end - start > DAY || start + RETENTION < now {
                return Err(af(400, "AF20055", WINDOW_RULE));
            }
            Ok((start, end))
        }
        _ => Err(af(400, "AF20030", WINDOW_RULE)),
    }
}

/// `nextPage` tokens look like Microsoft's (`2015101900R022885001761`): here the page index.
fn encode_page(page: u64) -> String {
    format!("{:014}R{page:09}", 0)
}

fn decode_page(s: &str) -> Option<u64> {
    let (zeros, page) = s.split_once('R')?;
    if zeros.len() != 14 || !zeros.bytes().all(|b| b == b'0') || page.len() != 9 {
        return None;
    }
    page.parse().ok()
}

/// The content type and key of a content id made by [`Blob::id`].
fn parse_content_id(id: &str) -> Option<(String, BlobKey)> {
    let parts: Vec<&str> = id.split('$').collect();
    let [a, b, lower, upper, key] = parts.as_slice() else {
        return None;
    };
    if a != b || !a.bytes().all(|c| c.is_ascii_alphanumeric()) {
        return None;
    }
    let ct = canonical_type(&upper.replace('_', "."))?;
    if *lower != ct.to_ascii_lowercase().replace('.', "_") {
        return None;
    }
    let num = |s: &str| -> Option<u64> { s.bytes().all(|c| c.is_ascii_digit()).then(|| s.parse().ok())? };
    let key = if let Some(n) = key.strip_prefix('b') {
        BlobKey::Baseline(num(n)?)
    } else {
        BlobKey::Stored(num(key.strip_prefix('s')?)?)
    };
    Some((ct.to_string(), key))
}

/// One generated audit record of a blob: the shape of the API's common schema.
fn generated_event(tenant: &str, ct: &str, key: BlobKey, created: u64, k: u64, n: u64) -> Value {
    let (workload, record_type, operations): (&str, u64, &[&str]) = match ct {
        "Audit.AzureActiveDirectory" => (
            "AzureActiveDirectory",
            15,
            &["UserLoggedIn", "UserLoginFailed", "Add user."],
        ),
        "Audit.Exchange" => ("Exchange", 50, &["MailItemsAccessed", "Send", "New-InboxRule"]),
        "Audit.SharePoint" => ("SharePoint", 6, &["FileAccessed", "FileModified", "SharingSet"]),
        "DLP.All" => ("SharePoint", 11, &["DlpRuleMatch"]),
        _ => ("MicrosoftTeams", 25, &["MemberAdded", "TeamCreated", "MessageSent"]),
    };
    let ct_index = CONTENT_TYPES.iter().position(|c| *c == ct).unwrap_or(0) as u64;
    let blob = match key {
        BlobKey::Baseline(i) => i,
        BlobKey::Stored(s) => (1 << 32) | s,
    };
    // events happen before the blob that carries them is created
    let at = created.saturating_sub(60 + (n - k));
    json!({
        "CreationTime": iso8601(at as i64).trim_end_matches('Z'),
        "Id": format!("{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}", blob & 0xffff_ffff, (blob >> 32) & 0xffff, ct_index, (k >> 48) & 0xfff, k & 0xffff_ffff_ffff),
        "Operation": operations[(k % operations.len() as u64) as usize],
        "OrganizationId": tenant,
        "RecordType": record_type,
        "ResultStatus": "Succeeded",
        "UserKey": fx::ADMIN_USER_ID,
        "UserType": 0,
        "Version": 1,
        "Workload": workload,
        "ClientIP": "203.0.113.10",
        "ObjectId": format!("object-{blob}-{k}"),
        "UserId": fx::ADMIN_UPN,
    })
}

fn webhook_from_body(body: &[u8], now: u64) -> Result<Option<Webhook>, ApiReply> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    let invalid = || af(400, "AF20002", "Invalid parameter type: webhook. Expected type: object");
    let v: Value = serde_json::from_slice(body).map_err(|_| invalid())?;
    let w = match v.get("webhook") {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Object(w)) => w,
        Some(_) => return Err(invalid()),
    };
    let text = |k: &str| w.get(k).and_then(Value::as_str).map(str::to_string);
    let Some(address) = text("address").filter(|a| !a.is_empty()) else {
        return Err(af(400, "AF20001", "Missing parameter: address."));
    };
    // HTTPS as the service requires; plain HTTP only to a loopback receiver (a local test).
    let allowed = url::Url::parse(&address).is_ok_and(|u| match u.scheme() {
        "https" => true,
        "http" => match u.host() {
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            Some(url::Host::Domain(d)) => d == "localhost",
            None => false,
        },
        _ => false,
    });
    if !allowed {
        return Err(af(
            400,
            "AF20021",
            &format!("The webhook endpoint {address} could not be validated. The address must begin with HTTPS."),
        ));
    }
    let expiration = text("expiration").filter(|e| !e.is_empty());
    if let Some(e) = &expiration {
        match parse_iso_time(e) {
            Some(t) if t <= now => {
                return Err(af(
                    400,
                    "AF20003",
                    &format!("Expiration {e} provided is set to past date and time."),
                ));
            }
            Some(_) => {}
            None => {
                return Err(af(
                    400,
                    "AF20002",
                    "Invalid parameter type: expiration. Expected type: datetime",
                ));
            }
        }
    }
    Ok(Some(Webhook {
        address,
        auth_id: text("authId").filter(|a| !a.is_empty()),
        expiration,
    }))
}

fn tenant_from(o: &serde_json::Map<String, Value>, home: &str) -> Result<String, String> {
    match o.get("tenant") {
        None | Some(Value::Null) => Ok(home.to_ascii_lowercase()),
        Some(Value::String(t)) if uuid::Uuid::parse_str(t).is_ok() => Ok(t.to_ascii_lowercase()),
        Some(_) => Err("\"tenant\" must be a tenant id (GUID)".into()),
    }
}

fn events_per_blob(o: &serde_json::Map<String, Value>) -> Result<u64, String> {
    match o.get("events_per_blob") {
        None | Some(Value::Null) => Ok(3),
        Some(v) => v
            .as_u64()
            .filter(|n| (1..=MAX_EVENTS_PER_BLOB).contains(n))
            .ok_or_else(|| format!("\"events_per_blob\" must be between 1 and {MAX_EVENTS_PER_BLOB}")),
    }
}

fn content_types_from(o: &serde_json::Map<String, Value>) -> Result<Vec<&'static str>, String> {
    let wrong = || format!("\"content_types\" must be a list of: {}", CONTENT_TYPES.join(", "));
    match o.get("content_types") {
        None | Some(Value::Null) => Ok(vec!["Audit.General"]),
        Some(Value::Array(list)) if !list.is_empty() => list
            .iter()
            .map(|v| v.as_str().and_then(canonical_type).ok_or_else(wrong))
            .collect(),
        Some(_) => Err(wrong()),
    }
}

fn time_from(v: &Value) -> Option<u64> {
    match v {
        Value::String(s) => parse_iso_time(s),
        Value::Number(n) => n.as_u64(),
        _ => None,
    }
}

fn throttle_from(o: &serde_json::Map<String, Value>) -> Result<(u32, String), String> {
    let count = o
        .get("count")
        .and_then(Value::as_u64)
        .filter(|n| (1..=1_000_000).contains(n))
        .ok_or("\"count\" must be a number of blob requests (1 or more)")? as u32;
    let retry_after = match o.get("retry_after") {
        None | Some(Value::Null) => "1".to_string(),
        Some(Value::String(s)) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_graphic() || b == b' ') => s.clone(),
        Some(Value::Number(n)) if n.is_u64() => n.to_string(),
        Some(_) => return Err("\"retry_after\" must be a number of seconds or an HTTP date".into()),
    };
    Ok((count, retry_after))
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: &str = "7e0a1f4c-3b6d-4c2e-9a51-0c4f3d2b1a00";
    const NOW: u64 = 1_700_000_000;
    const ORIGIN: &str = "https://manage.office.com";
    const BASE: Baseline = Baseline {
        per_type: 30,
        page_size: 10,
    };

    fn feed() -> Feed {
        let mut f = Feed::new(NOW);
        f.subscriptions
            .entry(T.into())
            .or_default()
            .insert("Audit.General".into(), Subscription { webhook: None });
        f
    }

    fn call(f: &mut Feed, method: &str, rest: &str, query: &str, body: &str, now: u64, base: Baseline) -> ApiReply {
        let rest: Vec<&str> = rest.split('/').collect();
        let req = FeedRequest {
            method,
            tenant: T,
            rest: &rest,
            params: url::form_urlencoded::parse(query.as_bytes()).into_owned().collect(),
            body: body.as_bytes(),
            origin: ORIGIN,
            now,
        };
        f.handle(&req, base)
    }

    fn get(f: &mut Feed, rest: &str, query: &str, now: u64) -> ApiReply {
        call(f, "GET", rest, query, "", now, BASE)
    }

    fn code(r: &ApiReply) -> &str {
        r.body["error"]["code"].as_str().unwrap_or("")
    }

    fn header<'a>(r: &'a ApiReply, name: &str) -> Option<&'a str> {
        r.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    fn t(epoch: u64) -> String {
        iso8601(epoch as i64)
    }

    /// Every blob of a window, following `NextPageUri`.
    fn list_all(f: &mut Feed, ct: &str, start: u64, end: u64, now: u64, base: Baseline) -> Vec<Value> {
        let mut q = format!("contentType={ct}&startTime={}&endTime={}", t(start), t(end));
        let mut out = Vec::new();
        loop {
            let r = call(f, "GET", "subscriptions/content", &q, "", now, base);
            assert_eq!(r.status, 200, "{:?}", r.body);
            out.extend(r.body.as_array().unwrap().iter().cloned());
            match header(&r, "NextPageUri") {
                Some(uri) => q = uri.split_once('?').unwrap().1.to_string(),
                None => return out,
            }
        }
    }

    #[test]
    fn next_page_tokens() {
        assert_eq!(decode_page(&encode_page(3)), Some(3));
        assert_eq!(encode_page(2), "00000000000000R000000002");
        assert_eq!(decode_page("2015101900R022885001761"), None);
        assert_eq!(decode_page("x"), None);
    }

    #[test]
    fn content_types_case_insensitive() {
        assert_eq!(canonical_type("audit.general"), Some("Audit.General"));
        assert_eq!(canonical_type("Audit.Nope"), None);
        let mut f = feed();
        let r = get(&mut f, "subscriptions/content", "", NOW);
        assert_eq!((r.status, code(&r)), (400, "AF20001"));
        let r = get(&mut f, "subscriptions/content", "contentType=Audit.Nope", NOW);
        assert_eq!((r.status, code(&r)), (400, "AF20020"));
    }

    #[test]
    fn subscriptions_start_stop_list() {
        let mut f = feed();
        let r = get(&mut f, "subscriptions/content", "contentType=Audit.Exchange", NOW);
        assert_eq!((r.status, code(&r)), (400, "AF20022"));
        assert_eq!(
            r.body["error"]["message"],
            "No subscription found for the specified content type."
        );
        let r = call(
            &mut f,
            "POST",
            "subscriptions/start",
            "contentType=audit.exchange",
            "",
            NOW,
            BASE,
        );
        assert_eq!(r.status, 200);
        assert_eq!(
            r.body,
            json!({"contentType": "Audit.Exchange", "status": "enabled", "webhook": null})
        );
        // starting it again changes nothing: the service's AF20024
        let r = call(
            &mut f,
            "POST",
            "subscriptions/start",
            "contentType=Audit.Exchange",
            "",
            NOW,
            BASE,
        );
        assert_eq!((r.status, code(&r)), (400, "AF20024"));
        let r = get(&mut f, "subscriptions/list", "", NOW);
        let types: Vec<&str> = r
            .body
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["contentType"].as_str().unwrap())
            .collect();
        assert_eq!(types, ["Audit.Exchange", "Audit.General"]);
        let r = call(
            &mut f,
            "POST",
            "subscriptions/stop",
            "contentType=Audit.Exchange",
            "",
            NOW,
            BASE,
        );
        assert_eq!((r.status, &r.body), (200, &Value::Null));
        let r = call(
            &mut f,
            "POST",
            "subscriptions/stop",
            "contentType=Audit.Exchange",
            "",
            NOW,
            BASE,
        );
        assert_eq!(code(&r), "AF20022");
        assert_eq!(
            get(&mut f, "subscriptions/list", "", NOW)
                .body
                .as_array()
                .unwrap()
                .len(),
            1
        );
        let r = get(&mut f, "subscriptions/notifications", "contentType=Audit.Exchange", NOW);
        assert_eq!(code(&r), "AF20022");
        assert_eq!(get(&mut f, "nothing/here", "", NOW).status, 404);
    }

    #[test]
    fn a_webhook_is_kept_and_its_validation_queued() {
        let mut f = feed();
        let body = r#"{"webhook":{"address":"https://hooks.contoso.com/o365","authId":"shared","expiration":""}}"#;
        let r = call(
            &mut f,
            "POST",
            "subscriptions/start",
            "contentType=Audit.General",
            body,
            NOW,
            BASE,
        );
        assert_eq!(r.status, 200, "adding a webhook is a property change: {:?}", r.body);
        assert_eq!(r.body["webhook"]["address"], "https://hooks.contoso.com/o365");
        assert_eq!(r.body["webhook"]["authId"], "shared");
        let notes = f.take_notifications();
        assert!(
            matches!(&notes[..], [Notification::Validation { webhook, .. }] if webhook.auth_id.as_deref() == Some("shared"))
        );
        // the same webhook again: no change
        let r = call(
            &mut f,
            "POST",
            "subscriptions/start",
            "contentType=Audit.General",
            body,
            NOW,
            BASE,
        );
        assert_eq!(code(&r), "AF20024");
        // new content is queued for it
        f.control(
            "POST",
            "/content",
            format!(r#"{{"content_type":"Audit.General","created":{}}}"#, NOW - 60).as_bytes(),
            T,
            ORIGIN,
            NOW,
        );
        assert!(
            matches!(&f.take_notifications()[..], [Notification::Content { blobs, .. }] if blobs[0]["tenantId"] == T)
        );
        for (bad, want) in [
            (r#"{"webhook":{"address":"http://hooks.contoso.com/"}}"#, "AF20021"),
            (
                r#"{"webhook":{"address":"https://h.contoso.com/","expiration":"2001-01-01T00:00:00Z"}}"#,
                "AF20003",
            ),
            (r#"{"webhook":{}}"#, "AF20001"),
            ("not json", "AF20002"),
        ] {
            let r = call(
                &mut f,
                "POST",
                "subscriptions/start",
                "contentType=Audit.SharePoint",
                bad,
                NOW,
                BASE,
            );
            assert_eq!((r.status, code(&r)), (400, want), "{bad}");
        }
        // a loopback receiver may be plain HTTP (local tests)
        let r = call(
            &mut f,
            "POST",
            "subscriptions/start",
            "contentType=Audit.SharePoint",
            r#"{"webhook":{"address":"http://127.0.0.1:9/hook"}}"#,
            NOW,
            BASE,
        );
        assert_eq!(r.status, 200);
    }

    #[test]
    fn the_baseline_fills_the_default_window_and_pages_by_next_page_uri() {
        let mut f = feed();
        let r = get(
            &mut f,
            "subscriptions/content",
            "contentType=Audit.General&PublisherIdentifier=pub-1",
            NOW + 60,
        );
        assert_eq!(r.body.as_array().unwrap().len(), 10);
        let next = header(&r, "NextPageUri").unwrap();
        assert!(
            next.starts_with(&format!(
                "{ORIGIN}/api/v1/{T}/activity/feed/subscriptions/content?contentType=Audit.General&startTime="
            )),
            "{next}"
        );
        assert!(
            next.contains("&PublisherIdentifier=pub-1&nextPage=00000000000000R000000001"),
            "{next}"
        );
        let all = list_all(&mut f, "Audit.General", NOW + 60 - DAY, NOW + 60, NOW + 60, BASE);
        assert_eq!(all.len(), 30);
        let ids: std::collections::BTreeSet<&str> = all.iter().map(|b| b["contentId"].as_str().unwrap()).collect();
        assert_eq!(ids.len(), 30);
        let blob = &all[0];
        assert_eq!(blob["contentType"], "Audit.General");
        let uri = blob["contentUri"].as_str().unwrap();
        assert!(uri.starts_with(&format!("{ORIGIN}/api/v1.0/{T}/activity/feed/audit/")));
        assert!(blob["contentCreated"].as_str().unwrap().ends_with(".000Z"));
        let id = uri.rsplit('/').next().unwrap();
        let r = get(&mut f, &format!("audit/{id}"), "", NOW + 60);
        assert_eq!(r.status, 200);
        let events = r.body.as_array().unwrap();
        assert_eq!(events.len(), 3);
        assert_eq!(events[0]["OrganizationId"], T);
        assert_eq!(f.publishers["pub-1"], 1);
        assert!(f.publishers[""] >= 4);
    }

    #[test]
    fn windows_are_checked_as_the_service_does() {
        let mut f = feed();
        let q = |s: u64, e: u64| format!("contentType=Audit.General&startTime={}&endTime={}", t(s), t(e));
        let r = get(&mut f, "subscriptions/content", &q(NOW - DAY - 1, NOW), NOW);
        assert_eq!((r.status, code(&r)), (400, "AF20055"), "more than 24 hours");
        assert_eq!(r.body["error"]["message"], WINDOW_RULE);
        assert_eq!(
            get(&mut f, "subscriptions/content", &q(NOW - DAY, NOW), NOW).status,
            200,
            "exactly 24 hours"
        );
        let r = get(
            &mut f,
            "subscriptions/content",
            &q(NOW - 8 * DAY, NOW - 7 * DAY - 1),
            NOW,
        );
        assert_eq!(code(&r), "AF20055", "older than 7 days");
        let r = get(&mut f, "subscriptions/content", &q(NOW, NOW - 1), NOW);
        assert_eq!(code(&r), "AF20055", "end before start");
        let r = get(
            &mut f,
            "subscriptions/content",
            &format!("contentType=Audit.General&startTime={}", t(NOW - 60)),
            NOW,
        );
        assert_eq!(code(&r), "AF20030", "only one of the two");
        let r = get(
            &mut f,
            "subscriptions/content",
            "contentType=Audit.General&startTime=yesterday&endTime=today",
            NOW,
        );
        assert_eq!(code(&r), "AF20002");
        let r = get(
            &mut f,
            "subscriptions/content",
            "contentType=Audit.General&nextPage=bogus",
            NOW,
        );
        assert_eq!(code(&r), "AF20031");
        // the documented date forms are accepted
        let day = iso8601((NOW - HOUR) as i64);
        let (date, _) = day.split_once('T').unwrap();
        let r = get(
            &mut f,
            "subscriptions/content",
            &format!("contentType=Audit.General&startTime={date}&endTime={}", &day[..16]),
            NOW,
        );
        assert_eq!(r.status, 200, "{:?}", r.body);
    }

    #[test]
    fn sixty_hours_of_seeded_content_list_window_by_window_without_gaps_or_repeats() {
        let mut f = feed();
        let none = Baseline {
            per_type: 0,
            page_size: 7,
        };
        let (s, st) = f.control("POST", "/seed", br#"{"blobs": 60, "hours": 60, "events_per_blob": 5, "content_types": ["Audit.General", "Audit.Exchange"]}"#, T, ORIGIN, NOW);
        assert_eq!(s, 200, "{st}");
        assert_eq!(st["added"], 120);
        let mut seen = Vec::new();
        let mut end = NOW;
        for _ in 0..3 {
            seen.extend(list_all(&mut f, "Audit.General", end - DAY, end, NOW, none));
            end -= DAY;
        }
        assert_eq!(seen.len(), 60);
        let ids: std::collections::BTreeSet<&str> = seen.iter().map(|b| b["contentId"].as_str().unwrap()).collect();
        assert_eq!(ids.len(), 60);
        // Exchange content exists but is not subscribed
        let r = call(
            &mut f,
            "GET",
            "subscriptions/content",
            "contentType=Audit.Exchange",
            "",
            NOW,
            none,
        );
        assert_eq!(code(&r), "AF20022");
        let id = seen[0]["contentId"].as_str().unwrap().to_string();
        let r = call(&mut f, "GET", &format!("audit/{id}"), "", "", NOW, none);
        assert_eq!(r.body.as_array().unwrap().len(), 5);
        // a blob of another tenant is not there
        let mut other = feed();
        let r = call(&mut other, "GET", &format!("audit/{id}"), "", "", NOW, none);
        assert_eq!((r.status, code(&r)), (404, "AF20050"));
        for (body, why) in [
            (r#"{"blobs": 0}"#, "zero"),
            (r#"{"blobs": 1, "content_types": ["Audit.Nope"]}"#, "type"),
            (
                r#"{"blobs": 1, "start": "2024-01-02T00:00:00Z", "end": "2024-01-01T00:00:00Z"}"#,
                "order",
            ),
            (r#"{"blobs": 1, "events_per_blob": 0}"#, "events"),
            (r#"{"blobs": 1, "tenant": "contoso"}"#, "tenant"),
            ("[]", "shape"),
        ] {
            assert_eq!(
                f.control("POST", "/seed", body.as_bytes(), T, ORIGIN, NOW).0,
                400,
                "{why}"
            );
        }
    }

    #[test]
    fn late_content_appears_in_an_already_listed_window_only_once_available() {
        let mut f = feed();
        let none = Baseline {
            per_type: 0,
            page_size: 10,
        };
        let (start, end) = (NOW - 2 * HOUR, NOW - HOUR);
        assert!(list_all(&mut f, "Audit.General", start, end, NOW, none).is_empty());
        let body = json!({"content_type": "audit.general", "created": t(start + 60), "available_at": NOW + 600,
            "events": [{"Id": "late-1", "Operation": "FileDeleted"}]});
        let (s, blob) = f.control("POST", "/content", body.to_string().as_bytes(), T, ORIGIN, NOW);
        assert_eq!(s, 201, "{blob}");
        assert_eq!(blob["contentCreated"], api_time(start + 60));
        let id = blob["contentId"].as_str().unwrap().to_string();
        // not yet: neither listed nor served
        assert!(list_all(&mut f, "Audit.General", start, end, NOW, none).is_empty());
        let r = call(&mut f, "GET", &format!("audit/{id}"), "", "", NOW, none);
        assert_eq!(code(&r), "AF20050");
        // later: listed in the old window, after what was there before
        let listed = list_all(&mut f, "Audit.General", start, end, NOW + 600, none);
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0]["contentId"], id);
        let r = call(&mut f, "GET", &format!("audit/{id}"), "", "", NOW + 600, none);
        assert_eq!(r.body, json!([{"Id": "late-1", "Operation": "FileDeleted"}]));
        // listing order is availability order
        f.control(
            "POST",
            "/content",
            json!({"content_type": "Audit.General", "created": t(start + 30)})
                .to_string()
                .as_bytes(),
            T,
            ORIGIN,
            NOW + 700,
        );
        let listed = list_all(&mut f, "Audit.General", start, end, NOW + 800, none);
        assert_eq!(listed[0]["contentId"], id, "available first, listed first");
        assert_eq!(listed.len(), 2);
        for bad in [
            json!({"created": t(start)}),
            json!({"content_type": "Audit.General"}),
            json!({"content_type": "Audit.General", "created": t(start), "events": []}),
        ] {
            assert_eq!(
                f.control("POST", "/content", bad.to_string().as_bytes(), T, ORIGIN, NOW)
                    .0,
                400,
                "{bad}"
            );
        }
    }

    #[test]
    fn expired_and_malformed_content() {
        let mut f = feed();
        let (_, old) = f.control(
            "POST",
            "/content",
            json!({"content_type": "Audit.General", "created": NOW - 8 * DAY, "available_at": NOW - 8 * DAY})
                .to_string()
                .as_bytes(),
            T,
            ORIGIN,
            NOW,
        );
        let id = old["contentId"].as_str().unwrap();
        let r = get(&mut f, &format!("audit/{id}"), "", NOW);
        assert_eq!((r.status, code(&r)), (400, "AF20051"));
        for bad in [
            "nope",
            "1$1$audit_general$Audit_General$x1",
            "1$2$audit_general$Audit_General$s1",
            "1$1$audit_nope$Audit_Nope$s1",
        ] {
            let r = get(&mut f, &format!("audit/{bad}"), "", NOW);
            assert_eq!((r.status, code(&r)), (400, "AF20052"), "{bad}");
        }
        let r = get(&mut f, "audit/1$1$audit_general$Audit_General$s999", "", NOW);
        assert_eq!((r.status, code(&r)), (404, "AF20050"));
        assert_eq!(parse_content_id(id), Some(("Audit.General".into(), BlobKey::Stored(1))));
    }

    #[test]
    fn the_throttle_answers_af429_for_n_blob_requests_then_serves() {
        let mut f = feed();
        let all = list_all(&mut f, "Audit.General", NOW - DAY, NOW, NOW, BASE);
        let id = all[0]["contentId"].as_str().unwrap().to_string();
        assert_eq!(
            f.control(
                "POST",
                "/throttle",
                br#"{"count": 2, "retry_after": 3}"#,
                T,
                ORIGIN,
                NOW
            )
            .0,
            200
        );
        for _ in 0..2 {
            let r = get(&mut f, &format!("audit/{id}"), "PublisherIdentifier=abc", NOW);
            assert_eq!((r.status, code(&r)), (429, "AF429"));
            assert_eq!(
                r.body["error"]["message"],
                "Too many requests. Method=GET, PublisherId=abc"
            );
            assert_eq!(header(&r, "Retry-After"), Some("3"));
        }
        assert_eq!(get(&mut f, &format!("audit/{id}"), "", NOW).status, 200);
        // listing is not throttled
        f.control("POST", "/throttle", br#"{"count": 1}"#, T, ORIGIN, NOW);
        assert_eq!(
            get(&mut f, "subscriptions/content", "contentType=Audit.General", NOW).status,
            200
        );
        assert_eq!(
            f.control("GET", "", b"", T, ORIGIN, NOW).1["throttled_blob_requests"],
            1
        );
        f.control("DELETE", "/throttle", b"", T, ORIGIN, NOW);
        assert_eq!(get(&mut f, &format!("audit/{id}"), "", NOW).status, 200);
        assert_eq!(
            f.control("POST", "/throttle", br#"{"count": 0}"#, T, ORIGIN, NOW).0,
            400
        );
        assert_eq!(f.control("PUT", "/throttle", b"", T, ORIGIN, NOW).0, 405);
        assert_eq!(f.control("GET", "/nope", b"", T, ORIGIN, NOW).0, 404);
    }

    #[test]
    fn a_benchmark_sized_seed_is_cheap_to_list() {
        let mut f = feed();
        let (s, _) = f.control(
            "POST",
            "/seed",
            br#"{"blobs": 2000, "events_per_blob": 100, "hours": 20}"#,
            T,
            ORIGIN,
            NOW,
        );
        assert_eq!(s, 200);
        let none = Baseline {
            per_type: 0,
            page_size: 500,
        };
        let all = list_all(&mut f, "Audit.General", NOW - DAY, NOW, NOW, none);
        assert_eq!(all.len(), 2000);
        let id = all[1999]["contentId"].as_str().unwrap().to_string();
        let r = call(&mut f, "GET", &format!("audit/{id}"), "", "", NOW, none);
        let events = r.body.as_array().unwrap();
        assert_eq!(events.len(), 100);
        let ids: std::collections::BTreeSet<&str> = events.iter().map(|e| e["Id"].as_str().unwrap()).collect();
        assert_eq!(ids.len(), 100, "event ids are unique");
    }
}
