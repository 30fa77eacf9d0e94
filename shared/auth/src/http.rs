//! Outbound HTTP of every service (JWKS fetches, token-endpoint calls), hardened once:
//!
//! - **no redirects**: a `3xx` is returned as the answer, never followed (a JWKS or token
//!   endpoint that redirects is misconfigured or hijacked; following it would send a client
//!   assertion, or take keys, from wherever it points);
//! - **timeouts**: connecting, and the whole exchange including the body, are bounded;
//! - **bodies read with a size cap while streaming**: a declared `Content-Length` above the
//!   cap is refused before reading, and the running total of the chunks is checked as they
//!   arrive, so a hostile or broken server cannot make the caller buffer more than the cap.
//!
//! [`OutboundHttp`] is the only way this crate talks HTTP; [`OutboundHttp::from_builder`]
//! lets a deployment add TLS settings (roots, client certificates) and still gets the rest.

use std::time::Duration;

use reqwest::{Method, StatusCode, header::HeaderMap, redirect};

/// Why an outbound request failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HttpError {
    /// The client could not be built (TLS backend, bad settings).
    #[error("HTTP client: {0}")]
    Client(String),
    /// Connecting, sending or reading failed, or a timeout expired.
    #[error("{method} {url}: {cause}")]
    Transport {
        /// The request method.
        method: Method,
        /// The URL.
        url: String,
        /// What failed.
        cause: String,
    },
    /// The body is larger than the caller's cap.
    #[error("{method} {url}: response larger than {limit} bytes")]
    TooLarge {
        /// The request method.
        method: Method,
        /// The URL.
        url: String,
        /// The cap.
        limit: usize,
    },
}

/// A response read in full (within the cap).
#[derive(Debug, Clone)]
pub struct HttpResponse {
    /// The status (a `3xx` is an answer like any other: redirects are not followed).
    pub status: StatusCode,
    /// The headers.
    pub headers: HeaderMap,
    /// The body.
    pub body: Vec<u8>,
}

/// A hardened HTTP client. Cheap to clone (a shared connection pool).
#[derive(Debug, Clone)]
pub struct OutboundHttp {
    client: reqwest::Client,
}

impl OutboundHttp {
    /// A client whose connection attempt, and whole exchange (body included), are each
    /// bounded by `timeout`, following no redirect.
    pub fn new(timeout: Duration) -> Result<Self, HttpError> {
        Self::from_builder(reqwest::Client::builder(), timeout)
    }

    /// Like [`Self::new`], starting from `builder` (e.g. with TLS roots added). The redirect
    /// policy and the timeouts are set here, after the builder's own settings, so they
    /// always apply.
    pub fn from_builder(
        builder: reqwest::ClientBuilder,
        timeout: Duration,
    ) -> Result<Self, HttpError> {
        let client = builder
            .redirect(redirect::Policy::none())
            .connect_timeout(timeout)
            .timeout(timeout)
            .build()
            .map_err(|e| HttpError::Client(e.to_string()))?;
        Ok(Self { client })
    }

    /// `GET url` (with `headers`), the body read up to `limit` bytes.
    pub async fn get(
        &self,
        url: &str,
        headers: HeaderMap,
        limit: usize,
    ) -> Result<HttpResponse, HttpError> {
        self.send(
            self.client.get(url).headers(headers),
            Method::GET,
            url,
            limit,
        )
        .await
    }

    /// `POST url` with a `application/x-www-form-urlencoded` body (and `headers`), the
    /// answer read up to `limit` bytes.
    pub async fn post_form<T: serde::Serialize + ?Sized>(
        &self,
        url: &str,
        headers: HeaderMap,
        form: &T,
        limit: usize,
    ) -> Result<HttpResponse, HttpError> {
        let request = self.client.post(url).headers(headers).form(form);
        self.send(request, Method::POST, url, limit).await
    }

    async fn send(
        &self,
        request: reqwest::RequestBuilder,
        method: Method,
        url: &str,
        limit: usize,
    ) -> Result<HttpResponse, HttpError> {
        // reqwest errors name the URL, never a request body: no secret leaks into messages.
        let transport = |cause: reqwest::Error| HttpError::Transport {
            method: method.clone(),
            url: url.to_owned(),
            cause: cause.to_string(),
        };
        let too_large = || HttpError::TooLarge {
            method: method.clone(),
            url: url.to_owned(),
            limit,
        };
        let mut response = request.send().await.map_err(transport)?;
        if response
            .content_length()
            .is_some_and(|declared| declared > limit as u64)
        {
            return Err(too_large());
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(transport)? {
            if body.len() + chunk.len() > limit {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        Ok(HttpResponse {
            status: response.status(),
            headers: response.headers().clone(),
            body,
        })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::{
        net::SocketAddr,
        sync::{
            Arc,
            atomic::{AtomicUsize, Ordering},
        },
    };

    use tokio::{
        io::{AsyncReadExt, AsyncWriteExt},
        net::TcpListener,
    };

    use super::*;

    /// A loopback HTTP/1.1 server answering every request with `head` (status line and
    /// headers, without the final blank line) and then `body`, written in 1 KiB pieces; counts
    /// requests. Enough HTTP for reqwest.
    pub(crate) async fn raw_server(head: String, body: Vec<u8>) -> (SocketAddr, Arc<AtomicUsize>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let hits = Arc::new(AtomicUsize::new(0));
        let counter = hits.clone();
        tokio::spawn(async move {
            loop {
                let Ok((mut socket, _)) = listener.accept().await else {
                    return;
                };
                counter.fetch_add(1, Ordering::SeqCst);
                let (head, body) = (head.clone(), body.clone());
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 16 * 1024];
                    let _ = socket.read(&mut buf).await;
                    let _ = socket
                        .write_all(format!("{head}\r\nconnection: close\r\n\r\n").as_bytes())
                        .await;
                    for piece in body.chunks(1024) {
                        if socket.write_all(piece).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        (addr, hits)
    }

    fn client() -> OutboundHttp {
        OutboundHttp::new(Duration::from_secs(2)).unwrap()
    }

    #[tokio::test]
    async fn a_body_within_the_cap_is_read_whole() {
        let body = vec![b'x'; 3000];
        let (addr, _) = raw_server(
            format!("HTTP/1.1 200 OK\r\ncontent-length: {}", body.len()),
            body.clone(),
        )
        .await;
        let response = client()
            .get(&format!("http://{addr}/"), HeaderMap::new(), 3000)
            .await
            .unwrap();
        assert_eq!(response.status, StatusCode::OK);
        assert_eq!(response.body, body);
    }

    #[tokio::test]
    async fn a_declared_or_streamed_body_over_the_cap_is_refused() {
        let url = |addr: SocketAddr| format!("http://{addr}/");
        // Declared too large: refused from the header.
        let (declared, _) = raw_server(
            "HTTP/1.1 200 OK\r\ncontent-length: 1000000".into(),
            Vec::new(),
        )
        .await;
        let error = client()
            .get(&url(declared), HeaderMap::new(), 4096)
            .await
            .unwrap_err();
        assert!(
            matches!(error, HttpError::TooLarge { limit: 4096, .. }),
            "{error}"
        );
        // No length declared (read until close): refused while streaming, whatever follows.
        let (streamed, _) = raw_server("HTTP/1.1 200 OK".into(), vec![b'y'; 64 * 1024]).await;
        let error = client()
            .get(&url(streamed), HeaderMap::new(), 4096)
            .await
            .unwrap_err();
        assert!(matches!(error, HttpError::TooLarge { .. }), "{error}");
    }

    #[tokio::test]
    async fn redirects_are_answers_not_followed() {
        let (target, target_hits) = raw_server(
            "HTTP/1.1 200 OK\r\ncontent-length: 2".into(),
            b"{}".to_vec(),
        )
        .await;
        let (addr, _) = raw_server(
            format!("HTTP/1.1 302 Found\r\nlocation: http://{target}/\r\ncontent-length: 0"),
            Vec::new(),
        )
        .await;
        let response = client()
            .get(&format!("http://{addr}/"), HeaderMap::new(), 1024)
            .await
            .unwrap();
        assert_eq!(response.status, StatusCode::FOUND);
        assert_eq!(
            target_hits.load(Ordering::SeqCst),
            0,
            "redirect not followed"
        );
    }

    #[tokio::test]
    async fn a_server_that_never_answers_times_out() {
        // Accepts and reads, never writes.
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((socket, _)) = listener.accept().await {
                held.push(socket);
            }
        });
        let started = std::time::Instant::now();
        let error = OutboundHttp::new(Duration::from_millis(300))
            .unwrap()
            .get(&format!("http://{addr}/"), HeaderMap::new(), 1024)
            .await
            .unwrap_err();
        assert!(matches!(error, HttpError::Transport { .. }), "{error}");
        assert!(started.elapsed() < Duration::from_secs(5));
    }
}
