//! What changes, capability-wise, between two versions of a service.
//!
//! Before a deploy replaces the active version of a service, the host (and
//! the operator) want to know whether the candidate may do more than the
//! active version: reach a new origin, open a new socket, see a new
//! directory, write where it could only read, publish to a new topic,
//! receive messages it did not, use more memory, open another key-value
//! store. A
//! [`CapabilityDiff`] lists every difference, and
//! [`escalations`](CapabilityDiff::escalations) picks out the ones that give
//! the candidate more.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::{FileGrant, ServiceSpec, Subscription, Variable, topic_pattern_covers};

/// The differences in what two versions of a service may do, made by
/// [`CapabilityDiff::between`].
///
/// Changes come grouped by kind, in the order of [`ChangeKind`]; within a
/// kind, removals first, then changes, then additions. Displays one change
/// per line (see [`Change`]), nothing when empty.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CapabilityDiff {
    /// Every difference; empty when both versions may do the same.
    pub changes: Vec<Change>,
}

/// One difference between the active and the candidate version.
///
/// Displays as one line: a sign (`+` added, `-` removed, `~` widened,
/// narrowed or changed), the manifest key, and [`detail`](Self::detail):
///
/// ```text
/// + outbound https://api.example.com:443
/// - files /data -> /srv/data (read-only)
/// ~ files /data -> /srv/data (read-write, was read-only)
/// + sockets 10.0.0.0/8:*
/// + publish orders.>
/// + subscriptions orders.created (queue inventory)
/// ~ subscriptions orders.* retries 5 -> 3
/// ~ subscriptions orders.* dead_letter orders.failed -> dlq.inventory
/// ~ variables.GREETING value changed
/// ~ limits.memory 64 MiB -> 256 MiB (more)
/// + key_value_stores cache
/// - routes /old/...
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    /// What changed.
    pub kind: ChangeKind,
    /// How it changed.
    pub direction: Direction,
    /// Human-readable, without the kind: an origin
    /// (`https://api.example.com:443`), a file grant (`/data -> /srv/data
    /// (read-write, was read-only)`), a socket pattern (`10.0.0.0/8:*`), a
    /// topic pattern (`orders.>`), a subscription (`orders.created (queue
    /// inventory)`, `orders.* retries 5 -> 3`, `orders.* now durable`), a
    /// dead-letter subject (`orders.* dead_letter orders.failed ->
    /// dlq.inventory`), a variable name, never its value (`GREETING`,
    /// `GREETING value changed`), a limit (`memory 64 MiB -> 256 MiB`) or a
    /// route (`/api/...`).
    pub detail: String,
}

/// What a [`Change`] is about: a manifest key of the service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ChangeKind {
    /// An origin in `outbound`.
    Outbound,
    /// A directory in `files`.
    File,
    /// An address pattern in `sockets`.
    Socket,
    /// A topic pattern in `publish`.
    Publish,
    /// An entry of `subscriptions`, identified by its topic and queue group:
    /// added or removed, or its `max_in_flight`, `retries` or `durable`
    /// changed ([`Direction::Changed`], not an escalation: they change how,
    /// not what, the service receives).
    Subscription,
    /// The `dead_letter` of a subscription both versions have, changed: the
    /// host publishes the deliveries the service failed to another subject,
    /// so always an escalation, like an added `publish` pattern (even when
    /// a `publish` pattern of the active version covers the new subject).
    /// Displayed under `subscriptions`.
    DeadLetter,
    /// A variable in `variables`.
    Variable,
    /// A limit in `limits`.
    Limit,
    /// A store name in `key_value_stores`: an added one lets the candidate
    /// read and write data other services granted the same store share.
    KeyValueStore,
    /// A path in `routes`: what the service answers, not what it may do, so
    /// never an escalation.
    Route,
}

/// How a [`Change`] changed, from the active version to the candidate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Direction {
    /// Only the candidate has it.
    Added,
    /// Only the active version has it.
    Removed,
    /// Both have it; the candidate's allows more (a directory now
    /// read-write, a larger limit).
    Widened,
    /// Both have it; the candidate's allows less.
    Narrowed,
    /// Both have it, differently, neither more nor less: a directory mapped
    /// from another host directory, a variable with another value.
    Changed,
}

impl ChangeKind {
    /// The manifest key of the service the kind is about.
    fn key(self) -> &'static str {
        match self {
            ChangeKind::Outbound => "outbound",
            ChangeKind::File => "files",
            ChangeKind::Socket => "sockets",
            ChangeKind::Publish => "publish",
            ChangeKind::Subscription | ChangeKind::DeadLetter => "subscriptions",
            ChangeKind::Variable => "variables",
            ChangeKind::Limit => "limits",
            ChangeKind::KeyValueStore => "key_value_stores",
            ChangeKind::Route => "routes",
        }
    }
}

impl Change {
    /// Whether the change gives the candidate more than the active version
    /// had: an added grant (origin, directory, socket pattern, topic
    /// pattern, subscription, variable, key-value store), a widened directory or limit, a
    /// directory mapped from another host directory, or a changed
    /// dead-letter subject. Removals, narrowings, changed variable values,
    /// changed subscription settings and route changes are not.
    pub fn is_escalation(&self) -> bool {
        match (self.kind, self.direction) {
            (ChangeKind::Route, _) => false,
            (_, Direction::Added | Direction::Widened) => true,
            (ChangeKind::File | ChangeKind::DeadLetter, Direction::Changed) => true,
            _ => false,
        }
    }
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = match self.direction {
            Direction::Added => '+',
            Direction::Removed => '-',
            Direction::Widened | Direction::Narrowed | Direction::Changed => '~',
        };
        // Variables and limits are keyed (`limits.memory`); the others are
        // lists.
        let separator = match self.kind {
            ChangeKind::Variable | ChangeKind::Limit => '.',
            _ => ' ',
        };
        write!(f, "{sign} {}{separator}{}", self.kind.key(), self.detail)?;
        match (self.kind, self.direction) {
            (ChangeKind::Limit, Direction::Widened) => f.write_str(" (more)"),
            (ChangeKind::Limit, Direction::Narrowed) => f.write_str(" (less)"),
            _ => Ok(()),
        }
    }
}

impl fmt::Display for CapabilityDiff {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, change) in self.changes.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{change}")?;
        }
        Ok(())
    }
}

impl CapabilityDiff {
    /// What the `candidate` version of a service may do differently from
    /// the `active` one.
    ///
    /// Grants are compared by what they allow, not how they are written: an
    /// origin, socket pattern or topic pattern covered by one on the other
    /// side (the same origin with its default port spelled out,
    /// `10.1.2.3:5432` next to `10.0.0.0/8:*`, `orders.*` next to
    /// `orders.>`) is neither added nor removed. Directories are matched by
    /// guest path. Subscriptions are matched by topic and queue group, as
    /// written: a subscription to `orders.created` next to one to
    /// `orders.>` is still a new subscription, delivered on its own.
    /// Variables are matched by name and their values are never shown. The
    /// version label and the component are not compared.
    pub fn between(active: &ServiceSpec, candidate: &ServiceSpec) -> Self {
        let mut diff = Differ::default();
        diff.grants(
            ChangeKind::Outbound,
            &active.outbound,
            &candidate.outbound,
            |wide, narrow| wide.covers(narrow),
            |origin| origin.canonical(),
        );
        diff.files(&active.files, &candidate.files);
        diff.grants(
            ChangeKind::Socket,
            &active.sockets,
            &candidate.sockets,
            |wide, narrow| wide.covers(narrow),
            ToString::to_string,
        );
        diff.grants(
            ChangeKind::Publish,
            &active.publish,
            &candidate.publish,
            |wide, narrow| topic_pattern_covers(wide, narrow),
            Clone::clone,
        );
        diff.subscriptions(&active.subscriptions, &candidate.subscriptions);
        diff.variables(active, candidate);
        diff.limits(active, candidate);
        diff.grants(
            ChangeKind::KeyValueStore,
            &active.key_value_stores,
            &candidate.key_value_stores,
            |a, b| a == b,
            Clone::clone,
        );
        diff.grants(
            ChangeKind::Route,
            &active.routes,
            &candidate.routes,
            |a, b| a == b,
            ToString::to_string,
        );
        CapabilityDiff {
            changes: diff.changes,
        }
    }

    /// Whether both versions may do the same.
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    /// Changes that give the candidate more than the active version had
    /// (see [`Change::is_escalation`]).
    pub fn escalations(&self) -> impl Iterator<Item = &Change> {
        self.changes.iter().filter(|change| change.is_escalation())
    }

    /// Whether any change gives the candidate more than the active version
    /// had.
    pub fn escalates(&self) -> bool {
        self.escalations().next().is_some()
    }
}

/// Collects changes, kind by kind.
#[derive(Default)]
struct Differ {
    changes: Vec<Change>,
}

impl Differ {
    fn push(&mut self, kind: ChangeKind, direction: Direction, detail: String) {
        self.changes.push(Change {
            kind,
            direction,
            detail,
        });
    }

    /// List grants: what one side has that nothing on the other side
    /// `covers`, each shown once.
    fn grants<T>(
        &mut self,
        kind: ChangeKind,
        active: &[T],
        candidate: &[T],
        covers: impl Fn(&T, &T) -> bool,
        show: impl Fn(&T) -> String,
    ) {
        let mut one_side = |from: &[T], other: &[T], direction: Direction| {
            let mut shown: Vec<String> = Vec::new();
            for grant in from {
                if other.iter().any(|wide| covers(wide, grant)) {
                    continue;
                }
                let detail = show(grant);
                if !shown.contains(&detail) {
                    shown.push(detail.clone());
                    self.push(kind, direction, detail);
                }
            }
        };
        one_side(active, candidate, Direction::Removed);
        one_side(candidate, active, Direction::Added);
    }

    /// Directory grants, matched by guest path.
    fn files(&mut self, active: &[FileGrant], candidate: &[FileGrant]) {
        let mut active_left = unique(active);
        let mut candidate_left = Vec::new();
        for grant in unique(candidate) {
            match active_left.iter().position(|a| *a == grant) {
                Some(same) => {
                    active_left.remove(same);
                }
                None => candidate_left.push(grant),
            }
        }
        let mut paired = Vec::new();
        let mut added = Vec::new();
        for grant in candidate_left {
            match active_left.iter().position(|a| a.path == grant.path) {
                Some(was) => paired.push((active_left.remove(was), grant)),
                None => added.push(grant),
            }
        }

        for was in active_left {
            self.push(ChangeKind::File, Direction::Removed, file(was));
        }
        for (was, now) in paired {
            let (direction, was_text) = if was.source != now.source {
                let was_text = if was.writable == now.writable {
                    was.source.display().to_string()
                } else {
                    format!("{}, {}", was.source.display(), mode(was.writable))
                };
                (Direction::Changed, was_text)
            } else if now.writable {
                (Direction::Widened, mode(was.writable).to_owned())
            } else {
                (Direction::Narrowed, mode(was.writable).to_owned())
            };
            let detail = format!(
                "{} -> {} ({}, was {was_text})",
                now.path,
                now.source.display(),
                mode(now.writable)
            );
            self.push(ChangeKind::File, direction, detail);
        }
        for now in added {
            self.push(ChangeKind::File, Direction::Added, file(now));
        }
    }

    /// Subscriptions, matched by topic and queue group: removed, settings
    /// changed, added, then dead-letter subjects changed.
    fn subscriptions(&mut self, active: &[Subscription], candidate: &[Subscription]) {
        fn find<'s>(all: &'s [Subscription], like: &Subscription) -> Option<&'s Subscription> {
            all.iter()
                .find(|s| s.topic == like.topic && s.queue_group == like.queue_group)
        }
        let kind = ChangeKind::Subscription;
        for was in active {
            if find(candidate, was).is_none() {
                self.push(kind, Direction::Removed, subscription(was));
            }
        }
        let mut dead_letters = Vec::new();
        for was in active {
            let Some(now) = find(candidate, was) else {
                continue;
            };
            let name = subscription(now);
            if now.max_in_flight != was.max_in_flight {
                let detail = format!(
                    "{name} max_in_flight {} -> {}",
                    was.max_in_flight, now.max_in_flight
                );
                self.push(kind, Direction::Changed, detail);
            }
            if now.retries != was.retries {
                let detail = format!("{name} retries {} -> {}", was.retries, now.retries);
                self.push(kind, Direction::Changed, detail);
            }
            if now.durable != was.durable {
                let what = if now.durable {
                    "now durable"
                } else {
                    "no longer durable"
                };
                self.push(kind, Direction::Changed, format!("{name} {what}"));
            }
            if now.dead_letter != was.dead_letter {
                dead_letters.push(format!(
                    "{name} dead_letter {} -> {}",
                    was.dead_letter, now.dead_letter
                ));
            }
        }
        for now in candidate {
            if find(active, now).is_none() {
                self.push(kind, Direction::Added, subscription(now));
            }
        }
        for detail in dead_letters {
            self.push(ChangeKind::DeadLetter, Direction::Changed, detail);
        }
    }

    /// Variables, matched by name; values are never shown.
    fn variables(&mut self, active: &ServiceSpec, candidate: &ServiceSpec) {
        fn find<'s>(spec: &'s ServiceSpec, name: &str) -> Option<&'s Variable> {
            spec.variables.iter().find(|variable| variable.name == name)
        }
        for was in &active.variables {
            if find(candidate, &was.name).is_none() {
                self.push(ChangeKind::Variable, Direction::Removed, was.name.clone());
            }
        }
        for was in &active.variables {
            let Some(now) = find(candidate, &was.name) else {
                continue;
            };
            // A value that now reads the host's environment can hand the
            // guest any secret of the host (the admin token, a cloud key):
            // that is a new capability, not an edit.
            let new_env: Vec<&str> = now
                .host_env
                .iter()
                .filter(|name| !was.host_env.contains(name))
                .map(String::as_str)
                .collect();
            if !new_env.is_empty() {
                self.push(
                    ChangeKind::Variable,
                    Direction::Widened,
                    format!(
                        "{} now reads host environment {}",
                        now.name,
                        new_env.join(", ")
                    ),
                );
                continue;
            }
            let what = if now.value != was.value {
                "value changed"
            } else if now.secret != was.secret {
                if now.secret {
                    "now secret"
                } else {
                    "no longer secret"
                }
            } else {
                continue;
            };
            self.push(
                ChangeKind::Variable,
                Direction::Changed,
                format!("{} {what}", now.name),
            );
        }
        for now in &candidate.variables {
            if find(active, &now.name).is_none() {
                self.push(ChangeKind::Variable, Direction::Added, now.name.clone());
            }
        }
    }

    /// Every limit, by its manifest key: larger is widened.
    fn limits(&mut self, active: &ServiceSpec, candidate: &ServiceSpec) {
        let (a, c) = (&active.limits, &candidate.limits);
        self.limit("memory", &a.memory_bytes, &c.memory_bytes, |b| size(*b));
        self.limit("cpu_time", &a.cpu_time, &c.cpu_time, duration);
        self.limit("timeout", &a.timeout, &c.timeout, duration);
        self.limit(
            "max_concurrent",
            &a.max_concurrent,
            &c.max_concurrent,
            u32::to_string,
        );
        self.limit("max_queued", &a.max_queued, &c.max_queued, u32::to_string);
        self.limit(
            "queue_timeout",
            &a.queue_timeout,
            &c.queue_timeout,
            duration,
        );
        self.limit(
            "max_request_body",
            &a.max_request_body_bytes,
            &c.max_request_body_bytes,
            |b| size(*b),
        );
        // Reuse is a widening: more requests share one instance's memory.
        self.limit(
            "instance_reuse",
            &a.instance_reuse,
            &c.instance_reuse,
            u32::to_string,
        );
        self.limit(
            "max_response_body",
            &Bound::from(a.max_response_body_bytes),
            &Bound::from(c.max_response_body_bytes),
            Bound::to_string,
        );
    }

    fn limit<T: PartialOrd>(
        &mut self,
        key: &str,
        active: &T,
        candidate: &T,
        show: impl Fn(&T) -> String,
    ) {
        let direction = if candidate > active {
            Direction::Widened
        } else if candidate < active {
            Direction::Narrowed
        } else {
            return;
        };
        let detail = format!("{key} {} -> {}", show(active), show(candidate));
        self.push(ChangeKind::Limit, direction, detail);
    }
}

/// The grants of `all` without repeats, in order.
fn unique(all: &[FileGrant]) -> Vec<&FileGrant> {
    let mut out: Vec<&FileGrant> = Vec::with_capacity(all.len());
    for grant in all {
        if !out.contains(&grant) {
            out.push(grant);
        }
    }
    out
}

/// `/data -> /srv/data (read-only)`.
fn file(grant: &FileGrant) -> String {
    format!(
        "{} -> {} ({})",
        grant.path,
        grant.source.display(),
        mode(grant.writable)
    )
}

/// `orders.created (queue inventory)`, or the topic alone without a queue
/// group.
fn subscription(subscription: &Subscription) -> String {
    match &subscription.queue_group {
        Some(group) => format!("{} (queue {group})", subscription.topic),
        None => subscription.topic.clone(),
    }
}

fn mode(writable: bool) -> &'static str {
    if writable { "read-write" } else { "read-only" }
}

/// A byte count in the largest binary unit that divides it: `64 MiB`,
/// `1536 KiB`, `1000 B`.
fn size(bytes: u64) -> String {
    const UNITS: [(u64, &str); 4] = [
        (1 << 40, "TiB"),
        (1 << 30, "GiB"),
        (1 << 20, "MiB"),
        (1 << 10, "KiB"),
    ];
    for (unit, name) in UNITS {
        if bytes >= unit && bytes.is_multiple_of(unit) {
            return format!("{} {name}", bytes / unit);
        }
    }
    format!("{bytes} B")
}

/// `5s`, `250ms`, `1m 30s`.
fn duration(duration: &std::time::Duration) -> String {
    humantime::format_duration(*duration).to_string()
}

/// An optional size limit, ordered so that no limit is the largest.
#[derive(Debug, PartialEq, PartialOrd)]
enum Bound {
    Limited(u64),
    Unlimited,
}

impl From<Option<u64>> for Bound {
    fn from(limit: Option<u64>) -> Self {
        limit.map_or(Bound::Unlimited, Bound::Limited)
    }
}

impl fmt::Display for Bound {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Bound::Limited(bytes) => f.write_str(&size(*bytes)),
            Bound::Unlimited => f.write_str("unlimited"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::size;

    #[test]
    fn sizes_use_the_largest_exact_binary_unit() {
        assert_eq!(size(0), "0 B");
        assert_eq!(size(1000), "1000 B");
        assert_eq!(size(1024), "1 KiB");
        assert_eq!(size(1536 * 1024), "1536 KiB");
        assert_eq!(size(64 << 20), "64 MiB");
        assert_eq!(size(4 << 30), "4 GiB");
    }
}
