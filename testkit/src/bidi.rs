//! A minimal WebDriver BiDi client (JSON messages over a WebSocket, RFC 6455),
//! enough for the browser suite to load a page in Firefox and collect its
//! console (`log.entryAdded`): Firefox reports CORS errors only there, never
//! on stdout or stderr.

use serde_json::{json, Value};
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub struct Bidi {
    stream: TcpStream,
    next_id: u64,
    /// The text of every `log.entryAdded` event, in order.
    log: Arc<Mutex<Vec<String>>>,
}

fn frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    // A client masks every frame; the key need not be secret here.
    let key = [0x5a, 0x17, 0xc3, 0x8e];
    let mut f = vec![0x80 | opcode];
    match payload.len() {
        n if n < 126 => f.push(0x80 | n as u8),
        n if n <= 0xffff => {
            f.push(0x80 | 126);
            f.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            f.push(0x80 | 127);
            f.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    f.extend_from_slice(&key);
    f.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
    f
}

impl Bidi {
    /// Connects to the browser's WebDriver BiDi endpoint on `port`, retrying
    /// while the browser starts.
    pub fn connect(port: u16, timeout: Duration) -> io::Result<Bidi> {
        let deadline = Instant::now() + timeout;
        let mut stream = loop {
            match TcpStream::connect(("127.0.0.1", port)) {
                Ok(s) => break s,
                Err(e) if Instant::now() > deadline => return Err(e),
                Err(_) => std::thread::sleep(Duration::from_millis(200)),
            }
        };
        stream.set_read_timeout(Some(timeout))?;
        write!(
            stream,
            "GET /session HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: Y29ycy1nYXRld2F5LXN1aXRl\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )?;
        let mut head = Vec::new();
        let mut b = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            stream.read_exact(&mut b)?;
            head.push(b[0]);
        }
        if !head.starts_with(b"HTTP/1.1 101") {
            return Err(io::Error::other(format!(
                "no WebSocket upgrade: {}",
                String::from_utf8_lossy(&head)
            )));
        }
        Ok(Bidi {
            stream,
            next_id: 0,
            log: Arc::default(),
        })
    }

    fn recv(&mut self) -> io::Result<Value> {
        let mut message = Vec::new();
        loop {
            let mut h = [0u8; 2];
            self.stream.read_exact(&mut h)?;
            let len = match h[1] & 0x7f {
                126 => {
                    let mut l = [0u8; 2];
                    self.stream.read_exact(&mut l)?;
                    u64::from(u16::from_be_bytes(l))
                }
                127 => {
                    let mut l = [0u8; 8];
                    self.stream.read_exact(&mut l)?;
                    u64::from_be_bytes(l)
                }
                n => u64::from(n),
            };
            let mut payload = vec![0u8; len as usize];
            self.stream.read_exact(&mut payload)?;
            match h[0] & 0x0f {
                0 | 1 => message.extend_from_slice(&payload),
                8 => return Err(io::Error::other("the browser closed the WebSocket")),
                9 => {
                    self.stream.write_all(&frame(10, &payload))?;
                    continue;
                }
                _ => continue,
            }
            if h[0] & 0x80 != 0 {
                return serde_json::from_slice(&message).map_err(io::Error::other);
            }
        }
    }

    fn record(&self, m: &Value) {
        if m["method"] == "log.entryAdded" {
            if let (Some(text), Ok(mut log)) = (m["params"]["text"].as_str(), self.log.lock()) {
                log.push(text.to_string());
            }
        }
    }

    /// Sends one command and returns its result; events that arrive first
    /// are recorded.
    pub fn call(&mut self, method: &str, params: Value) -> io::Result<Value> {
        self.next_id += 1;
        let id = self.next_id;
        let msg = json!({"id": id, "method": method, "params": params}).to_string();
        self.stream.write_all(&frame(1, msg.as_bytes()))?;
        loop {
            let m = self.recv()?;
            self.record(&m);
            if m["id"] == id {
                return if m["type"] == "success" {
                    Ok(m["result"].clone())
                } else {
                    Err(io::Error::other(format!("{method}: {m}")))
                };
            }
        }
    }

    /// Starts a session, subscribes to the console, opens `url` in the first
    /// tab, then records console entries on a thread until the browser goes
    /// away. Returns the entries as they arrive.
    pub fn load_and_record(mut self, url: &str) -> io::Result<Arc<Mutex<Vec<String>>>> {
        self.call("session.new", json!({"capabilities": {}}))?;
        self.call("session.subscribe", json!({"events": ["log.entryAdded"]}))?;
        let tree = self.call("browsingContext.getTree", json!({}))?;
        let context = tree["contexts"][0]["context"].clone();
        self.call(
            "browsingContext.navigate",
            json!({"context": context, "url": url, "wait": "none"}),
        )?;
        let log = self.log.clone();
        self.stream.set_read_timeout(None)?;
        std::thread::spawn(move || {
            while let Ok(m) = self.recv() {
                self.record(&m);
            }
        });
        Ok(log)
    }
}
