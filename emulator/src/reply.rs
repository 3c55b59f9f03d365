//! An API reply before it becomes an HTTP response: status, extra headers and a JSON body. A
//! plain value shared by the API stand-ins and the state they keep (the activity feed).

use serde_json::Value;

/// An API reply before it becomes an HTTP response.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ApiReply {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Value,
}

impl ApiReply {
    pub(crate) fn json(status: u16, body: Value) -> Self {
        ApiReply {
            status,
            headers: Vec::new(),
            body,
        }
    }

    pub(crate) fn header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_string(), value.into()));
        self
    }
}
