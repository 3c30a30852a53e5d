//! What `cargo xtask bench` needs from valgrind's callgrind: a keep-alive
//! HTTP/1.1 client to drive a host with, and a reader of callgrind's output
//! files (the dump's total, self cost per function, inclusive cost per call
//! edge), so no `callgrind_annotate` output has to be scraped.

use anyhow::{Context as _, bail};
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// One keep-alive HTTP/1.1 connection, on which GETs are sent one after
/// another (each response read whole before the next request).
pub struct KeepAlive {
    reader: BufReader<TcpStream>,
}

impl KeepAlive {
    /// Connects to `addr` (`127.0.0.1:<port>`).
    pub fn connect(addr: &str) -> anyhow::Result<KeepAlive> {
        let stream = TcpStream::connect(addr).with_context(|| format!("connecting to {addr}"))?;
        // Hosts under valgrind answer in milliseconds, but not always.
        stream.set_read_timeout(Some(Duration::from_secs(120)))?;
        stream.set_nodelay(true)?;
        Ok(KeepAlive {
            reader: BufReader::new(stream),
        })
    }

    /// Sends `GET path` with `headers` (whole lines, `name: value`) and
    /// reads the response; returns its status. Fails if the host closes the
    /// connection or would (`connection: close`).
    pub fn get(&mut self, path: &str, headers: &[String]) -> anyhow::Result<u16> {
        let mut request = format!("GET {path} HTTP/1.1\r\nhost: 127.0.0.1\r\n");
        for header in headers {
            request.push_str(header);
            request.push_str("\r\n");
        }
        request.push_str("\r\n");
        self.reader.get_mut().write_all(request.as_bytes())?;
        let mut line = String::new();
        self.line(&mut line)?;
        let status: u16 = line
            .split_whitespace()
            .nth(1)
            .and_then(|code| code.parse().ok())
            .with_context(|| format!("bad status line {line:?}"))?;
        let (mut length, mut chunked) = (None, false);
        loop {
            self.line(&mut line)?;
            if line.is_empty() {
                break;
            }
            let Some((name, value)) = line.split_once(':') else {
                continue;
            };
            let value = value.trim().to_ascii_lowercase();
            match name.trim().to_ascii_lowercase().as_str() {
                "content-length" => length = Some(value.parse::<usize>()?),
                "transfer-encoding" => chunked = value.contains("chunked"),
                "connection" if value.contains("close") => {
                    bail!("the host closes the connection after GET {path}")
                }
                _ => {}
            }
        }
        if chunked {
            loop {
                self.line(&mut line)?;
                let size = line.split(';').next().unwrap_or("").trim();
                let size = usize::from_str_radix(size, 16)
                    .with_context(|| format!("bad chunk size {line:?}"))?;
                if size == 0 {
                    // Trailers, up to the empty line.
                    while {
                        self.line(&mut line)?;
                        !line.is_empty()
                    } {}
                    break;
                }
                self.skip(size + 2)?;
            }
        } else if let Some(length) = length {
            self.skip(length)?;
        } else if !(status == 204 || status == 304 || (100..200).contains(&status)) {
            bail!("GET {path}: a response without length ends with the connection");
        }
        Ok(status)
    }

    /// Reads one line into `line`, without its line end.
    fn line(&mut self, line: &mut String) -> anyhow::Result<()> {
        line.clear();
        if self.reader.read_line(line)? == 0 {
            bail!("the host closed the connection");
        }
        line.truncate(line.trim_end_matches(['\r', '\n']).len());
        Ok(())
    }

    fn skip(&mut self, bytes: usize) -> anyhow::Result<()> {
        let copied = std::io::copy(
            &mut (&mut self.reader).take(bytes as u64),
            &mut std::io::sink(),
        )?;
        if copied < bytes as u64 {
            bail!("the host closed the connection within a body");
        }
        Ok(())
    }
}

/// A function of a callgrind dump: its object (`???` when callgrind knows
/// none, as for JIT-compiled code) and its (demangled) name.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Function {
    pub object: String,
    pub name: String,
}

/// One callgrind dump, reduced to instruction counts (event `Ir`).
#[derive(Debug, Default)]
pub struct Profile {
    /// Every instruction of the dump (its `totals:` or `summary:` line).
    pub total: u64,
    /// Every function that ran or was called.
    pub functions: Vec<Function>,
    /// Instructions in each function itself (indexed like `functions`).
    pub self_cost: Vec<u64>,
    /// `(caller, callee, instructions)`: the inclusive cost of the calls
    /// from one function to another.
    pub calls: Vec<(usize, usize, u64)>,
}

impl Profile {
    /// Parses a callgrind output file (format of valgrind 3.x: relative
    /// positions, `calls=` lines followed by the call's inclusive cost; name
    /// compression within the file, so dumps after the first of a run need
    /// `--compress-strings=no`, since their names may be defined only in an
    /// earlier dump). Checks that the self costs add up to the
    /// total, so a misread file fails rather than giving wrong rows.
    pub fn parse(text: &str) -> anyhow::Result<Profile> {
        let mut profile = Profile::default();
        let mut index: HashMap<Function, usize> = HashMap::new();
        // Name compression: `(id) name` defines, `(id)` refers.
        let mut objects: HashMap<String, String> = HashMap::new();
        let mut names: HashMap<String, String> = HashMap::new();
        let expand = |table: &mut HashMap<String, String>, value: &str| -> String {
            let value = value.trim();
            if let Some(rest) = value.strip_prefix('(')
                && let Some((id, name)) = rest.split_once(')')
                && id.bytes().all(|b| b.is_ascii_digit())
            {
                let name = name.trim();
                if name.is_empty() {
                    return table.get(id).cloned().unwrap_or_else(|| "???".into());
                }
                table.insert(id.to_string(), name.to_string());
                return name.to_string();
            }
            value.to_string()
        };
        let mut intern = |profile: &mut Profile, function: Function| -> usize {
            *index.entry(function.clone()).or_insert_with(|| {
                profile.functions.push(function);
                profile.self_cost.push(0);
                profile.functions.len() - 1
            })
        };
        let (mut positions, mut ir_column) = (1, 0);
        let mut object = String::from("???");
        let mut current: Option<usize> = None;
        let mut callee_object: Option<String> = None;
        let mut callee: Option<usize> = None;
        let mut call_cost_next = false;
        let (mut totals, mut summary) = (None, None);
        for line in text.lines() {
            let line = line.trim_end();
            let Some(first) = line.chars().next() else {
                continue;
            };
            if first.is_ascii_digit() || matches!(first, '+' | '-' | '*') {
                let ir: u64 = line
                    .split_whitespace()
                    .nth(positions + ir_column)
                    .map_or(Ok(0), str::parse)
                    .with_context(|| format!("bad cost line {line:?}"))?;
                if call_cost_next {
                    call_cost_next = false;
                    let (Some(caller), Some(target)) = (current, callee.take()) else {
                        bail!("a call outside a function: {line:?}");
                    };
                    profile.calls.push((caller, target, ir));
                    callee_object = None;
                } else {
                    let Some(function) = current else {
                        bail!("a cost outside a function: {line:?}");
                    };
                    profile.self_cost[function] += ir;
                }
                continue;
            }
            let Some((key, value)) = line.split_once(['=', ':']) else {
                continue;
            };
            match key {
                "positions" => positions = value.split_whitespace().count().max(1),
                "events" => {
                    ir_column = value
                        .split_whitespace()
                        .position(|event| event == "Ir")
                        .context("the dump counts no Ir")?
                }
                "totals" | "summary" => {
                    let ir = value.split_whitespace().nth(ir_column).map(str::parse);
                    *(if key == "totals" {
                        &mut totals
                    } else {
                        &mut summary
                    }) = ir.transpose()?;
                }
                "ob" => object = expand(&mut objects, value),
                "cob" => callee_object = Some(expand(&mut objects, value)),
                "fn" => {
                    let name = expand(&mut names, value);
                    let function = Function {
                        object: object.clone(),
                        name,
                    };
                    current = Some(intern(&mut profile, function));
                }
                "cfn" => {
                    let name = expand(&mut names, value);
                    let function = Function {
                        object: callee_object.clone().unwrap_or_else(|| object.clone()),
                        name,
                    };
                    callee = Some(intern(&mut profile, function));
                }
                "calls" => call_cost_next = true,
                _ => {}
            }
        }
        // `totals:` (the sum of the dumped costs) rather than `summary:`
        // (the counter when the dump was triggered, a few hundred
        // instructions off).
        profile.total = totals
            .or(summary)
            .context("the dump has no totals: or summary: line")?;
        let sum: u64 = profile.self_cost.iter().sum();
        if sum != profile.total {
            bail!(
                "the functions' self costs add up to {sum}, the dump's total is {}",
                profile.total
            );
        }
        Ok(profile)
    }

    /// Self cost of the functions `pick` selects.
    pub fn self_of(&self, pick: impl Fn(&Function) -> bool) -> u64 {
        self.functions
            .iter()
            .zip(&self.self_cost)
            .filter(|(function, _)| pick(function))
            .map(|(_, cost)| cost)
            .sum()
    }

    /// Inclusive cost of the functions `pick` selects: every instruction
    /// spent in them or in what they call, counted once (calls among them
    /// are not added again). A function that was inlined has none.
    pub fn inclusive_of(&self, pick: impl Fn(&Function) -> bool) -> u64 {
        let picked: Vec<bool> = self.functions.iter().map(pick).collect();
        self.calls
            .iter()
            .filter(|&&(caller, callee, _)| picked[callee] && !picked[caller])
            .map(|&(_, _, cost)| cost)
            .sum()
    }

    /// The `count` functions with the highest self cost, highest first.
    pub fn top_self(&self, count: usize) -> Vec<(&Function, u64)> {
        let mut all: Vec<(&Function, u64)> = self
            .functions
            .iter()
            .zip(self.self_cost.iter().copied())
            .collect();
        all.sort_by_key(|&(_, cost)| std::cmp::Reverse(cost));
        all.truncate(count);
        all
    }
}

/// The crate a demangled Rust function name belongs to: the first path
/// segment, after `<` (of `<Type as Trait>::f`, the type's crate) and
/// `core::ptr::drop_in_place<…>` (the dropped type's crate). Generic code
/// counts where it is defined, not where it was instantiated.
pub fn crate_of(name: &str) -> &str {
    let mut name = name;
    loop {
        let trimmed = name.trim_start_matches(['<', '&', '*', '(', '[', ' ']);
        let trimmed = ["mut ", "const ", "dyn "]
            .iter()
            .fold(trimmed, |n, prefix| n.strip_prefix(prefix).unwrap_or(n));
        let trimmed = trimmed
            .strip_prefix("core::ptr::drop_in_place<")
            .unwrap_or(trimmed);
        if trimmed == name {
            break;
        }
        name = trimmed;
    }
    let end = name
        .find(|c: char| !(c.is_alphanumeric() || c == '_'))
        .unwrap_or(name.len());
    &name[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A dump as valgrind 3.19 writes it (name compression, a call with
    /// its inclusive cost, an object change, a JIT function in `???`).
    const DUMP: &str = "\
version: 1
creator: callgrind-3.19.0
pid: 42
cmd:  host serve
part: 1

desc: I1 cache:
positions: line
events: Ir
summary: 1003

ob=(1) /usr/bin/host
fl=(1) ???
fn=(1) tokio::runtime::park
0 100
cob=(2) /usr/lib/x86_64-linux-gnu/libc.so.6
cfi=(2) ???
cfn=(2) malloc
calls=2 0
0 300
+3 50

ob=(2)
fl=(2)
fn=(2)
0 250
cfn=(3) 0x0000000000123456
calls=1 0
0 50
fn=(3)
0 50

ob=(3) ???
fl=(1)
fn=(4) 0x0000000004001000
0 550
totals: 1000
";

    #[test]
    fn reads_self_and_inclusive_costs() {
        let profile = Profile::parse(DUMP).unwrap();
        assert_eq!(profile.total, 1000);
        assert_eq!(profile.self_of(|f| f.name.starts_with("tokio::")), 150);
        assert_eq!(profile.self_of(|f| f.name == "malloc"), 250);
        assert_eq!(profile.self_of(|f| f.object == "???"), 550);
        // malloc plus the unnamed function it calls.
        assert_eq!(profile.inclusive_of(|f| f.name == "malloc"), 300);
        assert_eq!(profile.top_self(1)[0].0.object, "???");
    }

    #[test]
    fn rejects_costs_that_do_not_add_up() {
        let broken = DUMP.replace("totals: 1000", "totals: 999");
        assert!(Profile::parse(&broken).is_err());
    }

    #[test]
    fn names_the_crate() {
        assert_eq!(crate_of("tokio::runtime::task::raw::poll"), "tokio");
        assert_eq!(
            crate_of("<hyper_util::rt::tokio::TokioIo<T> as hyper::rt::io::Read>::poll_read"),
            "hyper_util"
        );
        assert_eq!(
            crate_of("core::ptr::drop_in_place<tracing::span::Span>"),
            "tracing"
        );
        assert_eq!(crate_of("<&mut W as core::fmt::Write>::write_str"), "W");
        assert_eq!(crate_of("malloc"), "malloc");
    }
}
