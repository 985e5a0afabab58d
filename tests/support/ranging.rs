//! An LDAP relay on 127.0.0.1 in front of slapd that hands out a big group's `member` values the
//! way Active Directory does (range retrieval; Samba does not range a plain `member` read, so
//! only Windows behaves like this): a search that asks for `member` gets at most `max` values, as
//! `member;range=0-1499`; a search for `member;range=1500-*` gets the next slice, as
//! `member;range=1500-2999`, and the last one as `member;range=3000-*`. Everything else passes
//! through untouched. Windows' `MaxValRange` is 1500.
//!
//! Messages are framed by their BER length and decoded with ldap3's BER parser; only search
//! requests that ask for a member range and the entries answering searches that asked for
//! `member` are rewritten.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::{Arc, Mutex};

use ldap3::asn1::{parse_tag, StructureTag, TagClass, PL};

use super::proxy::Listener;

/// Windows' `MaxValRange`: the most values of one attribute an answer holds.
pub const WINDOWS_MAX_VALUES: usize = 1500;

/// What a search asked for `member`: the whole attribute, or a range from a start.
#[derive(Clone, Copy)]
enum Ask {
    Whole,
    From(usize),
}

pub struct RangingProxy {
    pub port: u16,
    /// The ranged attribute names sent to clients, in order (`member;range=0-1499`, ...).
    sent: Arc<Mutex<Vec<String>>>,
    _listener: Listener,
}

impl RangingProxy {
    /// Relay to slapd on `127.0.0.1:target`, ranging `member` at `max` values.
    pub fn start(target: u16, max: usize) -> RangingProxy {
        let sent = Arc::new(Mutex::new(Vec::new()));
        let log = sent.clone();
        let listener = Listener::start(target, move |_, client, server| {
            relay(client, server, max, log.clone());
        });
        RangingProxy {
            port: listener.port,
            sent,
            _listener: listener,
        }
    }

    pub fn url(&self) -> String {
        format!("ldap://127.0.0.1:{}", self.port)
    }

    /// The ranged attribute names sent so far.
    pub fn sent(&self) -> Vec<String> {
        self.sent.lock().expect("log").clone()
    }
}

fn relay(client: TcpStream, server: TcpStream, max: usize, log: Arc<Mutex<Vec<String>>>) {
    let (Ok(c2), Ok(s2)) = (client.try_clone(), server.try_clone()) else {
        return;
    };
    // Message ID → what that search asked of `member`.
    let asks: Arc<Mutex<HashMap<i64, Ask>>> = Arc::default();
    let asked = asks.clone();
    std::thread::spawn(move || {
        pump(client, server, |m| requests(m, &asked));
    });
    std::thread::spawn(move || {
        pump(s2, c2, |m| answers(m, &asks, max, &log));
    });
}

/// Pass whole messages from `from` to `to`, each through `rewrite` (`None`: as they came).
fn pump(mut from: TcpStream, mut to: TcpStream, mut rewrite: impl FnMut(&[u8]) -> Option<Vec<u8>>) {
    while let Some(message) = read_message(&mut from) {
        let out = rewrite(&message).unwrap_or(message);
        if to.write_all(&out).is_err() {
            break;
        }
    }
    let _ = to.shutdown(Shutdown::Both);
    let _ = from.shutdown(Shutdown::Both);
}

/// One BER element (an LDAPMessage), whole.
fn read_message(from: &mut TcpStream) -> Option<Vec<u8>> {
    let mut head = [0u8; 2];
    from.read_exact(&mut head).ok()?;
    let mut message = head.to_vec();
    let len = if head[1] < 0x80 {
        usize::from(head[1])
    } else {
        let mut bytes = vec![0u8; usize::from(head[1] & 0x7f)];
        from.read_exact(&mut bytes).ok()?;
        message.extend_from_slice(&bytes);
        bytes.iter().fold(0usize, |n, b| (n << 8) | usize::from(*b))
    };
    let start = message.len();
    message.resize(start + len, 0);
    from.read_exact(&mut message[start..]).ok()?;
    Some(message)
}

/// A message's ID and parts, when its operation is `[APPLICATION op]`.
fn message_of(message: &[u8], op: u64) -> Option<(i64, Vec<StructureTag>)> {
    let (_, tag) = parse_tag(message).ok()?;
    let PL::C(parts) = tag.payload else {
        return None;
    };
    let id = id_of(&parts)?;
    let operation = parts.get(1)?;
    (operation.class == TagClass::Application && operation.id == op).then_some((id, parts))
}

/// The fields of a message's operation.
fn fields(parts: &mut [StructureTag]) -> Option<&mut Vec<StructureTag>> {
    match &mut parts.get_mut(1)?.payload {
        PL::C(fields) => Some(fields),
        PL::P(_) => None,
    }
}

/// An LDAPMessage (a SEQUENCE) of these parts, encoded.
fn message_bytes(parts: Vec<StructureTag>) -> Vec<u8> {
    encode(&StructureTag {
        class: TagClass::Universal,
        id: 16,
        payload: PL::C(parts),
    })
}

fn id_of(message: &[StructureTag]) -> Option<i64> {
    match &message.first()?.payload {
        PL::P(b) => Some(b.iter().fold(0i64, |n, x| (n << 8) | i64::from(*x))),
        PL::C(_) => None,
    }
}

fn text(tag: &StructureTag) -> Option<&str> {
    match &tag.payload {
        PL::P(b) => std::str::from_utf8(b).ok(),
        PL::C(_) => None,
    }
}

fn octets(s: &str) -> StructureTag {
    StructureTag {
        class: TagClass::Universal,
        id: 4,
        payload: PL::P(s.as_bytes().to_vec()),
    }
}

/// A search request (APPLICATION 3): note what it asks of `member`; a ranged ask goes to slapd
/// as plain `member` (slapd knows no ranges).
fn requests(message: &[u8], asks: &Mutex<HashMap<i64, Ask>>) -> Option<Vec<u8>> {
    let (id, mut parts) = message_of(message, 3)?;
    let PL::C(attrs) = &mut fields(&mut parts)?.get_mut(7)?.payload else {
        return None;
    };
    let mut ask = None;
    let mut changed = false;
    for a in attrs.iter_mut() {
        let name = text(a)?.to_ascii_lowercase();
        if name == "member" {
            ask = Some(Ask::Whole);
        } else if let Some(range) = name.strip_prefix("member;range=") {
            let start = range.split('-').next()?.parse().ok()?;
            ask = Some(Ask::From(start));
            *a = octets("member");
            changed = true;
        }
    }
    if let Some(ask) = ask {
        asks.lock().expect("asks").insert(id, ask);
    }
    changed.then(|| message_bytes(parts))
}

/// An entry (APPLICATION 4) answering a search that asked for `member`: at most `max` values,
/// under the ranged name Windows gives them.
fn answers(
    message: &[u8],
    asks: &Mutex<HashMap<i64, Ask>>,
    max: usize,
    log: &Mutex<Vec<String>>,
) -> Option<Vec<u8>> {
    let (id, mut parts) = message_of(message, 4)?;
    let ask = *asks.lock().expect("asks").get(&id)?;
    let PL::C(attrs) = &mut fields(&mut parts)?.get_mut(1)?.payload else {
        return None;
    };
    let mut changed = false;
    for attr in attrs.iter_mut() {
        let PL::C(pair) = &mut attr.payload else {
            continue;
        };
        if !text(pair.first()?)?.eq_ignore_ascii_case("member") {
            continue;
        }
        let PL::C(values) = &mut pair.get_mut(1)?.payload else {
            continue;
        };
        let start = match ask {
            Ask::Whole if values.len() <= max => continue,
            Ask::Whole => 0,
            Ask::From(start) => start,
        };
        let end = (start + max).min(values.len());
        let last = end == values.len();
        let slice: Vec<StructureTag> = values.drain(..).skip(start).take(end - start).collect();
        *values = slice;
        let name = if last {
            format!("member;range={start}-*")
        } else {
            format!("member;range={start}-{}", end - 1)
        };
        log.lock().expect("log").push(name.clone());
        pair[0] = octets(&name);
        changed = true;
    }
    changed.then(|| message_bytes(parts))
}

/// BER: identifier octet(s), definite length, content.
fn encode(tag: &StructureTag) -> Vec<u8> {
    let class = match tag.class {
        TagClass::Universal => 0x00,
        TagClass::Application => 0x40,
        TagClass::Context => 0x80,
        TagClass::Private => 0xc0,
    };
    let (constructed, content) = match &tag.payload {
        PL::P(bytes) => (0, bytes.clone()),
        PL::C(inner) => (0x20, inner.iter().flat_map(encode).collect()),
    };
    let mut out = Vec::with_capacity(content.len() + 6);
    assert!(tag.id < 31, "only low tag numbers occur in LDAP");
    out.push(class | constructed | u8::try_from(tag.id).expect("low tag number"));
    let len = content.len();
    if len < 0x80 {
        out.push(u8::try_from(len).expect("short length"));
    } else {
        let bytes: Vec<u8> = len
            .to_be_bytes()
            .into_iter()
            .skip_while(|b| *b == 0)
            .collect();
        out.push(0x80 | u8::try_from(bytes.len()).expect("length of the length"));
        out.extend(bytes);
    }
    out.extend(content);
    out
}
