//! The guard's configuration: one TOML file (listeners, PBX, trunk, trusted networks, tenants and how the
//! account of a call is found, engine policy, numbering, store, logging), parsed with `deny_unknown_fields`
//! and validated into [`Settings`]. Every error carries the line and column in the file and what to do, so
//! that `tollguard check-config` can print one actionable line per problem.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

pub use decide::{AccountFrom, Network, Tenant};
use engine::Policy;
use numbering::NumberingConfig;
use serde::Deserialize;
use toml::Spanned;

/// One problem in a configuration file, with its position (line and column start at 1; 0 when unknown).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}", self.file, self.message)
        } else {
            write!(
                f,
                "{}:{}:{}: {}",
                self.file, self.line, self.column, self.message
            )
        }
    }
}

impl std::error::Error for ConfigError {}

/// All problems found in a file (at least one).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
pub struct ConfigErrors(pub Vec<ConfigError>);

/// Transport of a listener or a peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, serde::Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum TransportKind {
    #[default]
    Udp,
    Tcp,
    /// TLS over TCP (listeners only: phones reach the guard over TLS; PBX and carrier use UDP or TCP).
    Tls,
}

impl TransportKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TransportKind::Udp => "UDP",
            TransportKind::Tcp => "TCP",
            TransportKind::Tls => "TLS",
        }
    }
    pub fn param(self) -> &'static str {
        match self {
            TransportKind::Udp => "udp",
            TransportKind::Tcp => "tcp",
            TransportKind::Tls => "tls",
        }
    }
}

/// Which side a listener faces: it decides where new requests received on it go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Phones and the internet: requests go to the PBX.
    #[default]
    Access,
    /// The PBX's outbound trunk points here: requests go to the carrier, and every INVITE is decided.
    Pbx,
    /// The carrier's inbound calls arrive here: requests go to the PBX.
    Carrier,
    /// An SBC or PBX asks here whether a call may go on (SIP redirect server): each INVITE is decided and
    /// answered 302 (to the `[redirect] target`) or refused; nothing is forwarded.
    Redirect,
    /// HEP v2/v3 from capture agents (Kamailio `siptrace`, heplify, OpenSIPS `proto_hep`, FreeSWITCH): the
    /// SIP they mirror is decided in observe mode; nothing is ever sent back.
    Hep,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Access => "access",
            Role::Pbx => "pbx",
            Role::Carrier => "carrier",
            Role::Redirect => "redirect",
            Role::Hep => "hep",
        }
    }
}

/// What to do with requests from a banned source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum BannedAction {
    /// Drop silently: a scanner learns nothing.
    #[default]
    Drop,
    /// Answer 403 with the reason (useful while testing a policy).
    Reject,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListenFile {
    address: Spanned<String>,
    #[serde(default)]
    transport: TransportKind,
    #[serde(default)]
    role: Role,
    /// Address written in Via and Record-Route when `address` is a wildcard or behind NAT.
    advertise: Option<Spanned<String>>,
    /// TLS listeners: certificate chain and private key, PEM files.
    tls_cert: Option<Spanned<PathBuf>>,
    tls_key: Option<Spanned<PathBuf>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PeerFile {
    address: Spanned<String>,
    #[serde(default)]
    transport: TransportKind,
    /// PBX only: add a Path header (RFC 3327) to REGISTERs so that calls to remote phones come through the
    /// guard (the PBX must honour Path, e.g. Asterisk `support_path = yes`).
    #[serde(default)]
    path: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TenantFile {
    name: String,
    /// Source networks of this tenant's PBX on the `pbx` listeners (empty: the default tenant).
    #[serde(default)]
    pbx_sources: Vec<Spanned<String>>,
    /// Known accounts (extensions); calls from other accounts are marked unauthenticated.
    #[serde(default)]
    accounts: Vec<String>,
    #[serde(default)]
    account_from: AccountFrom,
    account_header: Option<String>,
    /// The tenant's own numbers (DIDs) as E.164 prefixes ("+8131234"): an outbound call whose From or
    /// P-Asserted-Identity number is outside them is a sign of a hijacked PBX (rule `caller_id_foreign`).
    #[serde(default)]
    numbers: Vec<Spanned<String>>,
    /// Where logins to this tenant's accounts may come from (`geo`); empty: anywhere.
    #[serde(default)]
    login_networks: Vec<Spanned<String>>,
    #[serde(default)]
    login_countries: Vec<Spanned<String>>,
    #[serde(default)]
    account_limits: Vec<crate::geo::AccountLimitsFile>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct EnforceFile {
    banned: BannedAction,
    /// Look for the scanners' deeper marks (hex From-tags, numeric branches, sip:123@1.1.1.1 contacts).
    scanner_fingerprints: Option<bool>,
    /// Seconds over which requests are counted per source for the request-rate rule.
    request_window_secs: Option<u32>,
    /// SIP status sent for a blocked call instead of the decision's own (e.g. 603 for "Decline").
    block_status: Option<Spanned<u16>>,
    /// "bar" (default), "alert" or "off": an accepted login with a vendor-default or weak password.
    weak_password: decide::WeakPasswordPolicy,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct StoreFile {
    path: Option<PathBuf>,
    snapshot_secs: Option<u32>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct LogFile {
    json: bool,
    level: Option<String>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct DialogsFile {
    max: Option<usize>,
    max_call_secs: Option<u32>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct ClockFile {
    /// Engine time runs this many times faster than the wall clock (tests and demos only).
    speed: Option<f64>,
    /// Engine time at start, in milliseconds since 1970 (tests and demos only: replays a given night).
    start_ms: Option<i64>,
}

/// `[transport]`: limits of TCP/TLS connections, of the send and receive queues, and socket buffers.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct TransportFile {
    connect_timeout_ms: Option<Spanned<u64>>,
    max_connections: Option<Spanned<u64>>,
    max_connections_per_source: Option<Spanned<u64>>,
    idle_secs: Option<Spanned<u64>>,
    send_queue: Option<Spanned<u64>>,
    inbound_queue: Option<Spanned<u64>>,
    recv_buffer: Option<Spanned<u64>>,
    send_buffer: Option<Spanned<u64>>,
    receive_threads: Option<Spanned<u64>>,
    shards: Option<Spanned<u64>>,
    udp_readers: Option<Spanned<u64>>,
    max_wait_ms: Option<Spanned<u64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct GuardFile {
    #[serde(default)]
    listen: Vec<ListenFile>,
    pbx: Option<PeerFile>,
    trunk: Option<PeerFile>,
    #[serde(default)]
    trusted: Vec<Spanned<String>>,
    #[serde(default)]
    tenant: Vec<TenantFile>,
    policy_file: Option<Spanned<PathBuf>>,
    policy: Option<toml::Value>,
    #[serde(default)]
    numbering: NumberingConfig,
    #[serde(default)]
    store: StoreFile,
    #[serde(default)]
    log: LogFile,
    #[serde(default)]
    enforce: EnforceFile,
    #[serde(default)]
    dialogs: DialogsFile,
    #[serde(default)]
    clock: ClockFile,
    #[serde(default)]
    transport: TransportFile,
    #[serde(default)]
    geo: crate::geo::GeoFile,
    /// The operator API and the notifications are configured in the same file; crate `api` reads and
    /// checks these sections (`api::config`), the guard only lets them through.
    #[serde(default)]
    redirect: RedirectFile,
    #[serde(default)]
    hep: HepFile,
    #[serde(default)]
    end_call: EndCallFile,
    #[serde(default, rename = "api")]
    _api: Option<toml::Value>,
    #[serde(default, rename = "notify")]
    _notify: Option<toml::Value>,
}

/// `[redirect]`: how the redirect server answers.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct RedirectFile {
    /// Where allowed calls go: a SIP URI without a user (`sip:carrier.example:5060;transport=udp`); the dialed
    /// number becomes its user. Default: the `[trunk]`.
    target: Option<Spanned<String>>,
    /// Status of refused calls (default 603 Decline).
    refuse_status: Option<Spanned<u16>>,
    /// An INVITE that waited longer than this before its decision is answered 503 with Retry-After: the
    /// querier has retransmitted or given up, and the guard is overloaded (default 1000 ms).
    max_wait_ms: Option<u64>,
}

/// `[hep]`: who may mirror traffic to the guard, and what its decisions may do.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct HepFile {
    /// Capture agents allowed to send HEP (HEP over UDP is easy to forge: nobody else is read).
    sources: Vec<Spanned<String>>,
    /// The HEPv3 auth key (chunk 14) the agents send; when set, packets without it are dropped.
    auth_key: Option<String>,
    /// false (default): decisions on mirrored calls alert only. true: they also ban and end calls (through
    /// the `[end_call]` adapters, the guard carries no mirrored call).
    enforce: bool,
}

/// `[end_call]`: where calls the guard does not carry are ended (crate::end_call).
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct EndCallFile {
    kamailio_jsonrpc: Option<Spanned<String>>,
    webhook: Option<Spanned<String>>,
}

/// The HEP receiver's settings (`[hep]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hep {
    pub sources: Vec<Network>,
    pub auth_key: Option<String>,
    pub enforce: bool,
}

/// How the redirect server answers (`[redirect]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redirect {
    /// The target URI without its user: `sip:` or `sips:`, then host, port and parameters.
    pub target: String,
    pub refuse_status: u16,
    pub max_wait_ms: u64,
}

impl Redirect {
    /// The Contact of a 302 for a Request-URI user (kept as received, escapes included).
    pub fn contact_for(&self, user: &str) -> String {
        let (scheme, rest) = self.target.split_once(':').unwrap_or(("sip", &self.target));
        format!("<{scheme}:{user}@{rest}>")
    }
}

/// A listening socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listener {
    pub address: SocketAddr,
    pub transport: TransportKind,
    pub role: Role,
    /// host:port written in Via and Record-Route.
    pub advertise: String,
    /// Certificate chain and key files of a TLS listener.
    pub tls: Option<(PathBuf, PathBuf)>,
}

/// The PBX or the carrier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Peer {
    pub address: SocketAddr,
    pub transport: TransportKind,
    pub path: bool,
}

/// A validated configuration, ready to run.
#[derive(Debug, Clone)]
pub struct Settings {
    pub listeners: Vec<Listener>,
    pub pbx: Peer,
    pub trunk: Option<Peer>,
    pub trusted: Vec<Network>,
    /// At least one; the first is the default tenant.
    pub tenants: Vec<Tenant>,
    pub policy: Policy,
    /// The policy's text, where it came from (for reload).
    pub policy_source: PolicySource,
    pub numbering: NumberingConfig,
    pub store_path: Option<PathBuf>,
    pub snapshot_secs: u32,
    pub log_json: bool,
    pub log_level: String,
    pub banned: BannedAction,
    pub scanner_fingerprints: bool,
    pub request_window_secs: u32,
    /// Status of blocked calls when set (else the engine decision's status).
    pub block_status: Option<u16>,
    /// `[enforce] weak_password`: what an accepted login with a vendor-default or weak password sets off.
    pub weak_password: decide::WeakPasswordPolicy,
    pub max_dialogs: usize,
    pub max_call_secs: u32,
    pub clock_speed: f64,
    pub clock_start_ms: Option<i64>,
    /// Connection caps, idle time, connect timeout and send queues (`[transport]`).
    pub transport: crate::transport::TransportLimits,
    /// The `[geo] database`, opened and verified (country of a source, login limits by country).
    pub geo: Option<std::sync::Arc<crate::geo::GeoDb>>,
    /// The redirect server's answers (`[redirect]`); None without a listener of role "redirect".
    pub redirect: Option<Redirect>,
    /// The HEP receiver (`[hep]`); None without a listener of role "hep".
    pub hep: Option<Hep>,
    /// Where calls another system carries are ended (`[end_call]`).
    pub end_call: crate::end_call::EndCallConfig,
}

pub use decide::control::PolicySource;

/// Byte offset of the first `[policy` table header (0 when not found).
fn policy_section_offset(text: &str) -> usize {
    let mut off = 0;
    for line in text.split_inclusive('\n') {
        let t = line.trim_start();
        if t.starts_with("[policy") || t.starts_with("policy") {
            return off + (line.len() - t.len());
        }
        off += line.len();
    }
    0
}

/// Byte offset of the key an inline policy's error names ("sources.flood_burst = 1 is …"): its line under the
/// `[policy.sources]` header, so that check-config points at it. None when the message names no key or the key
/// is not written that way (the error is then shown at the policy section).
fn policy_key_offset(text: &str, message: &str) -> Option<usize> {
    let (path, _) = message.split_once(" = ")?;
    let (table, key) = path.rsplit_once('.')?;
    let header = format!("[policy.{table}]");
    let mut off = 0;
    let mut inside = false;
    for line in text.split_inclusive('\n') {
        let t = line.trim();
        if t.starts_with('[') {
            inside = t == header;
        } else if inside
            && t.strip_prefix(key)
                .is_some_and(|rest| rest.trim_start().starts_with('='))
        {
            return Some(off + (line.len() - line.trim_start().len()));
        }
        off += line.len();
    }
    None
}

/// The `[hep]` section, checked, when a listener has role "hep".
fn hep(c: &mut Collector<'_>, f: &HepFile, listeners: &[Listener]) -> Option<Hep> {
    let hep_listeners: Vec<&Listener> = listeners.iter().filter(|l| l.role == Role::Hep).collect();
    if hep_listeners.is_empty() {
        return None;
    }
    if hep_listeners
        .iter()
        .any(|l| l.transport == TransportKind::Tls)
    {
        c.whole("a listener with role = \"hep\" takes udp or tcp, not tls");
    }
    let sources: Vec<Network> = f
        .sources
        .iter()
        .filter_map(|s| network(c, s, "hep.sources"))
        .collect();
    if f.sources.is_empty() {
        c.whole("a listener has role = \"hep\" but [hep] sources is empty: list the capture agents' addresses (HEP over UDP is easy to forge)");
    }
    if f.auth_key
        .as_deref()
        .is_some_and(|k| k.is_empty() || k.len() > 256)
    {
        c.whole("hep.auth_key must be 1 to 256 characters");
    }
    Some(Hep {
        sources,
        auth_key: f.auth_key.clone(),
        enforce: f.enforce,
    })
}

/// The `[redirect]` section, checked, when a listener has role "redirect".
fn redirect(
    c: &mut Collector<'_>,
    f: &RedirectFile,
    listeners: &[Listener],
    trunk: Option<&Peer>,
) -> Option<Redirect> {
    if !listeners.iter().any(|l| l.role == Role::Redirect) {
        return None;
    }
    let target = match (&f.target, trunk) {
        (Some(t), _) => {
            let v = t.get_ref().trim();
            let ok = (v.starts_with("sip:") || v.starts_with("sips:"))
                && !v.contains(['@', '<', '>', ' ', '"'])
                && v.len() > 5;
            if !ok {
                c.at(
                    t.span(),
                    format!("redirect.target \"{v}\" is not a SIP URI without a user: write e.g. \"sip:carrier.example:5060;transport=udp\""),
                );
            }
            v.to_owned()
        }
        (None, Some(p)) => format!("sip:{};transport={}", p.address, p.transport.as_str()),
        (None, None) => {
            c.whole("a listener has role = \"redirect\" but there is neither [redirect] target nor [trunk]: say where allowed calls go");
            String::new()
        }
    };
    let refuse_status = f.refuse_status.as_ref().map_or(603, |s| *s.get_ref());
    if let Some(s) = &f.refuse_status
        && !(400..=699).contains(s.get_ref())
    {
        c.at(
            s.span(),
            format!("redirect.refuse_status {refuse_status} is not a final error status: use 403, 480 or 603"),
        );
    }
    Some(Redirect {
        target,
        refuse_status,
        max_wait_ms: f.max_wait_ms.unwrap_or(1000).max(1),
    })
}

struct Collector<'t> {
    file: String,
    text: &'t str,
    errors: Vec<ConfigError>,
}

impl Collector<'_> {
    fn at(&mut self, span: std::ops::Range<usize>, message: impl Into<String>) {
        let (line, column) = numbering::line_col(self.text, span.start);
        self.errors.push(ConfigError {
            file: self.file.clone(),
            line,
            column,
            message: message.into(),
        });
    }
    fn whole(&mut self, message: impl Into<String>) {
        self.errors.push(ConfigError {
            file: self.file.clone(),
            line: 0,
            column: 0,
            message: message.into(),
        });
    }
}

fn socket(c: &mut Collector<'_>, s: &Spanned<String>, what: &str) -> Option<SocketAddr> {
    match s.get_ref().parse::<SocketAddr>() {
        Ok(a) => Some(a),
        Err(_) => {
            c.at(
                s.span(),
                format!(
                    "{what}: \"{}\" is not an address:port; write e.g. \"192.0.2.10:5060\" or \"[2001:db8::1]:5060\"",
                    s.get_ref()
                ),
            );
            None
        }
    }
}

/// A `[transport]` number: its default when absent, else within `range` (an error at the value otherwise).
fn transport_number(
    c: &mut Collector<'_>,
    v: &Option<Spanned<u64>>,
    key: &str,
    range: std::ops::RangeInclusive<u64>,
    default: u64,
    why: &str,
) -> u64 {
    match v {
        None => default,
        Some(v) if range.contains(v.get_ref()) => *v.get_ref(),
        Some(v) => {
            c.at(
                v.span(),
                format!(
                    "transport.{key} = {} is out of range: use {} to {} ({why}; default {default})",
                    v.get_ref(),
                    range.start(),
                    range.end()
                ),
            );
            default
        }
    }
}

/// The `[transport]` section, validated.
fn transport_limits(c: &mut Collector<'_>, f: &TransportFile) -> crate::transport::TransportLimits {
    let d = crate::transport::TransportLimits::default();
    let as_u64 = |n: usize| u64::try_from(n).unwrap_or(u64::MAX);
    let as_ms = |t: std::time::Duration| u64::try_from(t.as_millis()).unwrap_or(u64::MAX);
    let connect_ms = transport_number(
        c,
        &f.connect_timeout_ms,
        "connect_timeout_ms",
        100..=60_000,
        as_ms(d.connect_timeout),
        "how long a TCP connect to a next hop may take",
    );
    let max = transport_number(
        c,
        &f.max_connections,
        "max_connections",
        1..=1_000_000,
        as_u64(d.max_connections),
        "TCP/TLS connections accepted at once",
    );
    let per_source = transport_number(
        c,
        &f.max_connections_per_source,
        "max_connections_per_source",
        1..=max,
        as_u64(d.max_connections_per_source).min(max),
        "connections from one IPv4 address or IPv6 /64, at most max_connections",
    );
    let idle = transport_number(
        c,
        &f.idle_secs,
        "idle_secs",
        1..=86_400,
        d.idle.as_secs(),
        "phones on TCP send keep-alives every 30-120 s",
    );
    let queue = transport_number(
        c,
        &f.send_queue,
        "send_queue",
        1..=1_000_000,
        as_u64(d.send_queue),
        "messages waiting per connection or UDP socket",
    );
    let inbound = transport_number(
        c,
        &f.inbound_queue,
        "inbound_queue",
        8..=1_000_000,
        as_u64(d.inbound_queue),
        "stream messages waiting for a shard; from half of it the least important are shed",
    );
    let recv_buffer = transport_number(
        c,
        &f.recv_buffer,
        "recv_buffer",
        65_536..=1 << 30,
        as_u64(d.recv_buffer),
        "bytes of each UDP socket's kernel receive buffer (SO_RCVBUF)",
    );
    let send_buffer = transport_number(
        c,
        &f.send_buffer,
        "send_buffer",
        65_536..=1 << 30,
        as_u64(d.send_buffer),
        "bytes of each UDP socket's kernel send buffer (SO_SNDBUF)",
    );
    let threads = transport_number(
        c,
        &f.receive_threads,
        "receive_threads",
        1..=64,
        as_u64(d.receive_threads),
        "threads of the runtime: TCP/TLS connections, the operator API, the control loop",
    );
    let shards = transport_number(
        c,
        &f.shards,
        "shards",
        1..=64,
        as_u64(d.shards),
        "SIP shards (threads handling calls, each the Call-IDs that hash to it)",
    );
    let udp_readers = transport_number(
        c,
        &f.udp_readers,
        "udp_readers",
        1..=64,
        as_u64(d.udp_readers),
        "sockets (SO_REUSEPORT) and reader threads per UDP listener; the kernel spreads peers over them",
    );
    let max_wait_ms = transport_number(
        c,
        &f.max_wait_ms,
        "max_wait_ms",
        2..=10_000,
        as_ms(d.max_wait),
        "milliseconds a datagram may wait in its socket before OPTIONS, REGISTERs, then new calls are shed",
    );
    let to_usize = |n: u64| usize::try_from(n).unwrap_or(usize::MAX);
    crate::transport::TransportLimits {
        max_wait: std::time::Duration::from_millis(max_wait_ms),
        udp_readers: to_usize(udp_readers),
        receive_threads: to_usize(threads),
        shards: to_usize(shards),
        inbound_queue: to_usize(inbound),
        recv_buffer: to_usize(recv_buffer),
        send_buffer: to_usize(send_buffer),
        connect_timeout: std::time::Duration::from_millis(connect_ms),
        max_connections: to_usize(max),
        max_connections_per_source: to_usize(per_source),
        idle: std::time::Duration::from_secs(idle),
        send_queue: to_usize(queue),
    }
}

fn network(c: &mut Collector<'_>, s: &Spanned<String>, what: &str) -> Option<Network> {
    let n = Network::parse(s.get_ref());
    if n.is_none() {
        c.at(
            s.span(),
            format!(
                "{what}: \"{}\" is not a network; write an address or address/prefix such as \"192.168.1.0/24\"",
                s.get_ref()
            ),
        );
    }
    n
}

impl Settings {
    /// Reads and validates a configuration file.
    pub fn load(path: &Path) -> Result<Settings, ConfigErrors> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            ConfigErrors(vec![ConfigError {
                file: path.display().to_string(),
                line: 0,
                column: 0,
                message: format!("cannot read the file: {e}"),
            }])
        })?;
        Self::parse(&text, path)
    }

    /// Parses and validates configuration text; `path` names the file in errors and anchors relative paths.
    pub fn parse(text: &str, path: &Path) -> Result<Settings, ConfigErrors> {
        let mut c = Collector {
            file: path.display().to_string(),
            text,
            errors: Vec::new(),
        };
        let file: GuardFile = match toml::from_str(text) {
            Ok(f) => f,
            Err(e) => {
                let span = e.span().unwrap_or(0..0);
                let mut msg = e.message().to_owned();
                if msg.starts_with("unknown field") {
                    msg.push_str(" (check the spelling against docs/inline-proxy.md)");
                }
                c.at(span, msg);
                return Err(ConfigErrors(c.errors));
            }
        };
        let base = path.parent().unwrap_or(Path::new("."));

        let mut listeners = Vec::new();
        // With only the HTTP decision API ([api]), no SIP listener is needed.
        if file.listen.is_empty() && file._api.is_none() {
            c.whole("no [[listen]] section: add one, e.g. [[listen]] address = \"0.0.0.0:5060\" transport = \"udp\" role = \"access\" (or an [api] table for the HTTP decision API alone)");
        }
        for l in &file.listen {
            let Some(address) = socket(&mut c, &l.address, "listen.address") else {
                continue;
            };
            let advertise = match &l.advertise {
                Some(a) => match socket(&mut c, a, "listen.advertise") {
                    Some(sa) => sa.to_string(),
                    None => continue,
                },
                None => {
                    if address.ip().is_unspecified() {
                        c.at(
                            l.address.span(),
                            "listen.address is a wildcard: add advertise = \"<the address peers reach>:<port>\" for Via and Record-Route",
                        );
                        continue;
                    }
                    address.to_string()
                }
            };
            if listeners
                .iter()
                .any(|x: &Listener| x.address == address && x.transport == l.transport)
            {
                c.at(
                    l.address.span(),
                    format!(
                        "listen.address {address} ({}) is listed twice",
                        l.transport.param()
                    ),
                );
            }
            let tls = match (l.transport, &l.tls_cert, &l.tls_key) {
                (TransportKind::Tls, Some(cert), Some(key)) => {
                    let (cert_p, key_p) = (base.join(cert.get_ref()), base.join(key.get_ref()));
                    if let Err(e) = crate::transport::tls_server_config(&cert_p, &key_p) {
                        c.at(cert.span(), format!("listen.tls_cert/tls_key: {e}"));
                    }
                    Some((cert_p, key_p))
                }
                (TransportKind::Tls, _, _) => {
                    c.at(
                        l.address.span(),
                        "a TLS listener needs tls_cert = \"<chain.pem>\" and tls_key = \"<key.pem>\"",
                    );
                    None
                }
                (_, Some(cert), _) => {
                    c.at(cert.span(), "tls_cert is only for transport = \"tls\"");
                    None
                }
                _ => None,
            };
            listeners.push(Listener {
                address,
                transport: l.transport,
                role: l.role,
                advertise,
                tls,
            });
        }
        for role in [Role::Access, Role::Pbx] {
            if !listeners.is_empty()
                && !listeners.iter().any(|l| l.role == role)
                && role == Role::Pbx
                && file.trunk.is_some()
                && !listeners.iter().any(|l| l.role == Role::Redirect)
            {
                c.whole("a [trunk] is configured but no listener has role = \"pbx\": point the PBX's trunk at a listener with role = \"pbx\"");
            }
        }
        for (name, p) in [("pbx", &file.pbx), ("trunk", &file.trunk)] {
            if let Some(p) = p
                && p.transport == TransportKind::Tls
            {
                c.at(
                    p.address.span(),
                    format!("{name}.transport = \"tls\" is not supported yet: the guard accepts TLS from phones; reach the {name} over udp or tcp"),
                );
            }
        }
        let pbx = match &file.pbx {
            Some(p) => socket(&mut c, &p.address, "pbx.address").map(|address| Peer {
                address,
                transport: p.transport,
                path: p.path,
            }),
            None => {
                c.whole("no [pbx] section: add [pbx] address = \"<PBX address>:5060\"");
                None
            }
        };
        let trunk = match &file.trunk {
            Some(p) => socket(&mut c, &p.address, "trunk.address").map(|address| Peer {
                address,
                transport: p.transport,
                path: false,
            }),
            None => None,
        };
        if trunk.is_none() && listeners.iter().any(|l| l.role == Role::Pbx) {
            c.whole("a listener has role = \"pbx\" but there is no [trunk]: add [trunk] address = \"<carrier>:5060\"");
        }
        let trusted: Vec<Network> = file
            .trusted
            .iter()
            .filter_map(|t| network(&mut c, t, "trusted"))
            .collect();

        let mut geo_problems = crate::geo::Problems::new();
        let geo = crate::geo::open_configured(&file.geo, base, &mut geo_problems);
        let mut tenants = Vec::new();
        for t in &file.tenant {
            let nets = t
                .pbx_sources
                .iter()
                .filter_map(|s| network(&mut c, s, "tenant.pbx_sources"))
                .collect();
            if t.account_from == AccountFrom::Header
                && t.account_header.as_deref().is_none_or(str::is_empty)
            {
                c.whole(format!(
                    "tenant \"{}\": account_from = \"header\" needs account_header = \"<header name>\"",
                    t.name
                ));
            }
            if tenants.iter().any(|x: &Tenant| x.name == t.name) {
                c.whole(format!("tenant \"{}\" is defined twice", t.name));
            }
            let numbers = t
                .numbers
                .iter()
                .filter_map(|n| {
                    let digits = n.get_ref().trim().trim_start_matches('+');
                    if digits.is_empty() || digits.len() > 15 || !digits.bytes().all(|b| b.is_ascii_digit()) {
                        c.at(n.span(), format!("\"{}\" is not an E.164 prefix: write the tenant's numbers with the country code, e.g. \"+8131234\"", n.get_ref()));
                        return None;
                    }
                    Some(digits.to_owned())
                })
                .collect();
            tenants.push(Tenant {
                name: t.name.clone(),
                pbx_sources: nets,
                accounts: t.accounts.clone(),
                account_from: t.account_from,
                account_header: t.account_header.clone(),
                numbers,
                login: crate::geo::login_limits(
                    &crate::geo::TenantLoginFile {
                        tenant: &t.name,
                        known_accounts: &t.accounts,
                        login_networks: &t.login_networks,
                        login_countries: &t.login_countries,
                        account_limits: &t.account_limits,
                    },
                    file.geo.configured(),
                    &mut geo_problems,
                ),
            });
        }
        if tenants.is_empty() {
            tenants.push(Tenant {
                name: String::new(),
                pbx_sources: Vec::new(),
                accounts: Vec::new(),
                account_from: AccountFrom::FromUser,
                account_header: None,
                numbers: Vec::new(),
                login: crate::geo::LoginLimits::default(),
            });
        }
        for (span, message) in geo_problems {
            c.at(span, message);
        }

        let (policy, policy_source) = match (&file.policy_file, &file.policy) {
            (Some(pf), Some(_)) => {
                c.at(pf.span(), "both policy_file and [policy] are set: keep one");
                (None, PolicySource::Default)
            }
            (Some(pf), None) => {
                let p = base.join(pf.get_ref());
                match std::fs::read_to_string(&p) {
                    Ok(t) => match Policy::from_toml_str(&t) {
                        Ok(pol) => (Some(pol), PolicySource::File(p)),
                        Err(e) => {
                            c.at(pf.span(), format!("policy file {}: {e}", p.display()));
                            (None, PolicySource::Default)
                        }
                    },
                    Err(e) => {
                        c.at(
                            pf.span(),
                            format!("policy_file {}: cannot read it: {e}", p.display()),
                        );
                        (None, PolicySource::Default)
                    }
                }
            }
            (None, Some(p)) => {
                let t = toml::to_string(p).unwrap_or_default();
                match Policy::from_toml_str(&t) {
                    Ok(pol) => (Some(pol), PolicySource::Inline),
                    Err(e) => {
                        // The policy is re-read from its own text: point at the key the error names, else at
                        // where the section starts.
                        let named = match &e {
                            engine::PolicyError::Syntax { message, .. } => {
                                policy_key_offset(text, message)
                            }
                            engine::PolicyError::Invalid(_) => None,
                        };
                        match named {
                            Some(at) => c.at(at..at, format!("[policy]: {e}")),
                            None => {
                                let at = policy_section_offset(text);
                                c.at(
                                    at..at,
                                    format!(
                                        "[policy]: {e} (the position is within the policy section)"
                                    ),
                                );
                            }
                        }
                        (None, PolicySource::Default)
                    }
                }
            }
            (None, None) => (Some(Policy::default()), PolicySource::Default),
        };
        if let Err(e) = numbering::Numbering::from_config(&file.numbering) {
            c.whole(format!("[numbering]: {e}"));
        }
        let level = file.log.level.clone().unwrap_or_else(|| "info".into());
        if !["error", "warn", "info", "debug", "trace"].contains(&level.as_str()) {
            c.whole(format!(
                "log.level \"{level}\" is not one of error, warn, info, debug, trace"
            ));
        }
        let speed = file.clock.speed.unwrap_or(1.0);
        if !(speed.is_finite() && (1.0..=10_000.0).contains(&speed)) {
            c.whole(format!(
                "clock.speed {speed} must be between 1 and 10000 (1 = real time; more is for tests only)"
            ));
        }
        let block_status = file.enforce.block_status.as_ref().map(|b| *b.get_ref());
        if let Some(b) = &file.enforce.block_status
            && !(400..=699).contains(b.get_ref())
        {
            c.at(
                b.span(),
                format!(
                    "enforce.block_status {} is not a final error status: use 403, 480, 503 or 603",
                    b.get_ref()
                ),
            );
        }
        let transport = transport_limits(&mut c, &file.transport);
        let redirect = redirect(&mut c, &file.redirect, &listeners, trunk.as_ref());
        let hep = hep(&mut c, &file.hep, &listeners);
        let mut url = |u: &Option<Spanned<String>>, what: &str| {
            let u = u.as_ref()?;
            let v = u.get_ref().trim();
            if !(v.starts_with("http://") || v.starts_with("https://")) {
                c.at(
                    u.span(),
                    format!("{what} \"{v}\" is not an http:// or https:// URL"),
                );
            }
            Some(v.to_owned())
        };
        let end_call = crate::end_call::EndCallConfig {
            kamailio_jsonrpc: url(&file.end_call.kamailio_jsonrpc, "end_call.kamailio_jsonrpc"),
            webhook: url(&file.end_call.webhook, "end_call.webhook"),
        };
        let max_dialogs = file.dialogs.max.unwrap_or(100_000);
        if max_dialogs == 0 {
            c.whole("dialogs.max must be at least 1");
        }

        match (pbx, policy, c.errors.is_empty()) {
            (Some(pbx), Some(policy), true) => Ok(Settings {
                listeners,
                pbx,
                trunk,
                trusted,
                tenants,
                policy,
                policy_source,
                numbering: file.numbering,
                store_path: file.store.path.map(|p| base.join(p)),
                snapshot_secs: file.store.snapshot_secs.unwrap_or(60).max(1),
                log_json: file.log.json,
                log_level: level,
                banned: file.enforce.banned,
                scanner_fingerprints: file.enforce.scanner_fingerprints.unwrap_or(true),
                request_window_secs: file.enforce.request_window_secs.unwrap_or(10).max(1),
                block_status,
                weak_password: file.enforce.weak_password,
                max_dialogs,
                max_call_secs: file.dialogs.max_call_secs.unwrap_or(4 * 3600).max(1),
                clock_speed: speed,
                clock_start_ms: file.clock.start_ms,
                transport,
                geo,
                redirect,
                hep,
                end_call,
            }),
            _ => {
                if c.errors.is_empty() {
                    c.whole("the configuration is incomplete");
                }
                Err(ConfigErrors(c.errors))
            }
        }
    }

    /// Reads the policy again from where it came from (SIGHUP). An inline policy is re-read from the file.
    pub fn reload_policy(config_path: &Path) -> Result<Policy, ConfigErrors> {
        Settings::load(config_path).map(|s| s.policy)
    }

    /// What the decision layer needs of this configuration: tenants, the sources never banned (peers and
    /// trusted networks), the PBX whose tenant owns access-side logins, the block status and the geo database.
    pub fn decide_config(&self) -> decide::DecideConfig {
        let host = |a: SocketAddr| Network {
            addr: a.ip().to_canonical(),
            prefix: if a.is_ipv4() || a.ip().to_canonical().is_ipv4() {
                32
            } else {
                128
            },
        };
        let mut protected = self.trusted.clone();
        protected.push(host(self.pbx.address));
        protected.extend(self.trunk.map(|t| host(t.address)));
        decide::DecideConfig {
            tenants: decide::Tenants(self.tenants.clone()),
            protected,
            pbx: Some(self.pbx.address.ip()),
            block_status: self.block_status,
            geo: self.geo.clone(),
            weak_password: self.weak_password,
        }
    }

    /// True when the address is in a trusted network (never banned).
    pub fn is_trusted(&self, ip: IpAddr) -> bool {
        self.trusted.iter().any(|n| n.contains(ip))
            || ip == self.pbx.address.ip()
            || self.trunk.is_some_and(|t| t.address.ip() == ip)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
trusted = ["192.168.1.0/24", "::1"]

[[listen]]
address = "127.0.0.1:5060"
transport = "udp"
role = "access"

[[listen]]
address = "[::1]:5062"
transport = "tcp"
role = "pbx"

[pbx]
address = "127.0.0.1:5070"

[trunk]
address = "127.0.0.1:5080"
transport = "udp"

[[tenant]]
name = "acme"
pbx_sources = ["127.0.0.1"]
account_from = "header"
account_header = "X-Account"

[policy.defaults.rules.velocity_account_minute]
critical = 3

[store]
path = "guard.db"

[log]
json = true
"#;

    fn parse(t: &str) -> Result<Settings, ConfigErrors> {
        Settings::parse(t, Path::new("/etc/tollguard/guard.toml"))
    }

    #[test]
    fn good_file_parses_with_defaults() {
        let s = parse(GOOD).unwrap();
        assert_eq!(s.listeners.len(), 2);
        assert_eq!(s.listeners[1].role, Role::Pbx);
        assert_eq!(s.listeners[1].advertise, "[::1]:5062");
        assert_eq!(s.pbx.address.port(), 5070);
        assert_eq!(s.tenants[0].account_from, AccountFrom::Header);
        assert_eq!(
            s.policy.profile(0).rules.velocity_account_minute.critical,
            Some(3)
        );
        assert_eq!(s.policy_source, PolicySource::Inline);
        assert_eq!(
            s.store_path.as_deref(),
            Some(Path::new("/etc/tollguard/guard.db"))
        );
        assert!(s.log_json);
        assert_eq!(s.banned, BannedAction::Drop);
        assert!(s.is_trusted("192.168.1.77".parse().unwrap()));
        assert!(
            s.is_trusted("127.0.0.1".parse().unwrap()),
            "the PBX is trusted"
        );
        assert!(!s.is_trusted("203.0.113.9".parse().unwrap()));
    }

    #[test]
    fn unknown_field_names_its_line_and_column() {
        let t = GOOD.replace("transport = \"tcp\"", "transprot = \"tcp\"");
        let e = parse(&t).unwrap_err();
        let first = &e.0[0];
        assert_eq!(first.line, 11, "{first}");
        assert!(first.message.contains("transprot"), "{first}");
        assert!(
            first
                .to_string()
                .starts_with("/etc/tollguard/guard.toml:11:")
        );
    }

    #[test]
    fn bad_address_and_network_are_located() {
        let t = GOOD
            .replace("127.0.0.1:5070", "pbx.example:5070")
            .replace("192.168.1.0/24", "192.168.1.0/33");
        let e = parse(&t).unwrap_err();
        assert_eq!(e.0.len(), 2, "{e}");
        assert!(
            e.0.iter()
                .any(|x| x.line == 2 && x.message.contains("not a network"))
        );
        assert!(
            e.0.iter()
                .any(|x| x.line == 15 && x.message.contains("address:port"))
        );
    }

    #[test]
    fn missing_sections_and_wildcards_are_explained() {
        let e = parse("[[listen]]\naddress = \"0.0.0.0:5060\"\n").unwrap_err();
        let text = e.to_string();
        assert!(text.contains("advertise"), "{text}");
        assert!(text.contains("no [pbx]"), "{text}");
        let e = parse("[pbx]\naddress = \"127.0.0.1:5070\"\n").unwrap_err();
        assert!(e.to_string().contains("no [[listen]]"));
    }

    /// A `[policy.sources]` key out of range is reported at its own line, with the key's name and range.
    #[test]
    fn a_flood_limit_out_of_range_is_reported_at_its_line() {
        let t = format!("{GOOD}\n[policy.sources]\nmax_bans = 50\nflood_burst = 1\n");
        let line = t.lines().count();
        let e = parse(&t).unwrap_err();
        assert_eq!(e.0.len(), 1, "{e}");
        assert_eq!(e.0[0].line, line, "{e}");
        assert!(e.0[0].message.contains("sources.flood_burst = 1"), "{e}");
        let ok = parse(&format!(
            "{GOOD}\n[policy.sources]\nflood_burst = 20\nflood_window_ms = 200\n"
        ))
        .unwrap();
        assert_eq!(
            (
                ok.policy.sources.flood_burst,
                ok.policy.sources.flood_window_ms
            ),
            (20, 200)
        );
    }

    #[test]
    fn bad_inline_policy_is_reported_at_the_policy_section() {
        let t = GOOD.replace("critical = 3", "critical = -3");
        let e = parse(&t).unwrap_err();
        assert!(e.0[0].message.contains("[policy]"), "{e}");
        assert!(e.0[0].line >= 27, "{e}");
    }

    #[test]
    fn header_account_needs_a_header_name() {
        let t = GOOD.replace("account_header = \"X-Account\"\n", "");
        assert!(
            parse(&t)
                .unwrap_err()
                .to_string()
                .contains("account_header")
        );
    }

    #[test]
    fn networks_match_v4_v6_and_mapped() {
        let n = Network::parse("10.1.0.0/16").unwrap();
        assert!(n.contains("10.1.200.3".parse().unwrap()));
        assert!(!n.contains("10.2.0.1".parse().unwrap()));
        assert!(n.contains("::ffff:10.1.0.9".parse().unwrap()));
        let all = Network::parse("0.0.0.0/0").unwrap();
        assert!(all.contains("8.8.8.8".parse().unwrap()));
        let v6 = Network::parse("2001:db8::/32").unwrap();
        assert!(v6.contains("2001:db8:1::5".parse().unwrap()));
        assert!(!v6.contains("10.0.0.1".parse().unwrap()));
        assert!(Network::parse("10.0.0.0/40").is_none());
    }
}
