//! `FetchEvent::after` (Next.js `after()`): the closure runs once the
//! response has been sent, not while the handler is still waiting for the
//! next one. The fixture middleware (`?after=URL`) registers an `after`
//! closure first, then awaits the next handler; the closure's deferred
//! `POST` to a loopback sink tells when it ran.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use edgeware_tests::{Host, Received, Reply, Sink, component, dist, get};

const SECOND: Duration = Duration::from_secs(1);
/// How long the slow origins below take.
const SLOW: Duration = Duration::from_millis(1200);
/// How much later than the host's send a loaded machine may schedule the
/// client's read of a response.
const SCHEDULING_SLACK: Duration = Duration::from_millis(50);

/// A loopback HTTP/1.1 origin that takes [`SLOW`] to answer each request:
/// with `streamed`, it sends the head and a first chunk at once and the
/// last chunk after [`SLOW`]; otherwise it answers whole after [`SLOW`].
/// Records when it wrote the last body byte.
struct SlowOrigin {
    url: String,
    last_byte_at: Arc<Mutex<Vec<Instant>>>,
}

impl SlowOrigin {
    fn start(streamed: bool) -> SlowOrigin {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let last_byte_at: Arc<Mutex<Vec<Instant>>> = Arc::default();
        let record = last_byte_at.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let record = record.clone();
                std::thread::spawn(move || answer_slowly(stream, streamed, &record));
            }
        });
        SlowOrigin { url, last_byte_at }
    }

    /// When the origin wrote the last byte of its only answer.
    fn last_byte_at(&self) -> Instant {
        let times = self.last_byte_at.lock().unwrap();
        assert_eq!(times.len(), 1, "the origin answered once");
        times[0]
    }
}

/// Answers one request; records when it starts writing the last body byte
/// before writing it, so the record is there by the time a client has it.
fn answer_slowly(
    stream: TcpStream,
    streamed: bool,
    last_byte_at: &Mutex<Vec<Instant>>,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line.trim().is_empty() {
            break;
        }
    }
    let mut stream = stream;
    if streamed {
        stream.write_all(
            b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ntransfer-encoding: chunked\r\n\
              connection: close\r\n\r\n6\r\nfirst \r\n",
        )?;
        stream.flush()?;
        std::thread::sleep(SLOW);
        last_byte_at.lock().unwrap().push(Instant::now());
        stream.write_all(b"4\r\nlast\r\n0\r\n\r\n")
    } else {
        std::thread::sleep(SLOW);
        last_byte_at.lock().unwrap().push(Instant::now());
        stream.write_all(
            b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 11\r\n\
              connection: close\r\n\r\nslow origin",
        )
    }
}

/// edge-host serving the fixture middleware in front of `origin`; the
/// guest may call `sink`.
fn serve(origin: &SlowOrigin, sink: &Sink) -> Host {
    let fixture = component("fixture-middleware");
    Host::start(&[
        fixture.to_str().unwrap(),
        "--upstream",
        &origin.url,
        "--allow-outbound",
        sink.authority(),
    ])
}

/// Sends a GET to `url`; returns the reply and when its head arrived (a
/// lower bound: measured from just before the request was sent).
fn get_timed(url: &str) -> (Reply, Instant) {
    let started = Instant::now();
    let reply = get(url, &[]);
    let head_at = started + reply.ttfb;
    (reply, head_at)
}

/// The `after` closure's report at `sink` (naming the request id
/// edge-host answered with, if any).
fn after_report(sink: &Sink, reply: &Reply) -> Received {
    let posted = sink.wait_for(1, 20 * SECOND).remove(0);
    assert_eq!(posted.request_line, "POST /after HTTP/1.1");
    assert!(
        posted.body.contains("\"task\":\"after\""),
        "{}",
        posted.body
    );
    if let Some(id) = reply.header("x-request-id") {
        assert!(posted.body.contains(id), "{}", posted.body);
    }
    posted
}

/// Asserts that the `after` closure's POST did not come before the client
/// had the response's head (`head_at`), give or take [`SCHEDULING_SLACK`]:
/// the host runs the closure once it has handed the whole response to the
/// connection, and the client's thread may read it a little later than the
/// sink's thread reads the closure's POST (0.4 ms in one run).
fn assert_posted_after_the_response(posted: &Received, head_at: Instant) {
    assert!(
        posted.at + SCHEDULING_SLACK > head_at,
        "the after closure ran {:?} before the client had the response",
        head_at - posted.at
    );
}

#[test]
fn after_runs_once_a_slow_next_handler_has_answered() {
    let (origin, sink) = (SlowOrigin::start(false), Sink::start());
    let host = serve(&origin, &sink);
    let (reply, head_at) = get_timed(&host.url(&format!("/page?after={}/after", sink.url)));
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.body, "slow origin");
    assert!(reply.ttfb >= SLOW, "TTFB {:?}", reply.ttfb);

    let posted = after_report(&sink, &reply);
    let answered_at = origin.last_byte_at();
    assert!(
        posted.at > answered_at,
        "the after closure ran {:?} before the next handler answered",
        answered_at - posted.at
    );
    assert_posted_after_the_response(&posted, head_at);
    // The after task and the POST it registered both settle.
    let id = reply.header("x-request-id").unwrap();
    host.log.wait_for(&["FULFILLED", id], 2, 10 * SECOND);
}

#[test]
fn after_waits_until_a_streamed_body_has_been_sent() {
    let (origin, sink) = (SlowOrigin::start(true), Sink::start());
    let host = serve(&origin, &sink);
    let (reply, head_at) = get_timed(&host.url(&format!("/stream?after={}/after", sink.url)));
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.body, "first last");
    assert!(
        reply.done >= head_at + SLOW / 2,
        "the body streamed: its head arrived long before its end"
    );

    let posted = after_report(&sink, &reply);
    let last_byte_at = origin.last_byte_at();
    assert!(
        posted.at > last_byte_at,
        "the after closure ran {:?} before the body's last byte was even written",
        last_byte_at - posted.at
    );
}

#[test]
fn after_waits_for_the_response_on_wasmtime_serve() {
    // The portable fixture app (fixture-middleware → demo-origin + the
    // edge:fetch adapter) on a foreign host: `wait=` makes the handler
    // sleep after registering the closure and before calling the origin.
    let sink = Sink::start();
    let app = dist("portable/fixture-app.wasm");
    let host = Host::wasmtime_serve(&[app.to_str().unwrap()]);
    let wait = SLOW.as_millis();
    let (reply, head_at) =
        get_timed(&host.url(&format!("/page?wait={wait}&after={}/after", sink.url)));
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert!(reply.ttfb >= SLOW, "TTFB {:?}", reply.ttfb);
    // Registered SLOW before the handler answered, the closure must not run
    // until it has.
    let posted = after_report(&sink, &reply);
    assert_posted_after_the_response(&posted, head_at);
}
