//! The client's location (`edge:fetch/fetch-event.geo`), read from request
//! headers that a proxy or CDN in front of the host sets.
//!
//! Clients can send any header, so the host trusts none by default: without
//! `[geo]` (or `--geo-headers`) every guest gets `none`. The operator names
//! the headers their proxy always sets or overwrites, field by field or with
//! a preset. The headers stay on the request, for the guest and the next hop,
//! as on Vercel; only `geo` says which values the operator vouches for.

use edge_fetch_host::Geolocation;
use http::{HeaderMap, HeaderName};
use serde::Deserialize;

/// Header sets of known platforms.
#[derive(clap::ValueEnum, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum GeoPreset {
    /// Vercel's `x-vercel-ip-city`, `-country`, `-country-region`,
    /// `-latitude`, `-longitude`.
    Vercel,
    /// Cloudflare's `cf-ipcity`, `cf-ipcountry`, `cf-region-code`,
    /// `cf-iplatitude`, `cf-iplongitude` (the "Add visitor location headers"
    /// managed transform).
    Cloudflare,
}

impl GeoPreset {
    /// The preset's header names: city, country, region, latitude,
    /// longitude.
    fn names(self) -> [&'static str; 5] {
        match self {
            Self::Vercel => [
                "x-vercel-ip-city",
                "x-vercel-ip-country",
                "x-vercel-ip-country-region",
                "x-vercel-ip-latitude",
                "x-vercel-ip-longitude",
            ],
            Self::Cloudflare => [
                "cf-ipcity",
                "cf-ipcountry",
                "cf-region-code",
                "cf-iplatitude",
                "cf-iplongitude",
            ],
        }
    }
}

/// The `[geo]` table of the configuration file: a preset, and header names
/// that replace the preset's for single fields.
#[derive(Deserialize, Default, Debug, Clone, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct GeoFields {
    /// Start from this platform's headers.
    pub preset: Option<GeoPreset>,
    /// The header holding the city.
    pub city: Option<String>,
    /// The header holding the country.
    pub country: Option<String>,
    /// The header holding the region.
    pub region: Option<String>,
    /// The header holding the latitude.
    pub latitude: Option<String>,
    /// The header holding the longitude.
    pub longitude: Option<String>,
}

/// Which request headers hold each field of the location; the default
/// trusts none.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GeoHeaders {
    city: Option<HeaderName>,
    country: Option<HeaderName>,
    region: Option<HeaderName>,
    latitude: Option<HeaderName>,
    longitude: Option<HeaderName>,
}

/// A `[geo]` setting that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GeoError {
    /// `[geo]` is present but names no header.
    Empty,
    /// A field names something that is not a header name.
    InvalidName {
        /// The field (`city`, ...).
        field: &'static str,
        /// What it names.
        name: String,
    },
    /// A field names an `x-middleware-*` header, which the host drops at
    /// ingress.
    Internal {
        /// The field (`city`, ...).
        field: &'static str,
    },
}

impl std::fmt::Display for GeoError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Empty => f.write_str(
                "[geo] names no header: set preset or one of city, country, region, latitude, longitude",
            ),
            Self::InvalidName { field, name } => {
                write!(f, "[geo] {field}: {name:?} is not a header name")
            }
            Self::Internal { field } => write!(
                f,
                "[geo] {field}: x-middleware-* headers are dropped at ingress and cannot hold it"
            ),
        }
    }
}

impl std::error::Error for GeoError {}

impl GeoHeaders {
    /// Resolves a `[geo]` table: the preset's names, replaced field by field
    /// by the names given.
    pub fn from_fields(fields: &GeoFields) -> Result<Self, GeoError> {
        let preset = fields.preset.map(GeoPreset::names);
        let pick = |index: usize, field: &'static str, own: &Option<String>| {
            own.as_deref()
                .or(preset.map(|names| names[index]))
                .map(|name| header_name(field, name))
                .transpose()
        };
        let headers = Self {
            city: pick(0, "city", &fields.city)?,
            country: pick(1, "country", &fields.country)?,
            region: pick(2, "region", &fields.region)?,
            latitude: pick(3, "latitude", &fields.latitude)?,
            longitude: pick(4, "longitude", &fields.longitude)?,
        };
        if headers == Self::default() {
            return Err(GeoError::Empty);
        }
        Ok(headers)
    }

    /// The location the configured headers of `headers` tell, or `None` if
    /// no header is configured or none of them holds a usable value.
    ///
    /// Values are percent-decoded when they decode to UTF-8 (Vercel encodes
    /// them: `S%C3%A3o%20Paulo`). A field is left out when its header is
    /// missing, empty, sent more than once (a proxy that appends instead of
    /// replacing would leave a client's value next to its own), not UTF-8,
    /// or holds control characters.
    pub fn read(&self, headers: &HeaderMap) -> Option<Geolocation> {
        let field = |name: &Option<HeaderName>| name.as_ref().and_then(|n| value(headers, n));
        let geo = Geolocation {
            city: field(&self.city),
            country: field(&self.country),
            region: field(&self.region),
            latitude: field(&self.latitude),
            longitude: field(&self.longitude),
        };
        let known = [
            &geo.city,
            &geo.country,
            &geo.region,
            &geo.latitude,
            &geo.longitude,
        ]
        .iter()
        .any(|field| field.is_some());
        known.then_some(geo)
    }
}

fn header_name(field: &'static str, name: &str) -> Result<HeaderName, GeoError> {
    let header =
        HeaderName::from_bytes(name.trim().as_bytes()).map_err(|_| GeoError::InvalidName {
            field,
            name: name.to_owned(),
        })?;
    if header.as_str().starts_with("x-middleware-") {
        return Err(GeoError::Internal { field });
    }
    Ok(header)
}

/// The one value of header `name` as text (see [`GeoHeaders::read`]).
fn value(headers: &HeaderMap, name: &HeaderName) -> Option<String> {
    let mut values = headers.get_all(name).iter();
    let raw = std::str::from_utf8(values.next()?.as_bytes()).ok()?;
    if values.next().is_some() {
        return None;
    }
    let text = percent_encoding::percent_decode_str(raw)
        .decode_utf8()
        .map_or_else(|_| raw.to_owned(), |decoded| decoded.into_owned());
    let text = text.trim();
    (!text.is_empty() && !text.chars().any(char::is_control)).then(|| text.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(pairs: &[(&str, &[u8])]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_bytes(value).unwrap(),
            );
        }
        map
    }

    fn preset(preset: GeoPreset) -> GeoHeaders {
        GeoHeaders::from_fields(&GeoFields {
            preset: Some(preset),
            ..GeoFields::default()
        })
        .unwrap()
    }

    #[test]
    fn nothing_is_trusted_by_default() {
        let sent = headers(&[("x-vercel-ip-country", b"US"), ("cf-ipcountry", b"US")]);
        assert!(GeoHeaders::default().read(&sent).is_none());
    }

    #[test]
    fn presets_read_their_platform_headers() {
        let sent = headers(&[
            ("x-vercel-ip-city", b"S%C3%A3o%20Paulo"),
            ("x-vercel-ip-country", b"BR"),
            ("x-vercel-ip-country-region", b"SP"),
            ("x-vercel-ip-latitude", b"-23.5475"),
            ("x-vercel-ip-longitude", b"-46.6361"),
            ("cf-ipcountry", b"DE"),
        ]);
        let geo = preset(GeoPreset::Vercel).read(&sent).unwrap();
        assert_eq!(geo.city.as_deref(), Some("São Paulo"));
        assert_eq!(geo.country.as_deref(), Some("BR"));
        assert_eq!(geo.region.as_deref(), Some("SP"));
        assert_eq!(geo.latitude.as_deref(), Some("-23.5475"));
        assert_eq!(geo.longitude.as_deref(), Some("-46.6361"));
        let geo = preset(GeoPreset::Cloudflare).read(&sent).unwrap();
        assert_eq!(geo.country.as_deref(), Some("DE"));
        assert_eq!(geo.city, None);
        assert!(
            preset(GeoPreset::Cloudflare)
                .read(&HeaderMap::new())
                .is_none()
        );
    }

    #[test]
    fn fields_override_the_preset() {
        let geo = GeoHeaders::from_fields(&GeoFields {
            preset: Some(GeoPreset::Cloudflare),
            country: Some("X-Country".into()),
            ..GeoFields::default()
        })
        .unwrap();
        let sent = headers(&[("cf-ipcountry", b"DE"), ("x-country", b"FR")]);
        assert_eq!(geo.read(&sent).unwrap().country.as_deref(), Some("FR"));
        let only = GeoHeaders::from_fields(&GeoFields {
            city: Some("x-city".into()),
            ..GeoFields::default()
        })
        .unwrap();
        assert!(only.read(&sent).is_none());
    }

    #[test]
    fn doubtful_values_are_left_out() {
        let vercel = preset(GeoPreset::Vercel);
        let sent = headers(&[
            ("x-vercel-ip-country", b"US"),
            ("x-vercel-ip-country", b"FR"),
            ("x-vercel-ip-city", b""),
            ("x-vercel-ip-country-region", b"\xff"),
            ("x-vercel-ip-latitude", b"1%0A2"),
            ("x-vercel-ip-longitude", b"100%"),
        ]);
        let geo = vercel.read(&sent).unwrap();
        assert_eq!(geo.country, None, "sent twice");
        assert_eq!(geo.city, None, "empty");
        assert_eq!(geo.region, None, "not UTF-8");
        assert_eq!(geo.latitude, None, "a line break");
        assert_eq!(geo.longitude.as_deref(), Some("100%"), "not an encoding");
    }

    #[test]
    fn bad_settings_are_errors() {
        assert_eq!(
            GeoHeaders::from_fields(&GeoFields::default()),
            Err(GeoError::Empty)
        );
        let error = GeoHeaders::from_fields(&GeoFields {
            city: Some("bad name".into()),
            ..GeoFields::default()
        })
        .unwrap_err();
        assert_eq!(
            error.to_string(),
            "[geo] city: \"bad name\" is not a header name"
        );
        let error = GeoHeaders::from_fields(&GeoFields {
            country: Some("x-middleware-country".into()),
            ..GeoFields::default()
        })
        .unwrap_err();
        assert_eq!(error, GeoError::Internal { field: "country" });
    }
}
