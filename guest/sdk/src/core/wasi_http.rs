//! What the WASI 0.2 and 0.3 backends share about `wasi:http` types: the
//! `error-code` → HTTP status table and the method and scheme conversions.
//!
//! `wasi:http@0.2` and `@0.3.0` define `error-code`, `method` and `scheme`
//! alike, but each backend's bindings generate their own Rust types, so the
//! one implementation is a macro each backend applies to its types.

/// Defines, for the `wasi:http` types module `$types` (which has
/// `ErrorCode`, `Method` and `Scheme`):
///
/// - `status_for(&ErrorCode) -> StatusCode`: the status a gateway answers a
///   failed call with (504 for timeouts, 403 when the host denied the call,
///   413/414/431 for limits, 400 for invalid requests, 500 for internal and
///   configuration errors, else 502);
/// - `error_from_code(ErrorCode) -> Error`: an [`Error`](crate::Error)
///   wrapping the code (`err.downcast_ref::<ErrorCode>()`) with that status;
/// - `method_from_wasi`, `method_into_wasi`, `scheme_from_wasi` and
///   `scheme_into_wasi`.
macro_rules! wasi_http_conversions {
    ($($types:tt)+) => {
        use $($types)+::{ErrorCode as WasiErrorCode, Method as WasiMethod, Scheme as WasiScheme};

        /// The HTTP status that describes a failed `wasi:http` call.
        pub(crate) fn status_for(code: &WasiErrorCode) -> ::http::StatusCode {
            use ::http::StatusCode;
            use WasiErrorCode as E;
            match code {
                E::DnsTimeout
                | E::ConnectionTimeout
                | E::ConnectionReadTimeout
                | E::ConnectionWriteTimeout
                | E::HttpResponseTimeout => StatusCode::GATEWAY_TIMEOUT,
                E::HttpRequestDenied => StatusCode::FORBIDDEN,
                E::HttpRequestLengthRequired => StatusCode::LENGTH_REQUIRED,
                E::HttpRequestBodySize(_) => StatusCode::PAYLOAD_TOO_LARGE,
                E::HttpRequestMethodInvalid | E::HttpRequestUriInvalid => StatusCode::BAD_REQUEST,
                E::HttpRequestUriTooLong => StatusCode::URI_TOO_LONG,
                E::HttpRequestHeaderSectionSize(_)
                | E::HttpRequestHeaderSize(_)
                | E::HttpRequestTrailerSectionSize(_)
                | E::HttpRequestTrailerSize(_) => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                E::LoopDetected => StatusCode::LOOP_DETECTED,
                E::ConfigurationError | E::InternalError(_) => StatusCode::INTERNAL_SERVER_ERROR,
                _ => StatusCode::BAD_GATEWAY,
            }
        }

        /// An [`Error`](crate::Error) for a failed `wasi:http` call,
        /// wrapping `code` and carrying [`status_for`] it.
        pub(crate) fn error_from_code(code: WasiErrorCode) -> crate::Error {
            let status = status_for(&code);
            crate::Error::from_source(status, code)
        }

        /// A received method; an invalid custom one is a 400 error.
        pub(crate) fn method_from_wasi(method: WasiMethod) -> crate::Result<::http::Method> {
            use ::http::Method;
            Ok(match method {
                WasiMethod::Get => Method::GET,
                WasiMethod::Head => Method::HEAD,
                WasiMethod::Post => Method::POST,
                WasiMethod::Put => Method::PUT,
                WasiMethod::Delete => Method::DELETE,
                WasiMethod::Connect => Method::CONNECT,
                WasiMethod::Options => Method::OPTIONS,
                WasiMethod::Trace => Method::TRACE,
                WasiMethod::Patch => Method::PATCH,
                WasiMethod::Other(other) => Method::from_bytes(other.as_bytes())
                    .map_err(|e| crate::Error::from_source(::http::StatusCode::BAD_REQUEST, e))?,
            })
        }

        /// The `wasi:http` form of `method`.
        pub(crate) fn method_into_wasi(method: &::http::Method) -> WasiMethod {
            use ::http::Method;
            match *method {
                Method::GET => WasiMethod::Get,
                Method::HEAD => WasiMethod::Head,
                Method::POST => WasiMethod::Post,
                Method::PUT => WasiMethod::Put,
                Method::DELETE => WasiMethod::Delete,
                Method::CONNECT => WasiMethod::Connect,
                Method::OPTIONS => WasiMethod::Options,
                Method::TRACE => WasiMethod::Trace,
                Method::PATCH => WasiMethod::Patch,
                ref other => WasiMethod::Other(other.as_str().to_owned()),
            }
        }

        /// A received scheme (`http` when the host tells none); an invalid
        /// custom one is a 400 error.
        pub(crate) fn scheme_from_wasi(
            scheme: Option<WasiScheme>,
        ) -> crate::Result<::http::uri::Scheme> {
            use ::http::uri::Scheme;
            Ok(match scheme {
                None | Some(WasiScheme::Http) => Scheme::HTTP,
                Some(WasiScheme::Https) => Scheme::HTTPS,
                Some(WasiScheme::Other(other)) => other
                    .parse()
                    .map_err(|e| crate::Error::from_source(::http::StatusCode::BAD_REQUEST, e))?,
            })
        }

        /// The `wasi:http` form of `scheme`.
        pub(crate) fn scheme_into_wasi(scheme: &::http::uri::Scheme) -> WasiScheme {
            use ::http::uri::Scheme;
            if *scheme == Scheme::HTTP {
                WasiScheme::Http
            } else if *scheme == Scheme::HTTPS {
                WasiScheme::Https
            } else {
                WasiScheme::Other(scheme.as_str().to_owned())
            }
        }
    };
}

pub(crate) use wasi_http_conversions;

#[cfg(test)]
mod tests {
    /// The shape of the `wasi:http` types the bindings generate (the same
    /// variants in 0.2 and 0.3), for the macro to be applied to natively.
    mod types {
        #[derive(Debug, PartialEq)]
        #[allow(dead_code)]
        pub enum ErrorCode {
            DnsTimeout,
            ConnectionRefused,
            ConnectionTimeout,
            ConnectionReadTimeout,
            ConnectionWriteTimeout,
            HttpResponseTimeout,
            HttpRequestDenied,
            HttpRequestLengthRequired,
            HttpRequestBodySize(Option<u64>),
            HttpRequestMethodInvalid,
            HttpRequestUriInvalid,
            HttpRequestUriTooLong,
            HttpRequestHeaderSectionSize(Option<u32>),
            HttpRequestHeaderSize(Option<u32>),
            HttpRequestTrailerSectionSize(Option<u32>),
            HttpRequestTrailerSize(Option<u32>),
            LoopDetected,
            ConfigurationError,
            InternalError(Option<String>),
        }

        impl std::fmt::Display for ErrorCode {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "{self:?}")
            }
        }

        impl std::error::Error for ErrorCode {}

        #[derive(Debug, PartialEq)]
        pub enum Method {
            Get,
            Head,
            Post,
            Put,
            Delete,
            Connect,
            Options,
            Trace,
            Patch,
            Other(String),
        }

        #[derive(Debug, PartialEq)]
        pub enum Scheme {
            Http,
            Https,
            Other(String),
        }
    }

    super::wasi_http_conversions!(self::types);

    use http::StatusCode;
    use types::ErrorCode;

    #[test]
    fn one_status_per_error_code() {
        let cases = [
            (ErrorCode::HttpRequestDenied, 403),
            (ErrorCode::ConnectionRefused, 502),
            (ErrorCode::ConnectionTimeout, 504),
            (ErrorCode::DnsTimeout, 504),
            (ErrorCode::HttpRequestBodySize(Some(1)), 413),
            (ErrorCode::HttpRequestUriTooLong, 414),
            (ErrorCode::HttpRequestHeaderSize(None), 431),
            (ErrorCode::HttpRequestUriInvalid, 400),
            (ErrorCode::HttpRequestLengthRequired, 411),
            (ErrorCode::LoopDetected, 508),
            (ErrorCode::InternalError(None), 500),
        ];
        for (code, status) in cases {
            assert_eq!(status_for(&code), status, "{code:?}");
        }
    }

    #[test]
    fn errors_wrap_their_code() {
        let err = error_from_code(ErrorCode::HttpRequestDenied).context("fetch http://x/");
        assert_eq!(err.status(), Some(StatusCode::FORBIDDEN));
        assert_eq!(err.to_string(), "fetch http://x/: HttpRequestDenied");
        assert_eq!(
            err.downcast_ref::<ErrorCode>(),
            Some(&ErrorCode::HttpRequestDenied)
        );
    }

    #[test]
    fn methods_and_schemes_round_trip() {
        for method in [
            "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH", "PURGE",
        ] {
            let method = http::Method::from_bytes(method.as_bytes()).unwrap();
            assert_eq!(method_from_wasi(method_into_wasi(&method)).unwrap(), method);
        }
        assert_eq!(method_into_wasi(&http::Method::GET), types::Method::Get);
        let bad = method_from_wasi(types::Method::Other("BAD METHOD".into())).unwrap_err();
        assert_eq!(bad.status(), Some(StatusCode::BAD_REQUEST));

        for scheme in ["http", "https", "ws"] {
            let scheme: http::uri::Scheme = scheme.parse().unwrap();
            assert_eq!(
                scheme_from_wasi(Some(scheme_into_wasi(&scheme))).unwrap(),
                scheme
            );
        }
        assert_eq!(scheme_from_wasi(None).unwrap(), http::uri::Scheme::HTTP);
        assert_eq!(
            scheme_into_wasi(&http::uri::Scheme::HTTPS),
            types::Scheme::Https
        );
        assert!(scheme_from_wasi(Some(types::Scheme::Other("a b".into()))).is_err());
    }
}
