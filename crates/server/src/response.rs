//! The JSON envelope of every answer of the OCR endpoints.

use axum::response::{IntoResponse, Response};
use http::{header, HeaderValue, StatusCode};
use serde::Serialize;

/// Business status codes carried in `DataStatus.StatusCode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Code {
    /// 100: success.
    Ok,
    /// -1: the request failed (image could not be decoded/processed, deadline exceeded).
    Failed,
    /// 429: rate limited (per client IP).
    RateLimited,
    /// 501: parameter error.
    ParamError,
    /// 502: the server's work queue is full.
    Busy,
    /// 503: appkey expired or disabled.
    KeyInactive,
    /// 504: appkey missing or wrong.
    KeyInvalid,
    /// 505: the key's request quota is used up.
    QuotaExceeded,
    /// 900: internal error.
    Internal,
}

impl Code {
    pub fn as_i32(self) -> i32 {
        match self {
            Code::Ok => 100,
            Code::Failed => -1,
            Code::RateLimited => 429,
            Code::ParamError => 501,
            Code::Busy => 502,
            Code::KeyInactive => 503,
            Code::KeyInvalid => 504,
            Code::QuotaExceeded => 505,
            Code::Internal => 900,
        }
    }

    /// HTTP status used for this business code. Everything is HTTP 200 except rate limiting
    /// (429) and a full work queue (503, so that a load balancer may retry elsewhere).
    pub fn http_status(self) -> StatusCode {
        match self {
            Code::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            Code::Busy => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::OK,
        }
    }

    pub const ALL: [Code; 9] = [
        Code::Ok,
        Code::Failed,
        Code::RateLimited,
        Code::ParamError,
        Code::Busy,
        Code::KeyInactive,
        Code::KeyInvalid,
        Code::QuotaExceeded,
        Code::Internal,
    ];
}

#[derive(Serialize)]
struct Envelope<'a> {
    #[serde(rename = "DataStatus")]
    status: DataStatus<'a>,
    #[serde(rename = "Data")]
    data: Option<&'a Data>,
}

#[derive(Serialize)]
#[allow(non_snake_case)]
struct DataStatus<'a> {
    StatusCode: i32,
    StatusDescription: &'a str,
    ResponseDateTime: String,
    DataTotalCount: usize,
}

#[derive(Serialize, Debug, Clone, PartialEq)]
#[allow(non_snake_case)]
pub struct Data {
    pub ResultText: Vec<String>,
    /// Only with `?boxes=1` on the demo endpoint (outside the contract).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub Boxes: Option<Vec<[[f32; 2]; 4]>>,
    /// Only with `?detail=1` (outside the contract): each page as `wenzi::Page` serializes
    /// (lines with boxes, words, blocks, rotation), one per page of a document.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub Pages: Option<Vec<wenzi::Page>>,
}

/// One answer of the OCR endpoints.
#[derive(Debug, Clone)]
pub struct ApiResponse {
    pub code: Code,
    pub description: String,
    pub data: Option<Data>,
    pub retry_after: Option<u64>,
    /// HTTP status override (e.g. 405 for a wrong method); normally `code.http_status()`.
    pub http_status: Option<StatusCode>,
}

impl ApiResponse {
    pub fn ok(data: Data) -> Self {
        ApiResponse {
            code: Code::Ok,
            description: "成功 / success".into(),
            data: Some(data),
            retry_after: None,
            http_status: None,
        }
    }

    pub fn error(code: Code, description: impl Into<String>) -> Self {
        ApiResponse {
            code,
            description: description.into(),
            data: None,
            retry_after: None,
            http_status: None,
        }
    }

    pub fn with_retry_after(mut self, secs: u64) -> Self {
        self.retry_after = Some(secs.max(1));
        self
    }

    pub fn with_http_status(mut self, status: StatusCode) -> Self {
        self.http_status = Some(status);
        self
    }

    /// The JSON text of this answer.
    pub fn to_json(&self) -> String {
        let now = chrono::Local::now().format("%Y-%m-%d %H:%M:%S").to_string();
        let env = Envelope {
            status: DataStatus {
                StatusCode: self.code.as_i32(),
                StatusDescription: &self.description,
                ResponseDateTime: now,
                DataTotalCount: self.data.as_ref().map_or(0, |d| d.ResultText.len()),
            },
            data: self.data.as_ref(),
        };
        serde_json::to_string(&env).expect("serializing the envelope cannot fail")
    }
}

pub const JSON_UTF8: &str = "application/json; charset=utf-8";

impl IntoResponse for ApiResponse {
    fn into_response(self) -> Response {
        let status = self.http_status.unwrap_or(self.code.http_status());
        let mut resp = (status, self.to_json()).into_response();
        let h = resp.headers_mut();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static(JSON_UTF8));
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if let Some(secs) = self.retry_after {
            h.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        resp
    }
}
