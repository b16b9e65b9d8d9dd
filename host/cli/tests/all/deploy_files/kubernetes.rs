//! `deploy/kubernetes/`: rendered with kustomize (`kubectl kustomize`, with
//! the hello example's component in `app/` as the README tells users to put
//! it), checked against the Kubernetes 1.37 schema by `kubernetes-validate
//! --strict`, checked for the wiring that matters (probe paths and ports,
//! scrape annotations, the admin token from a Secret, Services to named
//! ports, NATS JetStream on the persistent volume), and then run here: the
//! NATS container's command with its ConfigMap, and the Wharf container's
//! arguments with the app from the rendered ConfigMap, each on loopback,
//! probed exactly as the kubelet and Prometheus would.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use serde::Deserialize as _;
use serde_json::Value;
use wharf_test_artifacts as art;

use super::local::{self, Process, Rewrite};
use super::tools;

/// `deploy/kubernetes` rendered by kustomize.
struct Rendered {
    dir: tempfile::TempDir,
    docs: Vec<Value>,
}

impl Rendered {
    /// Copies deploy/kubernetes (without any `.wasm` a user left there),
    /// adds the hello example's component as `app/hello.wasm`, and runs
    /// `kubectl kustomize` on it.
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let source = tools::repo_root().join("deploy/kubernetes");
        let copy = dir.path().join("kubernetes");
        copy_tree(&source, &copy);
        // Without debug info, as deploy/README.md builds it: a ConfigMap
        // holds at most 1 MiB, and this workspace's release profile keeps
        // line tables (about 3 MB for hello).
        let component = std::fs::read(art::EXAMPLE_HELLO_COMPONENT).unwrap();
        std::fs::write(copy.join("app/hello.wasm"), strip_debug_info(&component)).unwrap();

        let out = tools::run(
            &tools::venv_tool("kubectl"),
            ["kustomize".as_ref(), copy.as_os_str()],
        );
        tools::assert_success(&out, "kubectl kustomize deploy/kubernetes");
        let yaml = String::from_utf8(out.stdout).unwrap();
        std::fs::write(dir.path().join("rendered.yaml"), &yaml).unwrap();
        let docs = serde_yaml_ng::Deserializer::from_str(&yaml)
            .map(|doc| Value::deserialize(doc).expect("kustomize printed invalid YAML"))
            .filter(|doc| !doc.is_null())
            .collect();
        Self { dir, docs }
    }

    fn path(&self) -> PathBuf {
        self.dir.path().join("rendered.yaml")
    }

    /// The one resource of `kind` named `name`.
    fn get(&self, kind: &str, name: &str) -> &Value {
        let found: Vec<&Value> = self
            .docs
            .iter()
            .filter(|d| d["kind"] == kind && d["metadata"]["name"] == name)
            .collect();
        assert_eq!(
            found.len(),
            1,
            "expected one {kind} `{name}`, found {}",
            found.len()
        );
        found[0]
    }
}

/// `wasm` (a component or a core module) without its DWARF custom
/// sections (`.debug_*`), in nested core modules and components too: what
/// building with `CARGO_PROFILE_RELEASE_DEBUG=false` would have produced.
/// The e2e test below serves the result, so a broken strip fails there.
fn strip_debug_info(wasm: &[u8]) -> Vec<u8> {
    fn leb(bytes: &[u8]) -> (usize, usize) {
        let (mut value, mut shift) = (0usize, 0);
        for (i, byte) in bytes.iter().enumerate() {
            value |= usize::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return (value, i + 1);
            }
            shift += 7;
        }
        panic!("truncated LEB128");
    }
    fn push_leb(out: &mut Vec<u8>, mut value: usize) {
        loop {
            let byte = (value & 0x7f) as u8;
            value >>= 7;
            if value == 0 {
                out.push(byte);
                return;
            }
            out.push(byte | 0x80);
        }
    }
    assert_eq!(&wasm[..4], b"\0asm", "not WebAssembly");
    // Layer 1 (version bytes 0x0d 0x00 0x01 0x00) is a component; there,
    // sections 1 and 4 hold whole core modules and components.
    let component = wasm[4..8] == [0x0d, 0x00, 0x01, 0x00];
    let mut out = wasm[..8].to_vec();
    let mut pos = 8;
    while pos < wasm.len() {
        let id = wasm[pos];
        let (size, n) = leb(&wasm[pos + 1..]);
        let body = &wasm[pos + 1 + n..pos + 1 + n + size];
        let whole = &wasm[pos..pos + 1 + n + size];
        pos += 1 + n + size;
        if id == 0 {
            let (name_len, m) = leb(body);
            if body[m..m + name_len].starts_with(b".debug_") {
                continue;
            }
            out.extend_from_slice(whole);
        } else if component && (id == 1 || id == 4) {
            let nested = strip_debug_info(body);
            out.push(id);
            push_leb(&mut out, nested.len());
            out.extend_from_slice(&nested);
        } else {
            out.extend_from_slice(whole);
        }
    }
    out
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let path = entry.path();
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&path, &to.join(entry.file_name()));
        } else if path.extension().is_none_or(|e| e != "wasm") {
            std::fs::copy(&path, to.join(entry.file_name())).unwrap();
        }
    }
}

/// The first container of a workload's pod template.
fn container(workload: &Value) -> &Value {
    &workload["spec"]["template"]["spec"]["containers"][0]
}

fn str_list(value: &Value) -> Vec<String> {
    value
        .as_array()
        .map(|items| {
            items
                .iter()
                .map(|i| i.as_str().expect("a list of strings").to_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// The value after `flag` in `args`.
fn flag<'a>(args: &'a [String], flag: &str) -> Option<&'a str> {
    args.iter()
        .position(|a| a == flag)
        .and_then(|i| args.get(i + 1))
        .map(String::as_str)
}

/// The container port a probe, Service or annotation refers to: a number,
/// or the name of one of `container`'s ports.
fn resolve_port(container: &Value, port: &Value) -> u16 {
    let ports = container["ports"]
        .as_array()
        .expect("container has no ports");
    let number = match port {
        Value::Number(n) => n.as_u64().expect("a port number"),
        Value::String(s) => match s.parse::<u64>() {
            Ok(n) => n,
            Err(_) => ports
                .iter()
                .find(|p| p["name"] == s.as_str())
                .unwrap_or_else(|| panic!("no container port named `{s}`"))["containerPort"]
                .as_u64()
                .unwrap(),
        },
        other => panic!("not a port: {other}"),
    };
    assert!(
        ports
            .iter()
            .any(|p| p["containerPort"].as_u64() == Some(number)),
        "port {number} is not one of the container's ports"
    );
    u16::try_from(number).unwrap()
}

/// The port a `host:port` listen address in the arguments uses.
fn listen_port(args: &[String], name: &str) -> u16 {
    let addr: std::net::SocketAddr = flag(args, name)
        .unwrap_or_else(|| panic!("the wharf container has no {name}"))
        .parse()
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    assert!(
        addr.ip().is_unspecified(),
        "{name} {addr} must listen on all interfaces in a pod"
    );
    addr.port()
}

/// The mount of `container` that backs `volume`.
fn mount_path<'a>(container: &'a Value, volume: &str) -> &'a str {
    container["volumeMounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == volume)
        .unwrap_or_else(|| panic!("volume `{volume}` is not mounted"))["mountPath"]
        .as_str()
        .unwrap()
}

/// The pod volume whose mount holds `path`.
fn volume_at<'a>(workload: &'a Value, path: &str) -> (&'a Value, String) {
    let c = container(workload);
    let mount = c["volumeMounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| {
            let at = m["mountPath"].as_str().unwrap().trim_end_matches('/');
            path == at || path.starts_with(&format!("{at}/"))
        })
        .unwrap_or_else(|| panic!("nothing is mounted at {path}"));
    let name = mount["name"].as_str().unwrap();
    let volume = workload["spec"]["template"]["spec"]["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == name)
        .unwrap_or_else(|| panic!("no pod volume `{name}`"));
    (volume, mount["mountPath"].as_str().unwrap().to_owned())
}

#[test]
fn kubernetes_manifests_render_and_pass_the_schema() {
    let rendered = Rendered::new();
    let kinds: Vec<String> = rendered
        .docs
        .iter()
        .map(|d| {
            format!(
                "{}/{}",
                d["kind"].as_str().unwrap(),
                d["metadata"]["name"].as_str().unwrap()
            )
        })
        .collect();
    for expected in [
        "ConfigMap/nats-config",
        "Service/nats",
        "StatefulSet/nats",
        "Deployment/wharf",
        "Service/wharf",
        "Service/wharf-admin",
        "PodDisruptionBudget/wharf",
    ] {
        assert!(
            kinds.iter().any(|k| k == expected),
            "no {expected} in {kinds:?}"
        );
    }
    assert!(
        kinds.iter().any(|k| k.starts_with("ConfigMap/wharf-app-")),
        "no generated ConfigMap wharf-app-<hash> in {kinds:?}"
    );

    // The API server refuses a ConfigMap over 1 MiB (data and binaryData).
    let app = rendered
        .docs
        .iter()
        .find(|d| {
            d["kind"] == "ConfigMap"
                && d["metadata"]["name"]
                    .as_str()
                    .is_some_and(|n| n.starts_with("wharf-app-"))
        })
        .unwrap();
    let mut size = 0;
    for (key, value) in app["data"].as_object().into_iter().flatten() {
        size += key.len() + value.as_str().unwrap().len();
    }
    for (key, value) in app["binaryData"].as_object().into_iter().flatten() {
        let b64: String = value.as_str().unwrap().split_whitespace().collect();
        size += key.len()
            + base64::engine::general_purpose::STANDARD
                .decode(b64)
                .unwrap()
                .len();
    }
    assert!(
        size < 1 << 20,
        "the app ConfigMap holds {size} bytes, over 1 MiB"
    );

    let path = rendered.path();
    let out = tools::run(
        &tools::venv_tool("kubernetes-validate"),
        ["--strict".as_ref(), path.as_os_str()],
    );
    tools::assert_success(&out, "kubernetes-validate --strict");
    // Every resource was checked against a schema (one `passed` line each),
    // none merely skipped as of an unknown kind.
    let text = tools::output_text(&out);
    let passed = text
        .lines()
        .filter(|l| l.contains(" passed for resource "))
        .count();
    assert_eq!(
        passed,
        rendered.docs.len(),
        "kubernetes-validate said:\n{text}"
    );
}

#[test]
fn wharf_pods_probe_scrape_and_take_the_token_from_a_secret() {
    let rendered = Rendered::new();
    let deployment = rendered.get("Deployment", "wharf");
    let pod = &deployment["spec"]["template"];
    let c = container(deployment);
    let args = str_list(&c["args"]);
    assert_eq!(
        args.first().map(String::as_str),
        Some("up"),
        "args: {args:?}"
    );

    let http = listen_port(&args, "--listen");
    let admin = listen_port(&args, "--admin");
    let metrics = listen_port(&args, "--metrics");
    for (name, port) in [("http", http), ("admin", admin), ("metrics", metrics)] {
        assert_eq!(
            resolve_port(c, &Value::from(name)),
            port,
            "container port `{name}`"
        );
    }

    // Both probes go to a listener that serves them (the admin or the
    // metrics-only one; here the latter), on the paths the host answers.
    for (probe, path) in [("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")] {
        let get = &c[probe]["httpGet"];
        assert_eq!(get["path"], path, "{probe}");
        let port = resolve_port(c, &get["port"]);
        assert!(
            port == metrics || port == admin,
            "{probe} port {port} serves no {path}"
        );
    }

    // Prometheus' annotation-based discovery: the metrics port, /metrics.
    let annotations = &pod["metadata"]["annotations"];
    assert_eq!(annotations["prometheus.io/scrape"], "true");
    assert_eq!(annotations["prometheus.io/path"], "/metrics");
    let scrape_port = resolve_port(c, &annotations["prometheus.io/port"]);
    assert!(
        scrape_port == metrics || scrape_port == admin,
        "scrape port {scrape_port}"
    );

    // The admin token: from a Secret, never a literal in the manifest.
    let env = c["env"].as_array().expect("no env");
    let token = env
        .iter()
        .find(|e| e["name"] == "WHARF_ADMIN_TOKEN")
        .expect("no WHARF_ADMIN_TOKEN in the wharf container's env");
    assert!(
        token.get("value").is_none(),
        "the admin token is a literal: {token}"
    );
    let secret = &token["valueFrom"]["secretKeyRef"];
    assert!(
        secret["name"].is_string() && secret["key"].is_string(),
        "WHARF_ADMIN_TOKEN is not from a Secret: {token}"
    );

    // Resources: requests and limits for CPU and memory, on every container.
    for workload in [deployment, rendered.get("StatefulSet", "nats")] {
        let c = container(workload);
        for kind in ["requests", "limits"] {
            for resource in ["cpu", "memory"] {
                assert!(
                    c["resources"][kind][resource].is_string(),
                    "{}: no resources.{kind}.{resource}",
                    c["name"]
                );
            }
        }
    }

    // The app: the generated ConfigMap, at the path `wharf up` serves; the
    // state directory on a volume (the root file system is read-only).
    let app_path = &args[1];
    let (app, _) = volume_at(deployment, app_path);
    let app_map = app["configMap"]["name"]
        .as_str()
        .expect("the app is not a ConfigMap");
    assert!(
        app_map.starts_with("wharf-app-"),
        "app volume from {app_map}"
    );
    let data = &rendered.get("ConfigMap", app_map);
    assert!(
        data["data"]["wharf.toml"].is_string(),
        "no wharf.toml in {app_map}"
    );
    let state = flag(&args, "--state-dir").expect("no --state-dir");
    volume_at(deployment, state);
    assert_eq!(c["securityContext"]["readOnlyRootFilesystem"], true);

    // One cluster through the NATS Service: its name and client port.
    let nats_url = flag(&args, "--nats").expect("no --nats");
    let (host, port) = nats_url
        .strip_prefix("nats://")
        .and_then(|rest| rest.split_once(':'))
        .unwrap_or_else(|| panic!("--nats {nats_url} is not nats://host:port"));
    let nats_service = rendered.get("Service", host);
    let service_port = nats_service["spec"]["ports"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["port"].as_u64() == port.parse().ok())
        .unwrap_or_else(|| panic!("Service {host} has no port {port}"));
    let nats = rendered.get("StatefulSet", "nats");
    assert_eq!(
        resolve_port(container(nats), &service_port["targetPort"]),
        resolve_port(container(nats), &Value::from("client")),
        "{nats_url} does not reach the NATS client port"
    );
    assert!(
        flag(&args, "--cluster").is_some_and(|name| !name.starts_with('-')),
        "the hosts do not join a cluster (--cluster NAME): {args:?}"
    );

    // The Services reach the named ports of the pods they select.
    let labels = &pod["metadata"]["labels"];
    for (service, port) in [("wharf", http), ("wharf-admin", admin)] {
        let s = rendered.get("Service", service);
        for (k, v) in s["spec"]["selector"].as_object().unwrap() {
            assert_eq!(
                &labels[k], v,
                "Service {service} selects {k}={v}, pods lack it"
            );
        }
        let target = &s["spec"]["ports"][0]["targetPort"];
        assert_eq!(
            resolve_port(c, target),
            port,
            "Service {service} targetPort"
        );
    }
}

#[test]
fn nats_statefulset_keeps_jetstream_on_its_volume() {
    let rendered = Rendered::new();
    let nats = rendered.get("StatefulSet", "nats");
    let service = rendered.get("Service", nats["spec"]["serviceName"].as_str().unwrap());
    assert_eq!(
        service["spec"]["clusterIP"], "None",
        "the StatefulSet's Service is not headless"
    );
    let claims = nats["spec"]["volumeClaimTemplates"]
        .as_array()
        .expect("no volumeClaimTemplates");
    assert_eq!(claims.len(), 1);
    let data_mount = mount_path(
        container(nats),
        claims[0]["metadata"]["name"].as_str().unwrap(),
    );

    let mut run = NatsRun::start(&rendered);
    // /jsz answers with a JetStream configuration only when JetStream is
    // on; its store must be on the claim's mount.
    let jsz: Value = serde_json::from_str(&run.get_blocking("/jsz")).unwrap();
    let store = jsz["config"]["store_dir"]
        .as_str()
        .unwrap_or_else(|| panic!("JetStream is off: /jsz = {jsz}"));
    let data_dir = run.rewrite.arg(data_mount);
    assert!(
        store.starts_with(&data_dir),
        "JetStream stores in {store}, not on the volume at {data_mount}"
    );
    assert_eq!(
        jsz["config"]["max_storage"].as_u64().map(|b| b > 0),
        Some(true),
        "/jsz = {jsz}"
    );
    // The other probes answer 200 on the port they name.
    let c = container(nats);
    for probe in ["readinessProbe", "livenessProbe"] {
        let get = &c[probe]["httpGet"];
        assert_eq!(
            resolve_port(c, &get["port"]),
            resolve_port(c, &Value::from("monitor"))
        );
        run.get_blocking(get["path"].as_str().unwrap());
    }
}

/// The NATS container run here: its command and arguments, its config from
/// the rendered ConfigMap (paths moved into a temporary folder, ports set
/// on the command line), the pod's env.
struct NatsRun {
    process: Process,
    rewrite: Rewrite,
    client_url: String,
    monitor: u16,
    _dir: tempfile::TempDir,
}

impl NatsRun {
    fn start(rendered: &Rendered) -> Self {
        let nats = rendered.get("StatefulSet", "nats");
        let c = container(nats);
        let dir = tempfile::tempdir().unwrap();
        let mut rewrite = Rewrite::default();
        for mount in c["volumeMounts"].as_array().unwrap() {
            let local = dir.path().join(mount["name"].as_str().unwrap());
            std::fs::create_dir_all(&local).unwrap();
            rewrite.path(mount["mountPath"].as_str().unwrap(), &local);
        }
        // ConfigMap volumes: their files, with mounted paths moved.
        for volume in nats["spec"]["template"]["spec"]["volumes"]
            .as_array()
            .unwrap()
        {
            if let Some(map) = volume["configMap"]["name"].as_str() {
                let local = dir.path().join(volume["name"].as_str().unwrap());
                for (file, text) in rendered.get("ConfigMap", map)["data"].as_object().unwrap() {
                    std::fs::write(local.join(file), rewrite.text(text.as_str().unwrap())).unwrap();
                }
            }
        }
        let config_text = {
            let args = str_list(&c["args"]);
            let config = flag(&args, "--config").expect("nats-server has no --config");
            std::fs::read_to_string(rewrite.arg(config)).unwrap()
        };
        // The ports the config sets must be the container's.
        let config_port = |key: &str| -> u16 {
            config_text
                .lines()
                .find_map(|l| l.trim().strip_prefix(&format!("{key}:")))
                .unwrap_or_else(|| panic!("nats.conf sets no {key}"))
                .trim()
                .parse()
                .unwrap()
        };
        let client = config_port("port");
        let monitor = config_port("http_port");
        assert_eq!(resolve_port(c, &Value::from("client")), client);
        assert_eq!(resolve_port(c, &Value::from("monitor")), monitor);

        let command = str_list(&c["command"]);
        assert_eq!(command, ["nats-server"], "the NATS container's command");
        let mut args: Vec<String> = str_list(&c["args"])
            .iter()
            .map(|a| rewrite.arg(a))
            .collect();
        let local_client = rewrite.port(client);
        let local_monitor = rewrite.port(monitor);
        args.extend([
            "-a".into(),
            "127.0.0.1".into(),
            "-p".into(),
            local_client.to_string(),
            "-m".into(),
            local_monitor.to_string(),
        ]);
        let envs = pod_env(c, &[("metadata.name", "nats-0")]);
        let mut process = Process::spawn(
            &tools::system_tool("nats-server", "nats-server"),
            &args,
            &envs,
            dir.path().join("nats.log"),
        );
        // The startup probe, as the kubelet sends it.
        let probe = &c["startupProbe"]["httpGet"];
        assert_eq!(resolve_port(c, &probe["port"]), monitor);
        let url = format!(
            "http://127.0.0.1:{local_monitor}{}",
            probe["path"].as_str().unwrap()
        );
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(local::wait_for_status(&mut process, &url, 200));
        Self {
            process,
            rewrite,
            client_url: format!("nats://127.0.0.1:{local_client}"),
            monitor: local_monitor,
            _dir: dir,
        }
    }

    fn get_blocking(&self, path: &str) -> String {
        let url = format!("http://127.0.0.1:{}{path}", self.monitor);
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(async {
                let (status, body) = local::get(&url, None).await;
                assert_eq!(status, 200, "GET {url}: {body}\n{}", self.process.log());
                body
            })
    }
}

/// A container's env as this test runs it: literal values as written,
/// `fieldRef`s from `fields`, `secretKeyRef`s from `secrets` (name/key).
fn pod_env(container: &Value, fields: &[(&str, &str)]) -> Vec<(String, String)> {
    pod_env_with(container, fields, &[])
}

fn pod_env_with(
    container: &Value,
    fields: &[(&str, &str)],
    secrets: &[(&str, &str, &str)],
) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for var in container["env"].as_array().into_iter().flatten() {
        let name = var["name"].as_str().unwrap().to_owned();
        let value = if let Some(v) = var["value"].as_str() {
            v.to_owned()
        } else if let Some(field) = var["valueFrom"]["fieldRef"]["fieldPath"].as_str() {
            fields
                .iter()
                .find(|(f, _)| *f == field)
                .unwrap_or_else(|| panic!("env {name}: fieldRef {field} not simulated"))
                .1
                .to_owned()
        } else if var["valueFrom"]["secretKeyRef"].is_object() {
            let secret = &var["valueFrom"]["secretKeyRef"];
            secrets
                .iter()
                .find(|(n, k, _)| secret["name"] == *n && secret["key"] == *k)
                .unwrap_or_else(|| panic!("env {name}: Secret {secret} not provided"))
                .2
                .to_owned()
        } else {
            panic!("env {name}: unsupported source {var}");
        };
        out.push((name, value));
    }
    out
}

/// The Wharf pod, run here: NATS from its own manifest, the app files
/// decoded from the rendered ConfigMap, the container's arguments (moved
/// onto loopback), the token as the Secret would provide it. Then probed
/// like the kubelet, scraped like Prometheus, called like the Services.
#[test]
fn wharf_pod_serves_the_app_probes_metrics_and_admin_as_written() {
    let rendered = Rendered::new();
    let nats = NatsRun::start(&rendered);

    let deployment = rendered.get("Deployment", "wharf");
    let c = container(deployment);
    let dir = tempfile::tempdir().unwrap();
    let mut rewrite = Rewrite::default();
    for mount in c["volumeMounts"].as_array().unwrap() {
        let local = dir.path().join(mount["name"].as_str().unwrap());
        std::fs::create_dir_all(&local).unwrap();
        rewrite.path(mount["mountPath"].as_str().unwrap(), &local);
    }
    // The app volume's files, decoded from the ConfigMap as the kubelet
    // would project them (text in `data`, the component in `binaryData`).
    for volume in deployment["spec"]["template"]["spec"]["volumes"]
        .as_array()
        .unwrap()
    {
        let Some(map) = volume["configMap"]["name"].as_str() else {
            continue;
        };
        let local = dir.path().join(volume["name"].as_str().unwrap());
        let map = rendered.get("ConfigMap", map);
        for (file, text) in map["data"].as_object().into_iter().flatten() {
            std::fs::write(local.join(file), text.as_str().unwrap()).unwrap();
        }
        for (file, b64) in map["binaryData"].as_object().into_iter().flatten() {
            // Base64, wrapped over several lines.
            let b64: String = b64.as_str().unwrap().split_whitespace().collect();
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(b64)
                .unwrap();
            std::fs::write(local.join(file), bytes).unwrap();
        }
    }
    let nats_url = flag(&str_list(&c["args"]), "--nats").unwrap().to_owned();
    rewrite.word(&nats_url, &nats.client_url);
    let args: Vec<String> = local::wharf_up_args(&str_list(&c["args"]))
        .iter()
        .map(|a| rewrite.arg(a))
        .collect();

    let token = "token-from-the-secret";
    let secret = &c["env"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "WHARF_ADMIN_TOKEN")
        .unwrap()["valueFrom"]["secretKeyRef"];
    let envs = pod_env_with(
        c,
        &[],
        &[(
            secret["name"].as_str().unwrap(),
            secret["key"].as_str().unwrap(),
            token,
        )],
    );
    let mut host = Process::spawn(
        Path::new(crate::common::wharf_bin()),
        &args,
        &envs,
        dir.path().join("wharf.log"),
    );
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(probe_wharf_pod(&rendered, &mut rewrite, &mut host, token));
}

async fn probe_wharf_pod(
    rendered: &Rendered,
    rewrite: &mut Rewrite,
    host: &mut Process,
    token: &str,
) {
    let deployment = rendered.get("Deployment", "wharf");
    let c = container(deployment);

    let probe_url = |rewrite: &mut Rewrite, probe: &str| {
        let get = &c[probe]["httpGet"];
        let port = rewrite.port(resolve_port(c, &get["port"]));
        format!("http://127.0.0.1:{port}{}", get["path"].as_str().unwrap())
    };
    // Readiness: 200 once the app is compiled and serving.
    let ready = probe_url(rewrite, "readinessProbe");
    local::wait_for_status(host, &ready, 200).await;
    let live = probe_url(rewrite, "livenessProbe");
    assert_eq!(local::get(&live, None).await.0, 200, "{live}");

    // Scraped where the annotations say.
    let annotations = &deployment["spec"]["template"]["metadata"]["annotations"];
    let scrape_port = rewrite.port(resolve_port(c, &annotations["prometheus.io/port"]));
    let scrape = format!(
        "http://127.0.0.1:{scrape_port}{}",
        annotations["prometheus.io/path"].as_str().unwrap()
    );
    let (status, metrics) = local::get(&scrape, None).await;
    assert_eq!(status, 200, "{scrape}");
    assert!(
        metrics.lines().any(|l| l == "wharf_ready 1"),
        "{scrape} lacks `wharf_ready 1`:\n{metrics}"
    );

    // The `wharf` Service's target port serves the app from the ConfigMap.
    let http_target = &rendered.get("Service", "wharf")["spec"]["ports"][0]["targetPort"];
    let http = format!(
        "http://127.0.0.1:{}/",
        rewrite.port(resolve_port(c, http_target))
    );
    let (status, body) = local::get(&http, None).await;
    assert_eq!(
        (status, body.as_str()),
        (200, "Hello from Wharf!\n"),
        "{http}"
    );

    // The `wharf-admin` Service's target port: the admin API, guarded by
    // the token from the Secret.
    let admin_target = &rendered.get("Service", "wharf-admin")["spec"]["ports"][0]["targetPort"];
    let admin = format!(
        "http://127.0.0.1:{}/v1/services",
        rewrite.port(resolve_port(c, admin_target))
    );
    assert_eq!(
        local::get(&admin, None).await.0,
        401,
        "{admin} without the token"
    );
    let (status, services) = local::get(&admin, Some(token)).await;
    assert_eq!(status, 200, "{admin} with the token: {services}");
    assert!(services.contains("\"hello\""), "{services}");
    host.assert_running();
}
