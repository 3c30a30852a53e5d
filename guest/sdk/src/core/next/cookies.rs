//! Cookie jars: [`RequestCookies`] (the `Cookie` header) and
//! [`ResponseCookies`] (`Set-Cookie` headers), like Next.js's
//! `RequestCookies` / `ResponseCookies`.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::header::{COOKIE, SET_COOKIE};
use http::{HeaderMap, HeaderValue};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use crate::core::error::{Error, Result};

/// What `encodeURIComponent` leaves alone; everything else in a cookie value
/// is percent-encoded, as Next.js does.
const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'!')
    .remove(b'~')
    .remove(b'*')
    .remove(b'\'')
    .remove(b'(')
    .remove(b')');

/// A cookie name must be an RFC 6265 token.
fn check_name(name: &str) -> Result<()> {
    let token = |b: u8| b.is_ascii_graphic() && !b"()<>@,;:\\\"/[]?={}".contains(&b);
    if name.is_empty() || !name.bytes().all(token) {
        return Err(Error::msg(format!("invalid cookie name {name:?}")));
    }
    Ok(())
}

/// An attribute value must not end the attribute early or smuggle controls.
fn check_attribute(what: &str, value: &str) -> Result<()> {
    if value.bytes().any(|b| b == b';' || b.is_ascii_control()) {
        return Err(Error::msg(format!("invalid cookie {what} {value:?}")));
    }
    Ok(())
}

fn encode(value: &str) -> String {
    utf8_percent_encode(value, COMPONENT).to_string()
}

/// JavaScript's `decodeURIComponent`: `None` when a `%` is not followed by
/// two hex digits or the escaped bytes are not UTF-8.
fn decode_uri_component(value: &str) -> Option<String> {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            if !hex.iter().all(u8::is_ascii_hexdigit) {
                return None;
            }
            out.push(u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// A header value as Node.js reads it: each byte is one character
/// (latin-1), so no value is ever lost to an encoding error.
pub(crate) fn header_text(value: &HeaderValue) -> String {
    value.as_bytes().iter().map(|&b| char::from(b)).collect()
}

/// The `Cookie` header lines joined with `; `, as Node.js joins them.
fn cookie_header(headers: &HeaderMap) -> String {
    let lines: Vec<String> = headers.get_all(COOKIE).iter().map(header_text).collect();
    lines.join("; ")
}

/// The pairs of a `Cookie` header value, split as `@edge-runtime/cookies`
/// splits them (at `;` and the spaces after it), without empty ones.
fn pairs(header: &str) -> impl Iterator<Item = &str> {
    header
        .split(';')
        .map(|pair| pair.trim_start_matches(' '))
        .filter(|pair| !pair.is_empty())
}

/// Whitespace as JavaScript's `String.prototype.trim` sees it, for the
/// characters a header can carry.
fn js_trim(text: &str) -> &str {
    text.trim_matches(['\t', '\n', '\u{b}', '\u{c}', '\r', ' ', '\u{a0}'])
}

/// The value of cookie `name` as Next.js's `has` / `missing` conditions
/// read it (the `cookie` package's `parse`): pairs without `=` are skipped,
/// names and values trimmed, one pair of quotes removed, the first cookie
/// of a name wins, and a value that does not percent-decode is kept raw.
pub(crate) fn condition_cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    let header = cookie_header(headers);
    pairs(&header).find_map(|pair| {
        let (key, value) = pair.split_once('=')?;
        if js_trim(key) != name {
            return None;
        }
        let value = js_trim(value);
        let value = match value.strip_prefix('"') {
            Some(quoted) => {
                let mut chars = quoted.chars();
                chars.next_back();
                chars.as_str()
            }
            None => value,
        };
        Some(decode_uri_component(value).unwrap_or_else(|| value.to_owned()))
    })
}

/// The cookies a request carries (its `Cookie` headers), as Next.js's
/// `RequestCookies` (`@edge-runtime/cookies`) reads them.
///
/// Parsing never fails: the header is split at `;` (and the spaces after
/// it), a pair without `=` gets the value `"true"`, names and values are
/// otherwise kept as sent (not trimmed), values are percent-decoded and a
/// pair whose value does not decode (`a=%F6`) is dropped. A name is kept
/// once, at its first place, with its last value. `Cookie` header lines
/// are joined with `; ` and read byte per character, as Node.js does.
/// Changes made with [`set`](Self::set) and [`delete`](Self::delete)
/// affect this jar only; through
/// [`NextRequest::cookies_mut`](super::NextRequest::cookies_mut) they also
/// rewrite the request's `Cookie` header, which
/// [`NextResponse::next_with_request_headers`](super::NextResponse::next_with_request_headers)
/// forwards.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RequestCookies {
    pairs: Vec<(String, String)>,
}

impl RequestCookies {
    /// Parses every `Cookie` header in `headers`.
    pub fn from_headers(headers: &HeaderMap) -> Self {
        let mut jar = Self::default();
        for pair in pairs(&cookie_header(headers)) {
            let (name, value) = pair.split_once('=').unwrap_or((pair, "true"));
            if let Some(value) = decode_uri_component(value) {
                jar.put(name, value);
            }
        }
        jar
    }

    /// Sets `name` to `value` in place, or appends it (a `Map`'s `set`).
    fn put(&mut self, name: &str, value: String) {
        match self.pairs.iter_mut().find(|(n, _)| n == name) {
            Some(pair) => pair.1 = value,
            None => self.pairs.push((name.to_owned(), value)),
        }
    }

    /// The value of the cookie called `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The values of the cookies called `name` (at most one, as in Next.js's
    /// `getAll(name)`).
    pub fn get_all(&self, name: &str) -> Vec<&str> {
        self.pairs
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// Every cookie as `(name, value)`, in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.pairs.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }

    /// Whether a cookie called `name` is present.
    pub fn has(&self, name: &str) -> bool {
        self.pairs.iter().any(|(n, _)| n == name)
    }

    /// How many cookies the jar holds.
    pub fn len(&self) -> usize {
        self.pairs.len()
    }

    /// Whether the jar is empty.
    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }

    /// Sets cookie `name` to `value`, in place if it is there. Fails if
    /// `name` is not a valid cookie name.
    pub fn set(&mut self, name: &str, value: &str) -> Result<()> {
        check_name(name)?;
        self.put(name, value.to_owned());
        Ok(())
    }

    /// Removes the cookie called `name`; whether there was one.
    pub fn delete(&mut self, name: &str) -> bool {
        let before = self.pairs.len();
        self.pairs.retain(|(n, _)| n != name);
        self.pairs.len() != before
    }

    /// The jar as a `Cookie` header value (`a=1; b=2`, values
    /// percent-encoded), or `None` when it is empty.
    pub fn header_value(&self) -> Option<HeaderValue> {
        if self.pairs.is_empty() {
            return None;
        }
        let mut bytes = Vec::new();
        for (index, (name, value)) in self.pairs.iter().enumerate() {
            if index > 0 {
                bytes.extend_from_slice(b"; ");
            }
            // A name is a token or came from a header, one byte per
            // character; values are encoded.
            bytes.extend(name.chars().map(|c| u8::try_from(c).unwrap_or(b'?')));
            bytes.push(b'=');
            bytes.extend_from_slice(encode(value).as_bytes());
        }
        HeaderValue::from_bytes(&bytes).ok()
    }
}

/// The `SameSite` attribute of a [`ResponseCookie`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SameSite {
    /// `SameSite=Strict`
    Strict,
    /// `SameSite=Lax`
    Lax,
    /// `SameSite=None` (browsers require `Secure` with it)
    None,
}

/// The `Priority` attribute of a [`ResponseCookie`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Priority {
    /// `Priority=Low`
    Low,
    /// `Priority=Medium`
    Medium,
    /// `Priority=High`
    High,
}

/// A cookie to set with a `Set-Cookie` header. Build one with
/// [`ResponseCookie::new`] and set the public fields, e.g.
/// `ResponseCookie { http_only: true, ..ResponseCookie::new("a", "b") }`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResponseCookie {
    /// The name (an RFC 6265 token).
    pub name: String,
    /// The value; percent-encoded in the header like `encodeURIComponent`.
    pub value: String,
    /// `Path=`
    pub path: Option<String>,
    /// `Domain=`
    pub domain: Option<String>,
    /// `Max-Age=` in seconds
    pub max_age: Option<i64>,
    /// `Expires=`
    pub expires: Option<SystemTime>,
    /// `HttpOnly`
    pub http_only: bool,
    /// `Secure`
    pub secure: bool,
    /// `SameSite=`
    pub same_site: Option<SameSite>,
    /// `Partitioned` (CHIPS)
    pub partitioned: bool,
    /// `Priority=`
    pub priority: Option<Priority>,
}

impl ResponseCookie {
    /// A cookie with `Path=/` (the Next.js default) and no other attribute.
    pub fn new(name: impl Into<String>, value: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            value: value.into(),
            path: Some("/".to_owned()),
            domain: None,
            max_age: None,
            expires: None,
            http_only: false,
            secure: false,
            same_site: None,
            partitioned: false,
            priority: None,
        }
    }

    /// Checks the name and the attribute values.
    pub fn validate(&self) -> Result<()> {
        check_name(&self.name)?;
        if let Some(path) = &self.path {
            check_attribute("path", path)?;
        }
        if let Some(domain) = &self.domain {
            check_attribute("domain", domain)?;
        }
        Ok(())
    }

    /// Parses a `Set-Cookie` header value as `@edge-runtime/cookies`
    /// does: the first pair is the cookie (its value percent-decoded),
    /// attribute names are matched without case and `-`, and attributes
    /// that are empty or not understood are left out; `None` if the line
    /// names no cookie or its value does not decode. Only IMF-fixdate
    /// `Expires` values are read (JavaScript's `Date` reads more).
    pub fn parse(line: &str) -> Option<Self> {
        let mut map = RequestCookies::default();
        for pair in pairs(line) {
            let (name, value) = pair.split_once('=').unwrap_or((pair, "true"));
            if let Some(value) = decode_uri_component(value) {
                map.put(name, value);
            }
        }
        let mut entries = map.pairs.into_iter();
        let (name, value) = entries.next()?;
        let value = decode_uri_component(&value)?;
        let mut cookie = Self {
            path: None,
            ..Self::new(name, value)
        };
        for (key, value) in entries {
            let value = Some(value).filter(|v| !v.is_empty());
            match key.to_ascii_lowercase().replace('-', "").as_str() {
                "domain" => cookie.domain = value,
                "path" => cookie.path = value,
                "expires" => cookie.expires = value.as_deref().and_then(parse_http_date),
                "maxage" => {
                    cookie.max_age = value
                        .as_deref()
                        .and_then(|v| js_trim(v).parse::<f64>().ok())
                        .filter(|age| age.is_finite() && *age != 0.0)
                        .map(|age| age as i64);
                }
                "httponly" => cookie.http_only = value.is_some(),
                "secure" => cookie.secure = value.is_some(),
                "partitioned" => cookie.partitioned = value.is_some(),
                "samesite" => {
                    cookie.same_site = match value.map(|v| v.to_ascii_lowercase()).as_deref() {
                        Some("strict") => Some(SameSite::Strict),
                        Some("lax") => Some(SameSite::Lax),
                        Some("none") => Some(SameSite::None),
                        _ => None,
                    }
                }
                "priority" => {
                    cookie.priority = match value.map(|v| v.to_ascii_lowercase()).as_deref() {
                        Some("low") => Some(Priority::Low),
                        Some("medium") => Some(Priority::Medium),
                        Some("high") => Some(Priority::High),
                        _ => None,
                    }
                }
                _ => {}
            }
        }
        Some(cookie)
    }

    /// The `Set-Cookie` header value, attributes in Next.js's order.
    pub fn to_header_value(&self) -> Result<HeaderValue> {
        self.validate()?;
        HeaderValue::from_str(&self.to_string())
            .map_err(|e| Error::from(e).context("invalid Set-Cookie value"))
    }
}

impl fmt::Display for ResponseCookie {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={}", self.name, encode(&self.value))?;
        if let Some(path) = &self.path {
            write!(f, "; Path={path}")?;
        }
        if let Some(expires) = self.expires {
            write!(f, "; Expires={}", http_date(expires))?;
        }
        if let Some(max_age) = self.max_age {
            write!(f, "; Max-Age={max_age}")?;
        }
        if let Some(domain) = &self.domain {
            write!(f, "; Domain={domain}")?;
        }
        if self.secure {
            f.write_str("; Secure")?;
        }
        if self.http_only {
            f.write_str("; HttpOnly")?;
        }
        if let Some(same_site) = self.same_site {
            let s = match same_site {
                SameSite::Strict => "strict",
                SameSite::Lax => "lax",
                SameSite::None => "none",
            };
            write!(f, "; SameSite={s}")?;
        }
        if self.partitioned {
            f.write_str("; Partitioned")?;
        }
        if let Some(priority) = self.priority {
            let p = match priority {
                Priority::Low => "low",
                Priority::Medium => "medium",
                Priority::High => "high",
            };
            write!(f, "; Priority={p}")?;
        }
        Ok(())
    }
}

const WEEKDAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Reads an IMF-fixdate (`Thu, 01 Jan 1970 00:00:00 GMT`); `None` for
/// other text or times before the epoch.
fn parse_http_date(text: &str) -> Option<SystemTime> {
    let (weekday, rest) = text.split_once(", ")?;
    let fields: Vec<&str> = rest.split(' ').collect();
    let [day, month, year, time, "GMT"] = fields.as_slice() else {
        return None;
    };
    let number = |s: &str, digits: usize| {
        (s.len() == digits && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse::<i64>().ok())
            .flatten()
    };
    let (day, year) = (number(day, 2)?, number(year, 4)?);
    let month = MONTHS.iter().position(|m| m == month)? as i64 + 1;
    let clock: Vec<&str> = time.split(':').collect();
    let [h, m, sec] = clock.as_slice() else {
        return None;
    };
    let (h, m, sec) = (number(h, 2)?, number(m, 2)?, number(sec, 2)?);
    if !(1..=31).contains(&day) || h > 23 || m > 59 || sec > 60 {
        return None;
    }
    // Howard Hinnant's days_from_civil.
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    if WEEKDAYS[days.rem_euclid(7) as usize] != weekday {
        return None;
    }
    let secs = u64::try_from(days * 86_400 + h * 3600 + m * 60 + sec).ok()?;
    UNIX_EPOCH.checked_add(Duration::from_secs(secs))
}

/// IMF-fixdate (`Thu, 01 Jan 1970 00:00:00 GMT`); times before the epoch
/// are written as the epoch.
fn http_date(time: SystemTime) -> String {
    let secs = time
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Howard Hinnant's civil_from_days.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{}, {day:02} {} {year} {:02}:{:02}:{:02} GMT",
        WEEKDAYS[(days % 7) as usize],
        MONTHS[(month - 1) as usize],
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// The cookies a middleware sets on its response: one `Set-Cookie` header
/// each, a later `set` of the same name replacing the earlier one.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ResponseCookies {
    cookies: Vec<ResponseCookie>,
}

impl ResponseCookies {
    /// The cookies of the `Set-Cookie` headers in `headers` (one per name,
    /// the last one winning), as Next.js's `ResponseCookies` reads them;
    /// lines that name no cookie are skipped.
    pub fn from_headers(headers: &HeaderMap) -> Self {
        let mut jar = Self::default();
        for cookie in headers
            .get_all(SET_COOKIE)
            .iter()
            .filter_map(|line| ResponseCookie::parse(&header_text(line)))
        {
            match jar.cookies.iter_mut().find(|c| c.name == cookie.name) {
                Some(existing) => *existing = cookie,
                None => jar.cookies.push(cookie),
            }
        }
        jar
    }

    /// Sets `cookie`, replacing a cookie of the same name. As in Next.js, a
    /// cookie without a path gets `Path=/`, and a non-zero `max_age` also
    /// sets `Expires` to now plus `max_age`. Fails (and changes nothing) if
    /// the name or an attribute is invalid.
    pub fn set(&mut self, mut cookie: ResponseCookie) -> Result<()> {
        if cookie.path.is_none() {
            cookie.path = Some("/".to_owned());
        }
        if let Some(max_age) = cookie.max_age.filter(|&age| age != 0) {
            let offset = Duration::from_secs(max_age.unsigned_abs());
            let now = SystemTime::now();
            cookie.expires = if max_age > 0 {
                now.checked_add(offset)
            } else {
                now.checked_sub(offset)
            };
        }
        cookie.to_header_value()?;
        match self.cookies.iter_mut().find(|c| c.name == cookie.name) {
            Some(existing) => *existing = cookie,
            None => self.cookies.push(cookie),
        }
        Ok(())
    }

    /// Expires cookie `name` in the browser: sets it to an empty value with
    /// `Expires` at the epoch and `Path=/`, as Next.js does.
    pub fn delete(&mut self, name: &str) -> Result<()> {
        self.set(ResponseCookie {
            expires: Some(UNIX_EPOCH),
            ..ResponseCookie::new(name, "")
        })
    }

    /// The cookie called `name`, if set.
    pub fn get(&self, name: &str) -> Option<&ResponseCookie> {
        self.cookies.iter().find(|c| c.name == name)
    }

    /// Every cookie set, in order.
    pub fn get_all(&self) -> &[ResponseCookie] {
        &self.cookies
    }

    /// Whether a cookie called `name` is set.
    pub fn has(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// Appends one `Set-Cookie` header per cookie to `headers`.
    pub(crate) fn append_to(&self, headers: &mut HeaderMap) {
        for cookie in &self.cookies {
            // Every cookie was validated by `set`.
            if let Ok(value) = cookie.to_header_value() {
                headers.append(SET_COOKIE, value);
            }
        }
    }
}

#[cfg(test)]
mod tables;

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(lines: &[&[u8]]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for line in lines {
            map.append(COOKIE, HeaderValue::from_bytes(line).unwrap());
        }
        map
    }

    #[test]
    fn parses_request_cookies() {
        let jar = RequestCookies::from_headers(&headers(&[b"a=1; b=hello%20world", b"a=2;flag"]));
        // Lines are joined with `; `; a name keeps its first place and its
        // last value, as in a JavaScript `Map`.
        assert_eq!(jar.get("a"), Some("2"));
        assert_eq!(jar.get_all("a"), ["2"]);
        assert_eq!(jar.get("b"), Some("hello world"));
        assert_eq!(jar.get("flag"), Some("true"));
        assert!(jar.has("b") && !jar.has("c"));
        let names: Vec<_> = jar.iter().map(|(n, _)| n).collect();
        assert_eq!(names, ["a", "b", "flag"]);
    }

    #[test]
    fn malformed_cookies_do_not_panic() {
        let jar = RequestCookies::from_headers(&headers(&[
            b";;; =x; ; bad%zz=%E0%A4%A; ok=1; pct=%zz; a =1 ",
            b"latin=\xe9t\xe9",
        ]));
        assert!(
            !jar.has("bad%zz") && !jar.has("pct"),
            "not decodable: dropped"
        );
        assert_eq!(jar.get("ok"), Some("1"));
        assert_eq!(
            jar.get(""),
            Some("x"),
            "kept as @edge-runtime/cookies keeps it"
        );
        assert_eq!(jar.get("a "), Some("1 "), "not trimmed");
        assert_eq!(
            jar.get("latin"),
            Some("\u{e9}t\u{e9}"),
            "bytes read as latin-1"
        );
        assert!(RequestCookies::from_headers(&HeaderMap::new()).is_empty());
    }

    #[test]
    fn request_jar_set_delete_and_serialise() {
        let mut jar = RequestCookies::from_headers(&headers(&[b"a=1; b=2; a=3"]));
        jar.set("a", "x y").unwrap();
        assert_eq!(jar.get_all("a"), ["x y"]);
        jar.set("c", "3").unwrap();
        assert_eq!(jar.header_value().unwrap(), "a=x%20y; b=2; c=3");
        assert!(jar.delete("b"));
        assert!(!jar.delete("b"));
        let err = jar.set("bad name", "v").unwrap_err();
        assert_eq!(err.to_string(), "invalid cookie name \"bad name\"");
        jar.delete("a");
        jar.delete("c");
        assert_eq!(jar.header_value(), None);
    }

    #[test]
    fn set_cookie_with_every_attribute() {
        let cookie = ResponseCookie {
            domain: Some("example.com".into()),
            max_age: Some(3600),
            expires: Some(UNIX_EPOCH + Duration::from_secs(1_700_000_000)),
            http_only: true,
            secure: true,
            same_site: Some(SameSite::Lax),
            partitioned: true,
            priority: Some(Priority::High),
            ..ResponseCookie::new("session", "a b;c")
        };
        assert_eq!(
            cookie.to_header_value().unwrap(),
            "session=a%20b%3Bc; Path=/; Expires=Tue, 14 Nov 2023 22:13:20 GMT; Max-Age=3600; \
             Domain=example.com; Secure; HttpOnly; SameSite=lax; Partitioned; Priority=high"
        );
        assert_eq!(http_date(UNIX_EPOCH), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(
            http_date(UNIX_EPOCH + Duration::from_secs(951_782_400)),
            "Tue, 29 Feb 2000 00:00:00 GMT"
        );
    }

    #[test]
    fn response_jar_one_header_per_cookie() {
        let mut jar = ResponseCookies::default();
        jar.set(ResponseCookie::new("a", "1")).unwrap();
        jar.set(ResponseCookie::new("b", "2")).unwrap();
        jar.set(ResponseCookie::new("a", "3")).unwrap();
        jar.delete("gone").unwrap();
        assert_eq!(jar.get("a").unwrap().value, "3");
        assert!(jar.has("gone") && !jar.has("c"));
        let mut headers = HeaderMap::new();
        jar.append_to(&mut headers);
        let values: Vec<_> = headers.get_all(SET_COOKIE).iter().collect();
        assert_eq!(
            values,
            [
                "a=3; Path=/",
                "b=2; Path=/",
                "gone=; Path=/; Expires=Thu, 01 Jan 1970 00:00:00 GMT"
            ]
        );
    }

    #[test]
    fn invalid_response_cookies_are_errors() {
        let mut jar = ResponseCookies::default();
        assert!(jar.set(ResponseCookie::new("", "v")).is_err());
        assert!(jar.set(ResponseCookie::new("a=b", "v")).is_err());
        let smuggled = ResponseCookie {
            path: Some("/; Domain=evil.com".into()),
            ..ResponseCookie::new("a", "v")
        };
        assert_eq!(
            jar.set(smuggled).unwrap_err().to_string(),
            "invalid cookie path \"/; Domain=evil.com\""
        );
        let control = ResponseCookie {
            domain: Some("a\r\nb".into()),
            ..ResponseCookie::new("a", "v")
        };
        assert!(jar.set(control).is_err());
        assert!(jar.get_all().is_empty());
    }

    /// As `@edge-runtime/cookies`: a non-zero `max_age` also sets
    /// `Expires`, a missing path becomes `/`.
    #[test]
    fn max_age_sets_expires() {
        let mut jar = ResponseCookies::default();
        let before = SystemTime::now();
        jar.set(ResponseCookie {
            max_age: Some(10),
            path: None,
            ..ResponseCookie::new("a", "1")
        })
        .unwrap();
        let cookie = jar.get("a").unwrap();
        let expires = cookie.expires.unwrap();
        assert!(expires >= before + Duration::from_secs(10));
        assert!(expires <= SystemTime::now() + Duration::from_secs(10));
        assert_eq!(cookie.path.as_deref(), Some("/"));
        jar.set(ResponseCookie {
            max_age: Some(0),
            ..ResponseCookie::new("b", "1")
        })
        .unwrap();
        assert_eq!(jar.get("b").unwrap().expires, None);
    }

    #[test]
    fn set_cookie_lines_are_parsed() {
        let cookie = ResponseCookie::parse(
            "s=a%20b; Path=/x; Expires=Tue, 14 Nov 2023 22:13:20 GMT; max-age=60; \
             DOMAIN=ex.com; SameSite=Lax; Priority=HIGH; Secure",
        )
        .unwrap();
        assert_eq!(
            cookie,
            ResponseCookie {
                path: Some("/x".into()),
                expires: Some(UNIX_EPOCH + Duration::from_secs(1_700_000_000)),
                max_age: Some(60),
                domain: Some("ex.com".into()),
                same_site: Some(SameSite::Lax),
                priority: Some(Priority::High),
                secure: true,
                ..ResponseCookie::new("s", "a b")
            }
        );
        assert_eq!(
            parse_http_date("Wed, 14 Nov 2023 22:13:20 GMT"),
            None,
            "wrong weekday"
        );
        assert_eq!(ResponseCookie::parse(""), None);
        assert_eq!(ResponseCookie::parse("a=%F6"), None);
        let odd = ResponseCookie::parse("a=1; Max-Age=x; SameSite=odd; Expires=soon").unwrap();
        assert_eq!(
            (odd.max_age, odd.same_site, odd.expires),
            (None, None, None)
        );
    }
}
