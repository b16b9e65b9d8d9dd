//! From TOML text to a validated [`Manifest`], collecting every problem.
//!
//! The document is parsed once into toml's spanned tree ([`DeTable`]). The
//! top level and then each service are deserialized separately, so a typo in
//! one service does not hide a mistake in the next, and every rule is checked
//! on what did deserialize. Problems are collected with their byte offset and
//! returned together, in file order.
//!
//! A service section deployed on its own ([`service_section`]) goes through
//! the same [`Validator::service`] as a service of a manifest; only the
//! treatment of `component` differs (see [`ComponentField`]).

use std::collections::HashMap;
use std::fmt;
use std::fs;
use std::io;
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_spanned::Spanned;
use toml::de::{DeTable, DeValue, ValueDeserializer};

use crate::grants::{
    AllowedOrigin, FileGrant, SocketGrant, Subscription, Variable, check_key_value_store,
    interpolate,
};
use crate::limits::Limits;
use crate::raw::{
    NoComponent, RawComponent, RawFile, RawLimits, RawManifest, RawService, RawSubscription,
    RawVariable,
};
use crate::topic::{
    MAX_TOPIC_LEN, check_not_reserved, check_queue_group, check_topic_pattern, check_topic_subject,
};
use crate::{ComponentSource, Language, Manifest, ManifestError, OciReference, Route, ServiceSpec};

/// Longest accepted service name; names become DNS labels (`x.internal`),
/// which are limited to 63 bytes.
pub(crate) const MAX_SERVICE_NAME_LEN: usize = 63;

/// Where a manifest's text came from.
pub(crate) struct Input<'a> {
    /// The TOML text.
    pub(crate) source: &'a str,
    /// The file as the caller named it; used in messages only.
    pub(crate) file: &'a Path,
    /// Absolute path of the file.
    pub(crate) abs_file: PathBuf,
}

/// Parses and validates a whole manifest.
pub(crate) fn manifest(input: Input<'_>) -> Result<Manifest, ManifestError> {
    let dir = input
        .abs_file
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let mut v = Validator {
        problems: Problems::new(input.source, input.file),
        dir: &dir,
        shown_dir: input.file.parent().unwrap_or(Path::new("")),
    };

    let Some(root) = v.parse() else {
        return Err(v.problems.into_error());
    };
    let root_span = root.span();
    let root = root.into_inner();

    let top: Option<RawManifest> = v.problems.deserialize(
        Spanned::new(root_span.clone(), DeValue::Table(root.clone())),
        &KeyPath::root(),
    );
    let app_name = top
        .and_then(|top| top.app)
        .and_then(|app| app.name)
        .map(|name| v.app_name(name))
        .unwrap_or_else(|| default_app_name(&dir));

    let services = v.services(root.get("service"));
    v.check_route_conflicts(&services);

    v.problems.finish()?;
    Ok(Manifest {
        file: input.abs_file,
        dir,
        app_name,
        services: services.into_iter().filter_map(|s| s.spec).collect(),
    })
}

/// A `[service.<name>]` table body deployed on its own.
pub(crate) struct SectionInput<'a> {
    /// The service name, from outside the text.
    pub(crate) name: &'a str,
    /// The TOML text of the table body.
    pub(crate) source: &'a str,
    /// Names the text in messages.
    pub(crate) origin: &'a Path,
    /// Relative paths resolve against it.
    pub(crate) base_dir: &'a Path,
}

/// The message for a `component` key in a deployed section.
const DEPLOYED_COMPONENT: &str =
    "the component of a deployed service is the uploaded file; remove `component` from the section";

/// Parses and validates a service section deployed on its own.
///
/// The rules are those of a manifest's service, checked by the same code,
/// except that `component` must be absent. Positions are in `source`; key
/// paths start with `service.<name>`, as they would in a manifest.
pub(crate) fn service_section(input: SectionInput<'_>) -> Result<ServiceSpec, ManifestError> {
    let mut problems = Problems::new(input.source, input.origin);
    // serde lists `component` among the expected fields of a service table;
    // here it is not one.
    problems.unlisted_field = Some("component");
    let mut v = Validator {
        problems,
        dir: input.base_dir,
        shown_dir: input.base_dir,
    };
    let Some(root) = v.parse() else {
        return Err(v.problems.into_error());
    };
    let span = root.span();
    let mut table = root.into_inner();
    let at = KeyPath::root().key("service").key(input.name);
    if let Some((key, _)) = table.remove_entry("component") {
        v.problems
            .report(key.span(), at.key("component"), DEPLOYED_COMPONENT);
    }
    let checked =
        v.service::<NoComponent>(input.name, 0..0, Spanned::new(span, DeValue::Table(table)));
    v.check_route_conflicts(std::slice::from_ref(&checked));
    v.problems.finish()?;
    // Every path that leaves `spec` empty reports a problem; this is only a
    // safety net.
    checked.spec.ok_or_else(|| ManifestError::Invalid {
        file: input.origin.to_path_buf(),
        line: 1,
        column: 1,
        key: at.to_string(),
        message: "the service section is not valid".to_owned(),
    })
}

/// The type of `component` in a service table, and the [`ComponentSource`]
/// it stands for.
trait ComponentField: DeserializeOwned {
    /// Checks the component (reporting problems) and turns it into a source.
    fn check(self, v: &mut Validator<'_>, at: &KeyPath) -> Option<ComponentSource>;
}

/// A manifest's service: `component` is required and checked on disk.
impl ComponentField for Spanned<RawComponent> {
    fn check(self, v: &mut Validator<'_>, at: &KeyPath) -> Option<ComponentSource> {
        v.component(self, at)
    }
}

/// A deployed section: the component is the uploaded bytes. A `component`
/// key has been taken out of the table and reported by [`service_section`].
impl ComponentField for NoComponent {
    fn check(self, _: &mut Validator<'_>, _: &KeyPath) -> Option<ComponentSource> {
        Some(ComponentSource::Deployed)
    }
}

/// The app name when `[app] name` is absent: the manifest directory's name.
fn default_app_name(dir: &Path) -> String {
    dir.file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_else(|| "app".to_owned())
}

/// Whether `name` is a valid service name: `^[a-z][a-z0-9-]{0,62}$`.
pub(crate) fn is_valid_service_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && name.len() <= MAX_SERVICE_NAME_LEN
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// What validation learned about one `[service.<name>]` table.
struct CheckedService {
    /// The name, as written.
    name: String,
    /// The service's routes that parsed, with their index in `routes` and
    /// their span, for conflict detection.
    routes: Vec<(usize, Route, Range<usize>)>,
    /// The service, if it is entirely valid.
    spec: Option<ServiceSpec>,
}

struct Validator<'a> {
    problems: Problems<'a>,
    /// Absolute manifest directory: relative paths resolve against it.
    dir: &'a Path,
    /// The manifest directory as the caller named it, for messages.
    shown_dir: &'a Path,
}

impl<'a> Validator<'a> {
    /// Parses the whole text into toml's spanned tree, or reports the syntax
    /// error.
    fn parse(&mut self) -> Option<Spanned<DeTable<'a>>> {
        match DeTable::parse(self.problems.source) {
            Ok(root) => Some(root),
            Err(err) => {
                let span = err.span().unwrap_or(0..0);
                self.problems.report(span, "(syntax)", err.message());
                None
            }
        }
    }

    fn app_name(&mut self, name: Spanned<String>) -> String {
        if name.get_ref().is_empty() {
            self.problems.report(
                name.span(),
                "app.name",
                "app name must not be empty; leave `name` out to use the directory name",
            );
        }
        name.into_inner()
    }

    /// Checks every `[service.<name>]` table, in file order.
    fn services(&mut self, table: Option<&Spanned<DeValue<'_>>>) -> Vec<CheckedService> {
        let Some(table) = table else {
            self.problems.report(
                0..0,
                "service",
                "no services: add at least one `[service.<name>]` table",
            );
            return Vec::new();
        };
        // Anything but a table has been reported by `RawManifest`.
        let DeValue::Table(entries) = table.get_ref() else {
            return Vec::new();
        };
        if entries.is_empty() {
            self.problems.report(
                table.span(),
                "service",
                "no services: add at least one `[service.<name>]` table",
            );
        }
        let mut entries: Vec<_> = entries.iter().collect();
        entries.sort_by_key(|(name, _)| name.span().start);
        entries
            .into_iter()
            .map(|(name, value)| {
                self.service::<Spanned<RawComponent>>(name.get_ref(), name.span(), value.clone())
            })
            .collect()
    }

    /// Checks one service: its `name` (written at `name_span`) and its table
    /// `value`. `C` says what `component` is (see [`ComponentField`]).
    fn service<C: ComponentField>(
        &mut self,
        name: &str,
        name_span: Range<usize>,
        value: Spanned<DeValue<'_>>,
    ) -> CheckedService {
        let at = KeyPath::root().key("service").key(name);
        let mut valid = true;
        if !is_valid_service_name(name) {
            valid = false;
            self.problems.report(
                name_span,
                &at,
                format!(
                    "invalid service name `{name}`: use 1 to {MAX_SERVICE_NAME_LEN} lowercase \
                     letters, digits or `-`, starting with a letter"
                ),
            );
        }
        let mut checked = CheckedService {
            name: name.to_owned(),
            routes: Vec::new(),
            spec: None,
        };
        let table_span = value.span();
        let Some(raw) = self.problems.deserialize::<RawService<C>>(value, &at) else {
            return checked;
        };

        let component = raw.component.check(self, &at.key("component"));
        valid &= component.is_some();

        // A service that subscribes to messages needs no route; one that
        // does not would never run.
        let subscribes = !raw.subscriptions.is_empty();
        let routes_at = at.key("routes");
        match raw.routes {
            None if !subscribes => {
                valid = false;
                // What serde said when `routes` was always required.
                self.problems
                    .report(table_span, &at, "missing field `routes`");
            }
            None => {}
            Some(routes) => {
                if routes.get_ref().is_empty() && !subscribes {
                    valid = false;
                    self.problems.report(
                        routes.span(),
                        &routes_at,
                        "at least one route is required, e.g. `routes = [\"/...\"]`",
                    );
                }
                for (index, route) in routes.into_inner().into_iter().enumerate() {
                    match Route::parse(route.get_ref()) {
                        Ok(parsed) => checked.routes.push((index, parsed, route.span())),
                        Err(message) => {
                            valid = false;
                            self.problems
                                .report(route.span(), routes_at.index(index), message);
                        }
                    }
                }
            }
        }

        let version = match raw.version {
            Some(version) => {
                valid &= self.version(&version, &at.key("version"));
                version.into_inner()
            }
            None => crate::version::DEFAULT_VERSION.to_owned(),
        };

        let outbound_at = at.key("outbound");
        let mut outbound = Vec::with_capacity(raw.outbound.len());
        for (index, origin) in raw.outbound.iter().enumerate() {
            match AllowedOrigin::parse(origin.get_ref()) {
                Ok(parsed) => outbound.push(parsed),
                Err(message) => {
                    valid = false;
                    self.problems
                        .report(origin.span(), outbound_at.index(index), message);
                }
            }
        }

        let files = self.files(raw.files, &at.key("files"));
        let sockets = self.sockets(raw.sockets, &at.key("sockets"));
        let publish = self.publish(raw.publish, &at.key("publish"));
        let subscriptions = self.subscriptions(name, raw.subscriptions, &at.key("subscriptions"));
        let variables = self.variables(raw.variables, &at.key("variables"));
        let limits = match raw.limits {
            Some(limits) => self.limits(limits.into_inner(), &at.key("limits")),
            None => Some(Limits::default()),
        };
        let key_value_stores =
            self.key_value_stores(raw.key_value_stores, &at.key("key_value_stores"));
        let (
            Some(files),
            Some(sockets),
            Some(publish),
            Some(subscriptions),
            Some(variables),
            Some(limits),
            Some(key_value_stores),
        ) = (
            files,
            sockets,
            publish,
            subscriptions,
            variables,
            limits,
            key_value_stores,
        )
        else {
            return checked;
        };

        if let (true, Some(component)) = (valid, component) {
            checked.spec = Some(ServiceSpec {
                name: checked.name.clone(),
                component,
                routes: checked.routes.iter().map(|(_, r, _)| r.clone()).collect(),
                version,
                outbound,
                files,
                sockets,
                publish,
                subscriptions,
                variables,
                limits,
                key_value_stores,
            });
        }
        checked
    }

    fn version(&mut self, version: &Spanned<String>, at: &KeyPath) -> bool {
        match crate::version::check_version_label(version.get_ref()) {
            Ok(()) => true,
            Err(problem) => {
                self.problems.report(version.span(), at, problem);
                false
            }
        }
    }

    fn files(&mut self, raw: Vec<Spanned<RawFile>>, at: &KeyPath) -> Option<Vec<FileGrant>> {
        let mut ok = true;
        let mut grants = Vec::with_capacity(raw.len());
        for (index, file) in raw.into_iter().enumerate() {
            let at = at.index(index);
            let file = file.into_inner();
            let writable = match file.mode.as_ref().map(|m| m.get_ref().as_str()) {
                None | Some("ro") => false,
                Some("rw") => true,
                Some(other) => {
                    ok = false;
                    if let Some(mode) = &file.mode {
                        self.problems.report(
                            mode.span(),
                            at.key("mode"),
                            format!("mode `{other}` is not `ro` (read-only) or `rw` (read-write)"),
                        );
                    }
                    continue;
                }
            };
            let guest = file.path.get_ref();
            if !guest.starts_with('/') || guest.split('/').any(|seg| seg == "..") {
                ok = false;
                self.problems.report(
                    file.path.span(),
                    at.key("path"),
                    format!(
                        "guest path `{guest}` must be absolute (start with `/`) and contain no `..`"
                    ),
                );
                continue;
            }
            let (abs, shown) = self.resolve(file.source.get_ref());
            match fs::metadata(&abs) {
                // Kept canonical (symlinks and `..` resolved), so that what
                // is compared (capability diff, state-directory check) is
                // the directory the guest really gets.
                Ok(meta) if meta.is_dir() => grants.push(FileGrant {
                    source: fs::canonicalize(&abs).unwrap_or(abs),
                    path: guest.clone(),
                    writable,
                }),
                Ok(_) => {
                    ok = false;
                    self.problems.report(
                        file.source.span(),
                        at.key("source"),
                        format!("`{shown}` is not a directory; grant the directory that holds it"),
                    );
                }
                Err(err) => {
                    ok = false;
                    self.problems.report(
                        file.source.span(),
                        at.key("source"),
                        format!("cannot use directory `{shown}`: {err}"),
                    );
                }
            }
        }
        ok.then_some(grants)
    }

    fn sockets(&mut self, raw: Vec<Spanned<String>>, at: &KeyPath) -> Option<Vec<SocketGrant>> {
        let mut ok = true;
        let mut grants = Vec::with_capacity(raw.len());
        for (index, pattern) in raw.iter().enumerate() {
            match SocketGrant::parse(pattern.get_ref()) {
                Ok(grant) => grants.push(grant),
                Err(message) => {
                    ok = false;
                    self.problems
                        .report(pattern.span(), at.index(index), message);
                }
            }
        }
        ok.then_some(grants)
    }

    /// `key_value_stores`: valid store names, each once.
    fn key_value_stores(&mut self, raw: Vec<Spanned<String>>, at: &KeyPath) -> Option<Vec<String>> {
        let mut ok = true;
        let mut names: Vec<String> = Vec::with_capacity(raw.len());
        for (index, name) in raw.into_iter().enumerate() {
            let problem = match check_key_value_store(name.get_ref()) {
                Err(message) => Some(message),
                Ok(()) if names.contains(name.get_ref()) => Some(format!(
                    "key-value store `{}` is listed twice",
                    name.get_ref()
                )),
                Ok(()) => None,
            };
            match problem {
                Some(message) => {
                    ok = false;
                    self.problems.report(name.span(), at.index(index), message);
                }
                None => names.push(name.into_inner()),
            }
        }
        ok.then_some(names)
    }

    /// `publish`: topic patterns, kept as written.
    fn publish(&mut self, raw: Vec<Spanned<String>>, at: &KeyPath) -> Option<Vec<String>> {
        let mut ok = true;
        let mut patterns = Vec::with_capacity(raw.len());
        for (index, pattern) in raw.into_iter().enumerate() {
            match check_topic_pattern(pattern.get_ref())
                .and_then(|()| check_not_reserved(pattern.get_ref()))
            {
                Ok(()) => patterns.push(pattern.into_inner()),
                Err(message) => {
                    ok = false;
                    self.problems
                        .report(pattern.span(), at.index(index), message);
                }
            }
        }
        ok.then_some(patterns)
    }

    /// `subscriptions` of the service `service`, with defaults filled in.
    fn subscriptions(
        &mut self,
        service: &str,
        raw: Vec<Spanned<RawSubscription>>,
        at: &KeyPath,
    ) -> Option<Vec<Subscription>> {
        let mut ok = true;
        let mut subscriptions = Vec::with_capacity(raw.len());
        // (topic, queue group, offset) of the entries so far.
        let mut seen: Vec<(String, Option<String>, usize)> = Vec::new();
        for (index, entry) in raw.into_iter().enumerate() {
            let at = at.index(index);
            let entry_span = entry.span();
            let entry = entry.into_inner();
            let mut entry_ok = true;
            let mut report = |v: &mut Self, span: Range<usize>, key: &KeyPath, message: String| {
                entry_ok = false;
                v.problems.report(span, key, message);
            };

            let topic = entry.topic.get_ref();
            let topic_valid =
                match check_topic_pattern(topic).and_then(|()| check_not_reserved(topic)) {
                    Ok(()) => true,
                    Err(message) => {
                        report(self, entry.topic.span(), &at.key("topic"), message);
                        false
                    }
                };

            let queue_group = entry.queue_group.as_ref().map(|g| g.get_ref().clone());
            if let Some(group) = &entry.queue_group {
                let problem = check_queue_group(group.get_ref()).err();
                if let Some(problem) = problem {
                    report(self, group.span(), &at.key("queue_group"), problem);
                }
            }

            let max_in_flight = match &entry.max_in_flight {
                None => Subscription::DEFAULT_MAX_IN_FLIGHT,
                Some(value) => {
                    let n = *value.get_ref();
                    if !(1..=Subscription::MAX_MAX_IN_FLIGHT).contains(&n) {
                        report(
                            self,
                            value.span(),
                            &at.key("max_in_flight"),
                            format!(
                                "max_in_flight must be between 1 and {}",
                                Subscription::MAX_MAX_IN_FLIGHT
                            ),
                        );
                    }
                    n
                }
            };
            let retries = match &entry.retries {
                None => Subscription::DEFAULT_RETRIES,
                Some(value) => {
                    let n = *value.get_ref();
                    if n > Subscription::MAX_RETRIES {
                        report(
                            self,
                            value.span(),
                            &at.key("retries"),
                            format!("retries must be at most {}", Subscription::MAX_RETRIES),
                        );
                    }
                    n
                }
            };

            let dead_letter = match &entry.dead_letter {
                Some(subject) => {
                    if let Err(message) = check_topic_subject(subject.get_ref())
                        .and_then(|()| check_not_reserved(subject.get_ref()))
                    {
                        report(self, subject.span(), &at.key("dead_letter"), message);
                    }
                    subject.get_ref().clone()
                }
                None => {
                    let default = Subscription::default_dead_letter(topic, service);
                    if topic_valid && default.len() > MAX_TOPIC_LEN {
                        report(
                            self,
                            entry.topic.span(),
                            &at.key("topic"),
                            format!(
                                "the default dead_letter `<topic>.dlq` would be longer than \
                                 {MAX_TOPIC_LEN} characters; set `dead_letter`"
                            ),
                        );
                    }
                    default
                }
            };

            match seen
                .iter()
                .find(|(t, g, _)| t == topic && *g == queue_group)
            {
                Some((_, _, first)) => {
                    let (line, column) = line_column(self.problems.source, *first);
                    let which = match &queue_group {
                        Some(group) => format!("in queue group `{group}`"),
                        None => "without a queue group".to_owned(),
                    };
                    report(
                        self,
                        entry_span,
                        &at,
                        format!(
                            "the subscription to `{topic}` {which} is listed twice (first at \
                             line {line}, column {column})"
                        ),
                    );
                }
                None => seen.push((topic.clone(), queue_group.clone(), entry_span.start)),
            }

            if entry_ok {
                subscriptions.push(Subscription {
                    topic: topic.clone(),
                    queue_group,
                    max_in_flight,
                    retries,
                    dead_letter,
                    durable: entry.durable,
                });
            } else {
                ok = false;
            }
        }
        ok.then_some(subscriptions)
    }

    fn variables(
        &mut self,
        raw: std::collections::BTreeMap<String, Spanned<RawVariable>>,
        at: &KeyPath,
    ) -> Option<Vec<Variable>> {
        let mut ok = true;
        let mut variables = Vec::with_capacity(raw.len());
        for (name, value) in raw {
            let span = value.span();
            let at = at.key(&name);
            let valid_name = name
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !valid_name {
                ok = false;
                self.problems.report(
                    span,
                    &at,
                    format!(
                        "invalid variable name `{name}`: use letters, digits and `_`, not starting with a digit"
                    ),
                );
                continue;
            }
            let (text, secret) = match value.into_inner() {
                RawVariable::Plain(text) => (text, false),
                RawVariable::Table(table) => (table.value, table.secret),
            };
            match interpolate(&text, |n| std::env::var(n).ok()) {
                Ok((value, host_env)) => variables.push(Variable {
                    name,
                    value,
                    secret: secret || !host_env.is_empty(),
                    host_env,
                }),
                Err(message) => {
                    ok = false;
                    self.problems.report(span, &at, message);
                }
            }
        }
        ok.then_some(variables)
    }

    fn limits(&mut self, raw: RawLimits, at: &KeyPath) -> Option<Limits> {
        let defaults = Limits::default();
        let mut ok = true;
        let mut size = |v: &mut Self, field: &Option<Spanned<String>>, key: &str| -> Option<u64> {
            let value = field.as_ref()?;
            match value.get_ref().parse::<bytesize::ByteSize>() {
                Ok(size) if size.as_u64() > 0 => Some(size.as_u64()),
                _ => {
                    ok = false;
                    v.problems.report(
                        value.span(),
                        at.key(key),
                        format!(
                            "`{}` is not a size: write e.g. `64MiB`, `512KiB` or `1GiB`",
                            value.get_ref()
                        ),
                    );
                    None
                }
            }
        };
        let memory = size(self, &raw.memory, "memory");
        let max_request_body = size(self, &raw.max_request_body, "max_request_body");
        let max_response_body = size(self, &raw.max_response_body, "max_response_body");
        let mut ok2 = true;
        let mut duration = |v: &mut Self, field: &Option<Spanned<String>>, key: &str| {
            let value = field.as_ref()?;
            match humantime::parse_duration(value.get_ref()) {
                Ok(d) if !d.is_zero() => Some(d),
                Ok(_) => {
                    ok2 = false;
                    v.problems.report(
                        value.span(),
                        at.key(key),
                        format!("{key} must be longer than zero"),
                    );
                    None
                }
                Err(_) => {
                    ok2 = false;
                    v.problems.report(
                        value.span(),
                        at.key(key),
                        format!(
                            "`{}` is not a duration: write e.g. `500ms`, `5s` or `1m`",
                            value.get_ref()
                        ),
                    );
                    None
                }
            }
        };
        let cpu_time = duration(self, &raw.cpu_time, "cpu_time");
        let timeout = duration(self, &raw.timeout, "timeout");
        let queue_timeout = duration(self, &raw.queue_timeout, "queue_timeout");
        let counts = [
            (&raw.max_concurrent, "max_concurrent", ""),
            (
                &raw.instance_reuse,
                "instance_reuse",
                " (1 = a fresh instance per request)",
            ),
        ];
        for (value, key, hint) in counts {
            if let Some(value) = value
                && *value.get_ref() == 0
            {
                ok = false;
                self.problems.report(
                    value.span(),
                    at.key(key),
                    format!("{key} must be at least 1{hint}"),
                );
            }
        }
        if let Some(memory) = memory
            && memory > u64::from(u32::MAX) + 1
        {
            ok = false;
            if let Some(value) = &raw.memory {
                self.problems.report(
                    value.span(),
                    at.key("memory"),
                    "memory is larger than a 32-bit linear memory can be (4GiB)",
                );
            }
        }
        (ok && ok2).then(|| Limits {
            memory_bytes: memory.unwrap_or(defaults.memory_bytes),
            cpu_time: cpu_time.unwrap_or(defaults.cpu_time),
            timeout: timeout.unwrap_or(defaults.timeout),
            max_concurrent: raw
                .max_concurrent
                .map_or(defaults.max_concurrent, |v| *v.get_ref()),
            max_queued: raw.max_queued.map_or(defaults.max_queued, |v| *v.get_ref()),
            queue_timeout: queue_timeout.unwrap_or(defaults.queue_timeout),
            max_request_body_bytes: max_request_body.unwrap_or(defaults.max_request_body_bytes),
            max_response_body_bytes: max_response_body,
            instance_reuse: raw
                .instance_reuse
                .map_or(defaults.instance_reuse, |v| *v.get_ref()),
        })
    }

    fn component(&mut self, raw: Spanned<RawComponent>, at: &KeyPath) -> Option<ComponentSource> {
        let span = raw.span();
        match raw.into_inner() {
            RawComponent::File(path) if OciReference::strip_scheme(&path).is_some() => {
                match path.parse::<OciReference>() {
                    Ok(reference) => return Some(ComponentSource::Oci(reference)),
                    Err(error) => self.problems.report(span, at, error.to_string()),
                }
                None
            }
            RawComponent::File(path) => {
                let problem = if path.is_empty() {
                    "component path must not be empty".to_owned()
                } else {
                    let (abs, shown) = self.resolve(&path);
                    match fs::metadata(&abs) {
                        Ok(meta) if meta.is_file() => return Some(ComponentSource::File(abs)),
                        Ok(_) if abs.join("Cargo.toml").is_file() => format!(
                            "component `{shown}` is a directory, not a file; to build it from \
                             source write `component = {{ cargo = \"{path}\" }}`"
                        ),
                        Ok(_) => format!("component `{shown}` is not a file"),
                        Err(err) if err.kind() == io::ErrorKind::NotFound => {
                            format!("component file `{shown}` does not exist")
                        }
                        Err(err) => format!("cannot access component file `{shown}`: {err}"),
                    }
                };
                self.problems.report(span, at, problem);
                None
            }
            RawComponent::Build(build) => {
                let mut keys = [
                    ("cargo", build.cargo),
                    ("python", build.python),
                    ("js", build.js),
                ]
                .into_iter()
                .filter_map(|(key, value)| value.map(|value| (key, value)));
                let Some((key, value)) = keys.next() else {
                    self.problems.report(
                        span,
                        at,
                        "say how to build the component: `{ cargo = \"dir\" }`, \
                         `{ python = \"app.py\" }` or `{ js = \"app.js\" }`",
                    );
                    return None;
                };
                if let Some((extra, value)) = keys.next() {
                    self.problems.report(
                        value.span(),
                        at.key(extra),
                        format!("a component is built one way: `{key}` or `{extra}`, not both"),
                    );
                    return None;
                }
                match key {
                    "cargo" => self.cargo_package(value, &at.key(key)),
                    "python" => self.script(Language::Python, value, &at.key(key)),
                    _ => self.script(Language::JavaScript, value, &at.key(key)),
                }
            }
        }
    }

    /// `{ cargo = "dir" }`: a directory holding a `Cargo.toml`.
    fn cargo_package(&mut self, raw: Spanned<String>, at: &KeyPath) -> Option<ComponentSource> {
        let span = raw.span();
        let path = raw.into_inner();
        let problem = if path.is_empty() {
            "cargo package directory must not be empty; use `.` for the manifest's \
             directory"
                .to_owned()
        } else {
            let (abs, shown) = self.resolve(&path);
            match fs::metadata(&abs) {
                Ok(meta) if meta.is_dir() => {
                    if abs.join("Cargo.toml").is_file() {
                        return Some(ComponentSource::Cargo { package_dir: abs });
                    }
                    format!("cargo package directory `{shown}` has no Cargo.toml")
                }
                Ok(_) => format!("cargo package `{shown}` is not a directory"),
                Err(err) if err.kind() == io::ErrorKind::NotFound => {
                    format!("cargo package directory `{shown}` does not exist")
                }
                Err(err) => format!("cannot access cargo package `{shown}`: {err}"),
            }
        };
        self.problems.report(span, at, problem);
        None
    }

    /// `{ python = "app.py" }` or `{ js = "app.js" }`: the app's main module,
    /// a file with the language's extension (for Python, a module name
    /// `import` accepts).
    fn script(
        &mut self,
        language: Language,
        raw: Spanned<String>,
        at: &KeyPath,
    ) -> Option<ComponentSource> {
        let span = raw.span();
        let path = raw.into_inner();
        let (abs, shown) = self.resolve(&path);
        let extension = abs.extension().and_then(|e| e.to_str()).unwrap_or("");
        let stem = abs.file_stem().and_then(|s| s.to_str()).unwrap_or("");
        let problem = if path.is_empty() {
            format!("the {language} module's path must not be empty")
        } else if !language.extensions().contains(&extension) {
            format!(
                "`{shown}` is not a {language} module: expected a `.{}` file",
                language.extensions().join("` or `.")
            )
        } else if language == Language::Python
            && !(stem.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
                && stem.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
        {
            format!(
                "`{shown}` cannot be imported as a Python module: name it with letters, digits \
                 and `_`, like `app.py`"
            )
        } else {
            match fs::metadata(&abs) {
                Ok(meta) if meta.is_file() => {
                    return Some(ComponentSource::Script {
                        language,
                        entry: abs,
                    });
                }
                Ok(_) => format!("{language} module `{shown}` is not a file"),
                Err(err) if err.kind() == io::ErrorKind::NotFound => {
                    format!("{language} module `{shown}` does not exist")
                }
                Err(err) => format!("cannot access {language} module `{shown}`: {err}"),
            }
        };
        self.problems.report(span, at, problem);
        None
    }

    /// Resolves a path from the manifest against the manifest directory:
    /// the absolute path, and the path to show in messages (relative to
    /// wherever the manifest path given by the caller is relative to).
    fn resolve(&self, path: &str) -> (PathBuf, String) {
        let joined = self.dir.join(path);
        let abs = std::path::absolute(&joined).unwrap_or(joined);
        let shown = self.shown_dir.join(path).display().to_string();
        (abs, shown)
    }

    /// Reports every route that is already claimed, by the same service or
    /// an earlier one, at its second occurrence.
    fn check_route_conflicts(&mut self, services: &[CheckedService]) {
        let mut seen: HashMap<&Route, (&str, Range<usize>)> = HashMap::new();
        for service in services {
            for (index, route, span) in &service.routes {
                let Some((first_service, first_span)) = seen.get(route) else {
                    seen.insert(route, (&service.name, span.clone()));
                    continue;
                };
                let (line, column) = line_column(self.problems.source, first_span.start);
                let message = if *first_service == service.name {
                    format!(
                        "route `{route}` is listed twice in service `{first_service}` (first at \
                         line {line}, column {column})"
                    )
                } else {
                    format!(
                        "route `{route}` of service `{}` conflicts with the same route of \
                         service `{first_service}` (line {line}, column {column})",
                        service.name
                    )
                };
                let at = KeyPath::root()
                    .key("service")
                    .key(&service.name)
                    .key("routes")
                    .index(*index);
                self.problems.report(span.clone(), &at, message);
            }
        }
    }
}

/// The problems found so far, each with its byte offset for sorting.
struct Problems<'a> {
    source: &'a str,
    file: &'a Path,
    found: Vec<(usize, ManifestError)>,
    /// A field that serde knows but the input must not use: left out of
    /// serde's "expected one of ..." lists (`component` in a deployed
    /// section).
    unlisted_field: Option<&'static str>,
}

impl<'a> Problems<'a> {
    fn new(source: &'a str, file: &'a Path) -> Self {
        Problems {
            source,
            file,
            found: Vec::new(),
            unlisted_field: None,
        }
    }

    fn report(&mut self, span: Range<usize>, key: impl fmt::Display, message: impl Into<String>) {
        let (line, column) = line_column(self.source, span.start);
        self.found.push((
            span.start,
            ManifestError::Invalid {
                file: self.file.to_path_buf(),
                line,
                column,
                key: key.to_string(),
                message: message.into(),
            },
        ));
    }

    /// Deserializes `value` (found at `at`) into `T`, or reports why not.
    fn deserialize<'de, T: Deserialize<'de>>(
        &mut self,
        value: Spanned<DeValue<'de>>,
        at: &KeyPath,
    ) -> Option<T> {
        let value_span = value.span();
        match serde_path_to_error::deserialize(ValueDeserializer::from(value)) {
            Ok(value) => Some(value),
            Err(err) => {
                let key = at.extend(err.path());
                let err = err.into_inner();
                let span = err.span().unwrap_or(value_span);
                let found = self.source.get(span.clone()).unwrap_or_default();
                let mut message = tomlish(err.message(), found);
                if let Some(field) = self.unlisted_field {
                    // Serde lists more than two fields as "one of `a`, `b`, ...",
                    // and a service table has more than three.
                    message = message.replace(&format!("`{field}`, "), "");
                }
                self.report(span, key, message);
                None
            }
        }
    }

    /// `Ok` if nothing was found, else the problems in file order.
    fn finish(self) -> Result<(), ManifestError> {
        if self.found.is_empty() {
            Ok(())
        } else {
            Err(self.into_error())
        }
    }

    /// The problems found, in file order: one [`ManifestError::Invalid`] or
    /// several in a [`ManifestError::Multiple`].
    fn into_error(mut self) -> ManifestError {
        self.found.sort_by_key(|(offset, _)| *offset);
        let mut all: Vec<ManifestError> = self.found.into_iter().map(|(_, e)| e).collect();
        match all.pop() {
            Some(only) if all.is_empty() => only,
            Some(last) => {
                all.push(last);
                ManifestError::Multiple(all)
            }
            None => ManifestError::Multiple(all),
        }
    }
}

/// Rewords serde's messages in TOML's terms: "table" and "array" where serde
/// says "map" and "sequence". `found` is the source text the error points at;
/// toml hands datetimes to serde as maps, which it tells apart.
fn tomlish(message: &str, found: &str) -> String {
    let found_type = if found.starts_with(|c: char| c.is_ascii_digit()) {
        "datetime"
    } else {
        "table"
    };
    message
        .replace(
            "invalid type: map,",
            &format!("invalid type: {found_type},"),
        )
        .replace("invalid type: sequence,", "invalid type: array,")
        .replace("expected a map", "expected a table")
        .replace("expected a sequence", "expected an array")
}

/// 1-based line and column (in characters) of a byte offset.
pub(crate) fn line_column(source: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(source.len());
    while !source.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &source[..offset];
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let line = before.matches('\n').count() + 1;
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

/// A key path such as `service.hello.routes[1]`, for messages.
#[derive(Debug, Clone, Default)]
struct KeyPath(Vec<Segment>);

#[derive(Debug, Clone)]
enum Segment {
    Key(String),
    Index(usize),
}

impl KeyPath {
    fn root() -> KeyPath {
        KeyPath::default()
    }

    fn key(&self, key: &str) -> KeyPath {
        let mut path = self.clone();
        path.0.push(Segment::Key(key.to_owned()));
        path
    }

    fn index(&self, index: usize) -> KeyPath {
        let mut path = self.clone();
        path.0.push(Segment::Index(index));
        path
    }

    /// Appends a path reported by `serde_path_to_error`, leaving out the
    /// internal keys through which toml delivers spans and datetimes.
    fn extend(&self, path: &serde_path_to_error::Path) -> KeyPath {
        let mut out = self.clone();
        for segment in path {
            match segment {
                serde_path_to_error::Segment::Map { key } if key.starts_with("$__") => {}
                serde_path_to_error::Segment::Map { key } => out.0.push(Segment::Key(key.clone())),
                serde_path_to_error::Segment::Seq { index } => out.0.push(Segment::Index(*index)),
                serde_path_to_error::Segment::Enum { .. }
                | serde_path_to_error::Segment::Unknown => {}
            }
        }
        out
    }
}

impl fmt::Display for KeyPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("(root)");
        }
        for (i, segment) in self.0.iter().enumerate() {
            match segment {
                Segment::Key(key) => {
                    if i > 0 {
                        f.write_str(".")?;
                    }
                    let bare = !key.is_empty()
                        && key
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
                    if bare {
                        f.write_str(key)?;
                    } else {
                        // TOML basic-string quoting, as the user would write it.
                        write!(f, "\"{}\"", key.escape_debug())?;
                    }
                }
                Segment::Index(index) => write!(f, "[{index}]")?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::{KeyPath, is_valid_service_name, line_column};

    #[test]
    fn computes_one_based_line_and_character_column() {
        let source = "a = 1\nb = \"é\" x\n";
        assert_eq!(line_column(source, 0), (1, 1));
        assert_eq!(line_column(source, 4), (1, 5));
        assert_eq!(line_column(source, 6), (2, 1));
        // `x` comes after the two-byte `é`: byte 16, character column 10.
        assert_eq!(line_column(source, 16), (2, 10));
        assert_eq!(line_column(source, 999), (3, 1));
    }

    #[test]
    fn quotes_keys_that_are_not_bare() {
        let path = KeyPath::root()
            .key("service")
            .key("Hello World")
            .key("routes")
            .index(2);
        assert_eq!(path.to_string(), "service.\"Hello World\".routes[2]");
        assert_eq!(KeyPath::root().to_string(), "(root)");
    }

    #[test]
    fn accepts_only_dns_label_service_names() {
        for ok in ["a", "hello", "a-b-9", "x-", &"a".repeat(63)] {
            assert!(is_valid_service_name(ok), "{ok}");
        }
        for bad in ["", "Hello", "9a", "-a", "a_b", "a.b", "é", &"a".repeat(64)] {
            assert!(!is_valid_service_name(bad), "{bad}");
        }
    }
}
