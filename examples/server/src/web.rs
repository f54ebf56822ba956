//! The demo page, shipped in the binary: static HTML and vanilla JS.

/// `GET /`.
pub const INDEX_HTML: &str = include_str!("web/index.html");
/// `GET /app.js`.
pub const APP_JS: &str = include_str!("web/app.js");
