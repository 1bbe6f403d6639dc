//! Faults a test puts on a route. A fault goes on the requests whose line ("GET
//! /image/<id>/v1.12.11/metal-amd64.iso") matches a pattern, for all of them or the first n;
//! it answers in the route's stead, runs before the route, or changes the route's answer on its
//! way out (`Out`). The routes themselves only serve what the factory holds.

use super::*;

/// The requests faults most often go on.
pub const ISO_GETS: &str = "GET /image/*.iso";
pub const DISK_IMAGE_GETS: &str = "GET /image/*.raw.zst";
pub const MEDIA_GETS: &str = "GET /image/*";
pub const INSTALLER_HEADS: &str = "HEAD /v2/*/manifests/*";
pub const REGISTRY_REQUESTS: &str = "* /v2/*";
/// A medium or the installer: what the factory builds for a schematic.
pub const ASSET_REQUESTS: &str = "* /image/*|HEAD /v2/*";

/// A hook that turns the file at `path` into a folder (with a file in it), which no rename
/// can replace: put on a release's last network step, the record step meets it.
pub fn becomes_a_folder(path: std::path::PathBuf) -> Fault {
    Fault::Hook(Hook::new(move || {
        let _ = std::fs::remove_file(&path);
        let _ = std::fs::create_dir_all(path.join("blocker"));
    }))
}

/// `status` with a `Retry-After` of `value` (`+N`: the HTTP date N seconds on).
pub fn retry_after(status: u16, value: &str) -> Fault {
    Fault::Status(status, Some(value.to_string()))
}

/// Something a route does wrong.
#[derive(Clone, Debug)]
pub enum Fault {
    /// Answers this status (404, 429, 500 or 503) in the route's stead, with this
    /// `Retry-After`; `+N` is sent as the HTTP date N seconds after the request arrived.
    Status(u16, Option<String>),
    /// Answers 200 with an HTML page.
    Html,
    /// Answers 200 with a 512 MiB body (ends when the client stops reading).
    Huge,
    /// Waits this long, then lets the route answer (an asset slow to build on its own).
    Delay(Duration),
    /// Runs this, then lets the route answer.
    Hook(Hook),
    /// Forgets every stored schematic, then lets the route answer (an instance without the
    /// storage the others have).
    Forget,
    /// Lets the route answer, forgetting every stored schematic before the answer goes out (a
    /// 201 the factory did not keep, #535).
    Unkept,
    /// Sends the head and half the body it announced, then closes.
    Cut,
    /// Sends the head and half the body, then goes silent for 30 s.
    Stall,
    /// Announces the whole body, then sends one byte every 2 seconds, 30 in all.
    Trickle,
    /// Announces no length: the body ends when the connection closes (a streaming proxy).
    NoLength,
    /// Sends the body in 16 KiB pieces with this pause after each (a slow download).
    Slow(Duration),
    /// Announces this many bytes more than the body has (a factory at odds with itself).
    LongerHead(usize),
}

impl Fault {
    pub const NOT_FOUND: Fault = Fault::Status(404, None);

    /// Whether it answers in the route's stead.
    fn answers(&self) -> bool {
        matches!(self, Fault::Status(..) | Fault::Html | Fault::Huge)
    }

    /// Whether it changes the route's answer on its way out (`Out`).
    fn changes_the_answer(&self) -> bool {
        use Fault::*;
        matches!(
            self,
            Cut | Stall | Trickle | NoLength | Slow(_) | LongerHead(_)
        )
    }
}

/// The status line and body a `Fault::Status` answers with.
fn status(code: u16) -> (&'static str, &'static str) {
    match code {
        404 => ("404 Not Found", "404 page not found"),
        429 => ("429 Too Many Requests", "building, come back later"),
        500 => ("500 Internal Server Error", "image build failed: try again"),
        503 => ("503 Service Unavailable", "building, come back later"),
        other => panic!("Fault::Status takes 404, 429, 500 or 503, not {other}"),
    }
}

/// A fault put on the requests a pattern matches, as routes are (`ROUTES`).
#[derive(Clone, Debug)]
pub struct Put {
    on: String,
    fault: Fault,
    /// How many more requests it goes on; `None`, every one.
    left: Option<usize>,
}

impl Behaviour {
    /// `fault` on every request matching `on`.
    pub fn with(mut self, on: &str, fault: Fault) -> Behaviour {
        self.put(on, fault, None);
        self
    }

    /// `fault` on the first `n` requests matching `on`.
    pub fn with_first(mut self, n: usize, on: &str, fault: Fault) -> Behaviour {
        self.put(on, fault, Some(n));
        self
    }

    pub fn put(&mut self, on: &str, fault: Fault, times: Option<usize>) {
        self.faults.push(Put {
            on: on.to_string(),
            fault,
            left: times,
        });
    }

    /// The faults that go on the request `line`, counted: each put on it with requests left,
    /// in the order they were put, up to the first that answers in the route's stead, and one
    /// that changes the answer at most. So two answers, or two changes, put on the first
    /// request take turns.
    pub(super) fn take_faults(&mut self, line: &str) -> Vec<Fault> {
        let mut taken = Vec::new();
        for put in &mut self.faults {
            let changes = put.fault.changes_the_answer();
            if put.left == Some(0)
                || (changes && taken.iter().any(Fault::changes_the_answer))
                || !matches(&put.on, line)
            {
                continue;
            }
            if let Some(left) = &mut put.left {
                *left -= 1;
            }
            taken.push(put.fault.clone());
            if put.fault.answers() {
                break;
            }
        }
        taken
    }
}

/// Applies the part of `fault` that comes before the route: `Ok(true)` when it answered in the
/// route's stead.
pub(super) fn before_route(
    fault: &Fault,
    out: &mut TcpStream,
    state: &State,
) -> std::io::Result<bool> {
    if let Fault::Status(code, retry_after) = fault {
        let (status, body) = status(*code);
        // `+N`: an HTTP date N seconds after this request arrived.
        let retry_after = retry_after
            .as_deref()
            .map(|value| match value.strip_prefix('+') {
                Some(seconds) => http_date_in(seconds.parse().expect("+<seconds>")),
                None => value.to_string(),
            });
        let headers: Vec<(&str, &str)> = retry_after
            .iter()
            .map(|v| ("Retry-After", v.as_str()))
            .collect();
        respond(out, status, &headers, body.as_bytes())?;
        return Ok(true);
    }
    match fault {
        Fault::Html => {
            let page = [
                b"<html><body>".as_slice(),
                &vec![b'x'; 40_000],
                b"</body></html>",
            ]
            .concat();
            respond(out, "200 OK", &[("Content-Type", "text/html")], &page)?;
            return Ok(true);
        }
        Fault::Huge => {
            write_response(
                out,
                "200 OK",
                &[("Content-Type", "application/json")],
                512 << 20,
                b"",
            )?;
            let block = vec![b' '; 1 << 20];
            for _ in 0..512 {
                out.write_all(&block)?;
            }
            return Ok(true);
        }
        Fault::Delay(delay) => std::thread::sleep(*delay),
        Fault::Hook(hook) => (hook.0)(),
        Fault::Forget => state.schematics.lock().unwrap().clear(),
        _ => {}
    }
    Ok(false)
}

/// A route's answer on its way to the client: the head as the fault has it, the body as the
/// fault lets it through, and the ISO's body bytes counted.
pub struct Out<'a> {
    stream: TcpStream,
    /// The first fault on the request that changes an answer.
    fault: Option<Fault>,
    /// Whether the stored schematics are forgotten before the head goes out (`Unkept`).
    unkept: bool,
    state: &'a State,
    /// Whether body bytes count as the ISO's (`Factory::iso_bytes_sent`).
    counted: bool,
    /// The head while it is written; `None` once it was sent.
    head: Option<Vec<u8>>,
    announced: usize,
    sent: usize,
}

impl<'a> Out<'a> {
    pub(super) fn new(
        stream: TcpStream,
        faults: Vec<Fault>,
        state: &'a State,
        counted: bool,
    ) -> Out<'a> {
        let unkept = faults.iter().any(|f| matches!(f, Fault::Unkept));
        let fault = faults.into_iter().find(Fault::changes_the_answer);
        Out {
            stream,
            fault,
            unkept,
            state,
            counted,
            head: Some(Vec::new()),
            announced: 0,
            sent: 0,
        }
    }

    /// Sends the head, as the fault changes it.
    fn send_head(&mut self, head: &[u8]) -> std::io::Result<()> {
        let head = String::from_utf8_lossy(head);
        let mut lines = Vec::new();
        for line in head.split("\r\n") {
            let length = line
                .split_once(':')
                .filter(|(name, _)| name.eq_ignore_ascii_case("content-length"))
                .and_then(|(_, value)| value.trim().parse::<usize>().ok());
            match (length, &self.fault) {
                (Some(_), Some(Fault::NoLength)) => continue,
                (Some(length), Some(Fault::LongerHead(extra))) => {
                    self.announced = length;
                    lines.push(format!("Content-Length: {}", length + extra));
                }
                (Some(length), _) => {
                    self.announced = length;
                    lines.push(line.to_string());
                }
                (None, _) => lines.push(line.to_string()),
            }
        }
        if self.unkept {
            self.state.schematics.lock().unwrap().clear();
        }
        self.stream.write_all(lines.join("\r\n").as_bytes())
    }

    /// Sends body bytes, as the fault lets them through.
    fn send_body(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        let cut = |upto: usize, sent: usize| bytes.len().min(upto.saturating_sub(sent));
        let (through, pause) = match &self.fault {
            Some(Fault::Cut | Fault::Stall) => (cut(self.announced / 2, self.sent), None),
            Some(Fault::Trickle) => (cut(30, self.sent).min(1), Some(Duration::from_secs(2))),
            Some(Fault::Slow(delay)) => (bytes.len().min(16 * 1024), Some(*delay)),
            _ => (bytes.len(), None),
        };
        self.stream.write_all(&bytes[..through])?;
        self.sent += through;
        if self.counted {
            self.state
                .iso_bytes_sent
                .fetch_add(through, Ordering::SeqCst);
        }
        if let Some(pause) = pause {
            self.stream.flush()?;
            std::thread::sleep(pause);
        }
        if through == bytes.len() {
            return Ok(());
        }
        match self.fault {
            Some(Fault::Slow(_) | Fault::Trickle) if through > 0 => {
                self.send_body(&bytes[through..])
            }
            _ => {
                self.stream.flush()?;
                if matches!(self.fault, Some(Fault::Stall)) {
                    std::thread::sleep(Duration::from_secs(30));
                }
                Err(std::io::Error::other("the body was cut by a test's fault"))
            }
        }
    }

    /// Sends a head the route left unfinished (a relayed answer cut short).
    pub(super) fn finish(mut self) -> std::io::Result<()> {
        if let Some(head) = self.head.take() {
            self.stream.write_all(&head)?;
        }
        self.stream.flush()
    }
}

impl Write for Out<'_> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        let Some(head) = &mut self.head else {
            self.send_body(bytes)?;
            return Ok(bytes.len());
        };
        head.extend_from_slice(bytes);
        if let Some(end) = head.windows(4).position(|w| w == b"\r\n\r\n") {
            let mut head = self.head.take().expect("the head being written");
            let body = head.split_off(end + 4);
            self.send_head(&head)?;
            self.send_body(&body)?;
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.stream.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The raw answer to `line` (`GET /versions`): head and body as the client receives them.
    fn ask(factory: &Factory, line: &str) -> (String, Vec<u8>) {
        let mut stream = TcpStream::connect(("127.0.0.1", factory.port)).unwrap();
        write!(stream, "{line} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        let mut answer = Vec::new();
        let _ = stream.read_to_end(&mut answer);
        let end = answer.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
        let body = answer.split_off(end);
        (String::from_utf8(answer).unwrap(), body)
    }

    #[test]
    fn a_fault_goes_on_the_requests_it_was_put_on_and_in_turns() {
        let factory = Factory::start(
            Behaviour::default()
                .with_first(1, "GET /versions", retry_after(429, "7"))
                .with_first(1, "GET /versions", Fault::Status(500, None))
                .with(
                    "GET /version/*/overlays/*|GET /nowhere",
                    Fault::LongerHead(5),
                ),
        );
        let answers: Vec<String> = (0..3).map(|_| ask(&factory, "GET /versions").0).collect();
        assert!(
            answers[0].starts_with("HTTP/1.1 429") && answers[0].contains("Retry-After: 7\r\n")
        );
        assert!(answers[1].starts_with("HTTP/1.1 500"), "{}", answers[1]);
        assert!(answers[2].starts_with("HTTP/1.1 200"), "{}", answers[2]);
        let (head, body) = ask(&factory, "GET /version/v1.12.11/overlays/official");
        let announced = format!("Content-Length: {}\r\n", body.len() + 5);
        assert!(head.contains(&announced), "{head}");
        let (head, _) = ask(&factory, "GET /version/v1.12.11/extensions/official");
        assert!(!head.contains(&announced), "another route: {head}");
    }

    #[test]
    fn body_faults_change_the_answer_on_its_way_out() {
        let factory = Factory::start(Behaviour::default());
        let (_, whole) = ask(&factory, "GET /version/v1.12.11/extensions/official");
        factory.put("GET /version/*", Fault::Cut, Some(1));
        factory.put("GET /version/*", Fault::NoLength, Some(1));
        let (head, body) = ask(&factory, "GET /version/v1.12.11/extensions/official");
        assert!(
            head.contains(&format!("Content-Length: {}\r\n", whole.len())),
            "{head}"
        );
        assert_eq!(body, whole[..whole.len() / 2]);
        let (head, body) = ask(&factory, "GET /version/v1.12.11/extensions/official");
        assert!(!head.to_lowercase().contains("content-length"), "{head}");
        assert_eq!(body, whole);
    }

    #[test]
    fn patterns_match_whole_request_lines() {
        for (pattern, line, matched) in [
            ("GET /image/*.iso", "GET /image/a/v1/metal-amd64.iso", true),
            (
                "GET /image/*.iso",
                "HEAD /image/a/v1/metal-amd64.iso",
                false,
            ),
            (
                "GET /image/*.iso",
                "GET /image/a/v1/metal-amd64.iso.sig",
                false,
            ),
            ("* /v2/*", "HEAD /v2/x/manifests/v1", true),
            ("GET /versions", "GET /versions/x", false),
        ] {
            assert_eq!(matches(pattern, line), matched, "{pattern} {line}");
        }
    }
}
