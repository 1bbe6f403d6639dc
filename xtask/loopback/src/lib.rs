//! The loopback HTTP/1.1 server every test and benchmark server runs on (the tests' Image
//! Factory and OCI registry, the benchmarks' factory, download server and registry): it binds a
//! free port on 127.0.0.1, answers each connection on a thread of its own with the server's
//! handler, and gives the handlers the two halves of HTTP they all need: a request's head and a
//! response with its length. One request per connection (`Connection: close`), which is what
//! the tool's client does against them.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};

/// A server on 127.0.0.1; it serves until the process ends.
pub struct Server {
    pub port: u16,
}

impl Server {
    /// Binds a free loopback port and answers every connection with `handle`, each on a thread
    /// of its own; a handler's I/O error (a client gone) ends that connection only.
    pub fn start(
        handle: impl Fn(TcpStream) -> std::io::Result<()> + Send + Sync + 'static,
    ) -> std::io::Result<Server> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let port = listener.local_addr()?.port();
        let handle = std::sync::Arc::new(handle);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let handle = handle.clone();
                std::thread::spawn(move || {
                    let _ = handle(stream);
                });
            }
        });
        Ok(Server { port })
    }

    /// `http://127.0.0.1:<port>`
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

/// A request's first line (trimmed) and its headers, names lowercased.
pub fn read_head(
    reader: &mut BufReader<TcpStream>,
) -> std::io::Result<(String, HashMap<String, String>)> {
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut headers = HashMap::new();
    loop {
        let mut header = String::new();
        reader.read_line(&mut header)?;
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((k, v)) = header.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
    }
    Ok((line.trim_end().to_string(), headers))
}

/// The request's head read off `stream`: its first line, headers, and a reader for the body.
pub fn request(
    stream: &TcpStream,
) -> std::io::Result<(String, HashMap<String, String>, BufReader<TcpStream>)> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let (line, headers) = read_head(&mut reader)?;
    Ok((line, headers, reader))
}

/// A whole response: `body`, announced by its length.
pub fn respond(
    out: &mut impl Write,
    status: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> std::io::Result<()> {
    write_response(out, status, headers, body.len() as u64, body)
}

/// A response announcing `content_length` and sending `body` (which may be shorter: a body
/// cut short, or longer: one sent in pieces after this).
pub fn write_response(
    out: &mut impl Write,
    status: &str,
    headers: &[(&str, &str)],
    content_length: u64,
    body: &[u8],
) -> std::io::Result<()> {
    write!(
        out,
        "HTTP/1.1 {status}\r\nContent-Length: {content_length}\r\nConnection: close\r\n"
    )?;
    for (k, v) in headers {
        write!(out, "{k}: {v}\r\n")?;
    }
    write!(out, "\r\n")?;
    out.write_all(body)?;
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_is_read_and_answered_with_its_length() {
        let server = Server::start(|stream| {
            let (line, headers, _) = request(&stream)?;
            let body = format!("{line} {}", headers["x-test"]);
            respond(
                &mut &stream,
                "200 OK",
                &[("X-Answer", "yes")],
                body.as_bytes(),
            )
        })
        .unwrap();
        let mut stream = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
        write!(stream, "GET /a HTTP/1.1\r\nX-Test: 1\r\n\r\n").unwrap();
        let mut answer = String::new();
        std::io::Read::read_to_string(&mut stream, &mut answer).unwrap();
        assert_eq!(
            answer,
            "HTTP/1.1 200 OK\r\nContent-Length: 17\r\nConnection: close\r\nX-Answer: yes\r\n\r\nGET /a HTTP/1.1 1"
        );
    }
}
