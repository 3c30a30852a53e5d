//! [`Geo`]: where the client is, as the host tells it.

/// The client's location, like Next.js's `NextRequest.geo`: what the host
/// answers to `edge:fetch/fetch-event.geo`, from a source its operator trusts
/// (for `edge-host`, the proxy or CDN headers named in its `[geo]` settings).
///
/// Every field is optional and holds the text the platform wrote.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Geo {
    /// The city, e.g. `San Francisco`.
    pub city: Option<String>,
    /// The country, usually an ISO 3166-1 alpha-2 code, e.g. `US`.
    pub country: Option<String>,
    /// The region, usually an ISO 3166-2 subdivision code, e.g. `CA`.
    pub region: Option<String>,
    /// The latitude in decimal degrees, e.g. `37.7749`.
    pub latitude: Option<String>,
    /// The longitude in decimal degrees, e.g. `-122.4194`.
    pub longitude: Option<String>,
}
