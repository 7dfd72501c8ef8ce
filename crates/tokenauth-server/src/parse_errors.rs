//! hyper answers the requests it cannot parse (a malformed request line, too many or
//! too large headers, an over-long URI) itself, before any middleware runs, with an
//! empty body. This connection wrapper rewrites those answers, as they are written,
//! into the JSON `detail` every other rejection carries.
//!
//! It recognises them by shape: a `400`, `414` or `431` head with `content-length: 0`
//! and nothing after it. The application never writes such a response (every one of
//! its errors has a JSON body), and hyper closes the connection after it, so nothing
//! follows that could be mistaken for part of it.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// A connection whose parse-error answers from hyper are rewritten as JSON.
#[derive(Debug)]
pub(crate) struct JsonParseErrors<T> {
    inner: T,
    /// A rewritten answer being written: its bytes, how many are written, and how
    /// many bytes of hyper's answer it stands for.
    pending: Option<Rewrite>,
}

#[derive(Debug)]
struct Rewrite {
    bytes: Vec<u8>,
    written: usize,
    replaces: usize,
}

impl<T> JsonParseErrors<T> {
    pub(crate) fn new(inner: T) -> Self {
        Self { inner, pending: None }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for JsonParseErrors<T> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for JsonParseErrors<T> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.pending.is_none() {
            match rewrite(buf) {
                Some(bytes) => {
                    this.pending = Some(Rewrite {
                        bytes,
                        written: 0,
                        replaces: buf.len(),
                    });
                }
                None => return Pin::new(&mut this.inner).poll_write(cx, buf),
            }
        }
        let rewrite = this.pending.as_mut().expect("set above");
        while rewrite.written < rewrite.bytes.len() {
            let written =
                ready!(Pin::new(&mut this.inner).poll_write(cx, &rewrite.bytes[rewrite.written..]))?;
            if written == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            rewrite.written += written;
        }
        let replaces = rewrite.replaces;
        this.pending = None;
        Poll::Ready(Ok(replaces))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }

    /// No: so that hyper flattens each answer into one buffer, and an error answer
    /// arrives here whole.
    fn is_write_vectored(&self) -> bool {
        false
    }
}

/// The JSON answer standing in for `written`, if it is one of hyper's empty
/// parse-error answers.
fn rewrite(written: &[u8]) -> Option<Vec<u8>> {
    let head = written.strip_suffix(b"\r\n\r\n")?;
    let head = std::str::from_utf8(head).ok()?;
    let mut lines = head.split("\r\n");
    let status = lines.next()?.strip_prefix("HTTP/1.1 ")?;
    let (detail, reason) = match status.get(..4)? {
        "400 " => ("Malformed request.", "Bad Request"),
        "414 " => ("Request-URI too long.", "URI Too Long"),
        "431 " => (
            "Request header field too large.",
            "Request Header Fields Too Large",
        ),
        _ => return None,
    };
    let mut empty = false;
    let mut date = None;
    for line in lines {
        let (name, value) = line.split_once(':')?;
        match name.to_ascii_lowercase().as_str() {
            "content-length" => empty = value.trim() == "0",
            "date" => date = Some(value.trim()),
            _ => {}
        }
    }
    if !empty {
        return None;
    }
    let body = serde_json::json!({ "detail": detail }).to_string();
    let date = date.map(|date| format!("date: {date}\r\n")).unwrap_or_default();
    let code = &status[..3];
    Some(
        format!(
            "HTTP/1.1 {code} {reason}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n{date}\r\n{body}",
            body.len()
        )
        .into_bytes(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hypers_empty_parse_error_answers_become_json() {
        let hyper = b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\ndate: Mon, 30 Nov 2026 05:00:00 GMT\r\n\r\n";
        let json = String::from_utf8(rewrite(hyper).expect("rewritten")).unwrap();
        assert_eq!(
            json,
            "HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-type: application/json\r\n\
             content-length: 44\r\nconnection: close\r\ndate: Mon, 30 Nov 2026 05:00:00 GMT\r\n\r\n\
             {\"detail\":\"Request header field too large.\"}"
        );
        let bad = rewrite(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n").unwrap();
        assert!(bad.ends_with(b"\r\n\r\n{\"detail\":\"Malformed request.\"}"));
        assert!(rewrite(b"HTTP/1.1 414 URI Too Long\r\ncontent-length: 0\r\n\r\n").is_some());
    }

    #[test]
    fn everything_else_passes_untouched() {
        for written in [
            &b"HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\ncontent-length: 12\r\n\r\n"[..],
            b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\nmore",
            b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n",
            b"HTTP/1.1 401 Unauthorized\r\ncontent-length: 0\r\n\r\n",
            b"{\"detail\":\"x\"}",
            b"",
        ] {
            assert_eq!(rewrite(written), None, "{}", String::from_utf8_lossy(written));
        }
    }
}
