//! Where every server accepts connections, with the limits a server on an open network needs:
//!
//! - at most `max_connections` connections at once; one more is closed as soon as it is
//!   accepted (the client sees the connection closed at once instead of hanging in the
//!   backlog), and the accept loop never waits on a client;
//! - the TLS handshake must finish within `handshake_timeout` (a client that connects and
//!   sends nothing, or dribbles its hello, is closed), and handshakes run concurrently;
//! - a connection without a byte in either direction for `idle_timeout` is closed (a stalled
//!   HTTP/2 preface, a silent keep-alive connection).
//!
//! What runs on top (HTTP/1 header-read and request timeouts, HTTP/2 keep-alive, gRPC
//! concurrency limits) belongs to the protocol servers; this is the part they share.

use std::{
    io,
    net::SocketAddr,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll, ready},
    time::Duration,
};

use futures::Stream;
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::{TcpListener, TcpStream},
    sync::{OwnedSemaphorePermit, Semaphore, mpsc},
    time::{Instant, Sleep},
};
use tokio_rustls::server::TlsStream;

use crate::ServerTls;

/// Pause after a failed `accept` (e.g. out of file descriptors) before the next one.
const ACCEPT_ERROR_BACKOFF: Duration = Duration::from_millis(100);

/// The connection limits of one listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// Connections open at once (handshakes included).
    pub max_connections: usize,
    /// Time a client has to complete the TLS handshake.
    pub handshake_timeout: Duration,
    /// A connection without a byte read or written for this long is closed.
    pub idle_timeout: Duration,
}

impl<P: zte_runtime::EnvPrefix> From<&zte_runtime::ServerLimits<P>> for ConnectionLimits {
    fn from(limits: &zte_runtime::ServerLimits<P>) -> Self {
        Self {
            max_connections: limits.max_connections,
            handshake_timeout: limits.handshake_timeout,
            idle_timeout: limits.idle_timeout,
        }
    }
}

/// A bound listener, plaintext or TLS.
#[derive(Debug)]
pub struct Listener {
    tcp: TcpListener,
    local_addr: SocketAddr,
    tls: Option<ServerTls>,
    limits: ConnectionLimits,
}

impl Listener {
    /// Binds `addr` (port 0: a free port); `tls` `None` serves plaintext.
    pub async fn bind(
        addr: SocketAddr,
        tls: Option<ServerTls>,
        limits: ConnectionLimits,
    ) -> io::Result<Self> {
        let tcp = TcpListener::bind(addr).await?;
        let local_addr = tcp.local_addr()?;
        Ok(Self {
            tcp,
            local_addr,
            tls,
            limits,
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The TLS configuration, `None` when plaintext.
    pub fn tls(&self) -> Option<&ServerTls> {
        self.tls.as_ref()
    }

    /// The connections, TLS handshakes done, as a stream. Accepting runs on a task of its
    /// own; dropping the stream stops it and closes the listening socket.
    pub fn incoming(self) -> Incoming {
        let limits = self.limits;
        let (sender, receiver) = mpsc::channel(limits.max_connections.max(1));
        let task = tokio::spawn(accept_loop(self, sender));
        Incoming {
            receiver,
            accept: task.abort_handle(),
        }
    }
}

async fn accept_loop(listener: Listener, sender: mpsc::Sender<Connection>) {
    let Listener {
        tcp,
        local_addr,
        tls,
        limits,
    } = listener;
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    loop {
        let accepted = tokio::select! {
            accepted = tcp.accept() => accepted,
            () = sender.closed() => return,
        };
        let (stream, remote_addr) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                tracing::warn!(%error, %local_addr, "accept failed");
                tokio::time::sleep(ACCEPT_ERROR_BACKOFF).await;
                continue;
            }
        };
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            tracing::debug!(%remote_addr, limit = limits.max_connections, "connection limit reached; closing");
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let (tls, sender) = (tls.clone(), sender.clone());
        tokio::spawn(async move {
            let io = match tls {
                None => Io::Plain(stream),
                Some(tls) => {
                    let handshake = tls.acceptor().accept(stream);
                    match tokio::time::timeout(limits.handshake_timeout, handshake).await {
                        Ok(Ok(stream)) => Io::Tls(Box::new(stream)),
                        Ok(Err(error)) => {
                            tracing::debug!(%remote_addr, %error, "TLS handshake refused");
                            return;
                        }
                        Err(_) => {
                            tracing::debug!(%remote_addr, "TLS handshake timed out");
                            return;
                        }
                    }
                }
            };
            let connection = Connection {
                io,
                local_addr,
                remote_addr,
                idle_timeout: limits.idle_timeout,
                last_activity: Instant::now(),
                idle: Box::pin(tokio::time::sleep(limits.idle_timeout)),
                _slot: permit,
            };
            // The receiver is gone when the server stopped: the connection is dropped.
            let _ = sender.send(connection).await;
        });
    }
}

/// The stream of accepted connections ([`Listener::incoming`]).
#[derive(Debug)]
pub struct Incoming {
    receiver: mpsc::Receiver<Connection>,
    accept: tokio::task::AbortHandle,
}

impl Drop for Incoming {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

impl Stream for Incoming {
    type Item = io::Result<Connection>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.receiver.poll_recv(cx).map(|next| next.map(Ok))
    }
}

#[derive(Debug)]
enum Io {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

/// One accepted connection (TLS established if the listener has TLS). Holds one of the
/// listener's connection slots until dropped, and fails its reads once it has been idle
/// for the idle timeout.
#[derive(Debug)]
pub struct Connection {
    io: Io,
    local_addr: SocketAddr,
    remote_addr: SocketAddr,
    idle_timeout: Duration,
    last_activity: Instant,
    idle: Pin<Box<Sleep>>,
    _slot: OwnedSemaphorePermit,
}

impl Connection {
    /// The listener's address.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The client's address.
    pub fn remote_addr(&self) -> SocketAddr {
        self.remote_addr
    }

    /// True for a TLS connection.
    pub fn is_tls(&self) -> bool {
        matches!(self.io, Io::Tls(_))
    }

    fn touch(&mut self, transferred: usize) {
        if transferred > 0 {
            self.last_activity = Instant::now();
        }
    }

    /// `Ready(Err)` once the connection has been idle for the idle timeout. The timer is
    /// moved on lazily, when it fires early because of activity since it was set.
    fn poll_idle(&mut self, cx: &mut Context<'_>) -> Poll<io::Error> {
        loop {
            ready!(self.idle.as_mut().poll(cx));
            let deadline = self.last_activity + self.idle_timeout;
            if deadline <= Instant::now() {
                return Poll::Ready(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "connection idle for too long",
                ));
            }
            self.idle.as_mut().reset(deadline);
        }
    }
}

impl AsyncRead for Connection {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = match &mut this.io {
            Io::Plain(stream) => Pin::new(stream).poll_read(cx, buf),
            Io::Tls(stream) => Pin::new(stream.as_mut()).poll_read(cx, buf),
        };
        match polled {
            Poll::Ready(result) => {
                this.touch(buf.filled().len() - before);
                Poll::Ready(result)
            }
            Poll::Pending => this.poll_idle(cx).map(Err),
        }
    }
}

impl AsyncWrite for Connection {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = match &mut this.io {
            Io::Plain(stream) => Pin::new(stream).poll_write(cx, data),
            Io::Tls(stream) => Pin::new(stream.as_mut()).poll_write(cx, data),
        };
        if let Poll::Ready(Ok(written)) = &polled {
            this.touch(*written);
        }
        polled
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = match &mut this.io {
            Io::Plain(stream) => Pin::new(stream).poll_write_vectored(cx, bufs),
            Io::Tls(stream) => Pin::new(stream.as_mut()).poll_write_vectored(cx, bufs),
        };
        if let Poll::Ready(Ok(written)) = &polled {
            this.touch(*written);
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        match &self.io {
            Io::Plain(stream) => stream.is_write_vectored(),
            Io::Tls(stream) => stream.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().io {
            Io::Plain(stream) => Pin::new(stream).poll_flush(cx),
            Io::Tls(stream) => Pin::new(stream.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().io {
            Io::Plain(stream) => Pin::new(stream).poll_shutdown(cx),
            Io::Tls(stream) => Pin::new(stream.as_mut()).poll_shutdown(cx),
        }
    }
}

#[cfg(feature = "tonic")]
impl tonic::transport::server::Connected for Connection {
    type ConnectInfo = tonic::transport::server::TcpConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        tonic::transport::server::TcpConnectInfo {
            local_addr: Some(self.local_addr),
            remote_addr: Some(self.remote_addr),
        }
    }
}

#[cfg(test)]
mod tests {
    use futures::StreamExt as _;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    use super::*;

    fn limits(max_connections: usize, idle: Duration) -> ConnectionLimits {
        ConnectionLimits {
            max_connections,
            handshake_timeout: Duration::from_secs(5),
            idle_timeout: idle,
        }
    }

    async fn closed_by_server(client: &mut TcpStream) -> bool {
        let mut byte = [0u8; 1];
        // A reset or EOF: the server closed it.
        matches!(
            tokio::time::timeout(Duration::from_secs(5), client.read(&mut byte)).await,
            Ok(Ok(0) | Err(_))
        )
    }

    #[tokio::test]
    async fn connections_beyond_the_limit_are_closed_at_once_and_a_freed_slot_is_reused() {
        let listener = Listener::bind(
            "127.0.0.1:0".parse().unwrap(),
            None,
            limits(2, Duration::from_secs(60)),
        )
        .await
        .unwrap();
        let addr = listener.local_addr();
        let mut incoming = listener.incoming();
        let _a = TcpStream::connect(addr).await.unwrap();
        let first = incoming.next().await.unwrap().unwrap();
        let _b = TcpStream::connect(addr).await.unwrap();
        let _second = incoming.next().await.unwrap().unwrap();

        let mut third = TcpStream::connect(addr).await.unwrap();
        assert!(closed_by_server(&mut third).await, "over the limit");

        drop(first);
        let mut fourth = TcpStream::connect(addr).await.unwrap();
        let mut served = incoming.next().await.unwrap().unwrap();
        fourth.write_all(b"x").await.unwrap();
        let mut byte = [0u8; 1];
        served.read_exact(&mut byte).await.unwrap();
        assert_eq!(&byte, b"x", "a freed slot takes the next connection");
    }

    #[tokio::test]
    async fn an_idle_connection_fails_its_read_and_activity_keeps_it_open() {
        let idle = Duration::from_millis(300);
        let listener = Listener::bind("127.0.0.1:0".parse().unwrap(), None, limits(4, idle))
            .await
            .unwrap();
        let addr = listener.local_addr();
        let mut incoming = listener.incoming();
        let mut client = TcpStream::connect(addr).await.unwrap();
        let mut server = incoming.next().await.unwrap().unwrap();

        // Bytes every 100 ms for longer than the idle timeout keep it open.
        let mut buf = [0u8; 1];
        for _ in 0..6 {
            client.write_all(b"y").await.unwrap();
            server.read_exact(&mut buf).await.unwrap();
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        // The idle clock started at the last read, a 100 ms sleep ago: about 200 ms remain
        // (a lower bound at exactly 200 ms failed by a fraction of a millisecond).
        let started = Instant::now();
        let error = server.read(&mut buf).await.unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::TimedOut);
        let waited = started.elapsed();
        assert!(
            waited >= Duration::from_millis(100) && waited < Duration::from_secs(3),
            "closed after {waited:?}"
        );
    }
}
