//! The HTTP edge shared by the API functions: reading requests, the error contract, the
//! responses, the `File` view and the listing cursor.

pub mod cursor;
pub mod error;
pub mod file_view;
pub mod request;
pub mod response;

pub use error::{ApiError, ErrorCode, respond};
pub use file_view::FileView;
pub use request::{
    Route, caller, json_body, path_file_id, query_param, request_id, serve, source_ip,
};
pub use response::{CookieScope, cookies_response, empty_response, json_response, set_cookie};
