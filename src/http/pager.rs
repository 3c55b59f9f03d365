//! `api --paginate`: what a page holds and where the next one is — Graph's `@odata.nextLink`
//! (followed verbatim), Azure Resource Manager's `nextLink`, the Management Activity API's
//! `NextPageUri` response header — and the rules that a next link never leaves the origin the
//! token is for (exit 4 before anything is sent there) and never leads back to a page this run
//! already fetched (exit 4 instead of looping forever). Pages are parsed one at a time and their
//! items borrowed from the page's bytes, so memory follows the page size, not the collection.

use crate::error::{Error, Result};
use serde::Deserialize;
use serde_json::value::RawValue;
use std::collections::HashSet;
use url::Url;

/// The shape of a page; every page of one run must have the first page's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Shape {
    /// `{"value":[...], "@odata.nextLink"|"nextLink": ...}` (Graph, ARM).
    Collection,
    /// `[...]` with a `NextPageUri` header (Management Activity API).
    Array,
    /// Anything else (a single entity): written as it is, never paged.
    Single,
}

/// One parsed page; items point into the page's bytes.
#[derive(Debug)]
pub(crate) struct Page<'a> {
    pub(crate) shape: Shape,
    pub(crate) items: Vec<&'a RawValue>,
    /// `@odata.context` and `@odata.count` (page 1 of a Graph collection), kept in the output.
    pub(crate) context: Option<&'a RawValue>,
    pub(crate) count: Option<&'a RawValue>,
    /// `@odata.deltaLink` (the last page of a delta query), kept in the output.
    pub(crate) delta_link: Option<String>,
    /// The next link as the service wrote it.
    pub(crate) next: Option<String>,
}

#[derive(Deserialize)]
struct ObjectPage<'a> {
    #[serde(borrow, default)]
    value: Option<&'a RawValue>,
    #[serde(rename = "@odata.nextLink", default)]
    odata_next_link: Option<String>,
    #[serde(rename = "nextLink", default)]
    next_link: Option<String>,
    #[serde(rename = "@odata.context", borrow, default)]
    context: Option<&'a RawValue>,
    #[serde(rename = "@odata.count", borrow, default)]
    count: Option<&'a RawValue>,
    #[serde(rename = "@odata.deltaLink", default)]
    delta_link: Option<String>,
}

/// Parses one page. `next_page_uri` is the `NextPageUri` response header, if any.
pub(crate) fn parse_page<'a>(body: &'a [u8], next_page_uri: Option<&str>) -> std::result::Result<Page<'a>, String> {
    let text = std::str::from_utf8(body).map_err(|_| "it is not UTF-8 text".to_string())?;
    let header_next = next_page_uri
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string);
    match text.trim_start().as_bytes().first() {
        Some(b'[') => {
            let items: Vec<&RawValue> = serde_json::from_str(text).map_err(|e| format!("it is not JSON ({e})"))?;
            Ok(Page {
                shape: Shape::Array,
                items,
                context: None,
                count: None,
                delta_link: None,
                next: header_next,
            })
        }
        Some(b'{') => {
            let page: ObjectPage = serde_json::from_str(text).map_err(|e| format!("it is not JSON ({e})"))?;
            let items = match page.value {
                Some(v) if v.get().trim_start().starts_with('[') => {
                    serde_json::from_str::<Vec<&RawValue>>(v.get()).map_err(|e| format!("bad `value` ({e})"))?
                }
                _ => {
                    return Ok(Page {
                        shape: Shape::Single,
                        items: Vec::new(),
                        context: None,
                        count: None,
                        delta_link: None,
                        next: None,
                    });
                }
            };
            Ok(Page {
                shape: Shape::Collection,
                items,
                context: page.context,
                count: page.count,
                delta_link: page.delta_link,
                next: page
                    .odata_next_link
                    .or(page.next_link)
                    .filter(|s| !s.trim().is_empty())
                    .or(header_next),
            })
        }
        _ => Err("it is not a JSON object or array".to_string()),
    }
}

/// Follows next links within one origin, counting pages.
#[derive(Debug)]
pub(crate) struct Pager {
    origin: url::Origin,
    next: Option<Url>,
    /// Every URL requested in this run, and the URLs that answered (after redirects): a next
    /// link to one of them would loop.
    fetched: HashSet<String>,
    shape: Option<Shape>,
    pub(crate) pages: u64,
    pub(crate) items: u64,
    max_pages: Option<u64>,
    /// Set when `--max-pages` stopped the run with more pages left: the first one not fetched.
    pub(crate) stopped_before: Option<Url>,
}

impl Pager {
    /// Starts at `first`; the token's origin is `first`'s.
    pub(crate) fn new(first: Url, max_pages: Option<u64>) -> Pager {
        Pager {
            origin: first.origin(),
            next: Some(first),
            fetched: HashSet::new(),
            shape: None,
            pages: 0,
            items: 0,
            max_pages,
            stopped_before: None,
        }
    }

    /// The URL of the page to fetch next, if any.
    pub(crate) fn next_url(&self) -> Option<&Url> {
        self.next.as_ref()
    }

    /// Takes in the page that `page_url` answered: checks its shape against page 1's, its next
    /// link's origin (exit 4 naming the foreign origin) and that the next link is not a page
    /// already fetched (exit 4), and moves on. Call before writing the page's items, so a refused
    /// link leaves nothing of that page on stdout.
    pub(crate) fn advance(&mut self, page: &Page<'_>, page_url: &Url) -> Result<()> {
        let number = self.pages + 1;
        if let Some(requested) = &self.next {
            self.fetched.insert(requested.as_str().to_string());
        }
        self.fetched.insert(page_url.as_str().to_string());
        match self.shape {
            None => self.shape = Some(page.shape),
            Some(first) if first == page.shape => {}
            Some(first) => {
                return Err(Error::network(format!(
                    "page {number} from {} is shaped differently from page 1 ({:?} after {:?})",
                    host(page_url),
                    page.shape,
                    first
                )));
            }
        }
        let next = match &page.next {
            None => None,
            Some(link) => {
                let url = page_url.join(link.trim()).map_err(|e| {
                    Error::network(format!("page {number} has a next link that is not a URL: {link}")).cause(e)
                })?;
                if url.origin() != self.origin {
                    return Err(Error::network(format!(
                        "page {number}'s next link points to another origin ({}), not {}: refusing to follow it, so the token is not sent there",
                        url.origin().ascii_serialization(),
                        self.origin.ascii_serialization()
                    ))
                    .hint("a next link must stay on the scheme, host and port of the first request; fetch it separately if you trust it"));
                }
                if self.fetched.contains(url.as_str()) {
                    return Err(Error::network(format!(
                        "page {number} from {}: the next link repeats a page already fetched: {url}",
                        host(page_url)
                    ))
                    .hint("the service's paging loops; --max-pages N stops after N pages"));
                }
                Some(url)
            }
        };
        self.pages = number;
        self.items += page.items.len() as u64;
        self.next = match next {
            Some(url) if self.max_pages.is_some_and(|m| self.pages >= m) => {
                self.stopped_before = Some(url);
                None
            }
            other => other,
        };
        Ok(())
    }
}

fn host(url: &Url) -> &str {
    url.host_str().unwrap_or("the server")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn graph_arm_and_management_pages() {
        let g = br#"{"@odata.context":"https://g/$metadata#users","@odata.count":3,"value":[{"b":1,"a":2},{"x":"y"}],"@odata.nextLink":"https://g/v1.0/users?$skiptoken=X%2FY"}"#;
        let p = parse_page(g, None).unwrap();
        assert_eq!(p.shape, Shape::Collection);
        assert_eq!(p.items.len(), 2);
        assert_eq!(p.items[0].get(), r#"{"b":1,"a":2}"#, "items are kept verbatim");
        assert_eq!(p.next.as_deref(), Some("https://g/v1.0/users?$skiptoken=X%2FY"));
        assert_eq!(p.count.unwrap().get(), "3");
        let arm = br#"{"value":[],"nextLink":"https://management.azure.com/x?$skiptoken=1"}"#;
        let p = parse_page(arm, None).unwrap();
        assert_eq!((p.items.len(), p.next.is_some()), (0, true));
        let last = br#"{"value":[1],"nextLink":null}"#;
        assert!(parse_page(last, None).unwrap().next.is_none());
        let m = b" [ {\"contentUri\":\"u\"} ]";
        let p = parse_page(
            m,
            Some("https://manage/api/v1/t/activity/feed/subscriptions/content?nextPage=2"),
        )
        .unwrap();
        assert_eq!((p.shape, p.items.len()), (Shape::Array, 1));
        assert!(p.next.unwrap().ends_with("nextPage=2"));
        let single = br#"{"id":"1","value":"not a list"}"#;
        assert_eq!(parse_page(single, None).unwrap().shape, Shape::Single);
        assert!(parse_page(b"<html>", None).is_err());
        assert!(parse_page(b"{\"value\":[1,", None).is_err());
    }

    #[test]
    fn next_links_stay_on_the_origin() {
        let first = u("https://graph.microsoft.com/v1.0/users?$top=2");
        let mut pager = Pager::new(first.clone(), None);
        let body = br#"{"value":[1,2],"@odata.nextLink":"https://graph.microsoft.com/v1.0/users?$top=2&$skiptoken=a"}"#;
        pager.advance(&parse_page(body, None).unwrap(), &first).unwrap();
        assert_eq!(pager.next_url().unwrap().query(), Some("$top=2&$skiptoken=a"));
        for foreign in [
            "https://evil.example/v1.0/users?$skiptoken=a",
            "http://graph.microsoft.com/v1.0/users",
            "https://graph.microsoft.com:8443/v1.0/users",
        ] {
            let body = format!(r#"{{"value":[],"@odata.nextLink":"{foreign}"}}"#);
            let mut p = Pager::new(first.clone(), None);
            let e = p
                .advance(&parse_page(body.as_bytes(), None).unwrap(), &first)
                .unwrap_err();
            assert_eq!(e.exit_code(), 4, "{foreign}");
            assert_eq!(p.pages, 0);
        }
        let arr = parse_page(b"[]", None).unwrap();
        assert!(pager.advance(&arr, &first).is_err(), "shape change");
    }

    #[test]
    fn a_next_link_to_a_page_already_fetched_is_refused() {
        let first = u("https://graph.microsoft.com/v1.0/users?$top=2");
        // a self-link
        let mut pager = Pager::new(first.clone(), None);
        let body = br#"{"value":[1,2],"@odata.nextLink":"https://graph.microsoft.com/v1.0/users?$top=2"}"#;
        let e = pager.advance(&parse_page(body, None).unwrap(), &first).unwrap_err();
        assert_eq!(e.exit_code(), 4);
        assert!(e.message.contains("repeats a page already fetched"), "{}", e.message);
        assert!(
            pager.next_url().is_some() && pager.pages == 0,
            "the page is not counted"
        );
        // a cycle through a later page (relative link, resolved against the page's URL)
        let mut pager = Pager::new(first.clone(), None);
        let b = br#"{"value":[1],"@odata.nextLink":"https://graph.microsoft.com/v1.0/users?$skiptoken=b"}"#;
        pager.advance(&parse_page(b, None).unwrap(), &first).unwrap();
        let second = pager.next_url().unwrap().clone();
        let back = br#"{"value":[2],"@odata.nextLink":"/v1.0/users?$top=2"}"#;
        let e = pager.advance(&parse_page(back, None).unwrap(), &second).unwrap_err();
        assert!(e.message.contains(first.as_str()), "{}", e.message);
        // a link back to the URL that answered after a redirect
        let mut pager = Pager::new(first.clone(), None);
        let moved = u("https://graph.microsoft.com/v1.0/moved");
        let b = br#"{"value":[],"@odata.nextLink":"https://graph.microsoft.com/v1.0/moved"}"#;
        assert!(pager.advance(&parse_page(b, None).unwrap(), &moved).is_err());
        // distinct pages are followed
        let mut pager = Pager::new(first.clone(), None);
        for i in 0..5 {
            let url = pager.next_url().unwrap().clone();
            let body = format!(
                r#"{{"value":[{i}],"nextLink":"https://graph.microsoft.com/v1.0/users?page={}"}}"#,
                i + 1
            );
            pager
                .advance(&parse_page(body.as_bytes(), None).unwrap(), &url)
                .unwrap();
        }
        assert_eq!(pager.pages, 5);
    }

    #[test]
    fn max_pages_stops_with_the_next_link_noted() {
        let first = u("http://127.0.0.1:1/api");
        let mut pager = Pager::new(first.clone(), Some(1));
        let p = parse_page(b"[1,2,3]", Some("http://127.0.0.1:1/api?nextPage=2")).unwrap();
        pager.advance(&p, &first).unwrap();
        assert!(pager.next_url().is_none());
        assert_eq!((pager.pages, pager.items), (1, 3));
        assert!(pager.stopped_before.is_some());
    }
}
