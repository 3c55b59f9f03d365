//! Microsoft Graph's OData query options over JSON objects, for the emulator's collections:
//! `$select`, `$top`, `$filter` (`eq`, `ne`, `in`, `not`, `startsWith`, `endsWith`, `and`/`or`
//! with parentheses and precedence) on string, boolean and null values, `$orderby` on one
//! property, `$count`, and the advanced-query rules of directory objects (users, groups,
//! devices): `ne`, `not`, `endsWith`, `$filter` with `$orderby`, and `$count` need the
//! `ConsistencyLevel: eventual` header and `$count=true`, as Microsoft documents in "Advanced
//! query capabilities on Microsoft Entra ID objects". Failures carry Graph's error codes and
//! messages. Self-contained: JSON in, JSON out.

use std::cmp::Ordering;

use serde_json::{Map, Value};

/// The value type of a property, for `$filter` type checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Str,
    Bool,
    Num,
    /// A date-time (stored as an RFC 3339 string; not filterable in the emulator).
    DateTime,
    /// A collection or complex value (not filterable in the emulator).
    Other,
}

/// One property of an entity and what the query options may do with it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Prop {
    pub(crate) name: &'static str,
    pub(crate) kind: Kind,
    /// `eq`, `ne`, `in`, `not`, `startsWith` are supported.
    pub(crate) filter: bool,
    /// `endsWith` is supported (an advanced query on directory objects).
    pub(crate) ends_with: bool,
    pub(crate) order: Order,
}

/// Whether `$orderby` is supported on a property.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Order {
    No,
    /// Works by default.
    Default,
    /// Needs the advanced query parameters (directory objects).
    Advanced,
}

/// A property that `$filter` and `$orderby` do not support.
pub(crate) const fn plain(name: &'static str, kind: Kind) -> Prop {
    Prop {
        name,
        kind,
        filter: false,
        ends_with: false,
        order: Order::No,
    }
}

/// A property that supports `eq`, `ne`, `in`, `not` and `startsWith`.
pub(crate) const fn filterable(name: &'static str, kind: Kind) -> Prop {
    Prop {
        name,
        kind,
        filter: true,
        ends_with: false,
        order: Order::No,
    }
}

impl Prop {
    pub(crate) const fn with_ends_with(mut self) -> Prop {
        self.ends_with = true;
        self
    }

    pub(crate) const fn ordered(mut self, order: Order) -> Prop {
        self.order = order;
        self
    }
}

/// What a collection supports.
#[derive(Debug)]
pub(crate) struct Rules {
    /// The OData type, e.g. `microsoft.graph.user` (in "could not find a property" messages).
    pub(crate) odata_type: &'static str,
    /// The resource name directory errors use, e.g. `User`.
    pub(crate) resource: &'static str,
    /// A directory (Microsoft Entra ID) object: the advanced-query rules apply.
    pub(crate) directory: bool,
    pub(crate) props: &'static [Prop],
    /// Properties returned without `$select` (`None`: all of them).
    pub(crate) default_select: Option<&'static [&'static str]>,
    /// Page size without `$top`.
    pub(crate) default_page: u64,
    /// Largest `$top` accepted; more is Graph's "Invalid page size specified" (400).
    pub(crate) max_page: u64,
}

impl Rules {
    fn prop(&self, name: &str) -> Option<&'static Prop> {
        self.props.iter().find(|p| p.name.eq_ignore_ascii_case(name))
    }

    fn unknown(&self, name: &str) -> QueryError {
        QueryError::bad_request(format!(
            "Could not find a property named '{name}' on type '{}'.",
            self.odata_type
        ))
    }

    fn unsupported_filter(&self, name: &str) -> QueryError {
        QueryError::unsupported(format!(
            "Unsupported or invalid query filter clause specified for property '{name}' of resource '{}'.",
            self.resource
        ))
    }
}

/// A query option Graph refuses: the status, `error.code` and `error.message` to answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct QueryError {
    pub(crate) status: u16,
    pub(crate) code: &'static str,
    pub(crate) message: String,
}

impl QueryError {
    fn bad_request(message: String) -> Self {
        QueryError {
            status: 400,
            code: "BadRequest",
            message,
        }
    }

    fn unsupported(message: String) -> Self {
        QueryError {
            status: 400,
            code: "Request_UnsupportedQuery",
            message,
        }
    }

    fn invalid_filter() -> Self {
        Self::bad_request("Invalid filter clause".into())
    }
}

/// The text directory objects answer when an advanced-only operator comes without the
/// advanced query parameters.
fn needs_advanced(operator: &str) -> QueryError {
    QueryError::unsupported(format!(
        "Operator '{operator}' is not supported because the required parameters might be missing. Try adding $count=true query parameter and ConsistencyLevel:eventual header. Refer to https://aka.ms/graph-docs/advanced-queries for more information"
    ))
}

fn sorting_not_supported() -> QueryError {
    QueryError::unsupported("Sorting not supported for current query.".into())
}

// ---- the parsed query ----------------------------------------------------------------------

/// A `$filter` literal.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Literal {
    Str(String),
    Bool(bool),
    Num(f64),
    Null,
}

/// A parsed `$filter` expression (property names are canonical).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Expr {
    Eq(&'static str, Literal),
    Ne(&'static str, Literal),
    In(&'static str, Vec<Literal>),
    StartsWith(&'static str, String),
    EndsWith(&'static str, String),
    Not(Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
}

/// The query options of one request, checked against the collection's [`Rules`].
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Query {
    /// `$select`, canonical names (`None`: the default projection).
    pub(crate) select: Option<Vec<&'static str>>,
    /// `$top`, already checked to be in `1..=max_page`.
    pub(crate) top: Option<u64>,
    pub(crate) filter: Option<Expr>,
    /// `$orderby`: the property and whether it is descending.
    pub(crate) order_by: Option<(&'static str, bool)>,
    /// `@odata.count` is answered (directory objects: only in advanced queries; otherwise
    /// `$count=true` is silently ignored there, as Graph does).
    pub(crate) count: bool,
}

impl Query {
    /// The page size: `$top`, else the collection's default.
    pub(crate) fn page_size(&self, rules: &Rules) -> u64 {
        self.top.unwrap_or(rules.default_page)
    }

    /// The `@odata.context` suffix: `users` or `users(id,displayName)` with `$select`.
    pub(crate) fn context(&self, entity_set: &str) -> String {
        match &self.select {
            Some(cols) => format!("{entity_set}({})", cols.join(",")),
            None => entity_set.to_string(),
        }
    }
}

/// A query option by name, `$` names matched case-insensitively (the first occurrence wins).
fn option<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// Parses and checks the query options. `eventual`: the request carries
/// `ConsistencyLevel: eventual`. `$top` above `max_page` is Graph's 400; callers with other
/// limits (Intune's 503) check [`Query::top`] themselves.
pub(crate) fn parse(params: &[(String, String)], eventual: bool, rules: &Rules) -> Result<Query, QueryError> {
    let count_requested = option(params, "$count").is_some_and(|c| c.trim().eq_ignore_ascii_case("true"));
    if let Some(c) = option(params, "$count")
        && !c.trim().eq_ignore_ascii_case("true")
        && !c.trim().eq_ignore_ascii_case("false")
    {
        return Err(QueryError::bad_request(format!(
            "Invalid value '{c}' for $count query option found. Valid values are 'true' and 'false'."
        )));
    }
    let advanced = !rules.directory || (eventual && count_requested);

    if option(params, "$search").is_some() {
        return Err(if rules.directory && !eventual {
            QueryError::unsupported("Request with $search query parameter only works through MSGraph with a special request header: 'ConsistencyLevel: eventual'".into())
        } else {
            QueryError::unsupported("$search is not supported by the entra-token emulator.".into())
        });
    }
    if rules.directory && option(params, "$skip").is_some() {
        return Err(QueryError {
            status: 400,
            code: "Request_BadRequest",
            message: "'$skip' is not supported by the service.".into(),
        });
    }

    let top = match option(params, "$top") {
        None => None,
        Some(t) => match t.trim().parse::<i64>() {
            Ok(n) if n >= 1 && n as u64 <= rules.max_page => Some(n as u64),
            Ok(n) => {
                return Err(QueryError::unsupported(format!(
                    "Invalid page size specified: '{n}'. Must be between 1 and {} inclusive.",
                    rules.max_page
                )));
            }
            Err(_) => {
                return Err(QueryError::bad_request(format!(
                    "Invalid value '{t}' for $top query option found. The $top query option requires a non-negative integer value."
                )));
            }
        },
    };

    let select = match option(params, "$select").map(str::trim).filter(|s| !s.is_empty()) {
        None => None,
        Some(list) => {
            let mut cols: Vec<&'static str> = Vec::new();
            for name in list.split(',').map(str::trim) {
                let Some(p) = rules.prop(name) else {
                    return Err(QueryError::bad_request(format!(
                        "Parsing OData Select and Expand failed: Could not find a property named '{name}' on type '{}'.",
                        rules.odata_type
                    )));
                };
                if !cols.contains(&p.name) {
                    cols.push(p.name);
                }
            }
            Some(cols)
        }
    };

    let filter = match option(params, "$filter").map(str::trim).filter(|s| !s.is_empty()) {
        None => None,
        Some(text) => {
            let expr = FilterParser::new(text, rules)?.parse()?;
            check_advanced(&expr, advanced)?;
            Some(expr)
        }
    };

    let order_by = match option(params, "$orderby").map(str::trim).filter(|s| !s.is_empty()) {
        None => None,
        Some(text) => Some(parse_order_by(text, rules, advanced, filter.is_some())?),
    };

    Ok(Query {
        select,
        top,
        filter,
        order_by,
        count: count_requested && (!rules.directory || eventual),
    })
}

fn parse_order_by(
    text: &str,
    rules: &Rules,
    advanced: bool,
    with_filter: bool,
) -> Result<(&'static str, bool), QueryError> {
    let clauses: Vec<&str> = text.split(',').map(str::trim).collect();
    if clauses.len() > 1 {
        return Err(QueryError::unsupported(
            "Sorting by more than one property is not supported by the entra-token emulator.".into(),
        ));
    }
    let mut words = clauses[0].split_whitespace();
    let name = words.next().unwrap_or("");
    let desc = match words.next() {
        None => false,
        Some(d) if d.eq_ignore_ascii_case("asc") => false,
        Some(d) if d.eq_ignore_ascii_case("desc") => true,
        Some(_) => return Err(QueryError::bad_request(format!("Syntax error in $orderby: '{text}'."))),
    };
    if words.next().is_some() {
        return Err(QueryError::bad_request(format!("Syntax error in $orderby: '{text}'.")));
    }
    let prop = rules.prop(name).ok_or_else(|| rules.unknown(name))?;
    let allowed = match prop.order {
        Order::No => false,
        Order::Default => true,
        Order::Advanced => advanced,
    };
    // Directory objects sort a filtered result only in advanced queries.
    if !allowed || (rules.directory && with_filter && !advanced) {
        return Err(sorting_not_supported());
    }
    Ok((prop.name, desc))
}

/// Directory objects: `ne`, `not` and `endsWith` only in advanced queries.
fn check_advanced(e: &Expr, advanced: bool) -> Result<(), QueryError> {
    if advanced {
        return Ok(());
    }
    match e {
        Expr::Ne(..) => Err(QueryError::unsupported(
            "Filter operator 'NotEqualsMatch' is not supported.".into(),
        )),
        Expr::Not(_) => Err(QueryError::unsupported(
            "Filter operator 'Not' is not supported.".into(),
        )),
        Expr::EndsWith(..) => Err(needs_advanced("endsWith")),
        Expr::And(a, b) | Expr::Or(a, b) => {
            check_advanced(a, advanced)?;
            check_advanced(b, advanced)
        }
        Expr::Eq(..) | Expr::In(..) | Expr::StartsWith(..) => Ok(()),
    }
}

// ---- $filter parser ------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Word(String),
    Str(String),
    Num(f64),
    Open,
    Close,
    Comma,
}

fn tokenize(text: &str) -> Result<Vec<Token>, QueryError> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            c if c.is_whitespace() => i += 1,
            '(' => {
                out.push(Token::Open);
                i += 1;
            }
            ')' => {
                out.push(Token::Close);
                i += 1;
            }
            ',' => {
                out.push(Token::Comma);
                i += 1;
            }
            '\'' => {
                // OData string literal: '' is an escaped quote.
                let mut s = String::new();
                i += 1;
                loop {
                    match chars.get(i) {
                        None => return Err(QueryError::invalid_filter()),
                        Some('\'') if chars.get(i + 1) == Some(&'\'') => {
                            s.push('\'');
                            i += 2;
                        }
                        Some('\'') => {
                            i += 1;
                            break;
                        }
                        Some(ch) => {
                            s.push(*ch);
                            i += 1;
                        }
                    }
                }
                out.push(Token::Str(s));
            }
            c if c.is_ascii_digit() || c == '-' => {
                let start = i;
                i += 1;
                while i < chars.len() && (chars[i].is_ascii_alphanumeric() || ".:-+".contains(chars[i])) {
                    i += 1;
                }
                let word: String = chars[start..i].iter().collect();
                match word.parse::<f64>() {
                    Ok(n) => out.push(Token::Num(n)),
                    // date-times and GUIDs written bare: not supported here
                    Err(_) => out.push(Token::Word(word)),
                }
            }
            c if c.is_alphabetic() || c == '_' || c == '$' || c == '@' => {
                let start = i;
                while i < chars.len() && (chars[i].is_alphanumeric() || "_/.$@".contains(chars[i])) {
                    i += 1;
                }
                out.push(Token::Word(chars[start..i].iter().collect()));
            }
            _ => return Err(QueryError::invalid_filter()),
        }
    }
    Ok(out)
}

/// Recursive descent over: or := and ('or' and)*; and := unary ('and' unary)*;
/// unary := 'not' unary | '(' or ')' | func '(' prop ',' 'str' ')' | prop op literal.
struct FilterParser<'r> {
    tokens: Vec<Token>,
    pos: usize,
    rules: &'r Rules,
}

fn is_word(t: Option<&Token>, w: &str) -> bool {
    matches!(t, Some(Token::Word(x)) if x.eq_ignore_ascii_case(w))
}

const UNSUPPORTED_OPERATORS: &[&str] = &["gt", "ge", "lt", "le", "has"];
const UNSUPPORTED_FUNCTIONS: &[&str] = &["contains", "substringof", "tolower", "toupper", "length", "indexof"];

impl<'r> FilterParser<'r> {
    fn new(text: &str, rules: &'r Rules) -> Result<Self, QueryError> {
        Ok(FilterParser {
            tokens: tokenize(text)?,
            pos: 0,
            rules,
        })
    }

    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos)
    }

    fn next(&mut self) -> Option<Token> {
        let t = self.tokens.get(self.pos).cloned();
        self.pos += 1;
        t
    }

    fn expect(&mut self, want: &Token) -> Result<(), QueryError> {
        match self.next() {
            Some(t) if t == *want => Ok(()),
            _ => Err(QueryError::invalid_filter()),
        }
    }

    fn parse(mut self) -> Result<Expr, QueryError> {
        let e = self.or()?;
        if self.pos != self.tokens.len() {
            return Err(QueryError::invalid_filter());
        }
        Ok(e)
    }

    fn or(&mut self) -> Result<Expr, QueryError> {
        let mut left = self.and()?;
        while is_word(self.peek(), "or") {
            self.pos += 1;
            let right = self.and()?;
            left = Expr::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Expr, QueryError> {
        let mut left = self.unary()?;
        while is_word(self.peek(), "and") {
            self.pos += 1;
            let right = self.unary()?;
            left = Expr::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Expr, QueryError> {
        if is_word(self.peek(), "not") {
            self.pos += 1;
            return Ok(Expr::Not(Box::new(self.unary()?)));
        }
        if self.peek() == Some(&Token::Open) {
            self.pos += 1;
            let e = self.or()?;
            self.expect(&Token::Close)?;
            return Ok(e);
        }
        let Some(Token::Word(word)) = self.next() else {
            return Err(QueryError::invalid_filter());
        };
        if self.peek() == Some(&Token::Open) {
            return self.function(&word);
        }
        self.comparison(&word)
    }

    /// A property name used in `$filter`: known, of a filterable kind.
    fn property(&self, name: &str) -> Result<&'static Prop, QueryError> {
        if name.contains('/') {
            // lambda and navigation paths (assignedLicenses/$count, proxyAddresses/any(...))
            return Err(QueryError::unsupported(format!(
                "The entra-token emulator does not support the path '{name}' in $filter."
            )));
        }
        let p = self.rules.prop(name).ok_or_else(|| self.rules.unknown(name))?;
        if !p.filter {
            return Err(self.rules.unsupported_filter(p.name));
        }
        Ok(p)
    }

    fn function(&mut self, name: &str) -> Result<Expr, QueryError> {
        let ends = name.eq_ignore_ascii_case("endswith");
        if !ends && !name.eq_ignore_ascii_case("startswith") {
            if UNSUPPORTED_FUNCTIONS.iter().any(|f| f.eq_ignore_ascii_case(name)) {
                return Err(QueryError::unsupported(format!(
                    "The entra-token emulator does not support the function '{name}' in $filter."
                )));
            }
            return Err(QueryError::bad_request(format!(
                "An unknown function with name '{name}' was found. This may also be a function import or a key lookup on a navigation property, which is not allowed."
            )));
        }
        self.expect(&Token::Open)?;
        let Some(Token::Word(prop)) = self.next() else {
            return Err(QueryError::invalid_filter());
        };
        self.expect(&Token::Comma)?;
        let Some(Token::Str(value)) = self.next() else {
            return Err(QueryError::invalid_filter());
        };
        self.expect(&Token::Close)?;
        let p = self.property(&prop)?;
        if p.kind != Kind::Str {
            return Err(QueryError::bad_request(format!(
                "No function signature for the function with name '{name}' matches the specified arguments."
            )));
        }
        if ends {
            if !p.ends_with {
                return Err(self.rules.unsupported_filter(p.name));
            }
            Ok(Expr::EndsWith(p.name, value))
        } else {
            Ok(Expr::StartsWith(p.name, value))
        }
    }

    fn literal(&mut self) -> Result<Literal, QueryError> {
        match self.next() {
            Some(Token::Str(s)) => Ok(Literal::Str(s)),
            Some(Token::Num(n)) => Ok(Literal::Num(n)),
            Some(Token::Word(w)) if w.eq_ignore_ascii_case("true") => Ok(Literal::Bool(true)),
            Some(Token::Word(w)) if w.eq_ignore_ascii_case("false") => Ok(Literal::Bool(false)),
            Some(Token::Word(w)) if w.eq_ignore_ascii_case("null") => Ok(Literal::Null),
            _ => Err(QueryError::invalid_filter()),
        }
    }

    fn comparison(&mut self, prop: &str) -> Result<Expr, QueryError> {
        let op = match self.next() {
            Some(Token::Word(op)) => op.to_ascii_lowercase(),
            _ => return Err(QueryError::invalid_filter()),
        };
        if UNSUPPORTED_OPERATORS.contains(&op.as_str()) {
            // still a syntax check of the property
            self.property(prop)?;
            return Err(QueryError::unsupported(format!(
                "The entra-token emulator does not support the '{op}' operator in $filter."
            )));
        }
        let p = self.property(prop)?;
        match op.as_str() {
            "eq" | "ne" => {
                let lit = self.literal()?;
                check_type(p, &lit, if op == "eq" { "Equal" } else { "NotEqual" })?;
                Ok(if op == "eq" {
                    Expr::Eq(p.name, lit)
                } else {
                    Expr::Ne(p.name, lit)
                })
            }
            "in" => {
                self.expect(&Token::Open)?;
                let mut list = vec![self.literal()?];
                while self.peek() == Some(&Token::Comma) {
                    self.pos += 1;
                    list.push(self.literal()?);
                }
                self.expect(&Token::Close)?;
                for lit in &list {
                    check_type(p, lit, "In")?;
                }
                Ok(Expr::In(p.name, list))
            }
            _ => Err(QueryError::invalid_filter()),
        }
    }
}

fn edm(kind: Kind) -> &'static str {
    match kind {
        Kind::Str => "Edm.String",
        Kind::Bool => "Edm.Boolean",
        Kind::Num => "Edm.Int32",
        Kind::DateTime => "Edm.DateTimeOffset",
        Kind::Other => "Edm.ComplexType",
    }
}

fn check_type(p: &Prop, lit: &Literal, operator: &str) -> Result<(), QueryError> {
    let found = match lit {
        Literal::Null => return Ok(()),
        Literal::Str(_) => Kind::Str,
        Literal::Bool(_) => Kind::Bool,
        Literal::Num(_) => Kind::Num,
    };
    if found == p.kind {
        return Ok(());
    }
    Err(QueryError::bad_request(format!(
        "A binary operator with incompatible types was detected. Found operand types '{}' and '{}' for operator kind '{operator}'.",
        edm(p.kind),
        edm(found)
    )))
}

// ---- evaluation ----------------------------------------------------------------------------

/// Directory string comparisons ignore ASCII case, as Graph's do for `eq` and `startsWith`.
fn lit_matches(v: Option<&Value>, lit: &Literal) -> bool {
    match (v.unwrap_or(&Value::Null), lit) {
        (Value::Null, Literal::Null) => true,
        (Value::String(s), Literal::Str(l)) => s.eq_ignore_ascii_case(l),
        (Value::Bool(b), Literal::Bool(l)) => b == l,
        (Value::Number(n), Literal::Num(l)) => n.as_f64() == Some(*l),
        _ => false,
    }
}

fn starts_with_ci(s: &str, prefix: &str) -> bool {
    s.len() >= prefix.len() && s.is_char_boundary(prefix.len()) && s[..prefix.len()].eq_ignore_ascii_case(prefix)
}

fn ends_with_ci(s: &str, suffix: &str) -> bool {
    s.len() >= suffix.len()
        && s.is_char_boundary(s.len() - suffix.len())
        && s[s.len() - suffix.len()..].eq_ignore_ascii_case(suffix)
}

impl Expr {
    /// Whether the JSON object `item` matches.
    pub(crate) fn matches(&self, item: &Map<String, Value>) -> bool {
        match self {
            Expr::Eq(p, lit) => lit_matches(item.get(*p), lit),
            Expr::Ne(p, lit) => !lit_matches(item.get(*p), lit),
            Expr::In(p, list) => list.iter().any(|lit| lit_matches(item.get(*p), lit)),
            Expr::StartsWith(p, prefix) => item
                .get(*p)
                .and_then(Value::as_str)
                .is_some_and(|s| starts_with_ci(s, prefix)),
            Expr::EndsWith(p, suffix) => item
                .get(*p)
                .and_then(Value::as_str)
                .is_some_and(|s| ends_with_ci(s, suffix)),
            Expr::Not(e) => !e.matches(item),
            Expr::And(a, b) => a.matches(item) && b.matches(item),
            Expr::Or(a, b) => a.matches(item) || b.matches(item),
        }
    }
}

/// OData's order: null first, then booleans, numbers, strings (ASCII case ignored).
fn compare(a: Option<&Value>, b: Option<&Value>) -> Ordering {
    fn rank(v: &Value) -> u8 {
        match v {
            Value::Null => 0,
            Value::Bool(_) => 1,
            Value::Number(_) => 2,
            Value::String(_) => 3,
            _ => 4,
        }
    }
    let (a, b) = (a.unwrap_or(&Value::Null), b.unwrap_or(&Value::Null));
    match (a, b) {
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        (Value::Number(x), Value::Number(y)) => x.as_f64().partial_cmp(&y.as_f64()).unwrap_or(Ordering::Equal),
        (Value::String(x), Value::String(y)) => x
            .to_ascii_lowercase()
            .cmp(&y.to_ascii_lowercase())
            .then_with(|| x.cmp(y)),
        _ => rank(a).cmp(&rank(b)),
    }
}

/// A collection the query runs over: random access by index, items generated on demand.
pub(crate) trait Source {
    fn len(&self) -> u64;
    /// Item `i` (`i < len()`), a JSON object with every property.
    fn item(&self, i: u64) -> Value;
    /// Item `i` as `q` shows it; a source may make the default projection more cheaply.
    fn shown(&self, i: u64, q: &Query, rules: &Rules) -> Value {
        project(self.item(i), q, rules)
    }
}

impl Source for Vec<Value> {
    fn len(&self) -> u64 {
        <[Value]>::len(self) as u64
    }
    fn item(&self, i: u64) -> Value {
        self[i as usize].clone()
    }
}

/// One page of results.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Page {
    /// The page's items, projected by `$select` (or the default projection).
    pub(crate) items: Vec<Value>,
    /// `@odata.count` (only on the first page, when asked for).
    pub(crate) count: Option<u64>,
    /// The position to continue from, when there is more.
    pub(crate) next: Option<u64>,
}

/// Runs `q` over `src` from position `offset` (a `$skiptoken`'s value) for `size` items. The
/// position is an index into `src` without `$orderby` (so a filtered page continues where the
/// previous one stopped scanning) and an index into the sorted matches with it.
pub(crate) fn run(src: &dyn Source, q: &Query, rules: &Rules, offset: u64, size: u64) -> Page {
    let size = size.max(1);
    let total = src.len();
    let matches = |v: &Value| match (&q.filter, v.as_object()) {
        (None, _) => true,
        (Some(f), Some(o)) => f.matches(o),
        (Some(_), None) => false,
    };
    let count = |n: u64| (q.count && offset == 0).then_some(n);
    let (items, count, next) = match (&q.order_by, &q.filter) {
        (None, None) => {
            let end = offset.saturating_add(size).min(total);
            let items: Vec<Value> = (offset.min(end)..end).map(|i| src.shown(i, q, rules)).collect();
            return Page {
                items,
                count: count(total),
                next: (end < total).then_some(end),
            };
        }
        (None, Some(_)) => {
            let mut items = Vec::new();
            let mut i = offset;
            while i < total && (items.len() as u64) < size {
                let v = src.item(i);
                if matches(&v) {
                    items.push(v);
                }
                i += 1;
            }
            // more only if something after `i` matches
            let more = (i..total).any(|j| matches(&src.item(j)));
            let n = if q.count && offset == 0 {
                Some((0..total).filter(|&j| matches(&src.item(j))).count() as u64)
            } else {
                None
            };
            (items, n, more.then_some(i))
        }
        (Some((prop, desc)), _) => {
            let mut all: Vec<Value> = (0..total).map(|i| src.item(i)).filter(|v| matches(v)).collect();
            all.sort_by(|a, b| {
                let o = compare(a.get(*prop), b.get(*prop));
                if *desc { o.reverse() } else { o }
            });
            let n = all.len() as u64;
            let end = offset.saturating_add(size).min(n);
            let items = all
                .into_iter()
                .skip(offset.min(n) as usize)
                .take((end - offset.min(end)) as usize)
                .collect();
            (items, count(n), (end < n).then_some(end))
        }
    };
    Page {
        items: items.into_iter().map(|v| project(v, q, rules)).collect(),
        count,
        next,
    }
}

/// Keeps the `$select`ed properties (or the default projection) and `@odata.type`.
pub(crate) fn project(v: Value, q: &Query, rules: &Rules) -> Value {
    let keep: Option<&[&str]> = match &q.select {
        Some(cols) => Some(cols.as_slice()),
        None => rules.default_select,
    };
    let (Some(keep), Value::Object(obj)) = (keep, &v) else {
        return v;
    };
    let mut out = Map::new();
    if let Some(t) = obj.get("@odata.type") {
        out.insert("@odata.type".into(), t.clone());
    }
    for name in keep {
        out.insert((*name).to_string(), obj.get(*name).cloned().unwrap_or(Value::Null));
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const PROPS: &[Prop] = &[
        filterable("id", Kind::Str),
        filterable("displayName", Kind::Str).ordered(Order::Default),
        filterable("mail", Kind::Str).with_ends_with(),
        filterable("userPrincipalName", Kind::Str)
            .with_ends_with()
            .ordered(Order::Default),
        filterable("accountEnabled", Kind::Bool),
        filterable("jobTitle", Kind::Str),
        plain("createdDateTime", Kind::DateTime).ordered(Order::Advanced),
        plain("businessPhones", Kind::Other),
    ];
    const DIRECTORY: Rules = Rules {
        odata_type: "microsoft.graph.user",
        resource: "User",
        directory: true,
        props: PROPS,
        default_select: Some(&["id", "displayName", "mail", "userPrincipalName", "jobTitle"]),
        default_page: 100,
        max_page: 999,
    };
    const INTUNE: Rules = Rules {
        odata_type: "microsoft.graph.managedDevice",
        resource: "ManagedDevice",
        directory: false,
        props: PROPS,
        default_select: None,
        default_page: 50,
        max_page: 999,
    };

    fn people() -> Vec<Value> {
        vec![
            json!({"id": "1", "displayName": "Adele Vance", "mail": "adele@contoso.com", "userPrincipalName": "adele@contoso.com", "accountEnabled": true, "jobTitle": "Engineer", "createdDateTime": "2024-01-03T00:00:00Z", "businessPhones": []}),
            json!({"id": "2", "displayName": "alex Wilber", "mail": "alex@fabrikam.com", "userPrincipalName": "alex@contoso.com", "accountEnabled": false, "jobTitle": null, "createdDateTime": "2024-01-01T00:00:00Z", "businessPhones": []}),
            json!({"id": "3", "displayName": "Bianca O'Neil", "mail": null, "userPrincipalName": "bianca#EXT#@contoso.com", "accountEnabled": true, "jobTitle": "Engineer", "createdDateTime": "2024-01-02T00:00:00Z", "businessPhones": []}),
            json!({"id": "4", "displayName": "Conf Room 1", "mail": "room1@contoso.com", "userPrincipalName": "room1@contoso.com", "accountEnabled": true, "jobTitle": "Room", "createdDateTime": "2024-01-04T00:00:00Z", "businessPhones": []}),
        ]
    }

    fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn ids(rules: &Rules, pairs: &[(&str, &str)], eventual: bool) -> Result<Vec<String>, QueryError> {
        let q = parse(&params(pairs), eventual, rules)?;
        let page = run(&people(), &q, rules, 0, 100);
        Ok(page
            .items
            .iter()
            .map(|v| v["id"].as_str().unwrap().to_string())
            .collect())
    }

    fn filter(f: &str) -> Result<Vec<String>, QueryError> {
        ids(&INTUNE, &[("$filter", f)], false)
    }

    fn err(rules: &Rules, pairs: &[(&str, &str)], eventual: bool) -> QueryError {
        parse(&params(pairs), eventual, rules).unwrap_err()
    }

    #[test]
    fn eq_ne_and_in_on_strings_ignore_case() {
        assert_eq!(filter("displayName eq 'ADELE VANCE'").unwrap(), ["1"]);
        assert_eq!(filter("displayName ne 'adele vance'").unwrap(), ["2", "3", "4"]);
        assert_eq!(filter("id in ('1', '3','9')").unwrap(), ["1", "3"]);
        assert_eq!(
            filter("displayName eq 'Bianca O''Neil'").unwrap(),
            ["3"],
            "'' escapes a quote"
        );
        assert!(filter("displayName eq 'nobody'").unwrap().is_empty());
    }

    #[test]
    fn booleans_and_null() {
        assert_eq!(filter("accountEnabled eq false").unwrap(), ["2"]);
        assert_eq!(filter("accountEnabled eq true").unwrap(), ["1", "3", "4"]);
        assert_eq!(filter("jobTitle eq null").unwrap(), ["2"]);
        assert_eq!(filter("mail ne null").unwrap(), ["1", "2", "4"]);
    }

    #[test]
    fn functions_ignore_case_and_check_the_property() {
        assert_eq!(filter("startswith(displayName,'a')").unwrap(), ["1", "2"]);
        assert_eq!(filter("startsWith(displayName, 'AL')").unwrap(), ["2"]);
        assert_eq!(filter("endswith(mail,'@CONTOSO.com')").unwrap(), ["1", "4"]);
        assert_eq!(
            filter("endsWith(userPrincipalName,'#EXT#@contoso.com')").unwrap(),
            ["3"]
        );
        let e = filter("endswith(displayName,'x')").unwrap_err();
        assert_eq!(e.code, "Request_UnsupportedQuery");
        assert_eq!(
            e.message,
            "Unsupported or invalid query filter clause specified for property 'displayName' of resource 'ManagedDevice'."
        );
        let e = filter("startswith(accountEnabled,'t')").unwrap_err();
        assert_eq!((e.status, e.code), (400, "BadRequest"));
    }

    #[test]
    fn and_binds_tighter_than_or_and_parentheses_regroup() {
        // a or (b and c)
        assert_eq!(
            filter("id eq '1' or jobTitle eq 'Engineer' and accountEnabled eq false").unwrap(),
            ["1"]
        );
        // (a or b) and c
        assert_eq!(
            filter("(id eq '1' or id eq '2') and accountEnabled eq false").unwrap(),
            ["2"]
        );
        assert_eq!(filter("not (startswith(displayName,'a') or id eq '4')").unwrap(), ["3"]);
        assert_eq!(filter("NOT startsWith(displayName, 'Conf')").unwrap(), ["1", "2", "3"]);
        assert_eq!(
            filter("startsWith(displayName,'a') OR startsWith(displayName,'b') AND id ne '3'").unwrap(),
            ["1", "2"]
        );
        assert_eq!(filter("((id eq '4'))").unwrap(), ["4"]);
    }

    #[test]
    fn syntax_and_type_errors_are_graphs_bad_request() {
        for bad in [
            "displayName eq",
            "displayName eq 'x",
            "(id eq '1'",
            "id eq '1')",
            "id eq '1' and",
            "startswith(displayName)",
            "displayName equals 'x'",
            "id eq '1' id eq '2'",
            "displayName eq Adele",
            "#",
        ] {
            let e = filter(bad).unwrap_err();
            assert_eq!((e.status, e.code), (400, "BadRequest"), "{bad}: {e:?}");
        }
        let e = filter("accountEnabled eq 'true'").unwrap_err();
        assert_eq!(e.code, "BadRequest");
        assert!(e.message.contains("'Edm.Boolean' and 'Edm.String'"), "{}", e.message);
        let e = filter("nosuch eq 'x'").unwrap_err();
        assert_eq!(
            e.message,
            "Could not find a property named 'nosuch' on type 'microsoft.graph.managedDevice'."
        );
        let e = filter("createdDateTime eq null").unwrap_err();
        assert_eq!(e.code, "Request_UnsupportedQuery");
        let e = filter("displayName gt 'a'").unwrap_err();
        assert_eq!(e.code, "Request_UnsupportedQuery");
        assert!(e.message.contains("'gt'"));
        let e = filter("contains(displayName,'a')").unwrap_err();
        assert_eq!(e.code, "Request_UnsupportedQuery");
        let e = filter("frobnicate(displayName,'a')").unwrap_err();
        assert_eq!(e.code, "BadRequest");
    }

    #[test]
    fn directory_objects_need_advanced_queries_for_ne_not_endswith() {
        let advanced = |f: &str| ids(&DIRECTORY, &[("$filter", f), ("$count", "true")], true);
        // eq and startsWith work by default
        assert_eq!(
            ids(&DIRECTORY, &[("$filter", "accountEnabled eq false")], false).unwrap(),
            ["2"]
        );
        assert_eq!(
            ids(&DIRECTORY, &[("$filter", "startswith(displayName,'conf')")], false).unwrap(),
            ["4"]
        );
        // endsWith: the documented error without ConsistencyLevel and $count=true
        for (pairs, eventual) in [
            (&[("$filter", "endswith(mail,'@contoso.com')")][..], false),
            (
                &[("$filter", "endswith(mail,'@contoso.com')"), ("$count", "true")][..],
                false,
            ),
            (&[("$filter", "endswith(mail,'@contoso.com')")][..], true),
        ] {
            let e = err(&DIRECTORY, pairs, eventual);
            assert_eq!(e.code, "Request_UnsupportedQuery");
            assert!(e.message.starts_with("Operator 'endsWith' is not supported because the required parameters might be missing. Try adding $count=true query parameter and ConsistencyLevel:eventual header."), "{}", e.message);
        }
        assert_eq!(advanced("endswith(mail,'@contoso.com')").unwrap(), ["1", "4"]);
        let e = err(&DIRECTORY, &[("$filter", "accountEnabled ne true")], false);
        assert_eq!(e.message, "Filter operator 'NotEqualsMatch' is not supported.");
        assert_eq!(advanced("accountEnabled ne true").unwrap(), ["2"]);
        let e = err(&DIRECTORY, &[("$filter", "not(id eq '1')")], false);
        assert_eq!(e.code, "Request_UnsupportedQuery");
        assert_eq!(advanced("not(id eq '1')").unwrap(), ["2", "3", "4"]);
        // nested inside and/or too
        assert!(
            parse(
                &params(&[("$filter", "id eq '1' or (id eq '2' and id ne '3')")]),
                false,
                &DIRECTORY
            )
            .is_err()
        );
    }

    #[test]
    fn count_is_answered_only_with_consistency_level_on_directory_objects() {
        let q = parse(&params(&[("$count", "true")]), false, &DIRECTORY).unwrap();
        assert!(!q.count, "silently ignored, as Graph does");
        let q = parse(&params(&[("$count", "true")]), true, &DIRECTORY).unwrap();
        assert!(q.count);
        let page = run(&people(), &q, &DIRECTORY, 0, 2);
        assert_eq!(page.count, Some(4));
        assert_eq!(page.next, Some(2));
        let later = run(&people(), &q, &DIRECTORY, 2, 2);
        assert_eq!(later.count, None, "only the first page counts");
        assert_eq!(later.next, None);
        // Intune counts without the header
        assert!(parse(&params(&[("$count", "true")]), false, &INTUNE).unwrap().count);
        // counting a filtered collection counts the matches
        let q = parse(
            &params(&[("$count", "true"), ("$filter", "jobTitle eq 'Engineer'")]),
            true,
            &DIRECTORY,
        )
        .unwrap();
        assert_eq!(run(&people(), &q, &DIRECTORY, 0, 1).count, Some(2));
        assert_eq!(err(&DIRECTORY, &[("$count", "yes")], true).code, "BadRequest");
    }

    #[test]
    fn top_is_checked_and_pages_follow_the_filter() {
        let e = err(&DIRECTORY, &[("$top", "1000")], false);
        assert_eq!(e.code, "Request_UnsupportedQuery");
        assert_eq!(
            e.message,
            "Invalid page size specified: '1000'. Must be between 1 and 999 inclusive."
        );
        assert_eq!(
            err(&DIRECTORY, &[("$top", "0")], false).code,
            "Request_UnsupportedQuery"
        );
        let e = err(&DIRECTORY, &[("$top", "ten")], false);
        assert_eq!((e.status, e.code), (400, "BadRequest"));
        let q = parse(
            &params(&[("$top", "1"), ("$filter", "jobTitle eq 'Engineer'")]),
            false,
            &DIRECTORY,
        )
        .unwrap();
        assert_eq!(q.page_size(&DIRECTORY), 1);
        let people = people();
        let p1 = run(&people, &q, &DIRECTORY, 0, 1);
        assert_eq!(p1.items[0]["id"], "1");
        let p2 = run(&people, &q, &DIRECTORY, p1.next.unwrap(), 1);
        assert_eq!(p2.items[0]["id"], "3");
        assert_eq!(p2.next, None, "nothing after #3 matches");
        assert_eq!(
            parse(&params(&[]), false, &DIRECTORY).unwrap().page_size(&DIRECTORY),
            100
        );
    }

    #[test]
    fn select_projects_and_names_the_context() {
        let q = parse(&params(&[("$select", "DISPLAYNAME,id")]), false, &DIRECTORY).unwrap();
        assert_eq!(q.select, Some(vec!["displayName", "id"]));
        assert_eq!(q.context("users"), "users(displayName,id)");
        let page = run(&people(), &q, &DIRECTORY, 0, 1);
        assert_eq!(page.items[0], json!({"displayName": "Adele Vance", "id": "1"}));
        // the default projection leaves out what Graph leaves out
        let q = parse(&params(&[]), false, &DIRECTORY).unwrap();
        assert_eq!(q.context("users"), "users");
        let item = &run(&people(), &q, &DIRECTORY, 0, 1).items[0];
        assert!(item.get("accountEnabled").is_none() && item.get("displayName").is_some());
        // but it can be selected
        let q = parse(&params(&[("$select", "accountEnabled")]), false, &DIRECTORY).unwrap();
        assert_eq!(
            run(&people(), &q, &DIRECTORY, 0, 1).items[0],
            json!({"accountEnabled": true})
        );
        let e = err(&DIRECTORY, &[("$select", "id,nope")], false);
        assert_eq!(
            e.message,
            "Parsing OData Select and Expand failed: Could not find a property named 'nope' on type 'microsoft.graph.user'."
        );
        // @odata.type survives a projection
        let q = parse(&params(&[("$select", "id")]), false, &INTUNE).unwrap();
        let v = project(json!({"@odata.type": "#t", "id": "1", "x": 2}), &q, &INTUNE);
        assert_eq!(v, json!({"@odata.type": "#t", "id": "1"}));
    }

    #[test]
    fn orderby_one_property_either_way() {
        let sorted = |pairs: &[(&str, &str)], eventual| ids(&DIRECTORY, pairs, eventual).unwrap();
        assert_eq!(sorted(&[("$orderby", "displayName")], false), ["1", "2", "3", "4"]);
        assert_eq!(sorted(&[("$orderby", "displayName desc")], false), ["4", "3", "2", "1"]);
        assert_eq!(
            sorted(&[("$orderby", "userPrincipalName asc")], false),
            ["1", "2", "3", "4"]
        );
        // createdDateTime: advanced only
        let e = err(&DIRECTORY, &[("$orderby", "createdDateTime")], false);
        assert_eq!(e.message, "Sorting not supported for current query.");
        assert_eq!(
            sorted(&[("$orderby", "createdDateTime desc"), ("$count", "true")], true),
            ["4", "1", "3", "2"]
        );
        // $filter with $orderby: advanced only on directory objects
        let both = [("$orderby", "displayName"), ("$filter", "accountEnabled eq true")];
        assert_eq!(
            err(&DIRECTORY, &both, true).message,
            "Sorting not supported for current query."
        );
        let mut with_count = both.to_vec();
        with_count.push(("$count", "true"));
        assert_eq!(sorted(&with_count, true), ["1", "3", "4"]);
        assert_eq!(ids(&INTUNE, &both, false).unwrap(), ["1", "3", "4"]);
        // nulls sort first
        assert_eq!(
            ids(&INTUNE, &[("$orderby", "displayName")], false).unwrap(),
            ["1", "2", "3", "4"]
        );
        let q = parse(&params(&[("$orderby", "jobTitle")]), false, &INTUNE);
        assert_eq!(q.unwrap_err().message, "Sorting not supported for current query.");
        assert_eq!(
            err(&DIRECTORY, &[("$orderby", "displayName,id")], false).code,
            "Request_UnsupportedQuery"
        );
        assert_eq!(
            err(&DIRECTORY, &[("$orderby", "displayName sideways")], false).code,
            "BadRequest"
        );
        assert_eq!(err(&DIRECTORY, &[("$orderby", "nope")], false).code, "BadRequest");
        // paging through a sorted result
        let q = parse(&params(&[("$orderby", "displayName desc")]), false, &DIRECTORY).unwrap();
        let people = people();
        let p1 = run(&people, &q, &DIRECTORY, 0, 3);
        assert_eq!(p1.next, Some(3));
        let p2 = run(&people, &q, &DIRECTORY, 3, 3);
        assert_eq!(p2.items.len(), 1);
        assert_eq!(p2.items[0]["id"], "1");
        assert_eq!(p2.next, None);
    }

    #[test]
    fn search_and_skip_are_refused_on_directory_objects() {
        let e = err(&DIRECTORY, &[("$search", "\"displayName:a\"")], false);
        assert!(e.message.contains("ConsistencyLevel: eventual"), "{}", e.message);
        assert_eq!(err(&DIRECTORY, &[("$skip", "2")], false).code, "Request_BadRequest");
    }

    #[test]
    fn option_names_ignore_case() {
        assert_eq!(ids(&INTUNE, &[("$FILTER", "id eq '2'")], false).unwrap(), ["2"]);
        assert_eq!(
            ids(&INTUNE, &[("$Top", "1")], false).unwrap().len(),
            4,
            "run's size decides"
        );
        assert_eq!(parse(&params(&[("$Top", "1")]), false, &INTUNE).unwrap().top, Some(1));
    }
}
